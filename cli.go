package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"esauth/lib/errs"
	"esauth/lib/user"
)

// usageError is a command line that does not parse: an unknown command,
// flag or argument. Its problem and the command's usage have been printed
// to stderr by the time run returns it, so main only exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// misuse reports a command line that does not parse the way the flag
// package does: the problem, then the usage, on stderr.
func misuse(stderr io.Writer, cmd string, problem error, usage string) error {
	fmt.Fprintf(stderr, "%s: %v\n", cmd, problem)
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("%s: %w", cmd, problem)}
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help"
}

// newFlagSet is the flag set of the command name ("user delete"), which
// accepts only the flags defined on it. Its usage is "esauth name synopsis",
// what the command does, and its flags.
func newFlagSet(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), strings.TrimSpace("usage: esauth "+name+" "+synopsis))
		fmt.Fprintln(fs.Output(), about)
		fs.PrintDefaults()
	}
	return fs
}

// usageOf is the text fs.Usage prints.
func usageOf(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.Usage()
	fs.SetOutput(io.Discard)
	return b.String()
}

// parse parses a command's arguments. No command takes positional
// arguments, so one is refused like an unknown flag: with the problem and
// the usage on stderr, as a usageError (exit 2). --help prints the usage
// to stdout, as "esauth help" does, and returns flag.ErrHelp, which run
// turns into success.
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	// The flag package would print the problem and the usage itself, both
	// to one writer; the help asked for goes to stdout instead.
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usageOf(fs))
		return flag.ErrHelp
	}
	return misuse(stderr, "esauth "+fs.Name(), err, usageOf(fs))
}

// group is a command made of subcommands ("user list", "user show"),
// picked by the first argument; usage lists them.
func group(name, usage string, subs map[string]command) command {
	return func(ctx context.Context, args []string, getenv func(string) string,
		stdin io.Reader, stdout, stderr io.Writer) error {
		if len(args) == 0 {
			return misuse(stderr, "esauth "+name, errors.New("missing command"), usage)
		}
		if isHelp(args[0]) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		sub, ok := subs[args[0]]
		if !ok {
			return misuse(stderr, "esauth "+name, fmt.Errorf("unknown command %q", args[0]), usage)
		}
		return sub(ctx, args[1:], getenv, stdin, stdout, stderr)
	}
}

// The flags several commands share, so they read the same everywhere.

func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print JSON, for scripts")
}

func emailFlag(fs *flag.FlagSet) *string {
	return fs.String("email", "", "the user's email address (required)")
}

func limitFlag(fs *flag.FlagSet) *int {
	return fs.Int("limit", 1000, "at most this many")
}

// parseEmail is parse for a command that acts on one user: --email is
// required.
func parseEmail(fs *flag.FlagSet, email *string, args []string, stdout, stderr io.Writer) error {
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	return needEmail(fs, *email)
}

// needEmail refuses a command of fs run without --email.
func needEmail(fs *flag.FlagSet, email string) error {
	if email == "" {
		return fmt.Errorf("%s: --email is required", fs.Name())
	}
	return nil
}

// needLimit refuses a --limit below one.
func needLimit(fs *flag.FlagSet, limit int) error {
	if limit < 1 {
		return fmt.Errorf("%s: --limit must be at least 1", fs.Name())
	}
	return nil
}

// newOperator builds what the operator commands ("user", "sessions",
// "audit") act through: the application layer (lib/account) with the
// operator as actor, so the command line changes accounts under the
// API's own rules and records the same audit events. done stores those
// events; call it before the command returns.
func newOperator(getenv func(string) string, stderr io.Writer) (*app, operator, func(), error) {
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return nil, operator{}, nil, err
	}
	events, done := a.auditRecorder(64, 10*time.Second, stderr)
	svc, err := a.accounts(events)
	if err != nil {
		done()
		return nil, operator{}, nil, err
	}
	return a, operator{svc}, done, nil
}

func activeWord(active bool) string {
	if active {
		return "active"
	}
	return "disabled"
}

func rememberWord(remember bool) string {
	if remember {
		return "remember-me"
	}
	return "session"
}

// printer writes a command's result as JSON (--json) or as text.
type printer struct {
	w    io.Writer
	json bool
}

func (p printer) print(v any, text func(io.Writer)) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(p.w)
	return nil
}

// user prints one user's public view, never the hash.
func (p printer) user(u user.User) error {
	pub := u.Public()
	return p.print(pub, func(w io.Writer) {
		fmt.Fprintf(w, "email:      %s\nname:       %s %s\nrole:       %s\nstatus:     %s\ncreated at: %s\nupdated at: %s\n",
			pub.Email, pub.FirstName, pub.LastName, pub.Role, activeWord(pub.IsActive),
			pub.CreatedAt.Format(time.RFC3339), pub.UpdatedAt.Format(time.RFC3339))
	})
}

// cliError turns an error of the domain into a line for the operator:
// field problems one per line, the message of the others (never a
// secret: the domain's messages are written for clients).
func cliError(err error) error {
	var e *errs.Error
	if !errors.As(err, &e) {
		return err
	}
	if len(e.Fields) > 0 {
		var problems []string
		for _, field := range slices.Sorted(maps.Keys(e.Fields)) {
			problems = append(problems, field+": "+e.Fields[field])
		}
		return errors.New(strings.Join(problems, "\n"))
	}
	if e.Code == errs.NotFound {
		return fmt.Errorf("not found: %s", e.Message)
	}
	return err
}
