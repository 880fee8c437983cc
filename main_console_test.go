package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
)

// The console's commands run the API's rules: typed filters (bad ones
// refused naming the flag), a dry run that ends nothing, a revocation by
// address that ends what it counted, lockouts listed and lifted.
func TestTheConsoleCommandsSearchCountRevokeAndUnlock(t *testing.T) {
	vars := testEnv(t)
	vars["ESAUTH_LOCKOUT_THRESHOLD"] = "2"
	vars["ESAUTH_LOCKOUT_BASE"] = "1h"
	vars["ESAUTH_LOCKOUT_MAX"] = "1h"
	const pw = "the first long password"
	for _, e := range []string{"ann@example.com", "bob@example.com"} {
		if _, err := cli(t, vars, pw+"\n", "user", "create", "--email", e, "--first-name", "A", "--last-name", "B"); err != nil {
			t.Fatal(err)
		}
	}
	base, _ := startServe(t, vars)
	ann := loginCookie(t, base, "ann@example.com", pw)
	for range 2 {
		post(t, base+"/v1/auth/login", `{"email_address":"bob@example.com","password":"wrong password here"}`)
	}
	flush := func() {
		estest.MustDo(t, "POST", "/"+vars["ESAUTH_INDEX_PREFIX"]+"*/_refresh", "")
	}
	waitFor(t, func() bool {
		flush()
		out, err := cli(t, vars, "", "events", "search", "--event", "login_failure", "--email", "bob@example.com", "--json")
		var evs []map[string]any
		return err == nil && json.Unmarshal([]byte(out), &evs) == nil && len(evs) == 2
	})

	out, err := cli(t, vars, "", "events", "stats", "--ip", "127.0.0.0/8", "--json")
	var st struct {
		Total           int    `json:"total"`
		Interval        string `json:"interval"`
		LockedEmails    int    `json:"locked_emails"`
		TopFailedEmails []struct {
			Key   string `json:"key"`
			Count int    `json:"count"`
		} `json:"top_failed_emails"`
	}
	if err != nil || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("events stats: %v %s", err, out)
	}
	if st.Total < 3 || st.Interval == "" || st.LockedEmails != 1 || len(st.TopFailedEmails) != 1 || st.TopFailedEmails[0].Key != "bob@example.com" {
		t.Errorf("stats %+v", st)
	}
	for _, bad := range [][]string{
		{"events", "search", "--ip", "not-an-ip"},
		{"events", "stats", "--new-device", "maybe"},
		{"events", "search", "--event", "*"},
		{"sessions", "revoke", "--seen-from", "yesterday"},
	} {
		_, err := cli(t, vars, "", bad...)
		if err == nil || !strings.Contains(err.Error(), "--"+strings.TrimPrefix(bad[2], "--")) {
			t.Errorf("%v: %v; want an error naming %s", bad, err, bad[2])
		}
	}

	// A dry run counts and ends nothing; the revocation ends what it counted.
	out, err = cli(t, vars, "", "sessions", "revoke", "--ip", "127.0.0.1", "--dry-run", "--json")
	var rev struct{ Sessions, Users int }
	if err != nil || json.Unmarshal([]byte(out), &rev) != nil || rev.Sessions != 1 || rev.Users != 1 {
		t.Fatalf("dry run: %v %s", err, out)
	}
	if s := statusWith(t, base+"/v1/test", ann); s != http.StatusOK {
		t.Fatalf("after a dry run: %d", s)
	}
	if out, err = cli(t, vars, "", "sessions", "revoke", "--ip", "127.0.0.1"); err != nil || !strings.Contains(out, "ended 1 sessions of 1 accounts") {
		t.Fatalf("revoke: %v %q", err, out)
	}
	if s := statusWith(t, base+"/v1/test", ann); s != http.StatusUnauthorized {
		t.Errorf("after the revocation: %d", s)
	}

	// Bob is locked out: listed, lifted, and his right password works again.
	out, err = cli(t, vars, "", "lockouts", "list")
	if err != nil || !strings.Contains(out, "bob@example.com\tpassword\t2 failures") || !strings.Contains(out, "1 locked now") {
		t.Fatalf("lockouts list: %v %q", err, out)
	}
	if s := post(t, base+"/v1/auth/login", `{"email_address":"bob@example.com","password":"`+pw+`"}`); s != http.StatusTooManyRequests {
		t.Fatalf("a locked login: %d", s)
	}
	if _, err := cli(t, vars, "", "lockouts", "clear", "--email", "Bob@Example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, vars, "", "lockouts", "clear", "--email", "bob@example.com"); err == nil {
		t.Error("clearing twice worked")
	}
	loginCookie(t, base, "bob@example.com", pw)
}

// waitFor polls cond until it holds, for what the server does in the
// background (its audit writer flushes within a second), failing after 15 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the condition did not hold within 15s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
