package store

import (
	"context"
	"errors"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

// Successor is what a rotated refresh token keeps for the reuse grace
// window: its successor, sealed by the caller (the store never sees it in
// plain text), and when the window ends.
type Successor struct {
	Sealed []byte
	Until  time.Time
}

// forgetSuccessor clears a token's kept successor.
var forgetSuccessor = map[string]any{"successor_sealed": nil, "successor_until": nil}

// RotateKeeping is Rotate that also keeps keep in the old token's row, so a
// benign second presentation of the old token within keep.Until can be
// answered with the same successor. Older tokens of the session forget
// theirs in the same transaction: only the immediately previous token
// qualifies.
func (s *Store) RotateKeeping(ctx context.Context, oldID string, next *models.RefreshToken, now time.Time, userAgent, ip string, keep Successor) error {
	if len(keep.Sealed) == 0 || keep.Until.IsZero() {
		return errors.New("store: rotate keeping: sealed successor and window end are required")
	}
	return s.rotate(ctx, oldID, next, now, userAgent, ip, &keep)
}

// KeptSuccessor returns the sealed successor kept by refresh token tokenID
// while its window is open at now. ErrNotFound if there is none: the token
// was not rotated with RotateKeeping, its window closed, a newer rotation of
// its session replaced it, or the token was revoked.
func (s *Store) KeptSuccessor(ctx context.Context, tokenID string, now time.Time) ([]byte, error) {
	var row struct {
		SuccessorSealed []byte
		SuccessorUntil  *time.Time
	}
	res := s.db.WithContext(ctx).Model(&models.RefreshToken{}).
		Select("successor_sealed", "successor_until").
		Where("id = ? AND revoked_at IS NULL AND successor_until > ?", tokenID, utc(now)).
		Limit(1).Scan(&row)
	if res.Error != nil {
		return nil, wrap("kept successor", res.Error)
	}
	if res.RowsAffected == 0 || len(row.SuccessorSealed) == 0 {
		return nil, ErrNotFound
	}
	return row.SuccessorSealed, nil
}

// forgetExpiredSuccessors clears the sealed successors whose window closed
// before now, in bounded batches, so none outlives its window by more than
// one purge interval. It returns the number of rows cleared.
func (s *Store) forgetExpiredSuccessors(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		res := s.db.WithContext(ctx).Exec("UPDATE refresh_tokens SET successor_sealed = NULL, successor_until = NULL "+
			"WHERE id IN (SELECT id FROM refresh_tokens WHERE successor_until <= ? LIMIT ?)", utc(now), purgeBatch)
		if res.Error != nil {
			return total, wrap("forget expired successors", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < purgeBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
