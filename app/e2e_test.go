package app_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// Whole flows of a client through the real handler: login, me, refresh,
// the public error table, the database down, rehashing.

func TestLoginMeRefreshFlow(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)

		p := e.Login("alice", apptest.Password)
		if p.TokenType != "Bearer" || p.ExpiresIn != 300 || p.RefreshExpiresIn != 7*24*3600 {
			t.Fatalf("login payload = %+v, want Bearer, 300, 604800", p)
		}
		if p.User.Username != "alice" || p.User.Role != models.RoleUser || p.User.LastLoginAt == nil {
			t.Fatalf("login user = %+v, want alice USER with lastLoginAt", p.User)
		}

		me := apptest.Decode[models.User](t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "me")
		if me.ID != p.User.ID || me.Username != "alice" || me.Email == nil || *me.Email != "alice@example.com" {
			t.Fatalf("me = %+v", me)
		}
		if me.LastLoginAt == nil || !me.LastLoginAt.Equal(e.Clock.Now()) {
			t.Fatalf("me.lastLoginAt = %v, want %v", me.LastLoginAt, e.Clock.Now())
		}

		e.Clock.Advance(time.Minute)
		r := e.Refresh(p.RefreshToken)
		apptest.MustOK(t, r)
		p2 := r.Payload(t, "refreshToken")
		if p2.AccessToken == p.AccessToken || p2.RefreshToken == p.RefreshToken {
			t.Fatal("refreshToken returned the same tokens")
		}
		if p2.User.ID != p.User.ID {
			t.Fatalf("refresh user = %q, want %q", p2.User.ID, p.User.ID)
		}
		apptest.MustOK(t, e.Do(apptest.Bearer(p2.AccessToken), apptest.MeQuery, nil))
		// The first access token stays valid until it expires: rotation
		// replaces the refresh token, not the session.
		apptest.MustOK(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil))
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("bob", apptest.Password, models.RoleUser)
		p := e.Login("bob", apptest.Password)

		r := e.Refresh(p.RefreshToken)
		apptest.MustOK(t, r)
		p2 := r.Payload(t, "refreshToken")

		// The rotated token presented again: theft. The session ends.
		apptest.WantError(t, e.Refresh(p.RefreshToken), "UNAUTHENTICATED", "refresh_token_reused")
		// The newest refresh token of the session no longer works either.
		apptest.WantError(t, e.Refresh(p2.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		// Nor do the session's access tokens.
		apptest.WantError(t, e.Do(apptest.Bearer(p2.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")

		// Another session of the same user is untouched.
		other := e.Login("bob", apptest.Password)
		apptest.MustOK(t, e.Do(apptest.Bearer(other.AccessToken), apptest.MeQuery, nil))
		apptest.MustOK(t, e.Refresh(other.RefreshToken))
	}, strictReuse)
}

// strictReuse is REFRESH_REUSE_GRACE=0: every second presentation of a
// rotated refresh token is reuse, however soon it comes.
func strictReuse(c *app.Config) { c.ReuseGrace = 0 }

// TestParallelRefreshOneWinner sends 20 refreshes of one token at once, from
// one handler and from two handlers sharing one database.
func TestParallelRefreshOneWinner(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind, strictReuse)
			a.CreateUser("carol", apptest.Password, models.RoleUser)

			for name, envs := range map[string][]*apptest.Env{"one handler": {a}, "two handlers": {a, b}} {
				t.Run(name, func(t *testing.T) {
					p := a.Login("carol", apptest.Password)
					const n = 20
					results := apptest.RefreshConcurrently(envs, p.RefreshToken, n)
					wins := 0
					for _, r := range results {
						if len(r.Errors) == 0 {
							wins++
							continue
						}
						code, reason := r.Code()
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
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("dave", apptest.Password, models.RoleUser)
		p := e.Login("dave", apptest.Password)

		e.Clock.Advance(5*time.Minute + e.App.Config.JWTLeeway + time.Second)
		apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "token_expired")

		// The client still sends its stale header while refreshing.
		r := e.Do(apptest.Bearer(p.AccessToken), apptest.RefreshMutation, map[string]any{"t": p.RefreshToken})
		apptest.MustOK(t, r)
		apptest.MustOK(t, e.Do(apptest.Bearer(r.Payload(t, "refreshToken").AccessToken), apptest.MeQuery, nil))
	})
}

func TestStaleHeaderOnPublicMutations(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("erin", apptest.Password, models.RoleUser)
		p := e.Login("erin", apptest.Password)
		for _, header := range []string{"Bearer garbage", "Basic Zm9vOmJhcg==", "Bearer " + p.RefreshToken, "Bearer"} {
			r := e.Do(header, apptest.LoginMutation, map[string]any{"u": "erin", "p": apptest.Password})
			apptest.MustOK(t, r)
			r = e.Do(header, apptest.RefreshMutation, map[string]any{"t": r.Payload(t, "login").RefreshToken})
			apptest.MustOK(t, r)
		}
	})
}

func TestSessionMaxAgeIsAbsolute(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("fay", apptest.Password, models.RoleUser)
		tok := e.Login("fay", apptest.Password).RefreshToken
		// Refresh every 20 hours: the idle lifetime is never exceeded, but
		// the chain still ends 60 hours after login.
		for i := range 2 {
			e.Clock.Advance(20 * time.Hour)
			r := e.Refresh(tok)
			apptest.MustOK(t, r)
			p := r.Payload(t, "refreshToken")
			if want := min(24*3600, 60*3600-(i+1)*20*3600); p.RefreshExpiresIn != want {
				t.Fatalf("refresh %d: refreshExpiresIn = %d, want %d", i, p.RefreshExpiresIn, want)
			}
			tok = p.RefreshToken
		}
		e.Clock.Advance(20 * time.Hour) // 60 hours after login
		apptest.WantError(t, e.Refresh(tok), "UNAUTHENTICATED", "refresh_token_expired")
	}, func(c *app.Config) {
		c.RefreshTTL = 24 * time.Hour
		c.SessionMaxAge = 60 * time.Hour
	})
}

func TestInactiveUser(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		st := e.App.Store
		u := e.CreateUser("gus", apptest.Password, models.RoleUser)
		p := e.Login("gus", apptest.Password)
		if _, err := st.SetUserActive(context.Background(), u.ID, false, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "user_inactive")
		apptest.WantError(t, e.Refresh(p.RefreshToken), "UNAUTHENTICATED", "user_inactive")
		// A deactivated account cannot log in; it answers like a wrong password.
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "gus", "p": apptest.Password}), "UNAUTHENTICATED", "invalid_credentials")

		// A deleted user's token is refused the same way.
		v := e.CreateUser("hal", apptest.Password, models.RoleUser)
		p = e.Login("hal", apptest.Password)
		if err := st.DB().Exec("DELETE FROM users WHERE id = ?", v.ID).Error; err != nil {
			t.Fatal(err)
		}
		apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "user_inactive")
	})
}

// TestErrorTable drives every row of the public error table.
func TestErrorTable(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("ivy", apptest.Password, models.RoleUser)
		p := e.Login("ivy", apptest.Password)
		used := e.Login("ivy", apptest.Password)
		apptest.MustOK(t, e.Refresh(used.RefreshToken)) // used.RefreshToken is now rotated

		expired := e.Login("ivy", apptest.Password)
		revoked := e.Login("ivy", apptest.Password)
		if _, err := e.App.Store.RevokeSession(context.Background(), apptest.SessionOf(t, revoked.AccessToken), e.Clock.Now()); err != nil {
			t.Fatal(err)
		}

		forge := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
			tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		now := e.Clock.Now()
		goodClaims := jwt.MapClaims{"iss": "ironclad", "sub": p.User.ID, "sid": apptest.SessionOf(t, p.AccessToken), "token_type": "access",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": "x"}
		parts := strings.Split(p.AccessToken, ".")
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"someone-else"}`)) + "." + parts[2]

		const login, me, refresh = apptest.LoginMutation, apptest.MeQuery, apptest.RefreshMutation
		bearer := apptest.Bearer
		long := strings.Repeat("a", 151)
		cases := []struct {
			name          string
			authz, query  string
			vars          map[string]any
			code, reason  string
			advanceBefore time.Duration
		}{
			{name: "empty username", query: login, vars: map[string]any{"u": "", "p": "x"}, code: "BAD_USER_INPUT"},
			{name: "empty password", query: login, vars: map[string]any{"u": "ivy", "p": ""}, code: "BAD_USER_INPUT"},
			{name: "username over 150 characters", query: login, vars: map[string]any{"u": long, "p": "x"}, code: "BAD_USER_INPUT"},
			{name: "password over 1024 bytes", query: login, vars: map[string]any{"u": "ivy", "p": strings.Repeat("p", 1025)}, code: "BAD_USER_INPUT"},
			{name: "wrong password", query: login, vars: map[string]any{"u": "ivy", "p": "wrong password"}, code: "UNAUTHENTICATED", reason: "invalid_credentials"},
			{name: "unknown user", query: login, vars: map[string]any{"u": "nobody", "p": "wrong password"}, code: "UNAUTHENTICATED", reason: "invalid_credentials"},
			{name: "no header", query: me, code: "UNAUTHENTICATED", reason: "missing_token"},
			{name: "bad signature", authz: bearer(forge(jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdefgh"), goodClaims)), query: me, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "malformed token", authz: "Bearer not.a.jwt", query: me, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "not a bearer header", authz: "Basic Zm9vOmJhcg==", query: me, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "unexpected alg", authz: bearer(forge(jwt.SigningMethodHS512, []byte(apptest.Secret), goodClaims)), query: me, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "alg none", authz: bearer(forge(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims)), query: me, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "tampered payload", authz: bearer(tampered), query: me, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "refresh token as access token", authz: bearer(p.RefreshToken), query: me, code: "UNAUTHENTICATED", reason: "invalid_token"},
			{name: "unknown refresh token", query: refresh, vars: map[string]any{"t": apptest.OtherToken(p.RefreshToken)}, code: "UNAUTHENTICATED", reason: "refresh_token_invalid"},
			{name: "malformed refresh token", query: refresh, vars: map[string]any{"t": strings.Repeat("%", 300)}, code: "UNAUTHENTICATED", reason: "refresh_token_invalid"},
			{name: "access token as refresh token", query: refresh, vars: map[string]any{"t": p.AccessToken}, code: "UNAUTHENTICATED", reason: "refresh_token_invalid"},
			{name: "revoked refresh token", query: refresh, vars: map[string]any{"t": revoked.RefreshToken}, code: "UNAUTHENTICATED", reason: "refresh_token_invalid"},
			{name: "rotated refresh token", query: refresh, vars: map[string]any{"t": used.RefreshToken}, code: "UNAUTHENTICATED", reason: "refresh_token_reused"},
			{name: "expired access token", authz: bearer(p.AccessToken), query: me, code: "UNAUTHENTICATED", reason: "token_expired", advanceBefore: 6 * time.Minute},
			{name: "expired refresh token", query: refresh, vars: map[string]any{"t": expired.RefreshToken}, code: "UNAUTHENTICATED", reason: "refresh_token_expired", advanceBefore: 7 * 24 * time.Hour},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.Clock.Advance(tc.advanceBefore)
				r := e.Do(tc.authz, tc.query, tc.vars)
				apptest.WantError(t, r, tc.code, tc.reason)
				if r.Data != nil && string(r.Data["login"]) != "null" && string(r.Data["me"]) != "null" && string(r.Data["refreshToken"]) != "null" {
					t.Fatalf("data leaked with error: %s", r.Body)
				}
			})
		}

		// Unknown user and wrong password read the same.
		a := e.Do("", login, map[string]any{"u": "nobody", "p": "wrong password"})
		b := e.Do("", login, map[string]any{"u": "ivy", "p": "wrong password"})
		if a.Errors[0].Message != b.Errors[0].Message {
			t.Fatalf("unknown user says %q, wrong password says %q", a.Errors[0].Message, b.Errors[0].Message)
		}
	}, strictReuse)
}

func TestDatabaseDownIsServiceUnavailable(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("jay", apptest.Password, models.RoleUser)
		p := e.Login("jay", apptest.Password)
		sqlDB, err := e.App.Store.DB().DB()
		if err != nil {
			t.Fatal(err)
		}
		sqlDB.Close()

		for name, r := range map[string]apptest.Response{
			"login":   e.Do("", apptest.LoginMutation, map[string]any{"u": "jay", "p": apptest.Password}),
			"me":      e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil),
			"refresh": e.Refresh(p.RefreshToken),
		} {
			wantUnavailable(t, name, r)
		}
		wantWarnedNotErrored(t, e)
		if r := e.Serve(httptest.NewRequest(http.MethodGet, "/readyz", nil)); r.Status != http.StatusServiceUnavailable {
			t.Errorf("GET /readyz with the database down = %d, want 503", r.Status)
		}
	})
}

// wantUnavailable fails unless r is SERVICE_UNAVAILABLE with retryAfter and
// no detail of the database in it.
func wantUnavailable(t *testing.T, name string, r apptest.Response) {
	t.Helper()
	apptest.WantError(t, r, "SERVICE_UNAVAILABLE", "")
	if ra, _ := r.Errors[0].Extensions["retryAfter"].(float64); ra < 1 {
		t.Errorf("%s: retryAfter = %v, want at least 1 second; body %s", name, r.Errors[0].Extensions["retryAfter"], r.Body)
	}
	if body := strings.ToLower(r.Body); strings.Contains(body, "sql") || strings.Contains(body, "timeout") || strings.Contains(body, "lock") {
		t.Errorf("%s: leaked detail: %s", name, r.Body)
	}
}

// wantWarnedNotErrored fails unless the server logged the outage at WARN
// and wrote no ERROR line.
func wantWarnedNotErrored(t *testing.T, e *apptest.Env) {
	t.Helper()
	warned := false
	for _, rec := range e.Logs.Records(t) {
		switch rec["level"] {
		case "ERROR":
			t.Errorf("an outage was logged at ERROR: %v", rec)
		case "WARN":
			if rec["msg"] == "service unavailable" {
				warned = true
			}
		}
	}
	if !warned {
		t.Error("the outage was not logged at WARN")
	}
}

// A hash made with older argon2id parameters is upgraded on the next
// successful login, and the password keeps working.
func TestLoginRehashesOldParameters(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		st := e.App.Store
		old := auth.NewHasher(auth.Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second)
		hash, err := old.Hash(context.Background(), apptest.Password)
		if err != nil {
			t.Fatal(err)
		}
		u := &models.User{Username: "olga", PasswordHash: hash, Role: models.RoleUser, Active: true}
		if err := st.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		e.Login("olga", apptest.Password)
		got, err := st.UserByID(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PasswordHash == hash || !strings.Contains(got.PasswordHash, "$m=64,t=1,p=1$") {
			t.Fatalf("hash after login = %q, want one with the current parameters", got.PasswordHash)
		}
		e.Login("olga", apptest.Password)
	})
}
