package identity

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thecombine/combine"
)

// cachedCred is a verified credential as authentication needs it: the
// owner, the effective permissions and what can end it by itself
// (expiry, idleness). Revocation, disabling and role changes end it by
// eviction. Only credentials that passed every check are cached.
type cachedCred struct {
	method    string // combine.AuthMethodPAT or combine.AuthMethodSession
	id        string // token or session id
	user      authUser
	perms     combine.PermissionSet
	scopes    []combine.Permission // a scoped token's own scopes
	expiresAt time.Time            // zero: a token without expiry
	loaded    time.Time            // when it was read from the database (TTL)
	// used is last_used_at (token) or last_seen_at (session) in Unix
	// microseconds, as this instance last read or wrote it; it throttles
	// the write of the next one and decides session idleness.
	used atomic.Int64
}

// context returns a fresh AuthContext for one request. Roles, Scopes and
// Permissions are shared between the requests of the credential and must
// be treated as read-only (Roles is clipped, so an append copies).
func (e *cachedCred) context() *combine.AuthContext {
	a := &combine.AuthContext{UserID: e.user.id, Email: e.user.email, Name: e.user.name, Provider: e.user.provider,
		Roles: e.user.roles, Method: e.method, Permissions: e.perms, ExpiresAt: e.expiresAt,
		Scopes: e.scopes}
	if e.method == combine.AuthMethodPAT {
		a.TokenID = e.id
	} else {
		a.SessionID = e.id
	}
	return a
}

// credStore is the in-process map of verified credentials, keyed by the
// SHA-256 of the secret, with the indexes eviction needs.
//
// Correctness rests on two rules. Entries are used only while the store
// is live (cross-instance invalidation is connected) and younger than
// the TTL. And an entry read from the database is stored only if no
// eviction happened since the read began (the generation did not move):
// otherwise a read that raced with a revocation could store the state
// from before it, after the eviction meant to remove it.
type credStore struct {
	ttl time.Duration
	max int

	mu      sync.RWMutex
	live    bool
	gen     uint64
	entries map[[32]byte]*cachedCred
	byCred  map[string][32]byte
	byUser  map[string]map[[32]byte]struct{}

	hits, misses, bypassed atomic.Uint64
}

func newCredStore(ttl time.Duration, maxEntries int) *credStore {
	return &credStore{ttl: ttl, max: maxEntries, entries: map[[32]byte]*cachedCred{},
		byCred: map[string][32]byte{}, byUser: map[string]map[[32]byte]struct{}{}}
}

// get returns the entry for key when the store may be used and the entry
// is younger than the TTL; nil otherwise (the caller reads the database).
func (c *credStore) get(key [32]byte, now time.Time) *cachedCred {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.RLock()
	live := c.live
	e := c.entries[key]
	c.mu.RUnlock()
	switch {
	case !live:
		c.bypassed.Add(1)
		return nil
	case e == nil || now.Sub(e.loaded) >= c.ttl || now.Before(e.loaded):
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return e
}

// begin is called before a database read whose result may be stored: it
// returns the generation to hand to put, and whether storing is possible.
func (c *credStore) begin() (uint64, bool) {
	if c.ttl <= 0 {
		return 0, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen, c.live
}

// put stores e under key unless an eviction happened since begin
// returned gen, or the store stopped being live.
func (c *credStore) put(key [32]byte, e *cachedCred, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if old := c.entries[key]; old != nil {
		c.removeLocked(key, old)
	} else if len(c.entries) >= c.max {
		c.makeRoomLocked(e.loaded)
	}
	c.entries[key] = e
	c.byCred[e.id] = key
	set := c.byUser[e.user.id]
	if set == nil {
		set = map[[32]byte]struct{}{}
		c.byUser[e.user.id] = set
	}
	set[key] = struct{}{}
}

// makeRoomLocked drops the entries past their TTL and, if the store is
// still full, arbitrary ones (map order) down to 90% of the limit.
func (c *credStore) makeRoomLocked(now time.Time) {
	for k, e := range c.entries {
		if now.Sub(e.loaded) >= c.ttl || now.Before(e.loaded) {
			c.removeLocked(k, e)
		}
	}
	for k, e := range c.entries {
		if len(c.entries) < c.max*9/10 {
			break
		}
		c.removeLocked(k, e)
	}
}

func (c *credStore) removeLocked(key [32]byte, e *cachedCred) {
	delete(c.entries, key)
	if c.byCred[e.id] == key {
		delete(c.byCred, e.id)
	}
	if set := c.byUser[e.user.id]; set != nil {
		delete(set, key)
		if len(set) == 0 {
			delete(c.byUser, e.user.id)
		}
	}
}

// drop removes the entry under key if it is still e (an entry found
// expired or idle; the database decides what it is now).
func (c *credStore) drop(key [32]byte, e *cachedCred) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[key] == e {
		c.removeLocked(key, e)
	}
}

// evict removes what the subjects name (see subject) and moves the
// generation, so that no read begun before this call stores its result.
func (c *credStore) evict(subjects []subject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, s := range subjects {
		switch s.kind {
		case subjectToken, subjectSession:
			if key, ok := c.byCred[s.id]; ok {
				c.removeLocked(key, c.entries[key])
			}
		case subjectUser:
			for key := range c.byUser[s.id] {
				c.removeLocked(key, c.entries[key])
			}
		}
	}
}

// setLive empties the store and turns its use on or off. Going live
// empties it because changes made while invalidation was down may have
// been missed; going down empties it because nothing stored could be
// trusted when it comes back.
func (c *credStore) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
	clear(c.byCred)
	clear(c.byUser)
	c.live = live
}

// isLive reports whether the store is in use.
func (c *credStore) isLive() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.live
}

// len returns the number of entries.
func (c *credStore) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// newCachedCred builds an entry from what the database returned.
func newCachedCred(method, id string, u authUser, perms combine.PermissionSet, expiresAt, used, loaded time.Time) *cachedCred {
	u.roles = slices.Clip(u.roles)
	e := &cachedCred{method: method, id: id, user: u, perms: perms, expiresAt: expiresAt, loaded: loaded}
	e.used.Store(used.UnixMicro())
	return e
}
