package models

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// AuditType is the kind of a security event in the audit log. The values
// are the GraphQL AuditEventType enum names.
type AuditType string

// The audit event types. A flow that adds an event adds its type here and to
// the AuditEventType enum of graph/audit.graphqls (a test checks that both
// list the same names).
const (
	AuditLoginSucceeded      AuditType = "LOGIN_SUCCEEDED"
	AuditLoginFailed         AuditType = "LOGIN_FAILED"
	AuditRefreshReuse        AuditType = "REFRESH_REUSE_DETECTED"
	AuditLoggedOut           AuditType = "LOGGED_OUT"
	AuditLoggedOutAll        AuditType = "LOGGED_OUT_ALL"
	AuditSessionRevoked      AuditType = "SESSION_REVOKED"
	AuditPasswordChanged     AuditType = "PASSWORD_CHANGED"
	AuditPasswordReset       AuditType = "PASSWORD_RESET"
	AuditRoleChanged         AuditType = "ROLE_CHANGED"
	AuditActiveChanged       AuditType = "ACTIVE_CHANGED"
	AuditPersonalTokenCreate AuditType = "PERSONAL_TOKEN_CREATED"
	AuditPersonalTokenRevoke AuditType = "PERSONAL_TOKEN_REVOKED"
	AuditEmailChanged        AuditType = "EMAIL_CHANGED"
	AuditEmailVerified       AuditType = "EMAIL_VERIFIED"
	AuditRateLimited         AuditType = "RATE_LIMITED"
	AuditAccountDeleted      AuditType = "ACCOUNT_DELETED"
)

// AuditTypes lists every AuditType, in the schema's order.
var AuditTypes = []AuditType{
	AuditLoginSucceeded, AuditLoginFailed, AuditRefreshReuse, AuditLoggedOut, AuditLoggedOutAll,
	AuditSessionRevoked, AuditPasswordChanged, AuditPasswordReset, AuditRoleChanged, AuditActiveChanged,
	AuditPersonalTokenCreate, AuditPersonalTokenRevoke, AuditEmailChanged, AuditEmailVerified,
	AuditRateLimited, AuditAccountDeleted,
}

// AuditEvent is one stored security event. UserID is the account the event
// is about, ActorID who caused it when that is someone else (an admin), and
// SessionID the session it concerns. None of them is a foreign key: the
// trail outlives the users and sessions it names (until AUDIT_RETENTION).
// Details is a JSON object of non-secret facts (a reason, a new role, a
// token's id and name, the request id); never a password, a token or a hash.
type AuditEvent struct {
	ID        string    `gorm:"primaryKey;size:36"`
	At        time.Time `gorm:"not null"`
	Type      AuditType `gorm:"size:32;not null"`
	UserID    *string   `gorm:"size:36"`
	ActorID   *string   `gorm:"size:36"`
	SessionID *string   `gorm:"size:36"`
	IP        string    `gorm:"size:64"`
	UserAgent string    `gorm:"size:512"`
	Details   string    `gorm:"not null"`
}

// DetailsMap decodes Details; an empty or malformed value is an empty map.
func (e *AuditEvent) DetailsMap() map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal([]byte(e.Details), &m)
	return m
}

// IsValid reports whether t is a known type.
func (t AuditType) IsValid() bool { return slices.Contains(AuditTypes, t) }

// UnmarshalGQL implements graphql.Unmarshaler for the AuditEventType enum.
func (t *AuditType) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("audit event type must be a string")
	}
	if !AuditType(s).IsValid() {
		return fmt.Errorf("%q is not a valid AuditEventType", s)
	}
	*t = AuditType(s)
	return nil
}

// MarshalGQL implements graphql.Marshaler for the AuditEventType enum.
func (t AuditType) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(t))) }
