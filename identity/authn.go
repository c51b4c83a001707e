package identity

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"math"
	"strings"

	"github.com/thecombine/combine"
)

func unauthorized(msg string) error { return combine.Errorf(combine.EUNAUTHORIZED, "%s", msg) }

// Authenticate implements combine.Authenticator: a bearer personal access
// token (preferred when an Authorization header is present) or a session
// cookie. Every request re-reads the credential and its owner's current
// roles. Failures count against the client address; over the limit a
// failure is answered ERATELIMITED instead of EUNAUTHORIZED. A valid
// credential is never limited, so one client cannot lock out the others
// behind the same address (a NAT or proxy).
func (s *Service) Authenticate(ctx context.Context, c combine.Credentials) (*combine.AuthContext, error) {
	if !c.HasAuthorization && c.Session == "" {
		return nil, nil
	}
	var a *combine.AuthContext
	var err error
	if c.HasAuthorization {
		a, err = s.authenticateToken(ctx, c.Bearer)
	} else {
		a, err = s.authenticateSession(ctx, c.Session)
	}
	if combine.ErrorCode(err) == combine.EUNAUTHORIZED {
		return nil, s.failed(c.ClientAddr, err)
	}
	return a, err
}

// failed records a failed authentication by addr and returns err, or the
// rate-limit error when addr has failed too often lately.
func (s *Service) failed(addr string, err error) error {
	if lerr := s.checkLimit(addr); lerr != nil {
		return lerr
	}
	s.limiter.Fail(addr)
	return err
}

// checkLimit refuses a client address that failed too often lately.
func (s *Service) checkLimit(addr string) error {
	if wait := s.limiter.Blocked(addr); wait > 0 {
		return &combine.Error{Code: combine.ERATELIMITED,
			Message: "too many failed authentication attempts; retry later",
			Details: map[string]any{combine.RetryAfterKey: int(math.Ceil(wait.Seconds()))}}
	}
	return nil
}

func (s *Service) authenticateToken(ctx context.Context, bearer string) (*combine.AuthContext, error) {
	if bearer == "" {
		return nil, unauthorized("the Authorization header must be `Bearer <personal access token>`")
	}
	if !ValidTokenFormat(bearer) {
		return nil, unauthorized("the bearer token is not a valid personal access token")
	}
	hash := hashSecret(bearer)
	st, err := s.lookupToken(ctx, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unauthorized("the personal access token is not valid")
	} else if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case subtle.ConstantTimeCompare([]byte(st.hash), []byte(hash)) != 1:
		return nil, unauthorized("the personal access token is not valid")
	case !st.revoked.IsZero():
		return nil, unauthorized("the personal access token has been revoked")
	case !st.expiresAt.IsZero() && !now.Before(st.expiresAt):
		return nil, unauthorized("the personal access token has expired")
	case st.user.disabled:
		return nil, unauthorized("the account is disabled")
	}
	if now.Sub(st.lastUsed) >= touchInterval {
		if err := s.touchToken(ctx, st.id, now); err != nil {
			s.logger.WarnContext(ctx, "record token use", "token_id", st.id, "error", err)
		}
	}
	a := st.user.context(combine.AuthMethodPAT)
	a.TokenID = st.id
	if len(st.scopes) > 0 {
		a.Scopes = st.scopes
	}
	a.Permissions = combine.PermissionsForRoles(st.user.roles).Intersect(st.scopes)
	return a, nil
}

// validSessionFormat accepts exactly the shape newSecret produces.
func validSessionFormat(v string) bool {
	if len(v) != 43 {
		return false
	}
	return !strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}

func (s *Service) authenticateSession(ctx context.Context, cookie string) (*combine.AuthContext, error) {
	if !validSessionFormat(cookie) {
		return nil, unauthorized("the session cookie is not valid; sign in again")
	}
	hash := hashSecret(cookie)
	st, err := s.lookupSession(ctx, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unauthorized("the session is not valid; sign in again")
	} else if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case subtle.ConstantTimeCompare([]byte(st.hash), []byte(hash)) != 1:
		return nil, unauthorized("the session is not valid; sign in again")
	case !st.revoked.IsZero():
		return nil, unauthorized("the session has ended; sign in again")
	case !now.Before(st.expiresAt):
		return nil, unauthorized("the session has expired; sign in again")
	case now.Sub(st.lastSeen) >= s.opts.SessionIdle:
		return nil, unauthorized("the session expired after inactivity; sign in again")
	case st.user.disabled:
		return nil, unauthorized("the account is disabled")
	}
	if now.Sub(st.lastSeen) >= touchInterval {
		if err := s.touchSession(ctx, st.id, now); err != nil {
			s.logger.WarnContext(ctx, "record session activity", "session_id", st.id, "error", err)
		}
	}
	a := st.user.context(combine.AuthMethodSession)
	a.SessionID = st.id
	a.Permissions = combine.PermissionsForRoles(st.user.roles)
	return a, nil
}
