package workflow

import (
	"encoding/json"
	"strings"
	"testing"
)

// withDescriptions returns the built-in definition under a new id with a
// "description" on the workflow, every document type, entity type and
// step — the only way the original Combine's
// software_product_development.v1.json differs from it in shape.
func withDescriptions(t *testing.T, id string) string {
	t.Helper()
	raw, err := builtinFS.ReadFile("builtin/software_product_development.json")
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	def["workflow_id"] = id
	def["description"] = "End-to-end workflow for software product creation from discovery through implementation"
	for _, group := range []string{"document_types", "entity_types"} {
		for name, v := range def[group].(map[string]any) {
			v.(map[string]any)["description"] = "What a " + name + " is for"
		}
	}
	var steps func([]any)
	steps = func(list []any) {
		for _, s := range list {
			step := s.(map[string]any)
			step["description"] = "Step " + step["step_id"].(string)
			if nested, ok := step["steps"].([]any); ok {
				steps(nested)
			}
		}
	}
	steps(def["steps"].([]any))
	b, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOriginalVariantWithDescriptionsLoads: a definition that only adds
// descriptions (as the original's files do) loads, flat or in the
// original's releases layout, and keeps the descriptions.
func TestOriginalVariantWithDescriptionsLoads(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"spd_flat.json": withDescriptions(t, "spd_flat"),
		"spd_nested/releases/1.0.0/definition.json": withDescriptions(t, "spd_nested"),
	})
	reg, err := Load(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"spd_flat", "spd_nested"} {
		wf, err := reg.FindWorkflow(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		step, _ := wf.FindStep("implementation_notes")
		if wf.Description == "" || wf.DocumentTypes["epic_backlog"].Description == "" || wf.EntityTypes["story"].Description == "" ||
			step == nil || step.Description != "Step implementation_notes" {
			t.Fatalf("%s lost its descriptions: %+v", id, wf)
		}
	}
	if w := reg.Warnings(); len(w) != 0 {
		t.Fatalf("warnings = %v", w)
	}
}

// TestReleasesLayout: of <id>/releases/<version>/definition.json the
// newest version loads; the older one and a JSON file in no known layout
// are named in warnings; a definition whose workflow_id is not its
// directory's is refused.
func TestReleasesLayout(t *testing.T) {
	t.Parallel()
	older := strings.Replace(baseDefinition, `"revision": "1"`, `"revision": "1.9.0"`, 1)
	newer := strings.Replace(baseDefinition, `"revision": "1"`, `"revision": "1.10.0"`, 1)
	dir := writeFiles(t, map[string]string{
		"tiny/releases/1.9.0/definition.json":  older,
		"tiny/releases/1.10.0/definition.json": newer,
		"tiny/notes/draft.json":                `{}`,
		"tiny/README.md":                       "not json",
	})
	reg, err := Load(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	wf, err := reg.FindWorkflow(t.Context(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if wf.Revision != "1.10.0" {
		t.Fatalf("loaded revision %s, want the newest release 1.10.0", wf.Revision)
	}
	w := strings.Join(reg.Warnings(), "\n")
	if !strings.Contains(w, "tiny/releases/1.9.0/definition.json not loaded") || !strings.Contains(w, "tiny/notes/draft.json not loaded") ||
		len(reg.Warnings()) != 2 {
		t.Fatalf("warnings = %v", reg.Warnings())
	}

	bad := writeFiles(t, map[string]string{"other/releases/1.0.0/definition.json": baseDefinition})
	le := loadErr(t, Options{Dir: bad})
	if !strings.Contains(le.Error(), `does not match its directory "other"`) {
		t.Fatalf("error = %v", le)
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.10.0", "1.9.2", 1}, {"1.0.0", "1.0.0", 0}, {"2.0", "2.0.1", -1}, {"v3", "2", 1}, {"1.0.0-rc1", "1.0.0-rc2", -1},
	} {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
