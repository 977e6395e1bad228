package app_test

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

const hasuraKey = "https://hasura.io/jwt/claims"

func TestLoadConfigClaimsProfile(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := app.LoadConfig(env(nil))
	if err != nil {
		t.Fatalf("LoadConfig(empty) error = %v", err)
	}
	if c.JWTClaimsProfile != "" {
		t.Errorf("default JWTClaimsProfile = %q, want none", c.JWTClaimsProfile)
	}
	c, err = app.LoadConfig(env(map[string]string{"JWT_CLAIMS_PROFILE": "hasura"}))
	if err != nil {
		t.Fatalf("LoadConfig(JWT_CLAIMS_PROFILE=hasura) error = %v", err)
	}
	if c.JWTClaimsProfile != auth.ClaimsProfileHasura {
		t.Errorf("JWTClaimsProfile = %q, want %q", c.JWTClaimsProfile, auth.ClaimsProfileHasura)
	}
	for _, bogus := range []string{"Hasura", "hasura ", "auth0", "none"} {
		if _, err := app.LoadConfig(env(map[string]string{"JWT_CLAIMS_PROFILE": bogus})); err == nil ||
			!strings.Contains(err.Error(), "JWT_CLAIMS_PROFILE") {
			t.Errorf("LoadConfig(JWT_CLAIMS_PROFILE=%q) error = %v, want one naming JWT_CLAIMS_PROFILE", bogus, err)
		}
	}
}

// payloadOf decodes the claims of a JWT without verifying it, as a map of
// raw JSON values.
func payloadOf(t *testing.T, token string) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload base64: %v", err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("payload JSON: %v", err)
	}
	return claims
}

func hasuraProfile(c *app.Config) { c.JWTClaimsProfile = auth.ClaimsProfileHasura }

// With JWT_CLAIMS_PROFILE=hasura, the access token of a login carries
// Hasura's claims object, exactly, with the user's role, and still verifies.
func TestHasuraClaims(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		for _, tc := range []struct {
			name    string
			role    models.Role
			allowed []any
			deflt   string
		}{
			{"user", models.RoleUser, []any{"user"}, "user"},
			{"admin", models.RoleAdmin, []any{"user", "admin"}, "admin"},
		} {
			u := e.CreateUser(tc.name, apptest.Password, tc.role)
			access := e.Login(tc.name, apptest.Password).AccessToken
			claims := payloadOf(t, access)
			raw, ok := claims[hasuraKey]
			if !ok {
				t.Fatalf("%s: token lacks %s: %v", tc.name, hasuraKey, claims)
			}
			var got map[string]any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"x-hasura-allowed-roles": tc.allowed,
				"x-hasura-default-role":  tc.deflt,
				"x-hasura-user-id":       u.ID,
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %s, want %v", tc.name, hasuraKey, raw, want)
			}
			// Small: nothing of the profile rides along.
			for _, k := range []string{"email", "username", "name"} {
				if _, ok := claims[k]; ok {
					t.Errorf("%s: token carries %q", tc.name, k)
				}
			}
			me := apptest.Decode[models.User](t, e.Do(apptest.Bearer(access), apptest.MeQuery, nil), "me")
			if me.ID != u.ID || me.Role != tc.role {
				t.Errorf("%s: me = %s %s, want %s %s", tc.name, me.ID, me.Role, u.ID, tc.role)
			}
		}
	}, hasuraProfile)
}

// The role is read at issue time: after setRole, the next refresh's token
// claims the new role.
func TestHasuraClaimsFollowRoleOnRefresh(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		admin := e.Session("root", models.RoleAdmin)
		u := e.CreateUser("alice", apptest.Password, models.RoleUser)
		p := e.Login("alice", apptest.Password)
		apptest.MustOK(t, e.Do(admin.Header, `mutation($id: ID!) { setRole(id: $id, role: ADMIN) { id } }`, map[string]any{"id": u.ID}))
		r := e.Refresh(p.RefreshToken)
		apptest.MustOK(t, r)
		access := r.Payload(t, "refreshToken").AccessToken
		var got struct {
			Default string   `json:"x-hasura-default-role"`
			Allowed []string `json:"x-hasura-allowed-roles"`
		}
		if err := json.Unmarshal(payloadOf(t, access)[hasuraKey], &got); err != nil {
			t.Fatal(err)
		}
		if got.Default != "admin" || !reflect.DeepEqual(got.Allowed, []string{"user", "admin"}) {
			t.Errorf("after setRole ADMIN and a refresh: default %q, allowed %v; want admin, [user admin]", got.Default, got.Allowed)
		}
	}, hasuraProfile)
}

// Without the profile, tokens carry no Hasura claims.
func TestNoClaimsProfile(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		for _, role := range []models.Role{models.RoleUser, models.RoleAdmin} {
			name := strings.ToLower(string(role))
			e.CreateUser(name, apptest.Password, role)
			access := e.Login(name, apptest.Password).AccessToken
			if raw, ok := payloadOf(t, access)[hasuraKey]; ok {
				t.Errorf("%s: token carries %s = %s without JWT_CLAIMS_PROFILE", role, hasuraKey, raw)
			}
			apptest.MustOK(t, e.Do(apptest.Bearer(access), apptest.MeQuery, nil))
		}
	})
}
