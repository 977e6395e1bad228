package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// States of a signing key (see SigningKey.State).
const (
	KeyNext       = "next"        // published in the JWKS, not signing yet
	KeySigning    = "signing"     // signs new access tokens; at most one row
	KeyVerifyOnly = "verify-only" // no longer signs; verifies until its tokens expired
	KeyRevoked    = "revoked"     // verifies nothing
)

// SigningKey is one row of signing_keys: an asymmetric key of the access
// token key ring. Private holds the PKCS#8 private key sealed by auth (the
// store never sees it in clear); Public is its PKIX DER public key.
type SigningKey struct {
	KID            string `gorm:"column:kid;primaryKey"`
	Alg            string
	Public         []byte `gorm:"column:public_key"`
	Private        []byte `gorm:"column:private_sealed"`
	State          string
	CreatedAt      time.Time
	ActivatesAt    *time.Time
	VerifyOnlyFrom *time.Time
	RevokedAt      *time.Time
}

// TableName is the table of signing keys.
func (SigningKey) TableName() string { return "signing_keys" }

// InsertFirstSigningKey stores k (State KeySigning) unless a signing key
// already exists, and reports whether it did. The unique partial index on
// the signing state makes two replicas starting at once on an empty
// database keep exactly one key: the second insert is a no-op.
func (s *Store) InsertFirstSigningKey(ctx context.Context, k SigningKey) (bool, error) {
	k.State = KeySigning
	k.CreatedAt = utc(k.CreatedAt)
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&k)
	if res.Error != nil {
		return false, wrap("insert signing key", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SigningKeys returns every signing key, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	var ks []SigningKey
	if err := s.db.WithContext(ctx).Order("created_at, kid").Find(&ks).Error; err != nil {
		return nil, wrap("list signing keys", err)
	}
	return ks, nil
}

// signingKeysPostgres creates the key ring's table. Only one row may be in
// the signing state (idx_signing_keys_one_signing).
var signingKeysPostgres = []string{
	`CREATE TABLE signing_keys (
		kid              varchar(64)  PRIMARY KEY,
		alg              varchar(16)  NOT NULL,
		public_key       bytea        NOT NULL,
		private_sealed   bytea        NOT NULL,
		state            varchar(16)  NOT NULL CONSTRAINT chk_signing_keys_state CHECK (state IN ('next', 'signing', 'verify-only', 'revoked')),
		created_at       timestamptz  NOT NULL,
		activates_at     timestamptz,
		verify_only_from timestamptz,
		revoked_at       timestamptz
	)`,
	`CREATE UNIQUE INDEX idx_signing_keys_one_signing ON signing_keys (state) WHERE state = 'signing'`,
}

// signingKeysSQLite is signingKeysPostgres in SQLite's types.
var signingKeysSQLite = []string{
	`CREATE TABLE signing_keys (
		kid              text     PRIMARY KEY,
		alg              text     NOT NULL,
		public_key       blob     NOT NULL,
		private_sealed   blob     NOT NULL,
		state            text     NOT NULL CHECK (state IN ('next', 'signing', 'verify-only', 'revoked')),
		created_at       datetime NOT NULL,
		activates_at     datetime,
		verify_only_from datetime,
		revoked_at       datetime
	)`,
	`CREATE UNIQUE INDEX idx_signing_keys_one_signing ON signing_keys (state) WHERE state = 'signing'`,
}

// dropSigningKeys undoes the signing keys migration.
var dropSigningKeys = []string{
	`DROP INDEX IF EXISTS idx_signing_keys_one_signing`,
	`DROP TABLE IF EXISTS signing_keys`,
}

// AddSigningKey stores k, a new key, and tells every replica. With
// activateNow it signs at once and the signing key becomes verify-only;
// keys a rotation scheduled before are superseded as well; otherwise it is
// next, signing from activatesAt (each replica's key ring
// switches at that instant on its own).
func (s *Store) AddSigningKey(ctx context.Context, k SigningKey, activatesAt time.Time, activateNow bool) error {
	return s.write(ctx, "add signing key", func(tx *gorm.DB) error {
		k.CreatedAt = utc(k.CreatedAt)
		at := utc(activatesAt)
		k.ActivatesAt = &at
		k.State = KeyNext
		if activateNow {
			// The signing key, and any key a rotation scheduled (due or
			// not): the new key supersedes them all.
			if err := tx.Model(&SigningKey{}).Where("state IN ?", []string{KeySigning, KeyNext}).
				Updates(map[string]any{"state": KeyVerifyOnly, "verify_only_from": at}).Error; err != nil {
				return err
			}
			k.State = KeySigning
		}
		if err := tx.Create(&k).Error; err != nil {
			return err
		}
		return s.changed(tx, Change{Keys: true})
	})
}

// RevokeSigningKey marks key kid revoked, and tells every replica to stop
// verifying with it. ErrNotFound means no such key, or revoked already.
func (s *Store) RevokeSigningKey(ctx context.Context, kid string, now time.Time) error {
	return s.write(ctx, "revoke signing key", func(tx *gorm.DB) error {
		res := tx.Model(&SigningKey{}).Where("kid = ? AND state <> ?", kid, KeyRevoked).
			Updates(map[string]any{"state": KeyRevoked, "revoked_at": utc(now)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return s.changed(tx, Change{Keys: true})
	})
}

// keyRotateLockKey is the Postgres advisory lock that serialises scheduled
// rotations between replicas (SQLite's immediate transactions already do).
const keyRotateLockKey int64 = 0x69726f6e6b657973 // "ironkeys"

// ScheduleSigningKey stores k as next, signing from activatesAt, unless a
// key started or was scheduled to start signing after since; it reports
// whether it did. Replicas rotating on a timer call it together: one of
// them adds a key, the others see it and add none.
func (s *Store) ScheduleSigningKey(ctx context.Context, k SigningKey, activatesAt, since time.Time) (bool, error) {
	added := false
	err := s.write(ctx, "schedule signing key", func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", keyRotateLockKey).Error; err != nil {
				return err
			}
		}
		var n int64
		if err := tx.Model(&SigningKey{}).
			Where("state IN ? AND COALESCE(activates_at, created_at) > ?", []string{KeySigning, KeyNext}, utc(since)).
			Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		k.CreatedAt = utc(k.CreatedAt)
		at := utc(activatesAt)
		k.ActivatesAt, k.State = &at, KeyNext
		if err := tx.Create(&k).Error; err != nil {
			return err
		}
		added = true
		return s.changed(tx, Change{Keys: true})
	})
	return added, err
}
