package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"esauth/lib/account"
	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/httpkit"
	pagepkg "esauth/lib/page"
	"esauth/lib/session"
	"esauth/lib/user"
)

// The security console's pages: the same calls as /v1/admin/… with the
// same parsers of the same parameter names, so a filter typed in a form
// means what it means in the API and on the command line.

// consoleView is what the console's pages show beside the common page.
type consoleView struct {
	// Query is the filter as it was typed (the form shows it again), and
	// Filter the same encoded for the next page's link and the hidden
	// fields of a revocation.
	Query  map[string]string
	Events []string // the event types chosen
	Filter string

	Found     []audit.Event
	Chart     *chart
	Stats     *audit.Stats
	Sessions  []account.AdminSessionView
	Lockouts  []account.LockView
	Locked    int
	Facets    *user.Facets
	Providers []string // the facet's values, for its select

	EventTypes []string
}

// typed keeps the first value of each of names as typed.
func typed(q url.Values, names []string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		out[n] = q.Get(n)
	}
	return out
}

// consolePage checks the viewer may use the console and begins its page.
func (s *Server) consolePage(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := s.loggedIn(w, r); !ok || s.enrolFirst(w, r) {
		return false
	}
	if err := s.svc.Accounts.MayUseConsole(httpkit.ActorOf(r)); err != nil {
		s.Refuse(w, r, err)
		return false
	}
	return true
}

var eventParams = []string{"outcome", "email", "actor", "ip", "user_agent", "new_device", "from", "to"}

// events is /admin/events: the search and the histogram over the same
// filters.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if !s.consolePage(w, r) {
		return
	}
	q := r.URL.Query()
	v := &consoleView{Query: typed(q, eventParams), EventTypes: audit.Types}
	p := page{Title: "Security events", Console: v}
	f, problems := audit.ParseFilter(q)
	if problems != nil {
		p.Fields, p.Error = problems, "Some filters could not be read: see below."
		s.render(w, r, http.StatusUnprocessableEntity, "events", p)
		return
	}
	v.Events, v.Filter = f.Events, f.Values().Encode()
	a := httpkit.ActorOf(r)
	after, err := pageCursor(q.Get("cursor"))
	var next *pagepkg.Cursor
	if err == nil {
		v.Found, next, err = s.svc.Accounts.SearchEvents(r.Context(), a, f, after, 50)
	}
	if err == nil {
		var st audit.Stats
		if st, err = s.svc.Accounts.EventStats(r.Context(), a, f); err == nil {
			v.Stats, v.Chart = &st, newChart(st)
		}
	}
	if s.failed(w, r, err, "events", &p) {
		return
	}
	p.Next = pagepkg.Encode(next)
	s.render(w, r, http.StatusOK, "events", p)
}

// failed shows err on the page (503 as the unavailable page); false when
// there is none.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, err error, name string, p *page) bool {
	if err == nil {
		return false
	}
	if errs.Is(err, errs.Unavailable) {
		s.unavailable(w, r)
		return true
	}
	var e *errs.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		p.Fields = e.Fields
	}
	p.Error = messageOf(err)
	s.render(w, r, httpkit.StatusOf(err), name, *p)
	return true
}

// sessions is /admin/sessions: every account's live sessions the filter
// selects, with the revocation's buttons.
func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	if !s.consolePage(w, r) {
		return
	}
	s.showSessions(w, r, r.URL.Query(), page{})
}

func (s *Server) showSessions(w http.ResponseWriter, r *http.Request, q url.Values, p page) {
	v := &consoleView{Query: typed(q, session.FilterParams)}
	p.Title, p.Console = "Sessions", v
	f, problems := session.ParseFilter(q)
	if problems != nil {
		p.Fields, p.Error = problems, "Some filters could not be read: see below."
		s.render(w, r, http.StatusUnprocessableEntity, "sessions", p)
		return
	}
	v.Filter = f.Values().Encode()
	after, err := pageCursor(q.Get("cursor"))
	var next *pagepkg.Cursor
	if err == nil {
		v.Sessions, next, err = s.svc.Accounts.SearchSessions(r.Context(), httpkit.ActorOf(r), f, after, 50)
	}
	if s.failed(w, r, err, "sessions", &p) {
		return
	}
	p.Next = pagepkg.Encode(next)
	s.render(w, r, http.StatusOK, "sessions", p)
}

// revokeSessions is the sessions page's form: count (dry run) or end
// every session its filter selects, as POST /v1/admin/sessions/revoke.
func (s *Server) revokeSessions(w http.ResponseWriter, r *http.Request) {
	if !s.consolePage(w, r) {
		return
	}
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	q := url.Values{}
	for _, n := range session.FilterParams {
		if v := form.Get(n); v != "" {
			q.Set(n, v)
		}
	}
	f, problems := session.ParseFilter(q)
	if problems != nil {
		s.showSessions(w, r, q, page{})
		return
	}
	dry := form.Get("action") != "revoke"
	rev, err := s.svc.Accounts.RevokeSessionsWhere(r.Context(), httpkit.ActorOf(r), f, dry)
	if err != nil {
		if errs.Is(err, errs.Unavailable) {
			s.unavailable(w, r)
			return
		}
		s.showSessions(w, r, q, page{Error: messageOf(err)})
		return
	}
	how := ""
	if rev.PerUser {
		how = " (through the account's session epoch: every session of it, also one made meanwhile)"
	}
	msg := fmt.Sprintf("Ended %s of %s%s.", counted(rev.Sessions, "session"), counted(rev.Users, "account"), how)
	if rev.DryRun {
		msg = fmt.Sprintf("These filters select %s of %s; nothing was ended.", counted(rev.Sessions, "session"), counted(rev.Users, "account"))
	}
	s.showSessions(w, r, q, page{Flash: msg})
}

// counted is "1 session", "2 sessions".
func counted(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// lockouts is /admin/lockouts: the emails locked now, each with a button
// that lifts its lock.
func (s *Server) lockouts(w http.ResponseWriter, r *http.Request) {
	if !s.consolePage(w, r) {
		return
	}
	s.showLockouts(w, r, http.StatusOK, page{})
}

func (s *Server) showLockouts(w http.ResponseWriter, r *http.Request, status int, p page) {
	v := &consoleView{}
	p.Title, p.Console = "Lockouts", v
	var err error
	v.Lockouts, v.Locked, err = s.svc.Accounts.Lockouts(r.Context(), httpkit.ActorOf(r), 200)
	if s.failed(w, r, err, "lockouts", &p) {
		return
	}
	s.render(w, r, status, "lockouts", p)
}

func (s *Server) clearLockout(w http.ResponseWriter, r *http.Request) {
	if !s.consolePage(w, r) {
		return
	}
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	if err := s.svc.Accounts.ClearLockout(r.Context(), httpkit.ActorOf(r), form.Get("email")); err != nil {
		if errs.Is(err, errs.Unavailable) {
			s.unavailable(w, r)
			return
		}
		p := page{Form: map[string]string{"email": form.Get("email")}}
		var e *errs.Error
		if errors.As(err, &e) && len(e.Fields) > 0 {
			p.Fields = e.Fields
		} else {
			p.Error = messageOf(err)
		}
		s.showLockouts(w, r, httpkit.StatusOf(err), p)
		return
	}
	setFlash(w, "lockout_cleared")
	http.Redirect(w, r, "/admin/lockouts", http.StatusSeeOther)
}

// facetProviders are the provider facet's values, the chosen one too.
func facetProviders(f user.Facets, chosen string) []string {
	var out []string
	for _, c := range f.Counts["provider"] {
		out = append(out, c.Value)
	}
	if chosen != "" && !slices.Contains(out, chosen) {
		out = append(out, chosen)
	}
	return out
}

// percent writes a share as a percentage with two significant digits
// ("1.4%", "17%"), for the sampled stats.
func percent(p float64) string {
	return strconv.FormatFloat(100*p, 'g', 2, 64) + "%"
}

// facetCount is the count of a facet's value, for the templates.
func facetCount(f *user.Facets, name, value string) int {
	if f == nil {
		return 0
	}
	for _, c := range f.Counts[name] {
		if c.Value == value {
			return c.Count
		}
	}
	return 0
}

// filterField is one text filter of a console form, with its error.
type filterField struct{ Name, Label, Type, Value, Err string }

// newFilterField takes the whole query and problems, so a template names
// each field once (and a missing key is "", not an error).
func newFilterField(name, label, typ string, query, problems map[string]string) filterField {
	return filterField{name, label, typ, query[name], problems[name]}
}

// yesNo is a yes-or-no facet's select, with its counts.
type yesNo struct {
	Name, Label, Value, Yes, No string
	YesCount, NoCount           int
}

func newYesNo(f *user.Facets, name, label string, query map[string]string, yes, no string) yesNo {
	return yesNo{Name: name, Label: label, Value: query[name], Yes: yes, No: no,
		YesCount: facetCount(f, name, "true"), NoCount: facetCount(f, name, "false")}
}
