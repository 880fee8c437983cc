package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"go.uber.org/zap/zapcore"

	"esauth/lib/account"
	"esauth/lib/elastic"
	"esauth/lib/flask"
)

// importFlask copies the users of the Flask + Elasticsearch tutorial app
// (index --from-index on the cluster at --from-url) into esauth's users.
func importFlask(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", "--from-url URL --from-index INDEX [--dry-run] [--json]",
		"Copies the users of the Flask + Elasticsearch tutorial app; their werkzeug hashes keep working.")
	from := fs.String("from-url", "", "the Flask app's Elasticsearch URL (may carry user:password@)")
	index := fs.String("from-index", "", "the index of its users (the tutorial's is example)")
	dry := fs.Bool("dry-run", false, "report what would happen; write nothing")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *from == "" || *index == "" {
		return errors.New("import: --from-url and --from-index are required")
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	source, err := elastic.New(elastic.Config{Addresses: []string{*from}, Timeout: a.cfg.ESTimeout}, a.log)
	if err != nil {
		return err
	}
	if err := a.store.EnsureIndices(ctx); err != nil {
		return fmt.Errorf("setting up esauth's indices: %w", err)
	}
	events, done := a.auditRecorder(1024, 10*time.Second, stderr)
	defer done()
	im := flask.Importer{Source: source, Target: a.store, Audit: events, Actor: account.OperatorName, Now: time.Now, DryRun: *dry}
	var notable []flask.Outcome
	sum, err := im.Run(ctx, *index, func(o flask.Outcome) {
		if o.Result != flask.Imported {
			notable = append(notable, o)
		}
	})
	if err != nil {
		// The URL as scheme://host:port: it may carry a password.
		return fmt.Errorf("importing from %s index %s (what was imported stays; run it again to go on): %w", elastic.Redact(*from), *index, err)
	}
	out := printer{w: stdout, json: *asJSON}
	return out.print(struct {
		DryRun   bool            `json:"dry_run"`
		Summary  flask.Summary   `json:"summary"`
		Outcomes []flask.Outcome `json:"not_imported"`
	}{*dry, sum, notable}, func(w io.Writer) {
		for _, o := range notable {
			who := o.Email
			if who == "" {
				who = "document " + strconv.Quote(o.ID)
			}
			line := who + ": " + o.Result
			if o.Reason != "" {
				line += " (" + o.Reason + ")"
			}
			fmt.Fprintln(w, line)
		}
		verb := "imported"
		if *dry {
			verb = "would import"
		}
		fmt.Fprintf(w, "read %d: %s %d, already imported %d, conflicting %d, invalid %d\n",
			sum.Read, verb, sum.Imported, sum.Already, sum.Conflicts, sum.Invalid)
	})
}
