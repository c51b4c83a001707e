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

func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) error {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	return nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	if !s.health.Ready(r.Context()) {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready"})
		return nil
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
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
