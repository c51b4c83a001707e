package combine

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text limits count characters (Unicode code points), never bytes, and
// text is cut only on a character boundary. Text that a database cannot
// store the same way everywhere — a NUL, or bytes that are not UTF-8 — is
// refused, so SQLite and PostgreSQL hold the same thing.

// ValidText reports whether s is UTF-8 without a NUL character: text that
// both databases store unchanged.
func ValidText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// TextLen is the length of s in characters (code points).
func TextLen(s string) int { return utf8.RuneCountInString(s) }

// TruncateText returns s cut to at most n characters, on a character
// boundary (an invalid byte counts as one character and is kept whole).
func TruncateText(s string, n int) string {
	if n <= 0 {
		return ""
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// CheckText refuses (EINVALID) text that is not storable or is longer
// than max characters (max ≤ 0: no limit). field names it in the message.
func CheckText(field, s string, max int) error {
	if !ValidText(s) {
		return Errorf(EINVALID, "%s must be UTF-8 text without NUL characters", field)
	}
	if max > 0 && TextLen(s) > max {
		return Errorf(EINVALID, "%s is longer than %d characters", field, max)
	}
	return nil
}

// HasControl reports whether s holds a control character (C0, DEL or C1),
// which no name, email address or identifier may contain.
func HasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}
