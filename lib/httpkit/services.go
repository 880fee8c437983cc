package httpkit

import "esauth/lib/account"

// Services are what a surface mounted beside the API (the pages) is made
// with: the same application layer, session cookie and per-IP budgets as
// the API's handlers, never a second copy.
type Services struct {
	Accounts *account.Service
	Cookies  Cookies
	// OAuthProviders names the configured login providers, in no order.
	OAuthProviders []string
	// LoginLimit and SignupLimit are the API's per-IP budgets, refusing in
	// the surface's language: a form is one more way in, not a second
	// allowance.
	LoginLimit, SignupLimit Middleware
}
