package breached

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

// TestEveryLineOfTheEmbeddedFileIsInTheSet reads the embedded file on its
// own and checks that NewScreener lost no entry and changed none: the file
// is lower-case and trimmed already, as Django ships it.
func TestEveryLineOfTheEmbeddedFileIsInTheSet(t *testing.T) {
	s, err := NewScreener()
	if err != nil {
		t.Fatalf("NewScreener: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		t.Fatalf("the embedded file is not gzip: %v", err)
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 19640 {
		t.Errorf("the embedded file has %d lines; want the 19,640 of Django 5.2.19 (update NOTICE if the file changed)", len(lines))
	}
	for _, line := range lines {
		if line != strings.ToLower(strings.TrimSpace(line)) {
			t.Errorf("line %q is not lower-case and trimmed, so Check could never match it", line)
		}
		if _, ok := s.common[line]; !ok {
			t.Errorf("line %q is not in the set", line)
		}
	}
	if s.Len() != len(lines) {
		t.Errorf("the set has %d entries and the file %d distinct lines; want the same", s.Len(), len(lines))
	}
}
