package breached

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// PwnedPasswordsURL is the base URL of Have I Been Pwned's Pwned Passwords
// API, which Pwned uses when its BaseURL is empty.
const PwnedPasswordsURL = "https://api.pwnedpasswords.com"

// maxRangeAnswer bounds how much of an answer Breached reads. A real answer,
// padded, is a few tens of kilobytes; anything past 2 MiB is not one.
const maxRangeAnswer = 2 << 20

// Pwned asks a Have I Been Pwned–style k-anonymity range API whether a
// password has appeared in a breach: GET {BaseURL}/range/{first 5 hex
// characters of the password's SHA-1}, whose answer lists the remaining 35
// characters of every breached hash with that prefix as "SUFFIX:COUNT"
// lines. Only those 5 characters leave the process; the password, its full
// hash and the suffix never do.
type Pwned struct {
	// BaseURL is the API's base URL without "/range"; empty means
	// PwnedPasswordsURL.
	BaseURL string
	// Client makes the request; nil means http.DefaultClient. It should
	// have a timeout, or the ctx given to Breached a deadline.
	Client *http.Client
}

// Breached reports whether password is in the range API's breach corpus
// with a count above zero. The request asks for padding (Add-Padding: true),
// so every answer has about the same size whatever the prefix; the padding
// lines have a count of 0 and are not matches.
//
// A network error, a status other than 200, an answer over 2 MiB or a line
// that is not "SUFFIX:COUNT" is returned as an error, and so is ctx ending.
// The check is optional defence in depth: the caller should log a warning
// and go on as if the password were not breached, not refuse the request.
func (p *Pwned) Breached(ctx context.Context, password string) (bool, error) {
	sum := sha1.Sum([]byte(password))
	hash := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := hash[:5], hash[5:]

	base := p.BaseURL
	if base == "" {
		base = PwnedPasswordsURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/range/"+prefix, nil)
	if err != nil {
		return false, fmt.Errorf("breached: range request: %w", err)
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "esauth")
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("breached: range request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("breached: range API answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRangeAnswer+1))
	if err != nil {
		return false, fmt.Errorf("breached: reading the range answer: %w", err)
	}
	if len(body) > maxRangeAnswer {
		return false, fmt.Errorf("breached: range answer is larger than %d bytes", maxRangeAnswer)
	}
	return findSuffix(body, suffix)
}

// findSuffix reports whether the range answer body lists suffix with a count
// above zero. Every line must parse: an answer that does not, such as an
// HTML error page served with a 200, is an error rather than a "no".
func findSuffix(body []byte, suffix string) (bool, error) {
	found := false
	for n, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSpace(line) // the API ends lines with CRLF
		if len(line) == 0 {
			continue
		}
		s, c, ok := bytes.Cut(line, []byte(":"))
		count, err := strconv.ParseUint(string(c), 10, 64)
		if !ok || len(s) != len(suffix) || err != nil {
			return false, fmt.Errorf("breached: range answer line %d is not SUFFIX:COUNT", n+1)
		}
		if count > 0 && strings.EqualFold(string(s), suffix) {
			found = true
		}
	}
	return found, nil
}
