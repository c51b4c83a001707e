package identity

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/sqldb"
)

// DefaultCacheEntries bounds the credential cache when Options.CacheEntries
// is zero (about 0.5 kB per entry).
const DefaultCacheEntries = 20000

// DefaultPollInterval is how often, on SQLite, the cache reads the audit
// log for access changes made by other processes sharing the file.
const DefaultPollInterval = 50 * time.Millisecond

// CredentialCache keeps verified credentials in memory, so that a steady
// stream of requests does no database read, and keeps them true:
//
//   - a change made by this instance (revocation, logout, disabling, a
//     role change) evicts what it touches right after its commit;
//   - a change made by another instance reaches this one through the
//     invalidation feed: on PostgreSQL a NOTIFY on NotifyChannel sent in
//     the change's transaction and received by the process's LISTEN
//     connection (events.Notifier, which calls Notify and Listening); on
//     SQLite the audit log, which records every access change in the same
//     transaction and is read every PollInterval (Start);
//   - while that feed is not connected (start-up, lost connection) the
//     cache is bypassed, and it starts empty when the feed comes back, so
//     a missed notification never keeps a revoked credential alive;
//   - every entry is re-read after the TTL, the last backstop (for
//     changes made with SQL behind the service's back);
//   - expiry and session idleness are checked against the clock on every
//     request, and only a fresh database read ever refuses a credential.
//
// The same feed drives WatchAccess. The methods are safe for concurrent use.
type CredentialCache struct {
	store  *credStore
	watch  *watchers
	db     *sqldb.DB
	logger *slog.Logger
	// PollInterval is the SQLite feed's period (DefaultPollInterval);
	// set it before Start.
	PollInterval time.Duration

	mu      sync.Mutex
	lastErr error
	lastRow int64
	cancel  context.CancelFunc
	done    chan struct{}
}

func newCredentialCache(db *sqldb.DB, ttl time.Duration, entries int, logger *slog.Logger) *CredentialCache {
	if entries <= 0 {
		entries = DefaultCacheEntries
	}
	return &CredentialCache{store: newCredStore(ttl, entries), watch: newWatchers(), db: db, logger: logger,
		PollInterval: DefaultPollInterval}
}

// Notify applies one notification of NotifyChannel (events.Listener).
func (c *CredentialCache) Notify(payload string) {
	sub, ok := parseSubject(payload)
	if !ok {
		c.logger.Warn("ignoring a malformed access-change notification", "payload", payload)
		return
	}
	c.changed([]subject{sub})
}

// Listening is told by the notifier whether NotifyChannel is followed
// (events.Listener). The cache is used only while it is, and starts
// empty each time it comes up; watchers are told to re-check, as they
// may have missed a change.
func (c *CredentialCache) Listening(up bool, err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
	c.store.setLive(up)
	if up {
		c.watch.fireAll()
	}
}

// changed evicts the subjects and tells their watchers.
func (c *CredentialCache) changed(subjects []subject) {
	if len(subjects) == 0 {
		return
	}
	c.store.evict(subjects)
	c.watch.fire(subjects)
}

// Start follows the audit log on SQLite (on PostgreSQL the notifier
// drives the cache and Start does nothing). The cache is live once the
// first read succeeded, before Start returns.
func (c *CredentialCache) Start(ctx context.Context) error {
	if c.db.Dialect != sqldb.SQLite {
		return nil
	}
	err := c.db.R.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM audit_log`).Scan(&c.lastRow)
	if err != nil {
		return fmt.Errorf("credential cache: read the end of the audit log: %w", err)
	}
	c.Listening(true, nil)
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel, c.done = cancel, make(chan struct{})
	go c.follow(lctx)
	return nil
}

// Stop ends the SQLite feed; the cache is bypassed from then on.
func (c *CredentialCache) Stop(ctx context.Context) error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// follow reads the audit log every PollInterval until ctx ends. A failed
// read turns the cache off until a read succeeds again; the log is
// durable, so nothing written in between is missed.
func (c *CredentialCache) follow(ctx context.Context) {
	defer close(c.done)
	defer c.Listening(false, nil)
	t := time.NewTicker(c.PollInterval)
	defer t.Stop()
	up := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.poll(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && up:
			c.logger.Warn("credential cache: cannot read the audit log; the cache is bypassed until it can", "error", err)
			c.Listening(false, err)
		case err == nil && !up:
			c.logger.Info("credential cache: reading the audit log again; the cache is back in use")
			c.Listening(true, nil)
		}
		up = err == nil
	}
}

// pollBatch bounds the rows one read of the audit log returns.
const pollBatch = 500

// poll applies the access changes logged since the last read.
func (c *CredentialCache) poll(ctx context.Context) error {
	for {
		rows, err := c.db.R.QueryContext(ctx, `SELECT rowid, action, target FROM audit_log WHERE rowid > $1 ORDER BY rowid LIMIT $2`,
			c.lastRow, pollBatch)
		if err != nil {
			return err
		}
		var subs []subject
		n := 0
		for rows.Next() {
			var action, target string
			if err := rows.Scan(&c.lastRow, &action, &target); err != nil {
				rows.Close()
				return err
			}
			n++
			if s, ok := auditSubject(action, target); ok {
				subs = append(subs, s)
			}
		}
		err = rows.Close()
		if err == nil {
			err = rows.Err()
		}
		c.changed(subs)
		if err != nil || n < pollBatch {
			return err
		}
	}
}

// Live reports whether cross-instance invalidation is connected, that is
// whether the cache is in use.
func (c *CredentialCache) Live() bool { return c.store.isLive() }

// Stats are the cache's counters since start.
type Stats struct {
	Entries                int
	Hits, Misses, Bypassed uint64
	Live                   bool
	TTL                    time.Duration
}

// Stats returns the current counters.
func (c *CredentialCache) Stats() Stats {
	return Stats{Entries: c.store.len(), Hits: c.store.hits.Load(), Misses: c.store.misses.Load(),
		Bypassed: c.store.bypassed.Load(), Live: c.store.isLive(), TTL: c.store.ttl}
}

// Check is the health component "cache": entries, hit rate and whether
// cross-instance invalidation is live; degraded while it is not (the
// service works, every request then reads the database).
func (c *CredentialCache) Check(ctx context.Context) (map[string]any, error) {
	st := c.Stats()
	if st.TTL <= 0 {
		return map[string]any{"enabled": false}, nil
	}
	mode := "notify"
	if c.db.Dialect == sqldb.SQLite {
		mode = "audit_log"
	}
	rate := 0.0
	if st.Hits+st.Misses > 0 {
		rate = float64(st.Hits) / float64(st.Hits+st.Misses)
	}
	d := map[string]any{"enabled": true, "entries": st.Entries, "hit_rate": float64(int(rate*1000)) / 1000,
		"hits": st.Hits, "misses": st.Misses, "bypassed": st.Bypassed, "ttl": st.TTL.String(),
		"invalidation": mode, "invalidation_live": st.Live, "watchers": c.watch.len()}
	if !st.Live {
		return d, health.Degradedf("cross-instance invalidation is not connected; every request reads the database")
	}
	return d, nil
}

// Collectors are the cache's Prometheus series.
func (c *CredentialCache) Collectors() []prometheus.Collector {
	lookups := func(result string, v func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "combine_auth_cache_lookups_total",
			Help:        "Credential lookups by outcome: hit (no database read), miss (read and cached), bypass (invalidation down or cache off).",
			ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 { return float64(v()) })
	}
	return []prometheus.Collector{
		lookups("hit", c.store.hits.Load),
		lookups("miss", c.store.misses.Load),
		lookups("bypass", c.store.bypassed.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "combine_auth_cache_entries",
			Help: "Verified credentials held in the in-process cache.",
		}, func() float64 { return float64(c.store.len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "combine_auth_cache_invalidation_live",
			Help: "1 while cross-instance invalidation of the credential cache is connected (otherwise the cache is bypassed).",
		}, func() float64 {
			if c.store.isLive() {
				return 1
			}
			return 0
		}),
	}
}
