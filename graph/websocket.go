package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
)

// Limits of one websocket connection.
const (
	// wsReadLimit bounds one message from the client: operations are small.
	wsReadLimit = 64 << 10
	// wsWriteTimeout bounds one write: a client that stops reading is cut
	// off instead of holding the connection's writer (and its memory).
	wsWriteTimeout = 10 * time.Second
)

// liveConn is one websocket connection: its credential, its viewer, its
// subscriptions to sessionEvents, and the socket.
type liveConn struct {
	live   *Live
	ip     string
	opened time.Time // on the live clock, for the init deadline
	// The credential of the handshake: the Authorization of connection_init,
	// or in cookie mode the refresh cookie (cookie is then true).
	header      string
	refresh     string // the refresh cookie of the handshake, "" if none
	cookie      bool
	pendingHeld bool // counted in Live.pending; guarded by Live.mu

	mu     sync.Mutex
	ws     *coderws.Conn
	viewer auth.Viewer
	authed bool
	closed bool
	subs   map[*liveSub]struct{}
	// readDeadline drops a connection that answers no ping (SetReadDeadline).
	readDeadline *time.Timer

	// pushed counts events handed to subscriptions, written those sent on
	// the socket; wrote is signalled after each write of an event.
	pushed, written atomic.Int64
	wrote           chan struct{}
	closeOnce       sync.Once
}

// liveSub is one running sessionEvents subscription.
type liveSub struct {
	ch   chan *model.SessionEvent
	role models.Role // the role the subscription's field needs (@hasRole); "" for none
}

type liveConnKey struct{}

func liveConnFrom(ctx context.Context) *liveConn {
	lc, _ := ctx.Value(liveConnKey{}).(*liveConn)
	return lc
}

// current returns the viewer of lc and whether it is authenticated.
func (lc *liveConn) current() (auth.Viewer, bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.viewer, lc.authed && !lc.closed
}

// viewerNow is the viewer operations over lc see.
func (lc *liveConn) viewerNow() auth.Viewer {
	v, ok := lc.current()
	if !ok {
		return auth.Viewer{Err: auth.ErrSessionRevoked}
	}
	return v
}

func (lc *liveConn) setViewer(v auth.Viewer) {
	lc.mu.Lock()
	lc.viewer = v
	lc.mu.Unlock()
}

// reauthenticate checks lc's credential again: the access or personal
// token through the one bearer path requests take, or for a connection
// authenticated by the refresh cookie, its session.
func (lc *liveConn) reauthenticate(ctx context.Context, a *auth.Service) auth.Viewer {
	if lc.cookie {
		v, _ := lc.current()
		return a.AuthenticateSession(ctx, v.User.ID, v.SessionID)
	}
	return a.Authenticate(ctx, lc.header)
}

// needsRoleOtherThan reports whether a running subscription needs a role
// other than role.
func (lc *liveConn) needsRoleOtherThan(role models.Role) bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for s := range lc.subs {
		if s.role != "" && s.role != role {
			return true
		}
	}
	return false
}

// subscribe starts a sessionEvents subscription, ending with ctx.
func (lc *liveConn) subscribe(ctx context.Context, role models.Role) <-chan *model.SessionEvent {
	s := &liveSub{ch: make(chan *model.SessionEvent, subscriptionBuffer), role: role}
	lc.mu.Lock()
	if lc.subs == nil {
		lc.subs = map[*liveSub]struct{}{}
	}
	lc.subs[s] = struct{}{}
	lc.mu.Unlock()
	context.AfterFunc(ctx, func() { // no goroutine waits while the subscription runs
		lc.mu.Lock()
		delete(lc.subs, s)
		lc.mu.Unlock()
	})
	return s.ch
}

// deliver hands ev to every subscription of lc and reports how many took
// it. A subscription whose buffer is full belongs to a client that does
// not read: the connection is dropped rather than left to grow.
func (lc *liveConn) deliver(ev *model.SessionEvent) int {
	lc.mu.Lock()
	if lc.closed {
		lc.mu.Unlock()
		return 0
	}
	n, slow := 0, false
	for s := range lc.subs {
		select {
		case s.ch <- ev:
			n++
			lc.pushed.Add(1)
		default:
			slow = true
		}
	}
	lc.mu.Unlock()
	if slow {
		lc.terminate(CloseTryAgainLater, "slow consumer")
	}
	return n
}

// endWith delivers ev, waits (at most flushWait) until it is on the wire,
// then closes lc with code.
func (lc *liveConn) endWith(ev *model.SessionEvent, code int, reason string) {
	if lc.deliver(ev) > 0 {
		target := lc.pushed.Load()
		deadline := time.NewTimer(flushWait)
		defer deadline.Stop()
	wait:
		for lc.written.Load() < target {
			select {
			case <-lc.wrote:
			case <-deadline.C:
				break wait
			}
		}
	}
	lc.terminate(code, reason)
}

// terminate closes lc with code and reason, once; later calls do nothing.
func (lc *liveConn) terminate(code int, reason string) {
	lc.closeOnce.Do(func() {
		lc.mu.Lock()
		lc.closed = true
		if lc.readDeadline != nil {
			lc.readDeadline.Stop()
		}
		ws := lc.ws
		lc.mu.Unlock()
		lc.live.remove(lc)
		lc.live.log.Debug("websocket closed", "code", code, "reason", reason)
		if ws == nil {
			return
		}
		// Close performs the closing handshake, waiting for the peer's
		// answer (at most 5 s): off the caller's goroutine.
		go func() { _ = ws.Close(coderws.StatusCode(code), reason) }()
	})
}

// The transport.WebsocketConn gqlgen's transport drives.

// NextReader reads the next message.
func (lc *liveConn) NextReader() (int, io.Reader, error) {
	typ, data, err := lc.ws.Read(context.Background())
	if err != nil {
		switch coderws.CloseStatus(err) {
		case coderws.StatusNormalClosure, coderws.StatusNoStatusRcvd:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	return int(typ), bytes.NewReader(data), nil
}

// WriteJSON writes one message, within wsWriteTimeout.
func (lc *liveConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsWriteTimeout)
	defer cancel()
	err = lc.ws.Write(ctx, coderws.MessageText, data)
	if err == nil && bytes.Contains(data, []byte(`"sessionEvents"`)) {
		lc.written.Add(1)
		select {
		case lc.wrote <- struct{}{}:
		default:
		}
	}
	return err
}

// WriteClose closes the connection with code, unless it was closed already.
func (lc *liveConn) WriteClose(code int, reason string) error {
	lc.terminate(code, reason)
	return nil
}

// Close closes the connection (1000) unless it was closed already.
func (lc *liveConn) Close() error {
	lc.terminate(int(coderws.StatusNormalClosure), "")
	return nil
}

// Subprotocol is the negotiated subprotocol.
func (lc *liveConn) Subprotocol() string { return lc.ws.Subprotocol() }

// SetReadLimit bounds one message.
func (lc *liveConn) SetReadLimit(n int64) { lc.ws.SetReadLimit(n) }

// SetReadDeadline drops the connection at t unless called again first:
// gqlgen's transport sets it to twice the ping interval after each ping,
// and clears it when the pong comes.
func (lc *liveConn) SetReadDeadline(t time.Time) error {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.readDeadline != nil {
		lc.readDeadline.Stop()
		lc.readDeadline = nil
	}
	if !t.IsZero() {
		lc.readDeadline = time.AfterFunc(time.Until(t), func() {
			lc.terminate(CloseTryAgainLater, "no pong")
		})
	}
	return nil
}

var (
	_ transport.WebsocketConn          = (*liveConn)(nil)
	_ transport.WebsocketReadLimiter   = (*liveConn)(nil)
	_ transport.WebsocketReadDeadliner = (*liveConn)(nil)
)

// liveAccept is the transport.WebsocketImplementation: it upgrades the
// connection the handler in front (serveWebsocket) registered.
type liveAccept struct{}

func (liveAccept) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	lc := liveConnFrom(r.Context())
	if lc == nil {
		return nil, errors.New("websocket handshake outside serveWebsocket")
	}
	for k, vs := range opts.ResponseHeader {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	// The server's read and write timeouts are for requests: clear them
	// before the connection is hijacked, or they would cut the socket.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := coderws.Accept(w, r, &coderws.AcceptOptions{
		// graphql-transport-ws only: the legacy graphql-ws protocol has no
		// close codes to tell a client why it was disconnected.
		Subprotocols: []string{"graphql-transport-ws"},
		// serveWebsocket checked the Origin already, against the CORS list.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return nil, err
	}
	lc.mu.Lock()
	lc.ws = ws
	closed := lc.closed
	lc.mu.Unlock()
	if closed || ws.Subprotocol() != "graphql-transport-ws" {
		_ = ws.Close(coderws.StatusProtocolError, "use the graphql-transport-ws subprotocol")
		lc.terminate(int(coderws.StatusProtocolError), "")
		return nil, errors.New("websocket closed during handshake")
	}
	return lc, nil
}

// websocketTransport is gqlgen's websocket transport on live connections.
func websocketTransport(l *Live) transport.Websocket {
	limit := int64(wsReadLimit)
	return transport.Websocket{
		Implementation:   liveAccept{},
		InitFunc:         l.init,
		PingPongInterval: l.opts.PingInterval,
		PayloadReadLimit: &limit,
		// InitTimeout stays 0: the sweep closes a silent connection with
		// 4408, on the live clock, where gqlgen would close with 1002.
		CloseFunc: func(ctx context.Context, _ int) {
			if lc := liveConnFrom(ctx); lc != nil {
				lc.terminate(int(coderws.StatusNormalClosure), "")
			}
		},
	}
}

// init authenticates connection_init: {"Authorization": "Bearer <token>"}
// (an access token or a personal access token), or in cookie mode, when
// connection_init carries none, the refresh cookie of the handshake.
func (l *Live) init(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	lc := liveConnFrom(ctx)
	if lc == nil {
		return refuse(ctx, CloseUnauthorized, "Unauthorized")
	}
	var v auth.Viewer
	actx, cancel := context.WithTimeout(ctx, recheckTimeout)
	defer cancel()
	lc.header = payload.Authorization()
	switch {
	case lc.header != "":
		v = l.auth.Authenticate(actx, lc.header)
	case lc.refresh != "":
		lc.cookie = true
		v = l.auth.AuthenticateRefreshToken(actx, lc.refresh)
	default:
		v = auth.Viewer{Err: auth.ErrMissingToken}
	}
	if v.User == nil {
		var e *models.Error
		switch {
		case errors.Is(v.Err, auth.ErrTokenExpired):
			return refuse(ctx, CloseUnauthorized, models.ReasonTokenExpired)
		case errors.As(v.Err, &e) && e.Code == models.CodeUnauthenticated:
			return refuse(ctx, CloseUnauthorized, "Unauthorized")
		default:
			l.log.WarnContext(ctx, "authenticating a websocket failed", "err", v.Err)
			return refuse(ctx, CloseTryAgainLater, "try again later")
		}
	}
	if !l.admit(lc, v) {
		return refuse(ctx, CloseTooManyPerUser, "too_many_connections")
	}
	return auth.WithLiveViewer(ctx, lc.viewerNow), nil, nil
}

// errConnectionRefused is what gqlgen sends before closing (nothing, on
// graphql-transport-ws: the close code and reason say why).
var errConnectionRefused = errors.New("connection refused")

func refuse(ctx context.Context, code int, reason string) (context.Context, *transport.InitPayload, error) {
	ctx = transport.WithWebsocketCloseCode(ctx, code)
	ctx = transport.AppendCloseReason(ctx, reason)
	return ctx, nil, errConnectionRefused
}

// isWebsocket reports whether r asks to upgrade to a websocket.
func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// originAllowed reports whether a handshake's Origin may open a socket:
// none (not a browser), the server's own origin, or one of the CORS
// origins. Any other page could otherwise open a socket riding on the
// browser's refresh cookie: cross-site websocket hijacking.
func originAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.Contains(allowed, strings.ToLower(u.Scheme+"://"+u.Host))
}

// serveWebsocket refuses, before upgrading, a handshake from an Origin
// not allowed, over the per-IP cap of unauthenticated handshakes, or
// during shutdown; otherwise it registers the connection and lets gqlgen's
// websocket transport upgrade it.
func serveWebsocket(l *Live, opts Options, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !originAllowed(r, opts.AllowedOrigins) {
			httpError(w, http.StatusForbidden, &models.Error{Code: models.CodeForbidden, Reason: models.ReasonOriginNotAllowed,
				Message: "this origin may not open a websocket here"})
			return
		}
		lc, err := l.open(auth.ClientFrom(r.Context()).IP)
		if err != nil {
			var e *models.Error
			errors.As(err, &e)
			status := http.StatusTooManyRequests
			if e.Code == models.CodeServiceUnavailable {
				status = http.StatusServiceUnavailable
			}
			httpError(w, status, e)
			return
		}
		if opts.CookieMode {
			if c, err := r.Cookie(auth.RefreshCookieName); err == nil {
				lc.refresh = c.Value
			}
		}
		defer lc.terminate(int(coderws.StatusNormalClosure), "")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), liveConnKey{}, lc)))
	})
}

// httpError answers a refused handshake with a typed GraphQL error.
func httpError(w http.ResponseWriter, status int, e *models.Error) {
	ext := map[string]any{"code": string(e.Code)}
	if e.Reason != "" {
		ext["reason"] = e.Reason
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": e.Message, "extensions": ext}},
		"data":   nil,
	})
}

// requiredRole is the role the field being resolved needs (@hasRole), or "".
func requiredRole(ctx context.Context) models.Role {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Definition == nil {
		return ""
	}
	d := fc.Field.Definition.Directives.ForName("hasRole")
	if d == nil {
		return ""
	}
	if a := d.Arguments.ForName("role"); a != nil && a.Value != nil {
		return models.Role(a.Value.Raw)
	}
	return ""
}
