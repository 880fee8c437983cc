package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"esauth/lib/account"
	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/user"

	"go.uber.org/zap"
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

// Without ESAUTH_DATA_KEYS the server does not start once a user has a
// second factor (its secret would be unreadable if sealed, and new ones
// written in clear beside it); with the keys it starts, and "esauth keys
// rotate" seals the secret written in clear (issue 19).
func TestServeNeedsDataKeysOnceSecretsExistAndKeysRotateSealsThem(t *testing.T) {
	vars := testEnv(t)
	s, err := elastic.New(elastic.Config{Addresses: []string{estest.URL()}, IndexPrefix: vars["ESAUTH_INDEX_PREFIX"]}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.EnsureIndices(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := s.CreateUser(ctx, user.User{Email: "two@example.com", Role: user.RoleUser, IsActive: true, CreatedAt: now,
		SessionEpoch: user.NewEpoch(), TOTPSecret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", TOTPEnabledAt: now}); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+vars["ESAUTH_INDEX_PREFIX"]+"users/_refresh", "")
	err = run(ctx, []string{"esauth", "serve"}, env(vars), strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ESAUTH_DATA_KEYS") {
		t.Fatalf("serve without data keys: %v; want a refusal naming ESAUTH_DATA_KEYS", err)
	}
	vars["ESAUTH_DATA_KEYS"] = "k1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	startServe(t, vars)
	out, err := cli(t, vars, "", "keys", "rotate", "--json")
	var got struct {
		Resealed int    `json:"resealed"`
		Key      string `json:"key"`
	}
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.Resealed != 1 || got.Key != "k1" {
		t.Fatalf("keys rotate: %v %s", err, out)
	}
	raw := estest.MustDo(t, "GET", "/"+vars["ESAUTH_INDEX_PREFIX"]+"users/_doc/two@example.com", "")
	if strings.Contains(raw, "JBSWY3DPEHPK3PXP") || !strings.Contains(raw, "esauth-sealed:1:k1:") {
		t.Errorf("after keys rotate: %s", raw)
	}
}
