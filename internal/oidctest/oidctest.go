// Package oidctest is a real OpenID Connect provider for tests, served on
// loopback. It speaks the wire protocol — discovery, JWKS, the
// authorization endpoint (auto-approving one configured user), the token
// endpoint with one-time codes and PKCE S256, and userinfo — and signs
// RS256 ID tokens with go-jose, so the production golang.org/x/oauth2 and
// go-oidc client code is what a test exercises. Options make it misbehave
// the ways real providers (or attackers) do.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// User is the person the provider signs in.
type User struct {
	Subject string
	Email   string
	// EmailVerified is sent as the email_verified claim.
	EmailVerified bool
	Name          string
	// TenantID and ObjectID are Microsoft's tid and oid claims (sent when set).
	TenantID string
	ObjectID string
	// Extra claims are added to the ID token as they are.
	Extra map[string]any
}

// Options makes the provider misbehave, one way per test.
type Options struct {
	// ClientID fixes the client id (default: random).
	ClientID string
	// Audience replaces the ID token's aud (default: the client id).
	Audience []string
	// AZP sets the azp claim.
	AZP string
	// Nonce replaces the nonce the client sent.
	Nonce string
	// Expired issues ID tokens that expired a minute ago.
	Expired bool
	// UserInfoOnly leaves email, email_verified and name out of the ID
	// token; the userinfo endpoint still returns them.
	UserInfoOnly bool
	// NoEmailVerified leaves email_verified out of the ID token only.
	NoEmailVerified bool
	// UserInfoSubject replaces the sub returned by userinfo.
	UserInfoSubject string
	// TenantTemplate makes discovery advertise the issuer
	// URL/{tenantid}/v2.0 (Microsoft's multi-tenant endpoints) and ID
	// tokens carry iss URL/<tid>/v2.0.
	TenantTemplate bool
	// TokenIssuer replaces the iss claim of ID tokens.
	TokenIssuer string
	// SendIss adds RFC 9207's iss parameter to authorization responses
	// and advertises it in discovery; IssParam replaces its value.
	SendIss  bool
	IssParam string
	// SignHS256 signs ID tokens with HMAC and the client secret, an
	// algorithm the provider does not advertise.
	SignHS256 bool
	// ForeignKey signs ID tokens with a key that is not in the JWKS
	// (under the published key id).
	ForeignKey bool
	// NoPKCE lets authorization requests without a code challenge through
	// (the default refuses them, as OAuth 2.1 providers do).
	NoPKCE bool
}

// Provider is a running test OpenID provider.
type Provider struct {
	// URL is the provider's base URL (and its issuer, unless TenantTemplate).
	URL          string
	ClientID     string
	ClientSecret string

	opts   Options
	srv    *httptest.Server
	key    *rsa.PrivateKey
	kid    string
	signer jose.Signer

	mu             sync.Mutex
	user           User
	redirects      map[string]bool
	codes          map[string]*grant
	tokens         map[string]*grant
	lastAuthorize  map[string]string
	tokenCalls     int
	discoveries    int
	prefix         string // path prefix of the latest discovery request
	issuerOverride string
	lastTokenError string
	discoveryDelay time.Duration
	down           bool
}

// grant is what a code or an access token stands for.
type grant struct {
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	user        User
	expires     time.Time
}

var (
	keyOnce  sync.Once
	testKeys [2]*rsa.PrivateKey
)

// signingKey returns one of two keys generated once per test binary: RSA
// key generation is slow under the race detector and the keys' secrecy
// does not matter here. Key 1 is the "foreign" key.
func signingKey(t testing.TB, i int) *rsa.PrivateKey {
	keyOnce.Do(func() {
		for j := range testKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic("oidctest: generate key: " + err.Error())
			}
			testKeys[j] = k
		}
	})
	return testKeys[i]
}

// New starts a provider on loopback that signs in user; it stops when the
// test ends. Register redirect URIs with AllowRedirect before use.
func New(t testing.TB, user User, opts Options) *Provider {
	t.Helper()
	p := &Provider{
		ClientID:     "client-" + randomString(6),
		ClientSecret: randomString(24),
		opts:         opts,
		key:          signingKey(t, 0),
		kid:          "k-" + randomString(4),
		user:         user,
		redirects:    map[string]bool{},
		codes:        map[string]*grant{},
		tokens:       map[string]*grant{},
	}
	if opts.ClientID != "" {
		p.ClientID = opts.ClientID
	}
	sk := jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.key, KeyID: p.kid}}
	switch {
	case opts.SignHS256:
		sk = jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: []byte(p.ClientSecret), KeyID: p.kid}}
	case opts.ForeignKey:
		sk.Key = jose.JSONWebKey{Key: signingKey(t, 1), KeyID: p.kid}
	}
	signer, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("oidctest: signer: %v", err)
	}
	p.signer = signer
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", p.handleDiscovery)
	mux.HandleFunc("GET /jwks", p.handleJWKS)
	mux.HandleFunc("GET /authorize", p.handleAuthorize)
	mux.HandleFunc("POST /token", p.handleToken)
	mux.HandleFunc("GET /userinfo", p.handleUserInfo)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// Issuer is the issuer the discovery document advertises.
func (p *Provider) Issuer() string {
	if p.opts.TenantTemplate {
		return p.URL + "/{tenantid}/v2.0"
	}
	return p.URL
}

// TenantIssuer is the issuer of tokens for tenant tid in template mode.
func (p *Provider) TenantIssuer(tid string) string { return p.URL + "/" + tid + "/v2.0" }

// AllowRedirect registers an exact redirect URI.
func (p *Provider) AllowRedirect(uri string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirects[uri] = true
}

// SetUser changes who the provider signs in next.
func (p *Provider) SetUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

// SetTokenIssuer makes ID tokens carry iss (once the URL is known).
func (p *Provider) SetTokenIssuer(iss string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.issuerOverride = iss
}

// SetDiscoveryDelay makes the discovery document slow to answer.
func (p *Provider) SetDiscoveryDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discoveryDelay = d
}

// SetDown makes every endpoint answer 503 (an outage) or recover.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// LastAuthorize returns the query of the latest authorization request.
func (p *Provider) LastAuthorize() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastAuthorize
}

// TokenCalls counts requests to the token endpoint.
func (p *Provider) TokenCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokenCalls
}

// LastTokenError is the description of the latest refusal at the token
// or userinfo endpoint.
func (p *Provider) LastTokenError() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastTokenError
}

// Discoveries counts requests for the discovery document.
func (p *Provider) Discoveries() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discoveries
}

func (p *Provider) isDown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}
