package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/models"
)

type response struct {
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func post(t *testing.T, h http.Handler, query string) (int, string, response) {
	t.Helper()
	return postParams(t, h, map[string]string{"query": query})
}

// postParams POSTs params as the JSON body of a GraphQL request.
func postParams(t *testing.T, h http.Handler, params any) (int, string, response) {
	t.Helper()
	body, _ := json.Marshal(params)
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r response
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	return rec.Code, rec.Body.String(), r
}

// A resolver that panics (here: no auth service wired) answers
// INTERNAL_SERVER_ERROR without internals, and the panic is logged.
func TestPanicIsRecovered(t *testing.T) {
	var logs bytes.Buffer
	h := NewHandler(&Resolver{Log: slog.New(slog.NewTextHandler(&logs, nil))}, Options{})
	status, body, r := post(t, h, `mutation { login(username: "a", password: "b") { accessToken } }`)
	if status != http.StatusOK || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "INTERNAL_SERVER_ERROR" || r.Errors[0].Message != "internal error" {
		t.Fatalf("status %d body %s", status, body)
	}
	if strings.Contains(body, "goroutine") || strings.Contains(body, "nil pointer") {
		t.Fatalf("response leaks the panic: %s", body)
	}
	if !strings.Contains(logs.String(), "panic") {
		t.Fatal("panic not logged")
	}
}

// Without the middleware, @auth refuses with missing_token.
func TestAuthDirectiveWithoutViewer(t *testing.T) {
	h := NewHandler(&Resolver{}, Options{})
	_, body, r := post(t, h, `{ me { id } }`)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" || r.Errors[0].Extensions["reason"] != "missing_token" {
		t.Fatalf("body %s", body)
	}
}

func TestPresentError(t *testing.T) {
	var logs bytes.Buffer
	present := presentError(slog.New(slog.NewTextHandler(&logs, nil)))
	cases := []struct {
		name         string
		err          error
		code, reason string
		message      string
		ext          map[string]any
	}{
		{"typed", models.Unauthenticated("token_expired", "access token expired"), "UNAUTHENTICATED", "token_expired", "access token expired", nil},
		{"wrapped typed", errors.Join(errors.New("ctx"), models.BadField("username", "too long")), "BAD_USER_INPUT", "", "too long", map[string]any{"field": "username"}},
		{"rate limited", models.TooManyRequests("slow down", 1500_000_000), "TOO_MANY_REQUESTS", "", "slow down", map[string]any{"retryAfter": 2}},
		{"unexpected", errors.New(`pq: relation "users" does not exist`), "INTERNAL_SERVER_ERROR", "", "internal error", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := present(t.Context(), tc.err)
			if got.Message != tc.message || got.Extensions["code"] != tc.code {
				t.Fatalf("presentError(%v) = %q %v, want %q %q", tc.err, got.Message, got.Extensions, tc.message, tc.code)
			}
			if r, _ := got.Extensions["reason"].(string); r != tc.reason {
				t.Fatalf("reason = %q, want %q", r, tc.reason)
			}
			for k, v := range tc.ext {
				if got.Extensions[k] != v {
					t.Fatalf("extensions[%s] = %v, want %v", k, got.Extensions[k], v)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "relation") {
		t.Fatal("the unexpected error's detail was not logged")
	}
}
