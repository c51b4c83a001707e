package workflow

import (
	"context"
	"os"
	"testing"

	"github.com/thecombine/combine"
)

func loadBuiltin(t *testing.T) *Registry {
	t.Helper()
	reg, err := Load(Options{})
	if err != nil {
		t.Fatalf("load built-ins: %v", err)
	}
	return reg
}

func TestBuiltinLoads(t *testing.T) {
	t.Parallel()
	reg := loadBuiltin(t)
	wf, err := reg.FindWorkflow(context.Background(), "software_product_development")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(wf.Steps); got != 4 {
		t.Errorf("top-level steps = %d, want 4", got)
	}
	s, parents := wf.FindStep("implementation_notes")
	if s == nil || len(parents) != 2 || parents[0].ID != "for_each_epic" || parents[1].ID != "for_each_story" {
		t.Fatalf("FindStep(implementation_notes) = %v, %v", s, parents)
	}
	for _, id := range []string{"project_discovery", "epic_backlog", "project_architecture", "epic_architecture", "story_backlog", "implementation_notes"} {
		sp, err := reg.StepPrompts(context.Background(), wf.ID, id)
		if err != nil {
			t.Fatalf("StepPrompts(%s): %v", id, err)
		}
		if sp.Role.Text == "" || sp.Task.Text == "" || len(sp.Task.SHA256) != 64 || sp.Task.Version != "v1" {
			t.Errorf("StepPrompts(%s) = %+v", id, sp)
		}
		if sch, err := reg.DocumentSchema(context.Background(), wf.ID, id); err != nil || sch == nil {
			t.Errorf("DocumentSchema(%s) = %s, %v", id, sch, err)
		}
	}
	if _, err := reg.StepPrompts(context.Background(), wf.ID, "for_each_epic"); combine.ErrorCode(err) != combine.EINVALID {
		t.Errorf("StepPrompts(iteration) err = %v, want EINVALID", err)
	}
	if _, err := reg.FindWorkflow(context.Background(), "nope"); combine.ErrorCode(err) != combine.ENOTFOUND {
		t.Errorf("FindWorkflow(nope) err = %v, want ENOTFOUND", err)
	}
}

// TestManifestUpToDate fails when a prompt file changed without the
// manifest being regenerated with `go generate ./workflow`.
func TestManifestUpToDate(t *testing.T) {
	t.Parallel()
	m, err := BuildManifest(os.DirFS("prompts"), ".")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := m.Encode()
	got, err := os.ReadFile("prompts/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("prompts/manifest.json is stale: review the prompt change, then run `go generate ./workflow`")
	}
}
