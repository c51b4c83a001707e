package llm

import (
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPriceCost(t *testing.T) {
	t.Parallel()
	p := Price{Input: 3, Output: 15, CacheRead: 0.30, CacheWrite: 3.75}
	// 1,000 plain + 2,000 read + 500 written input tokens, 400 output.
	got := p.Cost(Usage{InputTokens: 3500, CacheReadTokens: 2000, CacheWriteTokens: 500, OutputTokens: 400})
	want := (1000*3 + 2000*0.30 + 500*3.75 + 400*15) / 1e6
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("cost %v, want %v", got, want)
	}
}

func TestPriceLookup(t *testing.T) {
	t.Parallel()
	p := BuiltinPrices()
	for _, tc := range []struct {
		model string
		ok    bool
	}{
		{DefaultAnthropicModel, true}, {DefaultOpenAIModel, true}, {"claude-haiku-4-5-20251001", true},
		{"gpt-5-2025-08-07", true}, {"llama3.1", false}, {"claude-sonnet-4-5-2025", false},
	} {
		if _, ok := p.Lookup(tc.model); ok != tc.ok {
			t.Errorf("Lookup(%q) = %v, want %v", tc.model, ok, tc.ok)
		}
	}
	if pr, _ := p.Lookup(DefaultAnthropicModel); pr.ToolChoice != "auto" {
		t.Errorf("%s must not be forced to use a tool", DefaultAnthropicModel)
	}
}

func TestParsePrices(t *testing.T) {
	t.Parallel()
	p, err := ParsePrices([]byte(`{"models": {"llama3.1": {"provider": "openai", "input": 0, "output": 0},
		"claude-sonnet-5-5": {"provider": "anthropic", "input": 1, "output": 2, "cache_read": 0.1, "cache_write": 1.25, "tool_choice": "any"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if pr, ok := p.Lookup("llama3.1"); !ok || pr.Provider != ProviderOpenAI {
		t.Errorf("added model %+v %v", pr, ok)
	}
	if pr, _ := p.Lookup("claude-sonnet-5-5"); pr.Input != 1 || pr.ToolChoice != "any" {
		t.Errorf("overridden model %+v", pr)
	}
	if _, ok := p.Lookup("gpt-5"); !ok {
		t.Error("built-in models dropped")
	}
	for _, bad := range []string{`{}`, `{"models": {}}`, `{"models": {"x": {"provider": "acme"}}}`,
		`{"models": {"x": {"provider": "openai", "input": -1}}}`, `{"models": {"x": {"provider": "openai", "tool_choice": "tool"}}}`,
		`{"models": {"x": {"provider": "openai", "colour": "red"}}}`, `not json`} {
		if _, err := ParsePrices([]byte(bad)); err == nil {
			t.Errorf("ParsePrices(%s) accepted", bad)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond},
		{http.Header{"Retry-After": {now.Add(3 * time.Second).Format(http.TimeFormat)}}, 3 * time.Second},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{}, 0},
	} {
		if got := retryAfter(tc.h, now); got != tc.want {
			t.Errorf("retryAfter(%v) = %s, want %s", tc.h, got, tc.want)
		}
	}
}

// TestBuiltinSchemasQualifyForStrict: every built-in document schema and
// the clarification schema have a strict form, and that form follows the
// strict rules everywhere (every property required, no extra properties,
// a type on every node).
func TestBuiltinSchemasQualifyForStrict(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("..", "workflow", "schemas", "*.json"))
	files = append(files, filepath.Join("..", "workflow", "meta", "clarification_questions.v1.schema.json"))
	if len(files) < 7 {
		t.Fatalf("found %d schemas", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := cleanSchema(b)
		if err != nil {
			t.Fatal(err)
		}
		strict, ok := strictSchema(s)
		if !ok {
			t.Errorf("%s: no strict form", filepath.Base(f))
			continue
		}
		checkStrict(t, filepath.Base(f), "$", strict)
	}
	// What strict mode cannot express is sent non-strict.
	if _, ok := strictSchema(map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}); ok {
		t.Error("a map type passed as strict")
	}
	if _, ok := strictSchema(map[string]any{"oneOf": []any{map[string]any{"type": "string"}}}); ok {
		t.Error("oneOf passed as strict")
	}
}

func checkStrict(t *testing.T, file, path string, n map[string]any) {
	t.Helper()
	if alts, ok := n["anyOf"].([]any); ok {
		for _, a := range alts {
			checkStrict(t, file, path, a.(map[string]any))
		}
		return
	}
	if n["type"] == nil {
		t.Errorf("%s %s: no type", file, path)
	}
	for _, k := range []string{"minLength", "maxLength", "$schema", "$id", "title"} {
		if _, has := n[k]; has {
			t.Errorf("%s %s: keeps %s", file, path, k)
		}
	}
	switch primaryType(n["type"]) {
	case "object":
		props := n["properties"].(map[string]any)
		req := n["required"].([]any)
		if len(req) != len(props) || n["additionalProperties"] != false {
			t.Errorf("%s %s: %d of %d properties required, additionalProperties %v", file, path, len(req), len(props), n["additionalProperties"])
		}
		for k, p := range props {
			checkStrict(t, file, path+"."+k, p.(map[string]any))
		}
	case "array":
		checkStrict(t, file, path+"[]", n["items"].(map[string]any))
	}
}

// TestStrictAnswerLosesItsNulls: the nulls a strict answer gives for
// optional fields are removed; required fields and fields whose own
// schema allows null keep them.
func TestStrictAnswerLosesItsNulls(t *testing.T) {
	t.Parallel()
	schema := json.RawMessage(`{"type": "object", "required": ["title", "items"], "properties": {
		"title": {"type": "string"}, "summary": {"type": "string"}, "note": {"type": ["string", "null"]},
		"items": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "extra": {"type": "string"}}}}}}`)
	doc := json.RawMessage(`{"title": "T", "summary": null, "note": null, "items": [{"id": "a", "extra": null}]}`)
	got := string(withoutNulls(doc, schema))
	if got != `{"items":[{"id":"a"}],"note":null,"title":"T"}` {
		t.Errorf("got %s", got)
	}
}

func TestInterpret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a    answer
		want string // "document", "questions" or a problem substring
	}{
		{"tool document", answer{Format: formatTools, Tool: toolDocument, Input: json.RawMessage(`{"title": "x"}`)}, "document"},
		{"tool questions", answer{Format: formatTools, Tool: toolClarification, Input: json.RawMessage(`{"questions": [{"id": "a", "text": "Why?"}]}`)}, "questions"},
		{"text reply", answer{Format: formatTools, Text: `{"document": {"title": "x"}}`}, "document"},
		{"prose", answer{Format: formatTools, Text: "I think so."}, "not one JSON object"},
		{"cut off", answer{Format: formatTools, Tool: toolDocument, Input: json.RawMessage(`{}`), StopReason: "max_tokens"}, "cut off"},
		{"envelope document", answer{Format: formatEnvelope, Text: `{"document": {"title": "x"}, "clarification": null}`}, "document"},
		{"envelope both", answer{Format: formatEnvelope, Text: `{"document": {}, "clarification": {"questions": []}}`}, "both"},
		{"envelope neither", answer{Format: formatEnvelope, Text: `{"document": null, "clarification": null}`}, "neither"},
		{"refusal", answer{Format: formatEnvelope, Refusal: "I can't help with that."}, "refused"},
		{"document not an object", answer{Format: formatEnvelope, Text: `{"document": [1], "clarification": null}`}, "JSON object"},
	} {
		res := interpret(&tc.a, nil)
		var got string
		switch {
		case res.Document != nil:
			got = "document"
		case len(res.Questions) > 0:
			got = "questions"
		default:
			got = strings.Join(res.Problems, "; ")
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
