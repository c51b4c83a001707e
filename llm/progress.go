package llm

import (
	"sync"
	"time"

	"github.com/thecombine/combine"
)

// progressHub fans live progress of calls in flight out to the event
// streams of this process. Nothing is stored: a report missed by a full
// subscriber is dropped (the next one supersedes it).
type progressHub struct {
	mu   sync.Mutex
	subs map[string]map[chan combine.Progress]struct{}
}

func newProgressHub() *progressHub {
	return &progressHub{subs: map[string]map[chan combine.Progress]struct{}{}}
}

// SubscribeProgress implements combine.ProgressSource.
func (h *progressHub) SubscribeProgress(executionID string) (<-chan combine.Progress, func()) {
	ch := make(chan combine.Progress, 8)
	h.mu.Lock()
	set := h.subs[executionID]
	if set == nil {
		set = map[chan combine.Progress]struct{}{}
		h.subs[executionID] = set
	}
	set[ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(set, ch)
			if len(h.subs[executionID]) == 0 {
				delete(h.subs, executionID)
			}
			h.mu.Unlock()
		})
	}
}

func (h *progressHub) publish(p combine.Progress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[p.ExecutionID] {
		select {
		case ch <- p:
		default:
		}
	}
}

// throttle reports a call's progress at most once per interval (and
// always its end), so a fast stream does not flood the event streams.
type throttle struct {
	hub      *progressHub
	every    time.Duration
	now      func() time.Time
	base     combine.Progress
	started  time.Time
	mu       sync.Mutex
	last     time.Time
	in, out  int64
	reported int
}

func (t *throttle) update(input, output int64) {
	t.mu.Lock()
	if input > 0 {
		t.in = input
	}
	if output > t.out {
		t.out = output
	}
	now := t.now()
	if now.Sub(t.last) < t.every {
		t.mu.Unlock()
		return
	}
	t.last = now
	p := t.base
	p.InputTokens, p.OutputTokens, p.ElapsedMS = t.in, t.out, now.Sub(t.started).Milliseconds()
	t.reported++
	t.mu.Unlock()
	t.hub.publish(p)
}

// done reports the call's end with its exact usage.
func (t *throttle) done(u Usage) {
	p := t.base
	p.InputTokens, p.OutputTokens, p.ElapsedMS, p.Done = u.InputTokens, u.OutputTokens, t.now().Sub(t.started).Milliseconds(), true
	t.hub.publish(p)
}
