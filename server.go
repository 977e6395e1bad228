// Command ironclad serves a GraphQL API with JWT authentication: login,
// refresh-token rotation and a protected me query.
//
//	ironclad                 serve (the default)
//	ironclad migrate         apply database migrations and exit
//	ironclad purge           delete expired and used refresh tokens and exit
//	ironclad createuser ...  create an account (see -h)
package main

import (
	"bytes"
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

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/redis/go-redis/v9"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/store"
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
	cfg, err := loadConfig(getenv)
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
		a, err := open(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.close()
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	case "purge":
		a, err := open(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.close()
		n, err := a.auth.Purge(ctx)
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

func newLogger(cfg config, w io.Writer) *slog.Logger {
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

// app holds the long-lived services of one process.
type app struct {
	cfg     config
	log     *slog.Logger
	store   *store.Store
	auth    *auth.Service
	redis   *redis.Client // nil without REDIS_URL
	cookies *auth.Cookies
}

// open connects to the database, applies migrations and builds the services.
func open(ctx context.Context, cfg config, log *slog.Logger) (*app, error) {
	if err := cfg.ensureSecret(); err != nil {
		return nil, err
	}
	if cfg.JWTSecretSource == "generated" {
		log.Warn("JWT_SECRET is not set: generated a development secret in the data folder; set JWT_SECRET in production")
	} else if len(cfg.JWTSecret) < minSecretLen {
		log.Warn("JWT_SECRET is shorter than 32 bytes; production mode would refuse it")
	}
	st, err := store.OpenWith(ctx, cfg.DatabaseURL, cfg.storeOptions(log))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	a, err := newApp(cfg, st, log, time.Now)
	if err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) close() {
	if a.redis != nil {
		a.redis.Close()
	}
	a.store.Close()
}

// storeOptions are the store settings of cfg.
func (c config) storeOptions(log *slog.Logger) store.Options {
	ttl := c.IdentityCacheTTL
	if ttl == 0 {
		ttl = -1 // off
	}
	return store.Options{IdentityTTL: ttl, RedisURL: c.RedisURL, Log: log}
}

// newApp builds the services on an open store; now is the clock of every
// token and session decision.
func newApp(cfg config, st *store.Store, log *slog.Logger, now func() time.Time) (*app, error) {
	tokens, err := auth.NewTokens(auth.TokenConfig{
		Secret:    cfg.JWTSecret,
		Issuer:    cfg.JWTIssuer,
		AccessTTL: cfg.AccessTTL,
		Leeway:    tokenLeeway,
	}, now)
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET: %w", err)
	}
	hasher := auth.NewHasher(cfg.HashParams, cfg.HashConcurrency, 2*time.Second)
	var rdb *redis.Client
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, errors.New("REDIS_URL: not a redis:// or rediss:// URL")
		}
		opts.ContextTimeoutEnabled = true // the limiter's deadlines bound every call
		// Counting is not idempotent: never resend a command that may have
		// run. A failure falls back to memory at once instead.
		opts.MaxRetries = -1
		opts.DialerRetries = 1
		rdb = redis.NewClient(opts)
	}
	limiter, err := auth.NewLoginLimiter(auth.LimiterConfig{
		PerUser: cfg.LoginPerUser,
		PerIP:   cfg.LoginPerIP,
		Redis:   rdb,
		Prefix:  cfg.RedisPrefix,
		Secret:  cfg.JWTSecret,
		Now:     now,
	}, log.With("component", "auth"))
	if err != nil {
		if rdb != nil {
			rdb.Close()
		}
		return nil, err
	}
	svc := auth.NewService(st, tokens, hasher, auth.Options{
		RefreshTTL:     cfg.RefreshTTL,
		SessionMaxAge:  cfg.SessionMaxAge,
		Now:            now,
		SignupEnabled:  cfg.SignupEnabled,
		MinPasswordLen: cfg.MinPasswordLen,
		ReuseGrace:     cfg.ReuseGrace,
		TrustedProxies: cfg.TrustedProxies,
		Limiter:        limiter,
	}, log)
	cookies := auth.NewCookies(auth.CookieConfig{Enabled: cfg.RefreshTokenCookie, Secure: cfg.CookieSecure, Path: graphQLPath})
	return &app{cfg: cfg, log: log, store: st, auth: svc, redis: rdb, cookies: cookies}, nil
}

// tokenLeeway is the clock skew tolerated on access-token times.
const tokenLeeway = 30 * time.Second

// serve runs the HTTP server until ctx ends, then drains in-flight requests.
func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	defer cfg.GC.apply()()
	a, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	go a.auth.RunPurger(ctx, cfg.PurgeInterval)
	if cfg.PprofAddr != "" {
		if err := servePprof(ctx, cfg.PprofAddr, log); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newHandler(a),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	url := "http://" + displayAddr(ln.Addr())
	limiter := "memory"
	if a.redis != nil {
		limiter = "redis"
	}
	log.Info("ironclad listening", "addr", ln.Addr().String(), "database", a.store.Dialect(), "production", cfg.Production, "login_limiter", limiter, "gc", cfg.GC)
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

// graphQLPath is the GraphQL endpoint, and the only path the refresh cookie
// is sent to.
const graphQLPath = "/query"

// maxBodyBytes bounds a request body: GraphQL operations are small.
const maxBodyBytes = 1 << 20

// newHandler builds every route of the server in one place.
func newHandler(a *app) http.Handler {
	gql := graph.NewHandler(&graph.Resolver{Auth: a.auth, Store: a.store, Log: a.log, Cookies: a.cookies}, graph.Options{
		Introspection: a.cfg.Playground,
	})
	mux := http.NewServeMux()
	mux.Handle(graphQLPath, withCORS(a.cfg.CORSAllowedOrigins, a.cookies.Middleware(a.auth.Middleware(limitBody(gql)))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := a.store.Ping(ctx); err != nil {
			a.log.WarnContext(ctx, "readiness check failed", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "database unreachable\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	if a.cfg.Playground {
		// The playground is same-origin script, so it may send the CSRF
		// header: refreshToken without an argument then works in cookie mode.
		mux.Handle("GET /{$}", playground.Handler("Ironclad", graphQLPath,
			playground.WithGraphiqlFetcherHeaders(map[string]string{auth.CSRFHeaders[0]: "graphiql"})))
	}
	return accessLog(a.log, securityHeaders(mux))
}

// limitBody refuses request bodies over maxBodyBytes with 413, whether or
// not the client declared a Content-Length.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBodyBytes {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
			if err != nil {
				http.Error(w, "could not read request body", http.StatusBadRequest)
				return
			}
			if len(body) > maxBodyBytes {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
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
