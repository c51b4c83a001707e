package config_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine/config"
)

const goodKey = "0123456789abcdef0123456789abcdef" // 32 characters

// problemVars loads env and returns the variables named by its problems.
func problemVars(t *testing.T, env map[string]string) (*config.Config, []string) {
	t.Helper()
	cfg, err := config.Load(config.FromMap(env))
	if err == nil {
		return cfg, nil
	}
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load error is %T, want *config.ValidationError: %v", err, err)
	}
	var vars []string
	for _, p := range ve.Problems {
		if p.Reason == "" {
			t.Errorf("problem for %s has no reason", p.Var)
		}
		vars = append(vars, p.Var)
	}
	return nil, vars
}

func TestLoadVariables(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name  string
		env   map[string]string
		bad   []string // variables that must be reported, exactly
		check func(t *testing.T, c *config.Config)
	}{
		{name: "defaults", env: map[string]string{}, check: func(t *testing.T, c *config.Config) {
			want := config.Config{Environment: "development", Addr: ":8000", Port: 8000,
				DatabaseURL: "sqlite:///./combine.db", DatabasePoolSize: 5,
				SessionExpire: 24 * time.Hour, SessionIdle: 120 * time.Minute,
				PublicURL: "http://localhost:8000", DefaultRole: "viewer",
				PATDefaultExpiryDays: 90, PATMaxExpiryDays: 365, LogLevel: "INFO", LogFormat: "json",
				ShutdownTimeout: 30 * time.Second, MaxBodyBytes: 1 << 20}
			got := *c
			got.SecretKey, got.SecretKeyGenerated, got.Warnings = "", false, nil
			got.Microsoft.TenantID, got.OIDC.Name = "", ""
			if got.Environment != want.Environment || got.Addr != want.Addr || got.Port != want.Port ||
				got.DatabaseURL != want.DatabaseURL || got.DatabasePoolSize != want.DatabasePoolSize ||
				got.SessionExpire != want.SessionExpire || got.SessionIdle != want.SessionIdle ||
				got.SessionSecureCookies || got.PublicURL != want.PublicURL || got.DefaultRole != want.DefaultRole ||
				got.PATDefaultExpiryDays != 90 || got.PATMaxExpiryDays != 365 || got.LogLevel != "INFO" ||
				got.LogFormat != "json" || got.ShutdownTimeout != want.ShutdownTimeout || got.ShutdownDelay != 0 ||
				got.MaxBodyBytes != want.MaxBodyBytes || got.LLMProvider != "" || got.WorkflowsDir != "" {
				t.Errorf("defaults = %+v", got)
			}
			if c.Microsoft.TenantID != "common" {
				t.Errorf("MICROSOFT_TENANT_ID default = %q, want common", c.Microsoft.TenantID)
			}
		}},
		{name: "ENVIRONMENT good", env: map[string]string{"ENVIRONMENT": "Staging", "SECRET_KEY": goodKey},
			check: func(t *testing.T, c *config.Config) {
				if c.Environment != "staging" || !c.IsProduction() {
					t.Errorf("environment = %q", c.Environment)
				}
			}},
		{name: "ENVIRONMENT bad", env: map[string]string{"ENVIRONMENT": "prod"}, bad: []string{"ENVIRONMENT"}},
		{name: "PORT good", env: map[string]string{"PORT": "9090"}, check: func(t *testing.T, c *config.Config) {
			if c.Addr != ":9090" || c.PublicURL != "http://localhost:9090" {
				t.Errorf("Addr %q PublicURL %q", c.Addr, c.PublicURL)
			}
		}},
		{name: "PORT not a number", env: map[string]string{"PORT": "eighty"}, bad: []string{"PORT"}},
		{name: "PORT out of range", env: map[string]string{"PORT": "70000"}, bad: []string{"PORT"}},
		{name: "ADDR overrides PORT", env: map[string]string{"PORT": "9090", "ADDR": "127.0.0.1:7070"},
			check: func(t *testing.T, c *config.Config) {
				if c.Addr != "127.0.0.1:7070" {
					t.Errorf("Addr = %q", c.Addr)
				}
			}},
		{name: "ADDR bad", env: map[string]string{"ADDR": "localhost"}, bad: []string{"ADDR"}},
		{name: "ADDR bad port", env: map[string]string{"ADDR": ":99999"}, bad: []string{"ADDR"}},
		{name: "SECRET_KEY good", env: map[string]string{"SECRET_KEY": goodKey}, check: func(t *testing.T, c *config.Config) {
			if c.SecretKey != goodKey || c.SecretKeyGenerated {
				t.Errorf("SecretKey not taken from SECRET_KEY")
			}
		}},
		{name: "SECRET_KEY short", env: map[string]string{"SECRET_KEY": "short"}, bad: []string{"SECRET_KEY"}},
		{name: "DATABASE_URL sqlite absolute", env: map[string]string{"DATABASE_URL": "sqlite:///var/lib/combine/c.db"}},
		{name: "DATABASE_URL postgres", env: map[string]string{"DATABASE_URL": "postgres://u:p@db:5432/combine"}},
		{name: "DATABASE_URL postgresql", env: map[string]string{"DATABASE_URL": "postgresql://u@db/combine?sslmode=disable"}},
		{name: "DATABASE_URL bad scheme", env: map[string]string{"DATABASE_URL": "mysql://db/combine"}, bad: []string{"DATABASE_URL"}},
		{name: "DATABASE_URL sqlite without path", env: map[string]string{"DATABASE_URL": "sqlite://"}, bad: []string{"DATABASE_URL"}},
		{name: "DATABASE_URL sqlite with query", env: map[string]string{"DATABASE_URL": "sqlite:///./c.db?_pragma=foo"}, bad: []string{"DATABASE_URL"}},
		{name: "DATABASE_URL postgres without host", env: map[string]string{"DATABASE_URL": "postgres:///combine"}, bad: []string{"DATABASE_URL"}},
		{name: "DATABASE_POOL_SIZE good", env: map[string]string{"DATABASE_POOL_SIZE": "20"}, check: func(t *testing.T, c *config.Config) {
			if c.DatabasePoolSize != 20 {
				t.Errorf("pool = %d", c.DatabasePoolSize)
			}
		}},
		{name: "DATABASE_POOL_SIZE zero", env: map[string]string{"DATABASE_POOL_SIZE": "0"}, bad: []string{"DATABASE_POOL_SIZE"}},
		{name: "SESSION_EXPIRE_HOURS good", env: map[string]string{"SESSION_EXPIRE_HOURS": "8"}, check: func(t *testing.T, c *config.Config) {
			if c.SessionExpire != 8*time.Hour {
				t.Errorf("SessionExpire = %s", c.SessionExpire)
			}
		}},
		{name: "SESSION_EXPIRE_HOURS bad", env: map[string]string{"SESSION_EXPIRE_HOURS": "-1"}, bad: []string{"SESSION_EXPIRE_HOURS"}},
		{name: "SESSION_IDLE_MINUTES good", env: map[string]string{"SESSION_IDLE_MINUTES": "30"}, check: func(t *testing.T, c *config.Config) {
			if c.SessionIdle != 30*time.Minute {
				t.Errorf("SessionIdle = %s", c.SessionIdle)
			}
		}},
		{name: "SESSION_IDLE_MINUTES bad", env: map[string]string{"SESSION_IDLE_MINUTES": "1h"}, bad: []string{"SESSION_IDLE_MINUTES"}},
		{name: "SESSION_SECURE_COOKIES on in development", env: map[string]string{"SESSION_SECURE_COOKIES": "true"},
			check: func(t *testing.T, c *config.Config) {
				if !c.SessionSecureCookies {
					t.Error("secure cookies off")
				}
			}},
		{name: "SESSION_SECURE_COOKIES bad", env: map[string]string{"SESSION_SECURE_COOKIES": "maybe"}, bad: []string{"SESSION_SECURE_COOKIES"}},
		{name: "PUBLIC_URL good", env: map[string]string{"PUBLIC_URL": "https://combine.example.com/"}, check: func(t *testing.T, c *config.Config) {
			if c.PublicURL != "https://combine.example.com" {
				t.Errorf("PublicURL = %q (trailing slash must go)", c.PublicURL)
			}
		}},
		{name: "PUBLIC_URL bad", env: map[string]string{"PUBLIC_URL": "combine.example.com"}, bad: []string{"PUBLIC_URL"}},
		{name: "Google good", env: map[string]string{"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "s"}, check: func(t *testing.T, c *config.Config) {
			if !c.Google.Enabled() || c.Google.ClientSecret != "s" {
				t.Errorf("Google = %+v", c.Google)
			}
		}},
		{name: "GOOGLE_CLIENT_SECRET missing", env: map[string]string{"GOOGLE_CLIENT_ID": "id"}, bad: []string{"GOOGLE_CLIENT_SECRET"}},
		{name: "GOOGLE_CLIENT_ID missing", env: map[string]string{"GOOGLE_CLIENT_SECRET": "s"}, bad: []string{"GOOGLE_CLIENT_ID"}},
		{name: "Microsoft good", env: map[string]string{"MICROSOFT_CLIENT_ID": "id", "MICROSOFT_CLIENT_SECRET": "s",
			"MICROSOFT_TENANT_ID": "organizations", "MICROSOFT_ALLOWED_TENANTS": "a, b"}, check: func(t *testing.T, c *config.Config) {
			if c.Microsoft.TenantID != "organizations" || !slices.Equal(c.Microsoft.AllowedTenants, []string{"a", "b"}) {
				t.Errorf("Microsoft = %+v", c.Microsoft)
			}
		}},
		{name: "MICROSOFT_TENANT_ID guid", env: map[string]string{"MICROSOFT_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47"}},
		{name: "MICROSOFT_TENANT_ID bad", env: map[string]string{"MICROSOFT_TENANT_ID": "not a tenant"}, bad: []string{"MICROSOFT_TENANT_ID"}},
		{name: "MICROSOFT_CLIENT_SECRET missing", env: map[string]string{"MICROSOFT_CLIENT_ID": "id"}, bad: []string{"MICROSOFT_CLIENT_SECRET"}},
		{name: "OIDC good", env: map[string]string{"OIDC_ISSUER": "https://id.example.com", "OIDC_CLIENT_ID": "c",
			"OIDC_CLIENT_SECRET": "s", "OIDC_NAME": "Corp SSO"}, check: func(t *testing.T, c *config.Config) {
			if !c.OIDC.Enabled() || c.OIDC.Name != "Corp SSO" || c.OIDC.ClientID != "c" {
				t.Errorf("OIDC = %+v", c.OIDC)
			}
		}},
		{name: "OIDC_ISSUER bad", env: map[string]string{"OIDC_ISSUER": "id.example.com", "OIDC_CLIENT_ID": "c"}, bad: []string{"OIDC_ISSUER"}},
		{name: "OIDC_CLIENT_ID missing", env: map[string]string{"OIDC_ISSUER": "https://id.example.com"}, bad: []string{"OIDC_CLIENT_ID"}},
		{name: "OIDC_ISSUER missing", env: map[string]string{"OIDC_CLIENT_ID": "c"}, bad: []string{"OIDC_ISSUER"}},
		{name: "ADMIN_EMAILS good", env: map[string]string{"ADMIN_EMAILS": "Ann@Example.com, bob@example.org"}, check: func(t *testing.T, c *config.Config) {
			if !slices.Equal(c.AdminEmails, []string{"ann@example.com", "bob@example.org"}) {
				t.Errorf("AdminEmails = %v", c.AdminEmails)
			}
		}},
		{name: "ADMIN_EMAILS bad", env: map[string]string{"ADMIN_EMAILS": "ann@example.com, bob"}, bad: []string{"ADMIN_EMAILS"}},
		{name: "ALLOWED_EMAIL_DOMAINS good", env: map[string]string{"ALLOWED_EMAIL_DOMAINS": "@Example.com,corp.org"}, check: func(t *testing.T, c *config.Config) {
			if !slices.Equal(c.AllowedEmailDomains, []string{"example.com", "corp.org"}) {
				t.Errorf("AllowedEmailDomains = %v", c.AllowedEmailDomains)
			}
		}},
		{name: "ALLOWED_EMAIL_DOMAINS bad", env: map[string]string{"ALLOWED_EMAIL_DOMAINS": "not a domain"}, bad: []string{"ALLOWED_EMAIL_DOMAINS"}},
		{name: "DEFAULT_ROLE good", env: map[string]string{"DEFAULT_ROLE": "operator"}, check: func(t *testing.T, c *config.Config) {
			if c.DefaultRole != "operator" {
				t.Errorf("DefaultRole = %q", c.DefaultRole)
			}
		}},
		{name: "DEFAULT_ROLE admin refused", env: map[string]string{"DEFAULT_ROLE": "admin"}, bad: []string{"DEFAULT_ROLE"}},
		{name: "PAT expiry good", env: map[string]string{"PAT_DEFAULT_EXPIRY_DAYS": "30", "PAT_MAX_EXPIRY_DAYS": "0"}, check: func(t *testing.T, c *config.Config) {
			if c.PATDefaultExpiryDays != 30 || c.PATMaxExpiryDays != 0 {
				t.Errorf("PAT days = %d/%d", c.PATDefaultExpiryDays, c.PATMaxExpiryDays)
			}
		}},
		{name: "PAT_DEFAULT_EXPIRY_DAYS over max", env: map[string]string{"PAT_DEFAULT_EXPIRY_DAYS": "400"}, bad: []string{"PAT_DEFAULT_EXPIRY_DAYS"}},
		{name: "PAT_MAX_EXPIRY_DAYS bad", env: map[string]string{"PAT_MAX_EXPIRY_DAYS": "-5"}, bad: []string{"PAT_MAX_EXPIRY_DAYS"}},
		{name: "WORKFLOWS_DIR good", env: map[string]string{"WORKFLOWS_DIR": dir}, check: func(t *testing.T, c *config.Config) {
			if c.WorkflowsDir != dir {
				t.Errorf("WorkflowsDir = %q", c.WorkflowsDir)
			}
		}},
		{name: "WORKFLOWS_DIR missing", env: map[string]string{"WORKFLOWS_DIR": filepath.Join(dir, "nope")}, bad: []string{"WORKFLOWS_DIR"}},
		{name: "LOG good", env: map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "text"}, check: func(t *testing.T, c *config.Config) {
			if c.LogLevel != "DEBUG" || c.LogFormat != "text" {
				t.Errorf("log = %s/%s", c.LogLevel, c.LogFormat)
			}
		}},
		{name: "LOG_LEVEL bad", env: map[string]string{"LOG_LEVEL": "verbose"}, bad: []string{"LOG_LEVEL"}},
		{name: "LOG_FORMAT bad", env: map[string]string{"LOG_FORMAT": "xml"}, bad: []string{"LOG_FORMAT"}},
		{name: "LLM anthropic good", env: map[string]string{"LLM_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "k", "LLM_MODEL": "m"},
			check: func(t *testing.T, c *config.Config) {
				if c.LLMProvider != "anthropic" || c.AnthropicAPIKey != "k" || c.LLMModel != "m" {
					t.Errorf("LLM = %q %q", c.LLMProvider, c.LLMModel)
				}
			}},
		{name: "LLM openai local", env: map[string]string{"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}},
		{name: "LLM_PROVIDER bad", env: map[string]string{"LLM_PROVIDER": "gemini"}, bad: []string{"LLM_PROVIDER"}},
		{name: "ANTHROPIC_API_KEY missing", env: map[string]string{"LLM_PROVIDER": "anthropic"}, bad: []string{"ANTHROPIC_API_KEY"}},
		{name: "OPENAI_API_KEY missing", env: map[string]string{"LLM_PROVIDER": "openai"}, bad: []string{"OPENAI_API_KEY"}},
		{name: "OPENAI_BASE_URL bad", env: map[string]string{"OPENAI_BASE_URL": "localhost:11434"}, bad: []string{"OPENAI_BASE_URL"}},
		{name: "shutdown good", env: map[string]string{"SHUTDOWN_TIMEOUT": "45s", "SHUTDOWN_DELAY": "3s"}, check: func(t *testing.T, c *config.Config) {
			if c.ShutdownTimeout != 45*time.Second || c.ShutdownDelay != 3*time.Second {
				t.Errorf("shutdown = %s/%s", c.ShutdownTimeout, c.ShutdownDelay)
			}
		}},
		{name: "SHUTDOWN_TIMEOUT bad", env: map[string]string{"SHUTDOWN_TIMEOUT": "30"}, bad: []string{"SHUTDOWN_TIMEOUT"}},
		{name: "SHUTDOWN_DELAY out of range", env: map[string]string{"SHUTDOWN_DELAY": "2h"}, bad: []string{"SHUTDOWN_DELAY"}},
		{name: "MAX_BODY_BYTES good", env: map[string]string{"MAX_BODY_BYTES": "4096"}, check: func(t *testing.T, c *config.Config) {
			if c.MaxBodyBytes != 4096 {
				t.Errorf("MaxBodyBytes = %d", c.MaxBodyBytes)
			}
		}},
		{name: "MAX_BODY_BYTES too small", env: map[string]string{"MAX_BODY_BYTES": "10"}, bad: []string{"MAX_BODY_BYTES"}},
		{name: "TRUSTED_PROXIES good", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7, ::1"}, check: func(t *testing.T, c *config.Config) {
			want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("::1/128")}
			if !slices.Equal(c.TrustedProxies, want) {
				t.Errorf("TrustedProxies = %v", c.TrustedProxies)
			}
		}},
		{name: "TRUSTED_PROXIES bad", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, bad: []string{"TRUSTED_PROXIES"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, vars := problemVars(t, tt.env)
			if !slices.Equal(vars, tt.bad) {
				t.Fatalf("problems for %v, want %v", vars, tt.bad)
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func TestProductionRules(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"staging", "production"} {
		t.Run(env, func(t *testing.T) {
			t.Parallel()
			if _, vars := problemVars(t, map[string]string{"ENVIRONMENT": env}); !slices.Equal(vars, []string{"SECRET_KEY"}) {
				t.Errorf("without SECRET_KEY: problems %v, want [SECRET_KEY]", vars)
			}
			if _, vars := problemVars(t, map[string]string{"ENVIRONMENT": env, "SECRET_KEY": goodKey[:31]}); !slices.Equal(vars, []string{"SECRET_KEY"}) {
				t.Errorf("31-character key: problems %v, want [SECRET_KEY]", vars)
			}
			cfg, vars := problemVars(t, map[string]string{"ENVIRONMENT": env, "SECRET_KEY": goodKey})
			if vars != nil {
				t.Fatalf("valid %s config refused: %v", env, vars)
			}
			if !cfg.SessionSecureCookies || cfg.SecretKeyGenerated || cfg.ShutdownDelay != 5*time.Second {
				t.Errorf("secure=%v generated=%v delay=%s", cfg.SessionSecureCookies, cfg.SecretKeyGenerated, cfg.ShutdownDelay)
			}
			if _, vars := problemVars(t, map[string]string{"ENVIRONMENT": env, "SECRET_KEY": goodKey, "SESSION_SECURE_COOKIES": "false"}); !slices.Equal(vars, []string{"SESSION_SECURE_COOKIES"}) {
				t.Errorf("secure cookies off: problems %v, want [SESSION_SECURE_COOKIES]", vars)
			}
		})
	}
}

func TestDevelopmentGeneratesKey(t *testing.T) {
	t.Parallel()
	a, _ := problemVars(t, map[string]string{})
	b, _ := problemVars(t, map[string]string{})
	if !a.SecretKeyGenerated || len(a.SecretKey) < 32 || a.SecretKey == b.SecretKey {
		t.Fatalf("generated key: %v, len %d, distinct %v", a.SecretKeyGenerated, len(a.SecretKey), a.SecretKey != b.SecretKey)
	}
	if !slices.ContainsFunc(a.Warnings, func(w string) bool { return strings.Contains(w, "SECRET_KEY") }) {
		t.Errorf("no warning about the generated key: %v", a.Warnings)
	}
}

func TestSecretFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("key", goodKey+"\n")
	empty := write("empty", "\n")
	secrets := []string{"SECRET_KEY", "DATABASE_URL", "GOOGLE_CLIENT_SECRET", "MICROSOFT_CLIENT_SECRET",
		"OIDC_CLIENT_SECRET", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"}

	cfg, vars := problemVars(t, map[string]string{"ENVIRONMENT": "production", "SECRET_KEY_FILE": key,
		"DATABASE_URL_FILE": write("db", "postgres://u:p@db/combine"),
		"GOOGLE_CLIENT_ID":  "g", "GOOGLE_CLIENT_SECRET_FILE": write("g", "gs"),
		"MICROSOFT_CLIENT_ID": "m", "MICROSOFT_CLIENT_SECRET_FILE": write("m", "ms"),
		"OIDC_ISSUER": "https://id.example.com", "OIDC_CLIENT_ID": "o", "OIDC_CLIENT_SECRET_FILE": write("o", "os"),
		"ANTHROPIC_API_KEY_FILE": write("a", "ak"), "OPENAI_API_KEY_FILE": write("op", "ok")})
	if vars != nil {
		t.Fatalf("problems: %v", vars)
	}
	got := []string{cfg.SecretKey, cfg.DatabaseURL, cfg.Google.ClientSecret, cfg.Microsoft.ClientSecret,
		cfg.OIDC.ClientSecret, cfg.AnthropicAPIKey, cfg.OpenAIAPIKey}
	want := []string{goodKey, "postgres://u:p@db/combine", "gs", "ms", "os", "ak", "ok"}
	if !slices.Equal(got, want) {
		t.Errorf("secrets from files = %q, want %q", got, want)
	}

	for _, name := range secrets {
		t.Run(name, func(t *testing.T) {
			if _, vars := problemVars(t, map[string]string{name: "x", name + "_FILE": key}); !slices.Contains(vars, name+"_FILE") {
				t.Errorf("both %s and %s_FILE: problems %v", name, name, vars)
			}
			if _, vars := problemVars(t, map[string]string{name + "_FILE": filepath.Join(dir, "missing")}); !slices.Contains(vars, name+"_FILE") {
				t.Errorf("unreadable %s_FILE: problems %v", name, vars)
			}
			if _, vars := problemVars(t, map[string]string{name + "_FILE": empty}); !slices.Contains(vars, name+"_FILE") {
				t.Errorf("empty %s_FILE: problems %v", name, vars)
			}
		})
	}
}

func TestEveryProblemListed(t *testing.T) {
	t.Parallel()
	_, err := config.Load(config.FromMap(map[string]string{
		"ENVIRONMENT": "production", "PORT": "x", "DATABASE_URL": "ftp://x", "LOG_LEVEL": "loud",
		"SESSION_SECURE_COOKIES": "off", "TRUSTED_PROXIES": "nope", "MAX_BODY_BYTES": "1",
	}))
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := []string{"PORT", "SECRET_KEY", "DATABASE_URL", "SESSION_SECURE_COOKIES", "LOG_LEVEL", "MAX_BODY_BYTES", "TRUSTED_PROXIES"}
	for _, v := range want {
		if !strings.Contains(err.Error(), "\n  "+v+": ") {
			t.Errorf("message does not list %s:\n%s", v, err)
		}
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ve.Problems), len(want), err)
	}
}
