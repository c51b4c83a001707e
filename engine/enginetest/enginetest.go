// Package enginetest holds what the engine's and the HTTP layer's tests
// share: the real workflow registry loaded with the built-ins and a small
// test workflow ("tiny": discovery → epic backlog (pm accepts) → per epic:
// story backlog (ba accepts) → per story: notes), written as a
// WORKFLOWS_DIR on the built-in prompt set.
package enginetest

import (
	"context"
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/workflow"
)

//go:embed testdata/workflows
var files embed.FS

// Dir writes the test WORKFLOWS_DIR into a temporary directory and
// returns its path.
func Dir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Write writes the test WORKFLOWS_DIR into dir.
func Write(dir string) error {
	root, err := fs.Sub(files, "testdata/workflows")
	if err != nil {
		return err
	}
	return fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if err == nil {
				err = os.MkdirAll(filepath.Join(dir, p), 0o755)
			}
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
}

// Registry returns the real workflow registry with the built-in
// workflows and "tiny".
func Registry(t testing.TB) *workflow.Registry {
	t.Helper()
	reg, err := workflow.Load(workflow.Options{Dir: Dir(t)})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// AskingPerson is the person worker, except that the first attempt of
// step Step asks two clarification questions (q1 blocking, q2 not) — what
// an LLM worker does, for tests that run people only.
type AskingPerson struct{ Step string }

// Name implements combine.Worker.
func (AskingPerson) Name() string { return "person" }

// Work implements combine.Worker.
func (w AskingPerson) Work(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
	if task.Step.StepID == w.Step && task.Step.Attempt == 1 {
		return &combine.WorkResult{Questions: []combine.Question{
			{ID: "q1", Text: "Which market comes first?", WhyItMatters: "It orders the epics.", Priority: "must", Blocking: true},
			{ID: "q2", Text: "Is a mobile app in scope?", WhyItMatters: "It may add an epic.", Priority: "could", Blocking: false},
		}}, nil
	}
	return &combine.WorkResult{AwaitPerson: true}, nil
}
