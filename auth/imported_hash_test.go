package auth

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// djangoFixture reads testdata/django: every user's stored hash and the
// password that made it (make_fixture.py wrote both).
func djangoFixture(t *testing.T) (hashes, passwords map[string]string) {
	t.Helper()
	var dump []struct {
		Fields struct{ Username, Password string } `json:"fields"`
	}
	b, err := os.ReadFile("../testdata/django/users.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dump); err != nil {
		t.Fatal(err)
	}
	hashes = map[string]string{}
	for _, d := range dump {
		hashes[d.Fields.Username] = d.Fields.Password
	}
	b, err = os.ReadFile("../testdata/django/users.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		f := strings.Split(line, ",")
		hashes[f[0]] = f[2]
	}
	b, err = os.ReadFile("../testdata/django/passwords.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &passwords); err != nil {
		t.Fatal(err)
	}
	return hashes, passwords
}

// Every hash Django's own hashers made verifies with its password, needs a
// rehash, and refuses any other password.
func TestVerifyDjangoHashes(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams, 2, 10*time.Second)
	hashes, passwords := djangoFixture(t)
	kinds := map[HashKind]bool{}
	for user, encoded := range hashes {
		t.Run(user, func(t *testing.T) {
			kind, err := CheckHash(encoded)
			if err != nil {
				t.Fatalf("CheckHash(%q) = %v", encoded, err)
			}
			kinds[kind] = true
			pw, ok := passwords[user]
			if !ok { // the unusable one
				if kind != KindUnusable {
					t.Fatalf("no password for %s (%s)", user, kind)
				}
				if ok, _, err := h.Verify(ctx, "", encoded); ok || err != nil {
					t.Fatalf("Verify(unusable) = %v, %v", ok, err)
				}
				return
			}
			if ok, rehash, err := h.Verify(ctx, pw, encoded); !ok || !rehash || err != nil {
				t.Errorf("Verify(%q, %s) = %v, %v, %v; want true, true, nil", pw, kind, ok, rehash, err)
			}
			for _, wrong := range []string{pw + "x", strings.ToUpper(pw), "", pw[:len(pw)-1]} {
				if ok, _, err := h.Verify(ctx, wrong, encoded); ok || err != nil {
					t.Errorf("Verify(%q, %s) = %v, %v; want false, nil", wrong, kind, ok, err)
				}
			}
		})
	}
	for _, k := range []HashKind{KindDjangoPBKDF2SHA256, KindDjangoPBKDF2SHA1, KindDjangoArgon2id, KindDjangoArgon2i,
		KindDjangoBcryptSHA256, KindDjangoBcrypt, KindDjangoScrypt, KindBcrypt, KindUnusable} {
		if !kinds[k] {
			t.Errorf("the fixture has no %s hash", k)
		}
	}
}

// Bare bcrypt reads only 72 bytes of a password, as the site that made the
// hash did; bcrypt_sha256 reads all of it.
func TestVerifyBcryptLongPassword(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams, 1, time.Second)
	long := strings.Repeat("a", 72)
	// $2b$04$ of 72 × "a", made by Python's bcrypt.
	const encoded = "$2b$04$j/ti6LiKZm6QD9Qh8QVwguLLbEk7pTk3F.WpT8Swh0sgZrCqfbdaO"
	ok1, _, err1 := h.Verify(ctx, long, encoded)
	ok2, _, err2 := h.Verify(ctx, long+"tail", encoded)
	ok3, _, _ := h.Verify(ctx, long[:71], encoded)
	if !ok1 || !ok2 || ok3 || err1 != nil || err2 != nil {
		t.Errorf("Verify(72 bytes, 76 bytes, 71 bytes) = %v, %v, %v (%v, %v); want true, true, false", ok1, ok2, ok3, err1, err2)
	}
}

// A malformed or too costly imported hash is an error before any work, never
// a panic or a match.
func TestCheckHashBounds(t *testing.T) {
	cases := []struct{ name, encoded, want string }{
		{"unknown algorithm", "md5$abc$0123456789abcdef", "unknown format"},
		{"empty", "", "unknown format"},
		{"pbkdf2 too many iterations", "pbkdf2_sha256$9000000$salt$hkn6CX9gY0zB24DMF+Thc2mNd0fmu0XYRbH3cAzIQ9c=", "iterations"},
		{"pbkdf2 zero iterations", "pbkdf2_sha256$0$salt$hkn6CX9gY0zB24DMF+Thc2mNd0fmu0XYRbH3cAzIQ9c=", "iterations"},
		{"pbkdf2 short key", "pbkdf2_sha256$1000$salt$aGVsbG8=", "32 bytes"},
		{"pbkdf2 sha1 key of sha256 size", "pbkdf2_sha1$1000$salt$hkn6CX9gY0zB24DMF+Thc2mNd0fmu0XYRbH3cAzIQ9c=", "20 bytes"},
		{"pbkdf2 missing field", "pbkdf2_sha256$1000$hkn6CX9gY0zB24DMF+Thc2mNd0fmu0XYRbH3cAzIQ9c=", "want algorithm"},
		{"argon2 huge memory", "argon2$argon2id$v=19$m=4194304,t=2,p=8$cHpabEw3cDE1akcyc2lSOXhEUEJxZA$L8oheMO/bWt7pRDtgZqrXw", "memory"},
		{"argon2 old version", "argon2$argon2i$v=16$m=512,t=2,p=2$cnX7oWSoa8n8Nlx0JGUISw$ZLBQpuNPeOATjzNHVnwpKg", "version"},
		{"bcrypt cost 17", "$2b$17$N8kwBCv6TagXnogjDIFRU.wDA1/6xyI/Gxd/M6Mx6DDSMkvQN806y", "cost 17"},
		{"bcrypt truncated", "bcrypt$$2b$12$N8kwBCv6TagXnogjDIFRU.wDA1", "not a bcrypt"},
		{"bcrypt_sha256 not bcrypt", "bcrypt_sha256$$argon2id$x", "want a $2a$"},
		{"scrypt N not a power of 2", "scrypt$1000$salt$8$1$E7dotzIOvpvVQ8ApLpHSGdHpxtXoOsGvaUpeUEGfPjZdKEBaE10amuU/Ng3l8GvKMIGC6dBgL3GXZc8NBax/jA==", "out of bounds"},
		{"scrypt too much memory", "scrypt$1048576$salt$8$1$E7dotzIOvpvVQ8ApLpHSGdHpxtXoOsGvaUpeUEGfPjZdKEBaE10amuU/Ng3l8GvKMIGC6dBgL3GXZc8NBax/jA==", "out of bounds"},
		{"too long", "pbkdf2_sha256$1000$" + strings.Repeat("s", 600) + "$x", "too long"},
	}
	h := NewHasher(testParams, 1, time.Second)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CheckHash(tc.encoded); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckHash(%q) = %v, want an error containing %q", tc.encoded, err, tc.want)
			}
			if ok, _, err := h.Verify(context.Background(), "pw", tc.encoded); ok || err == nil {
				t.Errorf("Verify(%q) = %v, %v; want false and an error", tc.encoded, ok, err)
			}
		})
	}
}

// A dummy made from a stored hash has its format and cost, and matches
// not even the password of the hash it was made from.
func TestDummyLike(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams, 2, 10*time.Second)
	hashes, passwords := djangoFixture(t)
	for user, encoded := range hashes {
		if KindOf(encoded) == KindUnusable {
			continue
		}
		d, err := dummyLike(encoded)
		if err != nil {
			t.Fatalf("dummyLike(%q) = %v", encoded, err)
		}
		if KindOf(d) != KindOf(encoded) || d == encoded || len(d) != len(encoded) {
			t.Errorf("dummyLike(%q) = %q, want the same format and length, other bytes", encoded, d)
		}
		cut := func(s string) string { return s[:strings.LastIndexByte(s, '$')] }
		if k := KindOf(encoded); k == KindDjangoPBKDF2SHA256 || k == KindDjangoScrypt {
			if cut(d) != cut(encoded) {
				t.Errorf("dummyLike(%q) = %q, want the same parameters", encoded, d)
			}
		}
		if ok, _, err := h.Verify(ctx, passwords[user], d); ok || err != nil {
			t.Errorf("Verify(password of %s, its dummy) = %v, %v; want false, nil", user, ok, err)
		}
	}
}

// The dummy path draws formats with the stored frequencies, the same for one
// pick every time; Ironclad's own and unusable hashes count as h's dummy.
func TestSetMix(t *testing.T) {
	h := NewHasher(testParams, 1, time.Second)
	hashes, _ := djangoFixture(t)
	h.SetMix([]HashShare{
		{Sample: hashes["pbkdf2_sha256_user"], Count: 600},
		{Sample: hashes["rails_user"], Count: 300},
		{Sample: hashes["unusable_user"], Count: 60},
		{Sample: h.dummy, Count: 40},
		{Sample: "garbage", Count: 0},
	})
	m := h.mix.Load()
	counts := map[HashKind]int{}
	const n = 100_000
	for i := range uint64(n) {
		pick := i * 0x9E3779B97F4A7C15 // spread over the range like a keyed hash
		d := m.at(pick)
		if d != m.at(pick) {
			t.Fatal("one pick gave two dummies")
		}
		counts[KindOf(d)]++
	}
	want := map[HashKind]float64{KindDjangoPBKDF2SHA256: 0.6, KindBcrypt: 0.3, KindArgon2id: 0.1}
	for k, share := range want {
		if got := float64(counts[k]) / n; got < share-0.02 || got > share+0.02 {
			t.Errorf("share of %s = %.3f, want %.2f", k, got, share)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("kinds drawn = %v, want %v", counts, want)
	}
	// Without imported hashes, the dummy is h's own.
	h.SetMix(nil)
	if d := h.mix.Load().at(12345); d != h.dummy {
		t.Errorf("empty mix dummy = %q, want h.dummy", d)
	}
}
