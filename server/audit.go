package server

import (
	"net/http"
	"time"

	"github.com/thecombine/combine"
)

// handleListAudit pages through the audit log, newest first. Filters:
// actor (user id or email), action, since/until (RFC 3339), before (the
// next_cursor of the previous page), limit.
func (s *Server) handleListAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := QueryInt(r, "limit", 100, 1, 500)
	if err != nil {
		return err
	}
	f := combine.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Before: q.Get("before"), Limit: limit}
	if f.Since, err = queryTime(r, "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(r, "until"); err != nil {
		return err
	}
	es, next, err := s.Identity.Audit.FindAudit(r.Context(), f)
	if err != nil {
		return err
	}
	if es == nil {
		es = []*combine.AuditEntry{}
	}
	body := map[string]any{"entries": es}
	if next != "" {
		body["next_cursor"] = next
	}
	WriteJSON(w, http.StatusOK, body)
	return nil
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, combine.Errorf(combine.EINVALID, "query parameter %q must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", name)
	}
	return t, nil
}
