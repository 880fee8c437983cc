package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"esauth/lib/session"
	"esauth/lib/user"
)

const sessionsUsage = `usage:
  esauth sessions list --email E [--limit N] [--json]
  esauth sessions revoke (--email E (--id ID | --all) | [filters] [--dry-run]) [--json]
Filters (across accounts): --email E --ip IP|CIDR --user-agent WORDS
--created-from T --created-to T --seen-from T --seen-to T (RFC 3339 or dates).
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
	fs := newFlagSet("sessions revoke", "(--email E (--id ID | --all) | [filters] [--dry-run]) [--json]",
		"Ends one session of a user (--email with --id, from sessions list), all of them (--email with --all), "+
			"or every live session the filters select, across accounts (--dry-run counts them first). "+
			"Sessions of one account (--email alone, or with --all) end through its session epoch, race-proof; the others one by one.")
	id := fs.String("id", "", "the session's id (from sessions list)")
	all := fs.Bool("all", false, "every session of the user")
	dry := fs.Bool("dry-run", false, "count what the filters select, end nothing")
	values := filterFlags(fs, session.FilterParams, map[string]string{
		"email":        "whose sessions",
		"ip":           "from this address or CIDR network",
		"user_agent":   "whose user agent contains these words",
		"created_from": "created at or after (RFC 3339 or a date)",
		"created_to":   "created before",
		"seen_from":    "last seen at or after",
		"seen_to":      "last seen before",
	})
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	v := values()
	f, problems := session.ParseFilter(v)
	if problems != nil {
		return invalidFlags(problems)
	}
	if *id != "" && *all {
		return fmt.Errorf("sessions revoke: give --id ID or --all, not both")
	}
	if (*id != "" || *all) && (v.Get("email") == "" || len(v) > 1 || *dry) {
		return fmt.Errorf("sessions revoke: --id and --all go with --email alone")
	}
	if len(v) == 0 || (len(v) == 1 && v.Get("email") != "" && *id == "" && !*all) {
		// --email alone would end all of them: say so with --all.
		return fmt.Errorf("sessions revoke: name what to end: --email with --id or --all, or filters")
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	out := printer{w: stdout, json: *asJSON}
	switch {
	case *id != "":
		if err := op.RevokeSession(ctx, f.Email, *id); err != nil {
			return cliError(err)
		}
		return out.print(map[string]string{"revoked": *id}, func(w io.Writer) { fmt.Fprintf(w, "session %s ended\n", *id) })
	case *all:
		n, err := op.RevokeAll(ctx, f.Email)
		if err != nil {
			return cliError(err)
		}
		return out.print(map[string]int{"revoked_sessions": n}, func(w io.Writer) {
			fmt.Fprintf(w, "every session of %s ended (%d deleted)\n", user.NormalizeEmail(f.Email), n)
		})
	}
	rev, err := op.RevokeSessionsWhere(ctx, f, *dry)
	if err != nil {
		return cliError(err)
	}
	return out.print(rev, func(w io.Writer) {
		verb := "ended"
		if rev.DryRun {
			verb = "would end"
		}
		how := "one by one"
		if rev.PerUser {
			how = "through the account's session epoch"
		}
		fmt.Fprintf(w, "%s %d sessions of %d accounts (%s)\n", verb, rev.Sessions, rev.Users, how)
	})
}
