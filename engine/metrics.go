package engine

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus series. Event counts are added
// after the transaction that appended them commits, so a rolled-back
// transition is never counted.
type metrics struct {
	events *prometheus.CounterVec
	worker *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "combine_engine_events_total",
			Help: "Execution events recorded, by type (execution_completed, step_failed, …).",
		}, []string{"type"}),
		worker: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "combine_engine_worker_call_duration_seconds",
			Help:    "Duration of worker calls by worker and outcome (document, questions, person, error, cancelled).",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 120, 300},
		}, []string{"worker", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.worker)
	}
	return m
}

func (m *metrics) observeWorker(worker, outcome string, d time.Duration) {
	m.worker.WithLabelValues(worker, outcome).Observe(d.Seconds())
}
