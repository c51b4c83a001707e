package identity

import "sync"

// watchers wakes the long-lived requests (event streams) of a user in
// this process when their credentials may have changed.
type watchers struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// WatchCredentials implements combine.CredentialWatcher for the changes
// this process makes (revocations, disabling, role changes). Another
// instance's changes reach a stream at its next periodic
// re-authentication, or at once when a cross-instance notification calls
// CredentialsChanged.
func (s *Service) WatchCredentials(userID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w := &s.watch
	w.mu.Lock()
	if w.subs == nil {
		w.subs = map[string]map[chan struct{}]struct{}{}
	}
	set := w.subs[userID]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		w.subs[userID] = set
	}
	set[ch] = struct{}{}
	w.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.mu.Lock()
			delete(set, ch)
			if len(w.subs[userID]) == 0 {
				delete(w.subs, userID)
			}
			w.mu.Unlock()
		})
	}
}

// CredentialsChanged wakes the watchers of userID: call it after a change
// to the user's sessions, tokens, roles or disabled flag has committed
// (the service does for its own changes; a cross-instance listener does
// for another instance's).
func (s *Service) CredentialsChanged(userID string) {
	w := &s.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs[userID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
