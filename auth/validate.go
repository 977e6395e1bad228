package auth

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/ironclad-auth/ironclad/models"
)

// Account input limits.
const (
	MinUsernameLen    = 3   // characters
	DefaultMinPassLen = 8   // characters; Options.MinPasswordLen overrides it
	MaxEmailLen       = 254 // bytes, the longest address SMTP can carry
	MaxDisplayNameLen = 100 // characters
)

// usernameSymbols are the characters besides letters and digits a username
// may contain (Django's set).
const usernameSymbols = "._-@+"

// ValidateUsername checks a new username: 3–150 characters, each a letter, a
// digit or one of . _ - @ +.
func ValidateUsername(username string) *models.Error {
	n := utf8.RuneCountInString(username)
	switch {
	case n < MinUsernameLen:
		return models.BadField("username", fmt.Sprintf("username must be at least %d characters", MinUsernameLen))
	case n > MaxUsernameLen:
		return models.BadField("username", fmt.Sprintf("username must be at most %d characters", MaxUsernameLen))
	}
	for _, r := range username {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(usernameSymbols, r) {
			return models.BadField("username", "username may contain only letters, digits and . _ - @ +")
		}
	}
	return nil
}

// ValidateEmail checks the shape of an email address (a bare addr-spec such
// as alice@example.com, no display name) and returns it trimmed.
func ValidateEmail(email string) (string, *models.Error) {
	email = strings.TrimSpace(email)
	bad := models.BadField("email", "email is not a valid address")
	if email == "" {
		return "", models.BadField("email", "email is required")
	}
	if len(email) > MaxEmailLen {
		return "", bad
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return "", bad
	}
	_, domain, _ := strings.Cut(email, "@")
	if domain == "" || strings.HasPrefix(domain, "[") {
		return "", bad // address literals are not for humans
	}
	return email, nil
}

// ValidatePassword checks a new password: at least minLen characters, at most
// MaxPasswordLen bytes, not the username (in any letter case), and not in the
// list of common passwords.
func ValidatePassword(password, username string, minLen int) *models.Error {
	switch {
	case password == "":
		return models.BadField("password", "password is required")
	case utf8.RuneCountInString(password) < minLen:
		return models.BadField("password", fmt.Sprintf("password must be at least %d characters", minLen))
	case len(password) > MaxPasswordLen:
		return models.BadField("password", fmt.Sprintf("password must be at most %d bytes", MaxPasswordLen))
	case username != "" && strings.EqualFold(strings.TrimSpace(password), username):
		return models.BadField("password", "password must not be the username")
	case IsCommonPassword(password):
		return models.BadField("password", "password is too common")
	}
	return nil
}

// ValidateDisplayName trims a display name and checks it: at most
// MaxDisplayNameLen characters, no control characters. "" means none.
func ValidateDisplayName(name string) (string, *models.Error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > MaxDisplayNameLen {
		return "", models.BadField("displayName", fmt.Sprintf("displayName must be at most %d characters", MaxDisplayNameLen))
	}
	if !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", models.BadField("displayName", "displayName must not contain control characters")
	}
	return name, nil
}

// validateNewUser checks every field of nu and returns all violations joined
// (each a BAD_USER_INPUT *models.Error naming its field), or nil. It trims
// the username and email in place.
func validateNewUser(nu *NewUser, minPasswordLen int, emailRequired bool) error {
	nu.Username = strings.TrimSpace(nu.Username)
	var errs []error
	if err := ValidateUsername(nu.Username); err != nil {
		errs = append(errs, err)
	}
	if email := strings.TrimSpace(nu.Email); email != "" || emailRequired {
		email, err := ValidateEmail(email)
		if err != nil {
			errs = append(errs, err)
		}
		nu.Email = email
	}
	if err := ValidatePassword(nu.Password, nu.Username, minPasswordLen); err != nil {
		errs = append(errs, err)
	}
	if nu.Role == "" {
		nu.Role = models.RoleUser
	}
	if !nu.Role.IsValid() {
		errs = append(errs, models.BadField("role", "role must be USER or ADMIN"))
	}
	return errors.Join(errs...)
}

// commonPasswordsGz is Django's list of common passwords (see
// common-passwords.LICENSE), one lower-case password per line.
//
//go:embed common-passwords.txt.gz
var commonPasswordsGz []byte

// commonPasswords is the decompressed list, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		panic("auth: embedded common-passwords list: " + err.Error())
	}
	set := make(map[string]struct{}, 20000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if p := strings.TrimSpace(sc.Text()); p != "" {
			set[p] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		panic("auth: embedded common-passwords list: " + err.Error())
	}
	return set
})

// IsCommonPassword reports whether password, ignoring letter case and
// surrounding spaces, is in the shipped list of common passwords.
func IsCommonPassword(password string) bool {
	_, ok := commonPasswords()[strings.ToLower(strings.TrimSpace(password))]
	return ok
}
