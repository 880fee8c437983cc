// Package passkeytest is a software authenticator for tests only: a
// P-256 key per credential, signing real authenticator data and client
// data, as a browser with a platform authenticator would. It does what a
// browser does with the options esauth sends (navigator.credentials
// .create and .get, as JSON), and its knobs make it misbehave the ways
// the tests need: another origin, another RP id, a replayed answer, a
// counter that goes back (a cloned key), no user verification.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Authenticator is a platform authenticator with its browser. The zero
// value is not usable: use New.
type Authenticator struct {
	// Origin is where the "browser" runs the ceremony (client data's
	// origin); RPID, when set, is the RP id it signs for instead of the
	// one the options name.
	Origin string
	RPID   string
	// UserVerified: the authenticator verifies its user (PIN, biometry).
	// BackupEligible, BackupState: a synced passkey.
	UserVerified, BackupEligible, BackupState bool
	// AAGUID names the model (16 bytes; zero when nil).
	AAGUID []byte
	// NoCounter: every assertion says counter 0, as synced passkeys do
	// (so a replay is caught by the ceremony alone, not by the counter).
	NoCounter bool

	mu    sync.Mutex
	creds map[string]*Credential
}

// Credential is one passkey the authenticator holds.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	SignCount  uint32
	key        *ecdsa.PrivateKey
}

// New returns an authenticator whose browser runs at origin, verifying
// its user.
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, UserVerified: true, creds: map[string]*Credential{}}
}

// Clone copies the authenticator with its keys and counters, as an
// attacker who extracted them would.
func (a *Authenticator) Clone() *Authenticator {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := &Authenticator{Origin: a.Origin, RPID: a.RPID, UserVerified: a.UserVerified, BackupEligible: a.BackupEligible, BackupState: a.BackupState, AAGUID: a.AAGUID, NoCounter: a.NoCounter, creds: map[string]*Credential{}}
	for k, c := range maps.All(a.creds) {
		cp := *c
		b.creds[k] = &cp
	}
	return b
}

// Credentials lists what it holds.
func (a *Authenticator) Credentials() []Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Credential
	for _, c := range a.creds {
		out = append(out, *c)
	}
	return out
}

// Forget drops every credential (a new device).
func (a *Authenticator) Forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.creds = map[string]*Credential{}
}

var b64 = base64.RawURLEncoding

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Exclude []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		Allow     []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// ErrExcluded is a registration of an authenticator that holds one of
// the excluded credentials (the browser's InvalidStateError).
var ErrExcluded = errors.New("passkeytest: this authenticator already holds one of the excluded credentials")

// ErrNoCredential is a login for which it holds nothing (NotAllowedError).
var ErrNoCredential = errors.New("passkeytest: no credential for this request")

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) flags(attested bool) byte {
	f := byte(0x01) // UP
	if a.UserVerified {
		f |= 0x04
	}
	if a.BackupEligible {
		f |= 0x08
	}
	if a.BackupState {
		f |= 0x10
	}
	if attested {
		f |= 0x40
	}
	return f
}

func (a *Authenticator) rpFor(named string) string {
	if a.RPID != "" {
		return a.RPID
	}
	return named
}

// Create answers navigator.credentials.create(options): a new resident
// P-256 credential, "none" attestation. It returns the credential's JSON
// as a browser's PublicKeyCredential.toJSON() gives it.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range o.PublicKey.Exclude {
		if _, ok := a.creds[ex.ID]; ok {
			return nil, ErrExcluded
		}
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("user.id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	rp := a.rpFor(o.PublicKey.RP.ID)
	c := &Credential{ID: id, RPID: rp, UserHandle: handle, key: key}
	a.creds[b64.EncodeToString(id)] = c

	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := pub.Bytes() // 0x04 | X | Y
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: raw[1:33], YCoord: raw[33:],
	})
	if err != nil {
		return nil, err
	}
	aaguid := make([]byte, 16)
	copy(aaguid, a.AAGUID)
	rpHash := sha256.Sum256([]byte(rp))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags(true))
	auth = binary.BigEndian.AppendUint32(auth, 0)
	auth = append(auth, aaguid...)
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(id)))
	auth = append(auth, id...)
	auth = append(auth, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal", "hybrid"},
		},
	})
}

// Get answers navigator.credentials.get(options) with the credential it
// holds for the options' RP (one of allowCredentials, if listed), its
// counter one up.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	a.mu.Lock()
	var c *Credential
	for _, cand := range a.creds {
		if cand.RPID != a.rpFor(o.PublicKey.RPID) && a.RPID == "" {
			continue
		}
		if len(o.PublicKey.Allow) == 0 {
			c = cand
			break
		}
		for _, al := range o.PublicKey.Allow {
			if al.ID == b64.EncodeToString(cand.ID) {
				c = cand
			}
		}
	}
	if c == nil {
		a.mu.Unlock()
		return nil, ErrNoCredential
	}
	if !a.NoCounter {
		c.SignCount++
	}
	cred := *c
	a.mu.Unlock()
	return a.Sign(cred, o.PublicKey.Challenge)
}

// Sign makes the assertion of cred for challenge, as it stands (its
// counter as given): the tests' way to answer with a chosen counter, or
// with another credential's id.
func (a *Authenticator) Sign(cred Credential, challenge string) ([]byte, error) {
	rpHash := sha256.Sum256([]byte(a.rpFor(cred.RPID)))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags(false))
	auth = binary.BigEndian.AppendUint32(auth, cred.SignCount)
	cd := a.clientData("webauthn.get", challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(cred.ID), "rawId": b64.EncodeToString(cred.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(auth),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(cred.UserHandle),
		},
	})
}

// Challenge is the challenge of options (a creation's or a request's).
func Challenge(options []byte) string {
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	_ = json.Unmarshal(options, &o)
	return o.PublicKey.Challenge
}
