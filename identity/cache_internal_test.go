package identity

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/thecombine/combine"
)

func testCred(id, user string, loaded time.Time) *cachedCred {
	return newCachedCred(combine.AuthMethodPAT, id, authUser{id: user, roles: []string{"viewer"}},
		combine.PermissionsForRoles([]string{"viewer"}), time.Time{}, loaded, loaded)
}

// TestCredStoreRaces: a read that began before an eviction cannot store
// what it read (it may predate the change the eviction announced), and
// nothing is stored or served while the store is not live.
func TestCredStoreRaces(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	key := sha256.Sum256([]byte("secret"))
	c := newCredStore(10*time.Second, 100)

	gen, ok := c.begin()
	if ok {
		t.Fatal("a store that is not live offered to cache")
	}
	c.put(key, testCred("tok_1", "usr_1", now), gen)
	if c.len() != 0 {
		t.Fatal("stored while not live")
	}
	c.setLive(true)

	// A read races with a revocation of another credential of the user:
	// the eviction moved the generation, so the read's result is dropped.
	gen, ok = c.begin()
	if !ok {
		t.Fatal("a live store refused to cache")
	}
	c.evict([]subject{{subjectUser, "usr_1"}})
	c.put(key, testCred("tok_1", "usr_1", now), gen)
	if c.get(key, now) != nil {
		t.Fatal("a read begun before an eviction was stored after it")
	}

	gen, _ = c.begin()
	c.put(key, testCred("tok_1", "usr_1", now), gen)
	if c.get(key, now) == nil {
		t.Fatal("a clean read was not stored")
	}
	if c.get(key, now.Add(9*time.Second)) == nil || c.get(key, now.Add(10*time.Second)) != nil {
		t.Fatal("an entry must be served for the TTL and no longer")
	}
	if c.get(key, now.Add(-time.Second)) != nil {
		t.Fatal("an entry from the future (the clock went back) must not be served")
	}

	// Evicting the token, then the user, removes the entry and its indexes.
	c.evict([]subject{{subjectToken, "tok_1"}})
	if c.get(key, now) != nil || len(c.byCred) != 0 || len(c.byUser) != 0 {
		t.Fatalf("eviction by token left %d entries, %v, %v", c.len(), c.byCred, c.byUser)
	}

	// Going down empties the store and bypasses it.
	gen, _ = c.begin()
	c.put(key, testCred("tok_1", "usr_1", now), gen)
	c.setLive(false)
	before := c.bypassed.Load()
	if c.get(key, now) != nil || c.len() != 0 || c.bypassed.Load() != before+1 {
		t.Fatal("a store that went down still served or held entries")
	}
}

// TestCredStoreBound: the store never holds more than its limit; expired
// entries go first.
func TestCredStoreBound(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := newCredStore(10*time.Second, 50)
	c.setLive(true)
	for i := range 40 {
		gen, _ := c.begin()
		c.put(sha256.Sum256(fmt.Appendf(nil, "old%d", i)), testCred(fmt.Sprint("tok_old", i), "usr_1", now), gen)
	}
	later := now.Add(time.Minute)
	for i := range 200 {
		gen, _ := c.begin()
		c.put(sha256.Sum256(fmt.Appendf(nil, "new%d", i)), testCred(fmt.Sprint("tok_new", i), fmt.Sprint("usr_", i%7), later), gen)
		if c.len() > 50 {
			t.Fatalf("%d entries, limit 50", c.len())
		}
	}
	for i := range 40 {
		if c.get(sha256.Sum256(fmt.Appendf(nil, "old%d", i)), later) != nil {
			t.Fatal("an expired entry survived while the store was full")
		}
	}
	last := sha256.Sum256(fmt.Appendf(nil, "new%d", 199))
	if c.get(last, later) == nil {
		t.Fatal("the newest entry is missing")
	}
	n := 0
	for _, set := range c.byUser {
		n += len(set)
	}
	if n != c.len() || len(c.byCred) != c.len() {
		t.Fatalf("indexes out of step: %d entries, %d by user, %d by credential", c.len(), n, len(c.byCred))
	}
}
