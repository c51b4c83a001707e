package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// LinkURL returns the address at which a sign-in link secret is opened.
func (s *Service) LinkURL(secret string) string {
	return strings.TrimRight(s.opts.PublicURL, "/") + "/auth/link/" + secret
}

// CreateLoginLink issues a one-time sign-in link for the one existing,
// enabled user with this email. It is a break-glass path and is audited.
func (s *Service) CreateLoginLink(ctx context.Context, email string) (string, time.Time, error) {
	email, err := validateEmail(email)
	if err != nil {
		return "", time.Time{}, err
	}
	var secret string
	var expires time.Time
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		us, err := usersByEmail(ctx, tx, email)
		if err != nil {
			return err
		}
		if local := slices.DeleteFunc(slices.Clone(us), func(u *combine.User) bool { return u.Issuer != combine.ProviderLocal }); len(us) > 1 && len(local) == 1 {
			// Break-glass access goes to the provisioned (local) account.
			us = local
		}
		switch {
		case len(us) == 0:
			return combine.Errorf(combine.ENOTFOUND, "no user has email %s (create one with `combine users create`)", email)
		case len(us) > 1:
			return combine.Errorf(combine.ECONFLICT, "several users have email %s (%s); users are identified by their provider, not by email", email, userIDs(us))
		case us[0].Disabled:
			return combine.Errorf(combine.ECONFLICT, "user %s is disabled", email)
		}
		secret, expires, err = s.insertLink(ctx, tx, combine.LinkPurposeLogin, us[0].ID)
		return err
	})
	return secret, expires, err
}

// CreateSetupLink issues the first-admin setup link while no active admin
// exists. Earlier unused setup links are superseded.
func (s *Service) CreateSetupLink(ctx context.Context) (string, time.Time, bool, error) {
	var secret string
	var expires time.Time
	ok := false
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAdmins(ctx, tx); err != nil {
			return err
		}
		n, err := countActiveAdmins(ctx, tx)
		if err != nil || n > 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE login_links SET used_at = $1 WHERE purpose = 'setup' AND used_at IS NULL`,
			sqldb.Time(s.now())); err != nil {
			return fmt.Errorf("supersede setup links: %w", err)
		}
		secret, expires, err = s.insertLink(ctx, tx, combine.LinkPurposeSetup, "")
		ok = err == nil
		return err
	})
	return secret, expires, ok, err
}

func (s *Service) insertLink(ctx context.Context, tx *sql.Tx, purpose, userID string) (string, time.Time, error) {
	now := s.now()
	secret, id, expires := s.newSecret(), s.newID("lnk_"), now.Add(linkLifetime)
	var uid any
	if userID != "" {
		uid = userID
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO login_links (id, secret_hash, purpose, user_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, hashSecret(secret), purpose, uid, sqldb.Time(now), sqldb.Time(expires)); err != nil {
		return "", time.Time{}, fmt.Errorf("insert link: %w", err)
	}
	return secret, expires, s.insertAudit(ctx, tx, combine.AuditEntry{Action: combine.AuditLinkCreate, Target: id,
		Reason: "break-glass", Details: map[string]any{"purpose": purpose, "user_id": userID}})
}

// linkRow is a stored link.
type linkRow struct {
	id, purpose, userID string
	expiresAt, usedAt   time.Time
}

var errBadLink = combine.Errorf(combine.EUNAUTHORIZED, "this sign-in link is invalid, expired or already used")

// findLink returns the valid link with this secret. Bad secrets count as
// failed authentication of the client address (the same limiter as
// tokens and sessions): over the limit they are answered ERATELIMITED,
// which is not audited, so guessing cannot flood the audit log.
func (s *Service) findLink(ctx context.Context, q queryer, secret string) (*linkRow, error) {
	l, err := s.readLink(ctx, q, secret)
	if err == errBadLink {
		return nil, s.failed(combine.ClientAddrFromContext(ctx), err)
	}
	return l, err
}

func (s *Service) readLink(ctx context.Context, q queryer, secret string) (*linkRow, error) {
	l := &linkRow{}
	var uid sql.NullString
	err := q.QueryRowContext(ctx, `SELECT id, purpose, user_id, expires_at, used_at FROM login_links WHERE secret_hash = $1`,
		hashSecret(secret)).Scan(&l.id, &l.purpose, &uid, sqldb.TimeDest{T: &l.expiresAt}, sqldb.TimeDest{T: &l.usedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadLink
	} else if err != nil {
		return nil, fmt.Errorf("find link: %w", err)
	}
	l.userID = uid.String
	if !l.usedAt.IsZero() || !s.now().Before(l.expiresAt) {
		return nil, errBadLink
	}
	return l, nil
}

// InspectLink reports what a valid link would do without consuming it
// (a GET of the link must not use it up: mail scanners prefetch links).
func (s *Service) InspectLink(ctx context.Context, secret string) (*combine.LinkInfo, error) {
	l, err := s.findLink(ctx, s.db.R, secret)
	if err != nil {
		return nil, err
	}
	info := &combine.LinkInfo{Purpose: l.purpose, ExpiresAt: l.expiresAt}
	if l.userID != "" {
		u, err := findUser(ctx, s.db.R, "u.id = $1", l.userID)
		if err != nil {
			return nil, err
		}
		info.Email = u.Email
	}
	return info, nil
}

// consumeLink marks a valid link of the given purpose used, exactly once.
func (s *Service) consumeLink(ctx context.Context, tx *sql.Tx, secret, purpose string) (*linkRow, error) {
	l, err := s.findLink(ctx, tx, secret)
	if err != nil {
		return nil, err
	}
	if l.purpose != purpose {
		return nil, combine.Errorf(combine.EINVALID, "this is a %s link, not a %s link", l.purpose, purpose)
	}
	res, err := tx.ExecContext(ctx, `UPDATE login_links SET used_at = $1 WHERE id = $2 AND used_at IS NULL`, sqldb.Time(s.now()), l.id)
	if err != nil {
		return nil, fmt.Errorf("use link: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, errBadLink
	}
	return l, nil
}

// LoginWithLink consumes a login link and opens a fresh session for its user.
func (s *Service) LoginWithLink(ctx context.Context, secret string, req combine.LoginRequest) (*combine.User, *combine.Session, string, error) {
	ctx = combine.NewContextWithClientAddr(ctx, firstNonEmpty(combine.ClientAddrFromContext(ctx), req.ClientAddr))
	var u *combine.User
	var sess *combine.Session
	var cookie string
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		l, err := s.consumeLink(ctx, tx, secret, combine.LinkPurposeLogin)
		if err != nil {
			return err
		}
		if u, err = findUser(ctx, tx, "u.id = $1", l.userID); err != nil {
			return err
		}
		if u.Disabled {
			return loginRefused(ReasonUserDisabled, "your account is disabled")
		}
		sess, cookie, err = s.linkSession(ctx, tx, u, l, req)
		return err
	})
	if err != nil {
		switch combine.ErrorCode(err) {
		case combine.EFORBIDDEN:
			s.auditLoginFailure(ctx, "link", "", "", ReasonUserDisabled)
		case combine.EUNAUTHORIZED:
			s.auditLoginFailure(ctx, "link", "", "", ReasonLinkInvalid)
		}
		return nil, nil, "", err
	}
	return u, sess, cookie, nil
}

// linkSession records a link sign-in of u: last_login_at, a fresh session
// and the audit entries.
func (s *Service) linkSession(ctx context.Context, tx *sql.Tx, u *combine.User, l *linkRow, req combine.LoginRequest) (*combine.Session, string, error) {
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET last_login_at = $1 WHERE id = $2`, sqldb.Time(now), u.ID); err != nil {
		return nil, "", fmt.Errorf("record login: %w", err)
	}
	u.LastLoginAt = now
	sess, cookie, err := s.createSession(ctx, tx, u.ID, req)
	if err != nil {
		return nil, "", err
	}
	return sess, cookie, s.auditLinkLogin(ctx, tx, u, l, sess)
}

func (s *Service) auditLinkLogin(ctx context.Context, tx *sql.Tx, u *combine.User, l *linkRow, sess *combine.Session) error {
	if err := s.insertAudit(ctx, tx, combine.AuditEntry{ActorID: u.ID, Actor: u.Email, Action: combine.AuditLinkUse,
		Target: l.id, Reason: "break-glass", Details: map[string]any{"purpose": l.purpose}}); err != nil {
		return err
	}
	return s.insertAudit(ctx, tx, combine.AuditEntry{ActorID: u.ID, Actor: u.Email, Action: combine.AuditLoginSuccess,
		Target: sess.ID, Details: map[string]any{"provider": "link"}})
}

// CompleteSetup consumes the setup link: while still no active admin
// exists, the opener becomes one (a local user) and is signed in.
func (s *Service) CompleteSetup(ctx context.Context, secret, name, email string, req combine.LoginRequest) (*combine.User, *combine.Session, string, error) {
	ctx = combine.NewContextWithClientAddr(ctx, firstNonEmpty(combine.ClientAddrFromContext(ctx), req.ClientAddr))
	in, err := s.validateCreate(combine.UserCreate{Email: email, Name: name, Roles: []string{combine.RoleAdmin}})
	if err != nil {
		return nil, nil, "", err
	}
	if in.Name == "" {
		return nil, nil, "", combine.Errorf(combine.EINVALID, "name is required")
	}
	var u *combine.User
	var sess *combine.Session
	var cookie string
	err = s.withAccessTx(ctx, func(tx *accessTx) error {
		if err := s.lockAdmins(ctx, tx.Tx); err != nil {
			return err
		}
		if n, err := countActiveAdmins(ctx, tx); err != nil {
			return err
		} else if n > 0 {
			return combine.Errorf(combine.ECONFLICT, "an admin already exists; ask an admin for a sign-in link")
		}
		l, err := s.consumeLink(ctx, tx.Tx, secret, combine.LinkPurposeSetup)
		if err != nil {
			return err
		}
		u, err = findUser(ctx, tx, "u.issuer = 'local' AND u.provider_id = $1", in.Email)
		switch combine.ErrorCode(err) {
		case combine.ENOTFOUND:
			if u, err = s.insertLocalUser(ctx, tx.Tx, in); err != nil {
				return err
			}
		case "":
			roles, disabled := append(u.Roles, combine.RoleAdmin), false
			if u, err = s.updateUser(ctx, tx, u.ID, combine.UserUpdate{Roles: &roles, Disabled: &disabled}); err != nil {
				return err
			}
		default:
			return err
		}
		sess, cookie, err = s.linkSession(ctx, tx.Tx, u, l, req)
		return err
	})
	if err != nil {
		if combine.ErrorCode(err) == combine.EUNAUTHORIZED {
			s.auditLoginFailure(ctx, "setup-link", in.Email, "", ReasonLinkInvalid)
		}
		return nil, nil, "", err
	}
	return u, sess, cookie, nil
}
