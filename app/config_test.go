package app

import (
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(mapEnv(nil))
	if err != nil {
		t.Fatalf("LoadConfig(empty) error = %v", err)
	}
	if c.Addr != ":8080" || c.AccessTTL != 5*time.Minute || c.RefreshTTL != 7*24*time.Hour ||
		c.SessionMaxAge != 30*24*time.Hour || !c.Playground || c.Production || c.DatabaseURL != "data/ironclad.db" ||
		c.AuditRetention != 90*24*time.Hour {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestLoadConfig(t *testing.T) {
	strong := strings.Repeat("k", 32)
	pg := "postgres://u@db/ironclad"
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string // substring naming the variable; "" means success
		check   func(t *testing.T, c Config)
	}{
		{name: "durations", env: map[string]string{"ACCESS_TOKEN_TTL": "90s", "REFRESH_TOKEN_TTL": "12h", "SESSION_MAX_AGE": "48h"},
			check: func(t *testing.T, c Config) {
				if c.AccessTTL != 90*time.Second || c.RefreshTTL != 12*time.Hour || c.SessionMaxAge != 48*time.Hour {
					t.Fatalf("got %v %v %v", c.AccessTTL, c.RefreshTTL, c.SessionMaxAge)
				}
			}},
		{name: "bad duration", env: map[string]string{"ACCESS_TOKEN_TTL": "five minutes"}, wantErr: "ACCESS_TOKEN_TTL"},
		{name: "zero duration", env: map[string]string{"REFRESH_TOKEN_TTL": "0s"}, wantErr: "REFRESH_TOKEN_TTL"},
		{name: "bad playground", env: map[string]string{"PLAYGROUND": "maybe"}, wantErr: "PLAYGROUND"},
		{name: "audit retention", env: map[string]string{"AUDIT_RETENTION": "720h"},
			check: func(t *testing.T, c Config) {
				if c.AuditRetention != 720*time.Hour {
					t.Fatalf("AuditRetention = %v", c.AuditRetention)
				}
			}},
		{name: "audit retention forever", env: map[string]string{"AUDIT_RETENTION": "0"},
			check: func(t *testing.T, c Config) {
				if c.AuditRetention != 0 {
					t.Fatalf("AuditRetention = %v, want 0 (forever)", c.AuditRetention)
				}
			}},
		{name: "audit retention too short", env: map[string]string{"AUDIT_RETENTION": "1h"}, wantErr: "AUDIT_RETENTION"},
		{name: "audit retention not a duration", env: map[string]string{"AUDIT_RETENTION": "90 days"}, wantErr: "AUDIT_RETENTION"},
		{name: "production without secret", env: map[string]string{"APP_ENV": "production", "DATABASE_URL": pg}, wantErr: "JWT_SECRET"},
		{name: "production with a short secret", env: map[string]string{"APP_ENV": "production", "DATABASE_URL": pg, "JWT_SECRET": strong[:31]}, wantErr: "JWT_SECRET"},
		{name: "production without postgres", env: map[string]string{"APP_ENV": "production", "JWT_SECRET": strong}, wantErr: "DATABASE_URL"},
		{name: "production", env: map[string]string{"APP_ENV": "production", "DATABASE_URL": pg, "JWT_SECRET": strong},
			check: func(t *testing.T, c Config) {
				if !c.Production || c.Playground {
					t.Fatalf("production = %v, playground = %v; want true, false", c.Production, c.Playground)
				}
			}},
		{name: "production with playground", env: map[string]string{"APP_ENV": "production", "DATABASE_URL": pg, "JWT_SECRET": strong, "PLAYGROUND": "true"},
			check: func(t *testing.T, c Config) {
				if !c.Playground {
					t.Fatal("PLAYGROUND=true ignored")
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(mapEnv(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadConfig() error = %v, want one naming %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), strong[:31]) {
					t.Fatal("error message contains the secret")
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig() error = %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestDevelopmentSecretSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadConfig(mapEnv(map[string]string{"DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.EnsureSecret(); err != nil || c1.JWTSecretSource != "generated" || len(c1.JWTSecret) < MinSecretLen {
		t.Fatalf("EnsureSecret() = %v, source %q, %d bytes", err, c1.JWTSecretSource, len(c1.JWTSecret))
	}
	c2, _ := LoadConfig(mapEnv(map[string]string{"DATA_DIR": dir}))
	if err := c2.EnsureSecret(); err != nil || string(c2.JWTSecret) != string(c1.JWTSecret) || c2.JWTSecretSource != "file" {
		t.Fatalf("second start: err %v, source %q, same secret %v", err, c2.JWTSecretSource, string(c2.JWTSecret) == string(c1.JWTSecret))
	}
}

func TestLoadBrowserConfig(t *testing.T) {
	strong := strings.Repeat("k", 32)
	prod := func(m map[string]string) map[string]string {
		m["APP_ENV"], m["DATABASE_URL"], m["JWT_SECRET"] = "production", "postgres://u@db/ironclad", strong
		return m
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", env: map[string]string{}, check: func(t *testing.T, c Config) {
			if len(c.CORSAllowedOrigins) != 0 || c.RefreshTokenCookie || !c.CookieSecure {
				t.Fatalf("origins %q, cookie %v, secure %v; want none, false, true", c.CORSAllowedOrigins, c.RefreshTokenCookie, c.CookieSecure)
			}
		}},
		{name: "origins", env: map[string]string{"CORS_ALLOWED_ORIGINS": " https://App.example.com, http://localhost:5173/ ,"},
			check: func(t *testing.T, c Config) {
				if strings.Join(c.CORSAllowedOrigins, " ") != "https://app.example.com http://localhost:5173" {
					t.Fatalf("origins = %q", c.CORSAllowedOrigins)
				}
			}},
		{name: "wildcard", env: map[string]string{"CORS_ALLOWED_ORIGINS": "*"}, wantErr: "CORS_ALLOWED_ORIGINS"},
		{name: "wildcard subdomain", env: map[string]string{"CORS_ALLOWED_ORIGINS": "https://*.example.com"}, wantErr: "CORS_ALLOWED_ORIGINS"},
		{name: "path", env: map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com/login"}, wantErr: "CORS_ALLOWED_ORIGINS"},
		{name: "no scheme", env: map[string]string{"CORS_ALLOWED_ORIGINS": "app.example.com"}, wantErr: "CORS_ALLOWED_ORIGINS"},
		{name: "cookie mode", env: map[string]string{"REFRESH_TOKEN_COOKIE": "true", "COOKIE_SECURE": "false"},
			check: func(t *testing.T, c Config) {
				if !c.RefreshTokenCookie || c.CookieSecure {
					t.Fatalf("cookie %v, secure %v", c.RefreshTokenCookie, c.CookieSecure)
				}
			}},
		{name: "bad cookie flag", env: map[string]string{"REFRESH_TOKEN_COOKIE": "yes please"}, wantErr: "REFRESH_TOKEN_COOKIE"},
		{name: "insecure cookie in production", env: prod(map[string]string{"COOKIE_SECURE": "false"}), wantErr: "COOKIE_SECURE"},
		{name: "secure cookie in production", env: prod(map[string]string{"REFRESH_TOKEN_COOKIE": "true"}),
			check: func(t *testing.T, c Config) {
				if !c.RefreshTokenCookie || !c.CookieSecure {
					t.Fatalf("cookie %v, secure %v", c.RefreshTokenCookie, c.CookieSecure)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(mapEnv(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadConfig() error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig() error = %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestLoadConfigSessions(t *testing.T) {
	c, err := LoadConfig(mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ReuseGrace != 10*time.Second || c.TrustedProxies != nil || c.RedisURL != "" || c.RedisPrefix != "ironclad:" ||
		c.LoginPerUser != auth.DefaultPerUser || c.LoginPerIP != auth.DefaultPerIP ||
		auth.DefaultPerUser != (auth.Limit{Max: 5, Window: 15 * time.Minute}) || auth.DefaultPerIP != (auth.Limit{Max: 50, Window: 15 * time.Minute}) {
		t.Fatalf("defaults: grace %v, proxies %v, redis %q %q, limits %v %v", c.ReuseGrace, c.TrustedProxies, c.RedisURL, c.RedisPrefix, c.LoginPerUser, c.LoginPerIP)
	}

	c, err = LoadConfig(mapEnv(map[string]string{
		"REFRESH_REUSE_GRACE":         "60s",
		"TRUSTED_PROXIES":             "10.0.0.0/8, 192.0.2.1",
		"REDIS_URL":                   "redis://:pw@127.0.0.1:6379/2",
		"REDIS_KEY_PREFIX":            "tenant-a:",
		"LOGIN_MAX_FAILURES_PER_USER": "3",
		"LOGIN_MAX_FAILURES_PER_IP":   "100",
		"LOGIN_FAILURE_WINDOW":        "1h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ReuseGrace != time.Minute || len(c.TrustedProxies) != 2 || c.RedisPrefix != "tenant-a:" ||
		c.LoginPerUser != (auth.Limit{Max: 3, Window: time.Hour}) || c.LoginPerIP != (auth.Limit{Max: 100, Window: time.Hour}) {
		t.Fatalf("set: grace %v, proxies %v, prefix %q, limits %v %v", c.ReuseGrace, c.TrustedProxies, c.RedisPrefix, c.LoginPerUser, c.LoginPerIP)
	}

	for name, env := range map[string]map[string]string{
		"REFRESH_REUSE_GRACE":         {"REFRESH_REUSE_GRACE": "61s"},
		"TRUSTED_PROXIES":             {"TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"},
		"REDIS_URL":                   {"REDIS_URL": "http://user:hunter2@redis:6379"},
		"LOGIN_MAX_FAILURES_PER_USER": {"LOGIN_MAX_FAILURES_PER_USER": "0"},
		"LOGIN_MAX_FAILURES_PER_IP":   {"LOGIN_MAX_FAILURES_PER_IP": "many"},
		"LOGIN_FAILURE_WINDOW":        {"LOGIN_FAILURE_WINDOW": "0s"},
	} {
		_, err := LoadConfig(mapEnv(env))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("LoadConfig(%v) error = %v, want one naming %s", env, err, name)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error message leaks the Redis password: %v", err)
		}
	}
}

func TestLoadConfigSignup(t *testing.T) {
	prod := map[string]string{"APP_ENV": "production", "DATABASE_URL": "postgres://u@db/x", "JWT_SECRET": strings.Repeat("k", 32)}
	with := func(base map[string]string, k, v string) map[string]string {
		m := map[string]string{k: v}
		for bk, bv := range base {
			m[bk] = bv
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		signup  bool
		minLen  int
		wantErr string
	}{
		{"development defaults", nil, true, 8, ""},
		{"production defaults", prod, false, 8, ""},
		{"production opened", with(prod, "SIGNUP_ENABLED", "true"), true, 8, ""},
		{"development closed", map[string]string{"SIGNUP_ENABLED": "false"}, false, 8, ""},
		{"longer passwords", map[string]string{"PASSWORD_MIN_LENGTH": "12"}, true, 12, ""},
		{"bad SIGNUP_ENABLED", map[string]string{"SIGNUP_ENABLED": "sometimes"}, false, 0, "SIGNUP_ENABLED"},
		{"PASSWORD_MIN_LENGTH below 8", map[string]string{"PASSWORD_MIN_LENGTH": "6"}, false, 0, "PASSWORD_MIN_LENGTH"},
		{"PASSWORD_MIN_LENGTH not a number", map[string]string{"PASSWORD_MIN_LENGTH": "ten"}, false, 0, "PASSWORD_MIN_LENGTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(mapEnv(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadConfig() error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || c.SignupEnabled != tt.signup || c.MinPasswordLen != tt.minLen {
				t.Fatalf("LoadConfig() = signup %v, min %d, %v; want %v, %d", c.SignupEnabled, c.MinPasswordLen, err, tt.signup, tt.minLen)
			}
		})
	}
}

func TestPprofAddr(t *testing.T) {
	cases := []struct {
		name, value, want, wantErr string
	}{
		{name: "unset", value: "", want: ""},
		{name: "ipv4 loopback", value: "127.0.0.1:6060", want: "127.0.0.1:6060"},
		{name: "ipv6 loopback", value: "[::1]:6060", want: "[::1]:6060"},
		{name: "localhost", value: "localhost:6060", want: "localhost:6060"},
		{name: "all interfaces", value: ":6060", wantErr: "PPROF_ADDR"},
		{name: "public address", value: "0.0.0.0:6060", wantErr: "PPROF_ADDR"},
		{name: "other host", value: "10.0.0.5:6060", wantErr: "PPROF_ADDR"},
		{name: "no port", value: "127.0.0.1", wantErr: "PPROF_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(mapEnv(map[string]string{"PPROF_ADDR": tc.value}))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadConfig(PPROF_ADDR=%q) error = %v, want one naming %s", tc.value, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig(PPROF_ADDR=%q) error = %v", tc.value, err)
			}
			if c.PprofAddr != tc.want {
				t.Fatalf("PprofAddr = %q, want %q", c.PprofAddr, tc.want)
			}
		})
	}
}
