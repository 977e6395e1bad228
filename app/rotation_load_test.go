package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gjwt "github.com/golang-jwt/jwt/v5"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// rotationLoad is clients calling me on two replicas, logging in again now
// and then, and counting every request that did not succeed.
type rotationLoad struct {
	t        *testing.T
	envs     []*apptest.Env
	done     atomic.Int64 // requests completed, failed or not
	failed   atomic.Int64
	progress chan struct{} // a request completed (lossy)
	stop     chan struct{}
	wg       sync.WaitGroup

	mu       sync.Mutex
	failures []loadFailure // the first maxFailures
}

// loadFailure is one failed request: which, on which replica, with a token
// of which key.
type loadFailure struct {
	what    string
	replica int
	kid     string // of the access token presented; "" for a login
	err     error
}

const maxFailures = 1000

const (
	loadClients      = 8
	loadReloginEvery = 20 // me requests between two logins of a client
)

// try serves one GraphQL operation without failing the test from a client
// goroutine: it returns the response, or why it is not a success.
func (l *rotationLoad) try(e *apptest.Env, authz, query string, vars map[string]any) (apptest.Response, error) {
	rec := httptest.NewRecorder()
	e.Handler.ServeHTTP(rec, apptest.Request{Query: query, Vars: vars, Authz: authz}.HTTP(l.t))
	r := apptest.Response{Status: rec.Code, Body: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		return r, fmt.Errorf("status %d, body not JSON: %v: %s", rec.Code, err, r.Body)
	}
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		return r, fmt.Errorf("status %d: %s", r.Status, r.Body)
	}
	return r, nil
}

func (l *rotationLoad) record(f loadFailure) {
	l.done.Add(1)
	if f.err != nil {
		l.failed.Add(1)
		l.mu.Lock()
		if len(l.failures) < maxFailures {
			l.failures = append(l.failures, f)
		}
		l.mu.Unlock()
	}
	select {
	case l.progress <- struct{}{}:
	default:
	}
}

// client logs username in on replica first, then calls me on each replica
// in turn, logging in again (on the next replica) every loadReloginEvery
// requests, until stop closes.
func (l *rotationLoad) client(username string, first int) {
	defer l.wg.Done()
	token := ""
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		e := l.envs[(first+i)%len(l.envs)]
		if token == "" || i%loadReloginEvery == 0 {
			r, err := l.try(e, "", apptest.LoginMutation, map[string]any{"u": username, "p": apptest.Password})
			l.record(loadFailure{what: "login " + username, replica: (first + i) % len(l.envs), err: err})
			if err == nil {
				var p apptest.Payload
				if err := json.Unmarshal(r.Data["login"], &p); err == nil && p.AccessToken != "" {
					token = p.AccessToken
				}
			}
			continue
		}
		_, err := l.try(e, apptest.Bearer(token), apptest.MeQuery, nil)
		l.record(loadFailure{what: "me " + username, replica: (first + i) % len(l.envs), kid: headerKID(token), err: err})
	}
}

// headerKID is the kid in a JWT's header, "" if there is none.
func headerKID(tok string) string {
	p, _, err := gjwt.NewParser().ParseUnverified(tok, gjwt.MapClaims{})
	if err != nil {
		return ""
	}
	kid, _ := p.Header["kid"].(string)
	return kid
}

// waitProgress waits until at least n more requests than at the mark have
// completed, request by request.
func (l *rotationLoad) waitProgress(t *testing.T, mark int64, n int64, phase string) int64 {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for l.done.Load() < mark+n {
		select {
		case <-l.progress:
		case <-timeout:
			t.Fatalf("%s: the load completed %d requests, want %d more than %d", phase, l.done.Load(), n, mark)
		}
	}
	return l.done.Load()
}

// TestRotationUnderLoad: rotating the signing key the way `ironclad keys
// rotate` does, with the publish delay and with --activate-now, fails no
// request of clients spread over two replicas; tokens issued before keep
// working on both, and after activation both replicas sign with the new key.
func TestRotationUnderLoad(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			const delay = 5 * time.Minute
			a, b := apptest.Pair(t, kind, longTTL, func(c *app.Config) { c.JWTKeyPublishDelay = delay })
			envs := []*apptest.Env{a, b}
			heard := []<-chan error{reloads(a), reloads(b)}
			ctx := context.Background()
			alg, publishDelay := a.App.Config.JWTAlg, a.App.Config.JWTKeyPublishDelay // what cli_keys.go passes

			a.CreateUser("kim", apptest.Password, models.RoleUser)
			before := []string{a.Login("kim", apptest.Password).AccessToken, b.Login("kim", apptest.Password).AccessToken}
			oldKID := kidOf(t, before[0])
			if got := kidOf(t, before[1]); got != oldKID {
				t.Fatalf("the replicas sign with %q and %q before any rotation", oldKID, got)
			}

			l := &rotationLoad{t: t, envs: envs, progress: make(chan struct{}, 1), stop: make(chan struct{})}
			for i := range loadClients {
				name := fmt.Sprintf("load%d", i)
				a.CreateUser(name, apptest.Password, models.RoleUser)
				l.wg.Add(1)
				go l.client(name, i%len(envs))
			}
			stopped := false
			stopLoad := func() {
				if !stopped {
					stopped = true
					close(l.stop)
					l.wg.Wait()
				}
			}
			defer stopLoad() // on t.Fatal too: no client outlives the test
			mark := l.waitProgress(t, 0, 4*loadClients, "warm-up")

			// checkAfter: every replica signs with kid, and every token
			// issued before (on either replica) is accepted by both.
			checkAfter := func(phase, kid string, earlier []string) []string {
				t.Helper()
				for i, e := range envs {
					tok := e.Login("kim", apptest.Password).AccessToken
					if got := kidOf(t, tok); got != kid {
						t.Errorf("%s: replica %d signs with %q, want the new %q", phase, i, got, kid)
					}
					earlier = append(earlier, tok)
				}
				for _, tok := range earlier {
					for _, e := range envs {
						apptest.MustOK(t, e.Do(apptest.Bearer(tok), apptest.MeQuery, nil))
					}
				}
				return earlier
			}

			// 1. Rotation with the publish delay: the key is published on
			// both replicas at once, and signs once the clock passes its
			// activation time.
			kid1, err := a.App.Keys.Rotate(ctx, alg, publishDelay, false)
			if err != nil {
				t.Fatal(err)
			}
			rotated := l.done.Load()
			firstRotated := rotated
			for i, e := range envs {
				waitKeys(t, e, heard[i], func() bool { return hasKID(e, kid1) })
			}
			for i, e := range envs {
				if got := kidOf(t, e.Login("kim", apptest.Password).AccessToken); got != oldKID {
					t.Errorf("replica %d before activation: kid %q, want the old %q", i, got, oldKID)
				}
			}
			mark = l.waitProgress(t, rotated, 2*loadClients, "published, not yet signing")
			a.Clock.Advance(publishDelay + time.Second)
			before = checkAfter("after activation", kid1, before)
			l.waitProgress(t, mark, 2*loadClients, "after activation")

			// 2. Rotation with --activate-now, from the other replica.
			kid2, err := b.App.Keys.Rotate(ctx, alg, publishDelay, true)
			if err != nil {
				t.Fatal(err)
			}
			rotated = l.done.Load()
			for i, e := range envs {
				waitKeys(t, e, heard[i], func() bool { return e.App.Tokens.SigningKID() == kid2 })
			}
			checkAfter("activate-now", kid2, before)
			l.waitProgress(t, rotated, 2*loadClients, "after activate-now")

			stopLoad()
			// No request may fail, not even with --activate-now: a replica
			// that meets a kid it does not know yet (the other replica
			// made it a moment ago) rereads the ring before refusing.
			if int64(len(l.failures)) < l.failed.Load() {
				t.Errorf("%d failures, more than the %d recorded", l.failed.Load(), len(l.failures))
			}
			t.Logf("keys: old %s, delayed %s, activate-now %s; %d requests (%d after the first rotation returned), %d failed",
				oldKID, kid1, kid2, l.done.Load(), l.done.Load()-firstRotated, l.failed.Load())
			for _, f := range l.failures {
				t.Errorf("%s on replica %d (token kid %q): %v", f.what, f.replica, f.kid, f.err)
			}
		})
	}
}
