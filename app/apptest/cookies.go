package apptest

import (
	"net/http"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/auth"
)

// WantRefreshCookie fails unless r sets the refresh cookie as cookie mode
// must (HttpOnly, SameSite=Strict, on the GraphQL path only, Secure as
// given, living as long as the refresh token) and returns it.
func (e *Env) WantRefreshCookie(t testing.TB, r Response, secure bool) *http.Cookie {
	t.Helper()
	c := r.Cookie(auth.RefreshCookieName)
	if c == nil || c.Value == "" {
		t.Fatalf("no refresh cookie set; Set-Cookie %q", r.Header.Values("Set-Cookie"))
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != app.GraphQLPath || c.Secure != secure {
		t.Fatalf("cookie %q: HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Strict, %s, Secure=%v",
			c.Name, c.HttpOnly, c.SameSite, c.Path, c.Secure, app.GraphQLPath, secure)
	}
	if c.MaxAge != int(e.App.Config.RefreshTTL.Seconds()) {
		t.Fatalf("cookie Max-Age = %d, want the refresh-token lifetime %s", c.MaxAge, e.App.Config.RefreshTTL)
	}
	return c
}

// WantCookieCleared fails unless r deletes the refresh cookie.
func WantCookieCleared(t testing.TB, r Response) {
	t.Helper()
	c := r.Cookie(auth.RefreshCookieName)
	if c == nil || c.Value != "" || c.MaxAge >= 0 || c.Path != app.GraphQLPath {
		t.Fatalf("refresh cookie not cleared; Set-Cookie %q", r.Header.Values("Set-Cookie"))
	}
}
