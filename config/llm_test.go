package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/thecombine/combine/config"
)

func TestLLMSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(prices, []byte(`{"models": {"llama3.1": {"provider": "openai", "input": 0, "output": 0}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badPrices := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badPrices, []byte(`{"models": {"x": {"provider": "acme", "input": 1, "output": 1}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	local := map[string]string{"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1", "SECRET_KEY": goodKey}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name  string
		env   map[string]string
		bad   []string
		check func(t *testing.T, c *config.Config)
	}{
		{name: "defaults without a provider", env: map[string]string{}, check: func(t *testing.T, c *config.Config) {
			l := c.LLM
			if !l.Stream || l.MaxOutputTokens != 8192 || l.Concurrency != 4 || l.MaxRetries != 3 || l.RetryMaxWait != time.Minute ||
				l.RequestTimeout != 5*time.Minute || l.BudgetUSD != 0 || l.Prices == nil || l.AnthropicBaseURL != "" {
				t.Errorf("LLM defaults = %+v", l)
			}
			if c.Runner.StepTimeout != 20*time.Second || c.Runner.RescueAfter != 30*time.Second {
				t.Errorf("runner defaults without LLM = %s / %s", c.Runner.StepTimeout, c.Runner.RescueAfter)
			}
		}},
		{name: "a provider lengthens the runner's defaults", env: local, check: func(t *testing.T, c *config.Config) {
			if c.Runner.StepTimeout != 15*time.Minute || c.Runner.RescueAfter != 20*time.Minute {
				t.Errorf("runner defaults with LLM = %s / %s", c.Runner.StepTimeout, c.Runner.RescueAfter)
			}
			if len(c.Warnings) != 0 {
				t.Errorf("warnings %q for the priced default model", c.Warnings)
			}
		}},
		{name: "every setting", env: with(local, "ANTHROPIC_BASE_URL", "http://127.0.0.1:9/", "LLM_STREAM", "off", "LLM_MAX_OUTPUT_TOKENS", "4000",
			"LLM_CONCURRENCY", "2", "LLM_MAX_RETRIES", "0", "LLM_RETRY_MAX_WAIT", "5s", "LLM_REQUEST_TIMEOUT", "2m",
			"LLM_BUDGET_USD_PER_EXECUTION", "2.50", "LLM_PRICES_FILE", prices, "LLM_MODEL", "llama3.1"),
			check: func(t *testing.T, c *config.Config) {
				l := c.LLM
				if l.Stream || l.MaxOutputTokens != 4000 || l.Concurrency != 2 || l.MaxRetries != 0 || l.RetryMaxWait != 5*time.Second ||
					l.RequestTimeout != 2*time.Minute || l.BudgetUSD != 2.5 || l.AnthropicBaseURL != "http://127.0.0.1:9/" || l.PricesFile != prices {
					t.Errorf("LLM = %+v", l)
				}
				if _, ok := l.Prices.Lookup("llama3.1"); !ok {
					t.Error("the price file's model is not in the table")
				}
				if _, ok := l.Prices.Lookup("claude-sonnet-5-5"); !ok {
					t.Error("the built-in models are gone after loading a price file")
				}
			}},
		{name: "unpriced model without a budget warns", env: with(local, "LLM_MODEL", "llama3.1"), check: func(t *testing.T, c *config.Config) {
			if len(c.Warnings) != 1 {
				t.Errorf("warnings = %q, want one about the price", c.Warnings)
			}
		}},
		{name: "unpriced model with a budget", env: with(local, "LLM_MODEL", "llama3.1", "LLM_BUDGET_USD_PER_EXECUTION", "1"), bad: []string{"LLM_MODEL"}},
		{name: "ANTHROPIC_BASE_URL not a URL", env: map[string]string{"ANTHROPIC_BASE_URL": "localhost:8080"}, bad: []string{"ANTHROPIC_BASE_URL"}},
		{name: "LLM_STREAM not a boolean", env: map[string]string{"LLM_STREAM": "sometimes"}, bad: []string{"LLM_STREAM"}},
		{name: "LLM_MAX_OUTPUT_TOKENS too small", env: map[string]string{"LLM_MAX_OUTPUT_TOKENS": "10"}, bad: []string{"LLM_MAX_OUTPUT_TOKENS"}},
		{name: "LLM_CONCURRENCY zero", env: map[string]string{"LLM_CONCURRENCY": "0"}, bad: []string{"LLM_CONCURRENCY"}},
		{name: "LLM_MAX_RETRIES negative", env: map[string]string{"LLM_MAX_RETRIES": "-1"}, bad: []string{"LLM_MAX_RETRIES"}},
		{name: "LLM_RETRY_MAX_WAIT not a duration", env: map[string]string{"LLM_RETRY_MAX_WAIT": "soon"}, bad: []string{"LLM_RETRY_MAX_WAIT"}},
		{name: "LLM_REQUEST_TIMEOUT too long", env: map[string]string{"LLM_REQUEST_TIMEOUT": "2h"}, bad: []string{"LLM_REQUEST_TIMEOUT"}},
		{name: "LLM_REQUEST_TIMEOUT beyond the step timeout", env: with(local, "LLM_REQUEST_TIMEOUT", "10m", "RUNNER_STEP_TIMEOUT", "5m",
			"RUNNER_RESCUE_AFTER", "6m"), bad: []string{"LLM_REQUEST_TIMEOUT"}},
		{name: "LLM_BUDGET_USD_PER_EXECUTION not a number", env: map[string]string{"LLM_BUDGET_USD_PER_EXECUTION": "$5"}, bad: []string{"LLM_BUDGET_USD_PER_EXECUTION"}},
		{name: "LLM_BUDGET_USD_PER_EXECUTION negative", env: map[string]string{"LLM_BUDGET_USD_PER_EXECUTION": "-1"}, bad: []string{"LLM_BUDGET_USD_PER_EXECUTION"}},
		{name: "LLM_PRICES_FILE missing", env: map[string]string{"LLM_PRICES_FILE": filepath.Join(dir, "nope.json")}, bad: []string{"LLM_PRICES_FILE"}},
		{name: "LLM_PRICES_FILE with an unknown provider", env: map[string]string{"LLM_PRICES_FILE": badPrices}, bad: []string{"LLM_PRICES_FILE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, vars := problemVars(t, tc.env)
			slices.Sort(vars)
			if !slices.Equal(vars, tc.bad) {
				t.Fatalf("problems for %v, want %v", vars, tc.bad)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}
