// Package events wakes execution event streams when new events are
// appended. The durable event log is the source of truth; the Notifier
// tells the streams of this process when to re-read it, so that no
// stream polls the database on its own:
//
//   - one poller per process reads the head (the latest sequence number)
//     of every execution some stream follows, in one query per interval,
//     and wakes the streams of those that moved — on both databases and
//     across instances;
//   - on PostgreSQL, one LISTEN connection per process adds prompt
//     wake-ups: the event append sends NOTIFY in its own transaction (see
//     Notify), whichever instance wrote the event; the poller then only
//     covers a notification lost while reconnecting.
package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine/health"
	"github.com/thecombine/combine/sqldb"
)

// Channel is the PostgreSQL notification channel; the payload is the
// execution id.
const Channel = "combine_execution_events"

// Notify queues a wake-up for the streams of executionID inside tx; on
// PostgreSQL it is delivered to every listening instance when tx commits
// (and never if it rolls back). On SQLite it does nothing: streams find
// the event by polling.
func Notify(ctx context.Context, tx *sql.Tx, dialect sqldb.Dialect, executionID string) error {
	if dialect != sqldb.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", Channel, executionID); err != nil {
		return fmt.Errorf("notify event streams: %w", err)
	}
	return nil
}

// A Listener follows one more notification channel over the notifier's
// LISTEN connection (one connection per process, whatever the number of
// channels). Its methods are called from the listening goroutine, in
// order, and must not block.
type Listener interface {
	// Notify delivers the payload of one notification on the channel.
	Notify(payload string)
	// Listening reports that the channel is followed from now on (up:
	// every notification committed after this call will be delivered; any
	// sent while it was down are lost), or no longer (err says why; nil
	// when the notifier stops).
	Listening(up bool, err error)
}

// Notifier fans wake-ups out to the streams of this process, and the
// notifications of other channels to their Listeners. It is safe for
// concurrent use; the zero value is not usable, call NewNotifier.
type Notifier struct {
	db     *sqldb.DB
	logger *slog.Logger
	// Retry is the delay before the LISTEN connection is re-established.
	Retry time.Duration
	// Heartbeat is how long the connection may stay silent before it is
	// pinged: a connection that died without a word (a dropped network
	// path) is noticed within Heartbeat plus PingTimeout instead of when
	// TCP gives up, minutes later.
	Heartbeat, PingTimeout time.Duration
	// Poll is how often the poller re-reads the heads of the followed
	// event logs; 0 means DefaultPoll, or ListeningPoll while LISTEN is up.
	Poll time.Duration

	mu        sync.Mutex
	subs      map[string]map[chan struct{}]struct{}
	listeners map[string]Listener
	listening bool
	lastErr   error

	// heads is the poller's last reading of each followed execution's log.
	heads   map[string]int64
	polling bool

	cancel     context.CancelFunc
	done       chan struct{}
	pollCancel context.CancelFunc
	pollDone   chan struct{}
	// settled is closed when the first LISTEN attempt has succeeded or failed.
	settled    chan struct{}
	settleOnce sync.Once

	received prometheus.Counter
}

// NewNotifier returns a notifier for db. Start begins listening (a no-op
// on SQLite).
func NewNotifier(db *sqldb.DB, logger *slog.Logger) *Notifier {
	return &Notifier{
		db:          db,
		logger:      logger,
		Retry:       time.Second,
		Heartbeat:   5 * time.Second,
		PingTimeout: 2 * time.Second,
		subs:        map[string]map[chan struct{}]struct{}{},
		listeners:   map[string]Listener{},
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "combine_event_notifications_total",
			Help: "Notifications of appended execution events received from PostgreSQL by this process.",
		}),
	}
}

// Collectors are the notifier's Prometheus series, for the server's
// registry: open subscriptions and notifications received.
func (n *Notifier) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "combine_event_subscriptions",
			Help: "Open subscriptions to execution events in this process (SSE streams, and worker calls watching for a cancel).",
		}, func() float64 { return float64(n.Subscribers()) }),
		n.received,
	}
}

// Listen adds channel, followed on the same LISTEN connection, and the
// listener its notifications go to. Call it before Start. On SQLite
// nothing is ever delivered and the listener is never told it is up.
func (n *Notifier) Listen(channel string, l Listener) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.listeners[channel] = l
}

// Subscribe returns a channel that receives a value (coalesced: at most
// one pending) whenever events of executionID may have been appended, and
// a function that ends the subscription.
func (n *Notifier) Subscribe(executionID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	set := n.subs[executionID]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		n.subs[executionID] = set
	}
	set[ch] = struct{}{}
	n.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			n.mu.Lock()
			delete(set, ch)
			if len(n.subs[executionID]) == 0 {
				delete(n.subs, executionID)
			}
			n.mu.Unlock()
		})
	}
}

// Wake signals the streams of executionID in this process.
func (n *Notifier) Wake(executionID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs[executionID] {
		signal(ch)
	}
}

// wakeAll signals every stream: after a (re)connection, notifications
// sent while no one listened are lost, so every stream re-reads the log.
func (n *Notifier) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, set := range n.subs {
		for ch := range set {
			signal(ch)
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Subscribers returns how many streams are subscribed (for metrics and tests).
func (n *Notifier) Subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.countLocked()
}

// Poll intervals of the poller.
const (
	DefaultPoll   = 500 * time.Millisecond
	ListeningPoll = 5 * time.Second
	// headsChunk bounds the ids of one heads query.
	headsChunk = 500
)

// Start starts the poller and, on PostgreSQL, listens for notifications
// with a dedicated connection (outside the pool, so streams never starve
// the pool).
func (n *Notifier) Start(ctx context.Context) error {
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	n.mu.Lock()
	n.pollCancel, n.pollDone, n.polling = pcancel, make(chan struct{}), true
	n.mu.Unlock()
	go n.poll(pctx)
	if n.db.Dialect != sqldb.Postgres || n.db.Pool == nil {
		return nil
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.done = make(chan struct{})
	n.settled, n.settleOnce = make(chan struct{}), sync.Once{}
	go n.listen(lctx)
	// Wait (briefly) for the first LISTEN so that a ready instance is also
	// a listening one; on failure streams still work by polling.
	select {
	case <-n.settled:
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
	}
	return nil
}

// settle marks the first LISTEN attempt as finished.
func (n *Notifier) settle() { n.settleOnce.Do(func() { close(n.settled) }) }

// Stop ends polling and listening and waits for both to exit.
func (n *Notifier) Stop(ctx context.Context) error {
	n.mu.Lock()
	pcancel, pdone := n.pollCancel, n.pollDone
	n.polling = false
	n.mu.Unlock()
	if pcancel != nil {
		pcancel()
		select {
		case <-pdone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if n.cancel == nil {
		return nil
	}
	n.cancel()
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Polling reports whether the poller runs: streams then need no timer of
// their own to find new events.
func (n *Notifier) Polling() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.polling
}

// pollInterval is Poll, or the default for the current listening state.
func (n *Notifier) pollInterval() time.Duration {
	if n.Poll > 0 {
		return n.Poll
	}
	if n.Listening() {
		return ListeningPoll
	}
	return DefaultPoll
}

// poll is the process's one poller: each interval it reads the heads of
// every followed execution's log and wakes the streams of those that
// moved, or that it has not read before (their streams may have started
// just before an append).
func (n *Notifier) poll(ctx context.Context) {
	defer close(n.pollDone)
	t := time.NewTimer(n.pollInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.pollOnce(ctx); err != nil && ctx.Err() == nil {
			n.logger.Warn("event poller: reading the event log heads failed", "error", err.Error())
		}
		t.Reset(n.pollInterval())
	}
}

func (n *Notifier) pollOnce(ctx context.Context) error {
	n.mu.Lock()
	ids := make([]string, 0, len(n.subs))
	for id := range n.subs {
		ids = append(ids, id)
	}
	n.mu.Unlock()
	heads := make(map[string]int64, len(ids))
	for start := 0; start < len(ids); start += headsChunk {
		chunk := ids[start:min(start+headsChunk, len(ids))]
		if err := readHeads(ctx, n.db, chunk, heads); err != nil {
			return err
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.heads == nil {
		n.heads = map[string]int64{}
	}
	for _, id := range ids {
		head := heads[id] // 0: no event yet
		if last, seen := n.heads[id]; seen && last == head {
			continue
		}
		n.heads[id] = head
		for ch := range n.subs[id] {
			signal(ch)
		}
	}
	for id := range n.heads {
		if _, followed := n.subs[id]; !followed {
			delete(n.heads, id)
		}
	}
	return nil
}

// readHeads stores the latest sequence number of each execution in ids
// that has events (one indexed read: the log's key is (execution_id, seq)).
func readHeads(ctx context.Context, db *sqldb.DB, ids []string, into map[string]int64) error {
	args := make([]any, len(ids))
	marks := make([]string, len(ids))
	for i, id := range ids {
		args[i] = id
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	rows, err := db.R.QueryContext(ctx, `SELECT execution_id, MAX(seq) FROM execution_events WHERE execution_id IN (`+
		strings.Join(marks, ", ")+`) GROUP BY execution_id`, args...)
	if err != nil {
		return fmt.Errorf("read event log heads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return fmt.Errorf("read event log heads: %w", err)
		}
		into[id] = seq
	}
	return rows.Err()
}

// Listening reports whether the LISTEN connection is up, so that every
// instance's appends wake this process's streams.
func (n *Notifier) Listening() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.listening
}

// Check reports whether the LISTEN connection is up (always healthy on
// SQLite, where streams poll).
func (n *Notifier) Check(ctx context.Context) (map[string]any, error) {
	if n.db.Dialect != sqldb.Postgres {
		return map[string]any{"mode": "poll"}, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	d := map[string]any{"mode": "listen", "subscriptions": n.countLocked()}
	if !n.listening {
		if n.lastErr != nil {
			return d, fmt.Errorf("%w: not listening for event notifications (streams fall back to polling): %w", health.ErrDegraded, n.lastErr)
		}
		return d, fmt.Errorf("%w: not listening for event notifications yet (streams fall back to polling)", health.ErrDegraded)
	}
	return d, nil
}

func (n *Notifier) countLocked() int {
	c := 0
	for _, set := range n.subs {
		c += len(set)
	}
	return c
}

func (n *Notifier) listen(ctx context.Context) {
	defer close(n.done)
	for {
		err := n.listenOnce(ctx)
		n.mu.Lock()
		n.listening = false
		n.lastErr = err
		n.mu.Unlock()
		stopped := ctx.Err() != nil
		for _, l := range n.channelListeners() {
			if stopped {
				l.Listening(false, nil)
			} else {
				l.Listening(false, err)
			}
		}
		n.settle()
		if stopped {
			return
		}
		n.logger.Warn("event notification listener disconnected; reconnecting", "error", err, "retry", n.Retry.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.Retry):
		}
	}
}

// channelListeners returns the listeners of the extra channels.
func (n *Notifier) channelListeners() map[string]Listener {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.listeners)
}

// ApplicationName names the LISTEN connection in pg_stat_activity.
const ApplicationName = "combine-notifier"

// listenOnce holds one LISTEN connection until it fails or ctx ends.
func (n *Notifier) listenOnce(ctx context.Context) error {
	cfg := n.db.Pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = ApplicationName
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	listeners := n.channelListeners()
	stmt := "LISTEN " + pgx.Identifier{Channel}.Sanitize()
	for _, ch := range slices.Sorted(maps.Keys(listeners)) {
		stmt += "; LISTEN " + pgx.Identifier{ch}.Sanitize()
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	n.mu.Lock()
	n.listening = true
	n.lastErr = nil
	n.mu.Unlock()
	for _, l := range listeners {
		l.Listening(true, nil)
	}
	n.settle()
	n.wakeAll()
	for {
		note, err := n.wait(ctx, conn)
		if err != nil {
			return err
		}
		if note == nil {
			continue
		}
		if note.Channel == Channel {
			n.received.Inc()
			n.Wake(note.Payload)
		} else if l := listeners[note.Channel]; l != nil {
			l.Notify(note.Payload)
		}
	}
}

// wait returns the next notification, or nil after Heartbeat of silence
// once a ping has shown that the connection is still alive.
func (n *Notifier) wait(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	wctx, cancel := context.WithTimeout(ctx, n.Heartbeat)
	note, err := conn.WaitForNotification(wctx)
	cancel()
	if note != nil {
		// Delivered even with an error: the next wait reports a broken
		// connection again.
		return note, nil
	}
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return note, err
	}
	// A timed-out wait leaves pgx's connection usable; the ping proves
	// the server still answers on it.
	pctx, cancel := context.WithTimeout(ctx, n.PingTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return nil, nil
}
