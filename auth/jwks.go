package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// JWK is one public key as RFC 7517 writes it (with RFC 8037 for Ed25519).
// It never holds private or symmetric material.
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	KID string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKOf returns k as a JWK.
func JWKOf(k PublicKey) (JWK, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	j := JWK{Use: "sig", Alg: k.Alg, KID: k.KID}
	switch p := k.Key.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(p)
	case *ecdsa.PublicKey:
		raw, err := p.Bytes() // 0x04 || X || Y, 32 bytes each on P-256
		if err != nil || len(raw) != 65 {
			return JWK{}, fmt.Errorf("jwk %s: not a P-256 key", k.KID)
		}
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
	default:
		return JWK{}, fmt.Errorf("jwk %s: unsupported key type %T", k.KID, k.Key)
	}
	return j, nil
}

// JWKS returns the JSON Web Key Set of the public keys t verifies with:
// {"keys":[...]}, empty in HS256 mode.
func (t *Tokens) JWKS() ([]byte, error) {
	set := struct {
		Keys []JWK `json:"keys"`
	}{Keys: []JWK{}}
	for _, k := range t.PublicKeys() {
		j, err := JWKOf(k)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}
