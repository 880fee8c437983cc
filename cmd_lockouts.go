package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"esauth/lib/user"
)

const lockoutsUsage = `usage:
  esauth lockouts list [--limit N] [--json]
  esauth lockouts clear --email E [--json]
Each takes --help for what it does and its flags.
`

// lockoutsCommands are the subcommands of "esauth lockouts": the
// accounts locked after failed logins, and lifting a lock.
func lockoutsCommands() map[string]command {
	return map[string]command{
		"list":  lockoutsList,
		"clear": lockoutsClear,
	}
}

func lockoutsList(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("lockouts list", "[--limit N] [--json]",
		"Lists the emails locked now after failed logins or wrong second-factor codes, the lock ending last first. An email no account has is listed without its address (its record keeps only a hash).")
	limit := fs.Int("limit", 100, "at most this many (1-200)")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *limit < 1 || *limit > 200 {
		return fmt.Errorf("%s: --limit must be 1 to 200", fs.Name())
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	list, total, err := op.Lockouts(ctx, *limit)
	if err != nil {
		return cliError(err)
	}
	return printer{w: stdout, json: *asJSON}.print(map[string]any{"lockouts": list, "total": total}, func(w io.Writer) {
		for _, l := range list {
			who := l.Email
			if who == "" {
				who = "(no account) " + l.Key
			}
			fmt.Fprintf(w, "%s\t%s\t%d failures\tuntil %s\n", who, l.Counter, l.Failures, l.LockedUntil.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "%d locked now\n", total)
	})
}

func lockoutsClear(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("lockouts clear", "--email E [--json]",
		"Lifts the lockout of an email: its failed-password and wrong-code counts start again from zero (audited as lockout_cleared).")
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
	if err := op.ClearLockout(ctx, *email); err != nil {
		return cliError(err)
	}
	e := user.NormalizeEmail(*email)
	return printer{w: stdout, json: *asJSON}.print(map[string]string{"cleared": e}, func(w io.Writer) {
		fmt.Fprintf(w, "the lockout of %s is lifted\n", e)
	})
}
