package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"esauth/lib/errs"
	"esauth/lib/user"
)

// errUnchanged stops an UpdateUser whose change would write nothing.
var errUnchanged = errors.New("unchanged")

// BackfillUserFacets sets every user's copies of its passkey count and
// linked providers (user.WaysIn) from the credentials and identities
// indices, writing only the users whose copy differs, and returns how many
// it wrote. esauth migrate runs it: users made before mapping version 3
// have no copies, and a copy a failed write left stale is put right. The
// two small indices are read whole into memory; the users index is read a
// page at a time.
func (s *Store) BackfillUserFacets(ctx context.Context) (int, error) {
	if err := s.refresh(ctx, s.credentials); err != nil {
		return 0, err
	}
	if err := s.refresh(ctx, s.identities); err != nil {
		return 0, err
	}
	keys := map[string][]user.Passkey{}
	if _, err := s.scan(ctx, "read passkeys", s.credentials, func(hits []Hit) error {
		for _, h := range hits {
			var p user.Passkey
			if json.Unmarshal(h.Source, &p) == nil {
				e := user.NormalizeEmail(p.Email)
				keys[e] = append(keys[e], p)
			}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	ids := map[string][]user.Identity{}
	if _, err := s.scan(ctx, "read identities", s.identities, func(hits []Hit) error {
		for _, h := range hits {
			var id user.Identity
			if json.Unmarshal(h.Source, &id) == nil {
				e := user.NormalizeEmail(id.Email)
				ids[e] = append(ids[e], id)
			}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	written := 0
	_, err := s.scan(ctx, "count passkeys and providers of users", s.users, func(hits []Hit) error {
		for _, h := range hits {
			var d userDoc
			if json.Unmarshal(h.Source, &d) != nil {
				continue
			}
			e := user.NormalizeEmail(d.Email)
			if n, p := user.WaysIn(d.toUser(), keys[e], ids[e]); n == d.Passkeys && slices.Equal(p, d.Providers) {
				continue
			}
			_, err := s.UpdateUser(ctx, d.Email, func(u *user.User) error {
				n, p := user.WaysIn(*u, keys[e], ids[e])
				if n == u.Passkeys && slices.Equal(p, u.Providers) {
					return errUnchanged
				}
				u.Passkeys, u.Providers = n, p
				return nil
			})
			switch {
			case err == nil:
				written++
			case errors.Is(err, errUnchanged), errs.Is(err, errs.NotFound):
			default:
				return err
			}
		}
		return nil
	})
	return written, err
}
