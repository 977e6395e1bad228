package models

import (
	"fmt"
	"io"
	"strconv"
)

// UnmarshalGQL implements graphql.Unmarshaler for the Role enum.
func (r *Role) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("role must be a string")
	}
	if !Role(s).IsValid() {
		return fmt.Errorf("%q is not a valid Role", s)
	}
	*r = Role(s)
	return nil
}

// MarshalGQL implements graphql.Marshaler for the Role enum.
func (r Role) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }
