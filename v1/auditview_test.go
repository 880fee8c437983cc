package v1

import (
	"net/http"
	"testing"

	"esauth/lib/audit"
)

func TestASignedUpAgainEmailSeesOnlyItsOwnEventsAndNoAdminNames(t *testing.T) {
	h := newHarness(t)
	h.addUser("root@example.com", pw, true)
	admin := h.client().in(t)
	admin.mustLogin("root@example.com", pw)

	// The first owner of the address logs in from somewhere, then is
	// deleted by an admin.
	first := h.client().in(t)
	expectStatus(t, first.signup("again@example.com", pw), http.StatusCreated)
	first.mustLogin("again@example.com", pw)
	expectStatus(t, admin.do("DELETE", "/v1/users/again@example.com", nil), http.StatusOK)
	h.flushAudit()

	// Someone else signs the address up; an admin renames them.
	second := h.client().in(t)
	expectStatus(t, second.signup("again@example.com", "the second owner's passphrase"), http.StatusCreated)
	second.mustLogin("again@example.com", "the second owner's passphrase")
	expectStatus(t, admin.do("PATCH", "/v1/users/again@example.com", map[string]any{"last_name": "Renamed"}), http.StatusOK)
	h.flushAudit()

	mine := second.do("GET", "/v1/users/again@example.com/audit", nil)
	expectStatus(t, mine, http.StatusOK)
	var events []audit.Event
	mine.data(t, &events)
	count := map[string]int{}
	for _, e := range events {
		count[e.Event]++
		if e.Actor == "root@example.com" {
			t.Errorf("an ordinary user sees the admin's email as actor: %+v", e)
		}
		if e.Event == audit.UserUpdated && e.Actor != "an administrator" {
			t.Errorf("the admin's change shows actor %q; want %q", e.Actor, "an administrator")
		}
	}
	if count[audit.Signup] != 1 || count[audit.LoginSuccess] != 1 || count[audit.UserDeleted] != 0 || count[audit.UserUpdated] != 1 {
		t.Errorf("the second owner sees %v; want only their own signup, login and the admin's change", count)
	}

	// Admins still see the whole history of the address.
	all := admin.do("GET", "/v1/users/again@example.com/audit", nil)
	var every []audit.Event
	all.data(t, &every)
	if len(every) <= len(events) {
		t.Errorf("an admin sees %d events, the user %d; want the admin to see the earlier owner's too", len(every), len(events))
	}
}
