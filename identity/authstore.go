package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// The per-request lookups read only what authentication needs, through
// statements prepared once (parsing the SQL was 40% of the cost on SQLite).
const (
	tokenLookupSQL = `SELECT u.id, u.email, u.name, u.provider, u.roles, u.disabled,
		t.id, t.token_hash, t.scopes, t.expires_at, t.last_used_at, t.revoked_at
		FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1`
	sessionLookupSQL = `SELECT u.id, u.email, u.name, u.provider, u.roles, u.disabled,
		x.id, x.secret_hash, x.expires_at, x.last_seen_at, x.revoked_at
		FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.secret_hash = $1`
)

// stmts holds lazily prepared statements: the service is built before
// migrations run, when the tables may not exist yet.
type stmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// row is what a single-row lookup returns, from database/sql or pgx.
type row interface {
	Scan(dest ...any) error
}

// queryRow runs q on the read pool, on SQLite through a statement
// prepared once. On PostgreSQL it goes straight to the pgx pool, which
// caches prepared statements per connection and skips database/sql's
// per-query overhead (a database/sql statement on top of the pool
// re-prepares on every use, measured 4× slower).
func (s *Service) queryRow(ctx context.Context, q string, args ...any) row {
	if s.db.Dialect != sqldb.SQLite {
		if s.db.Pool != nil {
			return s.db.Pool.QueryRow(ctx, q, args...)
		}
		return s.db.R.QueryRowContext(ctx, q, args...)
	}
	// A cancellable context costs a goroutine and a progress handler per
	// query in modernc.org/sqlite; a single-row indexed read cannot run
	// long enough to need it.
	ctx = context.WithoutCancel(ctx)
	s.stmts.mu.Lock()
	st, ok := s.stmts.m[q]
	if !ok {
		var err error
		if st, err = s.db.R.PrepareContext(ctx, q); err == nil {
			if s.stmts.m == nil {
				s.stmts.m = map[string]*sql.Stmt{}
			}
			s.stmts.m[q] = st
		}
	}
	s.stmts.mu.Unlock()
	if st == nil {
		return s.db.R.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Close releases the prepared statements.
func (s *Service) Close() error {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	for q, st := range s.stmts.m {
		st.Close()
		delete(s.stmts.m, q)
	}
	return nil
}

// authUser is the owner of a credential, as authentication needs it.
type authUser struct {
	id, email, name, provider string
	roles                     []string
	disabled                  bool
}

// parseList decodes a stored JSON array of plain names (roles, scopes):
// validated names never need escaping, so the common case skips JSON.
func parseList(s string) ([]string, error) {
	if s == "[]" || s == "" {
		return []string{}, nil
	}
	if strings.HasPrefix(s, `["`) && strings.HasSuffix(s, `"]`) && !strings.ContainsRune(s, '\\') {
		return strings.Split(s[2:len(s)-2], `","`), nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("stored list %q: %w", s, err)
	}
	return out, nil
}

// tokenState is a token row joined with its owner.
type tokenState struct {
	user                         authUser
	id, hash                     string
	scopes                       []combine.Permission
	expiresAt, lastUsed, revoked time.Time
}

func (s *Service) lookupToken(ctx context.Context, hash string) (*tokenState, error) {
	st := &tokenState{}
	var roles, scopes string
	err := s.queryRow(ctx, tokenLookupSQL, hash).Scan(&st.user.id, &st.user.email, &st.user.name, &st.user.provider,
		&roles, &st.user.disabled, &st.id, &st.hash, &scopes,
		sqldb.TimeDest{T: &st.expiresAt}, sqldb.TimeDest{T: &st.lastUsed}, sqldb.TimeDest{T: &st.revoked})
	if err != nil {
		return nil, err
	}
	if st.user.roles, err = parseList(roles); err != nil {
		return nil, err
	}
	names, err := parseList(scopes)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		st.scopes = append(st.scopes, combine.Permission(n))
	}
	return st, nil
}

// sessionState is a session row joined with its user.
type sessionState struct {
	user                         authUser
	id, hash                     string
	expiresAt, lastSeen, revoked time.Time
}

func (s *Service) lookupSession(ctx context.Context, hash string) (*sessionState, error) {
	st := &sessionState{}
	var roles string
	err := s.queryRow(ctx, sessionLookupSQL, hash).Scan(&st.user.id, &st.user.email, &st.user.name, &st.user.provider,
		&roles, &st.user.disabled, &st.id, &st.hash,
		sqldb.TimeDest{T: &st.expiresAt}, sqldb.TimeDest{T: &st.lastSeen}, sqldb.TimeDest{T: &st.revoked})
	if err != nil {
		return nil, err
	}
	st.user.roles, err = parseList(roles)
	return st, err
}

// touchToken records use at most once per touchInterval.
func (s *Service) touchToken(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.W.ExecContext(ctx, `UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)`,
		sqldb.Time(now), id, sqldb.Time(now.Add(-touchInterval)))
	if err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}

// touchSession records activity at most once per touchInterval.
func (s *Service) touchSession(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.W.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at <= $3`,
		sqldb.Time(now), id, sqldb.Time(now.Add(-touchInterval)))
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}
