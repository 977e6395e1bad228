package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/mail"
	"github.com/ironclad-auth/ironclad/store"
)

// MinSecretLen is the shortest JWT_SECRET accepted in production: 256 bits,
// as much as the HS256 output.
const MinSecretLen = 32

// Config is everything Ironclad reads from its environment. Settings lists
// each variable that fills it.
type Config struct {
	Env             string // APP_ENV: development, production or test
	Production      bool
	Addr            string
	DatabaseURL     string // postgres://... or an SQLite path
	DataDir         string
	JWTSecret       []byte
	JWTSecretSource string // "env", "file" or "generated"; never the secret
	JWTIssuer       string
	JWTLeeway       time.Duration // JWT_LEEWAY
	JWTAlg          string        // JWT_ALG
	// JWTPrivateKeyFile, when set, is the PEM key to sign with instead of
	// the database key ring.
	JWTPrivateKeyFile string
	JWTAudience       []string      // JWT_AUDIENCE
	JWTClaimsProfile  string        // JWT_CLAIMS_PROFILE: "" or auth.ClaimsProfileHasura
	JWKSMaxAge        time.Duration // JWKS_MAX_AGE
	// JWTKeyPublishDelay is how long a rotated key is published before it
	// signs (JWT_KEY_PUBLISH_DELAY).
	JWTKeyPublishDelay time.Duration
	JWTKeyRotateEvery  time.Duration // JWT_KEY_ROTATE_EVERY; 0 is off
	AccessTTL          time.Duration
	RefreshTTL         time.Duration
	SessionMaxAge      time.Duration
	Playground         bool
	PurgeInterval      time.Duration
	AuditRetention     time.Duration // AUDIT_RETENTION; 0 keeps audit events forever
	// AuditBuffer is how many failed-login and rate-limit events wait to be
	// written before more are dropped (auth.DefaultAuditBuffer); not an
	// environment variable: tests lower it.
	AuditBuffer     int
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

	CORSAllowedOrigins []string      // exact origins allowed cross-origin access, with credentials
	RefreshTokenCookie bool          // deliver refresh tokens in an HttpOnly cookie
	CookieSecure       bool          // mark that cookie Secure (HTTPS only)
	RequestTimeout     time.Duration // REQUEST_TIMEOUT
	StatementTimeout   time.Duration // DB_STATEMENT_TIMEOUT
	DBMaxConns         int           // DB_MAX_CONNS; 0 = store.DefaultMaxConns
	ShutdownDrain      time.Duration // SHUTDOWN_DRAIN
	// PprofAddr, when set, serves net/http/pprof on this loopback address.
	PprofAddr string
	// MetricsAddr, when set, serves the Prometheus exposition on this
	// address, on its own listener.
	MetricsAddr string
	// GC is the garbage collector's tuning (gc.go).
	GC GCSettings
	// WSMaxPerUser bounds the websocket connections of one user on one
	// replica (WS_MAX_PER_USER).
	WSMaxPerUser int

	SMTP             *mail.SMTP    // SMTP_URL, parsed; nil when unset. Never logged whole
	MailFrom         string        // MAIL_FROM
	AppURL           string        // APP_URL: the SPA's base URL, in mail links
	MailMaxAge       time.Duration // MAIL_MAX_AGE
	MailTemplatesDir string        // MAIL_TEMPLATES_DIR
	AppName          string        // APP_NAME
	ResetTTL         time.Duration // PASSWORD_RESET_TTL
	VerifyTTL        time.Duration // EMAIL_VERIFICATION_TTL
	// RequireVerifiedEmail is EMAIL_VERIFICATION=required.
	RequireVerifiedEmail bool
}

// Setting is one environment variable: its name, the default as the README
// shows it, the README's description, and how it fills a Config.
type Setting struct {
	Name    string
	Default string
	Doc     string
	// set parses a non-empty value into c; it runs after every setting
	// above it in the table, so it may depend on them (APP_ENV first).
	set func(c *Config, v string) error
	// unset, if not nil, runs when the variable is empty: defaults that
	// depend on another setting.
	unset func(c *Config)
}

// Settings is every variable Ironclad reads, in the README's order. It is
// the one place that names a variable, its default, its bounds and its
// documentation; the README's configuration table is checked against it.
var Settings = []Setting{
	{Name: "APP_ENV", Default: "`development`",
		Doc: "`development`, `production` or `test`. `production` refuses to start without a Postgres `DATABASE_URL` and a `JWT_SECRET` of at least 32 bytes, logs JSON, and turns the playground off; anything else (`prod`, a typo) is refused",
		set: func(c *Config, v string) error {
			switch v {
			case "development", "test":
			case "production":
				c.Production = true
			default:
				return fmt.Errorf("%q is not development, production or test", v)
			}
			c.Env = v
			return nil
		}},
	{Name: "ADDR", Default: "`:8080`", Doc: "listen address",
		set: func(c *Config, v string) error { c.Addr = v; return nil }},
	{Name: "DATABASE_URL", Default: "`./data/ironclad.db` (SQLite)",
		Doc: "PostgreSQL: `postgres://user:pass@host:5432/db?sslmode=...`, `postgresql://...` or a libpq key/value string (`host=... dbname=...`). SQLite: `sqlite://PATH`, `file:PATH`, or a path ending in `.db`, `.sqlite` or `.sqlite3`. Anything else is refused. Create the Postgres database first",
		set: func(c *Config, v string) error {
			if !store.ValidDSN(v) {
				// The URL may hold a password: never repeat the value.
				return errors.New("not a postgres:// or postgresql:// URL, a libpq key=value string, sqlite://PATH, file:PATH, or a path ending in .db, .sqlite or .sqlite3")
			}
			c.DatabaseURL = v
			return nil
		}},
	{Name: "DATA_DIR", Default: "`data`", Doc: "folder for the SQLite file and the generated development secret",
		set: func(c *Config, v string) error { c.DataDir = v; return nil }},
	{Name: "JWT_SECRET", Default: "generated in development",
		Doc: "HMAC key for access tokens with `JWT_ALG=HS256`, and the root the sealing key of the database signing keys is derived from (a replica with another secret refuses to start); at least 32 bytes, e.g. `openssl rand -base64 48`. Without it, development generates one and keeps it in `DATA_DIR/jwt_secret`",
		set: func(c *Config, v string) error { c.JWTSecret, c.JWTSecretSource = []byte(v), "env"; return nil }},
	{Name: "JWT_ISSUER", Default: "`ironclad`", Doc: "`iss` claim, checked on every token",
		set: func(c *Config, v string) error { c.JWTIssuer = v; return nil }},
	{Name: "JWT_LEEWAY", Default: "`5s`",
		Doc: "clock skew tolerated on access-token times (`exp`, `nbf`, `iat`), `0s` to `60s`; a token is refused at most this long after `expiresIn`",
		set: duration(func(c *Config) *time.Duration { return &c.JWTLeeway }, 0, auth.MaxLeeway)},
	{Name: "JWT_ALG", Default: "`EdDSA`",
		Doc: "algorithm of access tokens: `EdDSA` (Ed25519), `ES256`, `RS256` or `HS256`. The asymmetric ones sign with a key kept in the database (its private half sealed under a key derived from `JWT_SECRET`, made by the first replica to start) and publish the public keys at `/.well-known/jwks.json`; `HS256` signs with `JWT_SECRET` itself and publishes nothing. After a switch from `HS256`, tokens signed with the secret keep verifying until they expire",
		set: func(c *Config, v string) error {
			for _, a := range auth.Algorithms {
				if v == a {
					c.JWTAlg = v
					return nil
				}
			}
			return fmt.Errorf("%q is not EdDSA, ES256, RS256 or HS256", v)
		}},
	{Name: "JWT_PRIVATE_KEY_FILE", Default: "(none: keys in the database)",
		Doc: "a PEM PKCS#8 private key (Ed25519, ECDSA P-256 or RSA of 2048 bits or more) to sign with instead of the database key ring; `JWT_ALG` must name the key's algorithm; the `kid` is derived from the public key, so replicas given the same file agree",
		set: func(c *Config, v string) error { c.JWTPrivateKeyFile = v; return nil }},
	{Name: "JWT_AUDIENCE", Default: "(none)",
		Doc: "comma list of audiences: every access token carries them as `aud`, and verification requires a token to name one of them",
		set: func(c *Config, v string) error {
			c.JWTAudience = nil
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					c.JWTAudience = append(c.JWTAudience, a)
				}
			}
			if len(c.JWTAudience) == 0 {
				return errors.New("no audience in the list")
			}
			return nil
		}},
	{Name: "JWT_CLAIMS_PROFILE", Default: "(none)",
		Doc: "`hasura` adds Hasura's claims object to every access token: `https://hasura.io/jwt/claims` with `x-hasura-user-id`, `x-hasura-default-role` and `x-hasura-allowed-roles`: `user`, or for an admin `user` and `admin` with `admin` the default; no email or profile. The role is the user's when the token was issued: a role change reaches Hasura when the access token expires (`ACCESS_TOKEN_TTL`)",
		set: func(c *Config, v string) error {
			if v != auth.ClaimsProfileHasura {
				return fmt.Errorf("%q is not hasura (or empty: none)", v)
			}
			c.JWTClaimsProfile = v
			return nil
		}},
	{Name: "JWKS_MAX_AGE", Default: "`5m`",
		Doc: "`Cache-Control: max-age` of `/.well-known/jwks.json`, `0s` to `24h`",
		set: duration(func(c *Config) *time.Duration { return &c.JWKSMaxAge }, 0, 24*time.Hour)},
	{Name: "JWT_KEY_PUBLISH_DELAY", Default: "`JWKS_MAX_AGE`",
		Doc:   "how long `ironclad keys rotate` publishes a new key in the JWKS before it starts signing, so that verifiers caching the key set know it first; `0s` to `24h`",
		set:   duration(func(c *Config) *time.Duration { return &c.JWTKeyPublishDelay }, 0, 24*time.Hour),
		unset: func(c *Config) { c.JWTKeyPublishDelay = c.JWKSMaxAge }},
	{Name: "JWT_KEY_ROTATE_EVERY", Default: "(off)",
		Doc: "rotate the signing key on a timer, as `ironclad keys rotate` does: every this long, one replica publishes a new key that signs `JWT_KEY_PUBLISH_DELAY` later. `1h` to `8760h`, longer than `JWT_KEY_PUBLISH_DELAY`; `0` is off",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			switch {
			case err != nil:
				return fmt.Errorf("%q is not a duration such as 720h", v)
			case d == 0:
			case d < time.Hour || d > 8760*time.Hour:
				return fmt.Errorf("%s is outside 1h..8760h (or 0, off)", d)
			case d <= c.JWTKeyPublishDelay:
				return fmt.Errorf("%s is not longer than JWT_KEY_PUBLISH_DELAY (%s)", d, c.JWTKeyPublishDelay)
			}
			c.JWTKeyRotateEvery = d
			return nil
		}},
	{Name: "ACCESS_TOKEN_TTL", Default: "`5m`", Doc: "access-token lifetime",
		set: duration(func(c *Config) *time.Duration { return &c.AccessTTL }, time.Second, 24*time.Hour)},
	{Name: "REFRESH_TOKEN_TTL", Default: "`168h` (7 days)", Doc: "idle lifetime of a refresh token",
		set: duration(func(c *Config) *time.Duration { return &c.RefreshTTL }, time.Minute, 365*24*time.Hour)},
	{Name: "SESSION_MAX_AGE", Default: "`720h` (30 days)", Doc: "absolute lifetime of a session; refreshing never extends it",
		set: duration(func(c *Config) *time.Duration { return &c.SessionMaxAge }, time.Minute, 365*24*time.Hour)},
	{Name: "PLAYGROUND", Default: "`true`, `false` in production", Doc: "serve the playground at `/` and allow introspection",
		set:   boolean(func(c *Config) *bool { return &c.Playground }),
		unset: func(c *Config) { c.Playground = !c.Production }},
	{Name: "PURGE_INTERVAL", Default: "`1h`", Doc: "how often each replica deletes expired tokens (`0` turns the sweep off)",
		set: duration(func(c *Config) *time.Duration { return &c.PurgeInterval }, 0, 7*24*time.Hour)},
	{Name: "AUDIT_RETENTION", Default: "`2160h` (90 days)", Doc: "how long audit events are kept; the periodic sweep (`PURGE_INTERVAL`) and `purge` delete older ones. `0` keeps them forever (the table then only grows: archive and delete it yourself); otherwise `24h` to `87600h` (10 years)",
		set: func(c *Config, v string) error {
			if v == "0" {
				c.AuditRetention = 0
				return nil
			}
			return duration(func(c *Config) *time.Duration { return &c.AuditRetention }, 24*time.Hour, 10*365*24*time.Hour)(c, v)
		}},
	{Name: "REQUEST_TIMEOUT", Default: "`10s`", Doc: "the most one request may take; past it the request answers `SERVICE_UNAVAILABLE` with `retryAfter` (HTTP 503 under `application/graphql-response+json`). `1s` to `60s`",
		set: duration(func(c *Config) *time.Duration { return &c.RequestTimeout }, time.Second, time.Minute)},
	{Name: "DB_STATEMENT_TIMEOUT", Default: "`5s`", Doc: "the most one database statement may take (Postgres `statement_timeout` on every connection; SQLite's busy timeout), `100ms` to `60s`; a statement past it answers `SERVICE_UNAVAILABLE`",
		set: duration(func(c *Config) *time.Duration { return &c.StatementTimeout }, 100*time.Millisecond, time.Minute)},
	{Name: "DB_MAX_CONNS", Default: "4 × CPUs (on Postgres at least 16)", Doc: "the most database connections one replica opens, `1` to `1000`; on Postgres each is a server backend, so keep replicas × this under `max_connections`",
		set: count(func(c *Config) *int { return &c.DBMaxConns }, 1, 1000)},
	{Name: "SHUTDOWN_DRAIN", Default: "`5s`", Doc: "on SIGTERM, `/readyz` answers 503 at once and the server keeps serving this long (so a load balancer stops sending), answering with `Connection: close`, then shuts down gracefully. `0s` to `60s`",
		set: duration(func(c *Config) *time.Duration { return &c.ShutdownDrain }, 0, time.Minute)},
	{Name: "HASH_CONCURRENCY", Default: "number of CPUs", Doc: "password hashes computed at once; excess logins wait up to 2 s, then get `TOO_MANY_REQUESTS`",
		set: count(func(c *Config) *int { return &c.HashConcurrency }, 1, 256)},
	{Name: "LOG_LEVEL", Default: "`info`", Doc: "`debug`, `info`, `warn` or `error`",
		set: func(c *Config, v string) error {
			switch strings.ToLower(v) {
			case "debug", "info", "warn", "error":
				c.LogLevel = strings.ToLower(v)
				return nil
			}
			return fmt.Errorf("%q is not debug, info, warn or error", v)
		}},
	{Name: "SIGNUP_ENABLED", Default: "`true`, `false` in production", Doc: "open the `register` mutation to anyone; closed, it answers `FORBIDDEN` and `createuser` is the way in",
		set:   boolean(func(c *Config) *bool { return &c.SignupEnabled }),
		unset: func(c *Config) { c.SignupEnabled = !c.Production }},
	{Name: "PASSWORD_MIN_LENGTH", Default: "`8`", Doc: "shortest password (in characters) accepted by `register` and `createuser`, 8 to 128",
		set: count(func(c *Config) *int { return &c.MinPasswordLen }, auth.DefaultMinPassLen, 128)},
	{Name: "REFRESH_REUSE_GRACE", Default: "`10s`",
		Doc: "at most `60s`: the refresh token rotated last, presented again within this long of its rotation, gets the same successor (and a fresh access token) instead of ending the session — a refresh whose response was lost (a replica killed, a client timeout, a proxy reset) or two tabs refreshing at once stay logged in. Only the immediately previous token qualifies; older ones, or later, are reuse. The trade-off: a thief replaying a stolen token inside the window gets the same successor, and is caught as soon as both use it. `0` is the strict mode: every second presentation is reuse",
		set: duration(func(c *Config) *time.Duration { return &c.ReuseGrace }, 0, time.Minute)},
	{Name: "TRUSTED_PROXIES", Default: "(none)",
		Doc: "comma-separated CIDR prefixes or addresses of reverse proxies, e.g. `10.0.0.0/8, 192.0.2.10`. Only when the connection comes from one of them is `X-Forwarded-For` read (right to left, skipping trusted hops) for the client IP; otherwise the peer address is the client",
		set: func(c *Config, v string) (err error) { c.TrustedProxies, err = auth.ParseTrustedProxies(v); return err }},
	{Name: "REDIS_URL", Default: "(none: in memory)",
		Doc: "`redis://[:password@]host:6379/db` (or `rediss://`): the login-failure counters live in Redis, shared by every replica, and identity-cache invalidations also travel over Redis pub/sub. If Redis fails, each replica counts in memory and logs it (`rate_limiter_fallback`) until Redis answers again; limiting never stops",
		set: func(c *Config, v string) error {
			if _, err := redis.ParseURL(v); err != nil {
				// The URL may hold a password: never repeat the value.
				return errors.New("not a redis:// or rediss:// URL")
			}
			c.RedisURL = v
			return nil
		}},
	{Name: "REDIS_KEY_PREFIX", Default: "`ironclad:`", Doc: "prefix of Ironclad's Redis keys (after redis_rate's own `rate:`), to share one Redis between deployments",
		set: func(c *Config, v string) error { c.RedisPrefix = v; return nil }},
	{Name: "LOGIN_MAX_FAILURES_PER_USER", Default: "`5`", Doc: "failed logins allowed per username (in any letter case) per `LOGIN_FAILURE_WINDOW`",
		set: count(func(c *Config) *int { return &c.LoginPerUser.Max }, 1, 1000)},
	{Name: "LOGIN_MAX_FAILURES_PER_IP", Default: "`50`", Doc: "failed logins allowed per client IP (IPv6: per /64) per `LOGIN_FAILURE_WINDOW`",
		set: count(func(c *Config) *int { return &c.LoginPerIP.Max }, 1, 1_000_000)},
	{Name: "LOGIN_FAILURE_WINDOW", Default: "`15m`", Doc: "the window of both limits",
		set: duration(func(c *Config) *time.Duration { return &c.LoginPerUser.Window }, time.Second, 24*time.Hour)},
	{Name: "IDENTITY_CACHE_TTL", Default: "`5s`",
		Doc: "each replica caches the user and session behind an access token; a logout, revocation, password change, role or profile change, deactivation or deletion drops the entry at once on the replica that made it and on every other replica through Postgres LISTEN/NOTIFY (and Redis). This is the longest an entry lives if a notification is lost (channel down). `0` turns the cache off",
		set: duration(func(c *Config) *time.Duration { return &c.IdentityCacheTTL }, 0, time.Minute)},
	{Name: "CORS_ALLOWED_ORIGINS", Default: "(empty: same-origin only)",
		Doc: "comma list of exact origins that may call `/query` from a browser, with credentials, e.g. `https://app.example.com,http://localhost:5173`; `*` and paths are refused. Preflights are cached for 10 minutes",
		set: func(c *Config, v string) (err error) { c.CORSAllowedOrigins, err = parseOrigins(v); return err }},
	{Name: "REFRESH_TOKEN_COOKIE", Default: "`false`",
		Doc: "cookie mode for single-page apps: refresh tokens travel in an HttpOnly cookie instead of the response body (see [Browsers](#browsers-cookie-mode-cors-and-http-401))",
		set: boolean(func(c *Config) *bool { return &c.RefreshTokenCookie })},
	{Name: "COOKIE_SECURE", Default: "`true`", Doc: "mark the refresh cookie `Secure` (HTTPS only); `false` is for `http://localhost` and refused in production",
		set: func(c *Config, v string) error {
			if err := boolean(func(c *Config) *bool { return &c.CookieSecure })(c, v); err != nil {
				return err
			}
			if !c.CookieSecure && c.Production {
				// A refresh token sent over plain HTTP is a session handed to
				// anyone on the path; false exists for http://localhost only.
				return errors.New("production refuses false; it is meant for http://localhost")
			}
			return nil
		}},
	{Name: "WS_MAX_PER_USER", Default: "`20`",
		Doc: "websocket connections (subscriptions on `/query`) one user may hold open **on one replica**, 1 to 1000; the next one is closed with `4429` at `connection_init`. The count is per replica: it bounds each process's memory without a shared counter that a crashed replica would leave stale, so behind N replicas a user holds at most N × this",
		set: count(func(c *Config) *int { return &c.WSMaxPerUser }, 1, 1000)},
	{Name: "GOGC`, `GOMEMLIMIT", Default: "(Ironclad's: `GOGC=400` under a soft limit)",
		Doc: "the Go runtime's own garbage-collector settings. With neither set, Ironclad collects at `GOGC=400` under a soft memory limit of 64 MiB plus the hashing pool's memory (102 MiB on 2 CPUs). Setting either one leaves the runtime to them"},
	{Name: "PPROF_ADDR", Default: "(none: off)",
		Doc: "serve Go's profiler (`/debug/pprof/`) on this address, on its own listener; only loopback addresses are accepted (`127.0.0.1:6060`, `[::1]:6060`, `localhost:6060`)",
		set: func(c *Config, v string) (err error) { c.PprofAddr, err = parsePprofAddr(v); return err }},
	{Name: "METRICS_ADDR", Default: "(none: off)",
		Doc: "serve Prometheus metrics (`/metrics`, see [Metrics](#metrics)) on this address, on its own listener, never on `ADDR`: for example `127.0.0.1:9464`, or `:9464` for a scraper on the network",
		set: func(c *Config, v string) (err error) { c.MetricsAddr, err = parseMetricsAddr(v); return err }},
	{Name: "SMTP_URL", Default: "(none: development mail goes to the log and `/dev/mail`)",
		Doc: "the SMTP server that sends password-reset and verification mail: `smtp://user:pass@host:587` (STARTTLS required; `?starttls=off` for a local relay without TLS, refused in production unless the host is loopback) or `smtps://user:pass@host:465` (implicit TLS). Never logged. Production without it turns reset and verification off (`FORBIDDEN`, reason `mail_disabled`) and says so once at startup",
		set: func(c *Config, v string) error {
			s, err := mail.ParseSMTPURL(v)
			if err != nil {
				return err // never repeats the URL: it may hold a password
			}
			c.SMTP = s
			return nil
		}},
	{Name: "MAIL_FROM", Default: "`APP_NAME <no-reply@localhost>`, required in production with `SMTP_URL`",
		Doc: "the sender of every mail, `name <address>` or a bare address",
		set: func(c *Config, v string) error {
			if _, err := netmail.ParseAddress(v); err != nil {
				return fmt.Errorf("%q is not an address such as Example <no-reply@example.com>", v)
			}
			c.MailFrom = v
			return nil
		}},
	{Name: "APP_URL", Default: "`http://localhost:5173`, required in production with `SMTP_URL`",
		Doc: "the base URL of the app (the SPA) that mail links open: `APP_URL/reset-password#token=…` and `APP_URL/verify-email#token=…`. `https://` in production",
		set: func(c *Config, v string) error {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				return fmt.Errorf("%q is not an http:// or https:// URL without query or fragment", v)
			}
			if c.Production && u.Scheme != "https" {
				return errors.New("production needs an https:// URL: the links carry reset tokens")
			}
			c.AppURL = strings.TrimRight(v, "/")
			return nil
		}},
	{Name: "MAIL_MAX_AGE", Default: "`1h`",
		Doc: "how long an unsent mail is retried (with backoff, while the SMTP server is down) before it is given up and logged (`mail_given_up`); also how long sent mail is kept before the sweep deletes it. `1m` to `72h`",
		set: duration(func(c *Config) *time.Duration { return &c.MailMaxAge }, time.Minute, 72*time.Hour)},
	{Name: "MAIL_TEMPLATES_DIR", Default: "(none: the built-in templates)",
		Doc: "a folder of Go templates replacing the built-in ones file by file: `KIND.subject.txt`, `KIND.txt` (text/template) and `KIND.html` (html/template) for `reset`, `verify`, `password_changed` and `email_changed`; they see `.AppName`, `.Username`, `.Email`, `.Link`, `.Code` and `.Expires`. Checked at startup",
		set: func(c *Config, v string) error { c.MailTemplatesDir = v; return nil }},
	{Name: "APP_NAME", Default: "`Ironclad`", Doc: "the product name in mail",
		set: func(c *Config, v string) error {
			if len(v) > 100 || strings.ContainsAny(v, "\r\n") {
				return errors.New("must be one line of at most 100 bytes")
			}
			c.AppName = v
			return nil
		}},
	{Name: "PASSWORD_RESET_TTL", Default: "`30m`", Doc: "how long a password-reset link and code work, `5m` to `24h`",
		set: duration(func(c *Config) *time.Duration { return &c.ResetTTL }, 5*time.Minute, 24*time.Hour)},
	{Name: "EMAIL_VERIFICATION_TTL", Default: "`24h`", Doc: "how long an email-verification link and code work, `5m` to `168h`",
		set: duration(func(c *Config) *time.Duration { return &c.VerifyTTL }, 5*time.Minute, 7*24*time.Hour)},
	{Name: "EMAIL_VERIFICATION", Default: "`optional`",
		Doc: "`optional` or `required`. With `required`, the login of an account whose address is not verified answers `UNAUTHENTICATED`, reason `email_unverified` (only after a right password), and sends a fresh verification mail; production refuses `required` without `SMTP_URL`",
		set: func(c *Config, v string) error {
			switch v {
			case "optional":
				c.RequireVerifiedEmail = false
			case "required":
				c.RequireVerifiedEmail = true
			default:
				return fmt.Errorf("%q is not optional or required", v)
			}
			return nil
		}},
}

// defaults is the Config before any variable is read.
func defaults() Config {
	return Config{
		Env:              "development",
		Addr:             ":8080",
		ReuseGrace:       10 * time.Second,
		RequestTimeout:   10 * time.Second,
		StatementTimeout: 5 * time.Second,
		ShutdownDrain:    5 * time.Second,
		WSMaxPerUser:     20,
		DataDir:          "data",
		JWTIssuer:        "ironclad",
		JWTLeeway:        5 * time.Second,
		JWTAlg:           auth.AlgEdDSA,
		JWKSMaxAge:       5 * time.Minute,
		LogLevel:         "info",
		AccessTTL:        5 * time.Minute,
		RefreshTTL:       7 * 24 * time.Hour,
		SessionMaxAge:    30 * 24 * time.Hour,
		PurgeInterval:    time.Hour,
		AuditRetention:   90 * 24 * time.Hour,
		AuditBuffer:      auth.DefaultAuditBuffer,
		HashParams:       auth.DefaultParams,
		MinPasswordLen:   auth.DefaultMinPassLen,
		RedisPrefix:      "ironclad:",
		LoginPerUser:     auth.DefaultPerUser,
		LoginPerIP:       auth.DefaultPerIP,
		IdentityCacheTTL: store.DefaultIdentityTTL,
		CookieSecure:     true,
		AppURL:           "http://localhost:5173",
		AppName:          "Ironclad",
		MailMaxAge:       time.Hour,
		ResetTTL:         30 * time.Minute,
		VerifyTTL:        24 * time.Hour,
	}
}

// LoadConfig reads and validates the configuration from getenv. It is pure:
// the development secret is read or made later, by Open (EnsureSecret).
// Every error names its variable and never repeats a secret.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := defaults()
	var errs []error
	for _, s := range Settings {
		if s.set == nil {
			continue
		}
		v := getenv(s.Name)
		if v == "" {
			if s.unset != nil {
				s.unset(&c)
			}
			continue
		}
		if err := s.set(&c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
		}
	}
	// One window for both login limits.
	c.LoginPerIP.Window = c.LoginPerUser.Window
	if c.RefreshTTL > c.SessionMaxAge {
		c.RefreshTTL = c.SessionMaxAge
	}
	c.GC = defaultGC(c, getenv)
	if c.Production {
		if !store.IsPostgresDSN(c.DatabaseURL) {
			errs = append(errs, errors.New("DATABASE_URL: production needs PostgreSQL (a postgres:// URL or a libpq key=value string)"))
		}
		if len(c.JWTSecret) < MinSecretLen {
			errs = append(errs, fmt.Errorf("JWT_SECRET: production needs a secret of at least %d bytes (for example: openssl rand -base64 48)", MinSecretLen))
		}
		errs = append(errs, productionMail(c, getenv)...)
	}
	if c.MailFrom == "" {
		c.MailFrom = c.AppName + " <no-reply@localhost>"
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "ironclad.db")
	}
	return c, nil
}

// productionMail is what production refuses of the mail settings: links
// that would travel over plain HTTP, a sender or app URL left to the
// development defaults, SMTP without TLS across a network, and required
// verification with no way to send it.
func productionMail(c Config, getenv func(string) string) []error {
	var errs []error
	if c.SMTP == nil {
		if c.RequireVerifiedEmail {
			errs = append(errs, errors.New("EMAIL_VERIFICATION: production refuses required without SMTP_URL: no account could ever log in"))
		}
		return errs
	}
	if getenv("APP_URL") == "" {
		errs = append(errs, errors.New("APP_URL: production with SMTP_URL needs the https:// URL of the app the mail links open"))
	}
	if getenv("MAIL_FROM") == "" {
		errs = append(errs, errors.New("MAIL_FROM: production with SMTP_URL needs a sender address"))
	}
	if !c.SMTP.StartTLS && !c.SMTP.ImplicitTLS && !c.SMTP.Loopback() {
		errs = append(errs, errors.New("SMTP_URL: production refuses starttls=off to a server that is not on this host: the mail carries reset tokens"))
	}
	return errs
}

// duration parses a Go duration within [min, max] into the field dst names.
func duration(dst func(*Config) *time.Duration, min, max time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return fmt.Errorf("%q is not a duration such as 90s or 12h", v)
		case d < min || d > max:
			return fmt.Errorf("%s is outside %s..%s", d, min, max)
		}
		*dst(c) = d
		return nil
	}
}

// count parses a whole number within [min, max] into the field dst names.
func count(dst func(*Config) *int, min, max int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return fmt.Errorf("%q is not a number from %d to %d", v, min, max)
		}
		*dst(c) = n
		return nil
	}
}

// boolean parses true or false (as strconv.ParseBool) into the field dst names.
func boolean(dst func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*dst(c) = b
		return nil
	}
}

// EnsureSecret gives a development server without JWT_SECRET a random one,
// kept in the data folder so tokens survive a restart.
func (c *Config) EnsureSecret() error {
	if len(c.JWTSecret) > 0 {
		return nil
	}
	path := filepath.Join(c.DataDir, "jwt_secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= MinSecretLen {
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
