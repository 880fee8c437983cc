package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// auditList is "esauth audit": a user's security events, through
// the application layer with the operator as actor (see newOperator).
func auditList(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", "--email E [--limit N] [--json]", "Lists a user's security events, newest first.")
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
	list, err := op.Events(ctx, *email, *limit)
	if err != nil {
		return cliError(err)
	}
	return printer{w: stdout, json: *asJSON}.print(list, func(w io.Writer) {
		for _, e := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\tby %s\tfrom %s\n", e.At.Format(time.RFC3339), e.Event, e.Outcome, e.Actor, e.IP)
		}
	})
}
