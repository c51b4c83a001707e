package workflow

import (
	"strings"
	"testing"

	"github.com/thecombine/combine"
)

func TestParseReply(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, text string
		doc, cl    bool
		errHas     string
	}{
		{"document", `{"document": {"title": "x"}}`, true, false, ""},
		{"clarification", `{"clarification": {"questions": []}}`, false, true, ""},
		{"fenced", "```json\n{\"document\": {\"title\": \"x\"}}\n```", true, false, ""},
		{"prose", `Here you go: {"document": {}}`, false, false, "not one JSON object"},
		{"trailing", `{"document": {}} thanks`, false, false, "after its JSON object"},
		{"both", `{"document": {}, "clarification": {}}`, false, false, "both"},
		{"neither", `{}`, false, false, "neither"},
		{"other key", `{"answer": {}}`, false, false, `"answer"`},
		{"document not an object", `{"document": "text"}`, false, false, "must be a JSON object"},
	}
	for _, tc := range cases {
		r, err := ParseReply(tc.text)
		if tc.errHas != "" {
			if combine.ErrorCode(err) != combine.EINVALID || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%s: err = %v, want EINVALID mentioning %q", tc.name, err, tc.errHas)
			}
			continue
		}
		if err != nil || (r.Document != nil) != tc.doc || (r.Clarification != nil) != tc.cl {
			t.Errorf("%s: reply = %+v, %v", tc.name, r, err)
		}
	}
}
