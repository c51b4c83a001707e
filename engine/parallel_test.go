package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thecombine/combine"
)

// toStories drives a tiny execution to its story items: two epics with
// the given stories each.
func (h *harness) toStories(id string, stories ...string) []string {
	h.t.Helper()
	h.submit(op, id, "discovery", doc("D"))
	h.submit(op, id, "backlog", doc("B", "epics", `[{"id": "E1"}, {"id": "E2"}]`))
	h.decide(pm, id, "backlog", true, "")
	list, _ := json.Marshal(func() []map[string]string {
		var out []map[string]string
		for _, s := range stories {
			out = append(out, map[string]string{"id": s})
		}
		return out
	}())
	var paths []string
	for _, epic := range []string{"E1", "E2"} {
		path := "per_epic[" + epic + "]/stories"
		h.submit(op, id, path, doc("Stories", "stories", string(list)))
		h.decide(ba, id, path, true, "")
		for _, s := range stories {
			paths = append(paths, fmt.Sprintf("per_epic[%s]/per_story[%s]/notes", epic, s))
		}
	}
	return paths
}

// TestFourUsersWriteFourStoriesAtOnce: with 2 epics × 2 stories the four
// notes are open at once; four users submit them concurrently in reverse
// order; the execution completes with each note in its own scope.
func TestFourUsersWriteFourStoriesAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.start("four")
	paths := h.toStories(e.ID, "S1", "S2")
	items := h.paths(e.ID, paths...)
	var wg sync.WaitGroup
	errs := make(chan error, len(paths))
	for i := len(paths) - 1; i >= 0; i-- {
		path, it := paths[i], items[paths[i]]
		user := as(fmt.Sprintf("usr_dev%d", i), "operator")
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.svc.SubmitDocument(user, e.ID, combine.Submission{StepPath: path, Attempt: it.Attempt,
				Content: json.RawMessage(doc("Notes for " + it.ScopeID))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	h.wait(e.ID, combine.StatusCompleted)
	docs, _, err := h.svc.ListDocuments(context.Background(), combine.DocumentFilter{ExecutionID: e.ID, DocumentType: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range docs {
		got[d.ScopeID] = d.Title + " by " + d.CreatedBy
	}
	if len(got) != 4 {
		t.Fatalf("notes = %v", got)
	}
	for i, path := range paths {
		scope := items[path].ScopeID
		if want := fmt.Sprintf("Notes for %s by user:usr_dev%d", scope, i); got[scope] != want {
			t.Fatalf("notes of %s = %q, want %q", scope, got[scope], want)
		}
	}
}

// TestIterationConcurrencyBoundsOpenItems: 2 epics × 3 stories, at most
// IterationConcurrency work items are open at any moment (and as many as
// may be), and everything gets done.
func TestIterationConcurrencyBoundsOpenItems(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 4} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil, func(c *engineConfig) { c.IterationConcurrency = limit })
			e := h.start("bounded")
			h.submit(op, e.ID, "discovery", doc("D"))
			h.submit(op, e.ID, "backlog", doc("B", "epics", `[{"id": "E1"}, {"id": "E2"}]`))
			h.decide(pm, e.ID, "backlog", true, "")
			notes, maxOpen := 0, 0
			for {
				e = h.find(e.ID)
				if e.Status == combine.StatusCompleted {
					break
				}
				if n := len(e.Pending) + len(e.Running); n > limit {
					t.Fatalf("%d work items open, limit %d: %s", n, limit, describe(e.Pending))
				}
				maxOpen = max(maxOpen, len(e.Pending))
				if len(e.Pending) == 0 {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				it := e.Pending[len(e.Pending)-1]
				switch {
				case it.Kind == combine.WorkAcceptance:
					h.decide(ba, e.ID, it.StepPath, true, "")
				case it.StepID == "stories":
					h.submit(op, e.ID, it.StepPath, doc("S", "stories", `[{"id": "S1"}, {"id": "S2"}, {"id": "S3"}]`))
				default:
					h.submit(op, e.ID, it.StepPath, doc("Notes"))
					notes++
				}
			}
			if notes != 6 || maxOpen != limit {
				t.Fatalf("%d notes written, at most %d items open at once; want 6 and %d", notes, maxOpen, limit)
			}
		})
	}
}

// TestWorkersRunItemsSideBySide: with a worker, the four story items are
// worked concurrently (the worker sees four calls at once), while the
// steps of one item stay in order.
func TestWorkersRunItemsSideBySide(t *testing.T) {
	t.Parallel()
	var inflight, peak atomic.Int32
	release := make(chan struct{})
	w := &funcWorker{fn: func(ctx context.Context, task *combine.Task) (*combine.WorkResult, error) {
		if task.Step.StepID == "notes" {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		content := `{"title": "by worker", "epics": [{"id": "E1"}, {"id": "E2"}], "stories": [{"id": "S1"}, {"id": "S2"}]}`
		return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(content)}}, nil
	}}
	h := newHarness(t, w)
	e := h.start("side-by-side")
	h.decide(pm, e.ID, "backlog", true, "")
	for _, epic := range []string{"E1", "E2"} {
		h.decide(ba, e.ID, "per_epic["+epic+"]/stories", true, "")
	}
	deadline := time.Now().Add(waitLimit)
	for peak.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if e := h.find(e.ID); len(e.Running) != 4 || e.Status != combine.StatusRunning {
		t.Fatalf("running items = %s, status %s; want the 4 notes", describe(e.Running), e.Status)
	}
	close(release)
	h.wait(e.ID, combine.StatusCompleted)
	if peak.Load() != 4 {
		t.Fatalf("at most %d notes were worked at once, want 4", peak.Load())
	}
}
