package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/internal/metrics"
	"github.com/ironclad-auth/ironclad/mail"
)

// MetricsPath is where the metrics listener serves the exposition.
const MetricsPath = "/metrics"

// parseMetricsAddr validates METRICS_ADDR: host:port, with a port.
func parseMetricsAddr(v string) (string, error) {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return "", fmt.Errorf("%q is not host:port, e.g. 127.0.0.1:9464", v)
	}
	return v, nil
}

// authObserver is what auth is told: the metrics, or nothing without them
// (a nil *metrics.Metrics must not become a non-nil interface).
func authObserver(m *metrics.Metrics) auth.Observer {
	if m == nil {
		return nil
	}
	return m
}

// graphObserver is authObserver for graph.
func graphObserver(m *metrics.Metrics) graph.Observer {
	if m == nil {
		return nil
	}
	return m
}

// metricsHandler serves the exposition at MetricsPath and nothing else.
func (a *App) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, a.Metrics.Handler())
	return mux
}

// ServeMetrics serves the metrics on METRICS_ADDR until ctx ends, on a
// listener of their own: the exposition names internals an API client has
// no business reading. It returns the address it listens on.
func (a *App) ServeMetrics(ctx context.Context) (net.Addr, error) {
	if a.Metrics == nil {
		return nil, errors.New("METRICS_ADDR is not set")
	}
	ln, err := net.Listen("tcp", a.Config.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	srv := &http.Server{
		Handler:           a.metricsHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	a.Log.Info("metrics listening", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("metrics server stopped", "err", err)
		}
	}()
	return ln.Addr(), nil
}

// metricsScrapeTimeout bounds the database read a scrape makes (the outbox
// depth).
const metricsScrapeTimeout = 2 * time.Second

// registerAppMetrics adds the families of the parts wired here: the mail
// outbox (when this replica sends mail) and the audit log's asynchronous
// writer.
func registerAppMetrics(m *metrics.Metrics, mailer *mail.Mailer, audit *auth.AuditWriter) error {
	if mailer != nil && mailer.Worker != nil {
		w := mailer.Worker
		depth := func() int {
			ctx, cancel := context.WithTimeout(context.Background(), metricsScrapeTimeout)
			defer cancel()
			n, err := w.Depth(ctx)
			if err != nil {
				return -1 // the database did not answer: -1, never a stale figure
			}
			return int(n)
		}
		if err := m.RegisterMailOutbox(depth, func() uint64 { return uint64(w.GivenUp()) }); err != nil {
			return err
		}
	}
	if audit != nil {
		return m.RegisterAuditDropped(audit.Dropped)
	}
	return nil
}
