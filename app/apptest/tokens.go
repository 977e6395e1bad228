package apptest

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// SessionOf reads the sid claim of an access token without verifying it:
// the id of the session the token belongs to.
func SessionOf(t testing.TB, access string) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(access, claims); err != nil {
		t.Fatal(err)
	}
	sid, _ := claims["sid"].(string)
	return sid
}

// OtherToken returns a well-formed token that differs from tok: one the
// server never issued.
func OtherToken(tok string) string {
	if tok[0] == 'A' {
		return "B" + tok[1:]
	}
	return "A" + tok[1:]
}
