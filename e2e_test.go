package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestLoginMeRefreshFlow(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("alice", "correct horse battery", models.RoleUser)

		p := e.login("alice", "correct horse battery")
		if p.TokenType != "Bearer" || p.ExpiresIn != 300 || p.RefreshExpiresIn != 7*24*3600 {
			t.Fatalf("login payload = %+v, want Bearer, 300, 604800", p)
		}
		if p.User.Username != "alice" || p.User.Role != "USER" || p.User.LastLoginAt == nil {
			t.Fatalf("login user = %+v, want alice USER with lastLoginAt", p.User)
		}

		r := e.do(bearer(p.AccessToken), meQuery, nil)
		mustOK(t, r)
		var me struct {
			ID, Username, Role string
			Email              *string
			LastLoginAt        *time.Time
		}
		if err := json.Unmarshal(r.Data["me"], &me); err != nil {
			t.Fatal(err)
		}
		if me.ID != p.User.ID || me.Username != "alice" || me.Email == nil || *me.Email != "alice@example.com" {
			t.Fatalf("me = %+v", me)
		}
		if me.LastLoginAt == nil || !me.LastLoginAt.Equal(e.clock.Now()) {
			t.Fatalf("me.lastLoginAt = %v, want %v", me.LastLoginAt, e.clock.Now())
		}

		e.clock.Advance(time.Minute)
		r = e.refresh(p.RefreshToken)
		mustOK(t, r)
		p2 := r.payload(t, "refreshToken")
		if p2.AccessToken == p.AccessToken || p2.RefreshToken == p.RefreshToken {
			t.Fatal("refreshToken returned the same tokens")
		}
		if p2.User.ID != p.User.ID {
			t.Fatalf("refresh user = %q, want %q", p2.User.ID, p.User.ID)
		}
		mustOK(t, e.do(bearer(p2.AccessToken), meQuery, nil))
		// The first access token stays valid until it expires: rotation
		// replaces the refresh token, not the session.
		mustOK(t, e.do(bearer(p.AccessToken), meQuery, nil))
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("bob", "correct horse battery", models.RoleUser)
		p := e.login("bob", "correct horse battery")

		r := e.refresh(p.RefreshToken)
		mustOK(t, r)
		p2 := r.payload(t, "refreshToken")

		// The rotated token presented again: theft. The session ends.
		wantError(t, e.refresh(p.RefreshToken), "UNAUTHENTICATED", "refresh_token_reused")
		// The newest refresh token of the session no longer works either.
		wantError(t, e.refresh(p2.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		// Nor do the session's access tokens.
		wantError(t, e.do(bearer(p2.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")

		// Another session of the same user is untouched.
		other := e.login("bob", "correct horse battery")
		mustOK(t, e.do(bearer(other.AccessToken), meQuery, nil))
		mustOK(t, e.refresh(other.RefreshToken))
	})
}

// TestParallelRefreshOneWinner sends 20 refreshes of one token at once, from
// one handler and from two handlers sharing one database.
func TestParallelRefreshOneWinner(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := replicaPair(t, kind)
			a.createUser("carol", "correct horse battery", models.RoleUser)

			for name, envs := range map[string][]*testEnv{"one handler": {a}, "two handlers": {a, b}} {
				t.Run(name, func(t *testing.T) {
					p := a.login("carol", "correct horse battery")
					const n = 20
					results := refreshConcurrently(envs, p.RefreshToken, n)
					wins := 0
					for _, r := range results {
						if len(r.Errors) == 0 {
							wins++
							continue
						}
						code, reason := r.code()
						if r.Status != http.StatusOK || code != "UNAUTHENTICATED" || (reason != "refresh_token_reused" && reason != "refresh_token_invalid") {
							t.Errorf("loser got status %d %s %s: %s", r.Status, code, reason, r.Body)
						}
					}
					if wins != 1 {
						t.Fatalf("%d of %d parallel refreshes succeeded, want exactly 1", wins, n)
					}
				})
			}
		})
	}
}

func TestExpiredAccessTokenThenRefresh(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("dave", "correct horse battery", models.RoleUser)
		p := e.login("dave", "correct horse battery")

		e.clock.Advance(5*time.Minute + tokenLeeway + time.Second)
		wantError(t, e.do(bearer(p.AccessToken), meQuery, nil), "UNAUTHENTICATED", "token_expired")

		// The client still sends its stale header while refreshing.
		r := e.do(bearer(p.AccessToken), refreshMutation, map[string]any{"t": p.RefreshToken})
		mustOK(t, r)
		mustOK(t, e.do(bearer(r.payload(t, "refreshToken").AccessToken), meQuery, nil))
	})
}

func TestStaleHeaderOnPublicMutations(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("erin", "correct horse battery", models.RoleUser)
		p := e.login("erin", "correct horse battery")
		for _, header := range []string{"Bearer garbage", "Basic Zm9vOmJhcg==", "Bearer " + p.RefreshToken, "Bearer"} {
			r := e.do(header, loginMutation, map[string]any{"u": "erin", "p": "correct horse battery"})
			mustOK(t, r)
			r = e.do(header, refreshMutation, map[string]any{"t": r.payload(t, "login").RefreshToken})
			mustOK(t, r)
		}
	})
}

func TestSessionMaxAgeIsAbsolute(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil, func(c *config) {
			c.RefreshTTL = 24 * time.Hour
			c.SessionMaxAge = 60 * time.Hour
		})
		e.createUser("fay", "correct horse battery", models.RoleUser)
		tok := e.login("fay", "correct horse battery").RefreshToken
		// Refresh every 20 hours: the idle lifetime is never exceeded, but
		// the chain still ends 60 hours after login.
		for i := range 2 {
			e.clock.Advance(20 * time.Hour)
			r := e.refresh(tok)
			mustOK(t, r)
			p := r.payload(t, "refreshToken")
			if want := min(24*3600, 60*3600-(i+1)*20*3600); p.RefreshExpiresIn != want {
				t.Fatalf("refresh %d: refreshExpiresIn = %d, want %d", i, p.RefreshExpiresIn, want)
			}
			tok = p.RefreshToken
		}
		e.clock.Advance(20 * time.Hour) // 60 hours after login
		wantError(t, e.refresh(tok), "UNAUTHENTICATED", "refresh_token_expired")
	})
}

func TestInactiveUser(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		u := e.createUser("gus", "correct horse battery", models.RoleUser)
		p := e.login("gus", "correct horse battery")
		if _, err := st.SetUserActive(context.Background(), u.ID, false, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do(bearer(p.AccessToken), meQuery, nil), "UNAUTHENTICATED", "user_inactive")
		wantError(t, e.refresh(p.RefreshToken), "UNAUTHENTICATED", "user_inactive")
		// A deactivated account cannot log in; it answers like a wrong password.
		wantError(t, e.do("", loginMutation, map[string]any{"u": "gus", "p": "correct horse battery"}), "UNAUTHENTICATED", "invalid_credentials")

		// A deleted user's token is refused the same way.
		v := e.createUser("hal", "correct horse battery", models.RoleUser)
		p = e.login("hal", "correct horse battery")
		if err := st.DB().Exec("DELETE FROM users WHERE id = ?", v.ID).Error; err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do(bearer(p.AccessToken), meQuery, nil), "UNAUTHENTICATED", "user_inactive")
	})
}

// TestErrorTable drives every row of the public error table.
func TestErrorTable(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("ivy", "correct horse battery", models.RoleUser)
		p := e.login("ivy", "correct horse battery")
		used := e.login("ivy", "correct horse battery")
		mustOK(t, e.refresh(used.RefreshToken)) // used.RefreshToken is now rotated

		expired := e.login("ivy", "correct horse battery")
		revoked := e.login("ivy", "correct horse battery")
		if _, err := st.RevokeSession(context.Background(), sessionOf(t, revoked.AccessToken), e.clock.Now()); err != nil {
			t.Fatal(err)
		}

		forge := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
			tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		now := e.clock.Now()
		goodClaims := jwt.MapClaims{"iss": "ironclad", "sub": p.User.ID, "sid": sessionOf(t, p.AccessToken), "token_type": "access",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": "x"}
		parts := strings.Split(p.AccessToken, ".")
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"someone-else"}`)) + "." + parts[2]

		long := strings.Repeat("a", 151)
		cases := []struct {
			name          string
			authz, query  string
			vars          map[string]any
			code, reason  string
			advanceBefore time.Duration
		}{
			{name: "empty username", query: loginMutation, vars: map[string]any{"u": "", "p": "x"}, code: "BAD_USER_INPUT"},
			{name: "empty password", query: loginMutation, vars: map[string]any{"u": "ivy", "p": ""}, code: "BAD_USER_INPUT"},
			{name: "username over 150 characters", query: loginMutation, vars: map[string]any{"u": long, "p": "x"}, code: "BAD_USER_INPUT"},
			{name: "password over 1024 bytes", query: loginMutation, vars: map[string]any{"u": "ivy", "p": strings.Repeat("p", 1025)}, code: "BAD_USER_INPUT"},
			{name: "wrong password", query: loginMutation, vars: map[string]any{"u": "ivy", "p": "wrong password"}, code: "UNAUTHENTICATED", reason: "invalid_credentials"},
			{name: "unknown user", query: loginMutation, vars: map[string]any{"u": "nobody", "p": "wrong password"}, code: "UNAUTHENTICATED", reason: "invalid_credentials"},
			{name: "no header", query: meQuery, code: "UNAUTHENTICATED", reason: "missing_token"},
			{name: "bad signature", authz: bearer(forge(jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdefgh"), goodClaims)), query: meQuery, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "malformed token", authz: "Bearer not.a.jwt", query: meQuery, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "not a bearer header", authz: "Basic Zm9vOmJhcg==", query: meQuery, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "unexpected alg", authz: bearer(forge(jwt.SigningMethodHS512, []byte(testSecret), goodClaims)), query: meQuery, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "alg none", authz: bearer(forge(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims)), query: meQuery, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "tampered payload", authz: bearer(tampered), query: meQuery, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "refresh token as access token", authz: bearer(p.RefreshToken), query: meQuery, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "unknown refresh token", query: refreshMutation, vars: map[string]any{"t": otherToken(p.RefreshToken)}, code: "UNAUTHENTICATED", reason: "refresh_token_invalid"},
			{name: "malformed refresh token", query: refreshMutation, vars: map[string]any{"t": strings.Repeat("%", 300)}, code: "UNAUTHENTICATED", reason: "refresh_token_invalid"},
			{name: "access token as refresh token", query: refreshMutation, vars: map[string]any{"t": p.AccessToken}, code: "UNAUTHENTICATED", reason: "refresh_token_invalid"},
			{name: "revoked refresh token", query: refreshMutation, vars: map[string]any{"t": revoked.RefreshToken}, code: "UNAUTHENTICATED", reason: "refresh_token_invalid"},
			{name: "rotated refresh token", query: refreshMutation, vars: map[string]any{"t": used.RefreshToken}, code: "UNAUTHENTICATED", reason: "refresh_token_reused"},
			{name: "expired access token", authz: bearer(p.AccessToken), query: meQuery, code: "UNAUTHENTICATED", reason: "token_expired", advanceBefore: 6 * time.Minute},
			{name: "expired refresh token", query: refreshMutation, vars: map[string]any{"t": expired.RefreshToken}, code: "UNAUTHENTICATED", reason: "refresh_token_expired", advanceBefore: 7 * 24 * time.Hour},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.clock.Advance(tc.advanceBefore)
				r := e.do(tc.authz, tc.query, tc.vars)
				wantError(t, r, tc.code, tc.reason)
				if r.Data != nil && string(r.Data["login"]) != "null" && string(r.Data["me"]) != "null" && string(r.Data["refreshToken"]) != "null" {
					t.Fatalf("data leaked with error: %s", r.Body)
				}
			})
		}

		// Unknown user and wrong password read the same.
		a := e.do("", loginMutation, map[string]any{"u": "nobody", "p": "wrong password"})
		b := e.do("", loginMutation, map[string]any{"u": "ivy", "p": "wrong password"})
		if a.Errors[0].Message != b.Errors[0].Message {
			t.Fatalf("unknown user says %q, wrong password says %q", a.Errors[0].Message, b.Errors[0].Message)
		}
	})
}

func TestDatabaseDownIsInternalError(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("jay", "correct horse battery", models.RoleUser)
		p := e.login("jay", "correct horse battery")
		sqlDB, err := st.DB().DB()
		if err != nil {
			t.Fatal(err)
		}
		sqlDB.Close()

		for name, r := range map[string]gqlResponse{
			"login":   e.do("", loginMutation, map[string]any{"u": "jay", "p": "correct horse battery"}),
			"me":      e.do(bearer(p.AccessToken), meQuery, nil),
			"refresh": e.refresh(p.RefreshToken),
		} {
			wantError(t, r, "INTERNAL_SERVER_ERROR", "")
			if r.Errors[0].Message != "internal error" || strings.Contains(strings.ToLower(r.Body), "sql") {
				t.Errorf("%s: leaked detail: %s", name, r.Body)
			}
		}
		if !strings.Contains(e.logs.String(), "internal error") {
			t.Error("the internal error was not logged")
		}
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("GET /readyz with the database down = %d, want 503", rec.Code)
		}
	})
}

// sessionOf reads the sid claim of an access token without verifying it.
func sessionOf(t *testing.T, access string) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(access, claims); err != nil {
		t.Fatal(err)
	}
	sid, _ := claims["sid"].(string)
	return sid
}

// otherToken returns a well-formed token that differs from tok.
func otherToken(tok string) string {
	if tok[0] == 'A' {
		return "B" + tok[1:]
	}
	return "A" + tok[1:]
}

// A hash made with older argon2id parameters is upgraded on the next
// successful login, and the password keeps working.
func TestLoginRehashesOldParameters(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		old := auth.NewHasher(auth.Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second)
		hash, err := old.Hash(context.Background(), "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		u := &models.User{Username: "olga", PasswordHash: hash, Role: models.RoleUser, Active: true}
		if err := st.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		e.login("olga", "correct horse battery")
		got, err := st.UserByID(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PasswordHash == hash || !strings.Contains(got.PasswordHash, "$m=64,t=1,p=1$") {
			t.Fatalf("hash after login = %q, want one with the current parameters", got.PasswordHash)
		}
		e.login("olga", "correct horse battery")
	})
}
