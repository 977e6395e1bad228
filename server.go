// Command ironclad serves a GraphQL API with JWT authentication: login,
// refresh-token rotation and a protected me query. `ironclad help` lists
// its commands (cli.go); serve is the default.
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
	"github.com/ironclad-auth/ironclad/internal/requestid"
)

func main() {
	// The first SIGTERM or SIGINT starts a graceful shutdown; a second one
	// cuts the drain short.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	hurry := make(chan struct{})
	go func() {
		<-sigs
		cancel()
		<-sigs
		close(hurry)
	}()
	err := run(withDrainCut(ctx, hurry), os.Args[1:], os.Getenv, os.Stdin, os.Stdout)
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "ironclad:", ue.msg)
		fmt.Fprint(os.Stderr, ue.usage)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ironclad:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its environment passed in: it parses the
// command line, then loads the configuration the command needs.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cmd, rest, err := parseCommand(args, stdout)
	if err != nil || cmd == nil {
		return err // usage, or help already printed
	}
	if cmd.noConfig {
		return cmd.run(ctx, commandEnv{stdin: stdin, stdout: stdout, args: rest})
	}
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		return err
	}
	return cmd.run(ctx, commandEnv{cfg: cfg, log: newLogger(cfg, stdout), stdin: stdin, stdout: stdout, args: rest})
}

func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	// Every line logged with a request's context names the request.
	if cfg.Production {
		return slog.New(requestid.LogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(requestid.LogHandler(slog.NewTextHandler(w, opts)))
}

// serve runs the HTTP server until ctx ends, then drains in-flight requests.
// keyReloadInterval is how often a replica rereads the signing keys even
// without a notice: the longest a lost revocation notice leaves a revoked
// key verifying.
const keyReloadInterval = 30 * time.Second

func serve(ctx context.Context, cfg app.Config, log *slog.Logger, stdout io.Writer) error {
	defer cfg.GC.Apply()()
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()

	go a.Auth.RunPurger(ctx, cfg.PurgeInterval)
	a.Mail.Describe(log)
	// The mail worker stops claiming when ctx ends; the send in progress
	// finishes and is recorded before the database closes.
	mailCtx, stopMail := context.WithCancel(ctx)
	mailDone := make(chan struct{})
	go func() { a.RunMail(mailCtx); close(mailDone) }()
	defer func() { stopMail(); <-mailDone }()
	if a.Keys != nil {
		// The fallback for a lost rotation or revocation notice.
		go a.Keys.Run(ctx, keyReloadInterval)
	}
	if cfg.PprofAddr != "" {
		if err := app.ServePprof(ctx, cfg.PprofAddr, log); err != nil {
			return err
		}
	}

	if cfg.MetricsAddr != "" {
		// Scraped through the drain too: stopped only when serve returns.
		mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		if _, err := a.ServeMetrics(mctx); err != nil {
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
	if !cfg.Production {
		if n, err := a.Store.CountUsers(ctx, ""); err == nil && n == 0 {
			fmt.Fprintf(stdout, "No users yet. Create one with: go run . createuser --username alice --email alice@example.com --password-stdin\n\n")
		}
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Fail /readyz first and keep serving for SHUTDOWN_DRAIN, so a load
	// balancer takes this replica out before its listener closes.
	a.Drain()
	log.Info("shutting down: draining", "drain", cfg.ShutdownDrain.String())
	if cfg.ShutdownDrain > 0 {
		drain := time.NewTimer(cfg.ShutdownDrain)
		select {
		case <-drain.C:
		case <-drainCut(ctx):
			drain.Stop()
		case err := <-errc:
			drain.Stop()
			return err
		}
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

type drainCutKey struct{}

// withDrainCut returns ctx carrying a channel whose closing ends the
// shutdown drain early (a second signal).
func withDrainCut(ctx context.Context, cut <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainCutKey{}, cut)
}

// drainCut returns the channel of withDrainCut, or nil (never ready).
func drainCut(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(drainCutKey{}).(<-chan struct{})
	return c
}
