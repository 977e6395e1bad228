// Package app is Ironclad's HTTP application: its configuration, the
// services built from it, and the handler chain that serves them. The
// command (package main) loads a Config, opens an App and serves its
// Handler; tests do the same through app/apptest.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/internal/metrics"
	"github.com/ironclad-auth/ironclad/mail"
	"github.com/ironclad-auth/ironclad/store"
)

// App holds the long-lived services of one process.
type App struct {
	Config  Config
	Log     *slog.Logger
	Store   *store.Store
	Auth    *auth.Service
	Cookies *auth.Cookies
	// Tokens issues and verifies access tokens; Keys is its database key
	// ring, nil in HS256 mode or with JWT_PRIVATE_KEY_FILE.
	Tokens *auth.Tokens
	Keys   *auth.KeyRing
	// Audit writes failed-login and rate-limit events in the background;
	// Audit.Dropped counts those a full buffer refused.
	Audit *auth.AuditWriter
	// Metrics holds the Prometheus families; nil unless METRICS_ADDR is set.
	Metrics *metrics.Metrics
	// Live tracks this replica's websocket connections (subscriptions).
	Live *graph.Live
	// Mail renders and queues mail; its Worker (nil without SMTP_URL)
	// sends the outbox (RunMail).
	Mail  *mail.Mailer
	redis *redis.Client // nil without REDIS_URL
	// draining is set by Drain when the process is shutting down.
	draining atomic.Bool
}

// Open connects to the database, applies migrations and builds the services.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.EnsureSecret(); err != nil {
		return nil, err
	}
	if cfg.JWTSecretSource == "generated" {
		log.Warn("JWT_SECRET is not set: generated a development secret in the data folder; set JWT_SECRET in production")
	} else if len(cfg.JWTSecret) < MinSecretLen {
		log.Warn("JWT_SECRET is shorter than 32 bytes; production mode would refuse it")
	}
	st, err := store.OpenWith(ctx, cfg.DatabaseURL, StoreOptions(cfg, log))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	a, err := New(cfg, st, log, time.Now)
	if err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// auditCloseTimeout bounds the last write of buffered audit events.
const auditCloseTimeout = 5 * time.Second

// Close closes the websockets, writes the buffered audit events, then
// releases Redis and the database.
func (a *App) Close() {
	a.Live.Close()
	ctx, cancel := context.WithTimeout(context.Background(), auditCloseTimeout)
	defer cancel()
	if err := a.Audit.Close(ctx); err != nil {
		a.Log.Warn("audit events not written before shutdown", "pending", a.Audit.Pending())
	}
	if a.redis != nil {
		a.redis.Close()
	}
	a.Store.Close()
}

// Limiter names where login failures are counted: "redis" or "memory".
func (a *App) Limiter() string {
	if a.redis != nil {
		return "redis"
	}
	return "memory"
}

// StoreOptions are the store settings of c.
func StoreOptions(c Config, log *slog.Logger) store.Options {
	ttl := c.IdentityCacheTTL
	if ttl == 0 {
		ttl = -1 // off
	}
	// A statement may not outlive its request: SQLite's busy wait does not
	// watch the request's context, so its bound must be the smaller one.
	timeout := c.StatementTimeout
	if c.RequestTimeout > 0 && c.RequestTimeout < timeout {
		timeout = c.RequestTimeout
	}
	return store.Options{IdentityTTL: ttl, RedisURL: c.RedisURL, Log: log, StatementTimeout: timeout, MaxConns: c.DBMaxConns}
}

// New builds the services on an open store; now is the clock of every
// token and session decision.
func New(cfg Config, st *store.Store, log *slog.Logger, now func() time.Time) (*App, error) {
	tokens, err := auth.NewTokens(auth.TokenConfig{
		Secret:        cfg.JWTSecret,
		Issuer:        cfg.JWTIssuer,
		AccessTTL:     cfg.AccessTTL,
		Leeway:        cfg.JWTLeeway,
		Audience:      cfg.JWTAudience,
		ClaimsProfile: cfg.JWTClaimsProfile,
	}, now)
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET: %w", err)
	}
	keys, err := openKeys(cfg, st, tokens)
	if err != nil {
		return nil, err
	}
	hasher := auth.NewHasher(cfg.HashParams, cfg.HashConcurrency, 2*time.Second)
	var m *metrics.Metrics
	if cfg.MetricsAddr != "" {
		m = metrics.New(metrics.Sources{Store: st, Hasher: hasher, Tokens: tokens})
		hasher.SetObserver(m)
	}
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
	audit := auth.NewAuditWriter(st, cfg.AuditBuffer, log)
	mailer, err := mail.New(mail.Config{
		SMTP:         cfg.SMTP,
		From:         cfg.MailFrom,
		AppURL:       cfg.AppURL,
		AppName:      cfg.AppName,
		TemplatesDir: cfg.MailTemplatesDir,
		MaxAge:       cfg.MailMaxAge,
		Production:   cfg.Production,
		Secret:       cfg.JWTSecret,
	}, st, log, now)
	if err != nil {
		if rdb != nil {
			rdb.Close()
		}
		return nil, err
	}
	if m != nil {
		if err := registerAppMetrics(m, mailer, audit); err != nil {
			if rdb != nil {
				rdb.Close()
			}
			return nil, err
		}
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
		Audit:          audit,
		AuditRetention: cfg.AuditRetention,
		Observer:       authObserver(m),
		Mail:           mailer,
		ResetTTL:       cfg.ResetTTL,
		VerifyTTL:      cfg.VerifyTTL,
		MailMaxAge:     cfg.MailMaxAge,

		RequireVerifiedEmail: cfg.RequireVerifiedEmail,
	}, log)
	// The login's dummy path imitates the stored mix of hash formats; a
	// failed count leaves it to argon2id alone until the next one.
	mixCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := svc.RefreshHashMix(mixCtx); err != nil {
		log.Warn("password hash formats not counted", "err", err)
	}
	cancel()
	cookies := auth.NewCookies(auth.CookieConfig{Enabled: cfg.RefreshTokenCookie, Secure: cfg.CookieSecure, Path: GraphQLPath})
	live := graph.NewLive(svc, st, log, graph.LiveOptions{MaxPerUser: cfg.WSMaxPerUser, Now: now})
	return &App{Config: cfg, Log: log, Store: st, Auth: svc, redis: rdb, Cookies: cookies, Tokens: tokens, Keys: keys, Audit: audit, Metrics: m, Live: live, Mail: mailer}, nil
}

// RunMail sends the outbox until ctx ends, and returns once a send in
// progress has finished and been recorded (drain-safe). Without SMTP_URL
// there is nothing to send and it returns when ctx ends.
func (a *App) RunMail(ctx context.Context) {
	if a.Mail.Worker == nil {
		<-ctx.Done()
		return
	}
	a.Mail.Worker.Run(ctx)
}

// openKeys installs the signing keys JWT_ALG and JWT_PRIVATE_KEY_FILE ask
// for into tokens: a PEM file, the database key ring (made on first start),
// or, for HS256, nothing beyond JWT_SECRET.
func openKeys(cfg Config, st *store.Store, tokens *auth.Tokens) (*auth.KeyRing, error) {
	if cfg.JWTPrivateKeyFile != "" {
		if cfg.JWTAlg == auth.AlgHS256 {
			return nil, errors.New("JWT_PRIVATE_KEY_FILE: JWT_ALG is HS256, which signs with JWT_SECRET; set JWT_ALG to the key's algorithm")
		}
		b, err := os.ReadFile(cfg.JWTPrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("JWT_PRIVATE_KEY_FILE: %w", err)
		}
		alg, err := auth.UsePrivateKeyPEM(tokens, b)
		if err != nil {
			return nil, fmt.Errorf("JWT_PRIVATE_KEY_FILE: %w", err)
		}
		if alg != cfg.JWTAlg {
			return nil, fmt.Errorf("JWT_PRIVATE_KEY_FILE: the key is for %s, but JWT_ALG is %s", alg, cfg.JWTAlg)
		}
		return nil, nil
	}
	if !auth.Asymmetric(cfg.JWTAlg) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ring, err := auth.OpenKeyRing(ctx, st, tokens, cfg.JWTSecret, cfg.JWTAlg)
	if err != nil {
		return nil, fmt.Errorf("JWT_ALG %s: %w", cfg.JWTAlg, err)
	}
	ring.AutoRotate(cfg.JWTAlg, cfg.JWTKeyRotateEvery, cfg.JWTKeyPublishDelay)
	return ring, nil
}
