package store_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// threeDays is a session lifetime comfortably past t0.
const threeDays = 72 * time.Hour

// t0 is the fixed "now" of the tests: time is injected, never slept on.
var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// hashOf returns the stored form of a refresh token.
func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// mustUser creates an active user named username.
func mustUser(t *testing.T, s *store.Store, username string) *models.User {
	t.Helper()
	u := &models.User{Username: username, PasswordHash: "$argon2id$dummy", CreatedAt: t0}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%q) error = %v", username, err)
	}
	return u
}

// mustSession creates a session of user, started at t0 and ending at
// expires, with a first refresh token (the plain token is returned).
func mustSession(t *testing.T, s *store.Store, user *models.User, expires time.Time) (*models.Session, *models.RefreshToken, string) {
	t.Helper()
	plain := rand.Text()
	sess := &models.Session{UserID: user.ID, CreatedAt: t0, ExpiresAt: expires, UserAgent: "test-agent", IP: "192.0.2.1"}
	tok := &models.RefreshToken{TokenHash: hashOf(plain), ExpiresAt: expires}
	if err := s.CreateSession(context.Background(), sess, tok); err != nil {
		t.Fatalf("CreateSession() error = %v", err)
	}
	return sess, tok, plain
}

// nextToken returns a successor for tok with a fresh hash.
func nextToken(tok *models.RefreshToken, plain string) *models.RefreshToken {
	return &models.RefreshToken{
		TokenHash: hashOf(plain),
		UserID:    tok.UserID,
		SessionID: tok.SessionID,
		CreatedAt: t0,
		ExpiresAt: tok.ExpiresAt,
	}
}
