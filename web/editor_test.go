package web

import (
	"encoding/json"
	"net/url"
	"os"
	"reflect"
	"testing"
)

func discoverySchema(t *testing.T) *schemaNode {
	t.Helper()
	raw, err := os.ReadFile("../workflow/schemas/project_discovery.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseSchema(raw)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReadForm: the posted fields become the document the schema
// describes — order of rows kept across gaps, numbers and enums typed,
// empty optional values left out, required empty lists kept.
func TestReadForm(t *testing.T) {
	n := discoverySchema(t)
	form := url.Values{
		"doc/title":                      {"Shop"},
		"doc/summary":                    {"Line one\r\nline two"},
		"doc/goals/3":                    {"third typed, second shown"},
		"doc/goals/0":                    {"first"},
		"doc/goals/7":                    {""},
		"doc/non_goals/0":                {""},
		"doc/stakeholders/0/role":        {"Sales"},
		"doc/stakeholders/0/interest":    {"Orders"},
		"doc/stakeholders/0/influence":   {`"high"`},
		"doc/success_metrics/0/metric":   {"Orders"},
		"doc/success_metrics/0/target":   {"100"},
		"doc/success_metrics/0/baseline": {""},
	}
	got := readForm(n, form, false)
	want := map[string]any{
		"title": "Shop", "summary": "Line one\nline two",
		"goals":           []any{"first", "third typed, second shown"},
		"stakeholders":    []any{map[string]any{"role": "Sales", "interest": "Orders", "influence": "high"}},
		"success_metrics": []any{map[string]any{"metric": "Orders", "target": "100"}},
		"user_personas":   []any{}, "constraints": []any{}, "assumptions": []any{}, "risks": []any{},
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("readForm:\n got %s\nwant %s", gb, wb)
	}
	// Re-rendering keeps the empty rows a person added.
	kept := readForm(n, form, true).(map[string]any)
	if g := kept["goals"].([]any); len(g) != 3 || g[2] != nil {
		t.Fatalf("keepEmpty goals = %#v, want the empty third row kept", g)
	}
}

func TestApplyOp(t *testing.T) {
	doc := map[string]any{"goals": []any{"a", "b", "c"}, "stakeholders": []any{map[string]any{"role": "x"}}}
	applyOp(doc, "remove:doc/goals/1")
	applyOp(doc, "add:doc/stakeholders")
	applyOp(doc, "add:doc/non_goals")
	want := map[string]any{"goals": []any{"a", "c"}, "stakeholders": []any{map[string]any{"role": "x"}, nil}, "non_goals": []any{nil}}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("got %#v", doc)
	}
}

func TestProblemPath(t *testing.T) {
	for _, c := range []struct{ in, path, msg string }{
		{"$.goals: minItems: got 0, want 1", "doc/goals", "minItems: got 0, want 1"},
		{"$.stakeholders[0].influence: value must be one of 'low', 'medium', 'high'", "doc/stakeholders/0/influence", "value must be one of 'low', 'medium', 'high'"},
		{`$["odd key"][2]: bad`, "doc/odd key/2", "bad"},
		{`$["a/b"]: x`, "doc/a~1b", "x"},
		{"$: the document must be a JSON object", "doc", "the document must be a JSON object"},
		{"something else", "doc", "something else"},
	} {
		p, m := problemPath(c.in)
		if p != c.path || m != c.msg {
			t.Errorf("problemPath(%q) = %q, %q; want %q, %q", c.in, p, m, c.path, c.msg)
		}
	}
}

// TestBuildEditorProblems: each problem lands at the field it names, or
// at its nearest shown ancestor; problems about the document stay apart.
func TestBuildEditorProblems(t *testing.T) {
	n := discoverySchema(t)
	doc := map[string]any{"goals": []any{"g"}, "stakeholders": []any{map[string]any{"role": "r"}}}
	root, general := buildEditor("w1", n, doc, []string{
		"$.goals: minItems: got 0, want 1",
		"$.stakeholders[0].interest: missing required field \"interest\"",
		"$.stakeholders[5].role: gone",
		`$: unknown field "extra"`,
	})
	find := func(f *field, path string) *field {
		var walk func(*field) *field
		walk = func(f *field) *field {
			if f.Path == path {
				return f
			}
			for _, c := range append(append([]*field{}, f.Children...), f.Items...) {
				if r := walk(c); r != nil {
					return r
				}
			}
			return nil
		}
		return walk(f)
	}
	if f := find(root, "doc/goals"); f == nil || len(f.Problems) != 1 {
		t.Fatalf("goals problems: %+v", f)
	}
	if f := find(root, "doc/stakeholders/0/interest"); f == nil || len(f.Problems) != 1 || f.Kind != "textarea" {
		t.Fatalf("interest: %+v", f)
	}
	if f := find(root, "doc/stakeholders"); f == nil || len(f.Problems) != 1 || f.Problems[0] != "$.stakeholders[5].role: gone" {
		t.Fatalf("a problem about a row not shown goes to its list with its path: %+v", f)
	}
	if len(general) != 1 {
		t.Fatalf("general problems %v", general)
	}
	if f := find(root, "doc/stakeholders/0/influence"); f == nil || f.Kind != "select" || len(f.Options) != 4 || !f.Required {
		t.Fatalf("influence select: %+v", f)
	}
}

func TestDiffLeaves(t *testing.T) {
	a := []leaf{{"$.t", "Title", "A"}, {"$.g[0]", "Goals › 1", "x"}, {"$.g[1]", "Goals › 2", "y"}}
	b := []leaf{{"$.t", "Title", "B"}, {"$.g[0]", "Goals › 1", "x"}, {"$.g[1]", "Goals › 2", "y"}, {"$.r", "Rationale", "new"}}
	got := diffLeaves(a, b)
	want := []diffRow{{"changed", "Title", "A", "B"}, {"same", "Goals › 1", "x", "x"}, {"same", "Goals › 2", "y", "y"}, {"added", "Rationale", "", "new"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("diff:\n got %+v\nwant %+v", got, want)
	}
	if big := diffByKey(a, b); len(big) != 4 || big[0].Op != "changed" || big[3].Op != "added" {
		t.Fatalf("diffByKey %+v", big)
	}
}
