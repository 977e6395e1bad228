package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/ironclad-auth/ironclad/store"
)

// The dummy path of login imitates the stored mix of hash formats: once
// accounts were imported with pbkdf2, bcrypt or scrypt hashes, a wrong
// password for a known user costs what that user's format costs, so the
// unknown-user path must cost the same distribution, or timing would tell
// names that exist from names that do not. The Service counts the formats
// at startup and again every hashMixEvery (in the background, after a
// login), and tells its Hasher (Hasher.SetMix).

// hashMixEvery is how often the mix of stored formats is counted again. Users
// move from imported formats to argon2id only as they log in, so the mix
// drifts slowly.
const hashMixEvery = 10 * time.Minute

// RefreshHashMix counts the stored hash formats and gives the mix to the
// hasher. Startup calls it; Login calls it again in the background when the
// last count is older than hashMixEvery.
func (s *Service) RefreshHashMix(ctx context.Context) error {
	byPrefix := HashPrefixes()
	prefixes := make([]string, 0, len(byPrefix))
	for p := range byPrefix {
		prefixes = append(prefixes, p)
	}
	counts, err := s.store.HashMix(ctx, prefixes)
	if err != nil {
		return fmt.Errorf("count password hash formats: %w", err)
	}
	shares := make([]HashShare, len(counts))
	for i, c := range counts {
		shares[i] = HashShare{Sample: c.Sample, Count: c.Count}
	}
	s.hasher.SetMix(shares)
	s.mixAt.Store(s.opts.Now().UnixNano())
	return nil
}

// maybeRefreshHashMix starts a background count when the last one is stale.
// At most one runs at a time; it never delays the login that started it.
func (s *Service) maybeRefreshHashMix() {
	if time.Duration(s.opts.Now().UnixNano()-s.mixAt.Load()) < hashMixEvery || !s.mixRunning.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.mixRunning.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.RefreshHashMix(ctx); err != nil {
			s.mixAt.Store(s.opts.Now().UnixNano()) // retry at the next interval, not on every login
			s.log.Warn("password hash formats not recounted", "err", err)
		}
	}()
}

// dummyPick is the keyed hash of a username that picks its dummy format:
// keyed with JWT_SECRET so that it is the same on every replica yet cannot be
// computed by a client, and of the folded username so that "Alice" and
// "alice" cost alike.
func (s *Service) dummyPick(username string) uint64 {
	m := hmac.New(sha256.New, s.tokens.secret)
	m.Write([]byte("ironclad dummy hash\x00"))
	m.Write([]byte(store.UsernameKey(username)))
	return binary.BigEndian.Uint64(m.Sum(nil))
}
