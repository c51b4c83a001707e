package llm

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Price is what one model costs, in US dollars per million tokens, and
// how it is asked for structured output.
type Price struct {
	Provider string `json:"provider"`
	// Input is the price of an input token read neither from nor into the
	// prompt cache; CacheRead of one read from it; CacheWrite of one
	// written into it (Anthropic's 5-minute cache; OpenAI's caching is
	// automatic and free to write).
	Input      float64 `json:"input"`
	Output     float64 `json:"output"`
	CacheRead  float64 `json:"cache_read"`
	CacheWrite float64 `json:"cache_write"`
	// ToolChoice is how an Anthropic model is made to answer with a tool:
	// "any" forces one of the two answer tools; "auto" offers them (the
	// models that refuse forced tool use). Empty means "any".
	ToolChoice string `json:"tool_choice,omitempty"`
}

// Usage is the token count of one call. InputTokens counts every prompt
// token; CacheReadTokens and CacheWriteTokens are the parts of it read
// from and written into the prompt cache.
type Usage struct {
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
	CacheReadTokens  int64 `json:"cache_read_tokens"`
	CacheWriteTokens int64 `json:"cache_write_tokens"`
}

// Cost is the price of u in US dollars.
func (p Price) Cost(u Usage) float64 {
	plain := u.InputTokens - u.CacheReadTokens - u.CacheWriteTokens
	if plain < 0 {
		plain = 0
	}
	micro := float64(plain)*p.Input + float64(u.CacheReadTokens)*p.CacheRead +
		float64(u.CacheWriteTokens)*p.CacheWrite + float64(u.OutputTokens)*p.Output
	return micro / 1e6
}

// Default models, one per provider; both are in the built-in table.
const (
	DefaultAnthropicModel = "claude-sonnet-5-5"
	DefaultOpenAIModel    = "gpt-6.1-sol"
)

// builtinPrices are the list prices of current models, USD per million
// tokens, as published by the providers (checked 2026-11). Anthropic's
// cache writes are the 5-minute ones; prompts beyond a model's long-context
// threshold are billed higher by the providers and are not modelled here.
// LLM_PRICES_FILE adds models or overrides any of these.
var builtinPrices = map[string]Price{
	// Anthropic. The 5.5 generation and Fable refuse forced tool use.
	"claude-fable-5-1":  {Provider: ProviderAnthropic, Input: 10, Output: 50, CacheRead: 0.25, CacheWrite: 12.5, ToolChoice: "auto"},
	"claude-opus-5-5":   {Provider: ProviderAnthropic, Input: 4, Output: 20, CacheRead: 0.20, CacheWrite: 5, ToolChoice: "auto"},
	"claude-sonnet-5-5": {Provider: ProviderAnthropic, Input: 2, Output: 10, CacheRead: 0.10, CacheWrite: 2.5, ToolChoice: "auto"},
	"claude-haiku-5-5":  {Provider: ProviderAnthropic, Input: 0.10, Output: 0.50, CacheRead: 0.01, CacheWrite: 0.125, ToolChoice: "auto"},
	"claude-opus-5":     {Provider: ProviderAnthropic, Input: 5, Output: 25, CacheRead: 0.50, CacheWrite: 6.25},
	"claude-sonnet-5":   {Provider: ProviderAnthropic, Input: 2, Output: 10, CacheRead: 0.20, CacheWrite: 2.5},
	"claude-opus-4-8":   {Provider: ProviderAnthropic, Input: 5, Output: 25, CacheRead: 0.50, CacheWrite: 6.25},
	"claude-opus-4-7":   {Provider: ProviderAnthropic, Input: 5, Output: 25, CacheRead: 0.50, CacheWrite: 6.25},
	"claude-opus-4-6":   {Provider: ProviderAnthropic, Input: 5, Output: 25, CacheRead: 0.50, CacheWrite: 6.25},
	"claude-opus-4-5":   {Provider: ProviderAnthropic, Input: 5, Output: 25, CacheRead: 0.50, CacheWrite: 6.25},
	"claude-sonnet-4-6": {Provider: ProviderAnthropic, Input: 3, Output: 15, CacheRead: 0.30, CacheWrite: 3.75},
	"claude-sonnet-4-5": {Provider: ProviderAnthropic, Input: 3, Output: 15, CacheRead: 0.30, CacheWrite: 3.75},
	"claude-haiku-4-5":  {Provider: ProviderAnthropic, Input: 1, Output: 5, CacheRead: 0.10, CacheWrite: 1.25},
	// OpenAI. Cached input is read back from usage; writing is free.
	"gpt-6.1-sol":  {Provider: ProviderOpenAI, Input: 2, Output: 10, CacheRead: 0.10},
	"gpt-5.4":      {Provider: ProviderOpenAI, Input: 2.5, Output: 15, CacheRead: 0.25},
	"gpt-5.4-mini": {Provider: ProviderOpenAI, Input: 0.75, Output: 4.5, CacheRead: 0.075},
	"gpt-5.1":      {Provider: ProviderOpenAI, Input: 1.25, Output: 10, CacheRead: 0.125},
	"gpt-5":        {Provider: ProviderOpenAI, Input: 1.25, Output: 10, CacheRead: 0.125},
	"gpt-5-mini":   {Provider: ProviderOpenAI, Input: 0.25, Output: 2, CacheRead: 0.025},
	"gpt-5-nano":   {Provider: ProviderOpenAI, Input: 0.05, Output: 0.40, CacheRead: 0.005},
	"gpt-4.1":      {Provider: ProviderOpenAI, Input: 2, Output: 8, CacheRead: 0.50},
	"gpt-4.1-mini": {Provider: ProviderOpenAI, Input: 0.40, Output: 1.60, CacheRead: 0.10},
	"gpt-4o":       {Provider: ProviderOpenAI, Input: 2.5, Output: 10, CacheRead: 1.25},
	"gpt-4o-mini":  {Provider: ProviderOpenAI, Input: 0.15, Output: 0.60, CacheRead: 0.075},
}

// Prices is a price table: the built-in prices with a file's on top.
type Prices struct {
	models map[string]Price
}

// BuiltinPrices returns the built-in price table.
func BuiltinPrices() *Prices {
	m := make(map[string]Price, len(builtinPrices))
	for k, v := range builtinPrices {
		m[k] = v
	}
	return &Prices{models: m}
}

// pricesFile is the format of LLM_PRICES_FILE.
type pricesFile struct {
	Models map[string]Price `json:"models"`
}

// LoadPrices returns the built-in table with the models of the JSON file
// at path added or replaced: {"models": {"<model>": {"provider",
// "input", "output", "cache_read", "cache_write", "tool_choice"?}}}.
func LoadPrices(path string) (*Prices, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePrices(b)
}

// ParsePrices is LoadPrices on the file's content.
func ParsePrices(b []byte) (*Prices, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var f pricesFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a price file ({\"models\": {\"<model>\": {\"provider\", \"input\", \"output\", \"cache_read\", \"cache_write\"}}}): %w", err)
	}
	if len(f.Models) == 0 {
		return nil, fmt.Errorf("the price file lists no models")
	}
	p := BuiltinPrices()
	names := make([]string, 0, len(f.Models))
	for name := range f.Models {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pr := f.Models[name]
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("a model without a name")
		}
		if pr.Provider != ProviderAnthropic && pr.Provider != ProviderOpenAI {
			return nil, fmt.Errorf("model %q: provider must be %q or %q", name, ProviderAnthropic, ProviderOpenAI)
		}
		if pr.Input < 0 || pr.Output < 0 || pr.CacheRead < 0 || pr.CacheWrite < 0 {
			return nil, fmt.Errorf("model %q: prices cannot be negative", name)
		}
		if pr.ToolChoice != "" && pr.ToolChoice != "any" && pr.ToolChoice != "auto" {
			return nil, fmt.Errorf("model %q: tool_choice must be \"any\" or \"auto\"", name)
		}
		p.models[name] = pr
	}
	return p, nil
}

// snapshot matches a dated model id: claude-…-20250929, gpt-…-2026-04-23.
var snapshot = regexp.MustCompile(`-(\d{8}|\d{4}-\d{2}-\d{2})$`)

// Lookup returns the price of model: the exact name, else the name
// without a snapshot date.
func (p *Prices) Lookup(model string) (Price, bool) {
	if pr, ok := p.models[model]; ok {
		return pr, true
	}
	pr, ok := p.models[snapshot.ReplaceAllString(model, "")]
	return pr, ok
}

// Models lists the priced models of provider, sorted.
func (p *Prices) Models(provider string) []string {
	var out []string
	for name, pr := range p.models {
		if provider == "" || pr.Provider == provider {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
