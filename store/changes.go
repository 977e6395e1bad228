package store

// Identity changes: READ THIS BEFORE ADDING A STORE METHOD.
//
// Identity (one user and one session, read on every authenticated request)
// is served from a per-replica cache. A cached entry must never outlive the
// change that makes it wrong, so every method that ends a session or changes
// what Identity returns about a user — active flag, role, deletion, password,
// profile fields, last login — must:
//
//  1. run its writes through s.write (one transaction), and
//  2. call s.changed(tx, Change{...}) inside it, once per session or user.
//
// For example, DeleteUser (users.go):
//
//	func (s *Store) DeleteUser(ctx context.Context, userID string) error {
//		return s.write(ctx, "delete user", func(tx *gorm.DB) error {
//			res := tx.Where("id = ?", userID).Delete(&models.User{})
//			if res.Error != nil {
//				return res.Error
//			}
//			if res.RowsAffected == 0 {
//				return ErrNotFound
//			}
//			return s.changed(tx, Change{UserID: userID})
//		})
//	}
//
// Change{SessionID: id} ends one session (logout, revocation, reuse); for
// "log out everywhere" or a password change, Change{UserID: id} drops every
// cached session of the user at once. changed sends pg_notify in the same
// transaction on Postgres, so every replica hears of the change when it
// commits and never of one rolled back; write then drops the entries of this
// replica (and of other Stores of this process on the same SQLite file) right
// after the commit, and publishes the change on Redis when REDIS_URL is set.
// Methods calling changed today: RevokeSession, RevokeUserSession,
// RevokeUserSessions (revoke.go), ChangePassword (password.go), SetPassword (users.go),
// SetUserActive, SetUserRole (standing.go), UpdateProfile (profile.go),
// RecordLogin, DeleteUser (users.go) and StartLoginSession (login.go; on
// Postgres its single statement sends the notification itself, and it then
// applies and publishes the change as write does).

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Change names what a write changed, for invalidating identity caches.
type Change struct {
	UserID    string // this user changed: every one of their sessions is re-read
	SessionID string // this session ended or changed
	// Keys means the signing key ring changed (a rotation or revocation):
	// every replica reloads it (Store.OnKeysChanged).
	Keys bool
}

// notifyChannel is the Postgres NOTIFY channel (and Redis pub/sub channel)
// carrying Changes between replicas.
const notifyChannel = "ironclad_identity"

// encode renders c as a notification payload: "<user id>|<session id>",
// followed by "|keys" for a key ring change. A replica of an older version
// reads that one as the session id "|keys", which names no session: the
// extension is harmless to it.
func (c Change) encode() string {
	if c.Keys {
		return c.UserID + "|" + c.SessionID + "|keys"
	}
	return c.UserID + "|" + c.SessionID
}

// decodeChange parses a payload made by encode.
func decodeChange(payload string) (Change, bool) {
	u, rest, ok := strings.Cut(payload, "|")
	sid, flag, _ := strings.Cut(rest, "|")
	c := Change{UserID: u, SessionID: sid, Keys: flag == "keys"}
	return c, ok && (u != "" || sid != "" || c.Keys)
}

// changesKey is the context key under which write collects the Changes of
// its transaction.
type changesKey struct{}

var errOutsideWrite = errors.New("store: changed called outside Store.write")

// write runs fn in one transaction. The Changes fn records with changed are
// applied to this process's caches after the commit and published to the
// other replicas (Postgres: by changed itself, inside the transaction;
// Redis: here, after the commit). Errors are translated with wrap(op, ...).
func (s *Store) write(ctx context.Context, op string, fn func(tx *gorm.DB) error) error {
	var changes []Change
	ctx = context.WithValue(ctx, changesKey{}, &changes)
	if err := s.db.WithContext(ctx).Transaction(fn); err != nil {
		return wrap(op, err)
	}
	s.applyLocal(changes)
	if s.notify != nil {
		s.notify.publish(ctx, changes)
	}
	return nil
}

// changed records that the transaction tx (run by s.write) changed c. On
// Postgres it queues a notification that the database delivers to every
// replica at commit, and only then.
func (s *Store) changed(tx *gorm.DB, c Change) error {
	changes, ok := tx.Statement.Context.Value(changesKey{}).(*[]Change)
	if !ok {
		return errOutsideWrite
	}
	*changes = append(*changes, c)
	if s.dialect == DialectPostgres {
		if err := tx.Exec("SELECT pg_notify(?, ?)", notifyChannel, c.encode()).Error; err != nil {
			return fmt.Errorf("notify identity change: %w", err)
		}
	}
	return nil
}

// applyLocal drops the cached entries named by changes in this Store and in
// every other Store of this process sharing its SQLite database.
func (s *Store) applyLocal(changes []Change) {
	if len(changes) == 0 {
		return
	}
	for _, c := range s.peers() {
		for _, ch := range changes {
			c.invalidate(ch, SourceLocal)
		}
	}
}
