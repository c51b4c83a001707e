package login

import (
	"errors"
	"fmt"

	"github.com/thecombine/combine"
)

// Sign-in failures are *combine.Error values like every other error: the
// code says what the browser is shown (invalid_request 400, forbidden
// 403, not_found 404, unavailable 503), the message is safe to show, the
// reason (Details "reason": a short code from a fixed set) goes to the
// log, the audit and the metrics, and the cause (Err) only to the log.
// Neither ever holds a code, a token or a cookie value.

// errProtocol marks failures of the sign-in protocol itself (before the
// login service knew an identity): the service audits those through
// Options.OnFailure, while the login service audits its own refusals.
var errProtocol = errors.New("sign-in protocol")

// failure is a protocol failure with its code, reason, message and cause.
func failure(code, reason, msg string, cause error) *combine.Error {
	err := errProtocol
	if cause != nil {
		err = fmt.Errorf("%w: %w", errProtocol, cause)
	}
	return &combine.Error{Code: code, Message: msg, Details: map[string]any{"reason": reason}, Err: err}
}

// badRequest is a callback that cannot be trusted or completed.
func badRequest(reason, msg string, err error) *combine.Error {
	return failure(combine.EINVALID, reason, msg, err)
}

// refused is a verified response whose identity may not sign in.
func refused(reason, msg string, err error) *combine.Error {
	return failure(combine.EFORBIDDEN, reason, msg, err)
}

// Reason returns the reason of a sign-in failure ("" when it has none).
func Reason(err error) string {
	var e *combine.Error
	if errors.As(err, &e) {
		if r, ok := e.Details["reason"].(string); ok {
			return r
		}
	}
	return ""
}
