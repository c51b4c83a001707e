package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/thecombine/combine"
)

// Result is a completed sign-in.
type Result struct {
	User    *combine.User
	Session *combine.Session
	// Secret is the new session's cookie value.
	Secret string
	// Next is the same-origin path captured when the sign-in began.
	Next string
}

// Complete finishes a sign-in at the callback: query is the callback's
// query and flowCookie the flow cookie's value ("" when absent). The
// caller must clear the flow cookie whatever the outcome, so that a
// replayed callback fails.
func (s *Service) Complete(ctx context.Context, key string, query url.Values, flowCookie string, req combine.LoginRequest) (*Result, error) {
	res, err := s.complete(ctx, key, query, flowCookie, req)
	if _, known := s.providers[key]; known {
		s.metrics.observe(key, err)
	}
	if err != nil {
		if errors.Is(err, errProtocol) {
			// With an OnFailure (the audit log) the refusal is logged at
			// WARN there, repeats aggregated; the cause stays at DEBUG.
			level := slog.LevelWarn
			if s.onFailure != nil && combine.ErrorCode(err) != combine.ENOTFOUND {
				level = slog.LevelDebug
				s.onFailure(ctx, key, Reason(err))
			}
			s.logger.Log(ctx, level, "sign-in refused", "provider", key, "reason", Reason(err), "cause", err.Error(),
				"request_id", combine.RequestIDFromContext(ctx))
		}
		return nil, err
	}
	return res, nil
}

func (s *Service) complete(ctx context.Context, key string, query url.Values, flowCookie string, req combine.LoginRequest) (*Result, error) {
	p, ok := s.providers[key]
	if !ok {
		return nil, failure(combine.ENOTFOUND, "unknown_provider", fmt.Sprintf("No sign-in provider %q is configured.", key), nil)
	}
	st, err := s.codec.decode(key, flowCookie, s.now())
	if err != nil {
		return nil, badRequest("state_cookie", "This sign-in link is no longer valid (it expired, was already used, or was started in another browser). Please sign in again.", err)
	}
	got := query.Get("state")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(st.State)) != 1 {
		return nil, badRequest("state_mismatch", "This sign-in response does not belong to the sign-in you started. Please sign in again.", errors.New("state does not match the flow cookie"))
	}
	if e := query.Get("error"); e != "" {
		if e == "access_denied" {
			return nil, refused("provider_denied", fmt.Sprintf("Sign-in was cancelled or refused at %s.", p.displayName), errors.New(e))
		}
		return nil, badRequest("provider_error", fmt.Sprintf("%s could not complete the sign-in (%s).", p.displayName, oauthErrorCode(e)), errors.New(oauthErrorCode(e)))
	}
	d, err := p.get()
	if err != nil {
		return nil, unavailable(p, err)
	}
	// RFC 9207: a response that names its issuer must name ours (mix-up
	// defence); a provider that promises to name it must do so.
	issParam, hasIss := query.Get("iss"), query.Has("iss")
	if !hasIss && d.issParam {
		return nil, badRequest("iss_missing", "The sign-in response did not identify its provider. Please sign in again.", errors.New("iss parameter missing though advertised"))
	}
	if hasIss && !p.multiTenant && issParam != d.issuer {
		return nil, badRequest("iss_mismatch", "The sign-in response came from an unexpected provider.", fmt.Errorf("iss parameter %q, expected %q", issParam, d.issuer))
	}
	code := query.Get("code")
	if code == "" {
		return nil, badRequest("code_missing", "The sign-in response carries no authorization code.", nil)
	}
	ctx = httpClientContext(ctx, s.client)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, badRequest("code_exchange", fmt.Sprintf("%s did not accept the sign-in (the code was invalid, used or expired). Please sign in again.", p.displayName), fmt.Errorf("token endpoint: %s", re.ErrorCode))
		}
		return nil, failure(combine.EUNAVAILABLE, "token_endpoint",
			fmt.Sprintf("%s could not be reached to complete the sign-in. Please try again.", p.displayName), err)
	}
	id, err := s.verify(ctx, p, d, tok, st.Nonce)
	if err != nil {
		return nil, err
	}
	if hasIss && p.multiTenant && issParam != id.Issuer {
		return nil, badRequest("iss_mismatch", "The sign-in response came from an unexpected provider.", fmt.Errorf("iss parameter %q, token issuer %q", issParam, id.Issuer))
	}
	user, sess, secret, err := s.logins.LoginExternal(ctx, *id, req)
	if err != nil {
		return nil, err
	}
	return &Result{User: user, Session: sess, Secret: secret, Next: st.Next}, nil
}

// oauthErrorCode keeps an RFC 6749 error code only if it is one of the
// registered ones, so a forged callback cannot put text on our page.
func oauthErrorCode(e string) string {
	switch e {
	case "invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope",
		"server_error", "temporarily_unavailable", "interaction_required", "login_required",
		"account_selection_required", "consent_required":
		return e
	}
	return "error"
}
