package server

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine"
)

// Long-lived streams are bounded and keep being authorized:
//
//   - a cap per instance and per user (EVENTS_MAX_STREAMS,
//     EVENTS_MAX_STREAMS_PER_USER): beyond it a new stream is 429;
//   - a write deadline per write (EVENTS_WRITE_TIMEOUT): a reader that
//     stops reading ends its stream instead of holding it forever;
//   - the credential that opened the stream is re-checked while it is
//     open — at once when the AccessWatcher says it may have changed (on
//     this instance or another),
//     and at the latest every EVENTS_REAUTH_INTERVAL — and a revoked,
//     expired or disabled credential, or one that lost the route's
//     permission, ends the stream.

// streamLimits counts the open streams of this instance.
type streamLimits struct {
	mu      sync.Mutex
	total   int
	perUser map[string]int

	open    prometheus.GaugeFunc
	refused *prometheus.CounterVec
	ended   *prometheus.CounterVec
}

func newStreamLimits(reg *prometheus.Registry) *streamLimits {
	l := &streamLimits{perUser: map[string]int{}}
	l.open = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "combine_event_streams",
		Help: "Open event streams (Server-Sent Events) of this instance.",
	}, func() float64 { l.mu.Lock(); defer l.mu.Unlock(); return float64(l.total) })
	l.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "combine_event_streams_refused_total",
		Help: "Event streams refused with 429, by the cap reached (instance or user).",
	}, []string{"cap"})
	l.ended = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "combine_event_streams_ended_total",
		Help: "Event streams the server ended, by reason (credential, slow_reader, shutdown, complete, client_gone, read_error).",
	}, []string{"reason"})
	if reg != nil {
		reg.MustRegister(l.open, l.refused, l.ended)
	}
	return l
}

// acquire takes a stream slot for userID, or returns the 429 to send.
func (l *streamLimits) acquire(userID string, maxTotal, maxPerUser int) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= maxTotal:
		l.refused.WithLabelValues("instance").Inc()
		return nil, &combine.Error{Code: combine.ERATELIMITED,
			Message: "this server holds as many event streams as it allows; retry later or on another instance",
			Details: map[string]any{combine.RetryAfterKey: 5}}
	case l.perUser[userID] >= maxPerUser:
		l.refused.WithLabelValues("user").Inc()
		return nil, &combine.Error{Code: combine.ERATELIMITED,
			Message: "you have as many open event streams as one user may; close one first",
			Details: map[string]any{combine.RetryAfterKey: 5}}
	}
	l.total++
	l.perUser[userID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.perUser[userID]--; l.perUser[userID] <= 0 {
				delete(l.perUser, userID)
			}
		})
	}, nil
}

// streamGuard re-authorizes an open stream's caller.
type streamGuard struct {
	s     *Server
	creds combine.Credentials
	route Route
	// changed fires when the caller's credentials may have changed;
	// recheck fires at the latest re-authentication time.
	changed <-chan struct{}
	recheck *time.Timer
	every   time.Duration
	cancel  func()
}

// guardStream starts watching the credential of the stream request r.
func (s *Server) guardStream(r *http.Request) *streamGuard {
	g := &streamGuard{s: s, every: s.cfg.EventsReauth, cancel: func() {}}
	if info := infoFrom(r.Context()); info != nil {
		g.creds, g.route = info.creds, info.rt
	}
	if g.every <= 0 {
		g.every = 5 * time.Second
	}
	g.watch(combine.AuthFromContext(r.Context()))
	// The first re-check falls anywhere in the interval, so that streams
	// opened together do not re-authenticate together.
	g.recheck = time.NewTimer(time.Duration(rand.Int64N(int64(g.every))) + g.every/2)
	return g
}

// watch follows the access of a (nil: nobody to follow) until the next
// check, which renews it: a watch's channel is closed once.
func (g *streamGuard) watch(a *combine.AuthContext) {
	g.cancel()
	g.changed, g.cancel = nil, func() {}
	if a != nil && g.s.Credentials != nil {
		g.changed, g.cancel = g.s.Credentials.WatchAccess(a)
	}
}

// stop ends the watch.
func (g *streamGuard) stop() {
	g.recheck.Stop()
	g.cancel()
}

// check re-authenticates and re-authorizes the caller: nil while the
// stream may go on, else the error that ends it.
func (g *streamGuard) check(ctx context.Context) error {
	g.recheck.Reset(g.every)
	if g.route.Access.Kind == AccessPublic || g.route.Access.Kind == AccessOptional {
		return nil
	}
	if g.s.Authn == nil {
		return combine.Errorf(combine.EUNAUTHORIZED, "authentication is not available")
	}
	a, err := g.s.Authn.Authenticate(ctx, g.creds)
	if err != nil {
		return err
	}
	if a == nil {
		return combine.Errorf(combine.EUNAUTHORIZED, "authentication required")
	}
	if g.route.Access.Kind == AccessPermission && !a.Can(g.route.Access.Permission) {
		return combine.Forbidden(g.route.Access.Permission)
	}
	g.watch(a)
	return nil
}
