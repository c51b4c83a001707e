package combine

import (
	"context"
	"slices"
	"time"
)

// Permission is a right checked by the route table and by services.
type Permission string

// The permissions of the contract.
const (
	PermWorkflowRead    Permission = "workflow:read"
	PermWorkflowExecute Permission = "workflow:execute"
	PermExecutionRead   Permission = "execution:read"
	PermExecutionWrite  Permission = "execution:write"
	PermExecutionCancel Permission = "execution:cancel"
	PermAdmin           Permission = "admin"
	PermUserManage      Permission = "user:manage"
	// PermCredentialsManage lets a caller change its own credentials:
	// create tokens, revoke its tokens and sessions. Every role holds it,
	// so sessions and unscoped tokens may; a scoped token may only when
	// its scopes name it (reading one's own credentials needs nothing).
	PermCredentialsManage Permission = "credentials:manage"
)

// AllPermissions lists every permission, in a stable order.
var AllPermissions = []Permission{
	PermWorkflowRead, PermWorkflowExecute,
	PermExecutionRead, PermExecutionWrite, PermExecutionCancel,
	PermAdmin, PermUserManage, PermCredentialsManage,
}

// ParsePermission returns p if it names a known permission.
func ParsePermission(s string) (Permission, bool) {
	p := Permission(s)
	return p, slices.Contains(AllPermissions, p)
}

// Role names.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// rolePermissions is the contract's role table. The admin role holds every
// permission (admin override), including ones added later.
var rolePermissions = map[string][]Permission{
	RoleViewer:   {PermWorkflowRead, PermExecutionRead, PermCredentialsManage},
	RoleOperator: {PermWorkflowRead, PermWorkflowExecute, PermExecutionRead, PermExecutionWrite, PermCredentialsManage},
	RoleAdmin:    AllPermissions,
}

// ReviewerRoles are the roles that workflows may name in accepted_by. They
// grant no permission; they only qualify acceptance decisions.
var ReviewerRoles = []string{"pm", "ba", "architect", "developer", "qa", "reviewer"}

// IsValidRole reports whether name is a permission role or a reviewer role.
func IsValidRole(name string) bool {
	_, ok := rolePermissions[name]
	return ok || slices.Contains(ReviewerRoles, name)
}

// PermissionSet is a set of permissions.
type PermissionSet map[Permission]struct{}

// PermissionsForRoles returns the union of the permissions of roles.
func PermissionsForRoles(roles []string) PermissionSet {
	set := PermissionSet{}
	for _, r := range roles {
		for _, p := range rolePermissions[r] {
			set[p] = struct{}{}
		}
	}
	return set
}

// Has reports whether the set holds p.
func (s PermissionSet) Has(p Permission) bool {
	_, ok := s[p]
	return ok
}

// Intersect returns the permissions held by both s and scopes. An empty
// scopes list means "no restriction" and returns a copy of s.
func (s PermissionSet) Intersect(scopes []Permission) PermissionSet {
	out := PermissionSet{}
	if len(scopes) == 0 {
		for p := range s {
			out[p] = struct{}{}
		}
		return out
	}
	for _, p := range scopes {
		if s.Has(p) {
			out[p] = struct{}{}
		}
	}
	return out
}

// List returns the permissions sorted by name.
func (s PermissionSet) List() []Permission {
	out := make([]Permission, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Authentication methods.
const (
	AuthMethodSession = "session"
	AuthMethodPAT     = "pat"
)

// Credentials are what a request presents. The HTTP layer extracts them;
// an Authenticator decides what they are worth.
type Credentials struct {
	// Bearer is the raw Authorization bearer value, if any.
	Bearer string
	// HasAuthorization is true when an Authorization header was present at
	// all, even malformed: a malformed header is a 401, never anonymous.
	HasAuthorization bool
	// Session is the raw session cookie value, if any.
	Session string
	// ClientAddr is the caller's network address, for rate limits and audit.
	ClientAddr string
}

// AuthContext is who is calling and with what rights.
type AuthContext struct {
	UserID    string
	Email     string
	Name      string
	Provider  string
	Roles     []string
	Method    string // AuthMethodSession or AuthMethodPAT
	SessionID string
	TokenID   string
	// Scopes are a scoped token's own scopes; nil for sessions and
	// unscoped tokens.
	Scopes      []Permission
	Permissions PermissionSet

	// ExpiresAt is when the credential stops being valid at the latest
	// (a session's absolute lifetime, a token's expiry); zero: never.
	// Roles and Permissions may be shared between the requests of one
	// credential: read them, never modify them.
	ExpiresAt time.Time
}

// Can reports whether the caller holds p.
func (a *AuthContext) Can(p Permission) bool {
	return a != nil && a.Permissions.Has(p)
}

// HasRole reports whether the caller holds role.
func (a *AuthContext) HasRole(role string) bool {
	return a != nil && slices.Contains(a.Roles, role)
}

// Authenticator turns request credentials into an AuthContext. It returns
// (nil, nil) only when no credential was presented at all; any presented
// credential that is bad, expired or revoked is an EUNAUTHORIZED error.
type Authenticator interface {
	Authenticate(ctx context.Context, c Credentials) (*AuthContext, error)
}

// AccessWatcher lets a long-lived request (an event stream) learn that
// the access it was granted may have changed, on this instance or another:
// the credential was revoked or ended, its owner disabled or given other
// roles, or it expired.
type AccessWatcher interface {
	// WatchAccess returns a channel that is closed when the access of a
	// may have changed — the holder then authenticates again and ends or
	// narrows what it serves — and a function that ends the watch.
	WatchAccess(a *AuthContext) (changed <-chan struct{}, stop func())
}

type authContextKey struct{}

// NewContextWithAuth returns a copy of ctx carrying a.
func NewContextWithAuth(ctx context.Context, a *AuthContext) context.Context {
	return context.WithValue(ctx, authContextKey{}, a)
}

// AuthFromContext returns the caller of ctx, or nil when anonymous.
func AuthFromContext(ctx context.Context) *AuthContext {
	a, _ := ctx.Value(authContextKey{}).(*AuthContext)
	return a
}

type requestIDKey struct{}

// NewContextWithRequestID returns a copy of ctx carrying the request id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFromContext returns the request id of ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type clientAddrKey struct{}

// NewContextWithClientAddr returns a copy of ctx carrying the client address.
func NewContextWithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddrFromContext returns the client address of ctx, or "".
func ClientAddrFromContext(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}
