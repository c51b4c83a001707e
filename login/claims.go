package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/thecombine/combine"
)

// flexBool reads a boolean claim that some providers send as a string.
type flexBool struct {
	set   bool
	value bool
}

// UnmarshalJSON accepts true, false, "true" and "false".
func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch strings.Trim(string(data), `"`) {
	case "true":
		*b = flexBool{set: true, value: true}
	case "false":
		*b = flexBool{set: true}
	case "null":
	default:
		return fmt.Errorf("not a boolean: %s", data)
	}
	return nil
}

// idClaims are the ID token claims beyond what go-oidc checks.
type idClaims struct {
	Nonce         string   `json:"nonce"`
	AZP           string   `json:"azp"`
	Email         string   `json:"email"`
	EmailVerified flexBool `json:"email_verified"`
	Name          string   `json:"name"`
	// Microsoft: tenant, object id, and "email domain owner verified".
	TenantID string   `json:"tid"`
	ObjectID string   `json:"oid"`
	EDOV     flexBool `json:"xms_edov"`
}

// userInfoClaims are what the userinfo fallback may supply.
type userInfoClaims struct {
	Subject       string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified flexBool `json:"email_verified"`
	Name          string   `json:"name"`
}

func invalidToken(reason string, err error) *combine.Error {
	return badRequest(reason, "The identity provider's answer could not be verified. Please sign in again.", err)
}

// verify checks the ID token of tok and returns the identity it proves.
// go-oidc checks the signature and algorithm, the issuer (except for
// Microsoft multi-tenant, checked here), the audience and the expiry; the
// nonce and azp are checked here, as go-oidc leaves them to its callers.
func (s *Service) verify(ctx context.Context, p *provider, d *discovered, tok *oauth2.Token, nonce string) (*combine.ExternalIdentity, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, invalidToken("id_token_missing", errors.New("token response has no id_token"))
	}
	t, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, invalidToken("id_token_invalid", err)
	}
	var c idClaims
	if err := t.Claims(&c); err != nil {
		return nil, invalidToken("id_token_claims", err)
	}
	if c.Nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return nil, invalidToken("nonce_mismatch", errors.New("ID token nonce does not match the flow"))
	}
	if (len(t.Audience) > 1 || c.AZP != "") && c.AZP != p.clientID {
		return nil, invalidToken("azp_mismatch", fmt.Errorf("azp %q is not our client id (audiences %q)", c.AZP, t.Audience))
	}
	if t.Subject == "" {
		return nil, invalidToken("sub_missing", errors.New("ID token has no sub"))
	}
	id := &combine.ExternalIdentity{
		Provider: p.key, Issuer: t.Issuer, Subject: t.Subject,
		Email: c.Email, EmailVerified: c.EmailVerified.value, Name: c.Name,
	}
	if p.multiTenant {
		if err := checkTenant(p, d, t.Issuer, &c); err != nil {
			return nil, err
		}
		// Microsoft's sub is pairwise per application; (tid, oid) is the
		// stable identity of the account, and the issuer carries the tid.
		id.Subject, id.TenantID = c.ObjectID, c.TenantID
		id.EmailVerified = c.EmailVerified.value || c.EDOV.value
	}
	// Without an email, or (outside Microsoft, whose tokens never carry
	// it) without a word on its verification, ask the userinfo endpoint.
	if id.Email == "" || (!p.multiTenant && !c.EmailVerified.set) {
		if err := s.userInfo(ctx, d, tok, t.Subject, id); err != nil {
			return nil, err
		}
	}
	return id, nil
}

// checkTenant verifies a Microsoft token's issuer against the discovered
// template filled with the token's own tid, and the tenant allowlist.
func checkTenant(p *provider, d *discovered, iss string, c *idClaims) error {
	if c.TenantID == "" || c.ObjectID == "" {
		return invalidToken("tenant_claims", errors.New("the Microsoft ID token lacks tid or oid"))
	}
	// With a tenant-specific endpoint the template has no placeholder; the
	// issuer must then still be the token's own tenant's.
	want := strings.ReplaceAll(d.issuer, "{tenantid}", c.TenantID)
	if iss != want || !strings.Contains(iss, "/"+c.TenantID+"/") {
		return invalidToken("issuer_mismatch", fmt.Errorf("issuer %q, expected %q", iss, want))
	}
	if len(p.allowedTenants) > 0 && !slices.ContainsFunc(p.allowedTenants, func(t string) bool {
		return strings.EqualFold(t, c.TenantID)
	}) {
		return refused("tenant_not_allowed", "Your organization's Microsoft tenant is not allowed to sign in here.",
			fmt.Errorf("tenant %s is not in the allowlist", c.TenantID))
	}
	return nil
}

// userInfo fills email, its verification and the name from the userinfo
// endpoint, for providers that keep them out of the ID token. The email
// and its verification are taken together, from one source. The response
// must be about the same subject (OpenID Connect Core 5.3.2).
func (s *Service) userInfo(ctx context.Context, d *discovered, tok *oauth2.Token, sub string, id *combine.ExternalIdentity) error {
	if d.oidc.UserInfoEndpoint() == "" {
		return nil
	}
	info, err := d.oidc.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return invalidToken("userinfo", err)
	}
	var c userInfoClaims
	if err := info.Claims(&c); err != nil {
		return invalidToken("userinfo", err)
	}
	if c.Subject != sub {
		return invalidToken("userinfo_subject", fmt.Errorf("userinfo sub %q differs from the ID token's", c.Subject))
	}
	id.Email, id.EmailVerified = c.Email, c.EmailVerified.value
	if id.Name == "" {
		id.Name = c.Name
	}
	return nil
}
