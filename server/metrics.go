package server

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// series caches the children of the vectors by label values: looking
	// them up (hashing and validating every label value) on every request
	// cost more than observing. Routes, methods and statuses are bounded,
	// so the map is small.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	method, route string
	status        int
}

type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// newMetrics registers the HTTP metrics, labelled by route pattern (never
// by raw path, which would explode the series count).
func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "combine_http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "combine_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "combine_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.inFlight)
	}
	return m
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	k := seriesKey{method, route, status}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &series{
			requests: m.requests.WithLabelValues(method, route, strconv.Itoa(status)),
			latency:  m.latency.WithLabelValues(method, route),
		})
	}
	s := v.(*series)
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}
