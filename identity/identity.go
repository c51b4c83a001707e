// Package identity implements The Combine's users, sessions, personal
// access tokens, one-time sign-in links, audit log and request
// authenticator on the SQL database (SQLite or PostgreSQL).
//
// Every secret (session cookie, token, link) is 32+ random bytes shown once
// and stored only as its SHA-256 hash; lookups are by that hash. Verified
// credentials are cached in memory (CredentialCache) with synchronous
// invalidation: revocation, logout, disabling and demotion evict on the
// instance that makes them, are announced to the others in the same
// transaction, and the cache is bypassed whenever that announcement
// could be missed, so they act on the next request on every instance.
package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/sqldb"
)

// Options are the identity rules taken from the configuration.
type Options struct {
	SessionExpire        time.Duration
	SessionIdle          time.Duration
	AdminEmails          []string
	AllowedEmailDomains  []string
	DefaultRole          string
	PATDefaultExpiryDays int
	// PATMaxExpiryDays of 0 means no limit.
	PATMaxExpiryDays int
	// PublicURL is the base of sign-in links.
	PublicURL string
	// DefaultActor names the actor of changes made without an
	// authenticated caller: "cli" for the command line, "system" otherwise.
	DefaultActor string
	// CacheTTL bounds how long a verified credential is served from memory
	// before it is read again (AUTH_CACHE_TTL); 0 turns the cache off.
	CacheTTL time.Duration
	// CacheEntries bounds the cache (DefaultCacheEntries when 0).
	CacheEntries int
	// AuditWindow is the aggregation window of repeated failures
	// (DefaultAuditWindow when 0).
	AuditWindow time.Duration
}

// OptionsFromConfig extracts the identity options from cfg.
func OptionsFromConfig(cfg *config.Config) Options {
	return Options{
		SessionExpire:        cfg.SessionExpire,
		SessionIdle:          cfg.SessionIdle,
		AdminEmails:          cfg.AdminEmails,
		AllowedEmailDomains:  cfg.AllowedEmailDomains,
		DefaultRole:          cfg.DefaultRole,
		PATDefaultExpiryDays: cfg.PATDefaultExpiryDays,
		PATMaxExpiryDays:     cfg.PATMaxExpiryDays,
		PublicURL:            cfg.PublicURL,
		DefaultActor:         "system",
		CacheTTL:             cfg.AuthCacheTTL,
	}
}

// touchInterval bounds how often last_seen_at / last_used_at are written
// per credential: a write per request would halve throughput on SQLite.
const touchInterval = time.Minute

// linkLifetime is how long a sign-in or setup link stays valid.
const linkLifetime = 30 * time.Minute

// Service implements combine.LoginService, UserService, SessionService,
// TokenService, LinkService, AuditService and Authenticator.
type Service struct {
	db     *sqldb.DB
	opts   Options
	logger *slog.Logger

	// Now is the clock; tests replace it.
	Now func() time.Time
	// Rand is the source of secrets and ids; tests may replace it.
	Rand io.Reader

	limiter   *Limiter
	lastAudit atomic.Uint64
	stmts     stmts
	cache     *CredentialCache
	agg       aggregator
}

// Interface checks.
var (
	_ combine.LoginService   = (*Service)(nil)
	_ combine.UserService    = (*Service)(nil)
	_ combine.SessionService = (*Service)(nil)
	_ combine.TokenService   = (*Service)(nil)
	_ combine.LinkService    = (*Service)(nil)
	_ combine.AuditService   = (*Service)(nil)
	_ combine.Authenticator  = (*Service)(nil)

	_ combine.AccessWatcher = (*Service)(nil)
)

// New returns the identity service on db.
func New(db *sqldb.DB, opts Options, logger *slog.Logger) *Service {
	if opts.DefaultRole == "" {
		opts.DefaultRole = combine.RoleViewer
	}
	if opts.DefaultActor == "" {
		opts.DefaultActor = "system"
	}
	if opts.SessionExpire <= 0 {
		opts.SessionExpire = 24 * time.Hour
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 2 * time.Hour
	}
	for i, e := range opts.AdminEmails {
		opts.AdminEmails[i] = strings.ToLower(strings.TrimSpace(e))
	}
	s := &Service{db: db, opts: opts, logger: logger, Now: time.Now, Rand: rand.Reader}
	s.limiter = NewLimiter(DefaultLimit, func() time.Time { return s.Now() })
	s.cache = newCredentialCache(db, opts.CacheTTL, opts.CacheEntries, logger)
	return s
}

// Limiter returns the failed-authentication limiter (per instance).
func (s *Service) Limiter() *Limiter { return s.limiter }

// Cache returns the credential cache. It is bypassed until its
// invalidation feed is connected: on PostgreSQL, pass it to the
// process's events.Notifier (Listen(NotifyChannel, cache)); on SQLite,
// Start it. See CredentialCache.
func (s *Service) Cache() *CredentialCache { return s.cache }

// now is the clock at the stored precision (microseconds).
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// randomBytes fills n bytes from the service's random source.
func (s *Service) randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.Rand, b); err != nil {
		panic("identity: random source failed: " + err.Error())
	}
	return b
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random identifier with a type prefix, e.g. usr_….
func (s *Service) newID(prefix string) string {
	return prefix + idEncoding.EncodeToString(s.randomBytes(15))
}

// newSecret returns 32 random bytes, URL-safe base64 (43 characters).
func (s *Service) newSecret() string {
	return base64.RawURLEncoding.EncodeToString(s.randomBytes(32))
}

// hashSecret is the stored form of a secret: hex SHA-256. The secrets are
// 256-bit random values, so an unsalted fast hash cannot be reversed.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(email[at+1:])
}

func normEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }
