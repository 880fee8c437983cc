package v1

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/limit"
	"esauth/lib/password"
)

// BenchmarkUserLoader measures what knowing the user costs: each iteration
// makes one anonymous GET /v1/test (401, no Elasticsearch call: the
// baseline) and one with a valid cookie (the loader's single _mget). Both
// run in the same iteration, against the same server and cluster, so the
// reported ratio "authed/anon" does not depend on the machine's speed.
//
//	go test -run '^$' -bench UserLoader ./v1
func BenchmarkUserLoader(b *testing.B) {
	h := newHarness(b)
	h.addUser("bench@example.com", pw, false)
	c := h.client()
	a := c.login("bench@example.com", pw)
	if a.Status != http.StatusOK {
		b.Fatalf("login: %d", a.Status)
	}
	anon := &http.Client{}
	authed := c.c
	var anonTotal, authedTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		anonTotal += timedGet(b, anon, h.srv.URL+"/v1/test")
		authedTotal += timedGet(b, authed, h.srv.URL+"/v1/test")
	}
	b.StopTimer()
	b.ReportMetric(float64(anonTotal.Microseconds())/float64(b.N), "anon-µs/req")
	b.ReportMetric(float64(authedTotal.Microseconds())/float64(b.N), "authed-µs/req")
	b.ReportMetric(float64(authedTotal)/float64(anonTotal), "authed/anon")
}

// timedGet times one GET of url with cl, reading the whole answer.
func timedGet(b *testing.B, cl *http.Client, url string) time.Duration {
	start := time.Now()
	res, err := cl.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return time.Since(start)
}

// BenchmarkLoginWithoutHashing measures what a login costs besides its
// argon2id work: the harness hashes with tiny parameters (64 KiB, t=1), so
// what is left is the handler and its calls to Elasticsearch (read the
// user and the failed-password record, count the attempt, clear it, store
// the session, trim to the cap). Each iteration makes one anonymous
// GET /v1/test (the baseline), one password check with the same
// parameters (timed alone, then subtracted) and one login of one of 20
// users in turn, and reports the medians and login/anon.
//
//	go test -run '^$' -bench LoginWithoutHashing ./v1
func BenchmarkLoginWithoutHashing(b *testing.B) {
	h := newHarness(b)
	const users = 20
	for i := range users {
		h.addUser(fmt.Sprintf("login-%d@example.com", i), pw, false)
	}
	hash, err := h.hasher.Hash(b.Context(), pw)
	if err != nil {
		b.Fatal(err)
	}
	anon := &http.Client{}
	var anonT, loginT, hashT []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		anonT = append(anonT, ms(timedGet(b, anon, h.srv.URL+"/v1/test")))

		start := time.Now()
		if ok, err := h.hasher.Verify(b.Context(), pw, hash); !ok || err != nil {
			b.Fatalf("verify: %v %v", ok, err)
		}
		hashT = append(hashT, ms(time.Since(start)))

		c := h.client()
		start = time.Now()
		a := c.login(fmt.Sprintf("login-%d@example.com", i%users), pw)
		loginT = append(loginT, ms(time.Since(start)))
		if a.Status != http.StatusOK {
			b.Fatalf("login: %d %s", a.Status, a.Raw)
		}
	}
	b.StopTimer()
	ma, ml, mh := median(anonT), median(loginT), median(hashT)
	b.ReportMetric(ma, "anon-median-ms")
	b.ReportMetric(ml, "login-median-ms")
	b.ReportMetric(ml-mh, "login-less-hash-median-ms")
	b.ReportMetric(ml/ma, "login/anon")
}

// BenchmarkEnumerationTiming compares the time of a wrong-password login
// for a real account with one for an unknown email, both fresh, with the
// production argon2id parameters, alternating which goes first. It reports
// both medians, their ratio, and the Mann–Whitney z statistic of the two
// samples: |z| < 1.96 means the two cannot be told apart at the 5 % level.
// It is a benchmark, not a test: timing belongs here, and it needs a few
// hundred samples (make bench-timing runs 220).
//
//	go test -run '^$' -bench EnumerationTiming -benchtime 220x ./v1
func BenchmarkEnumerationTiming(b *testing.B) {
	for _, threshold := range []int{5, 0} {
		b.Run(fmt.Sprintf("lockout=%d", threshold), func(b *testing.B) {
			h := newHarness(b, withLockout(threshold), func(d *Deps) { d.Hasher = password.New(password.OWASP, 0) })
			known, unknown := realVersusUnknown(b, h, "/v1/auth/login", `{"email_address":%q,"password":"not the password"}`, http.StatusUnauthorized)
			b.StopTimer()
			mk, mu := median(known), median(unknown)
			b.ReportMetric(mk, "real-median-ms")
			b.ReportMetric(mu, "unknown-median-ms")
			b.ReportMetric(mk/mu, "real/unknown")
			b.ReportMetric(mannWhitneyZ(known, unknown), "mann-whitney-z")
		})
	}
}

// realVersusUnknown makes b.N fresh accounts, then times b.N posts of
// body (a format with one %q, the email) to path for them and b.N for
// fresh unknown emails, alternating which goes first, each answered with
// status; the timer runs only over the posts. It returns the two samples
// in milliseconds.
func realVersusUnknown(b *testing.B, h *harness, path, body string, status int) (known, unknown []float64) {
	real := make([]string, b.N)
	for i := range real {
		real[i] = fmt.Sprintf("real-%d@example.com", i)
		h.addUser(real[i], pw, false)
	}
	post := func(email string) float64 {
		start := time.Now()
		res, err := http.Post(h.srv.URL+path, "application/json", strings.NewReader(fmt.Sprintf(body, email)))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != status {
			b.Fatalf("%s for %s: %d, want %d", path, email, res.StatusCode, status)
		}
		return ms(time.Since(start))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ghost := fmt.Sprintf("ghost-%d@example.com", i)
		if i%2 == 0 {
			known = append(known, post(real[i]))
			unknown = append(unknown, post(ghost))
		} else {
			unknown = append(unknown, post(ghost))
			known = append(known, post(real[i]))
		}
	}
	return known, unknown
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// mannWhitneyZ is the normal approximation of the Mann–Whitney U test of
// two samples (ties get their average rank): z near 0 when neither sample
// tends to be larger than the other.
func mannWhitneyZ(a, b []float64) float64 {
	type obs struct {
		v     float64
		fromA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(x, y obs) int { return cmp.Compare(x.v, y.v) })
	rankSumA := 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // average of ranks i+1 … j
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankSumA += rank
			}
		}
		i = j
	}
	n1, n2 := float64(len(a)), float64(len(b))
	u := rankSumA - n1*(n1+1)/2
	return (u - n1*n2/2) / math.Sqrt(n1*n2*(n1+n2+1)/12)
}

// BenchmarkRecoveryTiming compares the answer time of a recovery request
// for a real account with one for an unknown email (a fresh address each,
// so the per-address limit never drops one), alternating which goes
// first, with mail on, so a real account's lookup, token and mail really
// happen. They happen after the answer (RequestRecovery), so the two
// samples must not be told apart: it fails when the Mann–Whitney test
// says they differ at p < 0.01 (|z| ≥ 2.576). make bench-timing runs 220
// of each.
//
//	go test -run '^$' -bench RecoveryTiming -benchtime 220x ./v1
func BenchmarkRecoveryTiming(b *testing.B) {
	opt, _ := withMail(b)
	h := newHarness(b, opt)
	known, unknown := realVersusUnknown(b, h, "/v1/auth/recovery", `{"email_address":%q}`, http.StatusAccepted)
	b.StopTimer()
	z := mannWhitneyZ(known, unknown)
	b.ReportMetric(median(known), "real-median-ms")
	b.ReportMetric(median(unknown), "unknown-median-ms")
	b.ReportMetric(z, "mann-whitney-z")
	if b.N >= 200 && math.Abs(z) >= 2.576 {
		b.Errorf("recovery requests for real and unknown emails differ in time: Mann-Whitney z = %.2f (p < 0.01) over %d each", z, b.N)
	}
}

// BenchmarkSharedLimitsLogin measures what sharing the per-IP limits adds
// to a login: two servers on one store, one with the limits off (the
// baseline), one with them on (a rate no login reaches) and shared
// through a Board syncing every 100 ms (ten times as often as
// ESAUTH_LIMITS_SYNC's default, so its background cost shows), logins
// alternating between them. It reports both medians and shared/off.
//
//	go test -run '^$' -bench SharedLimitsLogin ./v1
func BenchmarkSharedLimitsLogin(b *testing.B) {
	store := estest.New(b)
	board := limit.NewBoard(store, "bench")
	off := newHarnessOn(b, store)
	shared := newHarnessOn(b, store, func(d *Deps) {
		d.Limits = board
		d.LoginLimit = RateLimit{PerMinute: 1e9, Burst: 1e9}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go board.Run(ctx, 100*time.Millisecond, time.Now, func(err error) {
		if err != nil {
			b.Error(err)
		}
	})
	const users = 20
	for i := range users {
		off.addUser(fmt.Sprintf("login-%d@example.com", i), pw, false)
	}
	login := func(h *harness, email string) float64 {
		c := h.client()
		start := time.Now()
		a := c.login(email, pw)
		d := ms(time.Since(start))
		if a.Status != http.StatusOK {
			b.Fatalf("login: %d %s", a.Status, a.Raw)
		}
		return d
	}
	var offT, sharedT []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		email := fmt.Sprintf("login-%d@example.com", i%users)
		if i%2 == 0 {
			offT = append(offT, login(off, email))
			sharedT = append(sharedT, login(shared, email))
		} else {
			sharedT = append(sharedT, login(shared, email))
			offT = append(offT, login(off, email))
		}
	}
	b.StopTimer()
	mo, msh := median(offT), median(sharedT)
	b.ReportMetric(mo, "off-median-ms")
	b.ReportMetric(msh, "shared-median-ms")
	b.ReportMetric(msh/mo, "shared/off")
}
