package models

import (
	"database/sql/driver"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Scope is a permission a personal access token can carry. A request
// authenticated by a session has every scope its user's role grants.
type Scope string

// The scopes of the public API. The values are the GraphQL enum names.
const (
	ScopeProfileRead  Scope = "PROFILE_READ"  // read profiles: me, user
	ScopeProfileWrite Scope = "PROFILE_WRITE" // updateProfile
	ScopeUsersRead    Scope = "USERS_READ"    // list users, see other users' email (admins only)
)

// IsValid reports whether s is a known scope.
func (s Scope) IsValid() bool {
	return s == ScopeProfileRead || s == ScopeProfileWrite || s == ScopeUsersRead
}

// RoleScopes returns the scopes a role grants: a session has all of them, and
// a personal access token can carry no other.
func RoleScopes(r Role) Scopes {
	switch r {
	case RoleAdmin:
		return Scopes{ScopeProfileRead, ScopeProfileWrite, ScopeUsersRead}
	case RoleUser:
		return Scopes{ScopeProfileRead, ScopeProfileWrite}
	}
	return nil
}

// UnmarshalGQL implements graphql.Unmarshaler for the Scope enum.
func (s *Scope) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("scope must be a string")
	}
	if !Scope(str).IsValid() {
		return fmt.Errorf("%q is not a valid Scope", str)
	}
	*s = Scope(str)
	return nil
}

// MarshalGQL implements graphql.Marshaler for the Scope enum.
func (s Scope) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(s))) }

// Scopes is a set of scopes, stored as one space-separated column (the form
// of OAuth's scope parameter).
type Scopes []Scope

// Has reports whether s holds scope.
func (s Scopes) Has(scope Scope) bool { return slices.Contains(s, scope) }

// Intersect returns the scopes of s that other holds too, in s's order.
func (s Scopes) Intersect(other Scopes) Scopes {
	out := Scopes{}
	for _, sc := range s {
		if other.Has(sc) {
			out = append(out, sc)
		}
	}
	return out
}

// Normalize returns s without duplicates, in the order of the constants.
func (s Scopes) Normalize() Scopes {
	out := Scopes{}
	for _, sc := range []Scope{ScopeProfileRead, ScopeProfileWrite, ScopeUsersRead} {
		if s.Has(sc) {
			out = append(out, sc)
		}
	}
	return out
}

// Value implements driver.Valuer.
func (s Scopes) Value() (driver.Value, error) {
	parts := make([]string, len(s))
	for i, sc := range s {
		parts[i] = string(sc)
	}
	return strings.Join(parts, " "), nil
}

// Scan implements sql.Scanner. Unknown names (from a newer version) are
// dropped, so a token never gains a scope this version does not know.
func (s *Scopes) Scan(src any) error {
	var str string
	switch v := src.(type) {
	case nil:
	case string:
		str = v
	case []byte:
		str = string(v)
	default:
		return fmt.Errorf("scopes: cannot scan %T", src)
	}
	out := Scopes{}
	for _, f := range strings.Fields(str) {
		if Scope(f).IsValid() {
			out = append(out, Scope(f))
		}
	}
	*s = out
	return nil
}
