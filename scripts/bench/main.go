// Command bench is esauth's own yardstick. It starts what it needs (the
// local Elasticsearch through scripts/elasticsearch.sh unless
// ELASTICSEARCH_URL is set, esauth built from the tree, and a minimal Go
// service that does nothing but the loader's _mget), seeds users, logs in,
// drives load with vegeta and prints one Markdown table in which every row
// was measured in the same run:
//
//	go run . [-duration 5s] [-concurrency 16,64] [-users 1000] [-scale 1000000] [-console 10000000]
//
// It is a separate module (scripts/bench/go.mod) so that the load library
// never becomes a dependency of esauth itself.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"esauth/lib/password"
	"esauth/lib/session"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "minimal" {
		if err := serveMinimal(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench minimal:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	duration    time.Duration
	concurrency []int
	users       int
	scale       int
	console     int
	consoleSess int
	consoleReqs int
	consoleConc int
	root        string
	esURL       string
	writes      bool
	compare     string
	compareEnv  []string
	warmup      time.Duration
	rounds      int
}

func parseFlags() (options, error) {
	var o options
	var conc string
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each row is driven")
	flag.StringVar(&conc, "concurrency", "16,64", "comma-separated numbers of concurrent clients")
	flag.IntVar(&o.users, "users", 1000, "users in the index for the main table")
	flag.IntVar(&o.scale, "scale", 0, "also measure the protected route with this many users (e.g. 1000000); 0 skips it")
	flag.IntVar(&o.console, "console", 0, "after the main table (and -scale), measure the security console over this many bulk-loaded audit events "+
		"(e.g. 10000000) on indices of their own: event search per filter, stats, session search, a revocation by query, and the new-device "+
		"comparison's share of a login; 0 skips it (the main table still runs first: -writes=false -duration 1s -rounds 1 -warmup 1s makes it quick)")
	flag.IntVar(&o.consoleSess, "console-sessions", 1000000, "with -console: live sessions bulk-loaded beside the events")
	flag.IntVar(&o.consoleReqs, "console-requests", 200, "with -console: requests per measured row")
	flag.IntVar(&o.consoleConc, "console-clients", 4, "with -console: concurrent clients of the search rows (the logins are one at a time)")
	flag.StringVar(&o.root, "root", "../..", "the esauth source tree")
	flag.StringVar(&o.compare, "compare", "", "also measure esauth built from this git revision (e.g. HEAD~1) in the same rounds, on the same indices, and print the two side by side")
	var compareEnv string
	flag.StringVar(&compareEnv, "compare-env", "", "comma-separated NAME=VALUE settings for the -compare process only (e.g. ESAUTH_ES_GZIP=true with -compare HEAD: one setting against the other in the same rounds)")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds the read rows are split into (more rounds, shorter each: less weight on one slow moment)")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "how long each target is driven, unmeasured, before the rows")
	flag.BoolVar(&o.writes, "writes", true, "also measure logins and signups (false: the read rows only, for quick A/B runs)")
	flag.Parse()
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-concurrency: %q is not a positive number", s)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if o.rounds < 1 {
		return o, errors.New("-rounds: at least 1")
	}
	if o.console < 0 || (o.console > 0 && (o.consoleSess < 2 || o.consoleReqs < 1 || o.consoleConc < 1)) {
		return o, errors.New("-console: 0 or more events, with -console-sessions at least 2 and -console-requests and -console-clients at least 1")
	}
	if o.users < 2 {
		return o, errors.New("-users: at least 2 (the logins go round the seeded users)")
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return o, err
	}
	o.root = root
	if compareEnv != "" {
		if o.compare == "" {
			return o, errors.New("-compare-env needs -compare")
		}
		for _, kv := range strings.Split(compareEnv, ",") {
			if !strings.Contains(kv, "=") {
				return o, fmt.Errorf("-compare-env: %q is not NAME=VALUE", kv)
			}
			o.compareEnv = append(o.compareEnv, strings.TrimSpace(kv))
		}
	}
	o.esURL = os.Getenv("ELASTICSEARCH_URL")
	if o.esURL == "" {
		o.esURL = "http://127.0.0.1:9200"
		cmd := exec.Command(filepath.Join(root, "scripts/elasticsearch.sh"), "start")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return o, fmt.Errorf("starting Elasticsearch: %w", err)
		}
	}
	o.esURL = strings.TrimRight(strings.Split(o.esURL, ",")[0], "/")
	return o, nil
}

// target is what one row drives: requests, the status they must get, and
// the process whose CPU and memory are measured (nil: none of ours).
type target struct {
	name   string
	want   int
	server *process
	tr     vegeta.Targeter
}

// row is one measured line of the table.
type row struct {
	name        string
	concurrency int
	m           *measure
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "esauth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	prefix := fmt.Sprintf("esauth-bench-%d-", os.Getpid())
	es := &esClient{url: o.esURL}
	defer es.deleteIndices(prefix)

	// esauth, built from the tree, on its own indices.
	bin := filepath.Join(work, "esauth")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Stdout, build.Stderr = o.root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building esauth: %w", err)
	}
	env := append(os.Environ(),
		"ELASTICSEARCH_URL="+o.esURL, "ESAUTH_INDEX_PREFIX="+prefix,
		"ESAUTH_COOKIE_SECURE=false", "ESAUTH_COOKIE_HASH_KEY="+randomKey(32), "ESAUTH_COOKIE_BLOCK_KEY="+randomKey(32),
		// The per-IP limits would turn a load test from one address into a
		// test of the limits. Everything else (lockout included) is as
		// shipped.
		"ESAUTH_LOGIN_RATE=0", "ESAUTH_LOGIN_BURST=0", "ESAUTH_SIGNUP_RATE=0", "ESAUTH_SIGNUP_BURST=0",
	)
	addr := freeAddr()
	srv, err := startProcess(bin, []string{"serve"}, append(env, "ESAUTH_ADDR="+addr), filepath.Join(work, "esauth.log"))
	if err != nil {
		return err
	}
	defer srv.stop()
	base := "http://" + addr
	// The revision to compare with serves the same indices with the same
	// cookie keys, so the same cookie is valid on both.
	var other *process
	var otherBase string
	if o.compare != "" {
		otherBin, err := buildRevision(o.root, o.compare, work)
		if err != nil {
			return err
		}
		otherAddr := freeAddr()
		otherEnv := append(append(env[:len(env):len(env)], "ESAUTH_ADDR="+otherAddr), o.compareEnv...)
		if other, err = startProcess(otherBin, []string{"serve"}, otherEnv, filepath.Join(work, "other.log")); err != nil {
			return err
		}
		defer other.stop()
		otherBase = "http://" + otherAddr
		if err := waitFor(otherBase + "/v1/openapi.json"); err != nil {
			return err
		}
	}
	if err := waitFor(base + "/v1/openapi.json"); err != nil {
		return err
	}

	// One real user through the API, logged in: the cookie and the
	// session id the loader's _mget reads.
	const email, pw = "ada@example.com", "a long load-test passphrase 1"
	cookie, sessionID, err := signUpAndLogIn(base, email, pw)
	if err != nil {
		return err
	}

	hash, err := es.userHash(prefix, email)
	if err != nil {
		return err
	}
	seedStart := time.Now()
	if err := es.bulkUsers(prefix, o.users-1, hash); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: seeded %d users in %v\n", o.users, time.Since(seedStart).Round(time.Millisecond))

	// The minimal Go service: this program again, as its own process.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	minAddr := freeAddr()
	mget := mgetBody(prefix, sessionID, email)
	minimal, err := startProcess(self, []string{"minimal", minAddr, o.esURL, base64.StdEncoding.EncodeToString(mget)},
		os.Environ(), filepath.Join(work, "minimal.log"))
	if err != nil {
		return err
	}
	defer minimal.stop()
	if err := waitFor("http://" + minAddr + "/"); err != nil {
		return err
	}

	hdr := http.Header{"Cookie": {cookie}}
	// The same account logged in as a native client: its session token.
	bearer, err := tokenLogIn(base, email, pw)
	if err != nil {
		return err
	}
	bearerHdr := http.Header{"Authorization": {"Bearer " + bearer}}
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	var signups, logins atomic.Int64
	reads := []target{
		{"Elasticsearch `_mget` (the store's floor)", 200, nil, staticTarget("POST", o.esURL+"/_mget", mget, jsonHdr)},
		{"minimal Go handler doing that `_mget`", 200, minimal, staticTarget("GET", "http://"+minAddr+"/", nil, nil)},
		{"esauth `GET /v1/test`, valid cookie", 200, srv, staticTarget("GET", base+"/v1/test", nil, hdr)},
		{"esauth `GET /v1/test`, bearer token", 200, srv, staticTarget("GET", base+"/v1/test", nil, bearerHdr)},
		{"esauth `GET /v1/test`, no cookie (401)", 401, srv, staticTarget("GET", base+"/v1/test", nil, nil)},
	}
	if other != nil {
		label := "esauth@" + o.compare
		if len(o.compareEnv) > 0 {
			label += " (" + strings.Join(o.compareEnv, ", ") + ")"
		}
		reads = append(reads, target{label + " `GET /v1/test`, valid cookie", 200, other, staticTarget("GET", otherBase+"/v1/test", nil, hdr)})
	}
	writes := []target{
		// Logins go round the seeded users, as many people logging in would:
		// one account hammered by 64 clients at once meets its own
		// failed-password record's races (429), and the session cap
		// would end the session the read rows use.
		{"esauth `POST /v1/auth/login`", 200, srv, func(t *vegeta.Target) error {
			n := logins.Add(1) % int64(o.users-1)
			t.Method, t.URL, t.Header = "POST", base+"/v1/auth/login", jsonHdr
			t.Body = []byte(fmt.Sprintf(`{"email_address":"user-%d@example.com","password":%q}`, n, pw))
			return nil
		}},
		{"esauth `POST /v1/users` (signup)", 201, srv, func(t *vegeta.Target) error {
			n := signups.Add(1)
			t.Method, t.URL, t.Header = "POST", base+"/v1/users", jsonHdr
			t.Body = []byte(fmt.Sprintf(`{"email_address":"signup-%d@example.com","password":%q,"first_name":"S","last_name":"U"}`, n, pw))
			return nil
		}},
	}
	// The read rows run in rounds, the targets taking turns within each
	// round, so a slow moment of the shared machine (Elasticsearch's GC,
	// say) falls on all of them alike rather than on one row.
	rounds := o.rounds
	var rows []row
	if err := warm(o, es, reads); err != nil {
		return err
	}
	for _, c := range o.concurrency {
		merged := make([]*measure, len(reads))
		for i := range merged {
			merged[i] = &measure{}
		}
		for range rounds {
			for i, t := range reads {
				if err := merged[i].attack(t.tr, c, o.duration/time.Duration(rounds), t.want, t.server, es); err != nil {
					return fmt.Errorf("%s at c=%d: %w", t.name, c, err)
				}
			}
		}
		for i, t := range reads {
			rows = append(rows, row{t.name, c, merged[i]})
		}
	}
	readRSS := srv.peakRSS()
	// One client alone shows what a login costs besides its argon2id work.
	if o.writes {
		if err := warm(o, es, writes); err != nil {
			return err
		}
	}
	for _, c := range append([]int{1}, o.concurrency...) {
		if !o.writes {
			break
		}
		for _, t := range writes {
			m := &measure{}
			if err := m.attack(t.tr, c, o.duration, t.want, t.server, es); err != nil {
				return fmt.Errorf("%s at c=%d: %w", t.name, c, err)
			}
			rows = append(rows, row{t.name, c, m})
		}
	}
	allRSS := srv.peakRSS()
	hashTime := timeHash(pw)

	find := func(prefix string, c int) *measure {
		for _, r := range rows {
			if strings.HasPrefix(r.name, prefix) && r.concurrency == c {
				return r.m
			}
		}
		return &measure{}
	}
	fmt.Printf("\n### esauth bench, %d users, %v per row, on %d CPUs\n\n", o.users, o.duration, numCPU())
	fmt.Println("| target | clients | req/s | p50 | p99 | CPU per request: server | Elasticsearch | load generator | server RSS |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	us := func(d time.Duration) string {
		if d <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	for _, r := range rows {
		rss := "—"
		if r.m.rss > 0 {
			rss = mib(r.m.rss)
		}
		fmt.Printf("| %s | %d | %.0f | %s | %s | %s | %s | %s | %s |\n", r.name, r.concurrency, r.m.perSecond(), ms(r.m.p(0.5)), ms(r.m.p(0.99)),
			us(r.m.cpuPerRequest()), us(r.m.per(r.m.esCPU)), us(r.m.per(r.m.loadCPU)), rss)
	}
	fmt.Println()
	fmt.Printf("argon2id (19 MiB, t=2, p=1) hash, one at a time in this process: %s\n", ms(hashTime))
	if o.writes {
		login1 := find("esauth `POST /v1/auth/login`", 1)
		fmt.Printf("login p50 with one client, less one hash timed in this process: %s (rough: both vary by several ms on a busy machine; "+
			"BenchmarkLoginWithoutHashing in make bench measures it exactly; target < 5 ms)\n", ms(login1.p(0.5)-hashTime))
	}
	fmt.Printf("esauth's high-water mark (VmHWM, counting the set-up's signup and login): %s after the reads; %s after the logins and signups too\n",
		mib(readRSS), mib(allRSS))
	fmt.Println()
	fmt.Println("| ratio | value | target |")
	fmt.Println("|---|---|---|")
	for _, c := range o.concurrency {
		e, m := find("esauth `GET /v1/test`, valid", c), find("minimal", c)
		fmt.Printf("| esauth/minimal req/s, c=%d | %.2f | ≥ 0.90 |\n", c, e.perSecond()/m.perSecond())
		fmt.Printf("| p99 esauth/minimal, c=%d | %.2f | ≤ 1.50 |\n", c, float64(e.p(0.99))/float64(m.p(0.99)))
		fmt.Printf("| CPU per request esauth/minimal, c=%d | %.2f | ≤ 1.15 |\n", c, float64(e.cpuPerRequest())/float64(m.cpuPerRequest()))
		b := find("esauth `GET /v1/test`, bearer", c)
		fmt.Printf("| bearer token/cookie req/s, c=%d | %.2f | |\n", c, b.perSecond()/e.perSecond())
		fmt.Printf("| esauth RSS serving c=%d (largest sample) | %s | < 64 MiB |\n", c, mib(e.rss))
		if other != nil {
			b := find("esauth@", c)
			fmt.Printf("| CPU per request esauth/esauth@%s, c=%d | %.2f | |\n", o.compare, c, float64(e.cpuPerRequest())/float64(b.cpuPerRequest()))
			fmt.Printf("| req/s esauth/esauth@%s, c=%d | %.2f | |\n", o.compare, c, e.perSecond()/b.perSecond())
		}
	}

	if o.scale > o.users {
		if err := measureScale(o, es, bin, env, work, pw, hash, reads[2]); err != nil {
			return err
		}
	}
	if o.console > 0 {
		return measureConsole(o, es, bin, env, work, pw, hash)
	}
	return nil
}

// warm drives each target, measured nowhere, for o.warmup: Elasticsearch's
// JIT compiles its hot paths in the first seconds of load, which would
// otherwise fall on the first rows.
func warm(o options, es *esClient, ts []target) error {
	for _, t := range ts {
		if err := (&measure{}).attack(t.tr, o.concurrency[0], o.warmup, t.want, t.server, es); err != nil {
			return fmt.Errorf("warming up %s: %w", t.name, err)
		}
	}
	return nil
}

// measureScale compares the protected route on the main indices (o.users
// users) with the same route of a second esauth on indices holding
// o.scale users. Both are measured in the same interleaved rounds, after
// Elasticsearch has finished merging the bulk-loaded segments, so neither
// side meets the other's background work alone.
func measureScale(o options, es *esClient, bin string, env []string, work, pw, hash string, small target) error {
	prefix := fmt.Sprintf("esauth-bench-%d-big-", os.Getpid())
	defer es.deleteIndices(prefix)
	addr := freeAddr()
	big, err := startProcess(bin, []string{"serve"}, append(env, "ESAUTH_ADDR="+addr, "ESAUTH_INDEX_PREFIX="+prefix), filepath.Join(work, "big.log"))
	if err != nil {
		return err
	}
	defer big.stop()
	base := "http://" + addr
	if err := waitFor(base + "/v1/openapi.json"); err != nil {
		return err
	}
	cookie, _, err := signUpAndLogIn(base, "ada@example.com", pw)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := es.bulkUsers(prefix, o.scale-1, hash); err != nil {
		return err
	}
	took := time.Since(start)
	if err := es.waitForMerges(); err != nil {
		return err
	}
	size, err := es.indexBytes(prefix + "users")
	if err != nil {
		return err
	}
	large := target{"esauth, " + strconv.Itoa(o.scale) + " users", http.StatusOK, big,
		staticTarget("GET", base+"/v1/test", nil, http.Header{"Cookie": {cookie}})}
	both := []target{small, large}
	c := o.concurrency[0]
	if err := warm(o, es, both); err != nil {
		return err
	}
	m := []*measure{{}, {}}
	for range o.rounds {
		for i, t := range both {
			if err := m[i].attack(t.tr, c, o.duration/time.Duration(o.rounds), t.want, t.server, es); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
		}
	}
	fmt.Printf("\n%d users loaded in %v (users index %.0f MiB); measured beside the %d-user indices in the same rounds, %d clients\n\n",
		o.scale, took.Round(time.Second), float64(size)/(1<<20), o.users, c)
	fmt.Println("| users | `GET /v1/test` req/s | p50 | p99 | server CPU per request |")
	fmt.Println("|---|---|---|---|---|")
	for i, n := range []int{o.users, o.scale} {
		fmt.Printf("| %d | %.0f | %s | %s | %.0f µs |\n", n, m[i].perSecond(), ms(m[i].p(0.5)), ms(m[i].p(0.99)),
			float64(m[i].cpuPerRequest())/float64(time.Microsecond))
	}
	fmt.Println()
	fmt.Println("| ratio | value | target |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| p50, %d users / %d users | %.2f | ≤ 1.10 |\n", o.scale, o.users, float64(m[1].p(0.5))/float64(m[0].p(0.5)))
	fmt.Printf("| p99, %d users / %d users | %.2f | |\n", o.scale, o.users, float64(m[1].p(0.99))/float64(m[0].p(0.99)))
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// signUpAndLogIn makes a user through esauth's API at base, logs in, and
// returns the session cookie ("session=...") and the session's id.
func signUpAndLogIn(base, email, pw string) (cookie, sessionID string, err error) {
	if err := postJSON(base+"/v1/users", map[string]string{
		"email_address": email, "password": pw, "first_name": "Bench", "last_name": "Mark",
	}, http.StatusCreated, nil); err != nil {
		return "", "", err
	}
	return logIn(base, email, pw)
}

// logIn logs email in through esauth's API at base and returns the
// session cookie ("session=...") and the session's id.
func logIn(base, email, pw string) (cookie, sessionID string, err error) {
	loginBody, _ := json.Marshal(map[string]string{"email_address": email, "password": pw})
	if err := postJSON(base+"/v1/auth/login", json.RawMessage(loginBody), http.StatusOK, func(res *http.Response) {
		for _, c := range res.Cookies() {
			if c.Name == "session" {
				cookie = c.Name + "=" + c.Value
			}
		}
	}); err != nil {
		return "", "", err
	}
	sessionID, err = sessionIDOf(base+"/v1/test", cookie)
	return cookie, sessionID, err
}

// tokenLogIn logs email in as a native client ("token": true) and
// returns its session token.
func tokenLogIn(base, email, pw string) (string, error) {
	var tok struct {
		Data struct {
			Token string `json:"session_token"`
		} `json:"data"`
	}
	err := postJSON(base+"/v1/auth/login", map[string]any{"email_address": email, "password": pw, "token": true}, http.StatusOK, func(res *http.Response) {
		_ = json.NewDecoder(res.Body).Decode(&tok)
	})
	if err == nil && tok.Data.Token == "" {
		err = fmt.Errorf("the token login answered no session_token")
	}
	return tok.Data.Token, err
}

// buildRevision builds esauth as it was at rev (git archive into dir) and
// returns the binary's path.
func buildRevision(root, rev, dir string) (string, error) {
	src := filepath.Join(dir, "rev-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, rev, src)
	archive.Stderr = os.Stderr
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("extracting %s: %w", rev, err)
	}
	bin := filepath.Join(dir, "esauth-rev")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Stdout, build.Stderr = src, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", rev, err)
	}
	return bin, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// measure gathers one row's results over one or more attacks. vegeta's
// Metrics gives the latency quantiles; the rate is the answers over the
// time spent attacking (vegeta's Throughput counts only 2xx, and would
// span the gaps between rounds).
type measure struct {
	m        vegeta.Metrics
	requests uint64
	busy     time.Duration
	// cpu is the CPU time the serving process spent during the attacks
	// (when known): per request, a measure of the work done that the
	// machine's other load barely moves, unlike req/s. esCPU is
	// Elasticsearch's and loadCPU the load generator's (this process), so
	// that a gap between two rows can be placed: the server, the store or
	// the client.
	cpu, esCPU, loadCPU time.Duration
	// rss is the largest resident set of the serving process sampled
	// while the row ran (every 50 ms). The process's high-water mark
	// (VmHWM) would also count what came before the row, such as the
	// argon2id memory of the set-up's logins that the Go runtime has not
	// yet handed back.
	rss int64
}

// attack drives tr with c clients, each sending its next request as soon as
// the last answered, for d. At least 99 % of the answers must have status
// want.
func (ms *measure) attack(tr vegeta.Targeter, c int, d time.Duration, want int, server *process, es *esClient) error {
	cpu0, es0, load0 := server.cpuTime(), es.cpuTime(), selfCPU()
	stopRSS := make(chan struct{})
	rssDone := make(chan int64)
	go func() {
		peak := server.rss()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				peak = max(peak, server.rss())
			case <-stopRSS:
				rssDone <- max(peak, server.rss())
				return
			}
		}
	}()
	// The attacker's own transport, so that its connections can be closed
	// when the row ends: left open, every row's clients stayed connected
	// to the server as idle keep-alive connections (a goroutine and
	// buffers each), and the servers' RSS and garbage-collection work grew
	// with every round.
	conns := &http.Transport{DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext}
	defer conns.CloseIdleConnections()
	a := vegeta.NewAttacker(vegeta.Client(&http.Client{Transport: conns}),
		vegeta.Workers(uint64(c)), vegeta.MaxWorkers(uint64(c)),
		vegeta.Connections(c), vegeta.KeepAlive(true), vegeta.MaxBody(0), vegeta.Timeout(10*time.Second))
	var round vegeta.Metrics
	var firstErr string
	for res := range a.Attack(tr, vegeta.ConstantPacer{Freq: 0}, d, "bench") {
		round.Add(res)
		ms.m.Add(res)
		if res.Error != "" && firstErr == "" {
			firstErr = res.Error
		}
	}
	round.Close()
	close(stopRSS)
	ms.rss = max(ms.rss, <-rssDone)
	if round.Requests == 0 {
		return errors.New("no request was made")
	}
	if got := round.StatusCodes[strconv.Itoa(want)]; float64(got) < 0.99*float64(round.Requests) {
		return fmt.Errorf("only %d of %d answers were %d (first error %q, codes %v)", got, round.Requests, want, firstErr, round.StatusCodes)
	}
	ms.requests += round.Requests
	ms.busy += round.Duration + round.Wait
	ms.cpu += server.cpuTime() - cpu0
	ms.esCPU += es.cpuTime() - es0
	ms.loadCPU += selfCPU() - load0
	return nil
}

// cpuPerRequest is the serving process's CPU time per request (0 when
// unknown).
func (ms *measure) cpuPerRequest() time.Duration { return ms.per(ms.cpu) }

// per is d per request (0 when no request was made).
func (ms *measure) per(d time.Duration) time.Duration {
	if ms.requests == 0 {
		return 0
	}
	return d / time.Duration(ms.requests)
}

func (ms *measure) perSecond() float64 { return float64(ms.requests) / ms.busy.Seconds() }

func (ms *measure) p(q float64) time.Duration {
	ms.m.Close()
	return ms.m.Latencies.Quantile(q)
}

func staticTarget(method, url string, body []byte, h http.Header) vegeta.Targeter {
	return func(t *vegeta.Target) error {
		t.Method, t.URL, t.Body, t.Header = method, url, body, h
		return nil
	}
}

// timeHash is how long one argon2id hash with the production parameters
// takes here, the floor under every login and signup.
func timeHash(pw string) time.Duration {
	h := password.New(password.OWASP, 1)
	const n = 10
	start := time.Now()
	for range n {
		if _, err := h.Hash(context.Background(), pw); err != nil {
			return 0
		}
	}
	return time.Since(start) / n
}

// mgetBody is the loader's _mget: the session by id, the user by email.
func mgetBody(prefix, sessionID, email string) []byte {
	b, _ := json.Marshal(map[string]any{"docs": []map[string]string{
		{"_index": prefix + "sessions", "_id": sessionID},
		{"_index": prefix + "users", "_id": email},
	}})
	return b
}

// serveMinimal is the floor for any Go service that reads the index on each
// request: one pooled keep-alive client, the same _mget, nothing else.
func serveMinimal(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: bench minimal ADDR ES_URL BASE64_MGET_BODY")
	}
	body, err := base64.StdEncoding.DecodeString(args[2])
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
	url := args[1] + "/_mget"
	return http.ListenAndServe(args[0], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer res.Body.Close()
		var a struct {
			Docs []struct {
				Found bool `json:"found"`
			} `json:"docs"`
		}
		if err := json.NewDecoder(res.Body).Decode(&a); err != nil || len(a.Docs) != 2 || !a.Docs[0].Found || !a.Docs[1].Found {
			http.Error(w, "not found", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"success":true}`)
	}))
}

// process is a child process whose peak memory can be read.
type process struct{ cmd *exec.Cmd }

func startProcess(bin string, args, env []string, logPath string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &process{cmd: cmd}, nil
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// cpuTime is the user and system CPU time the process has used (Linux;
// 0 for no process).
func (p *process) cpuTime() time.Duration {
	if p == nil {
		return 0
	}
	return procCPU(p.cmd.Process.Pid)
}

// procCPU is the user and system CPU time process pid has used (Linux).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after it do not.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// selfCPU is the user and system CPU time this process (the load
// generator) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux platform Go supports.
const clockTicks = 100

// peakRSS is the process's VmHWM (Linux), in bytes: the largest it has
// ever been resident.
func (p *process) peakRSS() int64 { return p.status("VmHWM:") }

// rss is the process's resident set now (VmRSS, Linux), in bytes; 0 for
// no process.
func (p *process) rss() int64 {
	if p == nil {
		return 0
	}
	return p.status("VmRSS:")
}

// status reads a size in kB from /proc/<pid>/status, in bytes.
func (p *process) status(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomKey(n int) string { return base64.StdEncoding.EncodeToString(session.RandomKeys().Hash[:n]) }

func waitFor(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within 30s", url)
}

func postJSON(url string, body any, want int, onOK func(*http.Response)) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		msg, _ := io.ReadAll(res.Body)
		return fmt.Errorf("POST %s: %d %s", url, res.StatusCode, msg)
	}
	if onOK != nil {
		onOK(res)
	}
	return nil
}

// sessionIDOf reads the session id that GET /v1/test shows for cookie.
func sessionIDOf(url, cookie string) (string, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Cookie", cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var env struct {
		Data struct {
			Session struct {
				ID string `json:"id"`
			} `json:"session"`
		} `json:"data"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&env) != nil || env.Data.Session.ID == "" {
		return "", fmt.Errorf("GET %s: %d, no session id", url, res.StatusCode)
	}
	return env.Data.Session.ID, nil
}
