// Package health is the registry of component checks behind /health,
// /health/live and /health/ready. Components (the database, migrations,
// the execution runner…) register a check; each check runs with its own
// timeout so a hung dependency turns readiness to 503 instead of hanging
// the probe.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thecombine/combine"
)

// Status values of a component or of the whole service.
const (
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// CheckFunc checks one component. It may return details to show beside the
// status (for example the schema version). A returned ErrDegraded (wrapped)
// marks the component degraded rather than unhealthy.
type CheckFunc func(ctx context.Context) (details map[string]any, err error)

// ErrDegraded marks a component that works but not fully.
var ErrDegraded = errors.New("degraded")

// A check's error reaches the public /health page only as the message of
// a *combine.Error; any other error appears there as "check failed" (the
// log has the cause), because driver errors can name hosts, users and
// databases.

// Degradedf returns an error that marks a component degraded, with a
// message fit for the public /health page.
func Degradedf(format string, args ...any) error {
	return &combine.Error{Code: combine.EUNAVAILABLE, Message: fmt.Sprintf(format, args...), Err: ErrDegraded}
}

// Component is a registered check.
type Component struct {
	Name string
	// Critical components make the service not ready when unhealthy; the
	// others only degrade /health.
	Critical bool
	Timeout  time.Duration
	Check    CheckFunc
}

// ComponentReport is the outcome of one check.
type ComponentReport struct {
	Status    string         `json:"status"`
	LatencyMS float64        `json:"latency_ms"`
	Error     string         `json:"error,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
	critical  bool
}

// Report is the body of GET /health.
type Report struct {
	Status      string                     `json:"status"`
	Version     string                     `json:"version"`
	Environment string                     `json:"environment"`
	Timestamp   string                     `json:"timestamp"`
	Draining    bool                       `json:"draining,omitempty"`
	Components  map[string]ComponentReport `json:"components"`
}

// Checker runs the registered checks.
type Checker struct {
	Version     string
	Environment string
	Now         func() time.Time
	// Logger, when set, receives the cause of every failed check.
	Logger *slog.Logger

	mu         sync.RWMutex
	components []Component
	draining   atomic.Bool
}

// NewChecker returns an empty registry.
func NewChecker(version, environment string) *Checker {
	return &Checker{Version: version, Environment: environment, Now: time.Now}
}

// Register adds a component; a zero timeout means 2 s.
func (c *Checker) Register(comp Component) {
	if comp.Timeout == 0 {
		comp.Timeout = 2 * time.Second
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.components = append(c.components, comp)
}

// SetDraining marks the service as shutting down: readiness fails from now on.
func (c *Checker) SetDraining() { c.draining.Store(true) }

// Draining reports whether shutdown has begun.
func (c *Checker) Draining() bool { return c.draining.Load() }

// Check runs every component concurrently and aggregates the result.
func (c *Checker) Check(ctx context.Context) Report {
	c.mu.RLock()
	comps := append([]Component(nil), c.components...)
	c.mu.RUnlock()

	results := make([]ComponentReport, len(comps))
	var wg sync.WaitGroup
	for i, comp := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.run(ctx, comp)
		}()
	}
	wg.Wait()

	rep := Report{
		Status:      Healthy,
		Version:     c.Version,
		Environment: c.Environment,
		Timestamp:   c.Now().UTC().Format(time.RFC3339),
		Draining:    c.Draining(),
		Components:  make(map[string]ComponentReport, len(comps)),
	}
	for i, comp := range comps {
		r := results[i]
		rep.Components[comp.Name] = r
		switch {
		case r.Status == Unhealthy && comp.Critical:
			rep.Status = Unhealthy
		case r.Status != Healthy && rep.Status == Healthy:
			rep.Status = Degraded
		}
	}
	return rep
}

// Ready reports whether the service should receive traffic: not draining
// and every critical component healthy. The critical checks run
// concurrently, so the probe answers within the longest check timeout.
func (c *Checker) Ready(ctx context.Context) bool {
	if c.Draining() {
		return false
	}
	c.mu.RLock()
	var crit []Component
	for _, comp := range c.components {
		if comp.Critical {
			crit = append(crit, comp)
		}
	}
	c.mu.RUnlock()
	var failed atomic.Bool
	var wg sync.WaitGroup
	for _, comp := range crit {
		wg.Go(func() {
			if c.run(ctx, comp).Status == Unhealthy {
				failed.Store(true)
			}
		})
	}
	wg.Wait()
	return !failed.Load()
}

// run executes one check under its timeout. The check runs in its own
// goroutine so that a check ignoring its context still cannot hang us.
func (c *Checker) run(ctx context.Context, comp Component) ComponentReport {
	ctx, cancel := context.WithTimeout(ctx, comp.Timeout)
	defer cancel()
	type outcome struct {
		details map[string]any
		err     error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		d, err := comp.Check(ctx)
		done <- outcome{d, err}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		o.err = combine.Errorf(combine.EUNAVAILABLE, "check timed out after %s", comp.Timeout)
	}
	r := ComponentReport{
		Status:    Healthy,
		LatencyMS: float64(time.Since(start).Microseconds()) / 1000,
		Details:   o.details,
		critical:  comp.Critical,
	}
	if o.err != nil {
		r.Status = Unhealthy
		if errors.Is(o.err, ErrDegraded) {
			r.Status = Degraded
		}
		r.Error = "check failed (see the server log)"
		var pe *combine.Error
		if errors.As(o.err, &pe) {
			r.Error = pe.Message
		}
		if c.Logger != nil {
			c.Logger.WarnContext(ctx, "health check failed", "component", comp.Name, "status", r.Status, "error", o.err.Error())
		}
	}
	return r
}
