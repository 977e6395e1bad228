package auth

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// Imported password hashes. Accounts brought over from Django (or from a
// site storing bare bcrypt) keep the hash they came with, verbatim, in
// users.password_hash: Django's encodings name their algorithm before the
// first "$" (pbkdf2_sha256$…, argon2$argon2id$…), bare bcrypt starts with
// $2a$, $2b$ or $2y$, and Ironclad's own hashes start with $argon2id$, so the
// prefix is the format marker and no column is needed. Such a hash is
// verified by the same bounded pool as Ironclad's own, and replaced by an
// argon2id hash on the first successful login. A hash starting with "!"
// (Django's unusable password) matches no password: the account must reset
// its password.

// HashKind names the format of a stored password hash.
type HashKind string

// The formats Verify accepts. The values are what the import summary shows.
const (
	KindArgon2id           HashKind = "argon2id"        // Ironclad's own: $argon2id$v=19$…
	KindDjangoPBKDF2SHA256 HashKind = "pbkdf2_sha256"   // pbkdf2_sha256$<iterations>$<salt>$<b64>
	KindDjangoPBKDF2SHA1   HashKind = "pbkdf2_sha1"     // pbkdf2_sha1$<iterations>$<salt>$<b64>
	KindDjangoArgon2id     HashKind = "argon2$argon2id" // argon2$argon2id$v=19$m=,t=,p=$<salt>$<key>
	KindDjangoArgon2i      HashKind = "argon2$argon2i"  // argon2$argon2i$v=19$m=,t=,p=$<salt>$<key>
	KindDjangoBcryptSHA256 HashKind = "bcrypt_sha256"   // bcrypt_sha256$$2b$<cost>$<salt+checksum>
	KindDjangoBcrypt       HashKind = "bcrypt"          // bcrypt$$2b$<cost>$<salt+checksum>
	KindDjangoScrypt       HashKind = "scrypt"          // scrypt$<N>$<salt>$<r>$<p>$<b64>
	KindBcrypt             HashKind = "bare bcrypt"     // $2a$, $2b$ or $2y$<cost>$…
	KindUnusable           HashKind = "unusable"        // "!…": no password matches
)

// hashPrefixes maps each format to the prefix that marks it, most specific
// first (bcrypt_sha256$ before bcrypt$ would not matter, as the "$" ends
// each; argon2$argon2id$ before $argon2id$ neither: they differ at once).
var hashPrefixes = []struct {
	kind   HashKind
	prefix string
}{
	{KindArgon2id, "$argon2id$"},
	{KindDjangoPBKDF2SHA256, "pbkdf2_sha256$"},
	{KindDjangoPBKDF2SHA1, "pbkdf2_sha1$"},
	{KindDjangoArgon2id, "argon2$argon2id$"},
	{KindDjangoArgon2i, "argon2$argon2i$"},
	{KindDjangoBcryptSHA256, "bcrypt_sha256$"},
	{KindDjangoBcrypt, "bcrypt$"},
	{KindDjangoScrypt, "scrypt$"},
	{KindBcrypt, "$2a$"},
	{KindBcrypt, "$2b$"},
	{KindBcrypt, "$2y$"},
	{KindUnusable, "!"},
}

// HashPrefixes returns every format marker with its kind, for the store's
// count of stored formats (HashMix).
func HashPrefixes() map[string]HashKind {
	m := make(map[string]HashKind, len(hashPrefixes))
	for _, p := range hashPrefixes {
		m[p.prefix] = p.kind
	}
	return m
}

// KindOf returns the format of encoded by its prefix, or "" when it is none
// Verify accepts. It does not check the rest of the hash (see CheckHash).
func KindOf(encoded string) HashKind {
	for _, p := range hashPrefixes {
		if strings.HasPrefix(encoded, p.prefix) {
			return p.kind
		}
	}
	return ""
}

// CheckHash reports why encoded cannot be stored as a password hash: an
// unknown format, a malformed one, or a cost outside the bounds Verify
// accepts. The import refuses such rows instead of storing a hash no login
// could ever verify.
func CheckHash(encoded string) (HashKind, error) {
	kind := KindOf(encoded)
	switch kind {
	case "":
		return "", fmt.Errorf("%w: unknown format (supported: Django's pbkdf2_sha256, pbkdf2_sha1, argon2, bcrypt_sha256, bcrypt, scrypt; bare $2a$/$2b$/$2y$ bcrypt; $argon2id$)", errMalformedHash)
	case KindUnusable:
		return kind, nil
	case KindArgon2id:
		_, _, _, err := decodeHash(encoded)
		return kind, err
	}
	_, err := parseImported(encoded)
	return kind, err
}

// Bounds on imported hashes, like those on argon2id parameters (see
// password.go): a corrupt or hostile row must not make one login spin for
// minutes or allocate gigabytes. Django 5.2 uses 1,000,000 PBKDF2 iterations,
// bcrypt cost 12 and scrypt N=2^14, r=8.
const (
	maxPBKDF2Iterations = 5_000_000
	maxBcryptCost       = 16
	maxScryptMemory     = 256 << 20 // bytes: 128·N·r
	maxScryptP          = 16
	maxImportedEncoded  = 512
	bcryptMaxPassword   = 72 // bytes bcrypt reads; the rest is ignored, as by the site that made the hash
)

// importedHash is a parsed imported hash: check does the costly derivation
// and the constant-time comparison.
type importedHash struct {
	kind  HashKind
	check func(password []byte) bool
}

// parseImported parses and bounds a Django or bare-bcrypt hash.
func parseImported(encoded string) (*importedHash, error) {
	if len(encoded) > maxImportedEncoded {
		return nil, fmt.Errorf("%w: too long", errMalformedHash)
	}
	kind := KindOf(encoded)
	bad := func(format string, args ...any) (*importedHash, error) {
		return nil, fmt.Errorf("%w: %s: %s", errMalformedHash, kind, fmt.Sprintf(format, args...))
	}
	switch kind {
	case KindDjangoPBKDF2SHA256, KindDjangoPBKDF2SHA1:
		// algorithm$iterations$salt$base64(key); the salt is used as text.
		f := strings.Split(encoded, "$")
		if len(f) != 4 || f[2] == "" {
			return bad("want algorithm$iterations$salt$hash")
		}
		iter, err := strconv.Atoi(f[1])
		if err != nil || iter < 1 || iter > maxPBKDF2Iterations {
			return bad("iterations %q out of range 1..%d", f[1], maxPBKDF2Iterations)
		}
		want, err := base64.StdEncoding.DecodeString(f[3])
		digest, size := sha256.New, sha256.Size
		if kind == KindDjangoPBKDF2SHA1 {
			digest, size = sha1.New, sha1.Size
		}
		if err != nil || len(want) != size {
			return bad("hash is not %d bytes of base64", size)
		}
		salt := []byte(f[2])
		return &importedHash{kind: kind, check: func(pw []byte) bool {
			return subtle.ConstantTimeCompare(pbkdf2.Key(pw, salt, iter, size, digest), want) == 1
		}}, nil

	case KindDjangoArgon2id, KindDjangoArgon2i:
		// argon2$<variety>$v=19$m=..,t=..,p=..$salt$key, salt and key in
		// unpadded base64 (argon2-cffi's encoding).
		f := strings.Split(encoded, "$")
		if len(f) != 6 {
			return bad("want argon2$variety$v=19$m=,t=,p=$salt$hash")
		}
		if f[2] != "v="+strconv.Itoa(argon2.Version) {
			return bad("version %q unsupported (only v=19)", f[2])
		}
		m, t, threads, err := parseCost(f[3])
		if err != nil {
			return bad("%v", err)
		}
		enc := base64.RawStdEncoding
		salt, err := enc.DecodeString(strings.TrimRight(f[4], "="))
		if err != nil {
			return bad("salt: %v", err)
		}
		want, err := enc.DecodeString(strings.TrimRight(f[5], "="))
		if err != nil {
			return bad("hash: %v", err)
		}
		p := Params{Memory: m, Time: t, Threads: threads, SaltLen: uint32(len(salt)), KeyLen: uint32(len(want))}
		if err := p.validate(); err != nil {
			return bad("%v", err)
		}
		derive := argon2.IDKey
		if kind == KindDjangoArgon2i {
			derive = argon2.Key
		}
		return &importedHash{kind: kind, check: func(pw []byte) bool {
			return subtle.ConstantTimeCompare(derive(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen), want) == 1
		}}, nil

	case KindDjangoBcryptSHA256, KindDjangoBcrypt, KindBcrypt:
		raw := encoded
		if kind != KindBcrypt {
			raw = encoded[strings.IndexByte(encoded, '$')+1:] // bcrypt_sha256$$2b$… → $2b$…
		}
		if !strings.HasPrefix(raw, "$2a$") && !strings.HasPrefix(raw, "$2b$") && !strings.HasPrefix(raw, "$2y$") {
			return bad("want a $2a$, $2b$ or $2y$ bcrypt hash")
		}
		cost, err := bcrypt.Cost([]byte(raw))
		if err != nil || len(raw) != 60 {
			return bad("not a bcrypt hash")
		}
		if cost > maxBcryptCost {
			return bad("cost %d above %d", cost, maxBcryptCost)
		}
		// $2y$ (PHP) and $2b$ are the same algorithm as $2a$ on every input
		// x/crypto accepts; x/crypto reads the minor version and ignores it.
		hashed := []byte(raw)
		sha := kind == KindDjangoBcryptSHA256
		return &importedHash{kind: kind, check: func(pw []byte) bool {
			if sha {
				// Django: bcrypt(hex(sha256(password))), so that long
				// passwords are not truncated.
				sum := sha256.Sum256(pw)
				pw = []byte(hex.EncodeToString(sum[:]))
			} else if len(pw) > bcryptMaxPassword {
				pw = pw[:bcryptMaxPassword]
			}
			return bcrypt.CompareHashAndPassword(hashed, pw) == nil
		}}, nil

	case KindDjangoScrypt:
		// scrypt$N$salt$r$p$base64(key)
		f := strings.Split(encoded, "$")
		if len(f) != 6 || f[2] == "" {
			return bad("want scrypt$N$salt$r$p$hash")
		}
		n, err1 := strconv.Atoi(f[1])
		r, err2 := strconv.Atoi(f[3])
		p, err3 := strconv.Atoi(f[4])
		if err := errors.Join(err1, err2, err3); err != nil {
			return bad("parameters: %v", err)
		}
		if n < 2 || n&(n-1) != 0 || r < 1 || p < 1 || p > maxScryptP || int64(n)*int64(r)*128 > maxScryptMemory {
			return bad("parameters N=%d r=%d p=%d out of bounds (N a power of 2, 128·N·r ≤ %d MiB, p ≤ %d)", n, r, p, maxScryptMemory>>20, maxScryptP)
		}
		want, err := base64.StdEncoding.DecodeString(f[5])
		if err != nil || len(want) < minKeyLen || len(want) > maxKeyLen {
			return bad("hash is not %d..%d bytes of base64", minKeyLen, maxKeyLen)
		}
		salt := []byte(f[2])
		return &importedHash{kind: kind, check: func(pw []byte) bool {
			got, err := scrypt.Key(pw, salt, n, r, p, len(want))
			return err == nil && subtle.ConstantTimeCompare(got, want) == 1
		}}, nil
	}
	return bad("not an imported format")
}

// dummyLike returns a hash of the same format and cost as encoded, with a
// random salt and digest: verifying a password against it costs what
// verifying against encoded costs, and no password matches it. It is how
// the dummy path of login imitates the stored mix of formats.
func dummyLike(encoded string) (string, error) {
	kind := KindOf(encoded)
	i := strings.LastIndexByte(encoded, '$')
	if i < 0 || kind == "" || kind == KindUnusable {
		return "", fmt.Errorf("%w: no dummy for this format", errMalformedHash)
	}
	head, last := encoded[:i+1], encoded[i+1:]
	var out string
	switch kind {
	case KindDjangoBcryptSHA256, KindDjangoBcrypt, KindBcrypt:
		// The last field is 22 characters of salt and 31 of checksum in
		// bcrypt's alphabet.
		const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		b := mustRandom(len(last))
		for j := range b {
			b[j] = alphabet[int(b[j])%len(alphabet)]
		}
		out = head + string(b)
	case KindArgon2id, KindDjangoArgon2id, KindDjangoArgon2i:
		// …$salt$key, both unpadded base64: replace both.
		j := strings.LastIndexByte(encoded[:i], '$')
		enc := base64.RawStdEncoding
		salt, err1 := enc.DecodeString(strings.TrimRight(encoded[j+1:i], "="))
		key, err2 := enc.DecodeString(strings.TrimRight(last, "="))
		if err := errors.Join(err1, err2); err != nil {
			return "", fmt.Errorf("%w: %v", errMalformedHash, err)
		}
		out = encoded[:j+1] + enc.EncodeToString(mustRandom(len(salt))) + "$" + enc.EncodeToString(mustRandom(len(key)))
	default: // pbkdf2, scrypt: padded base64 of the key last; the salt stays
		key, err := base64.StdEncoding.DecodeString(last)
		if err != nil {
			return "", fmt.Errorf("%w: %v", errMalformedHash, err)
		}
		out = head + base64.StdEncoding.EncodeToString(mustRandom(len(key)))
	}
	if _, err := CheckHash(out); err != nil {
		return "", err
	}
	return out, nil
}
