package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

const (
	logoutMutation        = `mutation($t: String!) { logout(refreshToken: $t) }`
	logoutAllMutation     = `mutation { logoutAll }`
	revokeSessionMutation = `mutation($id: ID!) { revokeSession(id: $id) }`
	verifyTokenMutation   = `mutation($t: String!) { verifyToken(token: $t) { valid reason tokenType subject expiresAt } }`
	changePasswordMut     = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { ` + payloadFields + ` } }`
	sessionsQuery         = `{ sessions { id createdAt lastUsedAt expiresAt userAgent ip current } }`
	pw                    = "correct horse battery"
)

// request describes one GraphQL call from a particular client.
type request struct {
	remoteAddr string // default: httptest's 192.0.2.1:1234
	userAgent  string // default: ironclad-test
	xff        string // X-Forwarded-For, when set
	authz      string
}

// call posts one GraphQL operation through the real handler as client rq.
func (e *testEnv) call(rq request, query string, vars map[string]any) gqlResponse {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		e.t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ironclad-test")
	if rq.userAgent != "" {
		req.Header.Set("User-Agent", rq.userAgent)
	}
	if rq.remoteAddr != "" {
		req.RemoteAddr = rq.remoteAddr
	}
	if rq.xff != "" {
		req.Header.Set("X-Forwarded-For", rq.xff)
	}
	if rq.authz != "" {
		req.Header.Set("Authorization", rq.authz)
	}
	return e.serve(req)
}

// decodeOK fails unless r succeeded and unmarshals its data field.
func decodeOK[T any](t *testing.T, r gqlResponse, field string) T {
	t.Helper()
	mustOK(t, r)
	var v T
	if err := json.Unmarshal(r.Data[field], &v); err != nil {
		t.Fatalf("decode %s: %v; body %s", field, err, r.Body)
	}
	return v
}

type sessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	UserAgent  *string   `json:"userAgent"`
	IP         *string   `json:"ip"`
	Current    bool      `json:"current"`
}

type tokenInfoView struct {
	Valid     bool       `json:"valid"`
	Reason    *string    `json:"reason"`
	TokenType *string    `json:"tokenType"`
	Subject   *string    `json:"subject"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

// events returns the auth event records logged so far, in order.
func (e *testEnv) events() []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			e.t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		if _, ok := rec["event"]; ok {
			out = append(out, rec)
		}
	}
	return out
}

// countEvents returns how many records of event were logged.
func (e *testEnv) countEvents(event string) int {
	n := 0
	for _, rec := range e.events() {
		if rec["event"] == event {
			n++
		}
	}
	return n
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestLogout(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("alice", pw, models.RoleUser)
		a := e.login("alice", pw)
		b := e.login("alice", pw)
		mustOK(t, e.do(bearer(a.AccessToken), meQuery, nil))

		if ok := decodeOK[bool](t, e.do("", logoutMutation, map[string]any{"t": a.RefreshToken}), "logout"); !ok {
			t.Fatal("logout = false, want true")
		}
		// The session's access token is refused on the very next request.
		wantError(t, e.do(bearer(a.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
		wantError(t, e.refresh(a.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		// The other session lives on.
		mustOK(t, e.do(bearer(b.AccessToken), meQuery, nil))

		for name, tok := range map[string]string{
			"the same token again": a.RefreshToken,
			"an unknown token":     otherToken(b.RefreshToken),
			"an empty token":       "",
			"an access token":      b.AccessToken,
			"an over-long token":   strings.Repeat("x", 5000),
		} {
			if ok := decodeOK[bool](t, e.do("", logoutMutation, map[string]any{"t": tok}), "logout"); !ok {
				t.Errorf("logout(%s) = false, want true", name)
			}
		}
		mustOK(t, e.do(bearer(b.AccessToken), meQuery, nil))
		if n := e.countEvents("logout"); n != 1 {
			t.Errorf("%d logout events, want 1 (only the session that ended)", n)
		}

		// A rotated token still names its session: logging out with it ends it.
		r := e.refresh(b.RefreshToken)
		b2 := r.payload(t, "refreshToken")
		decodeOK[bool](t, e.do("", logoutMutation, map[string]any{"t": b.RefreshToken}), "logout")
		wantError(t, e.do(bearer(b2.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
	})
}

func TestLogoutAll(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("alice", pw, models.RoleUser)
		e.createUser("bob", pw, models.RoleUser)
		mine := []payload{e.login("alice", pw), e.login("alice", pw), e.login("alice", pw)}
		bob := e.login("bob", pw)

		wantError(t, e.do("", logoutAllMutation, nil), "UNAUTHENTICATED", "missing_token")
		if n := decodeOK[int](t, e.do(bearer(mine[0].AccessToken), logoutAllMutation, nil), "logoutAll"); n != 3 {
			t.Fatalf("logoutAll = %d, want 3", n)
		}
		for _, p := range mine {
			wantError(t, e.do(bearer(p.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
			wantError(t, e.refresh(p.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		}
		mustOK(t, e.do(bearer(bob.AccessToken), meQuery, nil))
		// Logging in again starts afresh.
		again := e.login("alice", pw)
		if n := decodeOK[int](t, e.do(bearer(again.AccessToken), logoutAllMutation, nil), "logoutAll"); n != 1 {
			t.Fatalf("second logoutAll = %d, want 1", n)
		}
	})
}

func TestRevokeSession(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("alice", pw, models.RoleUser)
		e.createUser("bob", pw, models.RoleUser)
		cur := e.login("alice", pw)
		other := e.login("alice", pw)
		bob := e.login("bob", pw)
		revoke := func(id string) bool {
			t.Helper()
			return decodeOK[bool](t, e.do(bearer(cur.AccessToken), revokeSessionMutation, map[string]any{"id": id}), "revokeSession")
		}

		wantError(t, e.do("", revokeSessionMutation, map[string]any{"id": sessionOf(t, other.AccessToken)}), "UNAUTHENTICATED", "missing_token")
		// Another user's session behaves like an unknown one, and survives.
		if revoke(sessionOf(t, bob.AccessToken)) {
			t.Error("revokeSession(another user's session) = true, want false")
		}
		mustOK(t, e.do(bearer(bob.AccessToken), meQuery, nil))
		mustOK(t, e.refresh(bob.RefreshToken))
		for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", strings.Repeat("z", 500)} {
			if revoke(id) {
				t.Errorf("revokeSession(%.20q) = true, want false", id)
			}
		}

		if !revoke(sessionOf(t, other.AccessToken)) {
			t.Fatal("revokeSession(own other session) = false, want true")
		}
		wantError(t, e.do(bearer(other.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
		wantError(t, e.refresh(other.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		if revoke(sessionOf(t, other.AccessToken)) {
			t.Error("revokeSession(already ended) = true, want false")
		}
		mustOK(t, e.do(bearer(cur.AccessToken), meQuery, nil))

		// The current session can end itself.
		if !revoke(sessionOf(t, cur.AccessToken)) {
			t.Fatal("revokeSession(current) = false, want true")
		}
		wantError(t, e.do(bearer(cur.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
	})
}

func TestSessionsQuery(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("alice", pw, models.RoleUser)
		e.createUser("bob", pw, models.RoleUser)
		login := func(rq request, user string) payload {
			t.Helper()
			return decodeOK[payload](t, e.call(rq, loginMutation, map[string]any{"u": user, "p": pw}), "login")
		}
		laptop := login(request{remoteAddr: "198.51.100.1:5000", userAgent: "laptop"}, "alice")
		e.clock.Advance(time.Minute)
		phone := login(request{remoteAddr: "198.51.100.2:5000", userAgent: "phone"}, "alice")
		gone := login(request{}, "alice")
		login(request{}, "bob")
		decodeOK[bool](t, e.do("", logoutMutation, map[string]any{"t": gone.RefreshToken}), "logout")

		// The phone refreshes from elsewhere: the list shows the last refresh.
		e.clock.Advance(time.Minute)
		phone = decodeOK[payload](t, e.call(request{remoteAddr: "[2001:db8::7]:443", userAgent: "phone/2"}, refreshMutation, map[string]any{"t": phone.RefreshToken}), "refreshToken")

		wantError(t, e.do("", sessionsQuery, nil), "UNAUTHENTICATED", "missing_token")
		list := decodeOK[[]sessionView](t, e.do(bearer(laptop.AccessToken), sessionsQuery, nil), "sessions")
		if len(list) != 2 {
			t.Fatalf("sessions = %+v, want the phone and the laptop", list)
		}
		p, l := list[0], list[1]
		start := newClock().Now()
		if p.ID != sessionOf(t, phone.AccessToken) || p.Current || str(p.UserAgent) != "phone/2" || str(p.IP) != "2001:db8::7" ||
			!p.LastUsedAt.Equal(start.Add(2*time.Minute)) || !p.CreatedAt.Equal(start.Add(time.Minute)) {
			t.Errorf("phone session = %+v, want phone/2 from 2001:db8::7, last used after 2 minutes, not current", p)
		}
		if l.ID != sessionOf(t, laptop.AccessToken) || !l.Current || str(l.UserAgent) != "laptop" || str(l.IP) != "198.51.100.1" {
			t.Errorf("laptop session = %+v, want the current one, laptop from 198.51.100.1", l)
		}
		if want := start.Add(7 * 24 * time.Hour); !l.ExpiresAt.Equal(want) {
			t.Errorf("laptop expiresAt = %v, want %v (its refresh token's expiry)", l.ExpiresAt, want)
		}
	})
}

func TestVerifyToken(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		alice := e.createUser("alice", pw, models.RoleUser)
		gus := e.createUser("gus", pw, models.RoleUser)
		live := e.login("alice", pw)
		rotated := e.login("alice", pw)
		successor := e.refresh(rotated.RefreshToken).payload(t, "refreshToken")
		ended := e.login("alice", pw)
		decodeOK[bool](t, e.do("", logoutMutation, map[string]any{"t": ended.RefreshToken}), "logout")
		inactive := e.login("gus", pw)
		if _, err := st.SetUserActive(context.Background(), gus.ID, false, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		expiring := e.login("alice", pw)
		now := e.clock.Now()

		check := func(name, token string, valid bool, reason, typ, subject string) {
			t.Helper()
			r := e.do("", verifyTokenMutation, map[string]any{"t": token})
			info := decodeOK[tokenInfoView](t, r, "verifyToken")
			if info.Valid != valid || str(info.Reason) != reason || str(info.TokenType) != typ || str(info.Subject) != subject {
				t.Errorf("verifyToken(%s) = valid %v reason %s type %s subject %s; want %v %s %s %s",
					name, info.Valid, str(info.Reason), str(info.TokenType), str(info.Subject), valid, reason, typ, subject)
			}
			if (subject != "<nil>") != (info.ExpiresAt != nil) {
				t.Errorf("verifyToken(%s) expiresAt = %v, want one exactly for authentic tokens", name, info.ExpiresAt)
			}
		}
		check("live access", live.AccessToken, true, "<nil>", "access", alice.ID)
		check("live refresh", live.RefreshToken, true, "<nil>", "refresh", alice.ID)
		check("rotated refresh", rotated.RefreshToken, false, "refresh_token_reused", "refresh", alice.ID)
		check("ended session's access", ended.AccessToken, false, "session_revoked", "access", alice.ID)
		check("ended session's refresh", ended.RefreshToken, false, "session_revoked", "refresh", alice.ID)
		check("inactive user's access", inactive.AccessToken, false, "user_inactive", "access", gus.ID)
		check("inactive user's refresh", inactive.RefreshToken, false, "user_inactive", "refresh", gus.ID)
		check("unknown refresh", otherToken(live.RefreshToken), false, "invalid_token", "<nil>", "<nil>")
		check("garbage", "garbage", false, "invalid_token", "<nil>", "<nil>")
		check("malformed jwt", "a.b.c", false, "invalid_token", "<nil>", "<nil>")
		check("empty", "", false, "invalid_token", "<nil>", "<nil>")
		check("huge", strings.Repeat("a.", 5000), false, "invalid_token", "<nil>", "<nil>")

		info := decodeOK[tokenInfoView](t, e.do("", verifyTokenMutation, map[string]any{"t": live.AccessToken}), "verifyToken")
		if info.ExpiresAt == nil || !info.ExpiresAt.Equal(now.Add(5*time.Minute)) {
			t.Errorf("access expiresAt = %v, want %v", info.ExpiresAt, now.Add(5*time.Minute))
		}
		e.clock.Advance(10 * time.Minute)
		check("expired access", expiring.AccessToken, false, "token_expired", "access", alice.ID)
		e.clock.Advance(7 * 24 * time.Hour)
		check("expired refresh", expiring.RefreshToken, false, "refresh_token_expired", "refresh", alice.ID)

		// Inspecting a rotated token is not reuse: its successor still works.
		e.clock.Advance(-7*24*time.Hour - 10*time.Minute)
		mustOK(t, e.refresh(successor.RefreshToken))
	})
}

func TestChangePassword(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("alice", pw, models.RoleUser)
		e.createUser("bob", pw, models.RoleUser)
		cur := e.login("alice", pw)
		other := e.login("alice", pw)
		bob := e.login("bob", pw)
		const newPW = "a brand new passphrase"
		change := func(authz, current, next string) gqlResponse {
			t.Helper()
			return e.do(authz, changePasswordMut, map[string]any{"c": current, "n": next})
		}

		wantError(t, change("", pw, newPW), "UNAUTHENTICATED", "missing_token")
		wantError(t, change(bearer(cur.AccessToken), "wrong password", newPW), "UNAUTHENTICATED", "invalid_credentials")
		for name, tc := range map[string]struct{ current, next, field string }{
			"new too short":     {pw, "short", "newPassword"},
			"new over 1024":     {pw, strings.Repeat("p", 1025), "newPassword"},
			"current empty":     {"", newPW, "currentPassword"},
			"current over 1024": {strings.Repeat("p", 1025), newPW, "currentPassword"},
		} {
			r := change(bearer(cur.AccessToken), tc.current, tc.next)
			wantError(t, r, "BAD_USER_INPUT", "")
			if f := r.Errors[0].Extensions["field"]; f != tc.field {
				t.Errorf("%s: field = %v, want %s", name, f, tc.field)
			}
		}
		// Nothing changed so far.
		mustOK(t, e.do(bearer(other.AccessToken), meQuery, nil))

		fresh := decodeOK[payload](t, change(bearer(cur.AccessToken), pw, newPW), "changePassword")
		if sessionOf(t, fresh.AccessToken) != sessionOf(t, cur.AccessToken) {
			t.Error("changePassword started a new session; want a fresh pair for the current one")
		}
		// Every other session ends at once.
		wantError(t, e.do(bearer(other.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
		wantError(t, e.refresh(other.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		// The current session survives with its new pair; its old refresh token does not.
		mustOK(t, e.do(bearer(cur.AccessToken), meQuery, nil))
		mustOK(t, e.do(bearer(fresh.AccessToken), meQuery, nil))
		wantError(t, e.refresh(cur.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		mustOK(t, e.refresh(fresh.RefreshToken))
		// Other users are untouched; the old password is gone.
		mustOK(t, e.do(bearer(bob.AccessToken), meQuery, nil))
		wantError(t, e.do("", loginMutation, map[string]any{"u": "alice", "p": pw}), "UNAUTHENTICATED", "invalid_credentials")
		e.login("alice", newPW)
	})
}

// TestReuseGrace covers REFRESH_REUSE_GRACE with two handlers sharing one
// database, as two replicas would.
func TestReuseGrace(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			grace := func(cfg *config) { cfg.ReuseGrace = 10 * time.Second }
			a, b := replicaPair(t, kind, grace)
			a.createUser("alice", pw, models.RoleUser)

			t.Run("same successor within the window, from either replica", func(t *testing.T) {
				p0 := a.login("alice", pw)
				p1 := a.refresh(p0.RefreshToken).payload(t, "refreshToken")
				a.clock.Advance(9 * time.Second)
				for name, env := range map[string]*testEnv{"same handler": a, "second handler": b} {
					r := env.refresh(p0.RefreshToken)
					mustOK(t, r)
					again := r.payload(t, "refreshToken")
					if again.RefreshToken != p1.RefreshToken {
						t.Errorf("%s: refresh within the window gave another refresh token, want the same successor", name)
					}
					if again.AccessToken == p1.AccessToken || again.RefreshExpiresIn > p1.RefreshExpiresIn {
						t.Errorf("%s: want a fresh access token and the successor's remaining lifetime", name)
					}
					mustOK(t, env.do(bearer(again.AccessToken), meQuery, nil))
				}
				// The successor is the session's current token and rotates normally.
				mustOK(t, b.refresh(p1.RefreshToken))
			})

			t.Run("older than the previous token is reuse", func(t *testing.T) {
				p0 := a.login("alice", pw)
				p1 := a.refresh(p0.RefreshToken).payload(t, "refreshToken")
				p2 := b.refresh(p1.RefreshToken).payload(t, "refreshToken")
				wantError(t, a.refresh(p0.RefreshToken), "UNAUTHENTICATED", "refresh_token_reused")
				wantError(t, a.do(bearer(p2.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
				wantError(t, a.refresh(p2.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
			})

			t.Run("older than the previous token is reuse, even after a rotation by a replica without grace", func(t *testing.T) {
				// A rolling change of REFRESH_REUSE_GRACE: the next rotation
				// happens on a replica that keeps nothing, so the first
				// token's kept successor is not cleared by it.
				off := newTestEnv(t, b.app.store, a.clock)
				p0 := a.login("alice", pw)
				p1 := a.refresh(p0.RefreshToken).payload(t, "refreshToken")
				p2 := off.refresh(p1.RefreshToken).payload(t, "refreshToken")
				wantError(t, a.refresh(p0.RefreshToken), "UNAUTHENTICATED", "refresh_token_reused")
				wantError(t, a.do(bearer(p2.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
			})

			t.Run("after the window is reuse", func(t *testing.T) {
				p0 := a.login("alice", pw)
				p1 := a.refresh(p0.RefreshToken).payload(t, "refreshToken")
				a.clock.Advance(10 * time.Second)
				wantError(t, b.refresh(p0.RefreshToken), "UNAUTHENTICATED", "refresh_token_reused")
				wantError(t, a.do(bearer(p1.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
			})

			t.Run("parallel refreshes of one token all get the same successor", func(t *testing.T) {
				p0 := a.login("alice", pw)
				const n = 10
				results := refreshConcurrently([]*testEnv{a, b}, p0.RefreshToken, n)
				seen := map[string]bool{}
				for _, r := range results {
					mustOK(t, r)
					seen[r.payload(t, "refreshToken").RefreshToken] = true
				}
				if len(seen) != 1 {
					t.Fatalf("%d parallel refreshes gave %d different refresh tokens, want 1", n, len(seen))
				}
			})

			t.Run("the successor is not stored in plain text", func(t *testing.T) {
				p0 := a.login("alice", pw)
				p1 := a.refresh(p0.RefreshToken).payload(t, "refreshToken")
				var kept [][]byte
				if err := a.app.store.DB().Raw("SELECT successor_sealed FROM refresh_tokens WHERE successor_sealed IS NOT NULL").Scan(&kept).Error; err != nil {
					t.Fatal(err)
				}
				if len(kept) == 0 {
					t.Fatal("no sealed successor stored")
				}
				for _, k := range kept {
					if bytes.Contains(k, []byte(p1.RefreshToken)) {
						t.Fatal("the successor refresh token is stored in plain text")
					}
				}
			})
		})
	}
}

// limiterBackends returns "memory" always and "redis" when TEST_REDIS_URL
// is set.
func limiterBackends() []string {
	if os.Getenv("TEST_REDIS_URL") == "" {
		return []string{"memory"}
	}
	return []string{"memory", "redis"}
}

// backendConfig returns the config mutator for a limiter backend: for
// "redis", TEST_REDIS_URL under a key prefix of the test's own.
func backendConfig(t *testing.T, backend string) func(*config) {
	t.Helper()
	if backend == "redis" {
		return sharedRedisPrefix(t, os.Getenv("TEST_REDIS_URL"))
	}
	return func(*config) {}
}

// sharedRedisPrefix returns a mutator giving every environment built with it
// the same private key prefix, cleared when the test ends.
func sharedRedisPrefix(t *testing.T, url string) func(*config) {
	t.Helper()
	prefix := "ironclad-test:" + rand.Text() + ":"
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() {
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "rate:"+prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return func(c *config) { c.RedisURL, c.RedisPrefix = url, prefix }
}

// closeRedis closes the environment's Redis client with the test.
func closeRedis(e *testEnv) {
	if e.app.redis != nil {
		e.t.Cleanup(func() { e.app.redis.Close() })
	}
}

// retryAfter returns extensions.retryAfter of the first error, or -1.
func retryAfter(r gqlResponse) float64 {
	if len(r.Errors) == 0 {
		return -1
	}
	v, ok := r.Errors[0].Extensions["retryAfter"].(float64)
	if !ok {
		return -1
	}
	return v
}

func TestLoginLimiterPerUsername(t *testing.T) {
	for _, backend := range limiterBackends() {
		t.Run(backend, func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, st *store.Store) {
				mutate := backendConfig(t, backend)
				e := newTestEnv(t, st, nil, mutate)
				closeRedis(e)
				e.createUser("alice", pw, models.RoleUser)
				e.createUser("bob", pw, models.RoleUser)
				wrong := func(user string) gqlResponse {
					return e.do("", loginMutation, map[string]any{"u": user, "p": "wrong password"})
				}
				// Five failures, whatever the letter case: the store's folding.
				for _, u := range []string{"alice", "ALICE", "Alice", "alice", "aLiCe"} {
					wantError(t, wrong(u), "UNAUTHENTICATED", "invalid_credentials")
				}
				failed := e.countEvents("login_failed")
				// Over the limit: refused without hashing, even the right password.
				for _, u := range []string{"alice", "ALICE"} {
					r := e.do("", loginMutation, map[string]any{"u": u, "p": pw})
					wantError(t, r, "TOO_MANY_REQUESTS", "")
					if ra := retryAfter(r); ra < 1 || ra > 180 {
						t.Errorf("retryAfter = %v, want 1..180 seconds (one attempt regenerates every 3 minutes)", ra)
					}
				}
				if n := e.countEvents("login_failed"); n != failed {
					t.Errorf("refused logins were checked: %d more login_failed events", n-failed)
				}
				if e.countEvents("login_rate_limited") != 2 {
					t.Errorf("want 2 login_rate_limited events, got %d", e.countEvents("login_rate_limited"))
				}
				// Another username from the same IP is not affected.
				e.login("bob", pw)
				// Unknown usernames are limited alike: no enumeration through the limiter.
				for range 5 {
					wantError(t, wrong("nobody"), "UNAUTHENTICATED", "invalid_credentials")
				}
				wantError(t, wrong("nobody"), "TOO_MANY_REQUESTS", "")
			})
		})
	}
}

// TestLoginLimiterWindow drives the in-memory limiter's window with the test
// clock (redis_rate counts on the Redis server's clock, which a test cannot
// move; the Redis tests check the limits instead).
func TestLoginLimiterWindow(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("alice", pw, models.RoleUser)
		wrong := func() gqlResponse {
			return e.do("", loginMutation, map[string]any{"u": "alice", "p": "wrong password"})
		}
		for range 5 {
			wantError(t, wrong(), "UNAUTHENTICATED", "invalid_credentials")
		}
		r := wrong()
		wantError(t, r, "TOO_MANY_REQUESTS", "")
		if ra := retryAfter(r); ra != 180 {
			t.Fatalf("retryAfter = %v, want 180", ra)
		}
		e.clock.Advance(179 * time.Second)
		wantError(t, wrong(), "TOO_MANY_REQUESTS", "")
		// One attempt regenerates every window/limit = 3 minutes.
		e.clock.Advance(time.Second)
		wantError(t, wrong(), "UNAUTHENTICATED", "invalid_credentials")
		wantError(t, wrong(), "TOO_MANY_REQUESTS", "")

		// A full window later every attempt is back; a success clears them all.
		e.clock.Advance(15 * time.Minute)
		for range 4 {
			wantError(t, wrong(), "UNAUTHENTICATED", "invalid_credentials")
		}
		e.login("alice", pw)
		for range 5 {
			wantError(t, wrong(), "UNAUTHENTICATED", "invalid_credentials")
		}
		wantError(t, wrong(), "TOO_MANY_REQUESTS", "")
	})
}

func TestLoginLimiterPerIP(t *testing.T) {
	for _, backend := range limiterBackends() {
		t.Run(backend, func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, st *store.Store) {
				mutate := backendConfig(t, backend)
				e := newTestEnv(t, st, nil, mutate, func(c *config) { c.LoginPerIP.Max = 8 })
				closeRedis(e)
				e.createUser("alice", pw, models.RoleUser)
				attacker := request{remoteAddr: "203.0.113.5:4000"}
				// Successful logins do not use up the IP's allowance.
				for range 10 {
					mustOK(t, e.call(attacker, loginMutation, map[string]any{"u": "alice", "p": pw}))
				}
				// Spraying usernames: each stays under its own limit, the IP does not.
				for i := range 8 {
					wantError(t, e.call(attacker, loginMutation, map[string]any{"u": fmt.Sprintf("user%d", i), "p": "guess"}), "UNAUTHENTICATED", "invalid_credentials")
				}
				r := e.call(attacker, loginMutation, map[string]any{"u": "alice", "p": pw})
				wantError(t, r, "TOO_MANY_REQUESTS", "")
				if ra := retryAfter(r); ra < 1 || ra > 15*60/8+1 {
					t.Errorf("retryAfter = %v, want 1..%d", ra, 15*60/8+1)
				}
				// Another address in the same IPv6 /64 is the same client...
				v6 := func(addr string) request { return request{remoteAddr: "[" + addr + "]:4000"} }
				for i := range 8 {
					wantError(t, e.call(v6(fmt.Sprintf("2001:db8:1:2::%x", i+1)), loginMutation, map[string]any{"u": fmt.Sprintf("v6user%d", i), "p": "guess"}), "UNAUTHENTICATED", "invalid_credentials")
				}
				wantError(t, e.call(v6("2001:db8:1:2::ffff"), loginMutation, map[string]any{"u": "alice", "p": pw}), "TOO_MANY_REQUESTS", "")
				// ...and other clients are unaffected.
				mustOK(t, e.call(request{remoteAddr: "198.51.100.9:4000"}, loginMutation, map[string]any{"u": "alice", "p": pw}))
				mustOK(t, e.call(v6("2001:db8:1:3::1"), loginMutation, map[string]any{"u": "alice", "p": pw}))
			})
		})
	}
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
			dsn, st := storetest.OpenDSN(t, kind)
			st2, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st2.Close() })
			shared := sharedRedisPrefix(t, url)
			a, b := newTestEnv(t, st, nil, shared), newTestEnv(t, st2, nil, shared)
			closeRedis(a)
			closeRedis(b)
			a.createUser("alice", pw, models.RoleUser)
			envs := []*testEnv{a, b}
			for i := range 5 {
				wantError(t, envs[i%2].do("", loginMutation, map[string]any{"u": "Alice", "p": "wrong password"}), "UNAUTHENTICATED", "invalid_credentials")
			}
			for name, env := range map[string]*testEnv{"first": a, "second": b} {
				r := env.do("", loginMutation, map[string]any{"u": "alice", "p": pw})
				wantError(t, r, "TOO_MANY_REQUESTS", "")
				if ra := retryAfter(r); ra < 1 || ra > 180 {
					t.Errorf("%s handler: retryAfter = %v, want 1..180", name, ra)
				}
			}
			// The keys hold no username.
			keys, err := a.app.redis.Keys(context.Background(), "*"+a.app.cfg.RedisPrefix+"*").Result()
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
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil, func(c *config) { c.RedisURL = "redis://127.0.0.1:1/0" })
		closeRedis(e)
		e.createUser("alice", pw, models.RoleUser)
		for range 5 {
			wantError(t, e.do("", loginMutation, map[string]any{"u": "alice", "p": "wrong password"}), "UNAUTHENTICATED", "invalid_credentials")
		}
		wantError(t, e.do("", loginMutation, map[string]any{"u": "alice", "p": pw}), "TOO_MANY_REQUESTS", "")
		if n := e.countEvents("rate_limiter_fallback"); n != 1 {
			t.Errorf("%d rate_limiter_fallback events, want 1 (logged when Redis starts failing)", n)
		}
	})
}

// TestCredentialFieldsPerOperation: aliases and batches cannot multiply
// guesses, and a refused operation hashes nothing and counts nothing.
func TestCredentialFieldsPerOperation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("alice", pw, models.RoleUser)
		p := e.login("alice", pw)

		var logins, changes strings.Builder
		logins.WriteString("mutation {")
		changes.WriteString("mutation {")
		for i := range 100 {
			fmt.Fprintf(&logins, ` a%d: login(username: "alice", password: "guess%d") { accessToken }`, i, i)
			fmt.Fprintf(&changes, ` c%d: changePassword(currentPassword: "guess%d", newPassword: "whatever123") { accessToken }`, i, i)
		}
		logins.WriteString(" }")
		changes.WriteString(" }")
		for name, r := range map[string]gqlResponse{
			"100 aliased logins":          e.do("", logins.String(), nil),
			"100 aliased changePasswords": e.do(bearer(p.AccessToken), changes.String(), nil),
		} {
			if code, _ := r.code(); code != "BAD_USER_INPUT" || strings.Contains(r.Body, `"accessToken":"`) {
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			}
		}
		// A JSON batch of operations is not executed either.
		one, _ := json.Marshal(map[string]any{"query": loginMutation, "variables": map[string]any{"u": "alice", "p": "guess"}})
		batch := "[" + strings.TrimSuffix(strings.Repeat(string(one)+",", 100), ",") + "]"
		req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(batch))
		req.Header.Set("Content-Type", "application/json")
		if r := e.serve(req); strings.Contains(r.Body, `"accessToken":"`) || len(r.Errors) == 0 && r.Status == http.StatusOK {
			t.Errorf("a batch of 100 logins: %d %s", r.Status, r.Body)
		}

		if n := e.countEvents("login_failed") + e.countEvents("password_change_failed"); n != 0 {
			t.Errorf("refused operations checked %d passwords, want 0", n)
		}
		// Nothing was counted: all five attempts remain.
		for range 5 {
			wantError(t, e.do("", loginMutation, map[string]any{"u": "alice", "p": "wrong password"}), "UNAUTHENTICATED", "invalid_credentials")
		}
		wantError(t, e.do("", loginMutation, map[string]any{"u": "alice", "p": "wrong password"}), "TOO_MANY_REQUESTS", "")
	})
}

// TestChangePasswordLimited: wrong current passwords count against the
// username like failed logins, so a stolen access token cannot guess it.
func TestChangePasswordLimited(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("alice", pw, models.RoleUser)
		p := e.login("alice", pw)
		for range 5 {
			wantError(t, e.do(bearer(p.AccessToken), changePasswordMut, map[string]any{"c": "guess", "n": "new password 1"}), "UNAUTHENTICATED", "invalid_credentials")
		}
		wantError(t, e.do(bearer(p.AccessToken), changePasswordMut, map[string]any{"c": pw, "n": "new password 1"}), "TOO_MANY_REQUESTS", "")
		wantError(t, e.do("", loginMutation, map[string]any{"u": "alice", "p": pw}), "TOO_MANY_REQUESTS", "")
	})
}

func TestClientIPAndTrustedProxies(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		untrusted := newTestEnv(t, st, nil)
		proxied := newTestEnv(t, st, nil, func(c *config) {
			var err error
			if c.TrustedProxies, err = auth.ParseTrustedProxies("10.0.0.0/8, 192.0.2.10"); err != nil {
				t.Fatal(err)
			}
		})
		untrusted.createUser("alice", pw, models.RoleUser)
		seenIP := func(e *testEnv, rq request) string {
			t.Helper()
			p := decodeOK[payload](t, e.call(rq, loginMutation, map[string]any{"u": "alice", "p": pw}), "login")
			for _, s := range decodeOK[[]sessionView](t, e.do(bearer(p.AccessToken), sessionsQuery, nil), "sessions") {
				if s.Current {
					return str(s.IP)
				}
			}
			t.Fatal("no current session")
			return ""
		}
		tests := []struct {
			name string
			env  *testEnv
			rq   request
			want string
		}{
			{"X-Forwarded-For from an untrusted peer is ignored", untrusted, request{remoteAddr: "198.51.100.4:1000", xff: "203.0.113.1"}, "198.51.100.4"},
			{"a peer outside TRUSTED_PROXIES is not a proxy", proxied, request{remoteAddr: "198.51.100.4:1000", xff: "203.0.113.1"}, "198.51.100.4"},
			{"a trusted proxy's X-Forwarded-For names the client", proxied, request{remoteAddr: "10.1.2.3:1000", xff: "203.0.113.1"}, "203.0.113.1"},
			{"trusted hops are skipped right to left; a spoofed left part is ignored", proxied, request{remoteAddr: "10.1.2.3:1000", xff: "1.1.1.1, 203.0.113.2, 10.9.9.9"}, "203.0.113.2"},
			{"a single trusted address", proxied, request{remoteAddr: "192.0.2.10:1000", xff: "203.0.113.3"}, "203.0.113.3"},
			{"garbage stops at the last trusted hop", proxied, request{remoteAddr: "10.1.2.3:1000", xff: "203.0.113.1, not-an-ip"}, "10.1.2.3"},
			{"a trusted peer without the header", proxied, request{remoteAddr: "10.1.2.3:1000"}, "10.1.2.3"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := seenIP(tt.env, tt.rq); got != tt.want {
					t.Errorf("session IP = %q, want %q", got, tt.want)
				}
			})
		}

		// Spoofing X-Forwarded-For does not escape the per-IP limit.
		e := newTestEnv(t, st, nil, func(c *config) { c.LoginPerIP.Max = 3 })
		for i := range 3 {
			wantError(t, e.call(request{remoteAddr: "198.51.100.77:1", xff: fmt.Sprintf("203.0.113.%d", i)}, loginMutation,
				map[string]any{"u": fmt.Sprintf("u%d", i), "p": "guess"}), "UNAUTHENTICATED", "invalid_credentials")
		}
		wantError(t, e.call(request{remoteAddr: "198.51.100.77:1", xff: "203.0.113.99"}, loginMutation,
			map[string]any{"u": "alice", "p": pw}), "TOO_MANY_REQUESTS", "")
	})
}

// TestAuthEvents: every auth event is a structured record with the user,
// session, client IP and user agent, and no log line holds a secret.
func TestAuthEvents(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		alice := e.createUser("alice", pw, models.RoleUser)
		const newPW = "another secret passphrase"
		client := request{remoteAddr: "198.51.100.20:999", userAgent: "events-agent"}
		login := func() payload {
			return decodeOK[payload](t, e.call(client, loginMutation, map[string]any{"u": "alice", "p": pw}), "login")
		}

		a := login()
		a2 := decodeOK[payload](t, e.call(client, refreshMutation, map[string]any{"t": a.RefreshToken}), "refreshToken")
		e.call(client, refreshMutation, map[string]any{"t": a.RefreshToken}) // reuse
		b := login()
		e.call(client, logoutMutation, map[string]any{"t": b.RefreshToken})
		c := login()
		d := login()
		e.call(request{remoteAddr: client.remoteAddr, userAgent: client.userAgent, authz: bearer(c.AccessToken)}, revokeSessionMutation, map[string]any{"id": sessionOf(t, d.AccessToken)})
		cp := decodeOK[payload](t, e.call(request{remoteAddr: client.remoteAddr, userAgent: client.userAgent, authz: bearer(c.AccessToken)}, changePasswordMut, map[string]any{"c": pw, "n": newPW}), "changePassword")
		e.call(request{remoteAddr: client.remoteAddr, userAgent: client.userAgent, authz: bearer(c.AccessToken)}, logoutAllMutation, nil)
		for range 6 {
			e.call(client, loginMutation, map[string]any{"u": "alice", "p": "wrong " + pw})
		}

		wantSession := map[string]string{
			"login_succeeded":      sessionOf(t, a.AccessToken),
			"token_refreshed":      sessionOf(t, a.AccessToken),
			"refresh_token_reused": sessionOf(t, a.AccessToken),
			"logout":               sessionOf(t, b.AccessToken),
			"session_revoked":      sessionOf(t, d.AccessToken),
			"password_changed":     sessionOf(t, c.AccessToken),
			"logout_all":           sessionOf(t, c.AccessToken),
			"login_failed":         "",
			"login_rate_limited":   "",
		}
		seen := map[string]bool{}
		for _, rec := range e.events() {
			ev, _ := rec["event"].(string)
			want, ok := wantSession[ev]
			if !ok || seen[ev] {
				continue
			}
			seen[ev] = true
			if rec["user_id"] != alice.ID && ev != "login_rate_limited" || rec["ip"] != "198.51.100.20" || rec["user_agent"] != "events-agent" {
				t.Errorf("%s record = %v, want user_id %s, ip and user agent", ev, rec, alice.ID)
			}
			if want != "" && rec["session_id"] != want {
				t.Errorf("%s record session_id = %v, want %s", ev, rec["session_id"], want)
			}
		}
		for ev := range wantSession {
			if !seen[ev] {
				t.Errorf("no %s event was logged", ev)
			}
		}

		logs := e.logs.String()
		secrets := []string{pw, newPW, testSecret}
		for _, p := range []payload{a, a2, b, c, d, cp} {
			secrets = append(secrets, p.AccessToken, p.RefreshToken)
		}
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("logs contain a secret %.12q...", s)
			}
		}
	})
}
