// Package models holds Ironclad's persisted entities and its typed error,
// shared by every other package. It imports nothing of ours.
package models

import "time"

// Role is a user's authorization level.
type Role string

// The roles a user can hold. The values are the GraphQL enum names.
const (
	RoleUser  Role = "USER"
	RoleAdmin Role = "ADMIN"
)

// IsValid reports whether r is a known role.
func (r Role) IsValid() bool { return r == RoleUser || r == RoleAdmin }

// User is an account that can log in.
type User struct {
	ID       string `gorm:"primaryKey;size:36"`
	Username string `gorm:"size:150;not null"`
	// UsernameKey is the case-folded username; its unique index makes
	// usernames unique case-insensitively on every database. It is text:
	// folding can make a name longer (the store computes it).
	UsernameKey string  `gorm:"not null;uniqueIndex"`
	Email       *string `gorm:"size:320"`
	// EmailKey is the case-folded email; its unique index gives an address
	// to at most one account (the store computes it).
	EmailKey *string
	// EmailVerified is set once the user proved they receive mail at Email
	// (verifyEmail, or a password reset through it); a new address clears it.
	EmailVerified bool    `gorm:"not null;default:false"`
	DisplayName   *string `gorm:"size:100"`
	PasswordHash  string  `gorm:"size:255;not null"`
	Role          Role    `gorm:"size:16;not null;default:USER"`
	Active        bool    `gorm:"not null;default:true"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastLoginAt   *time.Time
}

// Session is the family of refresh tokens descended from one login.
// Access tokens name it in their sid claim.
type Session struct {
	ID         string    `gorm:"primaryKey;size:36"`
	UserID     string    `gorm:"size:36;not null;index"`
	CreatedAt  time.Time `gorm:"not null"`
	LastUsedAt time.Time `gorm:"not null"`
	// ExpiresAt is the absolute end of the session: rotation never extends it.
	ExpiresAt time.Time  `gorm:"not null;index"`
	RevokedAt *time.Time `gorm:"index"`
	UserAgent string     `gorm:"size:512"`
	IP        string     `gorm:"size:64"`
}

// RefreshToken is one opaque refresh token, stored only as its SHA-256 hash.
type RefreshToken struct {
	ID        string    `gorm:"primaryKey;size:36"`
	TokenHash string    `gorm:"size:64;not null;uniqueIndex"`
	UserID    string    `gorm:"size:36;not null;index"`
	SessionID string    `gorm:"size:36;not null;index"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	// UsedAt is set when the token is rotated; presenting it again is reuse.
	UsedAt    *time.Time `gorm:"index"`
	RevokedAt *time.Time `gorm:"index"`
}
