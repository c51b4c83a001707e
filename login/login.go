// Package login is The Combine's browser sign-in with OAuth 2.0 and OpenID
// Connect: Google, Microsoft (single- and multi-tenant) and any OpenID
// provider. It runs the authorization-code flow with PKCE (S256), state and
// nonce, verifies the ID token with go-oidc and the checks go-oidc leaves
// to its callers (nonce, azp, RFC 9207 iss, Microsoft's tenant issuer),
// and hands the verified identity to combine.LoginService, which applies
// the sign-in rules and opens the session.
package login

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/health"
)

// Default provider locations; Options override them (tests, sovereign clouds).
const (
	GoogleIssuer       = "https://accounts.google.com"
	MicrosoftAuthority = "https://login.microsoftonline.com"
)

// Options tune what the configuration does not say.
type Options struct {
	// HTTPClient talks to the identity providers (default: 10 s timeout).
	HTTPClient *http.Client
	// GoogleIssuer and MicrosoftAuthority replace the public endpoints.
	GoogleIssuer       string
	MicrosoftAuthority string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives sign-in failures (never a token or a code).
	Logger *slog.Logger
	// Registerer receives the sign-in metrics (nil: not exported).
	Registerer prometheus.Registerer
	// OnFailure, when set, records a sign-in refused before the identity
	// was known (bad state, unverifiable ID token…), e.g. in the audit log.
	OnFailure func(ctx context.Context, provider, reason string)
}

// ProviderInfo describes a configured provider for the sign-in page.
type ProviderInfo struct {
	Key         string
	DisplayName string
	// Available is false while discovery keeps failing.
	Available bool
}

// Service runs browser sign-in for every configured provider. It is built
// once per process.
type Service struct {
	logins    combine.LoginService
	providers map[string]*provider
	order     []string
	codec     stateCodec
	client    *http.Client
	now       func() time.Time
	logger    *slog.Logger
	onFailure func(ctx context.Context, provider, reason string)
	metrics   *metrics
}

// New configures the providers enabled in cfg. base must live as long as
// the process: discovery and key refreshes use it. Discovery is attempted
// here once; a provider that is unreachable does not stop the service
// from starting — it is retried lazily and reported degraded in /health.
func New(base context.Context, cfg *config.Config, logins combine.LoginService, opts Options) *Service {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.GoogleIssuer == "" {
		opts.GoogleIssuer = GoogleIssuer
	}
	if opts.MicrosoftAuthority == "" {
		opts.MicrosoftAuthority = MicrosoftAuthority
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		logins:    logins,
		providers: map[string]*provider{},
		codec:     newStateCodec(cfg.SecretKey, cfg.SessionSecureCookies),
		client:    opts.HTTPClient,
		now:       opts.Now,
		logger:    opts.Logger,
		onFailure: opts.OnFailure,
		metrics:   newMetrics(opts.Registerer),
	}
	base = httpClientContext(context.WithoutCancel(base), opts.HTTPClient)
	add := func(p *provider) {
		p.base, p.now = base, opts.Now
		p.redirectURL = cfg.PublicURL + "/auth/callback/" + p.key
		s.providers[p.key] = p
		s.order = append(s.order, p.key)
	}
	if cfg.Google.Enabled() {
		add(&provider{key: Google, displayName: "Google", discoveryURL: opts.GoogleIssuer,
			clientID: cfg.Google.ClientID, clientSecret: cfg.Google.ClientSecret})
	}
	if cfg.Microsoft.Enabled() {
		add(&provider{key: Microsoft, displayName: "Microsoft",
			discoveryURL: strings.TrimSuffix(opts.MicrosoftAuthority, "/") + "/" + cfg.Microsoft.TenantID + "/v2.0",
			clientID:     cfg.Microsoft.ClientID, clientSecret: cfg.Microsoft.ClientSecret,
			multiTenant: true, allowedTenants: cfg.Microsoft.AllowedTenants})
	}
	if cfg.OIDC.Enabled() {
		add(&provider{key: OIDC, displayName: cfg.OIDC.Name, discoveryURL: cfg.OIDC.Issuer,
			clientID: cfg.OIDC.ClientID, clientSecret: cfg.OIDC.ClientSecret})
	}
	warnOpenDoors(s.logger, cfg)
	// First discovery, concurrently: start-up waits at most one HTTP
	// timeout however many providers are down.
	var wg sync.WaitGroup
	for _, key := range s.order {
		wg.Go(func() {
			if _, err := s.providers[key].get(); err != nil {
				s.logger.Warn("sign-in provider unavailable at start; will retry", "provider", key, "error", err.Error())
			}
		})
	}
	wg.Wait()
	return s
}

// Providers lists the configured providers in a stable order.
func (s *Service) Providers() []ProviderInfo {
	out := make([]ProviderInfo, 0, len(s.order))
	for _, key := range s.order {
		p := s.providers[key]
		out = append(out, ProviderInfo{Key: key, DisplayName: p.displayName, Available: p.available()})
	}
	return out
}

// Enabled reports whether provider key is configured.
func (s *Service) Enabled(key string) bool { _, ok := s.providers[key]; return ok }

// RegisterHealth adds a login_<provider> component per provider; it is
// never critical, since sign-in links keep working without any provider.
func (s *Service) RegisterHealth(c *health.Checker) {
	for _, key := range s.order {
		c.Register(s.providers[key].healthComponent())
	}
}

// StateCookieName is the flow cookie's name for provider.
func (s *Service) StateCookieName(provider string) string { return s.codec.cookieName(provider) }

// ClearStateCookie returns the cookie that deletes provider's flow state.
func (s *Service) ClearStateCookie(provider string) *http.Cookie { return s.codec.clear(provider) }

// Begin starts a sign-in with provider: it returns the provider's
// authorization URL and the flow cookie to set. next is where to go
// afterwards; anything but a same-origin relative path becomes "/".
func (s *Service) Begin(ctx context.Context, key, next string) (string, *http.Cookie, error) {
	p, ok := s.providers[key]
	if !ok {
		return "", nil, combine.Errorf(combine.ENOTFOUND, "no sign-in provider %q is configured", key)
	}
	d, err := p.get()
	if err != nil {
		s.logger.WarnContext(ctx, "sign-in provider unavailable", "provider", key, "error", err.Error())
		return "", nil, unavailable(p, err)
	}
	st := flowState{
		Provider: key,
		State:    randomToken(),
		Nonce:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		Next:     SafeNext(next),
		Expires:  s.now().Add(stateTTL).Unix(),
	}
	u := d.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	return u, s.codec.cookie(st), nil
}

// unavailable is the error of a provider that cannot be reached.
func unavailable(p *provider, err error) *combine.Error {
	return failure(combine.EUNAVAILABLE, "provider_unavailable",
		fmt.Sprintf("Sign-in with %s is temporarily unavailable. Please try again in a minute.", p.displayName), err)
}

// warnOpenDoors warns when a public provider admits anyone: any Google
// account, or any Microsoft tenant, may then sign in with DEFAULT_ROLE.
func warnOpenDoors(logger *slog.Logger, cfg *config.Config) {
	if len(cfg.AllowedEmailDomains) > 0 {
		return
	}
	if cfg.Google.Enabled() {
		logger.Warn("Google sign-in admits any Google account (with DEFAULT_ROLE); set ALLOWED_EMAIL_DOMAINS to restrict it", "default_role", cfg.DefaultRole)
	}
	switch cfg.Microsoft.TenantID {
	case "common", "organizations", "consumers":
		if cfg.Microsoft.Enabled() && len(cfg.Microsoft.AllowedTenants) == 0 {
			logger.Warn("Microsoft sign-in admits any tenant (with DEFAULT_ROLE); set MICROSOFT_ALLOWED_TENANTS or ALLOWED_EMAIL_DOMAINS to restrict it", "default_role", cfg.DefaultRole)
		}
	}
}
