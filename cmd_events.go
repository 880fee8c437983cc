package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
)

const eventsUsage = `usage:
  esauth events search [filters] [--limit N] [--json]
  esauth events stats [filters] [--json]
Filters: --event T[,T…] --outcome O --email E --actor A --ip IP|CIDR
--user-agent WORDS --new-device true|false --from T --to T (RFC 3339 or dates).
Each takes --help for what it does and its flags.
`

// eventsCommands are the subcommands of "esauth events": the security
// console's search and aggregations, with the operator as actor.
func eventsCommands() map[string]command {
	return map[string]command{
		"search": eventsSearch,
		"stats":  eventsStats,
	}
}

// filterFlags registers a text flag for each of names (written with
// dashes: user_agent is --user-agent) and returns a reader of the values
// set, under their names, for the parser every surface uses (the API reads
// the same names from its query string).
func filterFlags(fs *flag.FlagSet, names []string, help map[string]string) func() url.Values {
	vals := map[string]*string{}
	for _, n := range names {
		vals[n] = fs.String(strings.ReplaceAll(n, "_", "-"), "", help[n])
	}
	return func() url.Values {
		v := url.Values{}
		fs.Visit(func(f *flag.Flag) {
			n := strings.ReplaceAll(f.Name, "-", "_")
			if p, ok := vals[n]; ok {
				v.Set(n, *p)
			}
		})
		return v
	}
}

// invalidFlags turns a parser's problems into the command line's error,
// naming the flags as they are typed.
func invalidFlags(problems map[string]string) error {
	flags := map[string]string{}
	for k, v := range problems {
		flags["--"+strings.ReplaceAll(k, "_", "-")] = v
	}
	return cliError(errs.InvalidFields(flags))
}

var eventFilterNames = []string{"event", "outcome", "email", "actor", "ip", "user_agent", "new_device", "from", "to"}

var eventFilterHelp = map[string]string{
	"event":      "event types, comma-separated (see the README's audit events)",
	"outcome":    "success, failure or refused",
	"email":      "whose account",
	"actor":      "who acted, exactly",
	"ip":         "an address or a CIDR network",
	"user_agent": "words the user agent contains",
	"new_device": "true: logins from a client not seen before; false: the others",
	"from":       "from this time (RFC 3339 or a date)",
	"to":         "before this time (a date: to the end of that day)",
}

func eventsSearch(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("events search", "[filters] [--limit N] [--json]", "Searches every account's security events, newest first.")
	values := filterFlags(fs, eventFilterNames, eventFilterHelp)
	limit := fs.Int("limit", 100, "at most this many")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if err := needLimit(fs, *limit); err != nil {
		return err
	}
	f, problems := audit.ParseFilter(values())
	if problems != nil {
		return invalidFlags(problems)
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	list, err := op.SearchEvents(ctx, f, *limit)
	if err != nil {
		return cliError(err)
	}
	return printer{w: stdout, json: *asJSON}.print(list, func(w io.Writer) {
		for _, e := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\tby %s\tfrom %s\t%s%s\n", e.At.Format(time.RFC3339), e.Event, e.Outcome, e.Email, e.Actor, e.IP, e.Device, newWord(e.NewDevice))
		}
	})
}

func newWord(isNew bool) string {
	if isNew {
		return "\tnew device"
	}
	return ""
}

func eventsStats(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("events stats", "[filters] [--json]",
		"Counts the security events the filters select (the last 7 days unless --from says otherwise): a histogram by type and outcome, the top addresses, failed emails and user agents, and the accounts locked now.")
	values := filterFlags(fs, eventFilterNames, eventFilterHelp)
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	f, problems := audit.ParseFilter(values())
	if problems != nil {
		return invalidFlags(problems)
	}
	_, op, done, err := newOperator(getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	st, err := op.EventStats(ctx, f)
	if err != nil {
		return cliError(err)
	}
	return printer{w: stdout, json: *asJSON}.print(st, func(w io.Writer) {
		fmt.Fprintf(w, "%d events from %s to %s, by %s\n", st.Total, st.From.Format(time.RFC3339), st.To.Format(time.RFC3339), st.Interval)
		for _, b := range st.Histogram {
			if b.Count > 0 {
				fmt.Fprintf(w, "  %s\t%d\n", b.At.Format(time.RFC3339), b.Count)
			}
		}
		top := func(title string, cs []audit.Count) {
			fmt.Fprintln(w, title)
			for _, c := range cs {
				fmt.Fprintf(w, "  %d\t%s\n", c.Count, c.Key)
			}
		}
		top("top addresses:", st.TopIPs)
		top("top emails with failed logins:", st.TopFailedEmails)
		top("top user agents:", st.TopUserAgents)
		fmt.Fprintf(w, "accounts locked now: %d\n", st.LockedEmails)
		if st.Partial {
			fmt.Fprintln(w, "(partial: Elasticsearch stopped before it counted everything)")
		}
		if st.Sampled {
			fmt.Fprintf(w, "(sampled: the histogram and the leaders are estimates from a random %.2g%% of the events; the total is exact)\n", 100*st.SampleProbability)
		}
	})
}
