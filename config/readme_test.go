package config

import (
	"os"
	"strings"
	"testing"
)

// The README's settings table is generated from the same list Load reads;
// this test fails when one changes without the other.
func TestREADMESettingsTableMatchesTheCode(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	const begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the settings markers")
	}
	got := readme[i+len(begin) : j]
	if got != Markdown() {
		t.Errorf("README settings table is stale; regenerate it with `go run . settings`.\nREADME:\n%s\ncode:\n%s", got, Markdown())
	}
}
