package v1

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"esauth/lib/audit"
	"esauth/lib/httpkit"
	"esauth/lib/session"
)

// routesOf lists "METHOD /path/{var}" for every route the router serves.
func routesOf(t *testing.T, r *mux.Router) []string {
	t.Helper()
	var out []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil // a subrouter's prefix, not a route
		}
		for _, m := range methods {
			out = append(out, m+" "+httpkit.PlainTemplate(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	var described []string
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			described = append(described, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(described)
	served := routesOf(t, newRouter(Deps{Policy: session.Policy{}}))
	if strings.Join(served, "\n") != strings.Join(described, "\n") {
		t.Errorf("routes and OpenAPI paths differ.\nserved:\n  %s\ndescribed:\n  %s",
			strings.Join(served, "\n  "), strings.Join(described, "\n  "))
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	h := newHarness(t)
	res, err := http.Get(h.srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || res.StatusCode != 200 {
		t.Fatalf("status %d, %v", res.StatusCode, err)
	}
	if doc["paths"] == nil || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("not the description: %v", res.Header)
	}
}

// The event types the description lists are those esauth records (and
// the console's filter takes).
func TestOpenAPIListsEveryEventType(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	got := doc.Components.Schemas["AuditEvent"].Properties["event"].Enum
	if !slices.Equal(got, audit.Types) {
		t.Errorf("AuditEvent.event lists %v; esauth records %v", got, audit.Types)
	}
}

// The document offers both carriers of a session (issue 22): every
// operation that takes the cookie takes the bearer token, and the schemes
// say what each is.
func TestOpenAPIListsTheCookieAndTheBearerTokenOnEveryProtectedRoute(t *testing.T) {
	var doc struct {
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `json:"type"`
				Scheme string `json:"scheme"`
				In     string `json:"in"`
			} `json:"securitySchemes"`
		} `json:"components"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Components.SecuritySchemes
	if s["cookieAuth"].In != "cookie" || s["bearerAuth"].Type != "http" || s["bearerAuth"].Scheme != "bearer" {
		t.Fatalf("security schemes: %+v", s)
	}
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op struct {
				Security []map[string][]string `json:"security"`
			}
			if json.Unmarshal(raw, &op) != nil {
				continue
			}
			cookie, bearer := false, false
			for _, req := range op.Security {
				_, c := req["cookieAuth"]
				_, b := req["bearerAuth"]
				cookie, bearer = cookie || c, bearer || b
			}
			if cookie != bearer {
				t.Errorf("%s %s: cookie %v, bearer %v", method, path, cookie, bearer)
			}
		}
	}
}
