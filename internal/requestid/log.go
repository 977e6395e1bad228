package requestid

import (
	"context"
	"log/slog"
)

// LogKey is the attribute that names the request in a log line.
const LogKey = "request_id"

// LogHandler wraps h so that every record logged with a context carrying a
// request id (Logger.InfoContext and the like, or Handler.Handle with the
// request's context) gets a request_id attribute. Lines logged without a
// request's context are left as they are.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		r.AddAttrs(slog.String(LogKey, id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}
