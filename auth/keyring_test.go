package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/internal/testclock"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

var ringSecret = []byte("test-secret-0123456789abcdefghij")

func ringTokens(t *testing.T, secret []byte, now func() time.Time) *Tokens {
	t.Helper()
	tk, err := NewTokens(TokenConfig{Secret: secret, AccessTTL: 5 * time.Minute, Leeway: 5 * time.Second}, now)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestKeyRingFirstStartRace: two replicas starting at once on an empty
// database end up with one key, and both sign with it.
func TestKeyRingFirstStartRace(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			for round := range 3 {
				dsn, st := storetest.OpenDSN(t, kind)
				st2, err := store.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st2.Close() })
				clock := testclock.New()
				tokens := []*Tokens{ringTokens(t, ringSecret, clock.Now), ringTokens(t, ringSecret, clock.Now)}
				var wg sync.WaitGroup
				errs := make([]error, 2)
				for i, s := range []*store.Store{st, st2} {
					wg.Go(func() { _, errs[i] = OpenKeyRing(context.Background(), s, tokens[i], ringSecret, AlgEdDSA) })
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatalf("round %d: OpenKeyRing: %v", round, err)
				}
				rows, err := st.SigningKeys(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) != 1 {
					t.Fatalf("round %d: %d keys, want 1", round, len(rows))
				}
				if a, b := tokens[0].SigningKID(), tokens[1].SigningKID(); a != rows[0].KID || b != rows[0].KID {
					t.Errorf("round %d: replicas sign with %q and %q, want %q", round, a, b, rows[0].KID)
				}
			}
		})
	}
}

// TestKeyRingSealed: the private key is not in the table in any
// encoding, and a wrong JWT_SECRET says so instead of crashing.
func TestKeyRingSealed(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		for _, alg := range []string{AlgEdDSA, AlgES256, AlgRS256} {
			tk := ringTokens(t, ringSecret, nil)
			r, err := OpenKeyRing(context.Background(), st, tk, ringSecret, alg)
			if err != nil {
				t.Fatal(err)
			}
			priv := r.opened[tk.SigningKID()]
			pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				t.Fatal(err)
			}
			var dump bytes.Buffer
			rows, err := st.DB().Raw("SELECT * FROM signing_keys").Rows()
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&dump, "%v %s\n", vals, vals)
			}
			rows.Close()
			var secretPart []byte // the key's secret scalar or exponent
			switch k := priv.(type) {
			case ed25519.PrivateKey:
				secretPart = k.Seed()
			case *ecdsa.PrivateKey:
				secretPart, _ = k.Bytes()
			case *rsa.PrivateKey:
				secretPart = k.D.Bytes()
			}
			for _, enc := range [][]byte{pkcs8, secretPart, []byte(hex.EncodeToString(secretPart)), []byte(base64.StdEncoding.EncodeToString(secretPart))} {
				if bytes.Contains(dump.Bytes(), enc) {
					t.Fatalf("%s: the dump of signing_keys holds the private key", alg)
				}
			}
			if alg != AlgRS256 { // the last key stays, for the next check
				if err := st.DB().Exec("DELETE FROM signing_keys").Error; err != nil {
					t.Fatal(err)
				}
			}
		}
		// A replica with another secret cannot open the ring.
		other := []byte("another-secret-0123456789abcdefgh")
		_, err := OpenKeyRing(context.Background(), st, ringTokens(t, other, nil), other, AlgEdDSA)
		if !errors.Is(err, ErrKeySecret) {
			t.Fatalf("OpenKeyRing with another secret: error = %v, want ErrKeySecret", err)
		}
	})
}
