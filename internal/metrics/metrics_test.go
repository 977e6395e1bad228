package metrics_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/mail/mailtest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// withMetrics turns the metrics on, on a free loopback port.
func withMetrics(c *app.Config) { c.MetricsAddr = "127.0.0.1:0" }

// serveMetrics starts e's metrics listener and returns its URL.
func serveMetrics(t testing.TB, e *apptest.Env) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr, err := e.App.ServeMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr.String() + app.MetricsPath
}

// scrape GETs the exposition.
func scrape(t testing.TB, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, %v", url, res.StatusCode, err)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q, want the text exposition", ct)
	}
	return string(b)
}

// value returns the sample of series (name{labels} as exposed) in expo.
func value(t testing.TB, expo, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(expo))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return v
		}
	}
	t.Fatalf("series %s not in the exposition:\n%s", series, expo)
	return 0
}

func login(e *apptest.Env, user, pass string) apptest.Response {
	return e.Do("", apptest.LoginMutation, map[string]any{"u": user, "p": pass})
}

// Each flow's outcome lands in its family, with the label the README
// names, through the real handler and database.
func TestFlowsAreCounted(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		url := serveMetrics(t, e)
		ctx := context.Background()
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		bob := e.CreateUser("bob", apptest.Password, models.RoleUser)
		e.CreateUser("carol", apptest.Password, models.RoleUser)
		if _, err := e.App.Store.SetUserActive(ctx, bob.ID, false, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}

		p := e.Login("alice", apptest.Password) // ok
		apptest.WantError(t, login(e, "alice", "wrong password!"), "UNAUTHENTICATED", "invalid_credentials")
		apptest.WantError(t, login(e, "nobody", "wrong password!"), "UNAUTHENTICATED", "invalid_credentials")
		apptest.WantError(t, login(e, "bob", apptest.Password), "UNAUTHENTICATED", "invalid_credentials") // inactive
		for range auth.DefaultPerUser.Max {
			login(e, "carol", "wrong password!")
		}
		if code, _ := login(e, "carol", apptest.Password).Code(); code != "TOO_MANY_REQUESTS" {
			t.Fatalf("login over the limit: code %s, want TOO_MANY_REQUESTS", code)
		}

		// Before the clock moves: the second me hits both caches. The
		// notifications of the logins above are heard first, so none of
		// them drops the entry the first me fills.
		e.Settle()
		for range 2 {
			apptest.MustOK(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil))
		}
		r := e.Refresh(p.RefreshToken) // ok
		apptest.MustOK(t, r)
		apptest.MustOK(t, e.Refresh(p.RefreshToken)) // within the reuse grace window
		e.Clock.Advance(time.Minute)
		apptest.WantError(t, e.Refresh(p.RefreshToken), "UNAUTHENTICATED", "refresh_token_reused")
		apptest.WantError(t, e.Refresh("not-a-token"), "UNAUTHENTICATED", "refresh_token_invalid")
		p2 := e.Login("alice", apptest.Password)
		e.Clock.Advance(8 * 24 * time.Hour)
		apptest.WantError(t, e.Refresh(p2.RefreshToken), "UNAUTHENTICATED", "refresh_token_expired")

		p3 := e.Login("alice", apptest.Password)
		apptest.WantError(t, e.Do("", apptest.MeQuery, nil), "UNAUTHENTICATED", "missing_token")
		if r := e.Do("", "{", nil); len(r.Errors) == 0 {
			t.Fatal("a broken document answered without errors")
		}
		apptest.MustOK(t, e.Do("", `mutation($t: String!) { logout(refreshToken: $t) }`, map[string]any{"t": p3.RefreshToken}))

		expo := scrape(t, url)
		for series, want := range map[string]float64{
			`ironclad_logins_total{outcome="ok"}`:                                                  3,
			`ironclad_logins_total{outcome="invalid_credentials"}`:                                 2 + float64(auth.DefaultPerUser.Max),
			`ironclad_logins_total{outcome="inactive"}`:                                            1,
			`ironclad_logins_total{outcome="rate_limited"}`:                                        1,
			`ironclad_logins_total{outcome="email_unverified"}`:                                    0,
			`ironclad_rate_limited_total{limiter="login_user"}`:                                    1,
			`ironclad_rate_limited_total{limiter="login_ip"}`:                                      0,
			`ironclad_refreshes_total{outcome="ok"}`:                                               1,
			`ironclad_refreshes_total{outcome="grace"}`:                                            1,
			`ironclad_refreshes_total{outcome="reused"}`:                                           1,
			`ironclad_refreshes_total{outcome="invalid"}`:                                          1,
			`ironclad_refreshes_total{outcome="expired"}`:                                          1,
			`ironclad_sessions_ended_total{cause="refresh_reused"}`:                                1,
			`ironclad_sessions_ended_total{cause="logout"}`:                                        1,
			`ironclad_graphql_requests_total{operation_type="query",result="ok"}`:                  2,
			`ironclad_graphql_requests_total{operation_type="query",result="unauthenticated"}`:     1,
			`ironclad_graphql_requests_total{operation_type="unknown",result="invalid_operation"}`: 1,
			`ironclad_graphql_request_duration_seconds_count{operation_type="query"}`:              3,
			`ironclad_password_hash_active`:                                                        0,
			`ironclad_password_hash_waiting`:                                                       0,
		} {
			if got := value(t, expo, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		// One verification per login that reached the hasher.
		if got := value(t, expo, `ironclad_password_hash_duration_seconds_count`); got < 8 {
			t.Errorf("hash duration count = %v, want at least 8", got)
		}
		// The second me hit both caches (the first filled them).
		for _, series := range []string{`ironclad_cache_hits_total{cache="token"}`, `ironclad_cache_hits_total{cache="identity"}`,
			`ironclad_cache_misses_total{cache="token"}`, `ironclad_cache_misses_total{cache="identity"}`} {
			if got := value(t, expo, series); got < 1 {
				t.Errorf("%s = %v, want at least 1", series, got)
			}
		}
		for _, series := range []string{`go_goroutines`, `go_sql_max_open_connections{db_name="ironclad"}`} {
			if got := value(t, expo, series); got < 1 {
				t.Errorf("%s = %v, want at least 1", series, got)
			}
		}
		if !strings.Contains(expo, "\nprocess_cpu_seconds_total ") {
			t.Error("no process collector in the exposition")
		}
		if e.App.Store.Dialect() == "postgres" {
			if got := value(t, expo, `ironclad_invalidation_channel_up{source="postgres"}`); got != 1 {
				t.Errorf("invalidation channel up = %v, want 1", got)
			}
			value(t, expo, `ironclad_invalidation_channel_reconnects_total{source="postgres"}`)
		}
		promtoolCheck(t, expo)
	}, withMetrics, func(c *app.Config) { c.ReuseGrace = 10 * time.Second })
}

// promtoolCheck runs Prometheus' own linter on an exposition.
func promtoolCheck(t *testing.T, expo string) {
	t.Helper()
	promtool := apptest.Binary(t, "/usr/bin/promtool", "prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(expo)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// The exposition is served on METRICS_ADDR only: never by the public
// handler, and not at all without METRICS_ADDR. Each App has its own
// registry, so two in one process count apart.
func TestOwnListenerAndRegistry(t *testing.T) {
	off := apptest.Open(t, "sqlite")
	if off.App.Metrics != nil {
		t.Fatal("metrics built without METRICS_ADDR")
	}
	if _, err := off.App.ServeMetrics(context.Background()); err == nil {
		t.Fatal("ServeMetrics without METRICS_ADDR succeeded")
	}
	a, b := apptest.Open(t, "sqlite", withMetrics), apptest.Open(t, "sqlite", withMetrics)
	for _, e := range []*apptest.Env{off, a} {
		if r := e.Serve(httptest.NewRequest(http.MethodGet, app.MetricsPath, nil)); r.Status != http.StatusNotFound {
			t.Fatalf("GET /metrics on the public handler = %d, want 404", r.Status)
		}
	}
	a.CreateUser("alice", apptest.Password, models.RoleUser)
	a.Login("alice", apptest.Password)
	if got := value(t, scrape(t, serveMetrics(t, a)), `ironclad_logins_total{outcome="ok"}`); got != 1 {
		t.Errorf("logins on a = %v, want 1", got)
	}
	if got := value(t, scrape(t, serveMetrics(t, b)), `ironclad_logins_total{outcome="ok"}`); got != 0 {
		t.Errorf("logins on b = %v, want 0: the registries are shared", got)
	}
}

// With REDIS_URL the Redis invalidation channel is exported beside the
// database's.
func TestRedisChannelExported(t *testing.T) {
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		t.Skip("TEST_REDIS_URL is not set")
	}
	dsn, _ := storetest.OpenDSN(t, "sqlite")
	st, err := store.OpenWith(context.Background(), dsn, store.Options{RedisURL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := apptest.New(t, st, nil, withMetrics)
	select {
	case <-st.IdentityListening():
	case <-time.After(30 * time.Second):
		t.Fatal("the Redis channel never connected")
	}
	expo := scrape(t, serveMetrics(t, e))
	if got := value(t, expo, `ironclad_invalidation_channel_up{source="redis"}`); got != 1 {
		t.Errorf("redis channel up = %v, want 1", got)
	}
	if got := value(t, expo, `ironclad_invalidation_channel_reconnects_total{source="redis"}`); got != 0 {
		t.Errorf("redis channel reconnects = %v, want 0", got)
	}
}

// The mail outbox and the audit writer export their families: the depth
// counts a queued mail while the SMTP server is away, and the writer's
// drops start at zero.
func TestMailAndAuditFamilies(t *testing.T) {
	srv := mailtest.Start(t)
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		url := serveMetrics(t, e)
		if got := value(t, scrape(t, url), "ironclad_mail_outbox_depth"); got != 0 {
			t.Errorf("outbox depth = %v before any mail, want 0", got)
		}
		e.CreateUser("mia", apptest.Password, models.RoleUser)
		// No worker runs in this test: the reset mail stays queued.
		apptest.MustOK(t, e.Do("", `mutation($e: String!) { requestPasswordReset(email: $e) }`, map[string]any{"e": "mia@example.com"}))
		expo := scrape(t, url)
		if got := value(t, expo, "ironclad_mail_outbox_depth"); got != 1 {
			t.Errorf("outbox depth = %v with one queued mail, want 1", got)
		}
		value(t, expo, "ironclad_mail_failures_total")
		if got := value(t, expo, "ironclad_audit_events_dropped_total"); got != 0 {
			t.Errorf("audit events dropped = %v, want 0", got)
		}
		promtoolCheck(t, expo)
	}, withMetrics, apptest.WithSMTP(srv.URL()))
}
