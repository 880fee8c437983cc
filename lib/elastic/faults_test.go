package elastic_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/elastic"
	"esauth/lib/errs"
)

// fakeES imitates Elasticsearch for fault injection only: it accepts the
// index set-up (templates and index creation) and hands every other
// request to fault (the mapping check finds no index, so the set-up
// creates each). It never stands in for storage. creates counts the
// index creations, that is, how often the store set its indices up.
type fakeES struct {
	srv     *httptest.Server
	creates atomic.Int32
}

func newFakeES(t *testing.T, fault http.HandlerFunc) *fakeES {
	t.Helper()
	f := &fakeES{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/"):
			_, _ = io.WriteString(w, `{"acknowledged":true}`)
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/_mapping"):
			_, _ = io.WriteString(w, `{}`) // nothing exists yet: the set-up creates
		case r.Method == http.MethodPut && strings.Count(r.URL.Path, "/") == 1:
			f.creates.Add(1)
			_, _ = io.WriteString(w, `{"acknowledged":true,"shards_acknowledged":true}`)
		default:
			fault(w, r)
		}
	}))
	t.Cleanup(func() { f.srv.CloseClientConnections(); f.srv.Close() })
	return f
}

func (f *fakeES) store(t *testing.T, timeout time.Duration) *elastic.Store {
	t.Helper()
	s, err := elastic.New(elastic.Config{Addresses: []string{f.srv.URL}, IndexPrefix: "x-", Timeout: timeout}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// answer writes one Elasticsearch answer.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// bulkAnswer is a 200 _bulk answer whose one create item has status and error.
func bulkAnswer(status int, errorJSON string) http.HandlerFunc {
	item := `{"create":{"_index":"x-audit","_id":"e1","status":` + strconv.Itoa(status)
	if errorJSON != "" {
		item += `,"error":` + errorJSON
	}
	item += `}}`
	return answer(http.StatusOK, `{"took":1,"errors":`+strconv.FormatBool(errorJSON != "")+`,"items":[`+item+`]}`)
}

func oneEvent() []audit.Event {
	return []audit.Event{{ID: "e1", Event: "login", Email: "a@example.com", At: time.Now().UTC(), Outcome: "success"}}
}

// Every failure that is the cluster's state or esauth's access, not a bug
// in esauth's request, is errs.Unavailable with its cause named for the
// log; the client message stays generic.
func TestClusterFailuresAreUnavailableWithTheirCauseNamed(t *testing.T) {
	tests := []struct {
		name      string
		fault     http.HandlerFunc
		call      func(context.Context, *elastic.Store) error
		wantCode  errs.Code
		wantCause string
	}{
		{
			"refused credentials (401) say so",
			answer(http.StatusUnauthorized, `{"error":{"type":"security_exception","reason":"unable to authenticate user [esauth] for REST request [/x-users/_doc/a@example.com]"},"status":401}`),
			func(ctx context.Context, s *elastic.Store) error {
				_, err := s.GetUser(ctx, "a@example.com")
				return err
			},
			errs.Unavailable, "Elasticsearch refused esauth's credentials",
		},
		{
			"missing index privileges (403) name the index",
			answer(http.StatusForbidden, `{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk[s]] is unauthorized for user [esauth] with effective roles [reader] on indices [x-audit], this action is granted by the index privileges [create_doc,create,index,write,all]"},"status":403}`),
			func(ctx context.Context, s *elastic.Store) error { return s.WriteEvents(ctx, oneEvent()) },
			errs.Unavailable, "lacks privileges on x-audit",
		},
		{
			"a missing index on search (404) is unavailable",
			answer(http.StatusNotFound, `{"error":{"type":"index_not_found_exception","reason":"no such index [x-audit]","index":"x-audit"},"status":404}`),
			func(ctx context.Context, s *elastic.Store) error {
				_, _, err := s.ListEvents(ctx, "a@example.com", time.Time{}, nil, 10)
				return err
			},
			errs.Unavailable, "index does not exist: x-audit",
		},
		{
			"a closed index (400) is unavailable",
			answer(http.StatusBadRequest, `{"error":{"type":"index_closed_exception","reason":"closed","index":"x-users"},"status":400}`),
			func(ctx context.Context, s *elastic.Store) error {
				_, err := s.GetUser(ctx, "a@example.com")
				return err
			},
			errs.Unavailable, "index x-users is closed",
		},
		{
			"a bulk item rejected with 429 is unavailable",
			bulkAnswer(http.StatusTooManyRequests, `{"type":"es_rejected_execution_exception","reason":"rejected execution"}`),
			func(ctx context.Context, s *elastic.Store) error { return s.WriteEvents(ctx, oneEvent()) },
			errs.Unavailable, "429",
		},
		{
			"a bulk item refused by a write block is unavailable",
			bulkAnswer(http.StatusForbidden, `{"type":"cluster_block_exception","reason":"index [x-audit] blocked by: [FORBIDDEN/8/index write (api)];"}`),
			func(ctx context.Context, s *elastic.Store) error { return s.WriteEvents(ctx, oneEvent()) },
			errs.Unavailable, "blocked",
		},
		{
			"a bulk item that failed on a node (503) is unavailable",
			bulkAnswer(http.StatusServiceUnavailable, `{"type":"unavailable_shards_exception","reason":"primary shard is not active"}`),
			func(ctx context.Context, s *elastic.Store) error { return s.WriteEvents(ctx, oneEvent()) },
			errs.Unavailable, "503",
		},
		{
			"a bulk item answered 409 is this event's own earlier write, so success",
			bulkAnswer(http.StatusConflict, `{"type":"version_conflict_engine_exception","reason":"[e1]: version conflict, document already exists"}`),
			func(ctx context.Context, s *elastic.Store) error { return s.WriteEvents(ctx, oneEvent()) },
			"", "",
		},
		{
			"a document the mapping refuses stays a bug",
			bulkAnswer(http.StatusBadRequest, `{"type":"strict_dynamic_mapping_exception","reason":"mapping set to strict, dynamic introduction of [x] within [_doc] is not allowed"}`),
			func(ctx context.Context, s *elastic.Store) error { return s.WriteEvents(ctx, oneEvent()) },
			errs.Internal, "strict_dynamic_mapping_exception",
		},
		{
			"a request Elasticsearch cannot parse stays a bug",
			answer(http.StatusBadRequest, `{"error":{"type":"parsing_exception","reason":"unknown query [nope]"},"status":400}`),
			func(ctx context.Context, s *elastic.Store) error {
				_, err := s.GetUser(ctx, "a@example.com")
				return err
			},
			errs.Internal, "parsing_exception",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeES(t, tt.fault).store(t, 2*time.Second)
			err := tt.call(context.Background(), s)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if !errs.Is(err, tt.wantCode) {
				t.Fatalf("err = %v, want %s", err, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantCause) {
				t.Errorf("cause %q does not say %q", err, tt.wantCause)
			}
			var e *errs.Error
			if errors.As(err, &e) && strings.Contains(e.Message, tt.wantCause) {
				t.Errorf("the client message carries the cause: %q", e.Message)
			}
		})
	}
}

func TestMissingTemplatePrivilegesNameTheCluster(t *testing.T) {
	f := newFakeES(t, answer(http.StatusOK, `{}`))
	blocked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_index_template/") {
			answer(http.StatusForbidden, `{"error":{"type":"security_exception","reason":"action [indices:admin/index_template/put] is unauthorized for user [esauth] with effective roles [writer], this action is granted by the cluster privileges [manage_index_templates,manage,all]"},"status":403}`)(w, r)
			return
		}
		f.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(blocked.Close)
	s, err := elastic.New(elastic.Config{Addresses: []string{blocked.URL}, IndexPrefix: "x-", Timeout: time.Second}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	err = s.EnsureIndices(context.Background())
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "lacks privileges on the cluster") ||
		!strings.Contains(err.Error(), "manage_index_templates") {
		t.Fatalf("err = %v, want unavailable naming the cluster privilege", err)
	}
}

// A missing index found by a request makes the store set its indices up
// again on the next call, instead of failing until a restart.
func TestAMissingIndexMakesTheNextCallSetUpAgain(t *testing.T) {
	f := newFakeES(t, answer(http.StatusNotFound, `{"error":{"type":"index_not_found_exception","reason":"no such index [x-audit]","index":"x-audit"},"status":404}`))
	s := f.store(t, time.Second)
	for i := 0; i < 2; i++ {
		if _, _, err := s.ListEvents(context.Background(), "a@example.com", time.Time{}, nil, 10); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("call %d: err = %v, want unavailable", i, err)
		}
	}
	if got, want := f.creates.Load(), int32(2*len(s.IndexNames())); got != want {
		t.Errorf("indices created %d times, want %d (every index, set up twice)", got, want)
	}
}

// One request whose set-up hangs must not hold another past its own
// deadline: each waits for the shared set-up only as long as its context
// allows.
func TestAHangingSetUpHoldsNoRequestPastItsContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.CloseClientConnections(); srv.Close() })
	s, err := elastic.New(elastic.Config{Addresses: []string{srv.URL}, IndexPrefix: "x-", Timeout: 5 * time.Second}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// The first request starts the set-up and is patient.
	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		first <- s.Ping(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.GetUser(ctx, "a@example.com")
	if took := time.Since(start); took > time.Second {
		t.Errorf("the second request waited %v for the first one's set-up; its context allowed 200ms", took)
	}
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("err = %v, want unavailable", err)
	}
	select {
	case err := <-first:
		t.Errorf("the patient request returned early: %v", err)
	default:
	}
}

func TestRedactKeepsOnlySchemeHostAndPort(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a user and password are dropped", "https://esauth:s3cret@es1.internal:9200", "https://es1.internal:9200"},
		{"a path and query are dropped", "http://127.0.0.1:9200/prefix?api_key=abc", "http://127.0.0.1:9200"},
		{"a plain URL stays as it is", "http://localhost:9200", "http://localhost:9200"},
		{"a URL without a port keeps none", "https://user:pw@es.example.com", "https://es.example.com"},
		{"an unparseable URL is not echoed", "http://user:pa%zz@host:9200", "(unparseable URL)"},
		{"a bare word is not echoed", "s3cret", "(unparseable URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := elastic.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// A call made with a distant deadline (a request's) is still bounded by the
// store's timeout when Elasticsearch never begins to answer: the transport
// gives up waiting for the answer, since the store arms no timer of its own
// for calls that already have a deadline.
func TestAnAnswerThatNeverBeginsIsBoundedByTheStoreTimeout(t *testing.T) {
	release := make(chan struct{})
	f := newFakeES(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	s := f.store(t, 300*time.Millisecond)
	if err := s.EnsureIndices(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Load(ctx, strings.Repeat("a", 64), "a@example.com")
		done <- err
	}()
	select {
	case err := <-done:
		if !errs.Is(err, errs.Unavailable) {
			t.Errorf("err = %v, want unavailable", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Load still waiting for an answer that never began, 20s into a call whose store timeout is 300ms")
	}
}
