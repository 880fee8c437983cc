package httpkit

import (
	"net/http"

	"esauth/lib/errs"
)

// CrossOrigin refuses state-changing requests (anything but GET, HEAD and
// OPTIONS) that a browser marks as coming from another origin: a
// Sec-Fetch-Site of cross-site or same-site, or an Origin whose host is not
// the request's. Requests without those headers (curl, servers) pass, as
// do origins listed in trusted (a front end on another origin). This backs
// up the SameSite=Lax cookie, which same-site subdomains get past. The
// refusal (403) is written by refuse.
func CrossOrigin(trusted []string, refuse Refuse) (Middleware, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range trusted {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse(w, r, errs.E(errs.Forbidden, "Cross-origin request refused."))
	}))
	return cop.Handler, nil
}
