package combine

import (
	"context"
	"time"
)

// User is a person known to The Combine. A user is identified by
// (Provider, ProviderID) — the issuer and subject of their identity
// provider — and never matched on email alone.
type User struct {
	ID         string `json:"user_id"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	Provider   string `json:"provider"`
	ProviderID string `json:"provider_id"`
	// Issuer is the identity provider's issuer; with ProviderID (the
	// subject) it is the user's identity. "local" for provisioned users.
	Issuer      string    `json:"issuer,omitempty"`
	Roles       []string  `json:"roles"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
	LastLoginAt time.Time `json:"last_login_at,omitzero"`
}

// Session is a browser session. Only a hash of its secret is stored.
type Session struct {
	ID         string    `json:"session_id"`
	UserID     string    `json:"user_id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	ClientAddr string    `json:"client_addr,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
	// Current is set when listing: the session of the request itself.
	Current bool `json:"current,omitempty"`
}

// ExternalIdentity is what a login provider vouches for after a verified
// OAuth/OIDC flow.
type ExternalIdentity struct {
	// Provider is the configured provider key: google, microsoft or oidc.
	Provider string
	// Issuer is the token issuer; with Subject it identifies the user.
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	// TenantID is Microsoft's tid claim (empty elsewhere).
	TenantID string
}

// LoginRequest carries what a login records besides the identity.
type LoginRequest struct {
	ClientAddr string
	UserAgent  string
}

// LoginService signs people in and out. It enforces the rules of sign-in
// (verified email, allowed domains, disabled users, ADMIN_EMAILS,
// DEFAULT_ROLE), writes the audit log, and always opens a fresh session
// (no fixation). The returned secret is the cookie value; only its hash
// is stored.
type LoginService interface {
	LoginExternal(ctx context.Context, id ExternalIdentity, req LoginRequest) (*User, *Session, string, error)
	LoginWithLink(ctx context.Context, linkSecret string, req LoginRequest) (*User, *Session, string, error)
	Logout(ctx context.Context, sessionID string) error
}
