package identity

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// NotifyChannel is the PostgreSQL notification channel on which every
// change of access (a credential ended, a user's roles or state changed)
// is announced, from inside the transaction that makes it. The payload is
// a subject: "t:<token id>", "s:<session id>" or "u:<user id>".
const NotifyChannel = "combine_access"

type subjectKind byte

const (
	subjectToken   subjectKind = 't'
	subjectSession subjectKind = 's'
	subjectUser    subjectKind = 'u'
)

// subject names what an access change touched: one credential, or a
// user (and so every credential of that user).
type subject struct {
	kind subjectKind
	id   string
}

func (s subject) String() string { return string(s.kind) + ":" + s.id }

// parseSubject reads a notification payload.
func parseSubject(p string) (subject, bool) {
	if len(p) < 3 || p[1] != ':' {
		return subject{}, false
	}
	switch k := subjectKind(p[0]); k {
	case subjectToken, subjectSession, subjectUser:
		return subject{kind: k, id: p[2:]}, true
	}
	return subject{}, false
}

// auditSubject maps an audited access change to its subject: on SQLite
// the audit log (same transaction as the change) is the feed other
// processes follow. It must name every action after which a cached
// credential could be wrong.
func auditSubject(action, target string) (subject, bool) {
	switch action {
	case combine.AuditTokenRevoke:
		return subject{subjectToken, target}, true
	case combine.AuditLogout, combine.AuditSessionRevoke:
		return subject{subjectSession, target}, true
	case combine.AuditSessionRevokeAll, combine.AuditUserRoles, combine.AuditUserDisable, combine.AuditUserEnable:
		return subject{subjectUser, target}, true
	}
	return subject{}, false
}

// accessTx is a write transaction that changes access: the subjects it
// names are announced to every instance when it commits, and evicted from
// this instance's cache right after.
type accessTx struct {
	*sql.Tx
	subjects []subject
}

func (t *accessTx) token(id string)   { t.add(subject{subjectToken, id}) }
func (t *accessTx) session(id string) { t.add(subject{subjectSession, id}) }
func (t *accessTx) user(id string)    { t.add(subject{subjectUser, id}) }

func (t *accessTx) add(s subject) {
	if !slices.Contains(t.subjects, s) {
		t.subjects = append(t.subjects, s)
	}
}

// withAccessTx runs fn in a write transaction (see accessTx). The local
// eviction follows the commit, so that the next request here sees the
// change; it runs even when the commit fails, since an eviction too many
// costs one database read and a commit error may hide a commit.
func (s *Service) withAccessTx(ctx context.Context, fn func(tx *accessTx) error) error {
	atx := &accessTx{}
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		atx.Tx = tx
		if err := fn(atx); err != nil {
			return err
		}
		return s.announce(ctx, tx, atx.subjects)
	})
	s.cache.changed(atx.subjects)
	return err
}

// announce queues a notification per subject inside tx: PostgreSQL
// delivers it to every listening instance when tx commits, never if it
// rolls back. On SQLite the audit entry written by the same transaction
// is the announcement (see auditSubject).
func (s *Service) announce(ctx context.Context, tx *sql.Tx, subjects []subject) error {
	if s.db.Dialect != sqldb.Postgres {
		return nil
	}
	for _, sub := range subjects {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, sub.String()); err != nil {
			return fmt.Errorf("announce access change: %w", err)
		}
	}
	return nil
}
