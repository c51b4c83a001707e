package identity

import (
	"sync"
	"time"
)

// Limit is a token bucket for failed authentications: Burst failures at
// once, then one more per Per.
type Limit struct {
	Burst int
	Per   time.Duration
}

// DefaultLimit allows 20 failed authentications per client address at
// once, then one every 3 seconds (20 a minute).
var DefaultLimit = Limit{Burst: 20, Per: 3 * time.Second}

// Limiter rate-limits failed authentication per client address. It lives
// in memory, so each instance limits on its own: behind N instances a
// client gets up to N times the budget.
type Limiter struct {
	mu        sync.Mutex
	limit     Limit
	now       func() time.Time
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter with the given limit and clock.
func NewLimiter(l Limit, now func() time.Time) *Limiter {
	return &Limiter{limit: l, now: now, buckets: map[string]*bucket{}}
}

// SetLimit changes the limit (tests and configuration).
func (l *Limiter) SetLimit(lim Limit) {
	l.mu.Lock()
	l.limit = lim
	l.mu.Unlock()
}

// refill brings b up to date; the caller holds mu.
func (l *Limiter) refill(b *bucket, now time.Time) {
	b.tokens += float64(now.Sub(b.at)) / float64(l.limit.Per)
	if b.tokens > float64(l.limit.Burst) {
		b.tokens = float64(l.limit.Burst)
	}
	b.at = now
}

// Blocked returns how long key must wait before its credentials are
// evaluated again; 0 when it may proceed.
func (l *Limiter) Blocked(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	l.refill(b, l.now())
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.limit.Per))
}

// Fail records a failed authentication by key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(l.limit.Burst), at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens--
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
}

// sweep forgets buckets that have refilled, bounding memory.
func (l *Limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= float64(l.limit.Burst) {
			delete(l.buckets, k)
		}
	}
}
