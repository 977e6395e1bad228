package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func httptestRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}

const (
	acceptGraphQLResponse = "application/graphql-response+json"
	acceptApollo          = "application/graphql-response+json,application/json;q=0.9" // Apollo Client 4's default
)

func TestGraphQLOverHTTPStatus(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("gus", "correct horse battery", models.RoleUser)
		expired := e.login("gus", "correct horse battery")
		e.clock.Advance(5*time.Minute + tokenLeeway + time.Second)
		fresh := e.login("gus", "correct horse battery")

		cases := []struct {
			name, accept, authz, query string
			vars                       map[string]any
			status                     int
			challenge                  string // WWW-Authenticate; "" means absent
			reason                     string
		}{
			{name: "no token", accept: acceptGraphQLResponse, query: meQuery, status: 401, challenge: "Bearer", reason: "missing_token"},
			{name: "no token, Apollo Client accept", accept: acceptApollo, query: meQuery, status: 401, challenge: "Bearer", reason: "missing_token"},
			{name: "expired token", accept: acceptGraphQLResponse, authz: bearer(expired.AccessToken), query: meQuery, status: 401, challenge: `Bearer error="invalid_token"`, reason: "token_expired"},
			{name: "garbage token", accept: acceptGraphQLResponse, authz: "Bearer garbage", query: meQuery, status: 401, challenge: `Bearer error="invalid_token"`, reason: "invalid_token"},
			{name: "wrong password", accept: acceptGraphQLResponse, query: loginMutation, vars: map[string]any{"u": "gus", "p": "nope"}, status: 401, challenge: "Bearer", reason: "invalid_credentials"},
			{name: "bad refresh token", accept: acceptGraphQLResponse, query: refreshMutation, vars: map[string]any{"t": "unknown"}, status: 401, challenge: "Bearer", reason: "refresh_token_invalid"},
			{name: "bad refresh token with a valid access token", accept: acceptGraphQLResponse, authz: bearer(fresh.AccessToken), query: refreshMutation, vars: map[string]any{"t": "unknown"}, status: 401, challenge: "Bearer", reason: "refresh_token_invalid"},
			{name: "application/json keeps 200", accept: "application/json", authz: bearer(expired.AccessToken), query: meQuery, status: 200, reason: "token_expired"},
			{name: "no Accept keeps 200", query: meQuery, status: 200, reason: "missing_token"},
			{name: "JSON preferred over graphql-response", accept: "application/json, application/graphql-response+json", query: meQuery, status: 200, reason: "missing_token"},
			{name: "input errors stay 200", accept: acceptGraphQLResponse, query: loginMutation, vars: map[string]any{"u": "", "p": ""}, status: 200},
			{name: "success", accept: acceptGraphQLResponse, authz: bearer(fresh.AccessToken), query: meQuery, status: 200},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				header := map[string]string{}
				if tc.accept != "" {
					header["Accept"] = tc.accept
				}
				if tc.authz != "" {
					header["Authorization"] = tc.authz
				}
				r := e.send(browserRequest{query: tc.query, vars: tc.vars, header: header})
				if r.Status != tc.status || r.Header.Get("WWW-Authenticate") != tc.challenge {
					t.Fatalf("status %d, WWW-Authenticate %q; want %d, %q; body %s", r.Status, r.Header.Get("WWW-Authenticate"), tc.status, tc.challenge, r.Body)
				}
				if _, reason := r.code(); reason != tc.reason {
					t.Fatalf("reason %q, want %q", reason, tc.reason)
				}
				if tc.status == 401 && (len(r.Data) != 0 || len(r.Errors) != 1) {
					t.Fatalf("401 body is not the GraphQL response with data null: %s", r.Body)
				}
			})
		}

		t.Run("GET query", func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/query?query="+url.QueryEscape(meQuery), nil)
			req.Header.Set("Accept", acceptGraphQLResponse)
			r := e.roundTrip(req)
			if r.Status != 401 || r.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Fatalf("GET me without token: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
			}
		})
	})
}

// A 401 still carries the cookie decisions of the request.
func TestGraphQLOverHTTPStatusInCookieMode(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil, cookieMode)
		e.createUser("hal", "correct horse battery", models.RoleUser)
		r := e.send(browserRequest{query: loginMutation, vars: map[string]any{"u": "hal", "p": "correct horse battery"}})
		c := wantRefreshCookie(t, r, true)
		mustOKResult(t, e.send(browserRequest{query: cookieRefreshMutation, header: csrf, cookies: []*http.Cookie{c}}))

		r = e.send(browserRequest{query: cookieRefreshMutation, header: map[string]string{"X-Requested-With": "fetch", "Accept": acceptGraphQLResponse},
			cookies: []*http.Cookie{{Name: auth.RefreshCookieName, Value: c.Value}}})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("reused cookie with graphql-response+json: status %d, want 401: %s", r.Status, r.Body)
		}
		wantCleared(t, r)
	})
}
