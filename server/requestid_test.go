package server

import (
	"strings"
	"testing"
)

// TestNewRequestID: ids are 16 characters of lower-case base32 and do not
// repeat.
func TestNewRequestID(t *testing.T) {
	seen := map[string]bool{}
	for range 100000 {
		id := newRequestID()
		if len(id) != 16 || strings.Trim(id, idAlphabet) != "" {
			t.Fatalf("request id %q: want 16 characters of %s", id, idAlphabet)
		}
		if seen[id] {
			t.Fatalf("request id %q repeated", id)
		}
		seen[id] = true
	}
	// Every position takes every value: the bits are not stuck.
	for pos := range 16 {
		chars := map[byte]bool{}
		for id := range seen {
			chars[id[pos]] = true
		}
		if len(chars) != len(idAlphabet) {
			t.Fatalf("position %d takes %d of %d characters", pos, len(chars), len(idAlphabet))
		}
	}
}
