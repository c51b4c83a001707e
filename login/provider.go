package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/thecombine/combine/health"
)

// Provider kinds.
const (
	Google    = "google"
	Microsoft = "microsoft"
	OIDC      = "oidc"
)

// Discovery retry backoff: the first retry after minBackoff, doubling up
// to maxBackoff while the identity provider stays unreachable.
const (
	minBackoff = 2 * time.Second
	maxBackoff = 5 * time.Minute
)

// provider is one configured identity provider. Its OpenID Connect
// discovery happens once, with the service's long-lived context; when the
// provider is unreachable at start, discovery is retried lazily (on a
// sign-in attempt or a health probe) with exponential backoff.
type provider struct {
	key         string
	displayName string
	// discoveryURL is where discovery starts; for Google and OIDC it is
	// also the issuer that ID tokens must carry.
	discoveryURL string
	clientID     string
	clientSecret string
	redirectURL  string
	// multiTenant (Microsoft) skips go-oidc's issuer check: the issuer is
	// checked against the discovered template filled with the token's tid.
	multiTenant    bool
	allowedTenants []string

	base context.Context // long-lived; carries the HTTP client
	now  func() time.Time

	mu          sync.Mutex
	ready       *discovered
	lastErr     error
	failures    int
	nextAttempt time.Time
	// attempt is closed when the discovery in progress ends (nil: none).
	attempt chan struct{}
}

// discovered is the outcome of a successful discovery.
type discovered struct {
	oidc     *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
	// issuer is the issuer advertised by discovery (Microsoft: possibly
	// the https://login.microsoftonline.com/{tenantid}/v2.0 template).
	issuer string
	// issParam is RFC 9207 support: the authorization response must then
	// carry the iss parameter.
	issParam bool
}

// errUnavailable marks a provider whose discovery has not succeeded yet.
var errUnavailable = errors.New("identity provider unavailable")

// get returns the discovered provider, attempting discovery when it has
// not succeeded yet and the backoff allows it. Concurrent callers share
// one attempt; the lock is never held during network I/O, so listing the
// providers or probing health never waits for a slow identity provider.
func (p *provider) get() (*discovered, error) {
	p.mu.Lock()
	if p.ready != nil {
		defer p.mu.Unlock()
		return p.ready, nil
	}
	if wait := p.attempt; wait != nil {
		p.mu.Unlock()
		<-wait
		return p.result()
	}
	if now := p.now(); now.Before(p.nextAttempt) {
		defer p.mu.Unlock()
		return nil, fmt.Errorf("%w: %v (next attempt in %s)", errUnavailable, p.lastErr, p.nextAttempt.Sub(now).Round(time.Second))
	}
	done := make(chan struct{})
	p.attempt = done
	p.mu.Unlock()

	d, err := p.discover()

	p.mu.Lock()
	if err != nil {
		p.failures++
		p.lastErr = err
		backoff := minBackoff << min(p.failures-1, 10)
		p.nextAttempt = p.now().Add(min(backoff, maxBackoff))
	} else {
		p.ready, p.lastErr, p.failures = d, nil, 0
	}
	p.attempt = nil
	close(done)
	p.mu.Unlock()
	return p.result()
}

// result reports the outcome of the latest attempt.
func (p *provider) result() (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready != nil {
		return p.ready, nil
	}
	return nil, fmt.Errorf("%w: %v", errUnavailable, p.lastErr)
}

// available reports whether discovery has succeeded, without waiting.
func (p *provider) available() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready != nil
}

// discover fetches the discovery document. go-oidc keeps only the HTTP
// client of the context, and its key set refreshes in the background with
// a context of its own, so a cancelled request can never break it.
func (p *provider) discover() (*discovered, error) {
	ctx := p.base
	if p.multiTenant {
		// Microsoft's /common and /organizations documents advertise a
		// {tenantid} template that can never equal the discovery URL.
		ctx = oidc.InsecureIssuerURLContext(ctx, p.discoveryURL)
	}
	op, err := oidc.NewProvider(ctx, p.discoveryURL)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", p.discoveryURL, err)
	}
	var meta struct {
		Issuer      string   `json:"issuer"`
		IssParam    bool     `json:"authorization_response_iss_parameter_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", p.discoveryURL, err)
	}
	if p.multiTenant {
		if err := sameOrigin(meta.Issuer, p.discoveryURL); err != nil {
			return nil, fmt.Errorf("discovery of %s: %w", p.discoveryURL, err)
		}
	}
	return &discovered{
		oidc: op,
		verifier: op.Verifier(&oidc.Config{
			ClientID:        p.clientID,
			SkipIssuerCheck: p.multiTenant,
			Now:             p.now,
		}),
		oauth: &oauth2.Config{
			ClientID:     p.clientID,
			ClientSecret: p.clientSecret,
			Endpoint:     endpoint(op.Endpoint(), meta.AuthMethods),
			RedirectURL:  p.redirectURL,
			Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
		},
		issuer:   meta.Issuer,
		issParam: meta.IssParam,
	}, nil
}

// endpoint fixes how the client authenticates at the token endpoint from
// what discovery advertises (client_secret_basic is the default of the
// specification), rather than letting oauth2 guess: a guess retries a
// refused code exchange in the other style, muddling the refusal.
func endpoint(e oauth2.Endpoint, methods []string) oauth2.Endpoint {
	e.AuthStyle = oauth2.AuthStyleInHeader
	if len(methods) > 0 && !slices.Contains(methods, "client_secret_basic") && slices.Contains(methods, "client_secret_post") {
		e.AuthStyle = oauth2.AuthStyleInParams
	}
	return e
}

// sameOrigin refuses a discovered issuer on another scheme or host than
// the authority it was fetched from.
func sameOrigin(issuer, authority string) error {
	iu, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("issuer %q is not a URL", issuer)
	}
	au, _ := url.Parse(authority)
	if iu.Scheme != au.Scheme || iu.Host != au.Host {
		return fmt.Errorf("issuer %q is not on the authority %s://%s", issuer, au.Scheme, au.Host)
	}
	return nil
}

// healthComponent reports the provider as degraded while discovery
// fails. A probe kicks off a retry in the background (subject to the
// backoff) without waiting for it, so /health stays fast and a provider
// that comes back is noticed without any sign-in attempt.
func (p *provider) healthComponent() health.Component {
	return health.Component{
		Name: "login_" + p.key,
		Check: func(ctx context.Context) (map[string]any, error) {
			d := map[string]any{"issuer": p.discoveryURL}
			if p.available() {
				return d, nil
			}
			go func() { _, _ = p.get() }()
			_, err := p.result()
			return d, fmt.Errorf("%w: %v", health.ErrDegraded, err)
		},
	}
}

// httpClientContext returns ctx carrying client for go-oidc and oauth2.
func httpClientContext(ctx context.Context, client *http.Client) context.Context {
	return oidc.ClientContext(ctx, client)
}
