package models

import "time"

// Purposes of a MailToken.
const (
	PurposeReset  = "reset"  // resetPassword
	PurposeVerify = "verify" // verifyEmail
)

// MailToken is a password-reset or email-verification token, stored only as
// hashes: TokenHash of the token in the link, CodeHash of its 8-character
// code (keyed, since a code is short).
type MailToken struct {
	ID        string `gorm:"primaryKey;size:36"`
	UserID    string `gorm:"size:36;not null"`
	Purpose   string `gorm:"size:16;not null"`
	TokenHash string `gorm:"size:64;not null"`
	CodeHash  string `gorm:"size:64;not null"`
	// Email is the address the token was sent to: a verification token
	// proves only that address.
	Email     string    `gorm:"size:320;not null"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
	UsedAt    *time.Time
}

// OutboxMail is one message waiting in the outbox, or sent. Sealed is the
// rendered message, encrypted: it carries a token until it is sent.
type OutboxMail struct {
	ID            string  `gorm:"primaryKey;size:36"`
	UserID        *string `gorm:"size:36"`
	Kind          string  `gorm:"size:32;not null"`
	Sealed        []byte  `gorm:"not null"`
	CreatedAt     time.Time
	NextAttemptAt time.Time
	ClaimedUntil  *time.Time
	Attempts      int
	LastError     string `gorm:"size:255"`
	SentAt        *time.Time
	FailedAt      *time.Time
}

// TableName is mail_outbox.
func (OutboxMail) TableName() string { return "mail_outbox" }
