package account

import (
	"context"
	"time"

	"esauth/lib/audit"
	"esauth/lib/device"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/reqlog"
	"esauth/lib/session"
	"esauth/lib/user"
)

// NewDeviceWindow is how far back a login is compared: a client not seen
// in it is new.
const NewDeviceWindow = 90 * 24 * time.Hour

// newDeviceCheck bounds the comparison's wait: a slow audit index delays
// no login by more; the login then is not marked.
const newDeviceCheck = 500 * time.Millisecond

// loggedIn records a completed login of u (event: login_success or
// oauth_login) and, when the client's device family and network are not
// among the account's signups and logins of the last NewDeviceWindow,
// marks the event new_device and mails the owner a notice. An account
// with no such event in the window (imported, or dormant) is not compared:
// there is nothing to compare with. A failed comparison is logged and the
// login goes on unmarked. ESAUTH_NEW_DEVICE_NOTICE=false (noNewDevice)
// skips the comparison. One search per login; and, when the last login
// recorded is older than user.LastLoginEvery, one partial update of the
// user's last_login_at (for the admin's search).
func (s *Service) loggedIn(ctx context.Context, a Actor, u user.User, event string) {
	e := audit.Event{Event: event, Email: u.Email, Actor: u.Email, IP: a.IP, UserAgent: session.Clip(a.UserAgent, 512), Outcome: audit.Success,
		Device: device.Family(a.UserAgent), Network: device.Network(a.IP)}
	if !s.noNewDevice && (e.Device != "" || e.Network != "") {
		cctx, cancel := context.WithTimeout(ctx, newDeviceCheck)
		anyLogin, same, err := s.store.SeenClient(cctx, u.Email, e.Device, e.Network, s.now().Add(-NewDeviceWindow))
		cancel()
		switch {
		case err != nil:
			reqlog.From(ctx).Warnw("could not compare the login with recent ones; no new-device notice", "error", err)
		case anyLogin && !same:
			e.NewDevice = true
			s.mail.notify(ctx, a, u, mail.NewDevice)
		}
	}
	s.rec.Record(e)
	if now := s.now(); now.Sub(u.LastLoginAt) >= user.LastLoginEvery {
		if err := s.store.NoteLogin(ctx, u.Email, now); err != nil && !errs.Is(err, errs.NotFound) {
			reqlog.From(ctx).Warnw("could not record the last login", "error", err)
		}
	}
}
