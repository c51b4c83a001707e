package engine

import (
	"context"
	"database/sql"
	"time"

	"github.com/thecombine/combine/sqldb"
)

// Tx is one transition's transaction. It fixes the clock reading for the
// whole transition (every row and event of it carries the same time),
// collects the events it appends, and runs hooks once it has committed —
// never when it rolls back.
type Tx struct {
	*sql.Tx
	// Now is the time of the transition.
	Now time.Time

	events []string
	woken  map[string]bool
	after  []func()
}

// now is Now in stored form.
func (tx *Tx) now() any { return sqldb.Time(tx.Now) }

// AfterCommit runs f after the transaction commits.
func (tx *Tx) AfterCommit(f func()) { tx.after = append(tx.after, f) }

// appended records an event of executionID appended in tx.
func (tx *Tx) appended(executionID, typ string) {
	tx.events = append(tx.events, typ)
	if tx.woken == nil {
		tx.woken = map[string]bool{}
	}
	tx.woken[executionID] = true
}

// withTx runs fn in one transaction; after commit it counts the events
// appended, wakes the streams of the executions they belong to and runs
// the AfterCommit hooks.
func (s *Service) withTx(ctx context.Context, fn func(tx *Tx) error) error {
	var t *Tx
	err := s.db.WithTx(ctx, func(stx *sql.Tx) error {
		t = &Tx{Tx: stx, Now: s.now()}
		return fn(t)
	})
	if err != nil {
		return err
	}
	for _, typ := range t.events {
		s.met.events.WithLabelValues(typ).Inc()
	}
	if s.cfg.OnEvent != nil {
		for id := range t.woken {
			s.cfg.OnEvent(id)
		}
	}
	for _, f := range t.after {
		f()
	}
	return nil
}
