package audit

import (
	"esauth/lib/params"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Types holds every event constant of audit.go, and only those: a new
// event the filter does not know could never be searched for.
func TestTypesListsEveryEvent(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "audit.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]bool{"Success": true, "Failure": true, "Refused": true}
	var consts []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			for i, name := range v.Names {
				if lit, ok := v.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING && !outcomes[name.Name] {
					s, _ := strconv.Unquote(lit.Value)
					consts = append(consts, s)
				}
			}
		}
	}
	slices.Sort(consts)
	types := slices.Clone(Types)
	slices.Sort(types)
	if !slices.Equal(consts, types) {
		t.Errorf("audit.go has the events %v; Types lists %v", consts, types)
	}
}

func TestParseFilter(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		query string
		check func(Filter) bool
		bad   string
	}{
		{query: "", check: func(f Filter) bool { return len(f.Events) == 0 && !f.Network.IsValid() && f.From.IsZero() }},
		{query: "event=login_failure,lockout&event=login_failure", check: func(f Filter) bool { return slices.Equal(f.Events, []string{"login_failure", "lockout"}) }},
		{query: "email=%20Ann@Example.COM%20", check: func(f Filter) bool { return f.Email == "ann@example.com" }},
		{query: "ip=203.0.113.9", check: func(f Filter) bool { return f.Network.String() == "203.0.113.9/32" }},
		{query: "ip=::ffff:203.0.113.9", check: func(f Filter) bool { return f.Network.String() == "203.0.113.9/32" }},
		{query: "ip=203.0.113.9/24", check: func(f Filter) bool { return f.Network.String() == "203.0.113.0/24" }},
		{query: "from=2026-12-01&to=2026-12-01", check: func(f Filter) bool { return f.From.Equal(day) && f.To.Equal(day.AddDate(0, 0, 1)) }},
		{query: "from=2026-12-01T01:00:00%2B01:00", check: func(f Filter) bool { return f.From.Equal(day) }},
		{query: "to=9999-12-31", check: func(f Filter) bool { return f.To.Equal(params.MaxTime) }},
		{query: "new_device=false", check: func(f Filter) bool { return f.NewDevice != nil && !*f.NewDevice }},
		{query: "event=nope", bad: "event"},
		{query: "outcome=refused:%20origin", bad: "outcome"},
		{query: "ip=2001:db8::/129", bad: "ip"},
		{query: "ip=1.2.3.4.5", bad: "ip"},
		{query: "from=1969-12-31", bad: "from"},
		{query: "to=10000-01-01", bad: "to"},
		{query: "from=2026-12-02&to=2026-12-02T00:00:00Z", bad: "to"},
		{query: "actor=%ff%fe", bad: "actor"},
	} {
		v, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		f, problems := ParseFilter(v)
		switch {
		case c.bad != "" && problems[c.bad] == "":
			t.Errorf("%s: problems %v; want one for %s", c.query, problems, c.bad)
		case c.bad == "" && problems != nil:
			t.Errorf("%s: %v", c.query, problems)
		case c.bad == "" && !c.check(f):
			t.Errorf("%s: %+v", c.query, f)
		}
		if c.bad == "" {
			// What Values writes, ParseFilter reads back the same.
			again, problems := ParseFilter(f.Values())
			if problems != nil || again.Network != f.Network || !again.From.Equal(f.From) || !again.To.Equal(f.To) || !slices.Equal(again.Events, f.Events) || again.Email != f.Email {
				t.Errorf("%s: Values %v reads back as %+v (%v)", c.query, f.Values(), again, problems)
			}
		}
	}
}

func TestStatsIntervalKeepsTheHistogramSmall(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		span time.Duration
		want string
	}{
		{time.Hour, "1m"}, {24 * time.Hour, "30m"}, {7 * 24 * time.Hour, "3h"}, {30 * 24 * time.Hour, "12h"}, {2 * 366 * 24 * time.Hour, "30d"},
	} {
		d := StatsInterval(from, from.Add(c.span))
		if IntervalName(d) != c.want || c.span/d > MaxBuckets {
			t.Errorf("%v: %s (%d buckets); want %s", c.span, IntervalName(d), c.span/d, c.want)
		}
	}
}
