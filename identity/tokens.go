package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

const tokenColumns = `t.id, t.user_id, t.name, t.display, t.scopes, t.created_at, t.expires_at, t.last_used_at, t.revoked_at`

func scanToken(row scanner) (*combine.PersonalAccessToken, error) {
	t := &combine.PersonalAccessToken{}
	var scopes string
	var exp, used, revoked time.Time
	if err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Display, &scopes, sqldb.TimeDest{T: &t.CreatedAt},
		sqldb.TimeDest{T: &exp}, sqldb.TimeDest{T: &used}, sqldb.TimeDest{T: &revoked}); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return nil, fmt.Errorf("scopes of token %s: %w", t.ID, err)
	}
	if t.Scopes == nil {
		t.Scopes = []combine.Permission{}
	}
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = timePtr(exp), timePtr(used), timePtr(revoked)
	return t, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// expiry resolves a requested lifetime against PAT_DEFAULT/MAX_EXPIRY_DAYS.
func (s *Service) expiry(days *int, now time.Time) (time.Time, error) {
	d := s.opts.PATDefaultExpiryDays
	if days != nil {
		d = *days
	}
	maxDays := s.opts.PATMaxExpiryDays
	switch {
	case d < 0:
		return time.Time{}, combine.Errorf(combine.EINVALID, "expires_in_days must not be negative")
	case d == 0 && maxDays > 0:
		return time.Time{}, combine.Errorf(combine.EINVALID, "expires_in_days must be between 1 and %d (tokens without expiry are not allowed here)", maxDays)
	case maxDays > 0 && d > maxDays:
		return time.Time{}, combine.Errorf(combine.EINVALID, "expires_in_days must be at most %d", maxDays)
	case d == 0:
		return time.Time{}, nil
	}
	return now.AddDate(0, 0, d), nil
}

// MaxTokenName is the longest token name, in characters.
const MaxTokenName = 100

// CreateToken issues a personal access token for userID.
func (s *Service) CreateToken(ctx context.Context, userID string, in combine.TokenCreate, allowed combine.PermissionSet) (*combine.PersonalAccessToken, string, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return nil, "", combine.Errorf(combine.EINVALID, "name is required")
	} else if err := combine.CheckText("name", name, MaxTokenName); err != nil {
		return nil, "", err
	} else if combine.HasControl(name) {
		return nil, "", combine.Errorf(combine.EINVALID, "name must not contain control characters")
	}
	now := s.now()
	expires, err := s.expiry(in.ExpiresInDays, now)
	if err != nil {
		return nil, "", err
	}
	scopes := []combine.Permission{}
	for _, p := range in.Scopes {
		if _, ok := combine.ParsePermission(string(p)); !ok {
			return nil, "", combine.Errorf(combine.EINVALID, "unknown scope %q", p)
		}
		if !slices.Contains(scopes, p) {
			scopes = append(scopes, p)
		}
	}
	slices.Sort(scopes)
	var tok *combine.PersonalAccessToken
	text := s.newToken()
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		u, err := findUser(ctx, tx, "u.id = $1", userID)
		if err != nil {
			return err
		}
		if u.Disabled {
			return combine.Errorf(combine.ECONFLICT, "user %s is disabled", u.Email)
		}
		owner := combine.PermissionsForRoles(u.Roles)
		if allowed == nil {
			allowed = owner
		}
		parentScoped := len(in.ParentScopes) > 0
		if parentScoped {
			allowed = allowed.Intersect(in.ParentScopes)
		}
		for _, p := range scopes {
			if !allowed.Has(p) {
				e := combine.Forbidden(p)
				e.Message = fmt.Sprintf("cannot grant scope %q: the creator does not hold that permission", p)
				return e
			}
		}
		if len(scopes) == 0 && (parentScoped || !containsAll(allowed, owner)) {
			// A scoped credential cannot mint an unscoped token — not even
			// when its scopes equal the owner's permissions today, since an
			// unscoped child would grow with a promotion and its parent
			// would not: the new token inherits the creator's scope.
			if scopes = allowed.List(); len(scopes) == 0 {
				return combine.Errorf(combine.EFORBIDDEN, "this credential holds no permission it could delegate")
			}
		}
		tok = &combine.PersonalAccessToken{ID: s.newID("tok_"), UserID: userID, Name: name, Display: displayToken(text),
			Scopes: scopes, CreatedAt: now, ExpiresAt: timePtr(expires)}
		b, _ := json.Marshal(scopes)
		if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, user_id, name, token_hash, display, scopes, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, tok.ID, userID, name, hashSecret(text), tok.Display, string(b),
			sqldb.Time(now), sqldb.Time(expires)); err != nil {
			return fmt.Errorf("insert token: %w", err)
		}
		return s.insertAudit(ctx, tx, combine.AuditEntry{Action: combine.AuditTokenCreate, Target: tok.ID,
			Details: map[string]any{"owner": userID, "name": name, "scopes": scopes, "display": tok.Display}})
	})
	if err != nil {
		return nil, "", err
	}
	return tok, text, nil
}

// ListTokens returns the user's unrevoked tokens, newest first (expired
// ones included, so their owner sees why they fail).
func (s *Service) ListTokens(ctx context.Context, userID string) ([]*combine.PersonalAccessToken, error) {
	return queryAll(ctx, s.db.R, "tokens", scanToken, `SELECT `+tokenColumns+` FROM tokens t
		WHERE t.user_id = $1 AND t.revoked_at IS NULL ORDER BY t.created_at DESC, t.id`, userID)
}

// RevokeToken revokes a token owned by the caller, or any token when the
// caller holds user:manage. Others get ENOTFOUND (existence is not revealed).
func (s *Service) RevokeToken(ctx context.Context, tokenID string) error {
	a := combine.AuthFromContext(ctx)
	var owner string
	err := s.withAccessTx(ctx, func(tx *accessTx) error {
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM tokens WHERE id = $1 AND revoked_at IS NULL`, tokenID).Scan(&owner)
		if err == sql.ErrNoRows || (err == nil && a != nil && owner != a.UserID && !a.Can(combine.PermUserManage)) {
			return combine.Errorf(combine.ENOTFOUND, "token %s not found", tokenID)
		} else if err != nil {
			return fmt.Errorf("find token: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = $1 WHERE id = $2`, sqldb.Time(s.now()), tokenID); err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		tx.token(tokenID)
		return s.insertAudit(ctx, tx, combine.AuditEntry{Action: combine.AuditTokenRevoke, Target: tokenID,
			Details: map[string]any{"owner": owner}})
	})
	return err
}

func containsAll(set, sub combine.PermissionSet) bool {
	for p := range sub {
		if !set.Has(p) {
			return false
		}
	}
	return true
}
