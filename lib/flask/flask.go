// Package flask brings over the users of the classic Flask + Flask-Login +
// Elasticsearch tutorial app, which esauth grew out of: its user documents
// (the email as _id, names, is_active, created_at in epoch seconds, and a
// werkzeug password hash) become esauth users whose passwords keep working.
package flask

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/password"
	"esauth/lib/user"
)

// doc is a user document of the Flask app. Fields it does not know (a
// leftover _type from an Elasticsearch 6 dump, say) are ignored.
type doc struct {
	EmailAddress string          `json:"email_address"`
	FirstName    string          `json:"first_name"`
	LastName     string          `json:"last_name"`
	Password     string          `json:"password"`
	IsActive     *bool           `json:"is_active"`
	CreatedAt    json.RawMessage `json:"created_at"`
}

// ToUser makes the esauth user of one Flask document: the email (the
// document's, else its _id) normalized as esauth does, the names checked
// as at signup, the werkzeug hash kept as it is (esauth verifies it and
// replaces it with argon2id at the user's next login), the role "user",
// and a new session epoch. An error says what the document lacks.
func ToUser(id string, source json.RawMessage, now time.Time) (user.User, error) {
	var d doc
	dec := json.NewDecoder(bytes.NewReader(source))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return user.User{}, fmt.Errorf("not a user document: %v", err)
	}
	email := d.EmailAddress
	if email == "" {
		email = id
	}
	email = user.NormalizeEmail(email)
	if m := user.ValidateEmail(email); m != "" {
		return user.User{}, fmt.Errorf("email_address: %s", m)
	}
	if id != "" && user.NormalizeEmail(id) != email {
		return user.User{}, fmt.Errorf("email_address %q differs from the document id", d.EmailAddress)
	}
	for _, f := range []struct{ field, label, value string }{
		{"first_name", "First name", d.FirstName}, {"last_name", "Last name", d.LastName},
	} {
		if m := user.ValidateName(f.label, f.value); m != "" {
			return user.User{}, fmt.Errorf("%s: %s", f.field, m)
		}
	}
	if !password.Supported(d.Password) {
		return user.User{}, errors.New("password: not a werkzeug (pbkdf2, scrypt), bcrypt or argon2id hash esauth can verify")
	}
	created, err := createdAt(d.CreatedAt, now)
	if err != nil {
		return user.User{}, err
	}
	active := d.IsActive == nil || *d.IsActive
	t := now.UTC().Truncate(time.Millisecond)
	return user.User{
		Email: email, FirstName: d.FirstName, LastName: d.LastName, PasswordHash: d.Password,
		Role: user.RoleUser, IsActive: active,
		CreatedAt: created, UpdatedAt: t, PasswordChangedAt: created,
		SessionEpoch: user.NewEpoch(),
	}, nil
}

// createdAt reads the Flask app's created_at: epoch seconds with a
// fraction (time.time()), or an RFC 3339 string; missing is now. It is
// kept to the millisecond, as Elasticsearch stores dates, so a second
// import can tell the user it made before (same created_at) from another.
func createdAt(raw json.RawMessage, now time.Time) (time.Time, error) {
	bad := errors.New("created_at: not epoch seconds or an RFC 3339 time")
	var t time.Time
	switch {
	case len(raw) == 0 || string(raw) == "null":
		t = now
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, bad
		}
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return time.Time{}, bad
		}
	default:
		secs, err := json.Number(strings.TrimSpace(string(raw))).Float64()
		if err != nil || math.IsNaN(secs) || secs < 0 || secs > 1e11 {
			return time.Time{}, bad
		}
		whole, frac := math.Modf(secs)
		t = time.Unix(int64(whole), int64(math.Round(frac*1e6))*1e3)
	}
	if t.After(now.Add(24 * time.Hour)) {
		return time.Time{}, errors.New("created_at: in the future")
	}
	return t.UTC().Truncate(time.Millisecond), nil
}

// Source reads the Flask app's index.
type Source interface {
	Scan(ctx context.Context, index string, fn func(id string, source json.RawMessage) error) error
}

// Target is where the users go.
type Target interface {
	CreateUser(ctx context.Context, u user.User) error
	GetUser(ctx context.Context, email string) (user.User, error)
}

// The results of one document.
const (
	Imported = "imported"
	Already  = "already imported" // by an earlier run: left as it is
	Conflict = "conflict"         // another esauth user has the email: left as it is
	Invalid  = "invalid"          // the document cannot become a user
)

// Outcome is what happened to one document.
type Outcome struct {
	ID     string `json:"id"`
	Email  string `json:"email_address,omitempty"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// Summary counts the outcomes.
type Summary struct {
	Read      int `json:"read"`
	Imported  int `json:"imported"`
	Already   int `json:"already_imported"`
	Conflicts int `json:"conflicts"`
	Invalid   int `json:"invalid"`
}

// Importer copies the users of a Flask app's index into esauth.
type Importer struct {
	Source Source
	Target Target
	Audit  audit.Recorder
	Actor  string // the audit events' actor
	Now    func() time.Time
	// DryRun reports what would happen and writes nothing.
	DryRun bool
}

// Run imports every document of index and reports the outcome of each.
// It is idempotent: each user is
// created with op_type create, so an email esauth has already is never
// overwritten; a user with the same created_at is the one an earlier run
// made (Already), any other is a Conflict. A store failure stops the run
// (what was imported stays; running it again goes on).
func (im Importer) Run(ctx context.Context, index string, report func(Outcome)) (Summary, error) {
	var sum Summary
	err := im.Source.Scan(ctx, index, func(id string, source json.RawMessage) error {
		sum.Read++
		out := Outcome{ID: id}
		u, err := ToUser(id, source, im.Now())
		if err != nil {
			out.Result, out.Reason = Invalid, err.Error()
			sum.Invalid++
			report(out)
			return nil
		}
		out.Email = u.Email
		res, err := im.one(ctx, u)
		if err != nil {
			return fmt.Errorf("%s: %w", u.Email, err)
		}
		out.Result = res
		switch res {
		case Imported:
			sum.Imported++
		case Already:
			sum.Already++
		case Conflict:
			sum.Conflicts++
			out.Reason = "an esauth user with this email exists"
		}
		report(out)
		return nil
	})
	return sum, err
}

func (im Importer) one(ctx context.Context, u user.User) (string, error) {
	if im.DryRun {
		existing, err := im.Target.GetUser(ctx, u.Email)
		switch {
		case errs.Is(err, errs.NotFound):
			return Imported, nil
		case err != nil:
			return "", err
		}
		return sameOrConflict(existing, u), nil
	}
	err := im.Target.CreateUser(ctx, u)
	switch {
	case err == nil:
		im.Audit.Record(audit.Event{Event: audit.Signup, Email: u.Email, Actor: im.Actor, UserAgent: "esauth import", Outcome: audit.Success})
		return Imported, nil
	case !errs.Is(err, errs.Conflict):
		return "", err
	}
	existing, err := im.Target.GetUser(ctx, u.Email)
	if err != nil {
		return "", err
	}
	return sameOrConflict(existing, u), nil
}

func sameOrConflict(existing, u user.User) string {
	if existing.CreatedAt.Equal(u.CreatedAt) {
		return Already
	}
	return Conflict
}
