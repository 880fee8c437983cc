package v1

import (
	"esauth/lib/httpkit"
	"net/http"
	"time"
)

type testSession struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Remember  bool      `json:"remember"`
}

type testView struct {
	Email   string      `json:"email_address"`
	Session testSession `json:"session"`
}

// handleTest is the Flask app's protected test route: 200 for a logged-in
// user, 401 otherwise. It shows the session's id (the hash of its token),
// never the cookie value.
func handleTest() http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		cur := httpkit.Current(r)
		s := cur.Session
		writeOK(w, http.StatusOK, "Test", testView{
			Email:   cur.User.Email,
			Session: testSession{ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Remember: s.Remember},
		})
		return nil
	})
}
