package elastic_test

import (
	"context"
	"encoding/json"
	"esauth/lib/errs"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/page"
	"esauth/lib/user"
)

func TestSearchUsersByEmailOrNameNewestFirst(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour)
	people := []struct{ email, first, last string }{
		{"ada.lovelace@example.com", "Ada", "Lovelace"},
		{"grace@navy.example", "Grace", "Hopper"},
		{"alan@example.org", "Alan", "Turing"},
		{"adam*smith@example.com", "Adam", "Smith"},
		{"b@example.com", "Barbara", "Liskov"},
	}
	for i, p := range people {
		u := newUser(p.email)
		u.FirstName, u.LastName = p.first, p.last
		u.CreatedAt = base.Add(time.Duration(i) * time.Minute) // later in the list: newer
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	estest.MustDo(t, "POST", "/"+s.UsersIndex()+"/_refresh", "")
	emails := func(us []user.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Email)
			if u.PasswordHash != "" {
				t.Errorf("a search returned %s's password hash", u.Email)
			}
		}
		return out
	}
	tests := []struct {
		q    string
		want []string
	}{
		{"", []string{"b@example.com", "adam*smith@example.com", "alan@example.org", "grace@navy.example", "ada.lovelace@example.com"}},
		{"navy", []string{"grace@navy.example"}},
		{"EXAMPLE.COM", []string{"b@example.com", "adam*smith@example.com", "ada.lovelace@example.com"}},
		{"hop", []string{"grace@navy.example"}},                                 // the beginning of a last name
		{"ada", []string{"adam*smith@example.com", "ada.lovelace@example.com"}}, // names and emails that start with it
		{"*", []string{"adam*smith@example.com"}},                               // a literal star, not a wildcard
		{"tur", []string{"alan@example.org"}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		got, next, err := s.SearchUsers(ctx, tt.q, nil, 10)
		if err != nil {
			t.Fatalf("q=%q: %v", tt.q, err)
		}
		if g := emails(got); !slices.Equal(g, tt.want) || next != nil {
			t.Errorf("q=%q: %v (next %v); want %v", tt.q, g, next, tt.want)
		}
	}
	// Pages of two cover everyone once, in order.
	var all []string
	var after *page.Cursor
	for range 5 {
		got, next, err := s.SearchUsers(ctx, "", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, emails(got)...)
		if next == nil {
			break
		}
		after = next
	}
	if !slices.Equal(all, tests[0].want) {
		t.Errorf("paged: %v; want %v", all, tests[0].want)
	}
}

// A user search that Elasticsearch cut short (its timeout: matching the
// email anywhere walks every email in the index) is not shown as if it
// were the whole answer, and every search carries that timeout.
func TestAUserSearchCutShortIsNotShownAsTheWholeAnswer(t *testing.T) {
	var sent atomic.Value
	f := newFakeES(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/_search") {
			answer(http.StatusOK, `{}`)(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		sent.Store(string(b))
		answer(http.StatusOK, `{"took":1001,"timed_out":true,"hits":{"total":{"value":1,"relation":"eq"},
			"hits":[{"_id":"a@example.com","_source":{"email_address":"a@example.com","created_at":"2026-01-01T00:00:00Z"}}]}}`)(w, r)
	})
	users, _, err := f.store(t, time.Second).SearchUsers(context.Background(), "ample", nil, 25)
	if !errs.Is(err, errs.Invalid) || users != nil {
		t.Fatalf("a search cut short gave %v, %v; want an invalid-q error and no users", users, err)
	}
	body, _ := sent.Load().(string)
	var q struct {
		Timeout string `json:"timeout"`
	}
	if json.Unmarshal([]byte(body), &q) != nil || q.Timeout == "" {
		t.Errorf("the search sent no timeout: %s", body)
	}
}

// BenchmarkUserSearchOverManyUsers measures what the admin's user search
// costs when it matches the email anywhere (*q*, the whole term
// dictionary walked) over ESAUTH_BENCH_SEARCH_USERS users (1,000,000 by
// default), against the exact lookup of one user in the same run, each
// search with a q never asked before (no cache helps). It reports both
// medians, their ratio and how many searches Elasticsearch cut short
// (userSearchTimeout). make bench runs it.
func BenchmarkUserSearchOverManyUsers(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("ESAUTH_BENCH_SEARCH_USERS")); err == nil && v > 0 {
		n = v
	}
	s := estest.New(b)
	var body strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&body, `{"create":{"_index":%q,"_id":"user-%d@example.com"}}`+"\n", s.UsersIndex(), i)
		fmt.Fprintf(&body, `{"email_address":"user-%d@example.com","first_name":"Seed","last_name":"User","role":"user","is_active":true,"created_at":"2026-01-01T00:00:00Z","session_epoch":"e"}`+"\n", i)
		if (i+1)%10_000 == 0 || i == n-1 {
			if out := estest.MustDo(b, "POST", "/_bulk", body.String()); strings.Contains(out[:min(len(out), 64)], `"errors":true`) {
				b.Fatalf("seeding: %.300s", out)
			}
			body.Reset()
		}
	}
	estest.MustDo(b, "POST", "/"+s.UsersIndex()+"/_refresh", "")
	estest.MustDo(b, "POST", "/"+s.UsersIndex()+"/_forcemerge?max_num_segments=1", "")
	ctx := context.Background()
	b.Run("substring-vs-get", func(b *testing.B) {
		var search, get []float64
		cut := 0
		for i := 0; i < b.N; i++ {
			start := time.Now()
			_, _, err := s.SearchUsers(ctx, fmt.Sprintf("ser-%d", (i*7919+13)%n), nil, 25)
			search = append(search, float64(time.Since(start))/float64(time.Millisecond))
			if errs.Is(err, errs.Invalid) {
				cut++
			} else if err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			if _, err := s.GetUser(ctx, fmt.Sprintf("user-%d@example.com", (i*104729+7)%n)); err != nil {
				b.Fatal(err)
			}
			get = append(get, float64(time.Since(start))/float64(time.Millisecond))
		}
		ms, mg := medianOf(search), medianOf(get)
		b.ReportMetric(ms, "search-median-ms")
		b.ReportMetric(mg, "get-median-ms")
		b.ReportMetric(ms/mg, "search/get")
		b.ReportMetric(float64(cut), "cut-short")
	})
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
