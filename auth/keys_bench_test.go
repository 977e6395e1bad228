package auth

import (
	"crypto"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

// benchTokens returns Tokens signing with a fresh key of alg (HS256: the
// secret).
func benchTokens(b *testing.B, alg string) *Tokens {
	b.Helper()
	tk, err := NewTokens(TokenConfig{Secret: ringSecret, AccessTTL: 5 * time.Minute, CacheSize: -1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if alg == AlgHS256 {
		return tk
	}
	priv, err := generateKey(alg)
	if err != nil {
		b.Fatal(err)
	}
	method, _ := methodOf(alg)
	var pub crypto.PublicKey = priv.Public()
	tk.setKeys(&keySet{
		signer: signKey{kid: "bench", method: method, key: priv},
		byKID:  map[string]verifyKey{"bench": {method: method, key: pub}},
	})
	return tk
}

func BenchmarkIssueAccessAlg(b *testing.B) {
	for _, alg := range Algorithms {
		b.Run(alg, func(b *testing.B) {
			tk := benchTokens(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := tk.IssueAccess("user", "session", models.RoleUser); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyAccessAlg(b *testing.B) {
	for _, alg := range Algorithms {
		b.Run(alg, func(b *testing.B) {
			tk := benchTokens(b, alg)
			tok, _, err := tk.IssueAccess("user", "session", models.RoleUser)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tk.VerifyAccess(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
