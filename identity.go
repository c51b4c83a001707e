package combine

import (
	"context"
	"time"
)

// ProviderLocal is the provider of users created by an administrator (CLI,
// API or setup link) rather than by an identity provider. They sign in with
// one-time links until their first verified external login claims them.
const ProviderLocal = "local"

// UserCreate provisions a user by email, with roles.
type UserCreate struct {
	Email string
	Name  string
	Roles []string
}

// UserUpdate changes a user's roles and/or disabled flag; nil fields are
// left alone.
type UserUpdate struct {
	Roles    *[]string
	Disabled *bool
}

// UserFilter selects users.
type UserFilter struct {
	Email  string
	Limit  int
	Offset int
}

// UserService manages users and their roles. Role names must be valid
// (IsValidRole), and the last active admin can never be demoted or
// disabled (ECONFLICT).
type UserService interface {
	FindUserByID(ctx context.Context, id string) (*User, error)
	FindUsers(ctx context.Context, f UserFilter) ([]*User, error)
	// CreateUser provisions a local user; ECONFLICT if one with that email exists.
	CreateUser(ctx context.Context, in UserCreate) (*User, error)
	// EnsureUser creates a local user or, when one with that email exists,
	// sets its roles (and name when given). created reports which.
	EnsureUser(ctx context.Context, in UserCreate) (u *User, created bool, err error)
	// UpdateUser applies upd. Disabling ends the user's sessions and
	// tokens in the same transaction.
	UpdateUser(ctx context.Context, id string, upd UserUpdate) (*User, error)
}

// SessionService lists and ends a user's sessions.
type SessionService interface {
	ListSessions(ctx context.Context, userID string) ([]*Session, error)
	// RevokeSession ends one of userID's sessions (ENOTFOUND otherwise).
	RevokeSession(ctx context.Context, userID, sessionID string) error
	// RevokeAllSessions ends every session of userID ("log out everywhere").
	RevokeAllSessions(ctx context.Context, userID string) (int, error)
}

// Link purposes.
const (
	LinkPurposeLogin = "login"
	LinkPurposeSetup = "setup"
)

// LinkInfo describes a valid, unused sign-in link without consuming it.
type LinkInfo struct {
	Purpose   string
	Email     string // the user a login link signs in (empty for setup)
	ExpiresAt time.Time
}

// LinkService issues and inspects one-time sign-in links (30 minutes,
// single use, only a hash stored). LoginService.LoginWithLink consumes
// login links; CompleteSetup consumes setup links.
type LinkService interface {
	// CreateLoginLink issues a link for the existing user with email and
	// returns the link secret.
	CreateLoginLink(ctx context.Context, email string) (secret string, expires time.Time, err error)
	// CreateSetupLink issues a setup link while no active admin exists;
	// ok is false (and no link is made) otherwise.
	CreateSetupLink(ctx context.Context) (secret string, expires time.Time, ok bool, err error)
	// InspectLink reports what a link would do, without consuming it.
	InspectLink(ctx context.Context, secret string) (*LinkInfo, error)
	// CompleteSetup consumes a setup link: the opener becomes the first
	// admin (a local user with email and name) and gets a fresh session.
	CompleteSetup(ctx context.Context, secret, name, email string, req LoginRequest) (*User, *Session, string, error)
}
