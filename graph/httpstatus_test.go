package graph

import (
	"testing"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

func TestAuthFailed(t *testing.T) {
	unauthenticated := &gqlerror.Error{Message: "x", Extensions: map[string]any{"code": "UNAUTHENTICATED", "reason": "token_expired"}}
	badInput := &gqlerror.Error{Message: "x", Extensions: map[string]any{"code": "BAD_USER_INPUT"}}
	cases := []struct {
		name string
		data string
		errs gqlerror.List
		want bool
	}{
		{"data null, unauthenticated", "null", gqlerror.List{unauthenticated}, true},
		{"data absent, unauthenticated", "", gqlerror.List{unauthenticated}, true},
		{"mixed errors, data null", "null", gqlerror.List{badInput, unauthenticated}, true},
		{"partial data stays 2xx", `{"public":1,"secret":null}`, gqlerror.List{unauthenticated}, false},
		{"data null, other error", "null", gqlerror.List{badInput}, false},
		{"no errors", `{"me":{"id":"1"}}`, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := authFailed([]byte(tc.data), tc.errs); got != tc.want {
				t.Fatalf("authFailed(%q, %v) = %v, want %v", tc.data, tc.errs, got, tc.want)
			}
		})
	}
}
