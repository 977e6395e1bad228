package graph

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Close codes of a live connection (graphql-transport-ws, RFC 6455).
const (
	CloseGoingAway      = 1001 // the server is shutting down: reconnect to another replica
	CloseTryAgainLater  = 1013 // a slow consumer, or the database could not re-check the credentials
	CloseUnauthorized   = 4401 // no, a bad or an expired token (reason token_expired)
	CloseForbidden      = 4403 // the session ended, the user was deactivated or demoted
	CloseInitTimeout    = 4408 // no connection_init in time
	CloseTooManyPerUser = 4429 // WS_MAX_PER_USER connections of this user are open on this replica
)

// Defaults of LiveOptions.
const (
	DefaultMaxPerUser      = 20
	DefaultMaxPendingPerIP = 16
	DefaultInitTimeout     = 10 * time.Second
	DefaultPingInterval    = 25 * time.Second
	defaultSweepInterval   = 250 * time.Millisecond
	// subscriptionBuffer bounds the events waiting for one subscription: a
	// client that does not read that many is dropped (CloseTryAgainLater).
	subscriptionBuffer = 16
	// changeQueueSize bounds the changes waiting to be applied to live
	// connections; when full, every connection is re-checked instead.
	changeQueueSize = 1024
	changeWorkers   = 4
	// flushWait bounds how long a closing connection waits for its last
	// event to be written before it closes anyway.
	flushWait = time.Second
	// recheckTimeout bounds one re-check's database work.
	recheckTimeout = 5 * time.Second
)

// LiveOptions configure live connections (GraphQL subscriptions over the
// websocket).
type LiveOptions struct {
	MaxPerUser      int           // WS_MAX_PER_USER, on this replica; <= 0 means 20
	MaxPendingPerIP int           // handshakes not yet authenticated, per client IP; <= 0 means 16
	InitTimeout     time.Duration // for connection_init, on Now's clock; <= 0 means 10 s
	PingInterval    time.Duration // keep-alive pings; <= 0 means 25 s
	// SweepInterval is how often, in real time, expiries and init
	// deadlines are compared with Now; <= 0 means 250 ms.
	SweepInterval time.Duration
	Now           func() time.Time // the clock of every expiry; nil means time.Now
}

// Live tracks the live connections of one replica and ends them the moment
// their credentials stop being accepted: it hears every identity change
// (store.OnIdentityChange: this replica's writes, other replicas' through
// LISTEN/NOTIFY and Redis), re-checks the connections concerned as a
// request would be checked, tells their subscriptions what happened, and
// closes those whose session ended.
type Live struct {
	auth *auth.Service
	st   *store.Store
	log  *slog.Logger
	opts LiveOptions

	mu        sync.Mutex
	conns     map[*liveConn]struct{}
	byUser    map[string]map[*liveConn]struct{}
	bySession map[string]map[*liveConn]struct{}
	pending   map[string]int       // unauthenticated handshakes per IP
	announced map[string]time.Time // started sessions already told of, against duplicates
	closed    bool

	changes  chan store.Change
	overflow atomic.Bool // changes were dropped: re-check everything
	stop     chan struct{}
	wg       sync.WaitGroup
}

// NewLive starts the live-connection registry of a replica on st.
func NewLive(a *auth.Service, st *store.Store, log *slog.Logger, opts LiveOptions) *Live {
	if opts.MaxPerUser <= 0 {
		opts.MaxPerUser = DefaultMaxPerUser
	}
	if opts.MaxPendingPerIP <= 0 {
		opts.MaxPendingPerIP = DefaultMaxPendingPerIP
	}
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = DefaultInitTimeout
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = defaultSweepInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	l := &Live{auth: a, st: st, log: log.With("component", "live"), opts: opts,
		conns: map[*liveConn]struct{}{}, byUser: map[string]map[*liveConn]struct{}{},
		bySession: map[string]map[*liveConn]struct{}{}, pending: map[string]int{},
		announced: map[string]time.Time{},
		changes:   make(chan store.Change, changeQueueSize), stop: make(chan struct{})}
	if st != nil {
		st.OnIdentityChange(l.heard)
	}
	for range changeWorkers {
		l.wg.Go(l.work)
	}
	l.wg.Go(l.sweep)
	return l
}

// heard queues a change for the workers; it never blocks the listener.
func (l *Live) heard(c store.Change, all bool) {
	if all {
		l.overflow.Store(true)
		select {
		case l.changes <- store.Change{}:
		default:
		}
		return
	}
	select {
	case l.changes <- c:
	default:
		l.overflow.Store(true)
	}
}

// work applies queued changes until Close.
func (l *Live) work() {
	for {
		select {
		case <-l.stop:
			return
		case c := <-l.changes:
			if l.overflow.Swap(false) {
				for _, lc := range l.snapshot(nil) {
					l.recheck(lc)
				}
			}
			l.apply(c)
		}
	}
}

// apply re-checks the connections of c's user and session, and tells the
// user's other connections of a new sign-in.
func (l *Live) apply(c store.Change) {
	if c.UserID == "" && c.SessionID == "" {
		return
	}
	for _, lc := range l.affected(c) {
		l.recheck(lc)
	}
	if c.StartedSession != "" && c.UserID != "" {
		l.announce(c.UserID, c.StartedSession)
	}
}

// affected returns the connections of c's user and of c's session.
func (l *Live) affected(c store.Change) []*liveConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[*liveConn]struct{}{}
	var out []*liveConn
	for _, set := range []map[*liveConn]struct{}{l.byUser[c.UserID], l.bySession[c.SessionID]} {
		for lc := range set {
			if _, ok := seen[lc]; !ok {
				seen[lc] = struct{}{}
				out = append(out, lc)
			}
		}
	}
	return out
}

// snapshot returns the authenticated connections, or those keep selects.
func (l *Live) snapshot(keep func(*liveConn) bool) []*liveConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*liveConn, 0, len(l.conns))
	for lc := range l.conns {
		if keep == nil || keep(lc) {
			out = append(out, lc)
		}
	}
	return out
}

// recheck authenticates lc's credential again, as a request carrying it
// would be now, and acts on the difference.
func (l *Live) recheck(lc *liveConn) {
	l.log.Debug("re-checking a websocket")
	old, ok := lc.current()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recheckTimeout)
	defer cancel()
	v := lc.reauthenticate(ctx, l.auth)
	now := l.opts.Now().UTC()
	if v.User == nil {
		var e *models.Error
		switch {
		case errors.Is(v.Err, auth.ErrTokenExpired):
			lc.terminate(CloseUnauthorized, models.ReasonTokenExpired)
		case errors.Is(v.Err, auth.ErrSessionRevoked), errors.Is(v.Err, auth.ErrUserInactive),
			errors.Is(v.Err, auth.ErrPersonalTokenRevoked):
			sid := old.SessionID
			lc.endWith(&model.SessionEvent{Type: model.SessionEventTypeSessionEnded, SessionID: optional(sid), At: now},
				CloseForbidden, "session_ended")
		case errors.As(v.Err, &e) && e.Code == models.CodeUnauthenticated:
			lc.terminate(CloseUnauthorized, "Unauthorized")
		default:
			// The database could not answer: the client reconnects and is
			// checked afresh rather than kept on an unverified credential.
			l.log.Warn("re-checking a live connection failed", "err", v.Err)
			lc.terminate(CloseTryAgainLater, "try again later")
		}
		return
	}
	if v.ExpiresAt.IsZero() || lc.cookie {
		v.ExpiresAt = old.ExpiresAt
	}
	lc.setViewer(v)
	if v.User.Role != old.User.Role {
		ev := &model.SessionEvent{Type: model.SessionEventTypeRoleChanged, SessionID: optional(v.SessionID), At: now}
		if lc.needsRoleOtherThan(v.User.Role) {
			lc.endWith(ev, CloseForbidden, "role_changed")
			return
		}
		lc.deliver(ev)
	}
	if profileChanged(old.User, v.User) {
		lc.deliver(&model.SessionEvent{Type: model.SessionEventTypeProfileChanged, SessionID: optional(v.SessionID), At: now})
	}
}

// profileChanged reports whether what the profile shows of a user changed.
func profileChanged(a, b *models.User) bool {
	return a.Username != b.Username || deref(a.Email) != deref(b.Email) || deref(a.DisplayName) != deref(b.DisplayName)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// announce tells userID's connections of other sessions that session
// started, once per session whichever channels repeat the change.
func (l *Live) announce(userID, session string) {
	now := l.opts.Now().UTC()
	l.mu.Lock()
	if _, dup := l.announced[session]; dup {
		l.mu.Unlock()
		return
	}
	l.announced[session] = time.Now()
	var targets []*liveConn
	for lc := range l.byUser[userID] {
		if v, ok := lc.current(); ok && v.SessionID != session {
			targets = append(targets, lc)
		}
	}
	l.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recheckTimeout)
	defer cancel()
	ev := &model.SessionEvent{Type: model.SessionEventTypeOtherSessionStarted, SessionID: &session, At: now}
	if sess, err := l.st.SessionByID(ctx, session); err == nil {
		ev.At = sess.CreatedAt
		ev.UserAgent, ev.IP = optional(sess.UserAgent), optional(sess.IP)
	}
	for _, lc := range targets {
		lc.deliver(ev)
	}
}

// sweep closes connections whose credential expired or that sent no
// connection_init in time, comparing with Now every SweepInterval.
func (l *Live) sweep() {
	t := time.NewTicker(l.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		now := l.opts.Now()
		l.mu.Lock()
		for s, at := range l.announced {
			if time.Since(at) > time.Minute {
				delete(l.announced, s)
			}
		}
		l.mu.Unlock()
		for _, lc := range l.all() {
			v, authed := lc.current()
			switch {
			case !authed && !now.Before(lc.opened.Add(l.opts.InitTimeout)):
				lc.terminate(CloseInitTimeout, "Connection initialisation timeout")
			case authed && !v.ExpiresAt.IsZero() && !now.Before(v.ExpiresAt):
				lc.terminate(CloseUnauthorized, models.ReasonTokenExpired)
			}
		}
	}
}

// all returns every connection, authenticated or not.
func (l *Live) all() []*liveConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*liveConn, 0, len(l.conns))
	for lc := range l.conns {
		out = append(out, lc)
	}
	return out
}

// errTooManyHandshakes refuses a handshake over MaxPendingPerIP.
var errTooManyHandshakes = models.TooManyRequests("too many unauthenticated websocket handshakes from this address", 10*time.Second)

// errShuttingDown refuses a handshake once Shutdown was called.
var errShuttingDown = &models.Error{Code: models.CodeServiceUnavailable, Message: "the server is shutting down; connect to another replica", RetryAfter: time.Second}

// open registers a new, unauthenticated connection from ip.
func (l *Live) open(ip string) (*liveConn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errShuttingDown
	}
	if l.pending[ip] >= l.opts.MaxPendingPerIP {
		return nil, errTooManyHandshakes
	}
	l.pending[ip]++
	lc := &liveConn{live: l, ip: ip, opened: l.opts.Now(), pendingHeld: true, wrote: make(chan struct{}, 1)}
	l.conns[lc] = struct{}{}
	return lc, nil
}

// admit makes lc an authenticated connection of v's user, unless the user
// has MaxPerUser already.
func (l *Live) admit(lc *liveConn, v auth.Viewer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[lc]; !ok {
		return false // closed meanwhile
	}
	if len(l.byUser[v.User.ID]) >= l.opts.MaxPerUser {
		return false
	}
	l.releasePending(lc)
	add(l.byUser, v.User.ID, lc)
	if v.SessionID != "" {
		add(l.bySession, v.SessionID, lc)
	}
	lc.mu.Lock()
	lc.viewer, lc.authed = v, true
	lc.mu.Unlock()
	return true
}

func (l *Live) releasePending(lc *liveConn) {
	if lc.pendingHeld {
		lc.pendingHeld = false
		if l.pending[lc.ip]--; l.pending[lc.ip] <= 0 {
			delete(l.pending, lc.ip)
		}
	}
}

// remove forgets lc.
func (l *Live) remove(lc *liveConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[lc]; !ok {
		return
	}
	delete(l.conns, lc)
	l.releasePending(lc)
	lc.mu.Lock()
	v, authed := lc.viewer, lc.authed
	lc.mu.Unlock()
	if authed {
		del(l.byUser, v.User.ID, lc)
		del(l.bySession, v.SessionID, lc)
	}
}

func add(m map[string]map[*liveConn]struct{}, k string, lc *liveConn) {
	if m[k] == nil {
		m[k] = map[*liveConn]struct{}{}
	}
	m[k][lc] = struct{}{}
}

func del(m map[string]map[*liveConn]struct{}, k string, lc *liveConn) {
	if set := m[k]; set != nil {
		delete(set, lc)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// Count returns how many connections this replica holds: authenticated
// ones, and all of them.
func (l *Live) Count() (authenticated, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for lc := range l.conns {
		if _, ok := lc.current(); ok {
			authenticated++
		}
	}
	return authenticated, len(l.conns)
}

// Subscriptions returns how many sessionEvents subscriptions run on this
// replica.
func (l *Live) Subscriptions() int {
	n := 0
	for _, lc := range l.all() {
		lc.mu.Lock()
		n += len(lc.subs)
		lc.mu.Unlock()
	}
	return n
}

// Shutdown refuses new connections and closes every open one with 1001
// (going away), so that clients reconnect to another replica.
func (l *Live) Shutdown() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	for _, lc := range l.all() {
		lc.terminate(CloseGoingAway, "server shutting down")
	}
}

// Close shuts down and stops the registry's goroutines.
func (l *Live) Close() {
	l.Shutdown()
	l.mu.Lock()
	select {
	case <-l.stop:
		l.mu.Unlock()
		return
	default:
		close(l.stop)
	}
	l.mu.Unlock()
	l.wg.Wait()
}
