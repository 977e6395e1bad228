package models

import "time"

// PersonalToken is a personal access token: a long-lived, scoped credential a
// user creates for an integrator. Only the SHA-256 hash of the token is
// stored; the token itself is shown once, when it is created.
type PersonalToken struct {
	ID         string    `gorm:"primaryKey;size:36"`
	UserID     string    `gorm:"size:36;not null;index"`
	Name       string    `gorm:"size:100;not null"`
	TokenHash  string    `gorm:"size:64;not null;uniqueIndex"`
	Scopes     Scopes    `gorm:"size:255;not null"`
	CreatedAt  time.Time `gorm:"not null"`
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// TableName keeps the table the first migrations created.
func (PersonalToken) TableName() string { return "access_tokens" }
