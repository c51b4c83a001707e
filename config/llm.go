package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"time"

	"github.com/thecombine/combine/llm"
)

// llmSettings reads the LLM workers' variables. They are validated even
// without LLM_PROVIDER, so a mistake shows before the provider is turned on.
func (l *loader) llmSettings(c *Config) LLM {
	s := LLM{
		AnthropicBaseURL: l.str("ANTHROPIC_BASE_URL", ""),
		MaxOutputTokens:  l.integer("LLM_MAX_OUTPUT_TOKENS", 8192, 256, 1_000_000),
		Concurrency:      l.integer("LLM_CONCURRENCY", 4, 1, 1000),
		MaxRetries:       l.integer("LLM_MAX_RETRIES", 3, 0, 20),
		RetryMaxWait:     l.duration("LLM_RETRY_MAX_WAIT", time.Minute, time.Second, 10*time.Minute),
		RequestTimeout:   l.duration("LLM_REQUEST_TIMEOUT", 5*time.Minute, time.Second, time.Hour),
	}
	if s.AnthropicBaseURL != "" {
		l.absURL("ANTHROPIC_BASE_URL", s.AnthropicBaseURL)
	}
	s.Stream, _ = l.boolean("LLM_STREAM", true)
	if v, ok := l.get("LLM_BUDGET_USD_PER_EXECUTION"); ok {
		f, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
			l.fail("LLM_BUDGET_USD_PER_EXECUTION", "%q is not an amount in US dollars (e.g. 2.50)", v)
		case f < 0:
			l.fail("LLM_BUDGET_USD_PER_EXECUTION", "%s is negative (0 means no budget)", v)
		default:
			s.BudgetUSD = f
		}
	}
	s.Prices = llm.BuiltinPrices()
	if path, ok := l.get("LLM_PRICES_FILE"); ok {
		s.PricesFile = path
		p, err := llm.LoadPrices(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			l.fail("LLM_PRICES_FILE", "%s: %v", path, err)
		} else {
			s.Prices = p
		}
	}
	if c.LLMProvider != "" {
		model := c.LLMModel
		if model == "" {
			model = map[string]string{"anthropic": llm.DefaultAnthropicModel, "openai": llm.DefaultOpenAIModel}[c.LLMProvider]
		}
		if _, ok := s.Prices.Lookup(model); !ok {
			msg := fmt.Sprintf("LLM_MODEL %q is not in the price table: its calls are recorded with a cost of 0", model)
			if s.BudgetUSD > 0 {
				l.fail("LLM_MODEL", "%q is not in the price table, so LLM_BUDGET_USD_PER_EXECUTION cannot be enforced; add it to LLM_PRICES_FILE", model)
			} else {
				c.Warnings = append(c.Warnings, msg+" (add it to LLM_PRICES_FILE)")
			}
		}
	}
	return s
}
