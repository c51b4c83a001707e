// Package config parses The Combine's environment once into a typed,
// validated Config that is passed down explicitly (there are no globals).
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/llm"
)

// Environments.
const (
	Development = "development"
	Staging     = "staging"
	Production  = "production"
)

// Config is the whole validated configuration.
type Config struct {
	Environment string
	// Addr is the listen address (ADDR, or ":"+PORT).
	Addr string
	Port int

	SecretKey string
	// SecretKeyGenerated is true when a development key was made up at start.
	SecretKeyGenerated bool

	DatabaseURL      string
	DatabasePoolSize int

	SessionExpire        time.Duration
	SessionIdle          time.Duration
	SessionSecureCookies bool

	PublicURL string

	Google    OAuthClient
	Microsoft MicrosoftClient
	OIDC      OIDCClient

	AdminEmails         []string
	AllowedEmailDomains []string
	DefaultRole         string

	PATDefaultExpiryDays int
	PATMaxExpiryDays     int

	WorkflowsDir string

	LogLevel  string
	LogFormat string

	LLMProvider     string
	AnthropicAPIKey string
	OpenAIAPIKey    string
	OpenAIBaseURL   string
	LLMModel        string
	// LLM holds the LLM workers' settings (LLM_* variables beyond the
	// provider, keys and model).
	LLM LLM

	// Runner configures the execution runner (RUNNER_* variables).
	Runner Runner
	// EventsKeepalive is how often an idle event stream sends a comment.
	EventsKeepalive time.Duration
	// EventsPoll overrides how often the process re-reads the heads of
	// the event logs that streams follow (0: 500 ms, or 5 s while
	// PostgreSQL notifications wake streams).
	EventsPoll time.Duration
	// AuthCacheTTL bounds how long a verified credential is served from
	// the in-process cache before it is read again; 0 turns the cache off.
	AuthCacheTTL time.Duration
	// EventsMaxStreams caps the open event streams of this instance, and
	// EventsMaxStreamsPerUser those of one user (429 beyond).
	EventsMaxStreams        int
	EventsMaxStreamsPerUser int
	// EventsReauth is how often an open stream re-checks its credential
	// (revoked, expired, disabled or demoted ends it), at the latest.
	EventsReauth time.Duration
	// EventsWriteTimeout ends a stream whose reader stops reading.
	EventsWriteTimeout time.Duration

	// ShutdownTimeout bounds the drain of in-flight requests.
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long readiness reports 503 before the listener
	// stops accepting, so load balancers notice first.
	ShutdownDelay time.Duration
	// MaxBodyBytes limits request bodies (413 beyond).
	MaxBodyBytes int64
	// TrustedProxies are the networks whose X-Forwarded-For and
	// X-Request-ID headers are believed.
	TrustedProxies []netip.Prefix

	// Warnings are non-fatal remarks to log at start.
	Warnings []string
}

// LLM configures the LLM workers.
type LLM struct {
	// AnthropicBaseURL replaces Anthropic's endpoint (a gateway, a test
	// server); empty: the SDK's.
	AnthropicBaseURL string
	// PricesFile is LLM_PRICES_FILE: model prices added to or replacing
	// the built-in table ("" for the built-in table alone).
	PricesFile string
	Prices     *llm.Prices
	// Stream asks providers for streamed answers (live progress).
	Stream bool
	// MaxOutputTokens bounds each answer.
	MaxOutputTokens int
	// Concurrency bounds the calls in flight per instance.
	Concurrency int
	// MaxRetries bounds the retries of a failed call within one attempt.
	MaxRetries int
	// RetryMaxWait is the longest wait before a retry (Retry-After included).
	RetryMaxWait time.Duration
	// RequestTimeout bounds one call.
	RequestTimeout time.Duration
	// BudgetUSD caps one execution's LLM cost (0: no cap).
	BudgetUSD float64
}

// Runner configures the durable execution runner.
type Runner struct {
	// InstanceID names this instance in the job queue; on restart, jobs it
	// left running are recovered at once. Default: host name and port.
	InstanceID string
	// Concurrency is how many steps one instance works at once.
	Concurrency int
	// StepTimeout bounds one worker call.
	StepTimeout time.Duration
	// RescueAfter is how long a step job may run before another instance
	// takes it over (a killed instance's work resumes after this).
	RescueAfter time.Duration
	// PollInterval is how often the queue is polled.
	PollInterval time.Duration
	// IterationConcurrency is how many work items one execution may have
	// open at once (ITERATION_CONCURRENCY): the items of an iteration run
	// side by side up to it.
	IterationConcurrency int
}

// OAuthClient is a client registration at an identity provider.
type OAuthClient struct {
	ClientID     string
	ClientSecret string
}

// Enabled reports whether the provider is configured.
func (c OAuthClient) Enabled() bool { return c.ClientID != "" }

// MicrosoftClient is the Microsoft identity platform registration.
type MicrosoftClient struct {
	OAuthClient
	TenantID string
	// AllowedTenants optionally limits multi-tenant logins to these tenant ids.
	AllowedTenants []string
}

// OIDCClient is a generic OpenID Connect provider registration.
type OIDCClient struct {
	OAuthClient
	Issuer string
	Name   string
}

// Enabled reports whether the provider is configured.
func (c OIDCClient) Enabled() bool { return c.Issuer != "" }

// IsProduction reports whether rules for staging/production apply.
func (c *Config) IsProduction() bool {
	return c.Environment == Staging || c.Environment == Production
}

// Problem is one invalid variable.
type Problem struct {
	Var    string
	Reason string
}

// ValidationError lists every invalid variable.
type ValidationError struct {
	Problems []Problem
}

// Error implements error, one problem per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Var, p.Reason)
	}
	return b.String()
}

// Source is where variables come from; tests pass a map.
type Source struct {
	Lookup   func(string) (string, bool)
	ReadFile func(string) ([]byte, error)
}

// FromEnvironment reads the process environment and files.
func FromEnvironment() Source {
	return Source{Lookup: os.LookupEnv, ReadFile: os.ReadFile}
}

// FromMap reads variables from m (files from the file system).
func FromMap(m map[string]string) Source {
	return Source{
		Lookup:   func(k string) (string, bool) { v, ok := m[k]; return v, ok },
		ReadFile: os.ReadFile,
	}
}

// Load reads and validates the configuration from src. On failure the
// error is a *ValidationError naming every invalid variable.
func Load(src Source) (*Config, error) {
	l := &loader{src: src}
	c := &Config{}

	c.Environment = l.oneOf("ENVIRONMENT", Development, Development, Staging, Production)

	c.Port = l.integer("PORT", 8000, 1, 65535)
	c.Addr = fmt.Sprintf(":%d", c.Port)
	if a, ok := l.get("ADDR"); ok {
		if _, port, err := net.SplitHostPort(a); err != nil {
			l.fail("ADDR", "%q is not host:port", a)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			l.fail("ADDR", "%q has an invalid port", a)
		} else {
			c.Addr = a
		}
	}

	if k, ok := l.get("SECRET_KEY"); ok {
		if len(k) < 32 {
			l.fail("SECRET_KEY", "must be at least 32 characters (has %d)", len(k))
		}
		c.SecretKey = k
	} else if c.IsProduction() {
		l.fail("SECRET_KEY", "required in %s (at least 32 characters)", c.Environment)
	} else {
		c.SecretKey = randomKey()
		c.SecretKeyGenerated = true
		c.Warnings = append(c.Warnings, "SECRET_KEY is not set: a random key was generated; sign-in links and cookies signed with it will not survive a restart")
	}

	c.DatabaseURL = l.str("DATABASE_URL", "sqlite:///./combine.db")
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		l.fail("DATABASE_URL", "%v", err)
	}
	c.DatabasePoolSize = l.integer("DATABASE_POOL_SIZE", 5, 1, 1000)

	c.SessionExpire = time.Duration(l.integer("SESSION_EXPIRE_HOURS", 24, 1, 24*365)) * time.Hour
	c.SessionIdle = time.Duration(l.integer("SESSION_IDLE_MINUTES", 120, 1, 60*24*365)) * time.Minute
	secure, set := l.boolean("SESSION_SECURE_COOKIES", c.IsProduction())
	if c.IsProduction() && set && !secure {
		l.fail("SESSION_SECURE_COOKIES", "cannot be turned off in %s", c.Environment)
	}
	c.SessionSecureCookies = secure || c.IsProduction()

	c.PublicURL = strings.TrimSuffix(l.str("PUBLIC_URL", fmt.Sprintf("http://localhost:%d", c.Port)), "/")
	l.absURL("PUBLIC_URL", c.PublicURL)
	if u, err := url.Parse(c.PublicURL); err == nil && c.IsProduction() && !strings.EqualFold(u.Scheme, "https") {
		c.Warnings = append(c.Warnings, fmt.Sprintf("PUBLIC_URL is not https in %s: secure cookies and sign-in redirects need TLS in front of the service", c.Environment))
	}

	c.Google.ClientID = l.str("GOOGLE_CLIENT_ID", "")
	c.Google.ClientSecret = l.str("GOOGLE_CLIENT_SECRET", "")
	l.pair("GOOGLE_CLIENT_ID", c.Google.ClientID, "GOOGLE_CLIENT_SECRET", c.Google.ClientSecret)

	c.Microsoft.ClientID = l.str("MICROSOFT_CLIENT_ID", "")
	c.Microsoft.ClientSecret = l.str("MICROSOFT_CLIENT_SECRET", "")
	c.Microsoft.TenantID = l.str("MICROSOFT_TENANT_ID", "common")
	c.Microsoft.AllowedTenants = l.list("MICROSOFT_ALLOWED_TENANTS")
	l.pair("MICROSOFT_CLIENT_ID", c.Microsoft.ClientID, "MICROSOFT_CLIENT_SECRET", c.Microsoft.ClientSecret)
	if !validTenant(c.Microsoft.TenantID) {
		l.fail("MICROSOFT_TENANT_ID", "%q is not a tenant id, a domain, common, organizations or consumers", c.Microsoft.TenantID)
	}

	c.OIDC.Issuer = l.str("OIDC_ISSUER", "")
	c.OIDC.ClientID = l.str("OIDC_CLIENT_ID", "")
	c.OIDC.ClientSecret = l.str("OIDC_CLIENT_SECRET", "")
	c.OIDC.Name = l.str("OIDC_NAME", "OpenID Connect")
	if c.OIDC.Issuer != "" {
		l.absURL("OIDC_ISSUER", c.OIDC.Issuer)
		if c.OIDC.ClientID == "" {
			l.fail("OIDC_CLIENT_ID", "required when OIDC_ISSUER is set")
		}
	} else if c.OIDC.ClientID != "" || c.OIDC.ClientSecret != "" {
		l.fail("OIDC_ISSUER", "required when OIDC_CLIENT_ID or OIDC_CLIENT_SECRET is set")
	}

	c.AdminEmails = l.list("ADMIN_EMAILS")
	for i, e := range c.AdminEmails {
		if !validEmail(e) {
			l.fail("ADMIN_EMAILS", "%q is not an email address", e)
		}
		c.AdminEmails[i] = strings.ToLower(e)
	}
	c.AllowedEmailDomains = l.list("ALLOWED_EMAIL_DOMAINS")
	for i, d := range c.AllowedEmailDomains {
		d = strings.ToLower(strings.TrimPrefix(d, "@"))
		if !validDomain(d) {
			l.fail("ALLOWED_EMAIL_DOMAINS", "%q is not a domain name", d)
		}
		c.AllowedEmailDomains[i] = d
	}
	c.DefaultRole = l.oneOf("DEFAULT_ROLE", combine.RoleViewer, combine.RoleViewer, combine.RoleOperator)

	c.PATDefaultExpiryDays = l.integer("PAT_DEFAULT_EXPIRY_DAYS", 90, 1, 36500)
	c.PATMaxExpiryDays = l.integer("PAT_MAX_EXPIRY_DAYS", 365, 0, 36500)
	if c.PATMaxExpiryDays > 0 && c.PATDefaultExpiryDays > c.PATMaxExpiryDays {
		l.fail("PAT_DEFAULT_EXPIRY_DAYS", "%d exceeds PAT_MAX_EXPIRY_DAYS (%d)", c.PATDefaultExpiryDays, c.PATMaxExpiryDays)
	}

	if d, ok := l.get("WORKFLOWS_DIR"); ok {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			l.fail("WORKFLOWS_DIR", "%q is not a readable directory", d)
		}
		c.WorkflowsDir = d
	}

	c.LogLevel = strings.ToUpper(l.oneOf("LOG_LEVEL", "INFO", "DEBUG", "INFO", "WARN", "ERROR"))
	c.LogFormat = l.oneOf("LOG_FORMAT", "json", "json", "text")

	if _, ok := l.get("LLM_PROVIDER"); ok {
		c.LLMProvider = l.oneOf("LLM_PROVIDER", "", "anthropic", "openai")
	}
	c.AnthropicAPIKey = l.str("ANTHROPIC_API_KEY", "")
	c.OpenAIAPIKey = l.str("OPENAI_API_KEY", "")
	c.OpenAIBaseURL = l.str("OPENAI_BASE_URL", "")
	c.LLMModel = l.str("LLM_MODEL", "")
	if c.OpenAIBaseURL != "" {
		l.absURL("OPENAI_BASE_URL", c.OpenAIBaseURL)
	}
	switch c.LLMProvider {
	case "anthropic":
		if c.AnthropicAPIKey == "" {
			l.fail("ANTHROPIC_API_KEY", "required when LLM_PROVIDER is anthropic")
		}
	case "openai":
		if c.OpenAIAPIKey == "" && c.OpenAIBaseURL == "" {
			l.fail("OPENAI_API_KEY", "required when LLM_PROVIDER is openai (unless OPENAI_BASE_URL points at a local server)")
		}
	}
	c.LLM = l.llmSettings(c)

	// LLM calls take minutes, person and instant steps milliseconds: the
	// runner's defaults follow.
	stepTimeout, rescueAfter := 20*time.Second, 30*time.Second
	if c.LLMProvider != "" {
		stepTimeout, rescueAfter = 15*time.Minute, 20*time.Minute
	}
	c.Runner = Runner{
		InstanceID:           l.str("RUNNER_INSTANCE_ID", ""),
		Concurrency:          l.integer("RUNNER_CONCURRENCY", 10, 1, 1000),
		StepTimeout:          l.duration("RUNNER_STEP_TIMEOUT", stepTimeout, time.Second, 24*time.Hour),
		RescueAfter:          l.duration("RUNNER_RESCUE_AFTER", rescueAfter, 2*time.Second, 48*time.Hour),
		PollInterval:         l.duration("RUNNER_POLL_INTERVAL", 20*time.Millisecond, 5*time.Millisecond, time.Minute),
		IterationConcurrency: l.integer("ITERATION_CONCURRENCY", 4, 1, 64),
	}
	if c.Runner.RescueAfter <= c.Runner.StepTimeout {
		l.fail("RUNNER_RESCUE_AFTER", "%s must be longer than RUNNER_STEP_TIMEOUT (%s), or running steps would be taken over", c.Runner.RescueAfter, c.Runner.StepTimeout)
	}

	if c.LLMProvider != "" && c.LLM.RequestTimeout >= c.Runner.StepTimeout {
		l.fail("LLM_REQUEST_TIMEOUT", "%s must be shorter than RUNNER_STEP_TIMEOUT (%s), which bounds a whole step with its retries", c.LLM.RequestTimeout, c.Runner.StepTimeout)
	}

	c.EventsKeepalive = l.duration("EVENTS_KEEPALIVE", 15*time.Second, time.Second, 10*time.Minute)
	c.EventsPoll = l.duration("EVENTS_POLL_INTERVAL", 0, 0, time.Minute)
	if c.EventsPoll > 0 && c.EventsPoll < 10*time.Millisecond {
		l.fail("EVENTS_POLL_INTERVAL", "%s is too short (at least 10ms, or 0 for the default)", c.EventsPoll)
	}
	c.AuthCacheTTL = l.duration("AUTH_CACHE_TTL", 10*time.Second, 0, 10*time.Minute)
	if c.AuthCacheTTL > 0 && c.AuthCacheTTL < time.Second {
		l.fail("AUTH_CACHE_TTL", "%s is too short (at least 1s, or 0 to turn the cache off)", c.AuthCacheTTL)
	}

	c.EventsMaxStreams = l.integer("EVENTS_MAX_STREAMS", 5000, 1, 1_000_000)
	c.EventsMaxStreamsPerUser = l.integer("EVENTS_MAX_STREAMS_PER_USER", 50, 1, 1_000_000)
	if c.EventsMaxStreamsPerUser > c.EventsMaxStreams {
		l.fail("EVENTS_MAX_STREAMS_PER_USER", "%d exceeds EVENTS_MAX_STREAMS (%d)", c.EventsMaxStreamsPerUser, c.EventsMaxStreams)
	}
	c.EventsReauth = l.duration("EVENTS_REAUTH_INTERVAL", 5*time.Second, 100*time.Millisecond, time.Minute)
	c.EventsWriteTimeout = l.duration("EVENTS_WRITE_TIMEOUT", 10*time.Second, 100*time.Millisecond, 5*time.Minute)

	c.ShutdownTimeout = l.duration("SHUTDOWN_TIMEOUT", 30*time.Second, time.Second, 10*time.Minute)
	defDelay := time.Duration(0)
	if c.IsProduction() {
		defDelay = 5 * time.Second
	}
	c.ShutdownDelay = l.duration("SHUTDOWN_DELAY", defDelay, 0, time.Minute)
	c.MaxBodyBytes = int64(l.integer("MAX_BODY_BYTES", 1<<20, 1024, 64<<20))
	for _, s := range l.list("TRUSTED_PROXIES") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				l.fail("TRUSTED_PROXIES", "%q is not an IP address or CIDR", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		if p.Bits() == 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("TRUSTED_PROXIES contains %s, which trusts every address: any client can then choose its own address (rate limits, audit) and request id with X-Forwarded-For and X-Request-ID; list only your proxies", p.Masked()))
		}
	}

	if len(l.problems) > 0 {
		return nil, &ValidationError{Problems: l.problems}
	}
	return c, nil
}
