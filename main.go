// Command esauth is an authentication API whose users and sessions live in
// Elasticsearch.
//
//	esauth [serve]              run the HTTP server (the default)
//	esauth init [--sample-user] [--repair]
//	                            create (or repair) the indices (and a demo user)
//	esauth migrate              move the indices to this version's mappings
//	esauth user create|list|show|disable|enable|set-role|delete|set-password …
//	esauth sessions list|revoke --email E … | revoke [filters] [--dry-run]
//	esauth audit --email E
//	esauth events search|stats [filters]
//	esauth lockouts list|clear
//	esauth import --from-url URL --from-index INDEX
//	esauth version
//	esauth settings             print the settings table (Markdown)
//
// Each command has its own flags and its own --help. The files follow the
// commands: cmd_serve.go, cmd_indices.go (init, migrate), cmd_user.go,
// cmd_sessions.go, cmd_audit.go, cmd_events.go, cmd_lockouts.go, cmd_import.go, cmd_version.go and
// cmd_settings.go; app.go builds what they share from the configuration and
// cli.go holds the flag sets, usage errors and printing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		// A usage error has printed its problem and the usage already.
		if !errors.As(err, new(usageError)) {
			fmt.Fprintln(os.Stderr, "esauth:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is the status main exits with after run returned err: 0, 2 for
// a command line that does not parse (as the flag package and most Unix
// tools do), 1 for every other failure.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.As(err, new(usageError)):
		return 2
	}
	return 1
}

const usage = `usage:
  esauth [serve]                  run the HTTP server
  esauth init [--sample-user] [--repair]
                                  create the indices and their templates (and a
                                  demo user); --repair runs migrate first
  esauth migrate                  move every index to this version's layout and
                                  mapping (an alias over <alias>-00000n), keeping
                                  its documents; safe to run again
  esauth user create --email E --first-name F --last-name L [--admin]
                                  create a user; the password is read from
                                  standard input (prompted without echo on a terminal)
  esauth user list [--query Q] [--limit N]
  esauth user show --email E
  esauth user disable|enable --email E
  esauth user set-role --email E --role user|admin
  esauth user delete --email E
  esauth user set-password --email E
                                  look after accounts under the API's rules (the
                                  password from standard input, as for create)
  esauth sessions list --email E [--limit N]
  esauth sessions revoke --email E (--id ID | --all)
  esauth sessions revoke [--email E] [--ip IP|CIDR] [--user-agent WORDS]
         [--created-from T] [--created-to T] [--seen-from T] [--seen-to T] [--dry-run]
                                  end every live session the filters select,
                                  across accounts (--dry-run counts them)
  esauth audit --email E [--limit N]
                                  a user's security events, newest first
  esauth events search [filters] [--limit N]
  esauth events stats [filters]   the security console: every account's events
                                  (--event --outcome --email --actor --ip
                                  --user-agent --new-device --from --to), and
                                  their histogram, leaders and locked accounts
  esauth lockouts list [--limit N]
  esauth lockouts clear --email E the emails locked now; lift one's lock
  esauth import --from-url URL --from-index INDEX [--dry-run] [--json]
                                  copy the users of the Flask + Elasticsearch
                                  tutorial app (their werkzeug hashes keep working)
  esauth keys rotate [--json]     seal every TOTP secret with the first key of
                                  ESAUTH_DATA_KEYS (those in clear, those under an
                                  older key)
  esauth version                  the version and commit
  esauth settings                 print every setting as a Markdown table
The user (but create), sessions, audit, events, lockouts, keys, import and version commands take
--json for scripts. Every command takes --help for its own usage and flags.
Settings come from the environment; see README.md or "esauth settings".
`

// A command runs one command of esauth with the arguments after its name.
type command func(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error

// run is the whole program, callable from tests with their own arguments,
// environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	name, rest := "serve", []string(nil)
	if len(args) > 1 {
		name, rest = args[1], args[2:]
	}
	err := dispatch(ctx, name, rest, getenv, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the usage asked for is printed: a success, as with "esauth help"
	}
	return err
}

// dispatch runs the command called name. The groups ("user", "sessions")
// pick their subcommand in turn; every command parses its own flags.
func dispatch(ctx context.Context, name string, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	commands := map[string]command{
		"serve":    serve,
		"init":     initIndices,
		"migrate":  migrateCommand,
		"user":     group("user", userUsage, userCommands()),
		"sessions": group("sessions", sessionsUsage, sessionsCommands()),
		"audit":    auditList,
		"events":   group("events", eventsUsage, eventsCommands()),
		"lockouts": group("lockouts", lockoutsUsage, lockoutsCommands()),
		"keys":     group("keys", keysUsage, keysCommands()),
		"import":   importFlask,
		"version":  version,
		"settings": settings,
	}
	if isHelp(name) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := commands[name]
	if !ok {
		return misuse(stderr, "esauth", fmt.Errorf("unknown command %q", name), usage)
	}
	return cmd(ctx, args, getenv, stdin, stdout, stderr)
}
