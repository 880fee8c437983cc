package elastic

import (
	"context"

	"esauth/lib/page"
	"esauth/lib/seal"
	"esauth/lib/user"
)

// UsersWithSecondFactor counts the users whose second factor is on, whose
// documents hold a TOTP secret (the secret itself is not indexed, so the
// count is of totp_enabled_at). The server refuses to start without
// ESAUTH_DATA_KEYS when there are any: it could not open a sealed secret,
// and must not write a new one in clear beside them.
func (s *Store) UsersWithSecondFactor(ctx context.Context) (int, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	return s.count(ctx, "count users with a second factor", s.users,
		map[string]any{"exists": map[string]any{"field": "totp_enabled_at"}})
}

// ResealSecrets writes every user whose TOTP secret is in clear, or sealed
// with another key than the ring's first, again: the write seals it with
// the first key (esauth keys rotate). Users are read through the alias,
// newest first, by pages; each write is the conditional update of
// UpdateUser, so a user changed meanwhile is read again, never overwritten.
// It returns how many users it sealed again.
func (s *Store) ResealSecrets(ctx context.Context) (int, error) {
	if s.secrets == nil {
		return 0, nil
	}
	if err := s.refresh(ctx, s.users); err != nil {
		return 0, err
	}
	n := 0
	var after *page.Cursor
	for {
		batch, next, _, err := s.SearchUsers(ctx, user.Search{}, after, page.MaxSize)
		if err != nil {
			return n, err
		}
		for _, u := range batch {
			if u.TOTPSecret == "" || seal.KeyOf(u.TOTPSecret) == s.secrets.Sealing() {
				continue
			}
			if _, err := s.UpdateUser(ctx, u.Email, func(*user.User) error { return nil }); err != nil {
				return n, err
			}
			n++
		}
		if next == nil {
			return n, nil
		}
		after = next
	}
}
