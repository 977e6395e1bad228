package store

import (
	"errors"
	"fmt"

	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

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
	default:
		return fmt.Errorf("store: %s: %w", op, err)
	}
}
