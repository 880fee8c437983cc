package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"esauth/lib/user"
)

const sessionsUsage = `usage:
  esauth sessions list --email E [--limit N] [--json]
  esauth sessions revoke --email E (--id ID | --all) [--json]
Each takes --help for what it does and its flags.
`

// sessionsCommands are the subcommands of "esauth sessions", which act
// through the application layer with the operator as actor (see newOperator).
func sessionsCommands() map[string]command {
	return map[string]command{
		"list":   sessionsList,
		"revoke": sessionsRevoke,
	}
}

func sessionsList(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("sessions list", "--email E [--limit N] [--json]", "Lists a user's valid sessions, newest first.")
	email := emailFlag(fs)
	limit := limitFlag(fs)
	asJSON := jsonFlag(fs)
	if err := parseEmail(fs, email, args, stdout, stderr); err != nil {
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
	list, err := op.Sessions(ctx, *email, *limit)
	if err != nil {
		return cliError(err)
	}
	return printer{w: stdout, json: *asJSON}.print(list, func(w io.Writer) {
		for _, s := range list {
			fmt.Fprintf(w, "%s\t%s\tlast seen %s\t%s\t%q\n", s.ID, s.IP, s.LastSeenAt.Format(time.RFC3339), rememberWord(s.Remember), s.UserAgent)
		}
	})
}

func sessionsRevoke(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("sessions revoke", "--email E (--id ID | --all) [--json]",
		"Ends one session of a user (--id, from sessions list) or all of them (--all).")
	email := emailFlag(fs)
	id := fs.String("id", "", "the session's id (from sessions list)")
	all := fs.Bool("all", false, "every session of the user")
	asJSON := jsonFlag(fs)
	if err := parseEmail(fs, email, args, stdout, stderr); err != nil {
		return err
	}
	if *all == (*id != "") {
		return fmt.Errorf("sessions revoke: give either --id ID or --all")
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	out := printer{w: stdout, json: *asJSON}
	if *all {
		n, err := op.RevokeAll(ctx, *email)
		if err != nil {
			return cliError(err)
		}
		return out.print(map[string]int{"revoked_sessions": n}, func(w io.Writer) {
			fmt.Fprintf(w, "every session of %s ended (%d deleted)\n", user.NormalizeEmail(*email), n)
		})
	}
	if err := op.RevokeSession(ctx, *email, *id); err != nil {
		return cliError(err)
	}
	return out.print(map[string]string{"revoked": *id}, func(w io.Writer) { fmt.Fprintf(w, "session %s ended\n", *id) })
}
