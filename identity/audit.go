package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryAll runs a query and scans every row with scan; what names the
// rows in errors. The result is never nil, so it encodes as [].
func queryAll[T any](ctx context.Context, q queryer, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	return out, nil
}

// auditID is time-ordered: 16 hex digits of Unix nanoseconds, then random,
// so that id order is time order and serves as the pagination cursor.
// Within a process ids strictly increase even when the clock stands still.
func (s *Service) auditID(at time.Time) string {
	n := uint64(at.UnixNano())
	for {
		last := s.lastAudit.Load()
		if n <= last {
			n = last + 1
		}
		if s.lastAudit.CompareAndSwap(last, n) {
			break
		}
	}
	return fmt.Sprintf("aud_%016x%s", n, idEncoding.EncodeToString(s.randomBytes(5)))
}

// fillAudit completes e from ctx: time, actor, client address, request id.
func (s *Service) fillAudit(ctx context.Context, e *combine.AuditEntry) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if e.ActorID == "" && e.Actor == "" {
		if a := combine.AuthFromContext(ctx); a != nil {
			e.ActorID, e.Actor = a.UserID, a.Email
		} else {
			e.Actor = s.opts.DefaultActor
		}
	}
	if e.ClientAddr == "" {
		e.ClientAddr = combine.ClientAddrFromContext(ctx)
	}
	if e.RequestID == "" {
		e.RequestID = combine.RequestIDFromContext(ctx)
	}
	if e.Outcome == "" {
		e.Outcome = combine.OutcomeSuccess
	}
	if e.ID == "" {
		e.ID = s.auditID(e.At)
	}
	// Entries often quote what a client sent (an email, a route): keep
	// every field storable and bounded, counted in characters.
	e.Actor = safeText(e.Actor, MaxAuditField)
	e.Target = safeText(e.Target, MaxAuditField)
	e.Reason = safeText(e.Reason, MaxAuditField)
	e.ClientAddr = safeText(e.ClientAddr, MaxAuditField)
	e.RequestID = safeText(e.RequestID, MaxAuditField)
}

// MaxAuditField bounds each text field of an audit entry, in characters.
const MaxAuditField = 300

// insertAudit appends e using q (a transaction, so that a change and its
// record commit together).
func (s *Service) insertAudit(ctx context.Context, q queryer, e combine.AuditEntry) error {
	s.fillAudit(ctx, &e)
	details := "{}"
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("audit details: %w", err)
		}
		details = string(b)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO audit_log
		(id, at, actor_id, actor, action, target, outcome, reason, client_addr, request_id, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.ID, sqldb.Time(e.At), e.ActorID, e.Actor, e.Action, e.Target, e.Outcome, e.Reason,
		e.ClientAddr, e.RequestID, details)
	if err != nil {
		return fmt.Errorf("insert audit entry: %w", err)
	}
	return nil
}

// RecordAudit appends an entry in its own transaction.
func (s *Service) RecordAudit(ctx context.Context, e combine.AuditEntry) error {
	if e.Action == "" {
		return combine.Errorf(combine.EINVALID, "audit entry needs an action")
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error { return s.insertAudit(ctx, tx, e) })
}

// RecordDenied is the server's Hooks.Denied: it audits a 403, repeats
// from one client aggregated (see RecordFailure).
func (s *Service) RecordDenied(ctx context.Context, a *combine.AuthContext, required, route string) {
	e := combine.AuditEntry{
		Action: combine.AuditPermissionDenied, Target: route, Outcome: combine.OutcomeFailure,
		Reason: "missing permission " + required,
	}
	if a != nil {
		e.ActorID, e.Actor = a.UserID, a.Email
		e.Details = map[string]any{"auth": a.Method}
	}
	s.RecordFailure(ctx, e)
}

// MaxAuditPage is the largest page FindAudit returns.
const MaxAuditPage = 500

// FindAudit returns entries newest first, with the next page's cursor.
func (s *Service) FindAudit(ctx context.Context, f combine.AuditFilter) ([]*combine.AuditEntry, string, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > MaxAuditPage {
		f.Limit = MaxAuditPage
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Actor != "" {
		add("(actor_id = ? OR actor = ?)", f.Actor)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		add("at >= ?", sqldb.Time(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", sqldb.Time(f.Until))
	}
	if f.Before != "" {
		add("id < ?", f.Before)
	}
	q := `SELECT id, at, actor_id, actor, action, target, outcome, reason, client_addr, request_id, details FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", f.Limit+1)
	rows, err := s.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("query audit log: %w", err)
	}
	defer rows.Close()
	var out []*combine.AuditEntry
	for rows.Next() {
		e := &combine.AuditEntry{}
		var details string
		if err := rows.Scan(&e.ID, sqldb.TimeDest{T: &e.At}, &e.ActorID, &e.Actor, &e.Action, &e.Target,
			&e.Outcome, &e.Reason, &e.ClientAddr, &e.RequestID, &details); err != nil {
			return nil, "", fmt.Errorf("scan audit entry: %w", err)
		}
		if details != "" && details != "{}" {
			if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
				return nil, "", fmt.Errorf("audit details of %s: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("read audit log: %w", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}
