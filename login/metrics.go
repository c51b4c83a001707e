package login

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine"
)

// metrics counts sign-in outcomes per provider. The result label is
// "success" or a reason from a fixed set (the protocol's and the login
// service's refusal reasons), so its cardinality stays bounded.
type metrics struct {
	results *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{results: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "combine_login_callbacks_total",
		Help: "Sign-in callbacks by provider and result (success or the refusal reason).",
	}, []string{"provider", "result"})}
	if reg != nil {
		reg.MustRegister(m.results)
	}
	return m
}

// observe counts the outcome of one callback.
func (m *metrics) observe(provider string, err error) {
	m.results.WithLabelValues(provider, resultLabel(err)).Inc()
}

// resultLabel names an outcome: the protocol reason, the login service's
// refusal reason, or the error code.
func resultLabel(err error) string {
	if err == nil {
		return "success"
	}
	var ce *combine.Error
	if errors.As(err, &ce) {
		if r, ok := ce.Details["reason"].(string); ok && len(r) <= 40 {
			return r
		}
		return ce.Code
	}
	return combine.EINTERNAL
}
