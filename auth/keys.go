package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signing algorithms of access tokens (JWT_ALG).
const (
	AlgEdDSA = "EdDSA" // Ed25519, the default of a new installation
	AlgES256 = "ES256" // ECDSA P-256 with SHA-256
	AlgRS256 = "RS256" // RSASSA-PKCS1-v1_5 2048-bit with SHA-256
	AlgHS256 = "HS256" // HMAC with JWT_SECRET: no public keys, no JWKS
)

// TokenType is the typ header of every access token (RFC 9068).
const TokenType = "at+jwt"

// Algorithms lists the values JWT_ALG accepts.
var Algorithms = []string{AlgEdDSA, AlgES256, AlgRS256, AlgHS256}

// Asymmetric reports whether alg signs with a private key and publishes a
// public one.
func Asymmetric(alg string) bool { return alg == AlgEdDSA || alg == AlgES256 || alg == AlgRS256 }

// methodOf returns the signing method of a supported algorithm.
func methodOf(alg string) (jwt.SigningMethod, bool) {
	switch alg {
	case AlgEdDSA:
		return jwt.SigningMethodEdDSA, true
	case AlgES256:
		return jwt.SigningMethodES256, true
	case AlgRS256:
		return jwt.SigningMethodRS256, true
	case AlgHS256:
		return jwt.SigningMethodHS256, true
	case "HS384":
		return jwt.SigningMethodHS384, true
	case "HS512":
		return jwt.SigningMethodHS512, true
	}
	return nil, false
}

// validMethods is the parser's allow-list: every algorithm a key of the
// ring may have. It rules out "none"; the key a token's kid names then
// pins the one algorithm that token may use (keySet.key).
func validMethods(hmacAlg string) []string {
	return []string{hmacAlg, AlgEdDSA, AlgES256, AlgRS256}
}

// PublicKey is a key of the ring that verifies tokens: what the JWKS
// publishes.
type PublicKey struct {
	KID string
	Alg string
	Key crypto.PublicKey // ed25519.PublicKey, *ecdsa.PublicKey or *rsa.PublicKey
}

// verifyKey is one key the verifier accepts tokens from.
type verifyKey struct {
	method jwt.SigningMethod
	key    any       // public key, or the HMAC secret
	until  time.Time // zero: no end; else accepted strictly before
	hmac   bool
}

// signKey is the key new tokens are signed with.
type signKey struct {
	kid    string
	method jwt.SigningMethod
	key    any // private key, or the HMAC secret
}

// keySet is one immutable generation of the key ring. Tokens swaps whole
// sets atomically, so a verification sees one consistent ring.
type keySet struct {
	signer signKey
	byKID  map[string]verifyKey
	// legacy verifies HMAC tokens issued before tokens carried a kid; nil
	// when there is none.
	legacy *verifyKey
	public []PublicKey // asymmetric keys that verify, for the JWKS
	// next, when set, takes over from signer at nextAt: a rotation's key
	// starts signing at its activation instant on every replica, without
	// waiting for a reload.
	next   *signKey
	nextAt time.Time
	// minUntil is the earliest end of a key's verification window (zero:
	// none ends). The token cache expires entries by then, so a cached
	// verification never outlives the key that made it.
	minUntil time.Time
}

// add records that kid verifies with vk.
func (ks *keySet) add(kid string, vk verifyKey) {
	ks.byKID[kid] = vk
	if !vk.until.IsZero() && (ks.minUntil.IsZero() || vk.until.Before(ks.minUntil)) {
		ks.minUntil = vk.until
	}
}

// hmacKID names the HMAC key in token headers. It is derived from the
// secret through HKDF, so it reveals nothing about it, and changes when
// the secret does.
func hmacKID(secret []byte) string {
	k, err := deriveKey(secret, "ironclad hmac kid v1")
	if err != nil {
		return "hs"
	}
	sum := sha256.Sum256(k)
	return "hs-" + base64.RawURLEncoding.EncodeToString(sum[:9])
}

// hmacKeySet is the ring of HS256 mode: the shared secret signs and
// verifies, with or without a kid in the header.
func hmacKeySet(method jwt.SigningMethod, secret []byte) *keySet {
	kid := hmacKID(secret)
	vk := verifyKey{method: method, key: secret, hmac: true}
	return &keySet{
		signer: signKey{kid: kid, method: method, key: secret},
		byKID:  map[string]verifyKey{kid: vk},
		legacy: &vk,
	}
}

// errUnknownKID refuses a token whose kid is not in the ring. It may be a
// key another replica made a moment ago (keys rotate --activate-now): the
// verifier reloads the ring once and tries again before refusing.
var errUnknownKID = fmt.Errorf("%w: unknown kid", jwt.ErrTokenUnverifiable)

// key is the parser's key function over ks: the key the token's kid names,
// provided the header's alg is that key's algorithm. The header's alg alone
// never chooses a key, which rules out algorithm confusion (an HS256 token
// "signed" with a public key, alg none).
func (ks *keySet) key(tok *jwt.Token, now time.Time) (any, error) {
	var vk verifyKey
	switch kid, present := tok.Header["kid"]; {
	case !present:
		if ks.legacy == nil {
			return nil, jwt.ErrTokenUnverifiable
		}
		vk = *ks.legacy
	default:
		s, ok := kid.(string)
		if !ok {
			return nil, jwt.ErrTokenMalformed
		}
		if vk, ok = ks.byKID[s]; !ok {
			return nil, errUnknownKID
		}
	}
	if tok.Method != vk.method {
		return nil, jwt.ErrTokenSignatureInvalid
	}
	if !vk.until.IsZero() && !now.Before(vk.until) {
		return nil, jwt.ErrTokenUnverifiable
	}
	typ, present := tok.Header["typ"]
	switch s, _ := typ.(string); {
	case s == TokenType:
	case vk.hmac && (!present || s == "JWT"):
		// Tokens issued before RFC 9068 typing, in HS256 mode or in the
		// transition after a switch to an asymmetric algorithm.
	default:
		return nil, jwt.ErrTokenMalformed
	}
	return vk.key, nil
}

// sign signs claims with the current signing key, naming it in kid.
func (t *Tokens) sign(claims jwt.Claims) (string, error) {
	ks := t.keys.Load()
	s := ks.signer
	if ks.next != nil && !t.now().Before(ks.nextAt) {
		s = *ks.next
	}
	tok := jwt.NewWithClaims(s.method, claims)
	tok.Header["kid"] = s.kid
	tok.Header["typ"] = TokenType
	return tok.SignedString(s.key)
}

// PublicKeys returns the public keys that currently verify access tokens
// (next, signing and verify-only keys): none in HS256 mode.
func (t *Tokens) PublicKeys() []PublicKey {
	return append([]PublicKey(nil), t.keys.Load().public...)
}

// SigningKID returns the kid new access tokens carry.
func (t *Tokens) SigningKID() string {
	ks := t.keys.Load()
	if ks.next != nil && !t.now().Before(ks.nextAt) {
		return ks.next.kid
	}
	return ks.signer.kid
}

// setKeys installs ks. When a kid that verified before is gone (revoked,
// expired), the cache of verified tokens is emptied so that tokens signed
// by it stop passing at once.
func (t *Tokens) setKeys(ks *keySet) {
	old := t.keys.Swap(ks)
	if old == nil || t.cache == nil {
		return
	}
	for kid := range old.byKID {
		if _, ok := ks.byKID[kid]; !ok {
			t.cache.clear()
			return
		}
	}
	if old.legacy != nil && ks.legacy == nil {
		t.cache.clear()
	}
}

// generateKey makes a new private key for alg.
func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case AlgEdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case AlgES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("generate key: %q is not an asymmetric algorithm", alg)
}

// algOfKey returns the algorithm a private key signs with.
func algOfKey(k any) (string, error) {
	switch k := k.(type) {
	case ed25519.PrivateKey:
		return AlgEdDSA, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("ECDSA key is not on P-256 (ES256)")
		}
		return AlgES256, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", errors.New("RSA key is shorter than 2048 bits")
		}
		return AlgRS256, nil
	}
	return "", fmt.Errorf("unsupported private key type %T (want Ed25519, ECDSA P-256 or RSA)", k)
}
