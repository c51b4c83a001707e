package identity

import (
	"sync"
	"time"

	"github.com/thecombine/combine"
)

// WatchAccess implements combine.AccessWatcher: the returned channel is
// closed when the access that a was granted may have changed — its
// credential was revoked or ended (logout), its owner was disabled,
// enabled or given other roles, by this instance or any other (through
// the same feed as the cache) — when the credential expires, and when
// the invalidation feed reconnects (a change may have been missed).
// The receiver re-authenticates: a closed channel is a reason to look,
// not a verdict. stop ends the watch; call it when the request ends.
// A nil a (anonymous) is never signalled.
func (s *Service) WatchAccess(a *combine.AuthContext) (<-chan struct{}, func()) {
	if a == nil {
		return make(chan struct{}), func() {}
	}
	subs := []subject{{subjectUser, a.UserID}}
	if a.TokenID != "" {
		subs = append(subs, subject{subjectToken, a.TokenID})
	}
	if a.SessionID != "" {
		subs = append(subs, subject{subjectSession, a.SessionID})
	}
	var until time.Duration = -1
	if !a.ExpiresAt.IsZero() {
		until = max(a.ExpiresAt.Sub(s.Now()), 0)
	}
	return s.cache.watch.add(subs, until)
}

// watchers are the open WatchAccess watches by subject.
type watchers struct {
	mu        sync.Mutex
	bySubject map[subject]map[*watch]struct{}
	all       map[*watch]struct{}
}

type watch struct {
	ch       chan struct{}
	subjects []subject
	timer    *time.Timer
}

func newWatchers() *watchers {
	return &watchers{bySubject: map[subject]map[*watch]struct{}{}, all: map[*watch]struct{}{}}
}

// add registers a watch of subjects, also signalled after until (unless
// negative).
func (ws *watchers) add(subjects []subject, until time.Duration) (<-chan struct{}, func()) {
	w := &watch{ch: make(chan struct{}), subjects: subjects}
	ws.mu.Lock()
	ws.all[w] = struct{}{}
	for _, s := range subjects {
		set := ws.bySubject[s]
		if set == nil {
			set = map[*watch]struct{}{}
			ws.bySubject[s] = set
		}
		set[w] = struct{}{}
	}
	if until >= 0 {
		w.timer = time.AfterFunc(until, func() { ws.signal(w) })
	}
	ws.mu.Unlock()
	return w.ch, func() { ws.remove(w, false) }
}

// signal closes w's channel and ends the watch.
func (ws *watchers) signal(w *watch) { ws.remove(w, true) }

// remove ends w, closing its channel when signalled; later calls do nothing.
func (ws *watchers) remove(w *watch, signalled bool) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.removeLocked(w, signalled)
}

func (ws *watchers) removeLocked(w *watch, signalled bool) {
	if _, ok := ws.all[w]; !ok {
		return
	}
	delete(ws.all, w)
	for _, s := range w.subjects {
		if set := ws.bySubject[s]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(ws.bySubject, s)
			}
		}
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	if signalled {
		close(w.ch)
	}
}

// fire signals every watch of the subjects.
func (ws *watchers) fire(subjects []subject) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, s := range subjects {
		for w := range ws.bySubject[s] {
			ws.removeLocked(w, true)
		}
	}
}

// fireAll signals every watch.
func (ws *watchers) fireAll() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.all {
		ws.removeLocked(w, true)
	}
}

// len returns the number of open watches.
func (ws *watchers) len() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.all)
}
