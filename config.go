package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/store"
)

// minSecretLen is the shortest JWT_SECRET accepted in production: 256 bits,
// as much as the HS256 output.
const minSecretLen = 32

// config is everything Ironclad reads from its environment.
type config struct {
	Production      bool
	Addr            string
	DatabaseURL     string // postgres://... or an SQLite path
	DataDir         string
	JWTSecret       []byte
	JWTSecretSource string // "env", "file" or "generated"; never the secret
	JWTIssuer       string
	AccessTTL       time.Duration
	RefreshTTL      time.Duration
	SessionMaxAge   time.Duration
	Playground      bool
	PurgeInterval   time.Duration
	HashConcurrency int
	HashParams      auth.Params // argon2id cost; tests lower it
	LogLevel        string
	SignupEnabled   bool           // the register mutation is open
	MinPasswordLen  int            // shortest new password, in characters
	ReuseGrace      time.Duration  // REFRESH_REUSE_GRACE
	TrustedProxies  []netip.Prefix // TRUSTED_PROXIES
	RedisURL        string         // REDIS_URL; never logged (it may hold a password)
	RedisPrefix     string         // REDIS_KEY_PREFIX
	LoginPerUser    auth.Limit     // LOGIN_MAX_FAILURES_PER_USER per LOGIN_FAILURE_WINDOW
	LoginPerIP      auth.Limit     // LOGIN_MAX_FAILURES_PER_IP per LOGIN_FAILURE_WINDOW
	// IdentityCacheTTL bounds how long a replica serves a cached user and
	// session without re-reading them; 0 turns the cache off.
	IdentityCacheTTL time.Duration

	CORSAllowedOrigins []string // exact origins allowed cross-origin access, with credentials
	RefreshTokenCookie bool     // deliver refresh tokens in an HttpOnly cookie
	CookieSecure       bool     // mark that cookie Secure (HTTPS only)
	// PprofAddr, when set, serves net/http/pprof on this loopback address.
	PprofAddr string
	// GC is the garbage collector's tuning (gc.go).
	GC gcSettings
}

// loadConfig reads and validates the configuration. It is pure apart from
// the development secret, which lives in the data folder so tokens survive
// a restart.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		Production:       strings.EqualFold(getenv("APP_ENV"), "production"),
		Addr:             or(getenv("ADDR"), ":8080"),
		DatabaseURL:      getenv("DATABASE_URL"),
		DataDir:          or(getenv("DATA_DIR"), "data"),
		JWTIssuer:        or(getenv("JWT_ISSUER"), "ironclad"),
		LogLevel:         or(getenv("LOG_LEVEL"), "info"),
		AccessTTL:        5 * time.Minute,
		RefreshTTL:       7 * 24 * time.Hour,
		SessionMaxAge:    30 * 24 * time.Hour,
		PurgeInterval:    time.Hour,
		HashParams:       auth.DefaultParams,
		MinPasswordLen:   auth.DefaultMinPassLen,
		RedisURL:         getenv("REDIS_URL"),
		RedisPrefix:      or(getenv("REDIS_KEY_PREFIX"), "ironclad:"),
		LoginPerUser:     auth.DefaultPerUser,
		LoginPerIP:       auth.DefaultPerIP,
		IdentityCacheTTL: store.DefaultIdentityTTL,
	}
	var errs []error
	duration := func(name string, dst *time.Duration, min, max time.Duration) {
		v := getenv(name)
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %q is not a duration such as 90s or 12h", name, v))
		case d < min || d > max:
			errs = append(errs, fmt.Errorf("%s: %s is outside %s..%s", name, d, min, max))
		default:
			*dst = d
		}
	}
	duration("ACCESS_TOKEN_TTL", &c.AccessTTL, time.Second, 24*time.Hour)
	duration("REFRESH_TOKEN_TTL", &c.RefreshTTL, time.Minute, 365*24*time.Hour)
	duration("SESSION_MAX_AGE", &c.SessionMaxAge, time.Minute, 365*24*time.Hour)
	duration("PURGE_INTERVAL", &c.PurgeInterval, 0, 7*24*time.Hour)
	duration("REFRESH_REUSE_GRACE", &c.ReuseGrace, 0, time.Minute)
	window := 15 * time.Minute
	duration("LOGIN_FAILURE_WINDOW", &window, time.Second, 24*time.Hour)
	c.LoginPerUser.Window, c.LoginPerIP.Window = window, window
	count := func(name string, dst *int, max int) {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > max {
				errs = append(errs, fmt.Errorf("%s: %q is not a number from 1 to %d", name, v, max))
				return
			}
			*dst = n
		}
	}
	count("LOGIN_MAX_FAILURES_PER_USER", &c.LoginPerUser.Max, 1000)
	count("LOGIN_MAX_FAILURES_PER_IP", &c.LoginPerIP.Max, 1_000_000)
	if proxies, err := auth.ParseTrustedProxies(getenv("TRUSTED_PROXIES")); err != nil {
		errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %w", err))
	} else {
		c.TrustedProxies = proxies
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			// The URL may hold a password: name the variable, not the value.
			errs = append(errs, errors.New("REDIS_URL: not a redis:// or rediss:// URL"))
		}
	}
	duration("IDENTITY_CACHE_TTL", &c.IdentityCacheTTL, 0, time.Minute)
	if v := getenv("PPROF_ADDR"); v != "" {
		if addr, err := parsePprofAddr(v); err != nil {
			errs = append(errs, err)
		} else {
			c.PprofAddr = addr
		}
	}
	if c.RefreshTTL > c.SessionMaxAge {
		c.RefreshTTL = c.SessionMaxAge
	}

	if v := getenv("HASH_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 256 {
			errs = append(errs, fmt.Errorf("HASH_CONCURRENCY: %q is not a number from 1 to 256", v))
		}
		c.HashConcurrency = n
	}
	c.GC = defaultGC(c, getenv)
	playground, err := parseBool(getenv("PLAYGROUND"), !c.Production)
	if err != nil {
		errs = append(errs, fmt.Errorf("PLAYGROUND: %w", err))
	}
	c.Playground = playground
	signup, err := parseBool(getenv("SIGNUP_ENABLED"), !c.Production)
	if err != nil {
		errs = append(errs, fmt.Errorf("SIGNUP_ENABLED: %w", err))
	}
	c.SignupEnabled = signup
	if v := getenv("PASSWORD_MIN_LENGTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < auth.DefaultMinPassLen || n > 128 {
			errs = append(errs, fmt.Errorf("PASSWORD_MIN_LENGTH: %q is not a number from %d to 128", v, auth.DefaultMinPassLen))
		}
		c.MinPasswordLen = n
	}

	errs = append(errs, loadBrowserConfig(&c, getenv)...)

	if s := getenv("JWT_SECRET"); s != "" {
		c.JWTSecret, c.JWTSecretSource = []byte(s), "env"
	}
	if c.Production {
		if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
			errs = append(errs, errors.New("DATABASE_URL: production needs a postgres:// URL"))
		}
		if len(c.JWTSecret) < minSecretLen {
			errs = append(errs, fmt.Errorf("JWT_SECRET: production needs a secret of at least %d bytes (for example: openssl rand -base64 48)", minSecretLen))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, err
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "ironclad.db")
	}
	return c, nil
}

// ensureSecret gives a development server without JWT_SECRET a random one,
// kept in the data folder so tokens survive a restart.
func (c *config) ensureSecret() error {
	if len(c.JWTSecret) > 0 {
		return nil
	}
	path := filepath.Join(c.DataDir, "jwt_secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= minSecretLen {
		c.JWTSecret, c.JWTSecretSource = []byte(strings.TrimSpace(string(b))), "file"
		return nil
	}
	raw := make([]byte, 48)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("DATA_DIR: %w", err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write development secret: %w", err)
	}
	c.JWTSecret, c.JWTSecretSource = []byte(secret), "generated"
	return nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func parseBool(v string, def bool) (bool, error) {
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", v)
	}
	return b, nil
}
