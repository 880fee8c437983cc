package elastic_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
)

func TestRepairRebuildsAWrongIndexAndKeepsItsDocuments(t *testing.T) {
	s := unsetStore(t)
	ctx := context.Background()
	emails := []string{"a@example.com", "b@example.com", "c#d@example.com"}
	docs := map[string]string{}
	for _, e := range emails {
		docs[e] = guessed(e)
	}
	autoCreateUsers(t, s, docs)

	reports, err := s.RepairIndices(ctx)
	if err != nil {
		t.Fatalf("repair: %v (%v)", err, reports)
	}
	var users elastic.RepairReport
	for _, r := range reports {
		if r.Index == s.UsersIndex() {
			users = r
		} else if r.Repaired() {
			t.Errorf("%s was repaired; it did not exist", r.Index)
		}
	}
	if !users.Repaired() || users.Copied != len(emails) || users.Dropped["password"] != len(emails) {
		t.Errorf("users report = %+v, want %d copied and password dropped from each", users, len(emails))
	}
	if err := s.EnsureIndices(ctx); err != nil {
		t.Fatalf("set-up after the repair: %v", err)
	}
	wantStrictUsers(t, s)
	if _, ok := mappingOf(t, s.UsersIndex()).Properties["password"]; ok {
		t.Error("the dropped field is still mapped")
	}
	for _, e := range emails {
		u, err := s.GetUser(ctx, e)
		if err != nil || u.FirstName != "Ada" || u.PasswordHash != "$argon2id$x" {
			t.Errorf("user %s after the repair: %+v, %v", e, u, err)
		}
	}
	if status, _ := estest.Do(t, "GET", "/"+s.UsersIndex()+"-repair", ""); status != http.StatusNotFound {
		t.Errorf("the spare index is left over (status %d)", status)
	}
	again, err := s.RepairIndices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.Repaired() {
			t.Errorf("a second repair rebuilt %s again", r.Index)
		}
	}
}

// A document the right mapping cannot hold (a value of another type) stops
// the repair of its index before anything is deleted.
func TestRepairStopsBeforeDeletingWhenADocumentCannotBeCopied(t *testing.T) {
	s := unsetStore(t)
	estest.MustDo(t, "PUT", "/"+s.UsersIndex(), `{"mappings":{"properties":{"email_address":{"type":"keyword"},"created_at":{"type":"keyword"}}}}`)
	autoCreateUsers(t, s, map[string]string{
		"good@example.com": `{"email_address":"good@example.com","created_at":"2024-01-01T00:00:00Z"}`,
		"bad@example.com":  `{"email_address":"bad@example.com","created_at":"last tuesday"}`,
	})
	_, err := s.RepairIndices(context.Background())
	if err == nil || !strings.Contains(err.Error(), "bad@example.com") {
		t.Fatalf("err = %v, want one naming bad@example.com", err)
	}
	estest.MustDo(t, "POST", "/"+s.UsersIndex()+"/_refresh", "")
	var count struct{ Count int }
	_ = json.Unmarshal([]byte(estest.MustDo(t, "GET", "/"+s.UsersIndex()+"/_count", "")), &count)
	if count.Count != 2 {
		t.Errorf("the broken index holds %d documents after the failed repair, want 2", count.Count)
	}
	if status, body := estest.Do(t, "PUT", "/"+s.UsersIndex()+"/_doc/x", `{"email_address":"x"}`); status/100 != 2 {
		t.Errorf("the write block was left on the index: %d %s", status, body)
	}
	if status, _ := estest.Do(t, "GET", "/"+s.UsersIndex()+"-repair", ""); status != http.StatusNotFound {
		t.Errorf("the spare index is left over (status %d)", status)
	}
}

// A repair that stopped after deleting the broken index left the documents
// in the spare only; the next repair puts them back.
func TestRepairFinishesWhatAnInterruptedRepairLeft(t *testing.T) {
	s := unsetStore(t)
	spare := s.UsersIndex() + "-repair"
	estest.MustDo(t, "PUT", "/"+spare+"/_doc/left@example.com", guessed("left@example.com"))
	reports, err := s.RepairIndices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reports[0].Resumed || reports[0].Copied != 1 {
		t.Errorf("users report = %+v, want resumed with 1 copied", reports[0])
	}
	if _, err := s.GetUser(context.Background(), "left@example.com"); err != nil {
		t.Errorf("the user left in the spare: %v", err)
	}
	if status, _ := estest.Do(t, "GET", "/"+spare, ""); status != http.StatusNotFound {
		t.Errorf("the spare index is left over (status %d)", status)
	}
}
