package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

// withTimeout bounds the work of one request: its context ends after d, so
// every database call and hash wait it makes gives up by then, and the
// request answers SERVICE_UNAVAILABLE instead of holding its connection.
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			// A websocket lives as long as its credentials (graph/live.go
			// bounds it), not as long as a request.
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// limitBody reads the request body before the GraphQL handler does, and
// answers a body it cannot take with a typed error (code BAD_REQUEST): over
// maxBodyBytes (413, whether or not the client declared a Content-Length),
// too slow for the server's ReadTimeout (408), or broken off (400). gqlgen
// would answer a read error with its text, which names the connection's
// socket addresses.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > maxBodyBytes {
			bodyError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		// Grown as the bytes arrive, not sized by the declared length: a
		// client that declares 1 MiB and sends nothing costs nothing.
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			bodyError(w, http.StatusRequestTimeout, "request body read timed out")
			return
		case err != nil:
			bodyError(w, http.StatusBadRequest, "could not read request body")
			return
		case len(body) > maxBodyBytes:
			bodyError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		r.Body = &readBody{Reader: bytes.NewReader(body), b: body}
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// readBody is a request body limitBody read: the GraphQL POST transport
// takes its bytes without copying them (graph.Bodied).
type readBody struct {
	*bytes.Reader
	b []byte
}

func (r *readBody) Close() error  { return nil }
func (r *readBody) Bytes() []byte { return r.b }

// bodyError answers a request whose body was refused, as a GraphQL error
// with code BAD_REQUEST, and closes the connection: what is left of the
// body cannot be told from the next request.
func bodyError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": string(models.CodeBadRequest)}}},
		"data":   nil,
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog writes one line per request. It never logs headers: the
// Authorization header carries a token.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		ctx := r.Context()
		if !log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		// Straight to the handler, as Logger.LogAttrs would go, minus the
		// caller's program counter it walks the stack for: no handler here
		// records the source, and this line is written once a request.
		end := time.Now()
		line := slog.NewRecord(end, slog.LevelInfo, "request", 0)
		line.AddAttrs(
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", end.Sub(start)),
		)
		_ = log.Handler().Handle(ctx, line)
	})
}
