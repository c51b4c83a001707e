package oidctest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const wellKnown = "/.well-known/openid-configuration"

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// oauthError writes an RFC 6749 error response of the token endpoint.
func (p *Provider) oauthError(w http.ResponseWriter, status int, code, desc string) {
	p.mu.Lock()
	p.lastTokenError = desc
	p.mu.Unlock()
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// handleDiscovery serves the discovery document under any prefix, so that
// Microsoft-style paths (/common/v2.0/.well-known/…) work; the issuer is
// the URL plus that prefix, or the {tenantid} template.
func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	prefix, ok := strings.CutSuffix(r.URL.Path, wellKnown)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if p.isDown() {
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	p.mu.Lock()
	p.discoveries++
	p.prefix = prefix
	delay := p.discoveryDelay
	p.mu.Unlock()
	time.Sleep(delay)
	issuer := p.URL + prefix
	if p.opts.TenantTemplate {
		issuer = p.Issuer()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         issuer,
		"authorization_endpoint":                         p.URL + "/authorize",
		"token_endpoint":                                 p.URL + "/token",
		"userinfo_endpoint":                              p.URL + "/userinfo",
		"jwks_uri":                                       p.URL + "/jwks",
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"code_challenge_methods_supported":               []string{"S256"},
		"scopes_supported":                               []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post"},
		"authorization_response_iss_parameter_supported": p.opts.SendIss,
	})
}

func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

// handleAuthorize validates the request and, approving at once, redirects
// back with a one-time code.
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	flat := map[string]string{}
	for k := range q {
		flat[k] = q.Get(k)
	}
	p.mu.Lock()
	p.lastAuthorize = flat
	known := p.redirects[q.Get("redirect_uri")]
	user := p.user
	p.mu.Unlock()

	if q.Get("client_id") != p.ClientID || !known {
		http.Error(w, "unknown client or unregistered redirect_uri", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(q.Get("redirect_uri"))
	fail := func(code, desc string) {
		v := back.Query()
		v.Set("error", code)
		v.Set("error_description", desc)
		v.Set("state", q.Get("state"))
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only code is supported")
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		fail("invalid_scope", "openid scope required")
		return
	case !p.opts.NoPKCE && (q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256"):
		fail("invalid_request", "PKCE with S256 is required")
		return
	}
	code := randomString(24)
	p.mu.Lock()
	p.codes[code] = &grant{
		clientID:    p.ClientID,
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		nonce:       q.Get("nonce"),
		user:        user,
		expires:     time.Now().Add(time.Minute),
	}
	p.mu.Unlock()
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	if p.opts.SendIss {
		iss := p.tokenIssuer(user)
		if p.opts.IssParam != "" {
			iss = p.opts.IssParam
		}
		v.Set("iss", iss)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// clientAuth accepts client_secret_basic and client_secret_post.
func (p *Provider) clientAuth(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == p.ClientID && subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) == 1
}

// handleToken redeems a code once, checking the client, the redirect URI
// and the PKCE verifier.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	p.mu.Lock()
	p.tokenCalls++
	p.mu.Unlock()
	if !p.clientAuth(r) {
		p.oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		p.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, ok := p.codes[code]
	delete(p.codes, code) // one use only, whatever happens next
	p.mu.Unlock()
	switch {
	case !ok || time.Now().After(g.expires):
		p.oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
		return
	case g.redirectURI != r.PostForm.Get("redirect_uri"):
		p.oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri mismatch")
		return
	case !pkceOK(g.challenge, r.PostForm.Get("code_verifier")):
		p.oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}
	idToken, err := p.idToken(g)
	if err != nil {
		p.oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	access := randomString(24)
	p.mu.Lock()
	p.tokens[access] = g
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   3600,
		"id_token":     idToken,
		"scope":        "openid email profile",
	})
}

// pkceOK checks RFC 7636 S256: BASE64URL(SHA256(verifier)) == challenge.
func pkceOK(challenge, verifier string) bool {
	if challenge == "" {
		return verifier == ""
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

func (p *Provider) tokenIssuer(u User) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.issuerOverride != "":
		return p.issuerOverride
	case p.opts.TokenIssuer != "":
		return p.opts.TokenIssuer
	case p.opts.TenantTemplate:
		return p.TenantIssuer(u.TenantID)
	}
	return p.URL + p.prefix
}

// idToken signs the ID token of a grant.
func (p *Provider) idToken(g *grant) (string, error) {
	now := time.Now()
	exp := now.Add(5 * time.Minute)
	if p.opts.Expired {
		now, exp = now.Add(-10*time.Minute), now.Add(-time.Minute)
	}
	aud := any(g.clientID)
	if p.opts.Audience != nil {
		aud = p.opts.Audience
	}
	nonce := g.nonce
	if p.opts.Nonce != "" {
		nonce = p.opts.Nonce
	}
	c := map[string]any{
		"iss": p.tokenIssuer(g.user), "sub": g.user.Subject, "aud": aud,
		"iat": now.Unix(), "exp": exp.Unix(), "auth_time": now.Unix(),
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if p.opts.AZP != "" {
		c["azp"] = p.opts.AZP
	}
	if !p.opts.UserInfoOnly {
		c["email"], c["email_verified"], c["name"] = g.user.Email, g.user.EmailVerified, g.user.Name
		if p.opts.NoEmailVerified {
			delete(c, "email_verified")
		}
	}
	if g.user.TenantID != "" {
		c["tid"] = g.user.TenantID
	}
	if g.user.ObjectID != "" {
		c["oid"] = g.user.ObjectID
	}
	for k, v := range g.user.Extra {
		c[k] = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	obj, err := p.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func (p *Provider) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	g, found := p.tokens[tok]
	p.mu.Unlock()
	if !ok || !found {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		p.oauthError(w, http.StatusUnauthorized, "invalid_token", "unknown access token")
		return
	}
	sub := g.user.Subject
	if p.opts.UserInfoSubject != "" {
		sub = p.opts.UserInfoSubject
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"sub": sub, "email": g.user.Email, "email_verified": g.user.EmailVerified, "name": g.user.Name,
	})
}
