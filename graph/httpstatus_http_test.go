package graph_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// GraphQL over HTTP through the real handler: which failures are a 401 with
// a WWW-Authenticate challenge, and for which clients.

const (
	acceptGraphQLResponse = "application/graphql-response+json"
	acceptApollo          = "application/graphql-response+json,application/json;q=0.9" // Apollo Client 4's default
)

func TestGraphQLOverHTTPStatus(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("gus", apptest.Password, models.RoleUser)
		expired := e.Login("gus", apptest.Password)
		e.Clock.Advance(e.App.Config.AccessTTL + auth.MaxLeeway + time.Second) // past expiry and the leeway
		fresh := e.Login("gus", apptest.Password)

		cases := []struct {
			name, accept, authz, query string
			vars                       map[string]any
			status                     int
			challenge                  string // WWW-Authenticate; "" means absent
			reason                     string
		}{
			{name: "no token", accept: acceptGraphQLResponse, query: apptest.MeQuery, status: 401, challenge: "Bearer", reason: "missing_token"},
			{name: "no token, Apollo Client accept", accept: acceptApollo, query: apptest.MeQuery, status: 401, challenge: "Bearer", reason: "missing_token"},
			{name: "expired token", accept: acceptGraphQLResponse, authz: apptest.Bearer(expired.AccessToken), query: apptest.MeQuery, status: 401, challenge: `Bearer error="invalid_token"`, reason: "token_expired"},
			{name: "garbage token", accept: acceptGraphQLResponse, authz: "Bearer garbage", query: apptest.MeQuery, status: 401, challenge: `Bearer error="invalid_token"`, reason: "invalid_token"},
			{name: "wrong password", accept: acceptGraphQLResponse, query: apptest.LoginMutation, vars: map[string]any{"u": "gus", "p": "nope"}, status: 401, challenge: "Bearer", reason: "invalid_credentials"},
			{name: "bad refresh token", accept: acceptGraphQLResponse, query: apptest.RefreshMutation, vars: map[string]any{"t": "unknown"}, status: 401, challenge: "Bearer", reason: "refresh_token_invalid"},
			{name: "bad refresh token with a valid access token", accept: acceptGraphQLResponse, authz: apptest.Bearer(fresh.AccessToken), query: apptest.RefreshMutation, vars: map[string]any{"t": "unknown"}, status: 401, challenge: "Bearer", reason: "refresh_token_invalid"},
			{name: "application/json keeps 200", accept: "application/json", authz: apptest.Bearer(expired.AccessToken), query: apptest.MeQuery, status: 200, reason: "token_expired"},
			{name: "no Accept keeps 200", query: apptest.MeQuery, status: 200, reason: "missing_token"},
			{name: "JSON preferred over graphql-response", accept: "application/json, application/graphql-response+json", query: apptest.MeQuery, status: 200, reason: "missing_token"},
			{name: "input errors stay 200", accept: acceptGraphQLResponse, query: apptest.LoginMutation, vars: map[string]any{"u": "", "p": ""}, status: 200},
			{name: "success", accept: acceptGraphQLResponse, authz: apptest.Bearer(fresh.AccessToken), query: apptest.MeQuery, status: 200},
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
				r := e.Send(apptest.Request{Query: tc.query, Vars: tc.vars, Header: header})
				if r.Status != tc.status || r.Header.Get("WWW-Authenticate") != tc.challenge {
					t.Fatalf("status %d, WWW-Authenticate %q; want %d, %q; body %s", r.Status, r.Header.Get("WWW-Authenticate"), tc.status, tc.challenge, r.Body)
				}
				if _, reason := r.Code(); reason != tc.reason {
					t.Fatalf("reason %q, want %q", reason, tc.reason)
				}
				if tc.status == 401 && (len(r.Data) != 0 || len(r.Errors) != 1) {
					t.Fatalf("401 body is not the GraphQL response with data null: %s", r.Body)
				}
			})
		}

		t.Run("GET query", func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, app.GraphQLPath+"?query="+url.QueryEscape(apptest.MeQuery), nil)
			req.Header.Set("Accept", acceptGraphQLResponse)
			r := e.Serve(req)
			if r.Status != 401 || r.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Fatalf("GET me without token: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
			}
		})
	})
}

// A 401 still carries the cookie decisions of the request.
func TestGraphQLOverHTTPStatusInCookieMode(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("hal", apptest.Password, models.RoleUser)
		r := e.Send(apptest.Request{Query: apptest.LoginMutation, Vars: map[string]any{"u": "hal", "p": apptest.Password}})
		c := e.WantRefreshCookie(t, r, true)
		apptest.MustOK(t, e.Send(apptest.Request{Query: cookieRefreshMutation, Header: apptest.CSRF, Cookies: []*http.Cookie{c}}))

		r = e.Send(apptest.Request{Query: cookieRefreshMutation, Header: map[string]string{"X-Requested-With": "fetch", "Accept": acceptGraphQLResponse},
			Cookies: []*http.Cookie{{Name: auth.RefreshCookieName, Value: c.Value}}})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("reused cookie with graphql-response+json: status %d, want 401: %s", r.Status, r.Body)
		}
		apptest.WantCookieCleared(t, r)
	}, apptest.CookieMode, noReuseGrace)
}

// noReuseGrace turns the refresh reuse grace window off, so that a second
// presentation of a refresh token is reuse at once.
func noReuseGrace(c *app.Config) { c.ReuseGrace = 0 }

// cookieRefreshMutation refreshes with the refresh cookie, in cookie mode.
const cookieRefreshMutation = `mutation { refreshToken { ` + apptest.PayloadFields + ` } }`
