package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// haproxyPath is Debian's HAProxy; a test needing it fails with CI set and
// skips otherwise when it is missing.
func haproxyPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("haproxy")
	if err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	if os.Getenv("CI") != "" {
		t.Fatal("haproxy is not installed (Debian package haproxy; .ci/run installs it)")
	}
	t.Skip("haproxy is not installed (Debian package haproxy)")
	return ""
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// balancer is a real HAProxy started by a test in front of replicas.
type balancer struct {
	url   string // the public frontend
	stats string // the CSV statistics page
	proc  *exec.Cmd
	log   *lineLog
	done  chan struct{}
}

// startBalancer runs HAProxy with a generated configuration: round robin
// over the servers, checked on /readyz every 100ms, X-Forwarded-For added,
// and a request that met a refused or closing connection retried on
// another server.
func startBalancer(t *testing.T, servers []string) *balancer {
	t.Helper()
	bin := haproxyPath(t)
	dir := t.TempDir()
	port, statsPort := freePort(t), freePort(t)
	var lines strings.Builder
	for i, s := range servers {
		fmt.Fprintf(&lines, "\tserver r%d %s check\n", i, s)
	}
	cfg := fmt.Sprintf(`global
	maxconn 2000

defaults
	mode http
	timeout connect 2s
	timeout client 60s
	timeout server 60s
	timeout check 2s
	retries 3
	option redispatch 1
	retry-on conn-failure empty-response

frontend public
	bind 127.0.0.1:%d
	option forwardfor
	default_backend ironclad

frontend stats
	bind 127.0.0.1:%d
	stats enable
	stats uri /stats

backend ironclad
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter 100ms fall 1 rise 1
%s`, port, statsPort, lines.String())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg)
	}
	b := &balancer{
		url:   fmt.Sprintf("http://127.0.0.1:%d", port),
		stats: fmt.Sprintf("http://127.0.0.1:%d/stats;csv", statsPort),
		log:   newLineLog(200),
		done:  make(chan struct{}),
	}
	b.proc = exec.Command(bin, "-db", "-f", path)
	b.proc.Stdout, b.proc.Stderr = b.log, b.log
	if err := b.proc.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	go func() { b.proc.Wait(); close(b.done) }()
	t.Cleanup(func() {
		_ = b.proc.Process.Kill()
		<-b.done
	})
	// Listening once the statistics page answers.
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(b.stats)
		if err == nil {
			resp.Body.Close()
			return b
		}
		select {
		case <-b.done:
			t.Fatalf("haproxy exited: %v\n%s", b.proc.ProcessState, b.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy not listening after 30s: %v\n%s", err, b.log)
		}
		select {
		case <-tick.C:
		case <-b.done:
		}
	}
}

// serverStats is one server's row of HAProxy's statistics.
type serverStats struct {
	status                                  string // UP, DOWN, ...
	sessions, retries, redispatches, errors int64
}

// server returns the statistics of backend server name (r0, r1).
func (b *balancer) server(t *testing.T, name string) serverStats {
	t.Helper()
	resp, err := http.Get(b.stats)
	if err != nil {
		t.Fatalf("haproxy stats: %v\n%s", err, b.log)
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("haproxy stats: %v", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimPrefix(h, "# ")] = i
	}
	n := func(row []string, k string) int64 { v, _ := strconv.ParseInt(row[col[k]], 10, 64); return v }
	for _, row := range rows[1:] {
		if row[col["pxname"]] == "ironclad" && row[col["svname"]] == name {
			return serverStats{status: row[col["status"]], sessions: n(row, "stot"), retries: n(row, "wretr"), redispatches: n(row, "wredis"), errors: n(row, "eresp") + n(row, "econ")}
		}
	}
	t.Fatalf("haproxy stats have no server %s", name)
	return serverStats{}
}

// waitStatus polls the balancer until server name reports status (UP or
// DOWN), failing after guard; stop, when it closes first, fails the wait.
func (b *balancer) waitStatus(t *testing.T, name, status string, guard time.Duration, stop <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(guard)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := b.server(t, name).status; strings.HasPrefix(s, status) {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("haproxy: server %s is %s after %s, want %s\n%s", name, s, guard, status, b.log)
		}
		select {
		case <-tick.C:
		case <-stop:
			t.Fatalf("haproxy: server %s not %s before the process it fronts exited", name, status)
		}
	}
}

// loadTally counts every request of the load and every failure.
type loadTally struct {
	me, refreshes, failures atomic.Int64
	mu                      sync.Mutex
	failed                  []string
}

func (l *loadTally) fail(format string, args ...any) {
	l.failures.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failed) < 20 {
		l.failed = append(l.failed, fmt.Sprintf(format, args...))
	}
}

const (
	rollWorkers      = 6
	rollRefreshEvery = 4 // one refresh per this many requests of a worker
	forgedXFF        = "198.51.100.7"
	clientAddr       = "127.0.0.2" // the client; HAProxy and the replicas are on 127.0.0.1
)

// Two replicas on one Postgres behind Debian's HAProxy, TRUSTED_PROXIES set
// to the balancer's address. Logins and refreshes go through the balancer
// from 127.0.0.2, with a forged X-Forwarded-For: each session records
// 127.0.0.2, neither the balancer (127.0.0.1) nor the forgery. Then a
// rolling restart (SIGTERM one replica, wait for its exit, start it again,
// wait until the balancer has it back, then the other) under a continuous
// load of me and refreshes loses no request: every request is counted and
// any error, transport or GraphQL, fails the test.
func TestRollingRestartBehindHAProxy(t *testing.T) {
	haproxyPath(t)
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Skipf("two replicas need one shared Postgres: set %s", storetest.EnvDatabaseURL)
	}
	dsn, _ := sharedDatabase(t)
	env := []string{
		"JWT_SECRET=" + apptest.Secret,
		"DATABASE_URL=" + dsn,
		"DATA_DIR=" + t.TempDir(),
		"PLAYGROUND=false",
		"TRUSTED_PROXIES=127.0.0.1",
		// Longer than a few of HAProxy's 100ms checks: the balancer takes a
		// draining replica out well before its listener closes.
		"SHUTDOWN_DRAIN=3s",
		"REQUEST_TIMEOUT=30s",
		"DB_STATEMENT_TIMEOUT=30s",
	}
	if url := os.Getenv("TEST_REDIS_URL"); url != "" {
		// As in production: the limiter's counters and the invalidations
		// shared through Redis too, under keys of this run alone.
		env = append(env, "REDIS_URL="+url, fmt.Sprintf("REDIS_KEY_PREFIX=ironclad-rolling-%d:", time.Now().UnixNano()))
	}
	const username = "rolling"
	create := startProc(t, env, apptest.Password+"\n", "createuser", "--username", username, "--password-stdin")
	if code := create.wait(t, time.Minute); code != 0 {
		t.Fatalf("createuser exit %d\nstdout:\n%s\nstderr:\n%s", code, create.stdout, create.stderr)
	}
	reps := [2]*replica{{t: t, env: env}, {t: t, env: env}}
	for _, r := range reps {
		r.start()
	}
	lb := startBalancer(t, []string{reps[0].addr, reps[1].addr})
	for i := range reps {
		lb.waitStatus(t, fmt.Sprintf("r%d", i), "UP", time.Minute, nil)
	}

	// The client sends from 127.0.0.2: a distinct address the balancer
	// forwards in X-Forwarded-For.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientAddr)}, Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: rollWorkers * 2,
	}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute) // a failure guard only
	defer cancel()

	post := func(authz, query string, vars map[string]any) (gqlResponse, error) {
		return postGraphQLWith(ctx, client, lb.url, authz, query, vars, map[string]string{"X-Forwarded-For": forgedXFF})
	}
	login := func() (access, refresh string) {
		t.Helper()
		r, err := post("", apptest.LoginMutation, map[string]any{"u": username, "p": apptest.Password})
		if err != nil || len(r.Errors) > 0 {
			t.Fatalf("login through the balancer: %v %+v", err, r.Errors)
		}
		var p struct{ AccessToken, RefreshToken string }
		if err := json.Unmarshal(r.Data["login"], &p); err != nil || p.AccessToken == "" {
			t.Fatalf("login answered %s", r.Data["login"])
		}
		return p.AccessToken, p.RefreshToken
	}
	wantSessionIP := func(when, access string) {
		t.Helper()
		r, err := post(apptest.Bearer(access), `{ sessions { ip current } }`, nil)
		if err != nil || len(r.Errors) > 0 {
			t.Fatalf("%s: sessions: %v %+v", when, err, r.Errors)
		}
		var ss []struct {
			IP      string
			Current bool
		}
		if err := json.Unmarshal(r.Data["sessions"], &ss); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range ss {
			if s.IP != clientAddr {
				t.Errorf("%s: a session records ip %q, want the client's %s (not the balancer's 127.0.0.1, nor the forged %s)", when, s.IP, clientAddr, forgedXFF)
			}
			found = found || s.Current
		}
		if !found {
			t.Errorf("%s: sessions %+v list no current session", when, ss)
		}
		// The audit log names the same client.
		r, err = post(apptest.Bearer(access), `{ myAuditEvents(first: 50) { edges { node { type ip } } } }`, nil)
		if err != nil || len(r.Errors) > 0 {
			t.Fatalf("%s: myAuditEvents: %v %+v", when, err, r.Errors)
		}
		var evs struct {
			Edges []struct{ Node struct{ Type, IP string } }
		}
		if err := json.Unmarshal(r.Data["myAuditEvents"], &evs); err != nil {
			t.Fatal(err)
		}
		if len(evs.Edges) == 0 {
			t.Errorf("%s: no audit events", when)
		}
		for _, e := range evs.Edges {
			if e.Node.IP != clientAddr {
				t.Errorf("%s: a %s audit event records ip %q, want the client's %s", when, e.Node.Type, e.Node.IP, clientAddr)
			}
		}
	}
	refresh := func(token string) (access, next string, err error) {
		r, err := post("", apptest.RefreshMutation, map[string]any{"t": token})
		if err != nil {
			return "", "", err
		}
		if len(r.Errors) > 0 {
			code, reason := r.code()
			return "", "", fmt.Errorf("%s %s: %s", code, reason, r.Errors[0].Message)
		}
		var p struct{ AccessToken, RefreshToken string }
		if err := json.Unmarshal(r.Data["refreshToken"], &p); err != nil || p.RefreshToken == "" || p.AccessToken == "" {
			return "", "", fmt.Errorf("refreshToken answered %s", r.Data["refreshToken"])
		}
		return p.AccessToken, p.RefreshToken, nil
	}

	// The client's address, through the balancer, at login and at refresh.
	access, rt := login()
	wantSessionIP("after login", access)
	access, rt, err := refresh(rt)
	if err != nil {
		t.Fatalf("refresh through the balancer: %v", err)
	}
	wantSessionIP("after refresh", access)

	// The load: each worker logs in once, then sends me, and every
	// rollRefreshEvery-th request a refresh, until told to stop.
	var (
		tally    loadTally
		stopLoad = make(chan struct{})
		wg       sync.WaitGroup
		progress = make(chan struct{}, 1)
	)
	type session struct{ access, refresh string }
	sessions := make([]session, rollWorkers)
	for i := range sessions {
		sessions[i].access, sessions[i].refresh = login()
	}
	for i := range rollWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sessions[i]
			for n := 1; ; n++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				if n%rollRefreshEvery == 0 {
					a, next, err := refresh(s.refresh)
					tally.refreshes.Add(1)
					if err != nil {
						tally.fail("worker %d, request %d, refresh: %v", i, n, err)
						return // the chain is broken: this session is lost
					}
					s = session{a, next}
				} else {
					r, err := post(apptest.Bearer(s.access), `{ me { username } }`, nil)
					tally.me.Add(1)
					switch {
					case err != nil:
						tally.fail("worker %d, request %d, me: %v", i, n, err)
					case len(r.Errors) > 0:
						code, reason := r.code()
						tally.fail("worker %d, request %d, me: %s %s", i, n, code, reason)
					case !strings.Contains(string(r.Data["me"]), username):
						tally.fail("worker %d, request %d, me answered %s", i, n, r.Data["me"])
					}
				}
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}()
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() { close(stopLoad) })
		<-loadDone
	}
	defer stop() // however the test ends, no worker outlives it
	total := func() int64 { return tally.me.Load() + tally.refreshes.Load() }
	// waitRequests waits until the load has sent n more requests.
	waitRequests := func(what string, n int64) {
		t.Helper()
		target := total() + n
		for total() < target {
			select {
			case <-progress:
			case <-loadDone:
				t.Fatalf("%s: every worker stopped: %v", what, tally.failed)
			case <-ctx.Done():
				t.Fatalf("%s: %d of %d requests before the guard", what, total(), target)
			}
		}
	}

	waitRequests("before the restart", 200)
	start, startTotal := time.Now(), total()
	var before [2]serverStats
	for i, r := range reps {
		name := fmt.Sprintf("r%d", i)
		p := r.procs[len(r.procs)-1]
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// /readyz fails at once: the balancer takes the replica out while
		// it still serves.
		lb.waitStatus(t, name, "DOWN", 30*time.Second, p.done)
		select {
		case <-p.done:
			t.Fatalf("replica %d exited before the balancer took it out (SHUTDOWN_DRAIN too short for the health checks?)", i)
		default:
		}
		if code := p.wait(t, time.Minute); code != 0 {
			t.Fatalf("replica %d exit %d after SIGTERM\nstderr:\n%s", i, code, p.stderr)
		}
		waitRequests(fmt.Sprintf("replica %d down", i), 50)
		r.start()
		lb.waitStatus(t, name, "UP", time.Minute, nil)
		before[i] = lb.server(t, name)
		waitRequests(fmt.Sprintf("replica %d back", i), 100)
	}
	// Both restarted replicas take part in the load again.
	for i := range reps {
		name := fmt.Sprintf("r%d", i)
		deadline := time.Now().Add(time.Minute)
		for lb.server(t, name).sessions <= before[i].sessions {
			if time.Now().After(deadline) {
				t.Fatalf("replica %d served nothing through the balancer after its restart", i)
			}
			waitRequests(fmt.Sprintf("replica %d serving", i), 10)
		}
	}
	elapsed, during := time.Since(start), total()-startTotal
	stop()

	access, _ = login()
	wantSessionIP("after the rolling restart", access)

	var retries, redispatches, lbErrors int64
	for i := range reps {
		s := lb.server(t, fmt.Sprintf("r%d", i))
		retries, redispatches, lbErrors = retries+s.retries, redispatches+s.redispatches, lbErrors+s.errors
	}
	t.Logf("rolling restart of 2 replicas behind HAProxy (Redis %v): %d requests (%d me, %d refreshes) from %d workers, %d during the restart (%s); %d failed; HAProxy: %d retries, %d redispatches, %d server errors",
		os.Getenv("TEST_REDIS_URL") != "", total(), tally.me.Load(), tally.refreshes.Load(), rollWorkers, during, elapsed.Round(time.Millisecond), tally.failures.Load(), retries, redispatches, lbErrors)
	// None needed the balancer's rescue: each replica left the pool
	// before it closed a connection.
	if retries+redispatches+lbErrors > 0 {
		t.Errorf("HAProxy retried %d requests, redispatched %d and saw %d server errors, want none: a replica closed connections while the balancer still sent to it", retries, redispatches, lbErrors)
	}
	if n := tally.failures.Load(); n > 0 {
		t.Errorf("%d requests failed during the rolling restart:\n%s", n, strings.Join(tally.failed, "\n"))
	}
}

// postGraphQLWith is postGraphQL with an Authorization value and extra
// headers.
func postGraphQLWith(ctx context.Context, c *http.Client, base, authz, query string, vars map[string]any, header map[string]string) (gqlResponse, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return gqlResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query", strings.NewReader(string(body)))
	if err != nil {
		return gqlResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return gqlResponse{}, fmt.Errorf("%w: %v", errTransport, err)
	}
	defer resp.Body.Close()
	var out gqlResponse
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("%w: %v", errTransport, err)
	}
	return out, nil
}
