package main

import (
	"strings"
	"testing"
	"time"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(mapEnv(nil))
	if err != nil {
		t.Fatalf("loadConfig(empty) error = %v", err)
	}
	if c.Addr != ":8080" || c.AccessTTL != 5*time.Minute || c.RefreshTTL != 7*24*time.Hour ||
		c.SessionMaxAge != 30*24*time.Hour || !c.Playground || c.Production || c.DatabaseURL != "data/ironclad.db" {
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
		check   func(t *testing.T, c config)
	}{
		{name: "durations", env: map[string]string{"ACCESS_TOKEN_TTL": "90s", "REFRESH_TOKEN_TTL": "12h", "SESSION_MAX_AGE": "48h"},
			check: func(t *testing.T, c config) {
				if c.AccessTTL != 90*time.Second || c.RefreshTTL != 12*time.Hour || c.SessionMaxAge != 48*time.Hour {
					t.Fatalf("got %v %v %v", c.AccessTTL, c.RefreshTTL, c.SessionMaxAge)
				}
			}},
		{name: "bad duration", env: map[string]string{"ACCESS_TOKEN_TTL": "five minutes"}, wantErr: "ACCESS_TOKEN_TTL"},
		{name: "zero duration", env: map[string]string{"REFRESH_TOKEN_TTL": "0s"}, wantErr: "REFRESH_TOKEN_TTL"},
		{name: "bad playground", env: map[string]string{"PLAYGROUND": "maybe"}, wantErr: "PLAYGROUND"},
		{name: "production without secret", env: map[string]string{"APP_ENV": "production", "DATABASE_URL": pg}, wantErr: "JWT_SECRET"},
		{name: "production with a short secret", env: map[string]string{"APP_ENV": "production", "DATABASE_URL": pg, "JWT_SECRET": strong[:31]}, wantErr: "JWT_SECRET"},
		{name: "production without postgres", env: map[string]string{"APP_ENV": "production", "JWT_SECRET": strong}, wantErr: "DATABASE_URL"},
		{name: "production", env: map[string]string{"APP_ENV": "production", "DATABASE_URL": pg, "JWT_SECRET": strong},
			check: func(t *testing.T, c config) {
				if !c.Production || c.Playground {
					t.Fatalf("production = %v, playground = %v; want true, false", c.Production, c.Playground)
				}
			}},
		{name: "production with playground", env: map[string]string{"APP_ENV": "production", "DATABASE_URL": pg, "JWT_SECRET": strong, "PLAYGROUND": "true"},
			check: func(t *testing.T, c config) {
				if !c.Playground {
					t.Fatal("PLAYGROUND=true ignored")
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(mapEnv(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadConfig() error = %v, want one naming %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), strong[:31]) {
					t.Fatal("error message contains the secret")
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig() error = %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestDevelopmentSecretSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c1, err := loadConfig(mapEnv(map[string]string{"DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.ensureSecret(); err != nil || c1.JWTSecretSource != "generated" || len(c1.JWTSecret) < minSecretLen {
		t.Fatalf("ensureSecret() = %v, source %q, %d bytes", err, c1.JWTSecretSource, len(c1.JWTSecret))
	}
	c2, _ := loadConfig(mapEnv(map[string]string{"DATA_DIR": dir}))
	if err := c2.ensureSecret(); err != nil || string(c2.JWTSecret) != string(c1.JWTSecret) || c2.JWTSecretSource != "file" {
		t.Fatalf("second start: err %v, source %q, same secret %v", err, c2.JWTSecretSource, string(c2.JWTSecret) == string(c1.JWTSecret))
	}
}

func TestProductionRefusesToStart(t *testing.T) {
	err := run(t.Context(), nil, mapEnv(map[string]string{"APP_ENV": "production", "JWT_SECRET": "short"}), nil, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Fatalf("run() in production with a weak secret = %v, want an error naming JWT_SECRET", err)
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
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", env: map[string]string{}, check: func(t *testing.T, c config) {
			if len(c.CORSAllowedOrigins) != 0 || c.RefreshTokenCookie || !c.CookieSecure {
				t.Fatalf("origins %q, cookie %v, secure %v; want none, false, true", c.CORSAllowedOrigins, c.RefreshTokenCookie, c.CookieSecure)
			}
		}},
		{name: "origins", env: map[string]string{"CORS_ALLOWED_ORIGINS": " https://App.example.com, http://localhost:5173/ ,"},
			check: func(t *testing.T, c config) {
				if strings.Join(c.CORSAllowedOrigins, " ") != "https://app.example.com http://localhost:5173" {
					t.Fatalf("origins = %q", c.CORSAllowedOrigins)
				}
			}},
		{name: "wildcard", env: map[string]string{"CORS_ALLOWED_ORIGINS": "*"}, wantErr: "CORS_ALLOWED_ORIGINS"},
		{name: "wildcard subdomain", env: map[string]string{"CORS_ALLOWED_ORIGINS": "https://*.example.com"}, wantErr: "CORS_ALLOWED_ORIGINS"},
		{name: "path", env: map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com/login"}, wantErr: "CORS_ALLOWED_ORIGINS"},
		{name: "no scheme", env: map[string]string{"CORS_ALLOWED_ORIGINS": "app.example.com"}, wantErr: "CORS_ALLOWED_ORIGINS"},
		{name: "cookie mode", env: map[string]string{"REFRESH_TOKEN_COOKIE": "true", "COOKIE_SECURE": "false"},
			check: func(t *testing.T, c config) {
				if !c.RefreshTokenCookie || c.CookieSecure {
					t.Fatalf("cookie %v, secure %v", c.RefreshTokenCookie, c.CookieSecure)
				}
			}},
		{name: "bad cookie flag", env: map[string]string{"REFRESH_TOKEN_COOKIE": "yes please"}, wantErr: "REFRESH_TOKEN_COOKIE"},
		{name: "insecure cookie in production", env: prod(map[string]string{"COOKIE_SECURE": "false"}), wantErr: "COOKIE_SECURE"},
		{name: "secure cookie in production", env: prod(map[string]string{"REFRESH_TOKEN_COOKIE": "true"}),
			check: func(t *testing.T, c config) {
				if !c.RefreshTokenCookie || !c.CookieSecure {
					t.Fatalf("cookie %v, secure %v", c.RefreshTokenCookie, c.CookieSecure)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(mapEnv(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadConfig() error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig() error = %v", err)
			}
			tc.check(t, c)
		})
	}
}
