package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/thecombine/combine"
)

func unauthorized(msg string) error { return combine.Errorf(combine.EUNAUTHORIZED, "%s", msg) }

// Authenticate implements combine.Authenticator: a bearer personal access
// token (preferred when an Authorization header is present) or a session
// cookie. A credential verified lately is served from the cache (see
// CredentialCache); otherwise it and its owner's current roles are read. Failures count against the client address; over the limit a
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
	key := sha256.Sum256([]byte(bearer))
	now := s.now()
	if e := s.cache.store.get(key, now); e != nil {
		if !e.expiresAt.IsZero() && !now.Before(e.expiresAt) {
			// Refused only on a fresh read, below.
			s.cache.store.drop(key, e)
		} else {
			s.touchCached(ctx, e, now)
			return e.context(), nil
		}
	}
	gen, cacheable := s.cache.store.begin()
	hash := hex.EncodeToString(key[:])
	st, err := s.lookupToken(ctx, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unauthorized("the personal access token is not valid")
	} else if err != nil {
		return nil, err
	}
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
	used := st.lastUsed
	if now.Sub(used) >= touchInterval {
		if err := s.touchToken(ctx, st.id, now); err != nil {
			s.logger.WarnContext(ctx, "record token use", "token_id", st.id, "error", err)
		} else {
			used = now
		}
	}
	e := newCachedCred(combine.AuthMethodPAT, st.id, st.user,
		combine.PermissionsForRoles(st.user.roles).Intersect(st.scopes), st.expiresAt, used, now)
	if len(st.scopes) > 0 {
		e.scopes = slices.Clip(st.scopes)
	}
	if cacheable {
		s.cache.store.put(key, e, gen)
	}
	return e.context(), nil
}

// touchCached records the use of a cached credential at most once per
// touchInterval: of concurrent requests, the one that moves the
// timestamp writes it; if the write fails, the next request tries again.
func (s *Service) touchCached(ctx context.Context, e *cachedCred, now time.Time) {
	used := e.used.Load()
	if now.UnixMicro()-used < touchInterval.Microseconds() || !e.used.CompareAndSwap(used, now.UnixMicro()) {
		return
	}
	var err error
	if e.method == combine.AuthMethodPAT {
		err = s.touchToken(ctx, e.id, now)
	} else {
		err = s.touchSession(ctx, e.id, now)
	}
	if err != nil {
		e.used.CompareAndSwap(now.UnixMicro(), used)
		s.logger.WarnContext(ctx, "record credential use", "method", e.method, "id", e.id, "error", err)
	}
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
	key := sha256.Sum256([]byte(cookie))
	now := s.now()
	if e := s.cache.store.get(key, now); e != nil {
		if !now.Before(e.expiresAt) || now.UnixMicro()-e.used.Load() >= s.opts.SessionIdle.Microseconds() {
			// Refused only on a fresh read, below (another instance may
			// have seen activity this one has not).
			s.cache.store.drop(key, e)
		} else {
			s.touchCached(ctx, e, now)
			return e.context(), nil
		}
	}
	gen, cacheable := s.cache.store.begin()
	hash := hex.EncodeToString(key[:])
	st, err := s.lookupSession(ctx, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unauthorized("the session is not valid; sign in again")
	} else if err != nil {
		return nil, err
	}
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
	seen := st.lastSeen
	if now.Sub(seen) >= touchInterval {
		if err := s.touchSession(ctx, st.id, now); err != nil {
			s.logger.WarnContext(ctx, "record session activity", "session_id", st.id, "error", err)
		} else {
			seen = now
		}
	}
	e := newCachedCred(combine.AuthMethodSession, st.id, st.user, combine.PermissionsForRoles(st.user.roles), st.expiresAt, seen, now)
	if cacheable {
		s.cache.store.put(key, e, gen)
	}
	return e.context(), nil
}
