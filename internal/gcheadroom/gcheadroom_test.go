package gcheadroom_test

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/thecombine/combine/internal/gcheadroom"
)

func TestPercent(t *testing.T) {
	t.Parallel()
	const mb = 1 << 20
	busy := uint64(60 * mb) // the server under wrk allocates 50-100 MB/s
	tests := []struct {
		name                 string
		live, rate, headroom uint64
		want                 int
	}{
		{"the server under load: 16 MB to grow, not 4", 4 * mb, busy, 16 * mb, 400},
		{"320 %, rounded up to a step of 50", 5 * mb, busy, 16 * mb, 350},
		{"from a 16 MB live heap on, the default", 16 * mb, busy, 16 * mb, 100},
		{"5,000 open streams: never less than the default", 250 * mb, busy, 16 * mb, 100},
		{"a tiny heap: capped", 1 * mb, busy, 16 * mb, 1000},
		{"1067 %, capped", 3 * mb / 2, busy, 16 * mb, 1000},
		{"before the first collection", 0, busy, 16 * mb, 1000},
		{"no headroom asked for", 100 * mb, busy, 0, 100},
		{"idle: the default", 4 * mb, 200 << 10, 16 * mb, 100},
		{"just busy enough", 4 * mb, 1 * mb, 16 * mb, 400},
		{"just too quiet", 4 * mb, 1*mb - 1, 16 * mb, 100},
	}
	for _, tt := range tests {
		if got := gcheadroom.Percent(tt.live, tt.rate, tt.headroom); got != tt.want {
			t.Errorf("%s: Percent(%d MB live, %d KB/s, %d MB) = %d, want %d", tt.name, tt.live/mb, tt.rate>>10, tt.headroom/mb, got, tt.want)
		}
	}
}

// TestKeepFollowsTheAllocationRate: while the process allocates quickly,
// Keep raises the percentage; when it stops, Keep goes back to the
// default; it returns when its context ends. (Not parallel: the
// percentage is the process's.)
func TestKeepFollowsTheAllocationRate(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		gcheadroom.Keep(ctx, 1<<30, 20*time.Millisecond) // busy from 64 MB/s, capped at any test heap
		close(done)
	}()
	stop := make(chan struct{})
	go func() { // 2 MB per millisecond
		var keep []byte
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				keep = make([]byte, 2<<20)
				keep[0] = 1
			}
		}
	}()
	waitPercent(t, gcheadroom.MaxPercent)
	close(stop)
	waitPercent(t, gcheadroom.MinPercent)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Keep did not return after its context ended")
	}
}

func waitPercent(t *testing.T, want uint64) {
	t.Helper()
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		metrics.Read(sample)
		p := sample[0].Value.Uint64()
		if p == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC percentage = %d, want %d", p, want)
		}
	}
}
