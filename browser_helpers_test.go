package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// httpResult is a GraphQL response with its HTTP headers, for tests of the
// browser-facing behaviour (cookies, CORS, status codes).
type httpResult struct {
	gqlResponse
	Header http.Header
}

// cookie returns the Set-Cookie of name in the response, or nil.
func (r httpResult) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// browserRequest is one POST /query with everything a browser may add.
type browserRequest struct {
	query   string
	vars    map[string]any
	header  map[string]string
	cookies []*http.Cookie
}

// send posts req through the real handler.
func (e *testEnv) send(req browserRequest) httpResult {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"query": req.query, "variables": req.vars})
	if err != nil {
		e.t.Fatal(err)
	}
	hr := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	for _, c := range req.cookies {
		hr.AddCookie(c)
	}
	return e.roundTrip(hr)
}

// roundTrip serves hr and decodes a JSON body when there is one.
func (e *testEnv) roundTrip(hr *http.Request) httpResult {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, hr)
	raw, _ := io.ReadAll(rec.Result().Body)
	res := httpResult{gqlResponse: gqlResponse{Status: rec.Code, Body: string(raw)}, Header: rec.Result().Header}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &res.gqlResponse); err != nil {
			e.t.Fatalf("response is not JSON: %v\n%s", err, raw)
		}
	}
	return res
}

// csrf is a header that marks a request as sent by script.
var csrf = map[string]string{"X-Requested-With": "XMLHttpRequest"}

func cookieMode(c *config) { c.RefreshTokenCookie = true }

func mustOKResult(t *testing.T, r httpResult) {
	t.Helper()
	mustOK(t, r.gqlResponse)
}
