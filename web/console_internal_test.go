package web

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"esauth/lib/account"
	"esauth/lib/audit"
	"esauth/lib/session"
	"esauth/lib/user"
)

var inlineScriptOrStyle = regexp.MustCompile(`(?i)<script|<style|\sstyle=|\son[a-z]+=`)

// Every console page renders with nothing found and with everything
// found: a template error half way would be a 500 (render writes nothing
// before the whole page is made), so this catches a field a template
// names that its view lacks, for every state, without Elasticsearch.
func TestTheConsolePagesRenderEmptyAndFull(t *testing.T) {
	ps, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := audit.Stats{Total: 7, From: now.Add(-3 * time.Hour), To: now, Interval: time.Hour, LockedEmails: 1, Sampled: true, SampleProbability: 0.0125,
		Histogram: []audit.Bucket{
			{At: now.Add(-3 * time.Hour), Count: 4, Outcomes: []audit.Count{{Key: audit.Success, Count: 3}, {Key: audit.Failure, Count: 1}}},
			{At: now.Add(-2 * time.Hour)},
			{At: now.Add(-1 * time.Hour), Count: 3, Outcomes: []audit.Count{{Key: "refused: origin", Count: 3}}},
		},
		TopIPs: []audit.Count{{Key: "192.0.2.7", Count: 4}}, TopUserAgents: []audit.Count{{Key: "<b>curl</b>", Count: 4}}}
	facets := user.Facets{Total: 2, Counts: map[string][]user.FacetCount{"role": {{Value: "user", Count: 2}}, "provider": {{Value: "google", Count: 1}}}}
	full := map[string]page{
		"events": {Title: "Security events", Next: "abc", Console: &consoleView{
			Query: typed(url.Values{"outcome": {"failure"}}, eventParams), Events: []string{"login_failure"}, EventTypes: audit.Types,
			Found: []audit.Event{{Event: "login_failure", Outcome: audit.Failure, Email: "bob@example.com", IP: "192.0.2.7", At: now, Device: "curl", NewDevice: true}},
			Stats: &st, Chart: newChart(st)}},
		"sessions": {Title: "Sessions", Next: "abc", Console: &consoleView{Query: typed(url.Values{"ip": {"192.0.2.0/24"}}, session.FilterParams),
			Sessions: []account.AdminSessionView{{Email: "bob@example.com", SessionView: account.SessionView{ID: "x", CreatedAt: now, IP: "192.0.2.7", UserAgent: "<i>curl</i>"}}}}},
		"lockouts": {Title: "Lockouts", Console: &consoleView{Locked: 2, Lockouts: []account.LockView{
			{Email: "bob@example.com", Key: "0123456789abcdef", Counter: "password", Failures: 5, LockedUntil: now},
			{Key: "fedcba9876543210", Counter: "second_factor", Failures: 5, LockedUntil: now}}}},
		"admin": {Title: "Users", Next: "abc", Users: []user.Public{{Email: "bob@example.com", Role: "user", Passkeys: 2, Providers: []string{"google"}, LastLoginAt: now}},
			Console: &consoleView{Query: typed(url.Values{"provider": {"google"}}, user.SearchParams), Facets: &facets, Providers: facetProviders(facets, "google")}},
	}
	empty := map[string]page{
		"events":   {Title: "Security events", Console: &consoleView{Query: typed(nil, eventParams)}},
		"sessions": {Title: "Sessions", Console: &consoleView{Query: typed(nil, session.FilterParams)}},
		"lockouts": {Title: "Lockouts", Console: &consoleView{}},
		"admin":    {Title: "Users", Console: &consoleView{Query: typed(nil, user.SearchParams), Facets: &user.Facets{}}, Fields: map[string]string{"q": "too long"}},
	}
	for name, p := range full {
		for state, p := range map[string]page{"full": p, "empty": empty[name]} {
			var buf bytes.Buffer
			if err := ps[name].ExecuteTemplate(&buf, "layout", p); err != nil {
				t.Errorf("%s, %s: %v", name, state, err)
				continue
			}
			out := buf.String()
			if strings.Contains(out, "<b>curl") || strings.Contains(out, "<i>curl") || inlineScriptOrStyle.MatchString(out) {
				t.Errorf("%s, %s: markup or inline code on the page:\n%s", name, state, out)
			}
			if state == "full" && name == "events" {
				// 3 succeeded and 1 failed in the first bar, the empty bar
				// drawn as nothing, 3 refused in the last.
				if n := strings.Count(out, "<rect "); n != 3 {
					t.Errorf("the chart has %d rects, want 3:\n%s", n, out)
				}
				for _, want := range []string{`class="bar-success"`, `class="bar-failure"`, `class="bar-refused"`, "7 events from", "3 succeeded, 1 failed, 0 refused", "random sample of 1.2% of them"} {
					if !strings.Contains(out, want) {
						t.Errorf("the events page lacks %q", want)
					}
				}
			}
		}
	}
}
