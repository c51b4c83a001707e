package llm

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the LLM workers' Prometheus series.
type metrics struct {
	calls    *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	cost     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "combine_llm_calls_total",
			Help: "LLM provider calls by provider, model and outcome (completed, failed, refused_budget, reused).",
		}, []string{"provider", "model", "outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "combine_llm_tokens_total",
			Help: "LLM tokens by provider, model and kind (input: every prompt token; cache_read and cache_write: the parts of it served from and written to the prompt cache; output).",
		}, []string{"provider", "model", "kind"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "combine_llm_cost_usd_total",
			Help: "LLM cost in US dollars by provider and model, from the price table.",
		}, []string{"provider", "model"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "combine_llm_call_duration_seconds",
			Help:    "Duration of LLM provider calls by provider and outcome.",
			Buckets: []float64{.1, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"provider", "outcome"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "combine_llm_calls_in_flight",
			Help: "LLM provider calls in flight in this process (bounded by LLM_CONCURRENCY).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.tokens, m.cost, m.duration, m.inflight)
	}
	return m
}

func (m *metrics) observe(provider, model, outcome string, u Usage, cost float64, d time.Duration) {
	m.calls.WithLabelValues(provider, model, outcome).Inc()
	if outcome == "reused" || outcome == "refused_budget" {
		return
	}
	m.duration.WithLabelValues(provider, outcome).Observe(d.Seconds())
	m.tokens.WithLabelValues(provider, model, "input").Add(float64(u.InputTokens))
	m.tokens.WithLabelValues(provider, model, "output").Add(float64(u.OutputTokens))
	m.tokens.WithLabelValues(provider, model, "cache_read").Add(float64(u.CacheReadTokens))
	m.tokens.WithLabelValues(provider, model, "cache_write").Add(float64(u.CacheWriteTokens))
	m.cost.WithLabelValues(provider, model).Add(cost)
}
