package auth

import (
	"errors"
	"time"
)

// Observer is told the outcome of each flow, for metrics. auth counts
// nothing itself and imports no metrics library: the application passes an
// Observer in Options (app wires the Prometheus one, internal/metrics).
// Methods are called synchronously on the request's goroutine, so they must
// be cheap (an atomic increment) and safe for concurrent use. Embed
// NopObserver to implement only some of them and to keep compiling when
// methods are added.
type Observer interface {
	// Login is called once per login attempt that passed input checks or
	// failed them.
	Login(LoginOutcome)
	// Refresh is called once per refreshToken call.
	Refresh(RefreshOutcome)
	// SessionsEnded is called when n (>= 1) live sessions ended for cause.
	SessionsEnded(cause EndCause, n int)
	// RateLimited is called when the login limiter refused an attempt
	// (login or password change); limiter is LimiterUser or LimiterIP.
	RateLimited(limiter string)
	// Hashed is called after each argon2id computation (hash or verify)
	// with the time it took, excluding the wait for a hashing slot.
	Hashed(d time.Duration)
}

// NopObserver observes nothing: the Observer of a Service built without one.
type NopObserver struct{}

func (NopObserver) Login(LoginOutcome)          {}
func (NopObserver) Refresh(RefreshOutcome)      {}
func (NopObserver) SessionsEnded(EndCause, int) {}
func (NopObserver) RateLimited(string)          {}
func (NopObserver) Hashed(time.Duration)        {}

// The limiters of Observer.RateLimited.
const (
	LimiterUser = "login_user" // failures per username
	LimiterIP   = "login_ip"   // failures per client IP
)

// LoginOutcome is how one login attempt ended.
type LoginOutcome uint8

// The outcomes of a login. LoginEmailUnverified is defined for the e-mail
// verification policy and not produced yet.
const (
	LoginOK LoginOutcome = iota
	LoginInvalidCredentials
	LoginRateLimited
	LoginInactive
	LoginEmailUnverified
	LoginInvalidInput // empty or oversized username or password
	LoginBusy         // the hashing pool stayed full
	LoginError        // the database or another dependency failed
	NumLoginOutcomes  // the number of outcomes, for tables indexed by them
)

var loginOutcomes = [NumLoginOutcomes]string{"ok", "invalid_credentials", "rate_limited", "inactive",
	"email_unverified", "invalid_input", "busy", "error"}

// String returns the outcome's metric label value.
func (o LoginOutcome) String() string {
	if o < NumLoginOutcomes {
		return loginOutcomes[o]
	}
	return "error"
}

// RefreshOutcome is how one refreshToken call ended.
type RefreshOutcome uint8

// The outcomes of a refresh.
const (
	RefreshOK          RefreshOutcome = iota
	RefreshGrace                      // a second presentation within REFRESH_REUSE_GRACE got the same successor
	RefreshReused                     // a used token came back: its session was ended
	RefreshExpired                    // the token or its session is past its end
	RefreshInvalid                    // unknown, revoked or malformed token
	RefreshInactive                   // the account is inactive
	RefreshError                      // the database or another dependency failed
	NumRefreshOutcomes                // the number of outcomes
)

var refreshOutcomes = [NumRefreshOutcomes]string{"ok", "grace", "reused", "expired", "invalid", "inactive", "error"}

// String returns the outcome's metric label value.
func (o RefreshOutcome) String() string {
	if o < NumRefreshOutcomes {
		return refreshOutcomes[o]
	}
	return "error"
}

// EndCause is why sessions ended.
type EndCause uint8

// The causes of a session's end.
const (
	EndLogout          EndCause = iota // logout with the session's refresh token
	EndLogoutAll                       // logoutAll: every session of the user
	EndRevoked                         // revokeSession by the user
	EndReused                          // a rotated refresh token was presented again
	EndPasswordChanged                 // a password change ended the other sessions
	NumEndCauses                       // the number of causes
)

var endCauses = [NumEndCauses]string{"logout", "logout_all", "revoked", "refresh_reused", "password_changed"}

// String returns the cause's metric label value.
func (c EndCause) String() string {
	if c < NumEndCauses {
		return endCauses[c]
	}
	return "other"
}

// refreshOutcome classifies the result of a refresh.
func refreshOutcome(g *Grant, err error) RefreshOutcome {
	switch {
	case err == nil && g != nil && g.grace:
		return RefreshGrace
	case err == nil:
		return RefreshOK
	case errors.Is(err, ErrRefreshReused):
		return RefreshReused
	case errors.Is(err, ErrRefreshExpired):
		return RefreshExpired
	case errors.Is(err, ErrRefreshInvalid):
		return RefreshInvalid
	case errors.Is(err, ErrUserInactive):
		return RefreshInactive
	}
	return RefreshError
}
