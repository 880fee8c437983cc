package web

import (
	"os"
	"strings"
	"testing"
)

// The README quotes the pages' Content-Security-Policy; it once said
// img-src 'self' while the pages sent 'self' data: (issue 17). This test
// fails when the two part.
func TestTheREADMEQuotesThePagesContentSecurityPolicy(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(b)), " ")
	if want := "`Content-Security-Policy: " + contentSecurityPolicy + "`"; !strings.Contains(readme, want) {
		t.Errorf("README.md does not quote %s", want)
	}
}
