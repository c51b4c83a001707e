package llm_test

import (
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/engine"
	"github.com/thecombine/combine/llm"
)

// BenchmarkLLMWorkflow runs the whole built-in workflow (11 LLM calls, 3
// acceptances by people, 2 epics × 2 stories) against a fake provider
// that answers every call in 1 s, one item at a time and with the
// iterations side by side. It reports the wall time and the engine's
// overhead per call: the wall time beyond the provider's own time on the
// critical path (11 s one at a time; 6 s side by side: discovery, epic
// backlog, architecture, then per epic its architecture, its story backlog
// and its stories' notes), per call.
//
//	go test -run '^$' -bench BenchmarkLLMWorkflow -benchtime 1x ./llm/
func BenchmarkLLMWorkflow(b *testing.B) {
	for _, bc := range []struct {
		name     string
		parallel int
		critical int // calls on the critical path
		delay    time.Duration
	}{{"sequential", 1, 11, time.Second}, {"parallel", 4, 6, time.Second}, {"sequential_instant_provider", 1, 11, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			var wall time.Duration
			for i := 0; i < b.N; i++ {
				r := newRig(b, mode{llm.ProviderAnthropic, true}, wholeWorkflowHandler(b, bc.delay),
					withWorker(func(c *llm.Config) { c.Concurrency = bc.parallel }),
					func(o *rigOpts) { o.engine = func(c *engine.Config) { c.IterationConcurrency = bc.parallel } })
				start := time.Now()
				runWholeWorkflow(b, r, "bench")
				wall += time.Since(start)
				if n := len(r.fake.Calls()); n != 11 {
					b.Fatalf("%d calls", n)
				}
				r.stop()
			}
			per := wall / time.Duration(b.N)
			b.ReportMetric(per.Seconds(), "wall_s")
			b.ReportMetric(float64((per-time.Duration(bc.critical)*bc.delay).Milliseconds())/11, "overhead_ms/call")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkRedoCache measures the share of a redo's input tokens served
// from the prompt cache: the epic backlog is written, rejected with a
// comment, and written again; the redo's request differs from the first
// only after the input documents.
//
//	go test -run '^$' -bench BenchmarkRedoCache -benchtime 1x ./llm/
func BenchmarkRedoCache(b *testing.B) {
	for _, m := range []mode{{llm.ProviderAnthropic, true}, {llm.ProviderOpenAI, true}} {
		b.Run(m.provider, func(b *testing.B) {
			var share float64
			for i := 0; i < b.N; i++ {
				r := newRig(b, m, wholeWorkflowHandler(b, 0))
				e := r.start("redo")
				it := r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance)
				if _, err := r.svc.DecideAcceptance(pm, e.ID, combine.Decision{StepPath: it.StepPath, Attempt: it.Attempt,
					DocumentID: it.Document.DocumentID, Version: it.Document.Version, Comment: "Split EP-02 into two epics."}); err != nil {
					b.Fatal(err)
				}
				redo := r.pendingAt(e.ID, "epic_backlog", combine.WorkAcceptance)
				if redo.Attempt != 2 {
					b.Fatalf("redo at attempt %d", redo.Attempt)
				}
				calls := r.costs(e.ID).Calls
				last := calls[len(calls)-1]
				if last.Attempt != 2 || last.InputTokens == 0 {
					b.Fatalf("redo call %+v", last)
				}
				share += float64(last.CacheReadTokens) / float64(last.InputTokens)
				r.stop()
			}
			b.ReportMetric(100*share/float64(b.N), "cached_input_%")
			b.ReportMetric(0, "ns/op")
		})
	}
}
