package v1

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 description of every /v1 route, kept beside the
// routes; TestOpenAPIDescribesEveryRoute keeps the two in step.
//
//go:embed openapi.json
var openAPI []byte

func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(openAPI)
	})
}
