package combine_test

import (
	"strings"
	"testing"

	"github.com/thecombine/combine"
)

func TestTextCountsCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		n     int
		want  string
		count int
	}{
		{"abc", 2, "ab", 3},
		{"a" + strings.Repeat("é", 150), 100, "a" + strings.Repeat("é", 99), 151},
		{strings.Repeat("é", 151), 100, strings.Repeat("é", 100), 151},
		{"日本語テキスト", 3, "日本語", 7},
		{"👍🏽ok", 1, "👍", 4}, // a code point, not a grapheme
		{"short", 10, "short", 5},
		{"x", 0, "", 1},
	}
	for _, tt := range tests {
		if got := combine.TruncateText(tt.in, tt.n); got != tt.want {
			t.Errorf("TruncateText(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if got := combine.TextLen(tt.in); got != tt.count {
			t.Errorf("TextLen(%q) = %d, want %d", tt.in, got, tt.count)
		}
	}
}

func TestCheckText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"plain", true},
		{strings.Repeat("é", 100), true},  // 200 bytes, 100 characters
		{strings.Repeat("é", 101), false}, // over 100 characters
		{"a\x00b", false},
		{"a\xffb", false},
		{"\xed\xa0\x80", false}, // an encoded surrogate is not UTF-8
		{"", true},
	}
	for _, tt := range tests {
		err := combine.CheckText("name", tt.in, 100)
		if (err == nil) != tt.ok {
			t.Errorf("CheckText(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && combine.ErrorCode(err) != combine.EINVALID {
			t.Errorf("CheckText(%q): code %s", tt.in, combine.ErrorCode(err))
		}
	}
	if !combine.HasControl("a\tb") || !combine.HasControl("a\u0085b") || combine.HasControl("a b") {
		t.Error("HasControl")
	}
}
