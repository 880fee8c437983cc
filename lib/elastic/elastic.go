// Package elastic stores esauth's users and sessions in Elasticsearch. It is
// the only package that knows the Elasticsearch client: it translates
// Elasticsearch answers into domain values and errs codes at its edge, so no
// Elasticsearch type or message leaks upward.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"esauth/lib/errs"
	"esauth/lib/seal"
	"esauth/lib/session"
)

// Config says how to reach Elasticsearch and which indices to use.
type Config struct {
	Addresses   []string
	Username    string
	Password    string
	APIKey      string
	CACert      []byte
	IndexPrefix string
	// Shards and Replicas are the settings of the indices esauth creates:
	// 1 shard and "0-1" (auto-expanded) when zero.
	Shards   int
	Replicas string
	// Timeout bounds every call to Elasticsearch, so a slow cluster gives a
	// 503 in bounded time instead of a hung request.
	Timeout time.Duration
	// IdleConns is how many idle keep-alive connections to keep per node
	// (0 means 256). Go's default of 2 makes a busy server open and close
	// a TCP connection for most calls.
	IdleConns int
	// Gzip asks Elasticsearch to compress its answers: less traffic to a
	// remote cluster, more CPU on both sides. Off, the loader's small
	// answers cost no inflating.
	Gzip bool
	// Transport, when set, replaces the HTTP transport (tests inject faults with it).
	Transport http.RoundTripper
	// Observer, when set, is told of every call and of the sessions the
	// store creates and deletes (the server's metrics).
	Observer Observer
	// Secrets seals what the users index must not hold in clear (TOTP
	// secrets): ESAUTH_DATA_KEYS. Nil stores them as they are.
	Secrets *seal.Ring
}

// Observer learns what the store does, for metrics. Its methods run on
// the request path, so they must be quick and safe for concurrent use.
type Observer interface {
	// Call is one request to Elasticsearch: op names it ("get user", a
	// fixed set plus index names), outcome is one of the Outcome values.
	Call(op string, took time.Duration, outcome string)
	// Sessions counts session documents by event: SessionsCreated,
	// SessionsRevoked, SessionsTrimmed or SessionsPurged.
	Sessions(event string, n int)
}

// The outcomes of a call. A 404 or 409 is often the expected answer (an
// unknown email, an address taken), so each has its own.
const (
	OutcomeOK          = "ok"
	OutcomeNotFound    = "not_found"
	OutcomeConflict    = "conflict"
	OutcomeError       = "error"       // another answer of 400 or more
	OutcomeUnavailable = "unavailable" // no answer, or a cluster failure (503 to the client)
)

// The session events.
const (
	SessionsCreated = "created"
	SessionsRevoked = "revoked" // logout, logout everywhere, a replaced or revoked session
	SessionsTrimmed = "trimmed" // over the per-user limit
	SessionsPurged  = "purged"  // expired
)

type noObserver struct{}

func (noObserver) Call(string, time.Duration, string) {}
func (noObserver) Sessions(string, int)               {}

// newTransport is the HTTP transport for the store: Go's defaults, with
// keep-alive connections sized for a server's concurrency, and the store's
// timeout as the longest wait for a connection, a TLS handshake and an
// answer to begin (see callWith).
func newTransport(cfg Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = cfg.Timeout
	t.ResponseHeaderTimeout = cfg.Timeout
	idle := cfg.IdleConns
	if idle <= 0 {
		idle = 256
	}
	t.MaxIdleConnsPerHost = idle
	t.MaxIdleConns = idle * max(len(cfg.Addresses), 1)
	t.DisableCompression = !cfg.Gzip
	return t
}

// neverSent says a request failed before any of it reached Elasticsearch:
// the connection to the node could not be made (refused, unreachable, no
// such host). Sending it to another node is safe for every request,
// creates and conditional updates included. A request its caller gave up
// on is not sent again.
func neverSent(req *http.Request, err error) bool {
	if req.Context().Err() != nil {
		return false
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Store is the Elasticsearch implementation of esauth's user and session storage.
type Store struct {
	es      *elasticsearch.Client
	log     *zap.Logger
	obs     Observer
	secrets *seal.Ring
	timeout time.Duration
	// headerTimeout says the transport gives up on an answer that has not
	// begun within timeout (the store built it; an injected one may not).
	headerTimeout bool
	users         string
	sessions      string
	audit         string
	attempts      string
	identities    string
	leases        string
	tokens        string
	limits        string
	credentials   string
	defs          []indexDef
	// loadHead and loadMiddle are the fixed parts of the loader's _mget
	// (see loadBody).
	loadHead, loadMiddle string

	// ready is set once the indices are known to exist with the right
	// mappings, and cleared when Elasticsearch says one is gone.
	ready atomic.Bool
	// setup runs one index set-up at a time and lets every caller wait for
	// it only as long as its own context allows.
	setup singleflight.Group
	// owners remembers whose each session is, for bearer tokens
	// (SessionOwner).
	owners owners
}

// New returns a Store. It does not contact Elasticsearch: the server must
// start even when the cluster is down (see EnsureIndices).
func New(cfg Config, log *zap.Logger) (*Store, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	headerTimeout := cfg.Transport == nil
	if headerTimeout {
		cfg.Transport = newTransport(cfg)
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.Addresses,
		Username:  cfg.Username,
		Password:  cfg.Password,
		APIKey:    cfg.APIKey,
		CACert:    cfg.CACert,
		Transport: cfg.Transport,
		// One retry, on another node, and only for a request that never
		// reached Elasticsearch (neverSent: the connection could not be
		// made). A write that reached it but whose answer was lost (a
		// timeout, a reset, a proxy's 502/503/504) is never sent again: a
		// create would then answer 409 for the document it just made ("this
		// email already exists"), and an update guarded by if_seq_no would
		// answer 409, so UpdateUser would re-read the document and apply its
		// change a second time (one failed login counted twice). Those give
		// a 503 and the caller may try again. What this retry buys is a
		// failover without errors: the client tries a dead node again now
		// and then (resurrection), and a refused dial there costs the user
		// nothing (issue 19). A request whose connection closed before any
		// of it was written is retried by net/http itself, since the client
		// can rewind every body.
		MaxRetries:   1,
		RetryOnError: neverSent,
		// No status is retried: the list must not be empty (empty means
		// the client's defaults, 502, 503 and 504), and no answer has this.
		RetryOnStatus: []int{-1},
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	st := &Store{
		es:            client,
		log:           log,
		obs:           cfg.Observer,
		secrets:       cfg.Secrets,
		timeout:       cfg.Timeout,
		headerTimeout: headerTimeout,
		users:         cfg.IndexPrefix + "users",
		sessions:      cfg.IndexPrefix + "sessions",
		audit:         cfg.IndexPrefix + "audit",
		attempts:      cfg.IndexPrefix + "attempts",
		identities:    cfg.IndexPrefix + "identities",
		leases:        cfg.IndexPrefix + "leases",
		tokens:        cfg.IndexPrefix + "tokens",
		limits:        cfg.IndexPrefix + "limits",
		credentials:   cfg.IndexPrefix + "credentials",
	}
	st.loadHead, st.loadMiddle = loadParts(st.sessions, st.users)
	if st.defs, err = buildDefs([]string{st.users, st.sessions, st.audit, st.attempts, st.identities, st.leases, st.tokens, st.limits, st.credentials}, cfg.Shards, cfg.Replicas); err != nil {
		return nil, err
	}
	return st, nil
}

// UsersIndex and SessionsIndex name the indices the store uses (AuditIndex
// and AttemptsIndex too).
func (s *Store) UsersIndex() string    { return s.users }
func (s *Store) SessionsIndex() string { return s.sessions }

// AttemptsIndex names the index of failed-login counts.
func (s *Store) AttemptsIndex() string { return s.attempts }

// IdentitiesIndex names the index of linked provider accounts.
func (s *Store) IdentitiesIndex() string { return s.identities }

// LeasesIndex names the index of leases (see TakeLease).
func (s *Store) LeasesIndex() string { return s.leases }

// TokensIndex names the index of one-time tokens (see UseToken).
func (s *Store) TokensIndex() string { return s.tokens }

// LimitsIndex names the index of the rate limits' shared usage (see PutUsage).
func (s *Store) LimitsIndex() string { return s.limits }

// CredentialsIndex names the index of the users' passkeys.
func (s *Store) CredentialsIndex() string { return s.credentials }

// Redact returns an Elasticsearch URL as scheme://host[:port], without the
// user:password@ it may carry, its path or its query, so it can be logged.
func Redact(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		// Whatever it holds, it is not shown: it may be a secret.
		return "(unparseable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// msgUnavailable is the one client-facing message for every Elasticsearch
// failure; the cause goes to the logs only.
const msgUnavailable = "The user store is unavailable; try again later."

func unavailable(cause error) error {
	return errs.Wrap(errs.Unavailable, msgUnavailable, cause)
}

// errIndexMissing marks the cause of an Unavailable error that says an index
// does not exist, so set-up and repair can tell it from other failures.
var errIndexMissing = errors.New("index does not exist")

// result is an Elasticsearch answer read whole.
type result struct {
	status int
	body   []byte
	// pooled is the buffer body was read into, when it came from
	// answerBuffers: release gives it back.
	pooled *[]byte
}

// answerBuffers holds buffers for the loader's answers (Store.Load), one
// of which every request with a cookie reads: reusing them spares the
// garbage collector about a kilobyte per request.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

// maxPooledAnswer is the largest answer read into a pooled buffer.
const maxPooledAnswer = 16 << 10

// release gives a pooled body back. Nothing may hold the body, or anything
// sliced from it, afterwards: decoders copy what they keep.
func (r result) release() {
	if r.pooled != nil {
		if cap(r.body) > 0 {
			*r.pooled = r.body[:0]
		}
		answerBuffers.Put(r.pooled)
	}
}

// esError is the "error" object of an Elasticsearch answer, or of one item
// of a _bulk or _mget answer.
type esError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
	Index  string `json:"index"`
}

// String is the error for a log line: its type and reason, without the
// preview of the refused value that parsing errors quote (a document field
// may be personal), and clipped.
func (e esError) String() string {
	reason, _, _ := strings.Cut(e.Reason, "Preview of field's value")
	reason = session.Clip(strings.TrimRight(reason, " ."), 300)
	if e.Type == "" {
		return reason
	}
	return e.Type + ": " + reason
}

// esError returns the error of an Elasticsearch answer (zero when it has
// none). Most answers carry an object; a few carry a plain string.
func (r result) esError() esError {
	var a struct {
		Error json.RawMessage `json:"error"`
	}
	var e esError
	if json.Unmarshal(r.body, &a) != nil || len(a.Error) == 0 {
		return e
	}
	if json.Unmarshal(a.Error, &e) != nil {
		_ = json.Unmarshal(a.Error, &e.Reason)
	}
	return e
}

// errorType returns the "error.type" of an Elasticsearch error answer.
func (r result) errorType() string { return r.esError().Type }

// firstItemError returns the first error among the items of a _bulk
// answer or the docs of an _mget answer, with its status (zero when it has
// none).
func (r result) firstItemError() (int, esError, bool) {
	var a struct {
		Items []map[string]bulkItem `json:"items"`
		Docs  []bulkItem            `json:"docs"`
	}
	if json.Unmarshal(r.body, &a) != nil {
		return 0, esError{}, false
	}
	for _, it := range a.Docs {
		if it.Error != nil {
			return it.Status, *it.Error, true
		}
	}
	for _, item := range a.Items {
		for _, it := range item {
			if it.Error != nil {
				return it.Status, *it.Error, true
			}
		}
	}
	return 0, esError{}, false
}

// bulkItem is one item of a _bulk answer (under its action's name), or one
// doc of an _mget answer.
type bulkItem struct {
	ID     string   `json:"_id"`
	Status int      `json:"status"`
	Error  *esError `json:"error"`
}

// clusterFailure classifies an Elasticsearch error that is about the
// cluster's state or esauth's access to it, not about the request esauth
// sent: credentials refused, privileges missing, an index blocked, closed
// or missing, an overloaded or failing node. Each is errs.Unavailable (503,
// "try again later": an operator can fix it without a new esauth), with a
// cause that names it for the log. It returns nil for every other error,
// which the caller either expects (404 no such document, 409 version
// conflict, 400 index already exists) or reports as a bug with unexpected.
func clusterFailure(op string, status int, e esError) error {
	var cause error
	switch {
	case status == http.StatusUnauthorized:
		cause = fmt.Errorf("401: Elasticsearch refused esauth's credentials (check ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD, or ELASTICSEARCH_API_KEY): %s", e)
	case e.Type == "cluster_block_exception":
		cause = fmt.Errorf("the index is blocked (write block or read-only): %s", e)
	case e.Type == "security_exception" || status == http.StatusForbidden:
		cause = fmt.Errorf("esauth's Elasticsearch user lacks privileges on %s: %s", privilegeTarget(e.Reason), e)
	case e.Type == "index_closed_exception":
		cause = fmt.Errorf("index %s is closed", e.Index)
	case e.Type == "index_not_found_exception":
		cause = fmt.Errorf("%w: %s", errIndexMissing, e.Index)
	case status == http.StatusTooManyRequests:
		cause = fmt.Errorf("429: Elasticsearch is overloaded: %s", e)
	case status == http.StatusRequestTimeout || status >= 500:
		cause = fmt.Errorf("%d: Elasticsearch failed: %s", status, e)
	default:
		return nil
	}
	return unavailable(fmt.Errorf("%s: %w", op, cause))
}

// privilegeTarget names what a security_exception was about: the indices
// its reason lists, or the cluster for a cluster privilege.
func privilegeTarget(reason string) string {
	if _, rest, ok := strings.Cut(reason, "on indices ["); ok {
		if list, _, ok := strings.Cut(rest, "]"); ok {
			return list
		}
	}
	if strings.Contains(reason, "cluster privileges") {
		return "the cluster"
	}
	return "its indices"
}

// failure is clusterFailure for the store's own answers: when an index is
// gone, the store is no longer ready, so the next call sets the indices up
// again (with their mappings) instead of failing until a restart.
func (s *Store) failure(op string, status int, e esError) error {
	err := clusterFailure(op, status, e)
	if err != nil && e.Type == "index_not_found_exception" {
		s.ready.Store(false)
	}
	return err
}

// maxAnswer bounds how much of one answer the store reads.
const maxAnswer = 32 << 20

// readBody reads an answer whole, in one allocation when Elasticsearch
// says how long it is (it does for the small answers of the hot path), or
// into the pooled buffer *pool when one is given and the answer fits; it
// reports whether it did.
func readBody(body io.Reader, contentLength string, pool *[]byte) ([]byte, bool, error) {
	n, err := strconv.Atoi(contentLength)
	if err != nil || n < 0 || n > maxAnswer {
		b, err := io.ReadAll(io.LimitReader(body, maxAnswer))
		return b, false, err
	}
	var b []byte
	pooled := pool != nil && n <= maxPooledAnswer
	if pooled {
		if cap(*pool) < n {
			*pool = make([]byte, 0, n)
		}
		b = (*pool)[:n]
	} else {
		b = make([]byte, n)
	}
	if _, err := io.ReadFull(body, b); err != nil {
		return nil, pooled, err
	}
	return b, pooled, nil
}

// call runs one request with the store's timeout and reads the answer whole.
// It is where every Elasticsearch failure is classified, once: transport
// failures, timeouts and the cluster failures of clusterFailure come back
// as errs.Unavailable; every other answer, errors included, goes to the
// caller to read.
func (s *Store) call(ctx context.Context, op string, req esapi.Request) (result, error) {
	return s.callWith(ctx, op, req, false)
}

// callPooled is call reading the answer into a pooled buffer: the caller
// must release the result once it has decoded it.
func (s *Store) callPooled(ctx context.Context, op string, req esapi.Request) (result, error) {
	return s.callWith(ctx, op, req, true)
}

func (s *Store) callWith(ctx context.Context, op string, req esapi.Request, usePool bool) (r result, err error) {
	start := time.Now()
	defer func() { s.obs.Call(op, time.Since(start), outcome(r, err)) }()
	// A call is bounded by the store's timeout and by its context's
	// deadline, whichever ends first. Requests to esauth carry a deadline
	// (ESAUTH_REQUEST_TIMEOUT), and the transport stops waiting for an
	// answer that has not begun within the timeout (ResponseHeaderTimeout),
	// so they need no timer of their own here: a second deadline context
	// per call was about 2 % of the CPU and a tenth of the garbage of a
	// protected request. An answer that begins and then stalls is bounded
	// by the request's deadline. Calls without a deadline (background work,
	// the command line) get one.
	if d, ok := ctx.Deadline(); !ok || (!s.headerTimeout && time.Until(d) > s.timeout) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	res, err := req.Do(ctx, s.es)
	if err != nil {
		return result{}, unavailable(fmt.Errorf("%s: %w", op, err))
	}
	defer res.Body.Close()
	var pool *[]byte
	if usePool {
		pool = answerBuffers.Get().(*[]byte)
	}
	body, pooled, err := readBody(res.Body, res.Header.Get("Content-Length"), pool)
	r = result{status: res.StatusCode, body: body}
	switch {
	case pooled:
		r.pooled = pool
	case pool != nil:
		answerBuffers.Put(pool) // unused
	}
	if err != nil {
		r.release()
		return result{}, unavailable(fmt.Errorf("%s: reading answer: %w", op, err))
	}
	if r.status >= 400 {
		if err := s.failure(op, r.status, r.esError()); err != nil {
			return r, err
		}
	}
	return r, nil
}

// outcome classifies a finished call for the Observer.
func outcome(r result, err error) string {
	switch {
	case err != nil:
		return OutcomeUnavailable
	case r.status < 400:
		return OutcomeOK
	case r.status == http.StatusNotFound:
		return OutcomeNotFound
	case r.status == http.StatusConflict:
		return OutcomeConflict
	}
	return OutcomeError
}

// decode parses an answer body, treating garbage as an unavailable store.
func decode(op string, r result, v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return unavailable(fmt.Errorf("%s: unreadable answer (status %d): %w", op, r.status, err))
	}
	return nil
}

const msgUnexpected = "Unexpected answer from the user store."

// unexpected wraps an answer the caller did not expect. A cluster failure
// inside it, including one in a _bulk item or an _mget doc of a 200
// answer, is errs.Unavailable as in call; anything else (a mapping refusing
// a document, a request Elasticsearch cannot parse) is a bug in esauth's
// request: errs.Internal. Either way the cause is logged by the caller and
// the client sees only the generic message.
func unexpected(op string, r result) error {
	status, e := r.status, r.esError()
	if e.Type == "" {
		if st, ie, ok := r.firstItemError(); ok {
			status, e = st, ie
		}
	}
	if err := clusterFailure(op, status, e); err != nil {
		return err
	}
	return errs.Wrap(errs.Internal, msgUnexpected, fmt.Errorf("%s: status %d: %s", op, status, e))
}

// itemError classifies the failure of one _bulk item or _mget doc, as
// unexpected does for a whole answer; a missing index also makes the store
// set its indices up again. Callers first handle the statuses they expect
// (201, 404 on delete, 409 on create).
func (s *Store) itemError(op string, it bulkItem) error {
	var e esError
	if it.Error != nil {
		e = *it.Error
	}
	if err := s.failure(op, it.Status, e); err != nil {
		return err
	}
	return errs.Wrap(errs.Internal, msgUnexpected, fmt.Errorf("%s: item %s: status %d: %s", op, it.ID, it.Status, e))
}

func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the store's own document types are marshalled here.
		panic(fmt.Sprintf("elastic: marshal: %v", err))
	}
	return bytes.NewReader(b)
}
