package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
)

func TestLoadConfigSessions(t *testing.T) {
	c, err := loadConfig(mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ReuseGrace != 0 || c.TrustedProxies != nil || c.RedisURL != "" || c.RedisPrefix != "ironclad:" ||
		c.LoginPerUser != auth.DefaultPerUser || c.LoginPerIP != auth.DefaultPerIP ||
		auth.DefaultPerUser != (auth.Limit{Max: 5, Window: 15 * time.Minute}) || auth.DefaultPerIP != (auth.Limit{Max: 50, Window: 15 * time.Minute}) {
		t.Fatalf("defaults: grace %v, proxies %v, redis %q %q, limits %v %v", c.ReuseGrace, c.TrustedProxies, c.RedisURL, c.RedisPrefix, c.LoginPerUser, c.LoginPerIP)
	}

	c, err = loadConfig(mapEnv(map[string]string{
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
		_, err := loadConfig(mapEnv(env))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("loadConfig(%v) error = %v, want one naming %s", env, err, name)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error message leaks the Redis password: %v", err)
		}
	}
}
