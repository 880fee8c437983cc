// Command oidc-provider runs a real OpenID Provider on loopback for the
// smoke test (scripts/smoke.sh): github.com/zitadel/oidc's example provider,
// through lib/oauth/oauthtest, with one client and one person whose email
// is verified. Not for anything but tests: its users and keys are fixed.
//
//	go run ./scripts/oidc-provider -addr 127.0.0.1:9998 -redirect http://127.0.0.1:8000/v1/auth/oauth/local/callback
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"

	"esauth/lib/oauth/oauthtest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9998", "address to listen on; the issuer is http://<addr>")
	redirect := flag.String("redirect", "", "the relying party's redirect URI (required)")
	flag.Parse()
	if *redirect == "" {
		fmt.Fprintln(os.Stderr, "oidc-provider: -redirect is required")
		os.Exit(2)
	}
	people := []oauthtest.User{{Username: "smoke", FirstName: "Smoke", LastName: "Provider", Email: "oidc-smoke@example.com", EmailVerified: true}}
	h := oauthtest.Handler("http://"+*addr, people, oauthtest.Client{ID: "esauth-smoke", Secret: "esauth-smoke-secret", RedirectURI: *redirect})
	log.Fatal(http.ListenAndServe(*addr, h))
}
