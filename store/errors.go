package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ironclad-auth/ironclad/models"
)

// ErrUnavailable answers a request whose database is unreachable, too slow
// (DB_STATEMENT_TIMEOUT, REQUEST_TIMEOUT) or locked past the busy timeout:
// nothing was changed, and the client may retry after RetryAfter.
var ErrUnavailable = &models.Error{
	Code:       models.CodeServiceUnavailable,
	Message:    "the service is temporarily unavailable; retry shortly",
	RetryAfter: 2 * time.Second,
}

// unavailable wraps cause as ErrUnavailable, keeping it for the log.
func unavailable(cause error) *models.Error {
	e := *ErrUnavailable
	e.Err = cause
	return &e
}

// isUnavailable reports whether err says the database could not answer in
// time or at all, rather than refusing the statement.
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57014", // query_canceled: statement_timeout
			pgErr.Code == "55P03",                // lock_not_available
			pgErr.Code == "53300",                // too_many_connections
			strings.HasPrefix(pgErr.Code, "57P"), // shutting down, cannot connect now
			strings.HasPrefix(pgErr.Code, "08"):  // connection exceptions
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) {
		return true
	}
	var code interface{ Code() int }
	if errors.As(err, &code) {
		switch code.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	// database/sql's own "closed" error is not exported.
	return strings.Contains(err.Error(), "sql: database is closed")
}

// ErrNotFound means the requested row does not exist. Callers map it to
// their own error (an unknown refresh token, an inactive user...).
var ErrNotFound = errors.New("store: not found")

// ErrConflict means a conditional write found the row no longer in the
// expected state: another request rotated the token first, or the token or
// its session stopped being valid. Nothing was written.
var ErrConflict = errors.New("store: conflict")

// wrap translates a gorm or driver error for callers: a missing row becomes
// ErrNotFound; anything else is wrapped with the operation name. The result
// is never a *models.Error, so driver and SQL text can only reach logs, where
// the error presenter puts unexpected errors.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict):
		return err // already ours, from inside a transaction
	case errors.As(err, new(*models.Error)):
		return err // a typed error built by this package
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case isUnavailable(err):
		return unavailable(fmt.Errorf("store: %s: %w", op, err))
	default:
		return fmt.Errorf("store: %s: %w", op, err)
	}
}
