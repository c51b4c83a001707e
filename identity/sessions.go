package identity

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// createSession opens a fresh session for userID inside tx and returns it
// with its secret (the cookie value). Only the secret's hash is stored.
func (s *Service) createSession(ctx context.Context, tx *sql.Tx, userID string, req combine.LoginRequest) (*combine.Session, string, error) {
	now := s.now()
	secret := s.newSecret()
	sess := &combine.Session{
		ID: s.newID("ses_"), UserID: userID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.opts.SessionExpire), ClientAddr: req.ClientAddr, UserAgent: safeText(req.UserAgent, MaxUserAgent),
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sessions
		(id, user_id, secret_hash, created_at, last_seen_at, expires_at, client_addr, user_agent)
		VALUES ($1, $2, $3, $4, $4, $5, $6, $7)`,
		sess.ID, userID, hashSecret(secret), sqldb.Time(now), sqldb.Time(sess.ExpiresAt), sess.ClientAddr, sess.UserAgent)
	if err != nil {
		return nil, "", fmt.Errorf("insert session: %w", err)
	}
	return sess, secret, nil
}

// MaxUserAgent is how much of a User-Agent a session keeps, in characters.
const MaxUserAgent = 300

// ListSessions returns the user's live sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]*combine.Session, error) {
	now := s.now()
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, user_id, created_at, last_seen_at, expires_at, client_addr, user_agent
		FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_seen_at > $3
		ORDER BY created_at DESC, id`,
		userID, sqldb.Time(now), sqldb.Time(now.Add(-s.opts.SessionIdle)))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	out := []*combine.Session{}
	for rows.Next() {
		x := &combine.Session{}
		if err := rows.Scan(&x.ID, &x.UserID, sqldb.TimeDest{T: &x.CreatedAt}, sqldb.TimeDest{T: &x.LastSeenAt},
			sqldb.TimeDest{T: &x.ExpiresAt}, &x.ClientAddr, &x.UserAgent); err != nil {
			return nil, fmt.Errorf("scan session: %w", err)
		}
		if a := combine.AuthFromContext(ctx); a != nil && a.SessionID == x.ID {
			x.Current = true
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// RevokeSession ends one of the user's sessions.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID string) error {
	return s.endSession(ctx, userID, sessionID, combine.AuditSessionRevoke)
}

// Logout ends the session (the caller's own); unknown or already ended
// sessions are not an error, so logging out twice is harmless.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	err := s.endSession(ctx, "", sessionID, combine.AuditLogout)
	if combine.ErrorCode(err) == combine.ENOTFOUND {
		return nil
	}
	return err
}

func (s *Service) endSession(ctx context.Context, userID, sessionID, action string) error {
	var owner string
	err := s.withAccessTx(ctx, func(tx *accessTx) error {
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM sessions WHERE id = $1 AND revoked_at IS NULL`, sessionID).Scan(&owner)
		if err == sql.ErrNoRows || (err == nil && userID != "" && owner != userID) {
			return combine.Errorf(combine.ENOTFOUND, "session %s not found", sessionID)
		} else if err != nil {
			return fmt.Errorf("find session: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2`, sqldb.Time(s.now()), sessionID); err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		tx.session(sessionID)
		e := combine.AuditEntry{Action: action, Target: sessionID}
		if combine.AuthFromContext(ctx) == nil {
			e.ActorID = owner
			e.Actor = owner
		}
		return s.insertAudit(ctx, tx, e)
	})
	return err
}

// RevokeAllSessions ends every live session of the user.
func (s *Service) RevokeAllSessions(ctx context.Context, userID string) (int, error) {
	var n int64
	err := s.withAccessTx(ctx, func(tx *accessTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`,
			sqldb.Time(s.now()), userID)
		if err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		tx.user(userID)
		n, _ = res.RowsAffected()
		return s.insertAudit(ctx, tx, combine.AuditEntry{Action: combine.AuditSessionRevokeAll, Target: userID,
			Details: map[string]any{"sessions": n}})
	})
	return int(n), err
}
