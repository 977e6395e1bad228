// Command ironclad serves a GraphQL API with JWT authentication: login,
// refresh-token rotation and a protected me query.
//
//	ironclad                 serve (the default)
//	ironclad migrate         apply database migrations and exit
//	ironclad purge           delete expired and used refresh tokens and exit
//	ironclad createuser ...  create an account (see -h)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ironclad-auth/ironclad/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ironclad:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its environment passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, stdout)
	case "migrate":
		a, err := app.Open(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.Close()
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	case "purge":
		a, err := app.Open(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.Close()
		n, err := a.Auth.Purge(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "purged %d rows\n", n)
		return nil
	case "createuser":
		return createUser(ctx, cfg, log, args, stdin, stdout)
	default:
		return fmt.Errorf("unknown command %q (commands: serve, migrate, purge, createuser)", cmd)
	}
}

func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Production {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the HTTP server until ctx ends, then drains in-flight requests.
func serve(ctx context.Context, cfg app.Config, log *slog.Logger, stdout io.Writer) error {
	defer cfg.GC.Apply()()
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()

	go a.Auth.RunPurger(ctx, cfg.PurgeInterval)
	if cfg.PprofAddr != "" {
		if err := app.ServePprof(ctx, cfg.PprofAddr, log); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	url := "http://" + displayAddr(ln.Addr())
	log.Info("ironclad listening", "addr", ln.Addr().String(), "database", a.Store.Dialect(), "production", cfg.Production, "login_limiter", a.Limiter(), "gc", cfg.GC)
	if cfg.Playground {
		fmt.Fprintf(stdout, "\nIronclad is running. Playground: %s/  GraphQL endpoint: %s/query\n", url, url)
	}
	fmt.Fprintf(stdout, "Create a user with: go run . createuser --username alice --email alice@example.com --password-stdin\n\n")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down; finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func displayAddr(a net.Addr) string {
	s := a.String()
	if strings.HasPrefix(s, "[::]:") {
		return "localhost:" + strings.TrimPrefix(s, "[::]:")
	}
	if strings.HasPrefix(s, "0.0.0.0:") {
		return "localhost:" + strings.TrimPrefix(s, "0.0.0.0:")
	}
	return s
}

