package main

import (
	"context"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

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
			c, err := loadConfig(mapEnv(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadConfig() error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || c.SignupEnabled != tt.signup || c.MinPasswordLen != tt.minLen {
				t.Fatalf("loadConfig() = signup %v, min %d, %v; want %v, %d", c.SignupEnabled, c.MinPasswordLen, err, tt.signup, tt.minLen)
			}
		})
	}
}

func TestPasswordMinLengthApplies(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil, func(c *config) { c.MinPasswordLen = 12 })
		wantField(t, e.do("", registerMutation, registerVars("okname", "ok@example.com", "Xk3!mq9zT2a")), "password")
		mustOK(t, e.do("", registerMutation, registerVars("okname", "ok@example.com", "Xk3!mq9zT2ab")))
	})
}

// createuser applies the same rules as register.
func TestCreateUserCommandRules(t *testing.T) {
	env := mapEnv(map[string]string{"DATA_DIR": t.TempDir(), "JWT_SECRET": testSecret, "SIGNUP_ENABLED": "false"})
	cases := []struct {
		name, username, password, want string
	}{
		{"common password", "carol", "password123", "too common"},
		{"password is the username", "Frodo.Baggins", "frodo.baggins", "not be the username"},
		{"bad username", "carol smith", testPassword, "letters, digits"},
		{"short username", "cj", testPassword, "at least 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			err := run(context.Background(), []string{"createuser", "--username", tc.username, "--password-stdin"}, env, strings.NewReader(tc.password+"\n"), &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("createuser %q error = %v, want one containing %q", tc.username, err, tc.want)
			}
		})
	}
	// Sign-up being closed does not stop an administrator.
	var out syncBuffer
	err := run(context.Background(), []string{"createuser", "--username", "carol", "--role", "admin", "--password-stdin"}, env, strings.NewReader(testPassword+"\n"), &out)
	if err != nil || !strings.Contains(out.String(), `created user "carol" with role ADMIN`) {
		t.Fatalf("createuser = %q, %v", out.String(), err)
	}
}
