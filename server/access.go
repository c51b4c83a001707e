package server

import "github.com/thecombine/combine"

// AccessKind says who may call a route.
type AccessKind int

// Access kinds. The zero value is deliberately invalid: a route must
// declare its access, or the server refuses to start.
const (
	accessUndeclared AccessKind = iota
	// AccessPublic routes evaluate no credential at all.
	AccessPublic
	// AccessOptional routes evaluate credentials when present and valid,
	// and treat bad ones as anonymous (sign-in pages).
	AccessOptional
	// AccessAuthenticated routes need any valid credential.
	AccessAuthenticated
	// AccessPermission routes need one permission.
	AccessPermission
)

// Access is a route's declared requirement.
type Access struct {
	Kind AccessKind
	// Permission is what an AccessPermission route needs.
	Permission combine.Permission
}

// Public declares a route open to anyone, without evaluating credentials.
func Public() Access { return Access{Kind: AccessPublic} }

// Optional declares a route open to anyone that uses the caller's identity when valid.
func Optional() Access { return Access{Kind: AccessOptional} }

// RequireAuth declares a route for any authenticated caller.
func RequireAuth() Access { return Access{Kind: AccessAuthenticated} }

// RequirePermission declares a route that needs p.
func RequirePermission(p combine.Permission) Access {
	return Access{Kind: AccessPermission, Permission: p}
}

// String describes the requirement (for docs and test names).
func (a Access) String() string {
	switch a.Kind {
	case AccessPublic:
		return "public"
	case AccessOptional:
		return "optional"
	case AccessAuthenticated:
		return "authenticated"
	case AccessPermission:
		return string(a.Permission)
	}
	return "undeclared"
}
