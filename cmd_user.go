package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"esauth/lib/account"
	"esauth/lib/audit"
	"esauth/lib/user"
)

const userUsage = `usage:
  esauth user create --email E --first-name F --last-name L [--admin]
  esauth user list [--query Q] [--limit N] [--json]
  esauth user show --email E [--json]
  esauth user disable --email E [--json]
  esauth user enable --email E [--json]
  esauth user set-role --email E --role user|admin [--json]
  esauth user delete --email E [--json]
  esauth user set-password --email E [--json]
Each takes --help for what it does and its flags.
`

// userCommands are the subcommands of "esauth user". All but create act
// through the application layer with the operator as actor (see newOperator).
func userCommands() map[string]command {
	return map[string]command{
		"create":       createUser,
		"list":         userList,
		"show":         userShow,
		"disable":      userSetActive(false),
		"enable":       userSetActive(true),
		"set-role":     userSetRole,
		"delete":       userDelete,
		"set-password": userSetPassword,
	}
}

func createUser(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user create", "--email E --first-name F --last-name L [--admin]",
		"Creates a user under the API's signup rules; the password is read from standard input\n(prompted without echo on a terminal).")
	email := fs.String("email", "", "email address (required)")
	first := fs.String("first-name", "", "first name (required)")
	last := fs.String("last-name", "", "last name (required)")
	admin := fs.Bool("admin", false, "give the user the admin role")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	events, done := a.auditRecorder(64, 10*time.Second, stderr)
	defer done()
	u, err := addUser(ctx, a, events, *email, *first, *last, pw, *admin)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s (%s)\n", u.Email, u.Role)
	return nil
}

// readPassword reads one line from stdin, or prompts without echo when
// stdin is a terminal.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("reading password: give it as one line on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// addUser makes an account through the API's signup rule
// (account.Service.SignUp: validation, password screening, hashing, one
// create, the audit event), with the operator as actor, so the command
// line cannot make an account the API would refuse. Field problems come
// back as one line per field.
func addUser(ctx context.Context, a *app, rec audit.Recorder, email, first, last, pw string, admin bool) (user.User, error) {
	svc, err := a.accounts(rec)
	if err != nil {
		return user.User{}, err
	}
	role := user.RoleUser
	if admin {
		role = user.RoleAdmin
	}
	u, err := svc.SignUp(ctx, account.Operator(), account.SignupRequest{Email: email, Password: pw, FirstName: first, LastName: last}, role)
	return u, cliError(err)
}

func userList(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user list", "[--query Q] [--limit N] [--json]",
		"Lists users, newest first (near-real-time: one made in the last second may not show yet).")
	query := fs.String("query", "", "only users whose email contains it or whose names start with it")
	limit := limitFlag(fs)
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if err := needLimit(fs, *limit); err != nil {
		return err
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	users, err := op.Users(ctx, *query, *limit)
	if err != nil {
		return cliError(err)
	}
	views := make([]user.Public, len(users))
	for i, u := range users {
		views[i] = u.Public()
	}
	return printer{w: stdout, json: *asJSON}.print(views, func(w io.Writer) {
		for _, u := range views {
			fmt.Fprintf(w, "%s\t%s %s\t%s\t%s\n", u.Email, u.FirstName, u.LastName, u.Role, activeWord(u.IsActive))
		}
	})
}

func userShow(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user show", "--email E [--json]", "Shows one user: the public view, never the hash.")
	email := emailFlag(fs)
	asJSON := jsonFlag(fs)
	if err := parseEmail(fs, email, args, stdout, stderr); err != nil {
		return err
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	u, err := op.Get(ctx, *email)
	if err != nil {
		return cliError(err)
	}
	return printer{w: stdout, json: *asJSON}.user(u)
}

// userSetActive is "user enable" (active) or "user disable".
func userSetActive(active bool) command {
	name, about := "user disable", "Disables a user: every session of theirs ends and logins are refused."
	if active {
		name, about = "user enable", "Enables a disabled user again."
	}
	return func(ctx context.Context, args []string, getenv func(string) string,
		_ io.Reader, stdout, stderr io.Writer) error {
		fs := newFlagSet(name, "--email E [--json]", about)
		email := emailFlag(fs)
		asJSON := jsonFlag(fs)
		if err := parseEmail(fs, email, args, stdout, stderr); err != nil {
			return err
		}
		_, op, done, err := newOperator(getenv, stderr)
		if err != nil {
			return err
		}
		defer done()
		u, err := op.Update(ctx, *email, account.UserUpdate{IsActive: &active})
		if err != nil {
			return cliError(err)
		}
		return printer{w: stdout, json: *asJSON}.user(u)
	}
}

func userSetRole(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user set-role", "--email E --role user|admin [--json]",
		"Gives a user the role user or admin (removing the last admin is allowed here).")
	email := emailFlag(fs)
	role := fs.String("role", "", "user or admin")
	asJSON := jsonFlag(fs)
	if err := parseEmail(fs, email, args, stdout, stderr); err != nil {
		return err
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	u, err := op.Update(ctx, *email, account.UserUpdate{Role: role})
	if err != nil {
		return cliError(err)
	}
	return printer{w: stdout, json: *asJSON}.user(u)
}

func userDelete(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user delete", "--email E [--json]", "Deletes a user, with their sessions and linked accounts.")
	email := emailFlag(fs)
	asJSON := jsonFlag(fs)
	if err := parseEmail(fs, email, args, stdout, stderr); err != nil {
		return err
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := op.Delete(ctx, *email); err != nil {
		return cliError(err)
	}
	return printer{w: stdout, json: *asJSON}.print(map[string]string{"deleted": user.NormalizeEmail(*email)}, func(w io.Writer) {
		fmt.Fprintf(w, "deleted %s, with their sessions and linked accounts\n", user.NormalizeEmail(*email))
	})
}

func userSetPassword(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user set-password", "--email E [--json]",
		"Sets a user's password, read from standard input (as for create) and screened as at signup;\nevery session of theirs ends and any lockout is lifted.")
	email := emailFlag(fs)
	asJSON := jsonFlag(fs)
	if err := parseEmail(fs, email, args, stdout, stderr); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	n, err := op.SetPassword(ctx, *email, pw)
	if err != nil {
		return cliError(err)
	}
	return printer{w: stdout, json: *asJSON}.print(map[string]int{"revoked_sessions": n}, func(w io.Writer) {
		fmt.Fprintf(w, "password set for %s; every session ended (%d deleted)\n", user.NormalizeEmail(*email), n)
	})
}
