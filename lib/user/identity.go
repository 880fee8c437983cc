package user

import "time"

// Identity links an account at an external provider (Provider, Subject:
// the provider's stable id for the person) to an esauth user.
type Identity struct {
	Provider string `json:"provider"`
	Subject  string `json:"subject"`
	// Email is the esauth user's email (the users index's key).
	Email string `json:"email_address"`
	// UserCreatedAt is when that user was created. A user deleted and
	// signed up again under the same email is another account, so an
	// identity whose UserCreatedAt differs from the user's is stale and
	// never logs anyone in.
	UserCreatedAt time.Time `json:"user_created_at"`
	// ProviderEmail is the address the provider gave when the link was
	// made (it may differ from Email), shown in the list of identities.
	ProviderEmail string    `json:"provider_email,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// Belongs reports whether the identity is linked to u (and not to an
// earlier account that had u's email).
func (id Identity) Belongs(u User) bool {
	return NormalizeEmail(id.Email) == NormalizeEmail(u.Email) && id.UserCreatedAt.Equal(u.CreatedAt)
}

// Profile is who a provider says logged in.
type Profile struct {
	// Provider is the configured provider name; Subject the provider's
	// stable id for the person (never their email, which can change).
	Provider, Subject string
	// Email is the address the provider gives, and EmailVerified whether
	// the provider says it checked that the person owns it. An address
	// that is not verified must never be used to find or make an account.
	Email         string
	EmailVerified bool
	FirstName     string
	LastName      string
}
