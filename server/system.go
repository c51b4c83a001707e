package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	rep := s.health.Check(r.Context())
	status := http.StatusOK
	if rep.Status == "unhealthy" {
		status = http.StatusServiceUnavailable
	}
	WriteJSON(w, status, rep)
	return nil
}

// The probes' answers never change: encoded once, not per request (an
// orchestrator's probes and a load balancer's checks are steady traffic).
var (
	liveBody     = newFixedJSON(map[string]string{"status": "alive"})
	readyBody    = newFixedJSON(map[string]string{"status": "ready"})
	notReadyBody = newFixedJSON(map[string]string{"status": "not_ready"})
)

func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) error {
	liveBody.write(w, http.StatusOK)
	return nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	if !s.health.Ready(r.Context()) {
		notReadyBody.write(w, http.StatusServiceUnavailable)
		return nil
	}
	readyBody.write(w, http.StatusOK)
	return nil
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metricsHandler.ServeHTTP(w, r)
	return nil
}

// SetGatherer chooses the registry /metrics exposes.
func (s *Server) SetGatherer(g prometheus.Gatherer) {
	s.metricsHandler = promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
