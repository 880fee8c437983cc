package v1

import (
	"net/http"
	"testing"

	"esauth/lib/elastic/estest"
)

func TestRoutesThatNeedNoUserCostNoLoaderRoundTrip(t *testing.T) {
	estest.Require(t)
	counter := &estest.CountingTransport{}
	cfg := estest.Config()
	cfg.Transport = counter
	h := newHarnessOn(t, estest.NewWith(t, cfg))
	h.addUser("cookie@example.com", pw, false)
	c := h.client().in(t)
	c.mustLogin("cookie@example.com", pw) // every request below carries a valid cookie

	calls := func(do func()) int64 {
		before := counter.Count()
		do()
		return counter.Count() - before
	}
	tests := []struct {
		name string
		do   func()
		want int64
	}{
		{"the OpenAPI document reads nothing", func() {
			res, err := c.c.Get(h.srv.URL + "/v1/openapi.json")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}, 0},
		{"a signup makes one create", func() { expectStatus(t, c.signup("new@example.com", pw), http.StatusCreated) }, 1},
		{"the protected route makes one _mget", func() { expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK) }, 1},
	}
	for _, tt := range tests {
		if got := calls(tt.do); got != tt.want {
			t.Errorf("%s: %d Elasticsearch calls; want %d", tt.name, got, tt.want)
		}
	}
}
