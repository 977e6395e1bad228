package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Key-derivation labels: each use of the JWT secret gets its own key, so a
// key recovered from one use says nothing about the others.
const (
	sealInfo    = "ironclad refresh successor v1"
	limiterInfo = "ironclad login limiter v1"
)

// deriveKey derives a 256-bit key for purpose info from secret (HKDF-SHA256).
func deriveKey(secret []byte, info string) ([]byte, error) {
	if len(secret) == 0 {
		return nil, errors.New("derive key: empty secret")
	}
	return hkdf.Key(sha256.New, secret, nil, info, 32)
}

// sealer encrypts short secrets for storage with AES-256-GCM under a key
// derived from the JWT secret: a database dump alone does not reveal them.
type sealer struct{ aead cipher.AEAD }

func newSealer(secret []byte) (*sealer, error) { return newSealerFor(secret, sealInfo) }

// newSealerFor is newSealer with its own key-derivation label.
func newSealerFor(secret []byte, info string) (*sealer, error) {
	key, err := deriveKey(secret, info)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts plain bound to ad (which must be given again to open, so a
// sealed value cannot be moved to another row) under a random nonce.
func (s *sealer) seal(plain, ad []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand never fails since Go 1.24
	return s.aead.Seal(nonce, nonce, plain, ad)
}

// open decrypts a value made by seal with the same ad.
func (s *sealer) open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], ad)
}
