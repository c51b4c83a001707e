package login

import (
	"errors"
	"net/http"

	"github.com/thecombine/combine"
)

// Error is a sign-in that failed in the protocol. Status and Message are
// for the browser; Reason (a short code plus detail) is for the log and
// the audit. Neither ever holds a code, a token or a cookie value.
type Error struct {
	Status  int
	Message string
	Reason  string
	Err     error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return "login: " + e.Reason + ": " + e.Err.Error()
	}
	return "login: " + e.Reason
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// badRequest is a callback that cannot be trusted or completed.
func badRequest(reason, msg string, err error) *Error {
	return &Error{Status: http.StatusBadRequest, Reason: reason, Message: msg, Err: err}
}

// refused is a verified response whose identity may not sign in.
func refused(reason, msg string, err error) *Error {
	return &Error{Status: http.StatusForbidden, Reason: reason, Message: msg, Err: err}
}

// StatusAndMessage maps any sign-in error to what the browser is shown:
// protocol errors carry their own; the login service's coded errors map
// as everywhere else; anything else is an internal error with no detail.
func StatusAndMessage(err error, codeStatus func(code string) int) (int, string) {
	var le *Error
	if errors.As(err, &le) {
		return le.Status, le.Message
	}
	code := combine.ErrorCode(err)
	if code == combine.EINTERNAL {
		return http.StatusInternalServerError, "Something went wrong on our side. Please try again."
	}
	return codeStatus(code), combine.ErrorMessage(err)
}
