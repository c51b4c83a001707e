package health_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/thecombine/combine/health"
)

func check(err error) health.CheckFunc {
	return func(ctx context.Context) (map[string]any, error) { return nil, err }
}

func TestAggregation(t *testing.T) {
	t.Parallel()
	boom := errors.New("dial tcp 10.0.0.5:5432: password=hunter2 refused")
	tests := []struct {
		name       string
		comps      []health.Component
		status     string
		ready      bool
		wantErrors map[string]string
	}{
		{"all healthy", []health.Component{{Name: "db", Critical: true, Check: check(nil)}}, health.Healthy, true, nil},
		{"critical down", []health.Component{{Name: "db", Critical: true, Check: check(boom)}, {Name: "x", Check: check(nil)}},
			health.Unhealthy, false, map[string]string{"db": "check failed (see the server log)"}},
		{"optional down", []health.Component{{Name: "db", Critical: true, Check: check(nil)}, {Name: "runner", Check: check(boom)}},
			health.Degraded, true, map[string]string{"runner": "check failed (see the server log)"}},
		{"degraded with a public reason", []health.Component{{Name: "migrations", Check: check(health.Degradedf("behind"))}},
			health.Degraded, true, map[string]string{"migrations": "behind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := health.NewChecker("v1", "test")
			for _, comp := range tt.comps {
				c.Register(comp)
			}
			rep := c.Check(context.Background())
			if rep.Status != tt.status || rep.Version != "v1" || rep.Environment != "test" {
				t.Errorf("report %+v, want status %s", rep, tt.status)
			}
			if _, err := time.Parse(time.RFC3339, rep.Timestamp); err != nil {
				t.Errorf("timestamp %q: %v", rep.Timestamp, err)
			}
			for name, want := range tt.wantErrors {
				if got := rep.Components[name].Error; got != want {
					t.Errorf("%s error %q, want %q (driver errors must not reach /health)", name, got, want)
				}
			}
			if got := c.Ready(context.Background()); got != tt.ready {
				t.Errorf("Ready = %v, want %v", got, tt.ready)
			}
		})
	}
}

func TestHungCheckTimesOut(t *testing.T) {
	t.Parallel()
	c := health.NewChecker("v", "test")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c.Register(health.Component{Name: "db", Critical: true, Timeout: 200 * time.Millisecond,
		Check: func(ctx context.Context) (map[string]any, error) {
			<-release // ignores its context, like a wedged driver
			return nil, nil
		}})
	c.Register(health.Component{Name: "other", Critical: true, Timeout: 200 * time.Millisecond,
		Check: func(ctx context.Context) (map[string]any, error) { <-ctx.Done(); return nil, ctx.Err() }})
	start := time.Now()
	if c.Ready(context.Background()) {
		t.Error("ready with a hung critical check")
	}
	rep := c.Check(context.Background())
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
		t.Errorf("two probes took %s with 200ms timeouts", elapsed)
	}
	if rep.Status != health.Unhealthy || rep.Components["db"].Error != "check timed out after 200ms" {
		t.Errorf("report %+v", rep)
	}
}

func TestDraining(t *testing.T) {
	t.Parallel()
	c := health.NewChecker("v", "test")
	c.Register(health.Component{Name: "db", Critical: true, Check: check(nil)})
	if !c.Ready(context.Background()) {
		t.Fatal("not ready before draining")
	}
	c.SetDraining()
	if c.Ready(context.Background()) || !c.Check(context.Background()).Draining {
		t.Error("still ready while draining")
	}
}
