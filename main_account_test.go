package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"esauth/lib/account"
	"esauth/lib/elastic/estest"
)

// The command line's "user create" is the API's signup, audit event and
// all, with the operator as its actor (issue 18: it recorded none).
func TestUserCreateAuditsTheSignupByTheOperator(t *testing.T) {
	vars := testEnv(t)
	err := run(context.Background(),
		[]string{"esauth", "user", "create", "--email", "new@example.com", "--first-name", "New", "--last-name", "User"},
		env(vars), strings.NewReader("a long enough password\n"), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+vars["ESAUTH_INDEX_PREFIX"]+"audit/_refresh", "")
	out, err := cli(t, vars, "", "audit", "--email", "new@example.com", "--json")
	var events []struct{ Event, Actor, Outcome string }
	if err != nil || json.Unmarshal([]byte(out), &events) != nil {
		t.Fatalf("audit list: %v %s", err, out)
	}
	if len(events) != 1 || events[0].Event != "signup" || events[0].Actor != account.OperatorName || events[0].Outcome != "success" {
		t.Errorf("events %+v; want one signup by %q", events, account.OperatorName)
	}
}

// serve says where the probes are (make run prints it), and that metrics
// are off without an admin address (issue 19).
func TestServeSaysWhereTheProbesAre(t *testing.T) {
	vars := testEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	go func() {
		_ = run(ctx, []string{"esauth", "serve"}, env(vars), strings.NewReader(""), w, io.Discard)
		w.Close()
	}()
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if line := lines.Text(); strings.HasPrefix(line, "esauth probes on http://") {
			if !strings.Contains(line, "/healthz") || !strings.Contains(line, "/readyz") || !strings.Contains(line, "ESAUTH_ADMIN_ADDR") {
				t.Errorf("probes line %q", line)
			}
			cancel()
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return
		}
	}
	t.Fatal("serve never said where the probes are")
}
