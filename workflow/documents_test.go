package workflow

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/thecombine/combine"
)

const spd = "software_product_development"

func readDoc(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/documents/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidateDocument(t *testing.T) {
	t.Parallel()
	reg := loadBuiltin(t)
	cases := []struct {
		name, docType, fixture string
		mutate                 func(d map[string]any)
		want                   []string // paths with a problem; none = valid
	}{
		{"valid discovery", "project_discovery", "project_discovery", nil, nil},
		{"valid epic backlog", "epic_backlog", "epic_backlog", nil, nil},
		{"valid story backlog", "story_backlog", "story_backlog", nil, nil},
		{"valid project architecture", "project_architecture", "project_architecture", nil, nil},
		{"valid epic architecture", "epic_architecture", "epic_architecture", nil, nil},
		{"valid implementation notes", "implementation_notes", "implementation_notes", nil, nil},
		{"test plan must not be empty", "implementation_notes", "implementation_notes", func(d map[string]any) { d["test_plan"] = []any{} }, []string{"$.test_plan"}},
		{"missing required field", "project_discovery", "project_discovery", func(d map[string]any) { delete(d, "goals") }, []string{"$.goals"}},
		{"unknown field", "project_discovery", "project_discovery", func(d map[string]any) { d["budget"] = 1 }, []string{"$.budget"}},
		{"bad priority deep inside", "epic_backlog", "epic_backlog", func(d map[string]any) {
			d["epics"].([]any)[1].(map[string]any)["priority"] = "urgent"
		}, []string{"$.epics[1].priority"}},
		{"epic without id", "epic_backlog", "epic_backlog", func(d map[string]any) {
			delete(d["epics"].([]any)[0].(map[string]any), "id")
		}, []string{"$.epics[0].id"}},
		{"duplicate epic ids", "epic_backlog", "epic_backlog", func(d map[string]any) {
			d["epics"].([]any)[1].(map[string]any)["id"] = "EP-01"
		}, []string{"$.epics[1].id"}},
		{"empty epics", "epic_backlog", "epic_backlog", func(d map[string]any) { d["epics"] = []any{} }, []string{"$.epics"}},
		{"duplicate story ids", "story_backlog", "story_backlog", func(d map[string]any) {
			d["stories"].([]any)[0].(map[string]any)["id"] = "EP-01-ST-02"
		}, []string{"$.stories[1].id"}},
		{"bad estimate", "story_backlog", "story_backlog", func(d map[string]any) {
			d["stories"].([]any)[0].(map[string]any)["estimate_points"] = 4
		}, []string{"$.stories[0].estimate_points"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := readDoc(t, tc.fixture)
			if tc.mutate != nil {
				tc.mutate(d)
			}
			b, _ := json.Marshal(d)
			ps, err := reg.ValidateDocument(context.Background(), spd, tc.docType, b)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, p := range ps {
				if p.Code != CodeDocumentSchema || p.Message == "" {
					t.Errorf("problem %+v", p)
				}
				paths = append(paths, p.Path)
			}
			if !slices.Equal(paths, tc.want) {
				t.Fatalf("problem paths = %v, want %v (%s)", paths, tc.want, render(ps))
			}
		})
	}
}

func TestValidateDocumentRefusals(t *testing.T) {
	t.Parallel()
	reg := loadBuiltin(t)
	ctx := context.Background()
	for _, raw := range []string{`[1,2]`, `{"title":`, `"text"`} {
		ps, err := reg.ValidateDocument(ctx, spd, "project_discovery", json.RawMessage(raw))
		if err != nil || len(ps) != 1 || ps[0].Code != CodeDocumentJSON || ps[0].Path != "$" {
			t.Errorf("ValidateDocument(%s) = %+v, %v", raw, ps, err)
		}
	}
	if _, err := reg.ValidateDocument(ctx, spd, "memo", json.RawMessage(`{}`)); combine.ErrorCode(err) != combine.ENOTFOUND {
		t.Errorf("unknown doc type err = %v", err)
	}
	if _, err := reg.ValidateDocument(ctx, "nope", "memo", json.RawMessage(`{}`)); combine.ErrorCode(err) != combine.ENOTFOUND {
		t.Errorf("unknown workflow err = %v", err)
	}
	if _, err := reg.DocumentSchema(ctx, spd, "memo"); combine.ErrorCode(err) != combine.ENOTFOUND {
		t.Errorf("DocumentSchema(unknown) err = %v", err)
	}
}

func TestValidateClarification(t *testing.T) {
	t.Parallel()
	reg := loadBuiltin(t)
	q := func(id string) map[string]any {
		return map[string]any{"id": id, "text": "Who are the users?", "why_it_matters": "Personas drive the backlog.", "priority": "must", "blocking": true}
	}
	cases := []struct {
		name string
		set  any
		want []string
	}{
		{"valid", map[string]any{"questions": []any{q("users"), q("deadline")}}, nil},
		{"six questions", map[string]any{"questions": []any{q("a"), q("b"), q("c"), q("d"), q("e"), q("f")}}, []string{"$.questions"}},
		{"none", map[string]any{"questions": []any{}}, []string{"$.questions"}},
		{"not a question", map[string]any{"questions": []any{func() any { m := q("a"); m["text"] = "Tell me the users."; return m }()}}, []string{"$.questions[0].text"}},
		{"bad priority", map[string]any{"questions": []any{func() any { m := q("a"); m["priority"] = "urgent"; return m }()}}, []string{"$.questions[0].priority"}},
		{"blocking missing", map[string]any{"questions": []any{func() any { m := q("a"); delete(m, "blocking"); return m }()}}, []string{"$.questions[0].blocking"}},
		{"duplicate ids", map[string]any{"questions": []any{q("a"), q("a")}}, []string{"$.questions[1].id"}},
	}
	for _, tc := range cases {
		b, _ := json.Marshal(tc.set)
		var paths []string
		for _, p := range reg.ValidateClarification(b) {
			paths = append(paths, p.Path)
		}
		if !slices.Equal(paths, tc.want) {
			t.Errorf("%s: problem paths = %v, want %v", tc.name, paths, tc.want)
		}
	}
	var sch map[string]any
	if err := json.Unmarshal(reg.ClarificationSchema(), &sch); err != nil || sch["$schema"] == nil {
		t.Errorf("ClarificationSchema = %v, %v", sch, err)
	}
}

// TestCollectionItemIDs: a collection's items carry their id as "id" or as
// "<entity_type>_id" (the original Combine's prompts ask for epic_id);
// either must be a unique, well-formed string.
func TestCollectionItemIDs(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"tiny.json": baseDefinition})
	reg, err := Load(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	wf, _ := reg.FindWorkflow(context.Background(), "tiny")
	var docType, field, entity string
	for name, dt := range wf.DocumentTypes {
		if dt.CollectionField != "" && dt.Scope == "project" {
			docType, field, entity = name, dt.CollectionField, dt.MayOwn[0]
		}
	}
	for _, c := range []struct {
		items string
		want  []string
	}{
		{`[{"id": "E1"}, {"` + entity + `_id": "E2"}]`, nil},
		{`[{"` + entity + `_id": "E1"}, {"` + entity + `_id": "E1"}]`, []string{"$." + field + "[1]." + entity + "_id"}},
		{`[{"name": "no id"}]`, []string{"$." + field + "[0].id"}},
		{`[{"` + entity + `_id": "a b"}]`, []string{"$." + field + "[0]." + entity + "_id"}},
		{`[{"id": 7}]`, []string{"$." + field + "[0].id"}},
	} {
		content := `{"title": "t", "` + field + `": ` + c.items + `}`
		ps, err := reg.ValidateDocument(context.Background(), "tiny", docType, json.RawMessage(content))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.Path)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: problems at %v (%+v), want %v", content, got, ps, c.want)
		}
	}
}
