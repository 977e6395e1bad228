package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Mail tokens: the secret of a password-reset or verification mail.
//
// A token is 256 random bits, written as 43 characters of unpadded
// base64url; it travels in the fragment of the link
// (APP_URL/reset-password#token=…, APP_URL/verify-email#token=…). The same
// secret is also given as an 8-character code for people who type:
//
//	code = Crockford-base32(first 40 bits of SHA-256("ironclad mail code v1:" + token))
//
// (alphabet 0123456789ABCDEFGHJKMNPQRSTVWXYZ; entry ignores case, spaces
// and hyphens, and reads O as 0 and I, L as 1). The server stores
// SHA-256(token) and HMAC-SHA-256(k, code), with k derived from
// JWT_SECRET: a database dump reveals neither, and the short code cannot be
// found from its hash without the secret. Either form works once; 40 bits
// resist online guessing because failed attempts are limited per client IP
// like logins.

// crockford is Crockford's base32 alphabet, without padding.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// mailTokenLen is the length of a written token.
const mailTokenLen = 43

// newMailToken returns a fresh token and its code.
func newMailToken() (token, code string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails since Go 1.24
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, MailCode(token)
}

// MailCode is the 8-character code of token.
func MailCode(token string) string {
	sum := sha256.Sum256([]byte("ironclad mail code v1:" + token))
	return crockford.EncodeToString(sum[:5])
}

// tokenHash is what the store keeps of a token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// codeHash is what the store keeps of a code.
func (s *Service) codeHash(code string) string {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// parseMailToken reads what a user gave as a token: a whole token, or a
// code. It returns the hash to look up (one of the two) and false when the
// input can be neither.
func (s *Service) parseMailToken(in string) (tokHash, codeHash string, ok bool) {
	in = strings.TrimSpace(in)
	if len(in) == mailTokenLen {
		if b, err := base64.RawURLEncoding.DecodeString(in); err == nil && len(b) == 32 {
			return tokenHash(in), "", true
		}
		return "", "", false
	}
	if len(in) > 32 {
		return "", "", false
	}
	c := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(in))
	c = strings.NewReplacer("O", "0", "I", "1", "L", "1").Replace(c)
	if len(c) != 8 {
		return "", "", false
	}
	if _, err := crockford.DecodeString(c); err != nil {
		return "", "", false
	}
	return "", s.codeHash(c), true
}
