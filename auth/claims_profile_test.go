package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

func TestNewTokensClaimsProfile(t *testing.T) {
	for _, p := range []string{"", ClaimsProfileHasura} {
		if _, err := NewTokens(TokenConfig{Secret: testSecret, AccessTTL: time.Minute, ClaimsProfile: p}, nil); err != nil {
			t.Errorf("NewTokens(ClaimsProfile %q) error = %v", p, err)
		}
	}
	if _, err := NewTokens(TokenConfig{Secret: testSecret, AccessTTL: time.Minute, ClaimsProfile: "auth0"}, nil); err == nil {
		t.Error("NewTokens(ClaimsProfile auth0) succeeded, want an error")
	}
}

// The Hasura claims are written as Hasura documents them, verify like any
// token, and an unknown role issues nothing.
func TestIssueAccessHasura(t *testing.T) {
	clock := testEpoch
	tk := newTestTokens(t, TokenConfig{ClaimsProfile: ClaimsProfileHasura}, &clock)
	tok, _, err := tk.IssueAccess("user-1", "session-1", models.RoleAdmin)
	if err != nil {
		t.Fatalf("IssueAccess() error = %v", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]json.RawMessage
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	const want = `{"x-hasura-allowed-roles":["user","admin"],"x-hasura-default-role":"admin","x-hasura-user-id":"user-1"}`
	if got := string(payload[HasuraClaimsKey]); got != want {
		t.Errorf("%s = %s, want %s", HasuraClaimsKey, got, want)
	}
	if c, err := tk.VerifyAccess(tok); err != nil || c.Subject != "user-1" {
		t.Errorf("VerifyAccess() = %v, %v", c, err)
	}
	if _, _, err := tk.IssueAccess("user-1", "session-1", "ROOT"); err == nil {
		t.Error(`IssueAccess(role "ROOT") succeeded, want an error`)
	}
}
