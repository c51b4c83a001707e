package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine/config"
)

func TestRunnerSettings(t *testing.T) {
	t.Parallel()
	base := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := config.Load(config.FromMap(base()))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Runner; r.RescueAfter != 30*time.Second || r.StepTimeout != 20*time.Second || r.PollInterval != 20*time.Millisecond || r.Concurrency != 10 || r.IterationConcurrency != 4 {
		t.Fatalf("defaults = %+v", r)
	}
	c, err = config.Load(config.FromMap(base("RUNNER_RESCUE_AFTER", "10m", "RUNNER_STEP_TIMEOUT", "5m", "RUNNER_INSTANCE_ID", "node-1",
		"ITERATION_CONCURRENCY", "8")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Runner.RescueAfter != 10*time.Minute || c.Runner.StepTimeout != 5*time.Minute || c.Runner.InstanceID != "node-1" ||
		c.Runner.IterationConcurrency != 8 {
		t.Fatalf("runner = %+v", c.Runner)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{base("RUNNER_RESCUE_AFTER", "10s"), "RUNNER_RESCUE_AFTER"},
		{base("RUNNER_STEP_TIMEOUT", "forever"), "RUNNER_STEP_TIMEOUT"},
		{base("RUNNER_CONCURRENCY", "0"), "RUNNER_CONCURRENCY"},
		{base("RUNNER_POLL_INTERVAL", "1ms"), "RUNNER_POLL_INTERVAL"},
		{base("ITERATION_CONCURRENCY", "0"), "ITERATION_CONCURRENCY"},
		{base("ITERATION_CONCURRENCY", "65"), "ITERATION_CONCURRENCY"},
		{base("ITERATION_CONCURRENCY", "four"), "ITERATION_CONCURRENCY"},
	} {
		_, err := config.Load(config.FromMap(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%v: error = %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
