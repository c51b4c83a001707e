// Package gcheadroom gives a small, busy heap a fixed minimum of room to
// grow between garbage collections.
//
// The collector starts a cycle once the heap has grown by GOGC percent
// (100 by default) over what the previous cycle found live. The server's
// live heap is a few megabytes, so under load it collected about ten times
// a second, and the marking, its write barriers and the allocation assists
// cost more CPU per request than any piece of the middleware. Raising
// GOGC for good would also multiply a large heap (thousands of open event
// streams), and let an idle server's heap grow for minutes before a
// collection. Keep instead sets the percentage, while the process
// allocates quickly, so that the heap may grow by at least a fixed number
// of bytes: a small heap collects less often under load, a large or idle
// one exactly as with GOGC=100.
package gcheadroom

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Percentages Keep chooses between.
const (
	MinPercent = 100
	MaxPercent = 1000
	// step rounds the percentage up, so that a live heap that varies a
	// little between cycles does not change it every time.
	step = 50
)

// Percent returns the GOGC percentage for a heap of live bytes that
// allocated rate bytes a second lately: MinPercent while the heap would
// take more than 16 s to fill the headroom (an idle server collects
// seldom anyway), otherwise enough to let it grow by at least headroom
// bytes before the next collection, rounded up to a multiple of 50,
// within MinPercent and MaxPercent.
func Percent(live, rate, headroom uint64) int {
	if rate < headroom/16 {
		return MinPercent
	}
	if live == 0 {
		return MaxPercent
	}
	p := (headroom*100 + live - 1) / live
	p = (p + step - 1) / step * step
	return int(min(max(p, MinPercent), MaxPercent))
}

// Keep sets the percentage from the live heap and the allocation rate
// after every interval, until ctx ends. A soft memory limit (GOMEMLIMIT)
// still applies: near it the collector runs as often as it must.
func Keep(ctx context.Context, headroom uint64, every time.Duration) {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	read := func() (live, allocs uint64, ok bool) {
		metrics.Read(samples)
		if samples[0].Value.Kind() != metrics.KindUint64 || samples[1].Value.Kind() != metrics.KindUint64 {
			return 0, 0, false
		}
		return samples[0].Value.Uint64(), samples[1].Value.Uint64(), true
	}
	t := time.NewTicker(every)
	defer t.Stop()
	_, before, _ := read()
	last, lastAt := MinPercent, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			live, allocs, ok := read()
			if !ok {
				return
			}
			rate := uint64(float64(allocs-before) / now.Sub(lastAt).Seconds())
			before, lastAt = allocs, now
			if p := Percent(live, rate, headroom); p != last {
				debug.SetGCPercent(p)
				last = p
			}
		}
	}
}
