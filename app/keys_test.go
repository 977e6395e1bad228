package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	gjwt "github.com/golang-jwt/jwt/v5"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	p, _, err := gjwt.NewParser().ParseUnverified(tok, gjwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := p.Header["kid"].(string)
	return kid
}

// reloads returns a channel that hears every reload of e's key ring.
func reloads(e *apptest.Env) <-chan error {
	ch := make(chan error, 64)
	e.App.Keys.SetReloadObserver(func(err error) {
		select {
		case ch <- err:
		default:
		}
	})
	return ch
}

// waitKeys waits until e's ring satisfies ok, reload by reload.
func waitKeys(t *testing.T, e *apptest.Env, ch <-chan error, ok func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !ok() {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("reload: %v", err)
			}
		case <-timeout:
			t.Fatal("the other replica never reloaded its key ring")
		}
	}
}

func hasKID(e *apptest.Env, kid string) bool {
	for _, k := range e.App.Tokens.PublicKeys() {
		if k.KID == kid {
			return true
		}
	}
	return false
}

func longTTL(c *app.Config) { c.AccessTTL = time.Hour }

// TestKeyRotation: a rotated key is published on both replicas at once,
// signs on both from its activation instant, and tokens of the old key
// keep working.
func TestKeyRotation(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind, longTTL)
			heard := reloads(b)
			a.CreateUser("kim", apptest.Password, models.RoleUser)
			oldTok := a.Login("kim", apptest.Password).AccessToken
			old := kidOf(t, oldTok)
			kid, err := a.App.Keys.Rotate(context.Background(), auth.AlgEdDSA, 5*time.Minute, false)
			if err != nil {
				t.Fatal(err)
			}
			waitKeys(t, b, heard, func() bool { return hasKID(b, kid) })
			for _, e := range []*apptest.Env{a, b} {
				if got := kidOf(t, e.Login("kim", apptest.Password).AccessToken); got != old {
					t.Errorf("before activation: kid %q, want the old %q", got, old)
				}
			}
			a.Clock.Advance(5 * time.Minute)
			for i, e := range []*apptest.Env{a, b} {
				newTok := e.Login("kim", apptest.Password).AccessToken
				if got := kidOf(t, newTok); got != kid {
					t.Errorf("replica %d after activation: kid %q, want the new %q", i, got, kid)
				}
				apptest.MustOK(t, e.Do(apptest.Bearer(oldTok), apptest.MeQuery, nil))
				apptest.MustOK(t, e.Do(apptest.Bearer(newTok), apptest.MeQuery, nil))
			}
			// The old key leaves the JWKS once its tokens expired.
			a.Clock.Advance(time.Hour + a.App.Config.JWTLeeway)
			if err := a.App.Keys.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			if hasKID(a, old) || !hasKID(a, kid) {
				t.Errorf("after the old key's tokens expired: keys %v, want only %s", a.App.Tokens.PublicKeys(), kid)
			}
		})
	}
}

// TestKeyRevocation: a revoked key stops verifying on every replica at
// once, cached verifications included; the signing key cannot be revoked.
func TestKeyRevocation(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind, longTTL)
			heard := reloads(b)
			a.CreateUser("kim", apptest.Password, models.RoleUser)
			oldTok := a.Login("kim", apptest.Password).AccessToken
			old := kidOf(t, oldTok)
			apptest.MustOK(t, b.Do(apptest.Bearer(oldTok), apptest.MeQuery, nil)) // now in b's token cache
			ctx := context.Background()
			if err := a.App.Keys.Revoke(ctx, old); !errors.Is(err, auth.ErrRevokeSigning) {
				t.Fatalf("Revoke(signing key) = %v, want ErrRevokeSigning", err)
			}
			kid, err := a.App.Keys.Rotate(ctx, auth.AlgEdDSA, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			waitKeys(t, b, heard, func() bool { return b.App.Tokens.SigningKID() == kid })
			apptest.MustOK(t, b.Do(apptest.Bearer(oldTok), apptest.MeQuery, nil)) // verify-only still verifies
			if err := a.App.Keys.Revoke(ctx, old); err != nil {
				t.Fatal(err)
			}
			waitKeys(t, b, heard, func() bool { return !hasKID(b, old) })
			for _, e := range []*apptest.Env{a, b} {
				apptest.WantError(t, e.Do(apptest.Bearer(oldTok), apptest.MeQuery, nil), string(models.CodeUnauthenticated), models.ReasonInvalidToken)
				apptest.MustOK(t, e.Do(apptest.Bearer(e.Login("kim", apptest.Password).AccessToken), apptest.MeQuery, nil))
			}
		})
	}
}

// TestSwitchFromHS256: tokens signed with JWT_SECRET before the switch to
// an asymmetric algorithm verify until they expire, and for at most one
// access-token lifetime after the switch.
func TestSwitchFromHS256(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			st := storetest.Open(t, kind)
			hs := apptest.New(t, st, nil, withAlg(auth.AlgHS256))
			hs.CreateUser("kim", apptest.Password, models.RoleUser)
			before := hs.Login("kim", apptest.Password).AccessToken
			ed := apptest.New(t, st, hs.Clock) // EdDSA, the default: the switch
			apptest.MustOK(t, ed.Do(apptest.Bearer(before), apptest.MeQuery, nil))
			if kidOf(t, ed.Login("kim", apptest.Password).AccessToken) == kidOf(t, before) {
				t.Error("the new replica still signs with the secret")
			}
			// An HS256 token made after the switch (a replica not yet
			// upgraded) is refused once one lifetime has passed since it.
			hs.Clock.Advance(4 * time.Minute)
			late := hs.Login("kim", apptest.Password).AccessToken
			apptest.MustOK(t, ed.Do(apptest.Bearer(late), apptest.MeQuery, nil))
			hs.Clock.Advance(time.Minute + ed.App.Config.JWTLeeway)
			apptest.MustOK(t, hs.Do(apptest.Bearer(late), apptest.MeQuery, nil)) // not expired
			apptest.WantError(t, ed.Do(apptest.Bearer(late), apptest.MeQuery, nil), string(models.CodeUnauthenticated), models.ReasonInvalidToken)
		})
	}
}

// TestWrongSecretCannotOpenKeys: a replica with another JWT_SECRET fails to
// start with an error that says so.
func TestWrongSecretCannotOpenKeys(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	apptest.New(t, st, nil)
	cfg := apptest.Config(t, map[string]string{"JWT_SECRET": "another-secret-0123456789abcdefgh"})
	_, err := app.New(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if !errors.Is(err, auth.ErrKeySecret) || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Fatalf("New with another secret: error = %v, want ErrKeySecret naming JWT_SECRET", err)
	}
}

// TestScheduledRotation: with JWT_KEY_ROTATE_EVERY, replicas checking at
// once add one key between them, and only when the signing key is due.
func TestScheduledRotation(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			every := func(c *app.Config) { c.JWTKeyRotateEvery, c.JWTKeyPublishDelay = 24*time.Hour, 5*time.Minute }
			a, b := apptest.Pair(t, kind, every)
			ctx := context.Background()
			if added, err := a.App.Keys.RotateIfDue(ctx); err != nil || added {
				t.Fatalf("RotateIfDue on a new key = %v, %v; want false", added, err)
			}
			a.Clock.Advance(24*time.Hour - 5*time.Minute)
			results := make(chan bool, 2)
			for _, e := range []*apptest.Env{a, b} {
				go func() {
					added, err := e.App.Keys.RotateIfDue(ctx)
					if err != nil {
						t.Error(err)
					}
					results <- added
				}()
			}
			if n := btoi(<-results) + btoi(<-results); n != 1 {
				t.Fatalf("%d replicas added a key, want 1", n)
			}
			rows, err := a.App.Store.SigningKeys(ctx)
			if err != nil || len(rows) != 2 {
				t.Fatalf("%d keys (%v), want 2", len(rows), err)
			}
			if err := a.App.Keys.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			old := a.App.Tokens.SigningKID()
			a.Clock.Advance(5 * time.Minute)
			if a.App.Tokens.SigningKID() == old {
				t.Error("the scheduled key does not sign after the publish delay")
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
