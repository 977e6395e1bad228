package models

import (
	"errors"
	"time"
)

// Code is the machine-readable error class, sent as GraphQL extensions.code.
type Code string

// The error codes of the public API.
const (
	CodeBadUserInput       Code = "BAD_USER_INPUT"
	CodeUnauthenticated    Code = "UNAUTHENTICATED"
	CodeForbidden          Code = "FORBIDDEN"
	CodeTooManyRequests    Code = "TOO_MANY_REQUESTS"
	CodeServiceUnavailable Code = "SERVICE_UNAVAILABLE"
	CodeInternal           Code = "INTERNAL_SERVER_ERROR"
)

// Reasons sent as extensions.reason with UNAUTHENTICATED errors.
const (
	ReasonInvalidCredentials = "invalid_credentials"
	ReasonMissingToken       = "missing_token"
	ReasonTokenExpired       = "token_expired"
	ReasonInvalidToken       = "invalid_token"
	ReasonUserInactive       = "user_inactive"
	ReasonSessionRevoked     = "session_revoked"
	ReasonRefreshInvalid     = "refresh_token_invalid"
	ReasonRefreshExpired     = "refresh_token_expired"
	ReasonRefreshReused      = "refresh_token_reused"
	ReasonTokenRevoked       = "token_revoked" // a personal access token was revoked
	// ReasonEmailUnverified refuses the login of an account whose address
	// is not verified, with EMAIL_VERIFICATION=required (after the
	// password check).
	ReasonEmailUnverified = "email_unverified"
)

// ReasonMailDisabled is sent with FORBIDDEN by the mail features of a
// production server without SMTP_URL.
const ReasonMailDisabled = "mail_disabled"

// Reasons sent with BAD_USER_INPUT for a reset or verification token
// (or its 8-character code) that is unknown or used, or expired.
const (
	ReasonResetTokenInvalid        = "reset_token_invalid"
	ReasonResetTokenExpired        = "reset_token_expired"
	ReasonVerificationTokenInvalid = "verification_token_invalid"
	ReasonVerificationTokenExpired = "verification_token_expired"
)

// Reasons sent as extensions.reason with FORBIDDEN errors raised for a
// personal access token.
const (
	ReasonInsufficientScope = "insufficient_scope" // the token lacks the field's scope
	ReasonSessionRequired   = "session_required"   // the field is not for access tokens
)

// ReasonOriginNotAllowed is sent with FORBIDDEN (HTTP 403) to a websocket
// handshake whose Origin is neither the server's nor a CORS_ALLOWED_ORIGINS
// one: refused before upgrading (cross-site websocket hijacking).
const ReasonOriginNotAllowed = "origin_not_allowed"

// ReasonIntrospectionDisabled is sent with FORBIDDEN for __schema and __type
// when introspection is off (PLAYGROUND=false, the production default).
const ReasonIntrospectionDisabled = "introspection_disabled"

// CodeBadRequest is a request the server refuses to act on as sent; with
// ReasonCSRFHeaderMissing it is a cookie-authenticated operation without the
// custom header that proves it was not sent by a cross-site form.
const (
	CodeBadRequest          Code = "BAD_REQUEST"
	ReasonCSRFHeaderMissing      = "csrf_header_missing"
)

// Error is an error whose Message is safe to show to clients.
type Error struct {
	Code       Code          // extensions.code
	Reason     string        // extensions.reason, may be empty
	Field      string        // extensions.field for BAD_USER_INPUT, may be empty
	Message    string        // safe to show clients
	RetryAfter time.Duration // TOO_MANY_REQUESTS only
	Err        error         // cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is match two *Error values with the same code and reason,
// so sentinel errors below can be compared after wrapping.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return e.Code == t.Code && e.Reason == t.Reason && t.Field == "" && (t.Message == "" || t.Message == e.Message)
}

// BadInput returns a BAD_USER_INPUT error.
func BadInput(msg string) *Error { return &Error{Code: CodeBadUserInput, Message: msg} }

// BadField returns a BAD_USER_INPUT error naming the offending input field.
func BadField(field, msg string) *Error {
	return &Error{Code: CodeBadUserInput, Field: field, Message: msg}
}

// Unauthenticated returns an UNAUTHENTICATED error with a reason.
func Unauthenticated(reason, msg string) *Error {
	return &Error{Code: CodeUnauthenticated, Reason: reason, Message: msg}
}

// Forbidden returns a FORBIDDEN error.
func Forbidden(msg string) *Error { return &Error{Code: CodeForbidden, Message: msg} }

// TooManyRequests returns a TOO_MANY_REQUESTS error with a retry hint.
func TooManyRequests(msg string, retryAfter time.Duration) *Error {
	return &Error{Code: CodeTooManyRequests, Message: msg, RetryAfter: retryAfter}
}

// CodeOf returns the code of the first *Error in err's chain, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ReasonOf returns the reason of the first *Error in err's chain.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
