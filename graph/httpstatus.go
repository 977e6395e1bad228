package graph

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// GraphQL over HTTP lets a server answer application/graphql-response+json
// requests with a non-2xx status when no data could be produced. Ironclad
// uses it for two cases. The database could not answer and left data null:
// 503 with Retry-After. Authentication failed and left data null: 401 with
// WWW-Authenticate, so HTTP-level clients (fetch
// wrappers, OkHttp interceptors) can refresh on 401 without reading the
// body. Plain application/json keeps HTTP 200, as GraphQL clients expect,
// and partial data is always 2xx.

// graphQLResponseJSON is the media type of the GraphQL-over-HTTP spec.
const graphQLResponseJSON = "application/graphql-response+json"

// authOutcome is what the executor learned about one request, for the HTTP
// layer to turn into a status before the body is written.
type authOutcome struct {
	mu           sync.Mutex
	unauthorized bool // data is null because authentication failed
	invalidToken bool // an access token was sent and refused
	unavailable  int  // data is null because the database could not answer: the retryAfter, in seconds
	// For the Observer: whether the executor answered, and how.
	answered bool
	op       OpType
	result   Result
}

type outcomeKey struct{}

// authStatus is the gqlgen extension that inspects each response.
type authStatus struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = authStatus{}

func (authStatus) ExtensionName() string                   { return "AuthStatus" }
func (authStatus) Validate(graphql.ExecutableSchema) error { return nil }

func (authStatus) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	o, _ := ctx.Value(outcomeKey{}).(*authOutcome)
	if o == nil || resp == nil {
		return resp
	}
	op, result := operationOf(ctx), resultOf(resp.Errors)
	o.mu.Lock()
	o.answered, o.op, o.result = true, op, result
	o.mu.Unlock()
	if retry, ok := unavailable(resp.Data, resp.Errors); ok {
		o.mu.Lock()
		o.unavailable = retry
		o.mu.Unlock()
		return resp
	}
	if !authFailed(resp.Data, resp.Errors) {
		return resp
	}
	v := auth.ViewerFrom(ctx)
	o.mu.Lock()
	o.unauthorized = true
	o.invalidToken = v.User == nil && !errors.Is(v.Err, auth.ErrMissingToken)
	o.mu.Unlock()
	return resp
}

// authFailed reports whether a response has no data and an UNAUTHENTICATED
// error. Partial data is never an authentication failure of the request.
func authFailed(data []byte, errs gqlerror.List) bool {
	if len(data) != 0 && string(data) != "null" {
		return false
	}
	for _, e := range errs {
		if code, _ := e.Extensions["code"].(string); code == string(models.CodeUnauthenticated) {
			return true
		}
	}
	return false
}

// unavailable reports whether a response has no data and a
// SERVICE_UNAVAILABLE error, and that error's retryAfter.
func unavailable(data []byte, errs gqlerror.List) (retryAfter int, ok bool) {
	if len(data) != 0 && string(data) != "null" {
		return 0, false
	}
	for _, e := range errs {
		if code, _ := e.Extensions["code"].(string); code == string(models.CodeServiceUnavailable) {
			retry, _ := e.Extensions["retryAfter"].(int)
			return max(retry, 1), true
		}
	}
	return 0, false
}

// withAuthStatus answers 401 instead of 200 when the executor reported an
// authentication failure and the response is application/graphql-response+json.
// It changes only the status line and one header; the body streams through.
// It also tells obs, when not nil, how each request the executor answered
// ended.
func withAuthStatus(obs Observer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One allocation for both: this runs on every request.
		a := &struct {
			o  authOutcome
			sw statusWriter
		}{}
		a.sw = statusWriter{ResponseWriter: w, outcome: &a.o}
		rr := r.WithContext(context.WithValue(r.Context(), outcomeKey{}, &a.o))
		if obs == nil {
			next.ServeHTTP(&a.sw, rr)
			return
		}
		start := time.Now()
		next.ServeHTTP(&a.sw, rr)
		a.o.mu.Lock()
		answered, op, result := a.o.answered, a.o.op, a.o.result
		a.o.mu.Unlock()
		if answered {
			obs.Operation(op, result, time.Since(start))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	outcome *authOutcome
	started bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.started {
		w.started = true
		code = w.status(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status(code int) int {
	o := w.outcome
	o.mu.Lock()
	defer o.mu.Unlock()
	if code != http.StatusOK || (!o.unauthorized && o.unavailable == 0) {
		return code
	}
	if mt, _, err := mime.ParseMediaType(w.Header().Get("Content-Type")); err != nil || mt != graphQLResponseJSON {
		return code
	}
	if o.unavailable > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(o.unavailable))
		return http.StatusServiceUnavailable
	}
	// RFC 6750 section 3: error="invalid_token" only when a token was sent;
	// a request without credentials gets the bare challenge.
	challenge := "Bearer"
	if o.invalidToken {
		challenge = `Bearer error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	return http.StatusUnauthorized
}
