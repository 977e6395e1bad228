package store

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

// DefaultIdentityTTL bounds how long a cached identity may be served without
// being re-read: the fallback when invalidations cannot arrive (the
// notification connection dropped, or another process wrote to the same
// SQLite file).
const DefaultIdentityTTL = 5 * time.Second

// maxCachedIdentities bounds the cache's memory: at most this many users and
// this many sessions (a few hundred bytes each).
const maxCachedIdentities = 100_000

// Where an invalidation came from, in IdentityEvent.Source.
const (
	SourceLocal    = "local"    // a write of this process
	SourcePostgres = "postgres" // LISTEN/NOTIFY
	SourceRedis    = "redis"    // pub/sub
)

// IdentityEventKind says what an IdentityEvent reports.
type IdentityEventKind int

// The events of the identity cache.
const (
	// EventInvalidated: the entries of Change were dropped.
	EventInvalidated IdentityEventKind = iota + 1
	// EventFlushed: every entry was dropped (a notification channel
	// connected, reconnected or dropped, so changes may have been missed).
	EventFlushed
	// EventListening: a notification channel is connected and subscribed.
	EventListening
	// EventDisconnected: a notification channel dropped; entries now live
	// at most their TTL until it reconnects.
	EventDisconnected
)

// IdentityEvent reports what happened to the identity cache, to an observer
// set with SetIdentityObserver (tests, metrics).
type IdentityEvent struct {
	Kind   IdentityEventKind
	Source string // SourceLocal, SourcePostgres or SourceRedis
	Change Change // for EventInvalidated
	Err    error  // for EventDisconnected
	PID    uint32 // for EventListening on Postgres: the listening backend
}

// identityCache holds, per replica, the users and sessions Identity read
// recently. Entries are dropped by invalidations (see changes.go) and expire
// after ttl whatever happens.
type identityCache struct {
	ttl      time.Duration
	mu       sync.RWMutex
	users    map[string]cachedUser
	sessions map[string]cachedSession
	// gen counts invalidations. A reader notes it before querying the
	// database and stores its result only if no invalidation happened
	// meanwhile: otherwise a read that began before a commit could put
	// the old state back after the change dropped it.
	gen      uint64
	observer atomic.Pointer[func(IdentityEvent)]
	// hits and misses count the lookups of Identity, for metrics.
	hits, misses atomic.Uint64
	onKeys       atomic.Pointer[func()]             // Store.OnKeysChanged
	onChange     atomic.Pointer[func(Change, bool)] // Store.OnIdentityChange
}

// gen, in both entries, is the invalidation count when the entry was
// stored. A session entry older than its user's entry is not used: a
// change to the user (Change{UserID}: log out everywhere, a password
// reset) drops the user's entry only, and the user read again for one
// session must not revive the old liveness of another.
type cachedUser struct {
	user  models.User
	until time.Time
	gen   uint64
}

type cachedSession struct {
	userID    string
	expiresAt time.Time
	revoked   bool
	until     time.Time
	gen       uint64
}

func newIdentityCache(ttl time.Duration) *identityCache {
	return &identityCache{ttl: ttl, users: map[string]cachedUser{}, sessions: map[string]cachedSession{}}
}

// get returns a copy of the cached user userID and whether session
// sessionID is live at now; ok is false unless both are cached and fresh.
func (c *identityCache) get(userID, sessionID string, now time.Time) (u *models.User, live, ok bool) {
	c.mu.RLock()
	cu, uok := c.users[userID]
	cs, sok := c.sessions[sessionID]
	c.mu.RUnlock()
	if !uok || !sok || cs.userID != userID || cs.gen < cu.gen || !now.Before(cu.until) || !now.Before(cs.until) {
		return nil, false, false
	}
	return cloneUser(&cu.user), !cs.revoked && cs.expiresAt.After(now), true
}

// generation returns the invalidation count, to pass to put.
func (c *identityCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores what a database read starting at generation gen returned,
// unless an invalidation happened since.
func (c *identityCache) put(gen uint64, u *models.User, sessionID string, expiresAt time.Time, revoked bool, now time.Time) {
	until := now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.users) >= maxCachedIdentities || len(c.sessions) >= maxCachedIdentities {
		// Rare and cheap to recover from: start over rather than track
		// recency on every hit.
		clear(c.users)
		clear(c.sessions)
	}
	c.users[u.ID] = cachedUser{user: *cloneUser(u), until: until, gen: gen}
	c.sessions[sessionID] = cachedSession{userID: u.ID, expiresAt: expiresAt, revoked: revoked, until: until, gen: gen}
}

// invalidate drops the entries named by ch.
func (c *identityCache) invalidate(ch Change, source string) {
	c.mu.Lock()
	c.gen++
	if ch.UserID != "" {
		delete(c.users, ch.UserID)
	}
	if ch.SessionID != "" {
		delete(c.sessions, ch.SessionID)
	}
	c.mu.Unlock()
	if ch.Keys {
		c.keysChanged()
	}
	if fn := c.onChange.Load(); fn != nil && !ch.Keys {
		(*fn)(ch, false)
	}
	c.emit(IdentityEvent{Kind: EventInvalidated, Source: source, Change: ch})
}

// keysChanged runs the key ring's reload hook, off the listener's goroutine
// (it reads the database).
func (c *identityCache) keysChanged() {
	if fn := c.onKeys.Load(); fn != nil {
		go (*fn)()
	}
}

// OnKeysChanged sets fn to run when this Store hears of a signing key
// change, from this replica or another, or may have missed one (a
// notification channel reconnected). Without an identity cache it never
// runs: the key ring's periodic reload is then the only path.
func (s *Store) OnKeysChanged(fn func()) {
	if s.cache != nil {
		s.cache.onKeys.Store(&fn)
	}
}

// OnIdentityChange sets fn to run for every identity Change this Store
// hears — its own writes, and on SQLite those of other Stores of the
// process on the same file, other replicas' through Postgres or Redis —
// right after the cache dropped its entries, and with all set (and a zero
// Change) when changes may have gone unheard (a notification channel
// connected, reconnected or dropped). A Change may be heard more than once
// (locally, then through each channel): fn must be idempotent. fn runs on
// the listener's goroutine and must not block. Without an identity cache
// (IDENTITY_CACHE_TTL=0) it never runs; see HearsChanges.
func (s *Store) OnIdentityChange(fn func(c Change, all bool)) {
	if s.cache != nil {
		s.cache.onChange.Store(&fn)
	}
}

// HearsChanges reports whether OnIdentityChange hooks run: whether this
// Store has an identity cache.
func (s *Store) HearsChanges() bool { return s.cache != nil }

// flush drops every entry.
func (c *identityCache) flush(source string) {
	c.mu.Lock()
	c.gen++
	clear(c.users)
	clear(c.sessions)
	c.mu.Unlock()
	c.keysChanged()
	if fn := c.onChange.Load(); fn != nil {
		(*fn)(Change{}, true)
	}
	c.emit(IdentityEvent{Kind: EventFlushed, Source: source})
}

func (c *identityCache) emit(ev IdentityEvent) {
	if fn := c.observer.Load(); fn != nil {
		(*fn)(ev)
	}
}

// cloneUser copies u, including what its pointers point to, so that callers
// may keep or change their copy.
func cloneUser(u *models.User) *models.User {
	c := *u
	if u.Email != nil {
		e := *u.Email
		c.Email = &e
	}
	if u.LastLoginAt != nil {
		t := *u.LastLoginAt
		c.LastLoginAt = &t
	}
	return &c
}

// sqlitePeers lets Stores of one process opened on the same SQLite database
// invalidate each other's caches. It is process-wide because the database
// file is: a second Store on it (another handler in a test, a command run in
// the server's process) must not serve what the first one just revoked.
// Postgres needs no such list: every Store hears every NOTIFY.
var sqlitePeers = struct {
	sync.Mutex
	m map[string][]*identityCache
}{m: map[string][]*identityCache{}}

func addSQLitePeer(key string, c *identityCache) {
	sqlitePeers.Lock()
	defer sqlitePeers.Unlock()
	sqlitePeers.m[key] = append(sqlitePeers.m[key], c)
}

func removeSQLitePeer(key string, c *identityCache) {
	sqlitePeers.Lock()
	defer sqlitePeers.Unlock()
	list := sqlitePeers.m[key]
	for i, p := range list {
		if p == c {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(sqlitePeers.m, key)
	} else {
		sqlitePeers.m[key] = list
	}
}

// peers returns the caches a local write must invalidate: s's own, and on
// SQLite those of the other Stores of this process on the same database.
func (s *Store) peers() []*identityCache {
	if s.cache == nil {
		return nil
	}
	if s.peerKey == "" {
		return []*identityCache{s.cache}
	}
	sqlitePeers.Lock()
	defer sqlitePeers.Unlock()
	return append([]*identityCache(nil), sqlitePeers.m[s.peerKey]...)
}

// SetIdentityObserver sets fn to be called, synchronously, on every event of
// this Store's identity cache: invalidations applied, flushes, notification
// channels connecting and dropping. A slow fn delays the cache (and, for
// channel events, the reconnection); nil removes it. Tests use it to wait
// for an invalidation instead of sleeping.
func (s *Store) SetIdentityObserver(fn func(IdentityEvent)) {
	if s.cache == nil {
		return
	}
	if fn == nil {
		s.cache.observer.Store(nil)
		return
	}
	s.cache.observer.Store(&fn)
}

// IdentityListening returns a channel closed once every notification channel
// of this Store (Postgres LISTEN, Redis) has connected for the first time,
// and its first flush is done; at once when there is none. Tests wait on it
// so that this flush cannot land in the middle of what they check.
func (s *Store) IdentityListening() <-chan struct{} {
	if s.notify == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	return s.notify.connected
}

// IdentityCacheStats returns how many Identity lookups the identity cache
// answered (hits) and how many went to the database (misses); both zero
// when the cache is off.
func (s *Store) IdentityCacheStats() (hits, misses uint64) {
	if s.cache == nil {
		return 0, 0
	}
	return s.cache.hits.Load(), s.cache.misses.Load()
}
