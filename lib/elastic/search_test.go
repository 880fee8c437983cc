package elastic_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/page"
	"esauth/lib/user"
)

func TestSearchUsersByEmailOrNameNewestFirst(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour)
	people := []struct{ email, first, last string }{
		{"ada.lovelace@example.com", "Ada", "Lovelace"},
		{"grace@navy.example", "Grace", "Hopper"},
		{"alan@example.org", "Alan", "Turing"},
		{"adam*smith@example.com", "Adam", "Smith"},
		{"b@example.com", "Barbara", "Liskov"},
	}
	for i, p := range people {
		u := newUser(p.email)
		u.FirstName, u.LastName = p.first, p.last
		u.CreatedAt = base.Add(time.Duration(i) * time.Minute) // later in the list: newer
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	estest.MustDo(t, "POST", "/"+s.UsersIndex()+"/_refresh", "")
	emails := func(us []user.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Email)
			if u.PasswordHash != "" {
				t.Errorf("a search returned %s's password hash", u.Email)
			}
		}
		return out
	}
	tests := []struct {
		q    string
		want []string
	}{
		{"", []string{"b@example.com", "adam*smith@example.com", "alan@example.org", "grace@navy.example", "ada.lovelace@example.com"}},
		{"navy", []string{"grace@navy.example"}},
		{"EXAMPLE.COM", []string{"b@example.com", "adam*smith@example.com", "ada.lovelace@example.com"}},
		{"hop", []string{"grace@navy.example"}},                                 // the beginning of a last name
		{"ada", []string{"adam*smith@example.com", "ada.lovelace@example.com"}}, // names and emails that start with it
		{"*", []string{"adam*smith@example.com"}},                               // a literal star, not a wildcard
		{"tur", []string{"alan@example.org"}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		got, next, err := s.SearchUsers(ctx, tt.q, nil, 10)
		if err != nil {
			t.Fatalf("q=%q: %v", tt.q, err)
		}
		if g := emails(got); !slices.Equal(g, tt.want) || next != nil {
			t.Errorf("q=%q: %v (next %v); want %v", tt.q, g, next, tt.want)
		}
	}
	// Pages of two cover everyone once, in order.
	var all []string
	var after *page.Cursor
	for range 5 {
		got, next, err := s.SearchUsers(ctx, "", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, emails(got)...)
		if next == nil {
			break
		}
		after = next
	}
	if !slices.Equal(all, tests[0].want) {
		t.Errorf("paged: %v; want %v", all, tests[0].want)
	}
}
