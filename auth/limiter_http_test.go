package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestLoginLimiterPerUsername(t *testing.T) {
	forEachLimiterBackend(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		e.CreateUser("bob", apptest.Password, models.RoleUser)
		wrong := func(user string) apptest.Response {
			return e.Do("", apptest.LoginMutation, map[string]any{"u": user, "p": "wrong password"})
		}
		// Five failures, whatever the letter case: the store's folding.
		for _, u := range []string{"alice", "ALICE", "Alice", "alice", "aLiCe"} {
			apptest.WantError(t, wrong(u), "UNAUTHENTICATED", "invalid_credentials")
		}
		failed := e.Logs.Count(t, "login_failed")
		// Over the limit: refused without hashing, even the right password.
		for _, u := range []string{"alice", "ALICE"} {
			r := e.Do("", apptest.LoginMutation, map[string]any{"u": u, "p": apptest.Password})
			apptest.WantError(t, r, "TOO_MANY_REQUESTS", "")
			if ra := retryAfter(r); ra < 1 || ra > 180 {
				t.Errorf("retryAfter = %v, want 1..180 seconds (one attempt regenerates every 3 minutes)", ra)
			}
		}
		if n := e.Logs.Count(t, "login_failed"); n != failed {
			t.Errorf("refused logins were checked: %d more login_failed events", n-failed)
		}
		if n := e.Logs.Count(t, "login_rate_limited"); n != 2 {
			t.Errorf("want 2 login_rate_limited events, got %d", n)
		}
		// Another username from the same IP is not affected.
		e.Login("bob", apptest.Password)
		// Unknown usernames are limited alike: no enumeration through the limiter.
		for range 5 {
			apptest.WantError(t, wrong("nobody"), "UNAUTHENTICATED", "invalid_credentials")
		}
		apptest.WantError(t, wrong("nobody"), "TOO_MANY_REQUESTS", "")
	})
}

// TestLoginLimiterWindow drives the in-memory limiter's window with the test
// clock (redis_rate counts on the Redis server's clock, which a test cannot
// move; the Redis tests check the limits instead).
func TestLoginLimiterWindow(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		wrong := func() apptest.Response {
			return e.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": "wrong password"})
		}
		for range 5 {
			apptest.WantError(t, wrong(), "UNAUTHENTICATED", "invalid_credentials")
		}
		r := wrong()
		apptest.WantError(t, r, "TOO_MANY_REQUESTS", "")
		if ra := retryAfter(r); ra != 180 {
			t.Fatalf("retryAfter = %v, want 180", ra)
		}
		e.Clock.Advance(179 * time.Second)
		apptest.WantError(t, wrong(), "TOO_MANY_REQUESTS", "")
		// One attempt regenerates every window/limit = 3 minutes.
		e.Clock.Advance(time.Second)
		apptest.WantError(t, wrong(), "UNAUTHENTICATED", "invalid_credentials")
		apptest.WantError(t, wrong(), "TOO_MANY_REQUESTS", "")

		// A full window later every attempt is back; a success clears them all.
		e.Clock.Advance(15 * time.Minute)
		for range 4 {
			apptest.WantError(t, wrong(), "UNAUTHENTICATED", "invalid_credentials")
		}
		e.Login("alice", apptest.Password)
		for range 5 {
			apptest.WantError(t, wrong(), "UNAUTHENTICATED", "invalid_credentials")
		}
		apptest.WantError(t, wrong(), "TOO_MANY_REQUESTS", "")
	})
}

func TestLoginLimiterPerIP(t *testing.T) {
	forEachLimiterBackend(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		login := func(remoteAddr, user, password string) apptest.Response {
			return e.Send(apptest.Request{Query: apptest.LoginMutation, Vars: map[string]any{"u": user, "p": password}, RemoteAddr: remoteAddr})
		}
		const attacker = "203.0.113.5:4000"
		// Successful logins do not use up the IP's allowance.
		for range 10 {
			apptest.MustOK(t, login(attacker, "alice", apptest.Password))
		}
		// Spraying usernames: each stays under its own limit, the IP does not.
		for i := range 8 {
			apptest.WantError(t, login(attacker, fmt.Sprintf("user%d", i), "guess"), "UNAUTHENTICATED", "invalid_credentials")
		}
		r := login(attacker, "alice", apptest.Password)
		apptest.WantError(t, r, "TOO_MANY_REQUESTS", "")
		if ra := retryAfter(r); ra < 1 || ra > 15*60/8+1 {
			t.Errorf("retryAfter = %v, want 1..%d", ra, 15*60/8+1)
		}
		// Another address in the same IPv6 /64 is the same client...
		v6 := func(addr string) string { return "[" + addr + "]:4000" }
		for i := range 8 {
			apptest.WantError(t, login(v6(fmt.Sprintf("2001:db8:1:2::%x", i+1)), fmt.Sprintf("v6user%d", i), "guess"), "UNAUTHENTICATED", "invalid_credentials")
		}
		apptest.WantError(t, login(v6("2001:db8:1:2::ffff"), "alice", apptest.Password), "TOO_MANY_REQUESTS", "")
		// ...and other clients are unaffected.
		apptest.MustOK(t, login("198.51.100.9:4000", "alice", apptest.Password))
		apptest.MustOK(t, login(v6("2001:db8:1:3::1"), "alice", apptest.Password))
	}, func(c *app.Config) { c.LoginPerIP.Max = 8 })
}

// TestLoginLimiterSharedRedis: two handlers (replicas) sharing one Redis
// share the counts.
func TestLoginLimiterSharedRedis(t *testing.T) {
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		t.Skip("TEST_REDIS_URL is not set")
	}
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind, sharedRedisPrefix(t, url))
			closeRedis(a)
			closeRedis(b)
			a.CreateUser("alice", apptest.Password, models.RoleUser)
			envs := []*apptest.Env{a, b}
			for i := range 5 {
				apptest.WantError(t, envs[i%2].Do("", apptest.LoginMutation, map[string]any{"u": "Alice", "p": "wrong password"}), "UNAUTHENTICATED", "invalid_credentials")
			}
			for name, env := range map[string]*apptest.Env{"first": a, "second": b} {
				r := env.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": apptest.Password})
				apptest.WantError(t, r, "TOO_MANY_REQUESTS", "")
				if ra := retryAfter(r); ra < 1 || ra > 180 {
					t.Errorf("%s handler: retryAfter = %v, want 1..180", name, ra)
				}
			}
			// The keys hold no username.
			keys, err := redisClient(t, url).Keys(context.Background(), "*"+a.App.Config.RedisPrefix+"*").Result()
			if err != nil || len(keys) == 0 {
				t.Fatalf("Redis keys under the test prefix: %v, %v", keys, err)
			}
			for _, k := range keys {
				if strings.Contains(strings.ToLower(k), "alice") {
					t.Errorf("Redis key %q holds the username", k)
				}
			}
		})
	}
}

// TestLoginLimiterRedisDown: with Redis unreachable the limiter counts in
// memory and says so; it never stops limiting.
func TestLoginLimiterRedisDown(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		closeRedis(e)
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		for range 5 {
			apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": "wrong password"}), "UNAUTHENTICATED", "invalid_credentials")
		}
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": apptest.Password}), "TOO_MANY_REQUESTS", "")
		if n := e.Logs.Count(t, "rate_limiter_fallback"); n != 1 {
			t.Errorf("%d rate_limiter_fallback events, want 1 (logged when Redis starts failing)", n)
		}
	}, func(c *app.Config) { c.RedisURL = "redis://127.0.0.1:1/0" })
}

// TestCredentialFieldsPerOperation: aliases and batches cannot multiply
// guesses, and a refused operation hashes nothing and counts nothing.
func TestCredentialFieldsPerOperation(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		p := e.Login("alice", apptest.Password)

		var logins, changes strings.Builder
		logins.WriteString("mutation {")
		changes.WriteString("mutation {")
		for i := range 100 {
			fmt.Fprintf(&logins, ` a%d: login(username: "alice", password: "guess%d") { accessToken }`, i, i)
			fmt.Fprintf(&changes, ` c%d: changePassword(currentPassword: "guess%d", newPassword: "whatever123") { accessToken }`, i, i)
		}
		logins.WriteString(" }")
		changes.WriteString(" }")
		for name, r := range map[string]apptest.Response{
			"100 aliased logins":          e.Do("", logins.String(), nil),
			"100 aliased changePasswords": e.Do(apptest.Bearer(p.AccessToken), changes.String(), nil),
		} {
			if code, _ := r.Code(); code != "BAD_USER_INPUT" || strings.Contains(r.Body, `"accessToken":"`) {
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			}
		}
		// A JSON batch of operations is not executed either.
		one, _ := json.Marshal(map[string]any{"query": apptest.LoginMutation, "variables": map[string]any{"u": "alice", "p": "guess"}})
		batch := "[" + strings.TrimSuffix(strings.Repeat(string(one)+",", 100), ",") + "]"
		req := httptest.NewRequest(http.MethodPost, app.GraphQLPath, strings.NewReader(batch))
		req.Header.Set("Content-Type", "application/json")
		if r := e.Serve(req); strings.Contains(r.Body, `"accessToken":"`) || len(r.Errors) == 0 && r.Status == http.StatusOK {
			t.Errorf("a batch of 100 logins: %d %s", r.Status, r.Body)
		}

		if n := e.Logs.Count(t, "login_failed") + e.Logs.Count(t, "password_change_failed"); n != 0 {
			t.Errorf("refused operations checked %d passwords, want 0", n)
		}
		// Nothing was counted: all five attempts remain.
		for range 5 {
			apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": "wrong password"}), "UNAUTHENTICATED", "invalid_credentials")
		}
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": "wrong password"}), "TOO_MANY_REQUESTS", "")
	})
}

// TestChangePasswordLimited: wrong current passwords count against the
// username like failed logins, so a stolen access token cannot guess it.
func TestChangePasswordLimited(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		p := e.Login("alice", apptest.Password)
		for range 5 {
			apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), changePasswordMut, map[string]any{"c": "guess", "n": "new password 1"}), "UNAUTHENTICATED", "invalid_credentials")
		}
		apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), changePasswordMut, map[string]any{"c": apptest.Password, "n": "new password 1"}), "TOO_MANY_REQUESTS", "")
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": apptest.Password}), "TOO_MANY_REQUESTS", "")
	})
}
