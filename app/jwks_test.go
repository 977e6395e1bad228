package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func withAlg(alg string) func(*app.Config) { return func(c *app.Config) { c.JWTAlg = alg } }

// TestJWKSVerifiesWithAnotherLibrary has a verifier that is not golang-jwt
// fetch the key set over HTTP and verify a token, for every algorithm that
// publishes keys.
func TestJWKSVerifiesWithAnotherLibrary(t *testing.T) {
	for _, alg := range []string{auth.AlgEdDSA, auth.AlgES256, auth.AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
				srv := httptest.NewServer(e.Handler)
				t.Cleanup(srv.Close)
				user := e.CreateUser("kim", apptest.Password, models.RoleUser)
				access := e.Login("kim", apptest.Password).AccessToken

				set, err := jwk.Fetch(context.Background(), srv.URL+app.JWKSPath)
				if err != nil {
					t.Fatalf("jwk.Fetch: %v", err)
				}
				tok, err := jwt.ParseString(access, jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(e.Clock.Now)),
					jwt.WithIssuer("ironclad"))
				if err != nil {
					t.Fatalf("jwx Parse: %v", err)
				}
				if sub, _ := tok.Subject(); sub != user.ID {
					t.Errorf("sub = %q, want %q", sub, user.ID)
				}
				msg, err := jws.ParseString(access)
				if err != nil {
					t.Fatal(err)
				}
				h := msg.Signatures()[0].ProtectedHeaders()
				if typ, _ := h.Type(); typ != auth.TokenType {
					t.Errorf("typ = %q, want %q", typ, auth.TokenType)
				}
				if kid, _ := h.KeyID(); kid != e.App.Tokens.SigningKID() {
					t.Errorf("kid = %q, want %q", kid, e.App.Tokens.SigningKID())
				}
				if a, _ := h.Algorithm(); a.String() != alg {
					t.Errorf("alg = %v, want %s", a, alg)
				}
				// Nothing private in the set.
				for _, k := range jwksKeys(t, e) {
					for _, f := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
						if _, ok := k[f]; ok {
							t.Errorf("JWK %v has private member %q", k["kid"], f)
						}
					}
					if k["use"] != "sig" || k["alg"] != alg || k["kid"] == "" {
						t.Errorf("JWK = %v, want use sig, alg %s and a kid", k, alg)
					}
				}
			}, withAlg(alg))
		})
	}
}

func jwksKeys(t *testing.T, e *apptest.Env) []map[string]any {
	t.Helper()
	r := e.Serve(httptest.NewRequest(http.MethodGet, app.JWKSPath, nil))
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s = %d", app.JWKSPath, r.Status)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Body), &set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

// TestForgedTokensRefused: whatever a token's header claims, only the key its
// kid names, with that key's algorithm, verifies it.
func TestForgedTokensRefused(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("kim", apptest.Password, models.RoleUser)
		access := e.Login("kim", apptest.Password).AccessToken
		apptest.MustOK(t, e.Do(apptest.Bearer(access), apptest.MeQuery, nil))
		claims := gjwt.MapClaims{}
		if _, _, err := gjwt.NewParser().ParseUnverified(access, claims); err != nil {
			t.Fatal(err)
		}
		kid := e.App.Tokens.SigningKID()
		pub := e.App.Tokens.PublicKeys()[0].Key
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		sign := func(m gjwt.SigningMethod, kid any, key any) string {
			t.Helper()
			tok := gjwt.NewWithClaims(m, claims)
			tok.Header["typ"] = auth.TokenType
			if kid != nil {
				tok.Header["kid"] = kid
			}
			s, err := tok.SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		parts := strings.Split(access, ".")
		b64 := base64.RawURLEncoding.EncodeToString
		for name, tok := range map[string]string{
			"tampered payload":    parts[0] + "." + b64([]byte(`{"sub":"someone-else"}`)) + "." + parts[2],
			"tampered signature":  parts[0] + "." + parts[1] + "." + apptest.OtherToken(parts[2]),
			"alg none":            b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`)) + "." + parts[1] + ".",
			"HS256 public DER":    sign(gjwt.SigningMethodHS256, kid, der),
			"HS256 public PEM":    sign(gjwt.SigningMethodHS256, kid, pemKey),
			"HS256 PEM, no kid":   sign(gjwt.SigningMethodHS256, nil, pemKey),
			"unknown kid":         sign(gjwt.SigningMethodEdDSA, "no-such-key", stranger),
			"stranger, right kid": sign(gjwt.SigningMethodEdDSA, kid, stranger),
			"kid not a string":    sign(gjwt.SigningMethodEdDSA, 7, stranger),
		} {
			t.Run(name, func(t *testing.T) {
				apptest.WantError(t, e.Do(apptest.Bearer(tok), apptest.MeQuery, nil), string(models.CodeUnauthenticated), models.ReasonInvalidToken)
			})
		}
	})
}

// TestJWKSCaching: the key set is cacheable, revalidates with a 304 and is
// open to every origin for GET, without credentials.
func TestJWKSCaching(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		r := e.Serve(httptest.NewRequest(http.MethodGet, app.JWKSPath, nil))
		if got := r.Header.Get("Cache-Control"); got != "public, max-age=300" {
			t.Errorf("Cache-Control = %q, want public, max-age=300", got)
		}
		etag := r.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		req := httptest.NewRequest(http.MethodGet, app.JWKSPath, nil)
		req.Header.Set("If-None-Match", etag)
		req.Header.Set("Origin", "https://elsewhere.example")
		r2 := e.Serve(req)
		if r2.Status != http.StatusNotModified || r2.Body != "" {
			t.Errorf("If-None-Match: status %d body %q, want 304 and no body", r2.Status, r2.Body)
		}
		if got := r2.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
		}
		if got := r2.Header.Get("Access-Control-Allow-Credentials"); got != "" {
			t.Errorf("Access-Control-Allow-Credentials = %q, want none", got)
		}
		post := e.Serve(httptest.NewRequest(http.MethodPost, app.JWKSPath, nil))
		if post.Status != http.StatusMethodNotAllowed {
			t.Errorf("POST = %d, want 405", post.Status)
		}
		d := e.Serve(httptest.NewRequest(http.MethodGet, app.DiscoveryPath, nil))
		var doc struct {
			Issuer  string   `json:"issuer"`
			JWKSURI string   `json:"jwks_uri"`
			Algs    []string `json:"id_token_signing_alg_values_supported"`
		}
		if err := json.Unmarshal([]byte(d.Body), &doc); err != nil {
			t.Fatalf("discovery: %v\n%s", err, d.Body)
		}
		if doc.Issuer != "ironclad" || !strings.HasSuffix(doc.JWKSURI, app.JWKSPath) || len(doc.Algs) != 1 || doc.Algs[0] != auth.AlgEdDSA {
			t.Errorf("discovery = %+v", doc)
		}
	}, func(c *app.Config) { c.JWKSMaxAge = 300e9 })
}

// TestHS256PublishesNothing: the shared secret never leaves the server.
func TestHS256PublishesNothing(t *testing.T) {
	e := apptest.Open(t, "sqlite", withAlg(auth.AlgHS256))
	for _, p := range []string{app.JWKSPath, app.DiscoveryPath} {
		if r := e.Serve(httptest.NewRequest(http.MethodGet, p, nil)); r.Status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, r.Status)
		}
	}
	e.CreateUser("kim", apptest.Password, models.RoleUser)
	apptest.MustOK(t, e.Do(apptest.Bearer(e.Login("kim", apptest.Password).AccessToken), apptest.MeQuery, nil))
}

// TestAudience: tokens carry JWT_AUDIENCE, and a token for another
// audience is refused.
func TestAudience(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	api := apptest.New(t, st, nil, func(c *app.Config) { c.JWTAudience = []string{"https://api.example", "hasura"} })
	other := apptest.New(t, st, api.Clock, func(c *app.Config) { c.JWTAudience = []string{"billing"} })
	api.CreateUser("kim", apptest.Password, models.RoleUser)
	tok := api.Login("kim", apptest.Password).AccessToken
	claims := gjwt.MapClaims{}
	if _, _, err := gjwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	if aud, _ := claims.GetAudience(); len(aud) != 2 || aud[0] != "https://api.example" {
		t.Errorf("aud = %v, want [https://api.example hasura]", aud)
	}
	apptest.MustOK(t, api.Do(apptest.Bearer(tok), apptest.MeQuery, nil))
	apptest.WantError(t, other.Do(apptest.Bearer(tok), apptest.MeQuery, nil), string(models.CodeUnauthenticated), models.ReasonInvalidToken)
}

// TestPrivateKeyFile: JWT_PRIVATE_KEY_FILE signs instead of the database
// ring, and the JWKS publishes its public key.
func TestPrivateKeyFile(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t, "sqlite")
	e := apptest.New(t, st, nil, func(c *app.Config) { c.JWTPrivateKeyFile = path })
	if e.App.Keys != nil {
		t.Error("a key ring was opened beside the key file")
	}
	if rows, _ := st.SigningKeys(context.Background()); len(rows) != 0 {
		t.Errorf("%d keys in the database, want none", len(rows))
	}
	keys := e.App.Tokens.PublicKeys()
	if len(keys) != 1 || !priv.Public().(ed25519.PublicKey).Equal(keys[0].Key) {
		t.Fatalf("published keys = %v, want the file's", keys)
	}
	e.CreateUser("kim", apptest.Password, models.RoleUser)
	apptest.MustOK(t, e.Do(apptest.Bearer(e.Login("kim", apptest.Password).AccessToken), apptest.MeQuery, nil))
	cfg := apptest.Config(t, map[string]string{"JWT_ALG": "RS256", "JWT_PRIVATE_KEY_FILE": path})
	if _, err := app.New(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now); err == nil || !strings.Contains(err.Error(), "JWT_PRIVATE_KEY_FILE") {
		t.Errorf("RS256 with an Ed25519 file: error = %v, want one naming JWT_PRIVATE_KEY_FILE", err)
	}
}
