package combine

import (
	"errors"
	"fmt"
)

// Error codes, one per kind of failure a client must tell apart. The HTTP
// layer maps each to a status code in exactly one place.
const (
	EINVALID          = "invalid_request"
	EUNAUTHORIZED     = "unauthorized"
	EFORBIDDEN        = "forbidden"
	ENOTFOUND         = "not_found"
	EMETHODNOTALLOWED = "method_not_allowed"
	ECONFLICT         = "conflict"
	ETOOLARGE         = "payload_too_large"
	ERATELIMITED      = "rate_limited"
	EINTERNAL         = "internal"
	// EUNAVAILABLE is a dependency that cannot answer now (an identity
	// provider, a health check): retry later.
	EUNAVAILABLE = "unavailable"
)

// RetryAfterKey is the Details key whose value (whole seconds) tells a
// refused caller when to retry; the HTTP layer sends it as Retry-After.
const RetryAfterKey = "retry_after_seconds"

// Error is the one error type of the application. Its message is safe to
// show to the caller; internal causes are wrapped errors that never are.
type Error struct {
	Code    string
	Message string
	// Permission names the permission a forbidden caller lacks.
	Permission string
	// Details carries structured, client-safe data (for example the JSON
	// path of a validation problem).
	Details map[string]any
	// Err is the cause, for logs and errors.Is; never shown to a client.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("combine error: code=%s message=%s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("combine error: code=%s message=%s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf is a helper that returns an *Error with a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Forbidden returns the error for an authenticated caller lacking perm.
func Forbidden(perm Permission) *Error {
	return &Error{
		Code:       EFORBIDDEN,
		Message:    fmt.Sprintf("this action requires the %q permission", perm),
		Permission: string(perm),
	}
}

// ErrorCode returns the code of the root *Error of err, EINTERNAL for any
// other error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err. Errors that are not
// an *Error yield "internal error" so that no internal detail leaks.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
