package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ironclad-auth/ironclad/app"
)

// LiveDeadline is how soon a live connection must hear that its session
// ended, on whichever replica holds it (the "within 1 s").
const LiveDeadline = time.Second

// wsWait bounds every other wait on a socket: a test that would hang
// fails instead.
const wsWait = 10 * time.Second

// URL serves e's handler on a real listener (websockets need one) until
// the test ends, and returns its base URL.
func (e *Env) URL() string {
	e.T.Helper()
	if e.server == nil {
		e.server = httptest.NewServer(e.Handler)
		e.T.Cleanup(e.server.Close)
	}
	return e.server.URL
}

// WS is a websocket client speaking graphql-transport-ws to /query, as
// Apollo's GraphQLWsLink and graphql-ws do.
type WS struct {
	T    testing.TB
	Conn *websocket.Conn
}

// Message is one graphql-transport-ws message.
type Message struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// DialWS opens a websocket to /query with the graphql-transport-ws
// subprotocol and the given handshake headers (Origin, Cookie). It returns
// the HTTP response, and an error when the server refused to upgrade.
func (e *Env) DialWS(header http.Header) (*WS, *http.Response, error) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.URL(), "http") + app.GraphQLPath
	c, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header})
	if err != nil {
		return nil, res, err
	}
	ws := &WS{T: e.T, Conn: c}
	e.T.Cleanup(func() { _ = c.CloseNow() })
	return ws, res, nil
}

// MustDialWS is DialWS that fails the test on a refused handshake.
func (e *Env) MustDialWS(header http.Header) *WS {
	e.T.Helper()
	ws, _, err := e.DialWS(header)
	if err != nil {
		e.T.Fatalf("websocket handshake: %v", err)
	}
	return ws
}

// Send writes one message.
func (w *WS) Send(m Message) {
	w.T.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	if err := w.Conn.Write(ctx, websocket.MessageText, b); err != nil {
		w.T.Fatalf("websocket write: %v", err)
	}
}

// Init sends connection_init with authz as its Authorization (none when
// empty).
func (w *WS) Init(authz string) {
	w.T.Helper()
	payload := map[string]any{}
	if authz != "" {
		payload["Authorization"] = authz
	}
	b, _ := json.Marshal(payload)
	w.Send(Message{Type: "connection_init", Payload: b})
}

// Read returns the next message other than a ping (answered with a pong),
// or the error that ended the connection, waiting at most d.
func (w *WS) Read(d time.Duration) (Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		_, b, err := w.Conn.Read(ctx)
		if err != nil {
			return Message{}, err
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			return Message{}, err
		}
		if m.Type == "ping" {
			w.Send(Message{Type: "pong"})
			continue
		}
		return m, nil
	}
}

// MustRead is Read that fails the test unless a message of type typ came.
func (w *WS) MustRead(typ string) Message {
	w.T.Helper()
	m, err := w.Read(wsWait)
	if err != nil {
		w.T.Fatalf("want a %s message, the connection ended: %v", typ, err)
	}
	if m.Type != typ {
		w.T.Fatalf("want a %s message, got %s %s", typ, m.Type, m.Payload)
	}
	return m
}

// Connect sends connection_init with authz and waits for connection_ack.
func (w *WS) Connect(authz string) {
	w.T.Helper()
	w.Init(authz)
	w.MustRead("connection_ack")
}

// Subscribe starts an operation with id.
func (w *WS) Subscribe(id, query string, vars map[string]any) {
	w.T.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	w.Send(Message{Type: "subscribe", ID: id, Payload: b})
}

// SessionEventsSubscription is the subscription an SPA opens after login.
const SessionEventsSubscription = `subscription { sessionEvents { type sessionId at userAgent ip } }`

// SessionEvent is one sessionEvents event as a test reads it.
type SessionEvent struct {
	Type      string  `json:"type"`
	SessionID *string `json:"sessionId"`
	At        string  `json:"at"`
	UserAgent *string `json:"userAgent"`
	IP        *string `json:"ip"`
}

// Event decodes a next message of sessionEvents, failing the test on
// anything else.
func (w *WS) Event(m Message) SessionEvent {
	w.T.Helper()
	var p struct {
		Data struct {
			SessionEvents SessionEvent `json:"sessionEvents"`
		} `json:"data"`
		Errors []Error `json:"errors"`
	}
	if m.Type != "next" || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) > 0 {
		w.T.Fatalf("want a sessionEvents event, got %s %s", m.Type, m.Payload)
	}
	return p.Data.SessionEvents
}

// WantEvent reads the next message and fails unless it is a sessionEvents
// event of type typ, arriving within d.
func (w *WS) WantEvent(typ string, d time.Duration) SessionEvent {
	w.T.Helper()
	m, err := w.Read(d)
	if err != nil {
		w.T.Fatalf("want a %s event within %s, the connection ended: %v", typ, d, err)
	}
	ev := w.Event(m)
	if ev.Type != typ {
		w.T.Fatalf("want a %s event, got %+v", typ, ev)
	}
	return ev
}

// CloseOf returns the close code and reason of the error that ended a
// connection, or -1 when it did not end with a close frame.
func CloseOf(err error) (int, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason
	}
	return -1, ""
}

// WantClose reads until the connection ends, within d, and fails unless
// the server closed it with code (and reason, when not empty). Messages
// before the close fail the test.
func (w *WS) WantClose(code int, reason string, d time.Duration) {
	w.T.Helper()
	m, err := w.Read(d)
	if err == nil {
		w.T.Fatalf("want close %d within %s, got a %s message %s", code, d, m.Type, m.Payload)
	}
	gotCode, gotReason := CloseOf(err)
	if gotCode != code || (reason != "" && gotReason != reason) {
		w.T.Fatalf("connection ended with %d %q (%v), want %d %q", gotCode, gotReason, err, code, reason)
	}
}
