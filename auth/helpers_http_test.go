package auth_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// GraphQL documents of the session, token and password operations.
const (
	logoutMutation        = `mutation($t: String!) { logout(refreshToken: $t) }`
	logoutAllMutation     = `mutation { logoutAll }`
	revokeSessionMutation = `mutation($id: ID!) { revokeSession(id: $id) }`
	verifyTokenMutation   = `mutation($t: String!) { verifyToken(token: $t) { valid reason tokenType subject expiresAt } }`
	changePasswordMut     = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { ` + apptest.PayloadFields + ` } }`
	sessionsQuery         = `{ sessions { id createdAt lastUsedAt expiresAt userAgent ip current } }`
)

// str shows an optional string of a graph/model type; "<nil>" when absent.
func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// retryAfter returns extensions.retryAfter of the first error, or -1.
func retryAfter(r apptest.Response) float64 {
	if len(r.Errors) == 0 {
		return -1
	}
	v, ok := r.Errors[0].Extensions["retryAfter"].(float64)
	if !ok {
		return -1
	}
	return v
}

// limiterBackends returns "memory" always and "redis" when TEST_REDIS_URL
// is set.
func limiterBackends() []string {
	if os.Getenv("TEST_REDIS_URL") == "" {
		return []string{"memory"}
	}
	return []string{"memory", "redis"}
}

// forEachLimiterBackend runs fn in a subtest per login-limiter backend
// (limiterBackends) and, inside it, per database kind (storetest.Kinds),
// each with a fresh server configured by mutate; for "redis" the server
// counts in TEST_REDIS_URL under a key prefix of its own.
func forEachLimiterBackend(t *testing.T, fn func(t *testing.T, e *apptest.Env), mutate ...func(*app.Config)) {
	t.Helper()
	for _, backend := range limiterBackends() {
		t.Run(backend, func(t *testing.T) {
			for _, kind := range storetest.Kinds() {
				t.Run(kind, func(t *testing.T) {
					e := apptest.Open(t, kind, append([]func(*app.Config){backendConfig(t, backend)}, mutate...)...)
					closeRedis(e)
					fn(t, e)
				})
			}
		})
	}
}

// backendConfig returns the config mutator for a limiter backend: for
// "redis", TEST_REDIS_URL under a key prefix of the test's own.
func backendConfig(t *testing.T, backend string) func(*app.Config) {
	t.Helper()
	if backend == "redis" {
		return sharedRedisPrefix(t, os.Getenv("TEST_REDIS_URL"))
	}
	return func(*app.Config) {}
}

// sharedRedisPrefix returns a mutator giving every server built with it
// the same private key prefix, cleared when the test ends.
func sharedRedisPrefix(t *testing.T, url string) func(*app.Config) {
	t.Helper()
	prefix := "ironclad-test:" + rand.Text() + ":"
	rdb := redisClient(t, url)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "rate:"+prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return func(c *app.Config) { c.RedisURL, c.RedisPrefix = url, prefix }
}

// redisClient connects to the Redis at url, closed when the test ends.
func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// closeRedis closes the server's Redis client when the test ends. The
// harness leaves the App open and the client is the App's own, so this
// closes the App; closing its store again afterwards (storetest, Pair) is
// harmless.
func closeRedis(e *apptest.Env) {
	if e.App.Limiter() == "redis" {
		e.T.Cleanup(e.App.Close)
	}
}
