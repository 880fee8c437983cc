package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"esauth/lib/account"
	"esauth/lib/audit"
	"esauth/lib/device"
	"esauth/lib/elastic"
	"esauth/lib/session"
	"esauth/lib/user"
)

// The security console at scale (-console N): a server of its own on
// indices of their own, N audit events and -console-sessions sessions
// bulk-loaded behind its back in the shapes esauth writes them, and then
// the console's routes timed one request after another (a few clients at
// once), as an admin would use them, not driven to saturation.

const (
	consoleAdmin = "admin@example.com"
	consoleSpan  = 30 * 24 * time.Hour // the events cover the last 30 days
	// revokeNet is the network the sessions revoked by query share; no
	// other loaded address is in it.
	revokeNet  = "203.0.113.0/24"
	revokeWant = 10000
)

// userAgents are the clients of the loaded events and sessions: ten
// browsers the users have, and two tools of credential stuffing.
var userAgents = []string{
	"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/131.0 Mobile/15E148 Safari/605.1.15",
	"curl/8.5.0",
	"python-requests/2.32.3",
}

const browsers = 10 // userAgents[:browsers] are browsers, the rest tools

// uaWords are what the user-agent filter rows look for: words of one
// browser or tool, as an admin would type them.
var uaWords = []string{"Firefox", "Android Chrome", "iPhone", "Edg", "Macintosh Safari", "SamsungBrowser", "curl", "python-requests", "Windows Firefox"}

// eventKind is one kind of loaded event: its type and outcome as esauth
// records them (lib/account), and how common it is.
type eventKind struct {
	event, outcome string
	weight         float64
}

var eventKinds = []eventKind{
	{audit.LoginSuccess, audit.Success, 40},
	{audit.LoginFailure, audit.Failure, 14},
	{audit.LoginFailure, audit.Refused, 1}, // locked, or too many at once
	{audit.Lockout, audit.Success, 0.3},
	{audit.Logout, audit.Success, 12},
	{audit.LogoutAll, audit.Success, 1},
	{audit.SessionRevoked, audit.Success, 1.5},
	{audit.Signup, audit.Success, 2},
	{audit.SecondFactorRequired, audit.Success, 5},
	{audit.SecondFactorPassed, audit.Success, 4.5},
	{audit.SecondFactorFailed, audit.Failure, 0.5},
	{audit.PasswordChanged, audit.Success, 0.8},
	{audit.RecoveryRequested, audit.Success, 1},
	{audit.RecoveryRequested, audit.Failure, 0.3},
	{audit.PasswordRecovered, audit.Success, 0.5},
	{audit.VerificationSent, audit.Success, 2},
	{audit.EmailVerified, audit.Success, 1.5},
	{audit.OAuthLogin, audit.Success, 5},
	{audit.OAuthSignup, audit.Success, 0.3},
	{audit.OAuthRefused, audit.Refused + ": state", 0.3},
	{audit.IdentityLinked, audit.Success, 0.2},
	{audit.PasskeyLogin, audit.Success, 3},
	{audit.PasskeyRegistered, audit.Success, 0.3},
	{audit.PasskeyRefused, audit.Refused + ": origin", 0.2},
	{audit.TOTPEnabled, audit.Success, 0.2},
	{audit.UserUpdated, audit.Success, 0.5},
	{audit.UserDisabled, audit.Success, 0.05},
	{audit.SessionsRevoked, audit.Success, 0.01},
}

// consoleData says who the loaded events are about and where they come
// from: users user-<i>@example.com, an address pool (IPv4 addresses in
// /24 networks of about 20, IPv6 ones in /64s of about 3), each user at
// home on three addresses of it and with two of the browsers.
type consoleData struct {
	now       time.Time
	emails    int
	ips       []string
	nets4     []string // the /24 networks of the pool
	nets6     []string // the /64 networks of the pool
	attackers int      // ips[:attackers] send most of the failed logins
	adminIP   string
	cum       []float64 // eventKinds' cumulative weights
}

func newConsoleData(events int, now time.Time) *consoleData {
	d := &consoleData{now: now, emails: min(max(events/100, 1000), 100000)}
	nIPs := min(max(events/200, 500), 50000)
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[netip.Addr]bool{}
	var reserved []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "192.0.0.0/24", "192.0.2.0/24",
		"198.18.0.0/15", "198.51.100.0/24", revokeNet} {
		reserved = append(reserved, netip.MustParsePrefix(s))
	}
	v4 := nIPs * 85 / 100
	var bases4 []netip.Addr
	for len(bases4) < max(1, v4/20) {
		a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), 0})
		if a.IsPrivate() || a.IsLoopback() || seen[a] || slices.ContainsFunc(reserved, func(p netip.Prefix) bool { return p.Contains(a) }) {
			continue
		}
		seen[a] = true
		bases4 = append(bases4, a)
		d.nets4 = append(d.nets4, a.String()+"/24")
	}
	for len(d.ips) < v4 {
		b := bases4[r.IntN(len(bases4))].As4()
		b[3] = byte(1 + r.IntN(254))
		if a := netip.AddrFrom4(b); !seen[a] {
			seen[a] = true
			d.ips = append(d.ips, a.String())
		}
	}
	// IPv6 of a few large providers' allocations.
	var bases6 []netip.Addr
	for _, hi := range [][2]byte{{0x2a, 0x01}, {0x2a, 0x02}, {0x26, 0x00}, {0x26, 0x07}, {0x24, 0x01}, {0x28, 0x04}} {
		for range max(1, (nIPs-v4)/3/6) {
			var b [16]byte
			b[0], b[1] = hi[0], hi[1]
			for i := 2; i < 8; i++ {
				b[i] = byte(r.IntN(256))
			}
			a := netip.AddrFrom16(b)
			bases6 = append(bases6, a)
			d.nets6 = append(d.nets6, a.String()+"/64")
		}
	}
	for len(d.ips) < nIPs {
		b := bases6[r.IntN(len(bases6))].As16()
		for i := 8; i < 16; i++ {
			b[i] = byte(r.IntN(256))
		}
		d.ips = append(d.ips, netip.AddrFrom16(b).String())
	}
	r.Shuffle(len(d.ips), func(i, j int) { d.ips[i], d.ips[j] = d.ips[j], d.ips[i] })
	d.attackers = max(10, nIPs/250)
	d.adminIP = d.ips[len(d.ips)-1]
	for _, k := range eventKinds {
		last := 0.0
		if len(d.cum) > 0 {
			last = d.cum[len(d.cum)-1]
		}
		d.cum = append(d.cum, last+k.weight)
	}
	return d
}

func userEmail(u int) string { return "user-" + strconv.Itoa(u) + "@example.com" }

// home is one of user u's three usual addresses.
func (d *consoleData) home(u, k int) string {
	return d.ips[(u*7919+k*104729)%len(d.ips)]
}

// browser is one of user u's two browsers (the first most of the time).
func (d *consoleData) browser(u int, first bool) string {
	if first {
		return userAgents[u%browsers]
	}
	return userAgents[(u/browsers+3)%browsers]
}

// event is one security event as esauth would have recorded it
// (audit.Writer.Record fills the device and network of every event).
func (d *consoleData) event(r *rand.Rand) audit.Event {
	k := eventKinds[sort.SearchFloat64s(d.cum, r.Float64()*d.cum[len(d.cum)-1])]
	u := r.IntN(d.emails)
	e := audit.Event{
		ID: audit.NewID(), Event: k.event, Outcome: k.outcome, Email: userEmail(u),
		IP: d.home(u, r.IntN(3)), UserAgent: d.browser(u, r.IntN(5) != 0),
		At: d.now.Add(-time.Duration(r.Int64N(int64(consoleSpan)))),
	}
	away := r.IntN(10) == 0
	if away {
		e.IP = d.ips[r.IntN(len(d.ips))]
	}
	e.Actor = e.Email
	switch k.event {
	case audit.LoginFailure, audit.Lockout:
		if r.IntN(2) == 0 { // credential stuffing
			e.IP, e.UserAgent = d.ips[r.IntN(d.attackers)], userAgents[browsers+r.IntN(len(userAgents)-browsers)]
			switch r.IntN(10) {
			case 0, 1:
				e.Email = fmt.Sprintf("guess-%d@example.org", r.IntN(1000000))
			case 2:
				if k.event == audit.LoginFailure && k.outcome == audit.Failure {
					e.Email = "<invalid>"
				}
			}
			e.Actor = e.Email
		}
	case audit.LoginSuccess, audit.OAuthLogin:
		e.NewDevice = away && r.IntN(3) != 0
	case audit.UserUpdated, audit.UserDisabled, audit.SessionRevoked:
		if k.event != audit.SessionRevoked || r.IntN(5) == 0 {
			e.Actor, e.IP, e.UserAgent = consoleAdmin, d.adminIP, userAgents[0]
		}
	case audit.SessionsRevoked:
		e.Email, e.Actor, e.IP, e.UserAgent = "", consoleAdmin, d.adminIP, userAgents[0]
		e.Detail = fmt.Sprintf("ip=%s; sessions=%d users=%d", url.QueryEscape(d.nets4[r.IntN(len(d.nets4))]), 1+r.IntN(40), 1+r.IntN(10))
	}
	e.Device, e.Network = device.Family(e.UserAgent), device.Network(e.IP)
	return e
}

// sessionDoc is a session as lib/elastic stores it (its sessionDoc): the
// conversion from session.Session in session() keeps the two in step.
type sessionDoc struct {
	ID           string    `json:"id"`
	Email        string    `json:"email_address"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	LastSeenAt   time.Time `json:"last_seen_at"`
	Remember     bool      `json:"remember"`
	UserAgent    string    `json:"user_agent"`
	IP           string    `json:"ip"`
	UserEpoch    string    `json:"user_epoch"`
	SecondFactor bool      `json:"second_factor,omitempty"`
	Pending      bool      `json:"pending,omitempty"`
}

// sessionPolicy is esauth's default lifetimes (ESAUTH_SESSION_TTL,
// ESAUTH_REMEMBER_TTL).
var sessionPolicy = session.Policy{TTL: 12 * time.Hour, RememberTTL: 30 * 24 * time.Hour}

// session is a live session of a seeded user (its epoch is the one
// bulkUsers gives user u), made by esauth's own session.Policy.New; in
// revokeNet when revoked.
func (d *consoleData) session(r *rand.Rand, revoked bool) sessionDoc {
	u := r.IntN(d.emails)
	ip := d.home(u, r.IntN(3))
	if r.IntN(10) == 0 {
		ip = d.ips[r.IntN(len(d.ips))]
	}
	if revoked {
		ip = "203.0.113." + strconv.Itoa(1+r.IntN(254))
	}
	remember := r.IntN(10) < 6
	age := time.Duration(r.Int64N(int64(6 * time.Hour)))
	if remember {
		age = time.Duration(r.Int64N(int64(29 * 24 * time.Hour)))
	}
	created := d.now.Add(-age)
	s, _ := sessionPolicy.New(user.User{Email: userEmail(u), SessionEpoch: fmt.Sprintf("%032x", u)}, remember, created, d.browser(u, r.IntN(5) != 0), ip)
	s.LastSeenAt = created.Add(time.Duration(r.Int64N(int64(age) + 1)))
	s.SecondFactor = r.IntN(10) == 0
	return sessionDoc(s)
}

// timing is what a row's requests gave.
type timing struct {
	lat     []time.Duration
	codes   map[int]int
	bad     string  // the first answer that was not 200
	items   int     // what inspect counted, over the 200 answers
	partial int     // answers that said they were cut short
	sampled int     // stats answers counted over a random sample
	drift   float64 // sum over sampled answers of |histogram's sum − total| / total
}

func (t *timing) p(q float64) time.Duration {
	if len(t.lat) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(t.lat))
	return s[min(len(s)-1, max(0, int(math.Ceil(q*float64(len(s))))-1))]
}

func (t *timing) ok() int { return t.codes[http.StatusOK] }

// answers is "200×200", or every status with its count.
func (t *timing) answers() string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(t.codes)) {
		parts = append(parts, fmt.Sprintf("%d×%d", c, t.codes[c]))
	}
	return strings.Join(parts, ", ")
}

func (t *timing) perAnswer() string {
	if t.ok() == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", float64(t.items)/float64(t.ok()))
}

// timeRequests sends n requests, c at a time, mk making the i-th; inspect
// (may be nil) reads each 200 answer's body. A tenth as many first, not
// timed, warm the route up.
func timeRequests(client *http.Client, n, c int, mk func(i int) *http.Request, inspect func(t *timing, body []byte)) *timing {
	run := func(n int) *timing {
		t := &timing{codes: map[int]int{}}
		var next atomic.Int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range c {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					req := mk(i)
					start := time.Now()
					res, err := client.Do(req)
					var body []byte
					code := 0
					if err == nil {
						var buf bytes.Buffer
						_, err = buf.ReadFrom(res.Body)
						res.Body.Close()
						body, code = buf.Bytes(), res.StatusCode
					}
					took := time.Since(start)
					mu.Lock()
					t.lat = append(t.lat, took)
					t.codes[code]++
					switch {
					case err != nil && t.bad == "":
						t.bad = err.Error()
					case code != http.StatusOK && t.bad == "":
						t.bad = fmt.Sprintf("%s %s: %d %.300s", req.Method, req.URL.RequestURI(), code, body)
					case code == http.StatusOK && inspect != nil:
						inspect(t, body)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return t
	}
	run(max(1, n/10))
	return run(n)
}

// countData counts the entries of an answer's data list.
func countData(t *timing, body []byte) {
	var a struct {
		Data []json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &a) == nil {
		t.items += len(a.Data)
	}
}

// measureConsole is the security console at scale (see the top of this
// file). The admin is made as the README says the first one is, with
// esauth user create --admin; the users the events and sessions belong to
// are seeded with bulkUsers (their password is pw), so that the login rows
// log real accounts in whose history is in the loaded events.
func measureConsole(o options, es *esClient, bin string, env []string, work, pw, hash string) error {
	prefix := fmt.Sprintf("esauth-bench-%d-console-", os.Getpid())
	defer es.deleteIndices(prefix)
	env = append(env[:len(env):len(env)], "ESAUTH_INDEX_PREFIX="+prefix)
	addr := freeAddr()
	adminAddr := freeAddr() // its /metrics: what each login asked of Elasticsearch
	srv, err := startProcess(bin, []string{"serve"}, append(env, "ESAUTH_ADDR="+addr, "ESAUTH_ADMIN_ADDR="+adminAddr), filepath.Join(work, "console.log"))
	if err != nil {
		return err
	}
	defer srv.stop()
	base := "http://" + addr
	if err := waitFor(base + "/v1/openapi.json"); err != nil {
		return err
	}
	// The first admin, made as the README says: esauth user create --admin.
	create := exec.Command(bin, "user", "create", "--email", consoleAdmin, "--first-name", "Ada", "--last-name", "Admin", "--admin")
	create.Env, create.Stdin = env, strings.NewReader(pw+"\n")
	if out, err := create.CombinedOutput(); err != nil {
		return fmt.Errorf("esauth user create --admin: %w: %s", err, out)
	}
	cookie, adminSession, err := logIn(base, consoleAdmin, pw)
	if err != nil {
		return err
	}
	// The server has made its indices (the admin's signup and login went
	// through them): the loads write into its aliases.
	d := newConsoleData(o.console, time.Now().UTC())
	type load struct {
		name, index string
		docs        int
		took        time.Duration
	}
	var loads []load
	start := time.Now()
	if err := es.bulkUsers(prefix, d.emails, hash); err != nil {
		return err
	}
	loads = append(loads, load{"users, the events' and sessions' accounts", prefix + "users", d.emails, time.Since(start)})
	fmt.Fprintf(os.Stderr, "bench: console: %d users in %v\n", d.emails, loads[0].took.Round(time.Millisecond))

	start = time.Now()
	if err := es.bulkLoad(o.console, func(batch, from, to int, buf *bytes.Buffer) {
		r := rand.New(rand.NewPCG(3, uint64(batch)))
		enc := json.NewEncoder(buf)
		for range to - from {
			e := d.event(r)
			_ = enc.Encode(map[string]any{"create": map[string]string{"_index": prefix + "audit", "_id": e.ID}})
			_ = enc.Encode(e)
		}
	}); err != nil {
		return err
	}
	if _, err := es.do("POST", "/"+prefix+"audit/_refresh", nil, ""); err != nil {
		return err
	}
	loads = append(loads, load{"audit events", prefix + "audit", o.console, time.Since(start)})
	fmt.Fprintf(os.Stderr, "bench: console: %d events in %v\n", o.console, loads[1].took.Round(time.Millisecond))

	// The revoked sessions are spread evenly through the load.
	revokeN := min(revokeWant, o.consoleSess/2)
	start = time.Now()
	if err := es.bulkLoad(o.consoleSess, func(batch, from, to int, buf *bytes.Buffer) {
		r := rand.New(rand.NewPCG(4, uint64(batch)))
		enc := json.NewEncoder(buf)
		for j := from; j < to; j++ {
			s := d.session(r, j*revokeN/o.consoleSess != (j+1)*revokeN/o.consoleSess)
			_ = enc.Encode(map[string]any{"create": map[string]string{"_index": prefix + "sessions", "_id": s.ID}})
			_ = enc.Encode(s)
		}
	}); err != nil {
		return err
	}
	if _, err := es.do("POST", "/"+prefix+"sessions/_refresh", nil, ""); err != nil {
		return err
	}
	loads = append(loads, load{"sessions", prefix + "sessions", o.consoleSess, time.Since(start)})
	fmt.Fprintf(os.Stderr, "bench: console: %d sessions in %v\n", o.consoleSess, loads[2].took.Round(time.Millisecond))
	if err := es.waitForMerges(); err != nil {
		return err
	}

	fmt.Printf("\n### Security console over %d events and %d sessions (%d accounts, %d addresses, %d user agents)\n\n",
		o.console, o.consoleSess, d.emails, len(d.ips), len(userAgents))
	fmt.Println("| loaded | documents | load time | docs/s | index now holds | index size |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, l := range loads {
		size, err := es.indexBytes(l.index)
		if err != nil {
			return err
		}
		n, err := es.count(l.index, nil)
		if err != nil {
			return err
		}
		fmt.Printf("| %s (`%s`) | %d | %v | %.0f | %d | %.1f MiB |\n", l.name, strings.TrimPrefix(l.index, prefix), l.docs,
			l.took.Round(time.Millisecond), float64(l.docs)/l.took.Seconds(), n, float64(size)/(1<<20))
	}

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext, MaxIdleConnsPerHost: o.consoleConc}}
	defer client.CloseIdleConnections()
	get := func(path string, v url.Values) *http.Request {
		if len(v) > 0 {
			path += "?" + v.Encode()
		}
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Cookie", cookie)
		return req
	}
	n, c := o.consoleReqs, o.consoleConc
	rnd := func(i int) *rand.Rand { return rand.New(rand.NewPCG(5, uint64(i))) }
	day := 24 * time.Hour

	// The event search, one filter at a time, each request another value.
	searches := []struct {
		name, example string
		filter        func(r *rand.Rand) url.Values
	}{
		{"none", "—", func(*rand.Rand) url.Values { return nil }},
		{"`event`", "login_failure", func(r *rand.Rand) url.Values {
			return url.Values{"event": {[]string{audit.LoginFailure, audit.LoginSuccess, audit.Logout, audit.Lockout, audit.PasswordChanged, audit.OAuthLogin}[r.IntN(6)]}}
		}},
		{"`outcome`", "failure", func(r *rand.Rand) url.Values { return url.Values{"outcome": {audit.Outcomes[r.IntN(3)]}} }},
		{"`email`", userEmail(42), func(r *rand.Rand) url.Values { return url.Values{"email": {userEmail(r.IntN(d.emails))}} }},
		{"`ip`, one address (v4 or v6)", d.ips[0], func(r *rand.Rand) url.Values { return url.Values{"ip": {d.ips[r.IntN(len(d.ips))]}} }},
		{"`ip`, IPv4 /24", d.nets4[0], func(r *rand.Rand) url.Values { return url.Values{"ip": {d.nets4[r.IntN(len(d.nets4))]}} }},
		{"`ip`, IPv6 /64", d.nets6[0], func(r *rand.Rand) url.Values { return url.Values{"ip": {d.nets6[r.IntN(len(d.nets6))]}} }},
		{"`user_agent` words", uaWords[0], func(r *rand.Rand) url.Values { return url.Values{"user_agent": {uaWords[r.IntN(len(uaWords))]}} }},
		{"`from`/`to`, one day", "a day of the last 30", func(r *rand.Rand) url.Values {
			to := time.Now().UTC().Add(-time.Duration(r.IntN(30)) * day)
			return url.Values{"from": {to.Add(-day).Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
		}},
	}
	fmt.Printf("\n%d requests per row, %d clients, as the admin; each request another value of the filter (events per page: the default limit, 50)\n\n", n, c)
	fmt.Println("| `GET /v1/admin/events`, filter | e.g. | p50 | p99 | events per page | answers | p99 < 500 ms |")
	fmt.Println("|---|---|---|---|---|---|---|")
	var bad []string
	check := func(t *timing) {
		if t.bad != "" {
			bad = append(bad, t.bad)
		}
	}
	target := func(v, limit time.Duration) string {
		if v < limit {
			return "yes"
		}
		return "**no**"
	}
	for _, s := range searches {
		t := timeRequests(client, n, c, func(i int) *http.Request { return get("/v1/admin/events", s.filter(rnd(i))) }, countData)
		check(t)
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", s.name, s.example, ms(t.p(0.5)), ms(t.p(0.99)), t.perAnswer(), t.answers(), target(t.p(0.99), 500*time.Millisecond))
	}

	// The stats over the last 30 days.
	stats := []struct {
		name   string
		filter func(r *rand.Rand) url.Values
	}{
		{"30 days, no filter", func(*rand.Rand) url.Values { return url.Values{} }},
		{"30 days, `event=login_failure`", func(*rand.Rand) url.Values { return url.Values{"event": {audit.LoginFailure}} }},
		{"30 days, `email`", func(r *rand.Rand) url.Values { return url.Values{"email": {userEmail(r.IntN(d.emails))}} }},
		{"30 days, `ip` IPv4 /24", func(r *rand.Rand) url.Values { return url.Values{"ip": {d.nets4[r.IntN(len(d.nets4))]}} }},
	}
	fmt.Println()
	fmt.Println("| `GET /v1/admin/events/stats` | p50 | p99 | events counted (mean) | sampled answers (histogram's mean error) | partial answers | answers | p99 < 500 ms |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, s := range stats {
		t := timeRequests(client, n, c, func(i int) *http.Request {
			v := s.filter(rnd(i))
			v.Set("from", time.Now().UTC().Add(-consoleSpan).Format(time.RFC3339))
			return get("/v1/admin/events/stats", v)
		}, func(t *timing, body []byte) {
			var a struct {
				Data struct {
					Total     int  `json:"total"`
					Partial   bool `json:"partial"`
					Sampled   bool `json:"sampled"`
					Histogram []struct {
						Count int `json:"count"`
					} `json:"histogram"`
				} `json:"data"`
			}
			if json.Unmarshal(body, &a) == nil {
				t.items += a.Data.Total
				if a.Data.Partial {
					t.partial++
				}
				if a.Data.Sampled && a.Data.Total > 0 {
					// The exact total against the sample's estimate of it.
					sum := 0
					for _, b := range a.Data.Histogram {
						sum += b.Count
					}
					t.sampled++
					t.drift += math.Abs(float64(sum-a.Data.Total)) / float64(a.Data.Total)
				}
			}
		})
		check(t)
		sampled := fmt.Sprint(t.sampled)
		if t.sampled > 0 {
			sampled += fmt.Sprintf(" (%.2f %%)", 100*t.drift/float64(t.sampled))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %d | %s | %s |\n", s.name, ms(t.p(0.5)), ms(t.p(0.99)), t.perAnswer(), sampled, t.partial, t.answers(), target(t.p(0.99), 500*time.Millisecond))
	}

	// The session search.
	sessions := []struct {
		name   string
		filter func(r *rand.Rand) url.Values
	}{
		{"`ip`, one address", func(r *rand.Rand) url.Values { return url.Values{"ip": {d.home(r.IntN(d.emails), 0)}} }},
		{"`ip`, IPv4 /24", func(r *rand.Rand) url.Values { return url.Values{"ip": {d.nets4[r.IntN(len(d.nets4))]}} }},
		{"`email`", func(r *rand.Rand) url.Values { return url.Values{"email": {userEmail(r.IntN(d.emails))}} }},
		{"`user_agent` words", func(r *rand.Rand) url.Values { return url.Values{"user_agent": {uaWords[r.IntN(len(uaWords))]}} }},
	}
	fmt.Println()
	fmt.Println("| `GET /v1/admin/sessions`, filter | p50 | p99 | sessions per page | answers | p99 < 500 ms |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range sessions {
		t := timeRequests(client, n, c, func(i int) *http.Request { return get("/v1/admin/sessions", s.filter(rnd(i))) }, countData)
		check(t)
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", s.name, ms(t.p(0.5)), ms(t.p(0.99)), t.perAnswer(), t.answers(), target(t.p(0.99), 500*time.Millisecond))
	}

	// The revocation by query: a dry run, the revocation, and what is left.
	ipNet := map[string]any{"term": map[string]any{"ip.addr": revokeNet}}
	loaded, err := es.count(prefix+"sessions", ipNet)
	if err != nil {
		return err
	}
	revoke := func(dry bool) (account.Revocation, time.Duration, error) {
		path := base + "/v1/admin/sessions/revoke"
		if dry {
			path += "?dry_run=true"
		}
		body, _ := json.Marshal(map[string]string{"ip": revokeNet})
		req, _ := http.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return account.Revocation{}, 0, err
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(res.Body)
		took := time.Since(start)
		var a struct {
			Data account.Revocation `json:"data"`
		}
		if res.StatusCode != http.StatusOK || json.Unmarshal(buf.Bytes(), &a) != nil {
			return account.Revocation{}, took, fmt.Errorf("POST %s: %d %.300s", path, res.StatusCode, buf.Bytes())
		}
		return a.Data, took, nil
	}
	dry, dryTook, err := revoke(true)
	if err != nil {
		return err
	}
	done, took, err := revoke(false)
	if err != nil {
		return err
	}
	left := timeRequests(client, 1, 1, func(int) *http.Request {
		return get("/v1/admin/sessions", url.Values{"ip": {revokeNet}, "limit": {"200"}})
	}, countData)
	check(left)
	leftES, err := es.count(prefix+"sessions", ipNet)
	if err != nil {
		return err
	}
	adminLeft, err := es.count(prefix+"sessions", map[string]any{"ids": map[string]any{"values": []string{adminSession}}})
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("| `POST /v1/admin/sessions/revoke` | sessions loaded in it | dry run: sessions (accounts) | dry run time | revocation: ended | revocation time | survivors: `GET /v1/admin/sessions` / Elasticsearch count | admin's own session kept |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	fmt.Printf("| `{\"ip\":%q}` | %d | %d (%d) | %s | %d | %s | %d / %d | %v |\n", revokeNet, loaded, dry.Sessions, dry.Users, ms(dryTook),
		done.Sessions, ms(took), left.items, leftES, adminLeft == 1)

	// The new-device comparison's share of a login: the same logins
	// through this server and through a second one on the same indices
	// with ESAUTH_NEW_DEVICE_NOTICE=false, alternating, one at a time; and
	// the comparison's query on its own, by the same code (lib/elastic's
	// SeenClient) for the same accounts and client, since a difference of
	// two medians of ~30 ms logins (an argon2id hash each) is noisier
	// than the few milliseconds it measures.
	offAddr, offAdmin := freeAddr(), freeAddr()
	off, err := startProcess(bin, []string{"serve"}, append(env, "ESAUTH_ADDR="+offAddr, "ESAUTH_ADMIN_ADDR="+offAdmin, "ESAUTH_NEW_DEVICE_NOTICE=false"), filepath.Join(work, "console-off.log"))
	if err != nil {
		return err
	}
	defer off.stop()
	offBase := "http://" + offAddr
	if err := waitFor(offBase + "/v1/openapi.json"); err != nil {
		return err
	}
	const loginUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	loginUser := func(i int) int { return (i * 7919) % d.emails }
	loginAt := func(at string) func(i int) *http.Request {
		return func(i int) *http.Request {
			body, _ := json.Marshal(map[string]string{"email_address": userEmail(loginUser(i)), "password": pw})
			req, _ := http.NewRequest("POST", at+"/v1/auth/login", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", loginUA)
			return req
		}
	}
	// Four alternating halves, so that neither server has the warmer
	// node: with, without, with, without.
	logins, loginsOff := &timing{codes: map[int]int{}}, &timing{codes: map[int]int{}}
	// Each account logs in once first, untimed: its first login writes
	// last_login_at (then once an hour), which would otherwise fall on
	// whichever server came first.
	check(timeRequests(client, n/2, 2, loginAt(offBase), nil))
	callsBefore, err := esCalls(adminAddr)
	if err != nil {
		return err
	}
	offBefore, err := esCalls(offAdmin)
	if err != nil {
		return err
	}
	for round := range 4 {
		into, at := logins, base
		if round%2 == 1 {
			into, at = loginsOff, offBase
		}
		t := timeRequests(client, n/2, 1, loginAt(at), nil)
		check(t)
		into.lat = append(into.lat, t.lat...)
		for code, k := range t.codes {
			into.codes[code] += k
		}
	}
	callsAfter, err := esCalls(adminAddr)
	if err != nil {
		return err
	}
	offAfter, err := esCalls(offAdmin)
	if err != nil {
		return err
	}
	store, err := elastic.New(elastic.Config{Addresses: []string{o.esURL}, IndexPrefix: prefix}, zap.NewNop())
	if err != nil {
		return err
	}
	// The client as esauth sees it: the user agent, and the network of
	// the loopback address the logins came from.
	dev, network := device.Family(loginUA), device.Network("127.0.0.1")
	seen := func(email func(i int) string) (*timing, int, error) {
		t := &timing{codes: map[int]int{}}
		known := 0
		for i := range n + n/10 {
			start := time.Now()
			anyLogin, _, err := store.SeenClient(context.Background(), email(i), dev, network, time.Now().Add(-account.NewDeviceWindow))
			took := time.Since(start)
			if err != nil {
				return nil, 0, fmt.Errorf("SeenClient: %w", err)
			}
			if i >= n/10 { // the first tenth warms up
				t.lat = append(t.lat, took)
				t.codes[http.StatusOK]++
				if anyLogin {
					known++
				}
			}
		}
		return t, known, nil
	}
	query, known, err := seen(func(i int) string { return userEmail(loginUser(i)) })
	if err != nil {
		return err
	}
	none, _, err := seen(func(i int) string { return fmt.Sprintf("nobody-%d@example.com", i) })
	if err != nil {
		return err
	}
	hashTime := timeHash(pw)
	fmt.Println()
	fmt.Printf("Logins one at a time, %d through each server, alternating, of accounts with recent logins among the loaded events (%d of %d compared had some in the last 90 days)\n\n",
		2*(n/2), known, n)
	fmt.Println("| login's new-device comparison | p50 | p99 | answers |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| `POST /v1/auth/login`, with the comparison (the default) | %s | %s | %s |\n", ms(logins.p(0.5)), ms(logins.p(0.99)), logins.answers())
	fmt.Printf("| `POST /v1/auth/login`, `ESAUTH_NEW_DEVICE_NOTICE=false` | %s | %s | %s |\n", ms(loginsOff.p(0.5)), ms(loginsOff.p(0.99)), loginsOff.answers())
	added := logins.p(0.5) - loginsOff.p(0.5)
	fmt.Printf("| **the login's added p50** (the difference; target < 3 ms: %s) | %s | | |\n", target(added, 3*time.Millisecond), ms(added))
	fmt.Printf("| the comparison's query alone (`SeenClient`), those accounts | %s | %s | |\n", ms(query.p(0.5)), ms(query.p(0.99)))
	fmt.Printf("| the comparison's query alone, an account with no events | %s | %s | |\n", ms(none.p(0.5)), ms(none.p(0.99)))
	fmt.Println()
	fmt.Println("Elasticsearch calls of those logins, from each server's `/metrics` (calls and mean time per login, by operation):")
	fmt.Println()
	fmt.Println("| operation | with the comparison | `ESAUTH_NEW_DEVICE_NOTICE=false` |")
	fmt.Println("|---|---|---|")
	ops := map[string]bool{}
	for op := range callsAfter {
		ops[op] = true
	}
	for op := range offAfter {
		ops[op] = true
	}
	// Each server had two rounds of n/2 logins, each with its untimed
	// warm-up tenth (timeRequests).
	sent := 2 * (n/2 + max(1, n/2/10))
	per := func(before, after map[string]opCalls, op string) string {
		d := after[op].minus(before[op])
		if d.n == 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f × %.2f ms", d.n/float64(sent), 1000*d.sum/d.n)
	}
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		a, b := per(callsBefore, callsAfter, op), per(offBefore, offAfter, op)
		if a != "—" || b != "—" {
			fmt.Printf("| %s | %s | %s |\n", op, a, b)
		}
	}
	fmt.Printf("\nargon2id hash in this process: %s; login p50 less one hash: %s\n", ms(hashTime), ms(logins.p(0.5)-hashTime))
	if len(bad) > 0 {
		fmt.Println()
		fmt.Println("Answers that were not 200 (the first of each row):")
		for _, b := range bad {
			fmt.Println("- " + b)
		}
	}
	return nil
}

// opCalls is what a server's /metrics says of one kind of Elasticsearch
// call: how many, and their time in all (seconds).
type opCalls struct{ n, sum float64 }

func (a opCalls) minus(b opCalls) opCalls { return opCalls{a.n - b.n, a.sum - b.sum} }

// esCalls reads esauth_elasticsearch_request_duration_seconds, by op, from
// the /metrics of the server whose admin address is addr.
func esCalls(addr string) (map[string]opCalls, error) {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		return nil, err
	}
	const family = "esauth_elasticsearch_request_duration_seconds_"
	out := map[string]opCalls{}
	for _, line := range strings.Split(buf.String(), "\n") {
		rest, ok := strings.CutPrefix(line, family)
		if !ok {
			continue
		}
		kind, rest, _ := strings.Cut(rest, "{")
		_, rest, _ = strings.Cut(rest, `op="`)
		op, rest, _ := strings.Cut(rest, `"`)
		_, num, _ := strings.Cut(rest, "} ")
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil {
			continue
		}
		c := out[op]
		switch kind {
		case "count":
			c.n = v
		case "sum":
			c.sum = v
		}
		out[op] = c
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s* series at http://%s/metrics", family, addr)
	}
	return out, nil
}
