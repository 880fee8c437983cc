package v1

import (
	"context"
	"esauth/lib/errs"
	"net/http"
	"time"
)

// ReadinessChecker says whether the store can serve (see elastic.Store.Ready).
type ReadinessChecker interface {
	Ready(ctx context.Context) error
}

// handleHealthz: GET /healthz, the process answers. It touches nothing
// else, so a slow Elasticsearch never makes an orchestrator restart a
// healthy process.
func handleHealthz() http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		writeOK(w, http.StatusOK, "esauth is running.", nil)
		return nil
	})
}

// handleReadyz: GET /readyz, Elasticsearch answers and every index has the
// expected mapping; otherwise 503, so an orchestrator sends no traffic to
// an instance that could only answer 503. The answer gives the reason
// only when private (the admin address): on the public address it would
// tell anyone the index names and the state of the cluster (issue 19);
// the log line has it either way.
func handleReadyz(store ReadinessChecker, private bool) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := store.Ready(r.Context()); err != nil {
			// Through the one status table, as every refusal: 503 with
			// Retry-After, the reason (which names no secret) as the message.
			msg := "Not ready."
			if private {
				msg = "Not ready: " + err.Error() + "."
			}
			e := errs.Wrap(errs.Unavailable, msg, err)
			e.RetryAfter = 5 * time.Second
			return e
		}
		writeOK(w, http.StatusOK, "Ready.", nil)
		return nil
	})
}
