package combine

import (
	"context"
	"time"
)

// PersonalAccessTokenPrefix starts every personal access token.
const PersonalAccessTokenPrefix = "pat_"

// PersonalAccessToken is an API credential owned by a user. Only a hash of
// the token text is stored; Display is a masked form safe to show.
type PersonalAccessToken struct {
	ID         string       `json:"token_id"`
	UserID     string       `json:"user_id"`
	Name       string       `json:"name"`
	Display    string       `json:"display"`
	Scopes     []Permission `json:"scopes"`
	CreatedAt  time.Time    `json:"created_at"`
	ExpiresAt  *time.Time   `json:"expires_at"`
	LastUsedAt *time.Time   `json:"last_used_at"`
	RevokedAt  *time.Time   `json:"revoked_at,omitempty"`
}

// TokenCreate is a request to issue a personal access token.
type TokenCreate struct {
	Name string
	// ExpiresInDays is the lifetime; nil means the configured default, and
	// 0 means "never" (allowed only when no maximum is configured).
	ExpiresInDays *int
	// Scopes limits the token to a subset of its owner's permissions;
	// empty means all of them.
	Scopes []Permission
	// ParentScopes are the scopes of the scoped token that asks for this
	// one (AuthContext.Scopes). A child of a scoped token always carries
	// explicit scopes within them, so a later promotion of the owner can
	// never widen it beyond its parent.
	ParentScopes []Permission
}

// TokenService issues, lists and revokes personal access tokens.
type TokenService interface {
	// CreateToken issues a token for userID. allowed is the creator's
	// effective permission set: scopes outside it are refused, and a
	// token minted by a scoped credential inherits that scope. The token
	// text is returned once and never stored.
	CreateToken(ctx context.Context, userID string, in TokenCreate, allowed PermissionSet) (*PersonalAccessToken, string, error)
	// ListTokens returns the user's tokens that are not revoked.
	ListTokens(ctx context.Context, userID string) ([]*PersonalAccessToken, error)
	// RevokeToken revokes a token. The caller in ctx must own it or hold
	// user:manage; otherwise it is ENOTFOUND.
	RevokeToken(ctx context.Context, tokenID string) error
}
