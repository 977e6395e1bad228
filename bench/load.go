package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/ironclad-auth/ironclad/auth"
)

// outcome classifies one response.
type outcome int

const (
	ok      outcome = iota
	busy            // TOO_MANY_REQUESTS: the hashing pool is full
	failed          // HTTP 200 with a GraphQL error, or another status below 500
	status5         // an HTTP 5xx
	netErr          // no response at all
)

// stats are one scenario's measurements.
type stats struct {
	counts  [5]int
	lats    []time.Duration // sorted
	elapsed time.Duration
}

func (s *stats) n() int { return len(s.lats) }

func (s *stats) rps() float64 { return float64(s.n()) / s.elapsed.Seconds() }

func (s *stats) pct(p float64) time.Duration {
	if len(s.lats) == 0 {
		return 0
	}
	return s.lats[min(len(s.lats)-1, int(float64(len(s.lats))*p))]
}

func (s *stats) errors() int {
	return s.counts[busy] + s.counts[failed] + s.counts[status5] + s.counts[netErr]
}

// load runs workers concurrent loops of op until d has passed or max ops
// (when > 0) have started, and returns their latencies and outcomes. A
// request in flight at the deadline is finished, not cancelled: cutting a
// refresh off after the server rotated the token would leave the client with
// a used token, and its next refresh would (rightly) be refused as reuse.
// Cancelling ctx stops the loops at once; requests cut off that way are not
// counted.
func load(ctx context.Context, workers int, d time.Duration, max int64, op func(ctx context.Context, w int) outcome) *stats {
	until := time.Now().Add(d)
	var started atomic.Int64
	lats := make([][]time.Duration, workers)
	counts := make([][5]int, workers)
	var wg sync.WaitGroup
	begin := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(until) && (max <= 0 || started.Add(1) <= max) {
				t := time.Now()
				o := op(ctx, w)
				if o == netErr && ctx.Err() != nil {
					return
				}
				lats[w] = append(lats[w], time.Since(t))
				counts[w][o]++
			}
		}()
	}
	wg.Wait()
	s := &stats{elapsed: time.Since(begin)}
	for w := range workers {
		s.lats = append(s.lats, lats[w]...)
		for i, c := range counts[w] {
			s.counts[i] += c
		}
	}
	slices.Sort(s.lats)
	return s
}

// post sends one GraphQL request and classifies the answer. into, when not
// nil, receives the decoded body of a successful answer.
func post(ctx context.Context, c *http.Client, url string, body []byte, authz string, into any) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/query", bytes.NewReader(body))
	if err != nil {
		return netErr
	}
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.Do(req)
	if err != nil {
		return netErr
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return netErr
	case resp.StatusCode >= 500:
		return status5
	case resp.StatusCode != http.StatusOK:
		return failed
	case bytes.Contains(raw, []byte(`"TOO_MANY_REQUESTS"`)):
		return busy
	case bytes.Contains(raw, []byte(`"errors"`)):
		return failed
	}
	if into != nil && json.Unmarshal(raw, into) != nil {
		return failed
	}
	return ok
}

const (
	meQuery      = `{ me { id username email role createdAt lastLoginAt } }`
	loginQuery   = `mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken refreshToken } }`
	refreshQuery = `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }`
)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

var meBody = mustJSON(map[string]any{"query": meQuery})

func loginBody(i int) []byte {
	return mustJSON(map[string]any{"query": loginQuery, "variables": map[string]any{"u": username(i), "p": benchPassword}})
}

// session is one client's current token pair.
type session struct{ access, refresh string }

type pairResponse struct {
	Data map[string]struct {
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
	} `json:"data"`
}

func (p pairResponse) session(field string) session {
	return session{access: p.Data[field].AccessToken, refresh: p.Data[field].RefreshToken}
}

// client is the harness's view of one server: its URL and one session per
// seeded user, which the scenarios advance (refresh, re-login).
type client struct {
	url      string
	http     *http.Client
	sessions []session
}

func (c *client) login(ctx context.Context, i int) outcome {
	var p pairResponse
	o := post(ctx, c.http, c.url, loginBody(i), "", &p)
	if o == ok {
		c.sessions[i%len(c.sessions)] = p.session("login")
	}
	return o
}

func (c *client) refresh(ctx context.Context, i int) outcome {
	i %= len(c.sessions)
	var p pairResponse
	o := post(ctx, c.http, c.url, mustJSON(map[string]any{"query": refreshQuery, "variables": map[string]any{"t": c.sessions[i].refresh}}), "", &p)
	if o == ok {
		c.sessions[i] = p.session("refreshToken")
	}
	return o
}

func (c *client) me(ctx context.Context, i int) outcome {
	return post(ctx, c.http, c.url, meBody, "Bearer "+c.sessions[i%len(c.sessions)].access, nil)
}

// row is one line of the result table.
type row struct {
	scenario, db string
	rps          float64
	p50, p99     time.Duration
	n, errs      int
	rss          int64
	note         string
	st           *stats
	// login c=1 only: the raw hash timed between the logins, and the mean
	// login.
	hashP50, hashMean, mean time.Duration
	// paced runs only: the requests a second offered
	offered float64
}

func rowOf(scenario, db string, s *stats, rss int64) row {
	return row{scenario: scenario, db: db, rps: s.rps(), p50: s.pct(0.50), p99: s.pct(0.99), n: s.n(), errs: s.errors(), rss: rss, st: s}
}

// measured runs fn between a reset and a read of the server's peak RSS.
func measured(srv *server, fn func() *stats) (*stats, int64) {
	srv.resetPeakRSS()
	s := fn()
	rss, err := srv.peakRSS()
	if err != nil {
		progress("peak RSS: %v", err)
	}
	return s, rss
}

// newBenchClient logs every seeded user in once on srv.
func newBenchClient(ctx context.Context, cfg config, srv *server) (*client, error) {
	c := &client{url: srv.url, http: newClient(cfg.flood + cfg.conns), sessions: make([]session, seededUsers)}
	progress("%s: logging in %d users", srv.db, seededUsers)
	for i := range seededUsers {
		if o := c.login(ctx, i); o != ok {
			return nil, fmt.Errorf("%s: setup login of %s failed (%d)", srv.db, username(i), o)
		}
	}
	return c, nil
}

// meScenario runs only me against srv.
func meScenario(ctx context.Context, cfg config, srv *server) ([]row, error) {
	c, err := newBenchClient(ctx, cfg, srv)
	if err != nil {
		return nil, err
	}
	return c.meRow(ctx, cfg, srv)
}

func (c *client) meRow(ctx context.Context, cfg config, srv *server) ([]row, error) {
	progress("%s: me, %d connections, %s (%s)", srv.db, cfg.conns, cfg.duration, cfg.gen)
	r, err := c.meLoad(ctx, cfg, srv)
	if err != nil {
		return nil, err
	}
	r.scenario = fmt.Sprintf("me c=%d", cfg.conns)
	rows := []row{r}
	if cfg.gen != "wrk" || cfg.baseRPS <= 0 {
		return rows, nil
	}
	// The same load offered at the target's rate: latency at 30 % (by
	// default) of the baseline's requests per second, rather than at saturation, where a
	// closed loop of 64 connections makes p50 = 64 / throughput by Little's
	// law and p99 mostly measures queueing.
	rate := cfg.pacedShare * cfg.baseRPS
	progress("%s: me, %d connections, %.0f requests a second (%s)", srv.db, cfg.conns, rate, cfg.gen)
	p, err := wrkProfiled(ctx, cfg, srv, c.tokenFile(cfg, srv), rate, "me-paced")
	if err != nil {
		return nil, err
	}
	p.scenario, p.offered = fmt.Sprintf("me c=%d at %.0f%% of the baseline rate", cfg.conns, 100*cfg.pacedShare), rate
	return append(rows, p), nil
}

// meTargetShare is the share of the baseline's requests per second me must
// reach (issue 6).
const meTargetShare = 0.30

// tokenFile is where the access tokens of c's sessions are kept for wrk,
// one per line.
func (c *client) tokenFile(cfg config, srv *server) string {
	return filepath.Join(cfg.work, srv.db+"-tokens.txt")
}

// scenarios runs every scenario against one server.
func scenarios(ctx context.Context, cfg config, srv *server) ([]row, error) {
	c, err := newBenchClient(ctx, cfg, srv)
	if err != nil {
		return nil, err
	}
	db := srv.db
	var rows []row
	if cfg.want("me") {
		rs, err := c.meRow(ctx, cfg, srv)
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
	}

	if cfg.want("login1") {
		progress("%s: login, concurrency 1, %d logins interleaved with %d raw hashes", db, cfg.loginCount, cfg.loginCount)
		rows = append(rows, loginSerial(ctx, cfg, c, srv))
	}

	if cfg.want("login32") {
		progress("%s: login, concurrency 32, %s", db, cfg.duration)
		s, rss := measured(srv, func() *stats {
			return load(ctx, 32, cfg.duration, 0, func(ctx context.Context, w int) outcome {
				var p pairResponse
				return post(ctx, c.http, c.url, loginBody(w), "", &p)
			})
		})
		r := rowOf("login c=32", db, s, rss)
		r.note = fmt.Sprintf("%d TOO_MANY_REQUESTS", s.counts[busy])
		rows = append(rows, r)
	}

	if cfg.want("refresh") {
		progress("%s: refresh chains, 32 clients, %s", db, cfg.duration)
		var s *stats
		var rss int64
		err := profiled(ctx, cfg, srv, "refresh", func() {
			s, rss = measured(srv, func() *stats {
				return load(ctx, 32, cfg.duration, 0, func(ctx context.Context, w int) outcome { return c.refresh(ctx, w) })
			})
		})
		if err != nil {
			return nil, err
		}
		rows = append(rows, rowOf("refresh chains c=32", db, s, rss))
	}

	if cfg.want("mix") {
		progress("%s: mix 90%% me / 9%% refresh / 1%% login, %d clients, %s", db, cfg.conns, cfg.duration)
		s, rss := measured(srv, func() *stats {
			return load(ctx, min(cfg.conns, seededUsers), cfg.duration, 0, func(ctx context.Context, w int) outcome {
				switch n := mrand.IntN(100); {
				case n < 90:
					return c.me(ctx, w)
				case n < 99:
					return c.refresh(ctx, w)
				default:
					return c.login(ctx, w)
				}
			})
		})
		r := rowOf("mix 90/9/1", db, s, rss)
		r.note = fmt.Sprintf("%d TOO_MANY_REQUESTS", s.counts[busy])
		rows = append(rows, r)
	}

	if !cfg.want("flood") {
		return rows, nil
	}
	progress("%s: flood of %d concurrent logins beside a me reader", db, cfg.flood)
	rows = append(rows, flood(ctx, cfg, c, srv)...)
	return rows, nil
}

// loginSerial measures login at concurrency 1 against the raw argon2id
// hash in the same stretch of time: each login is preceded by one hash
// timed in this process, so both see the same load from the rest of the
// machine, and the row reports the p50 and mean of each.
func loginSerial(ctx context.Context, cfg config, c *client, srv *server) row {
	srv.resetPeakRSS()
	faults0, faultErr := srv.minorFaults()
	hashes := make([]time.Duration, 0, cfg.loginCount)
	s := &stats{}
	var spent time.Duration
	for i := range cfg.loginCount {
		if ctx.Err() != nil {
			break
		}
		hashes = append(hashes, timeHash())
		t := time.Now()
		o := c.login(ctx, i)
		d := time.Since(t)
		spent += d
		s.lats = append(s.lats, d)
		s.counts[o]++
	}
	s.elapsed = spent
	slices.Sort(s.lats)
	slices.Sort(hashes)
	rss, _ := srv.peakRSS()
	r := rowOf("login c=1", srv.db, s, rss)
	r.hashP50, r.hashMean, r.mean = hashes[len(hashes)/2], mean(hashes), mean(s.lats)
	r.note = fmt.Sprintf("p50 %.2f × hash p50 %s; mean %.2f × hash mean %s (%d each, interleaved)",
		float64(r.p50)/float64(r.hashP50), ms(r.hashP50), float64(r.mean)/float64(r.hashMean), ms(r.hashMean), len(hashes))
	if faults1, err := srv.minorFaults(); err == nil && faultErr == nil && len(s.lats) > 0 {
		r.note += fmt.Sprintf("; %d page faults a login", (faults1-faults0)/int64(len(s.lats)))
	}
	return r
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(1, len(ds)))
}

// flood starts cfg.flood logins at once while 4 clients keep reading me,
// and reports both.
func flood(ctx context.Context, cfg config, c *client, srv *server) []row {
	srv.resetPeakRSS()
	meCtx, stopMe := context.WithCancel(ctx)
	defer stopMe()
	var meStats *stats
	var meDone sync.WaitGroup
	meDone.Add(1)
	go func() {
		defer meDone.Done()
		meStats = load(meCtx, 4, 5*time.Minute, 0, func(ctx context.Context, w int) outcome { return c.me(ctx, w) })
	}()
	// Let the readers get going, then fire every login at once.
	time.Sleep(200 * time.Millisecond)
	gate := make(chan struct{})
	results := make([]outcome, cfg.flood)
	lats := make([]time.Duration, cfg.flood)
	var wg sync.WaitGroup
	for i := range cfg.flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t := time.Now()
			var p pairResponse
			results[i] = post(ctx, c.http, c.url, loginBody(i), "", &p)
			lats[i] = time.Since(t)
		}()
	}
	begin := time.Now()
	close(gate)
	wg.Wait()
	elapsed := time.Since(begin)
	stopMe()
	meDone.Wait()
	rss, _ := srv.peakRSS()

	ls := &stats{lats: lats, elapsed: elapsed}
	for _, o := range results {
		ls.counts[o]++
	}
	slices.Sort(ls.lats)
	lr := rowOf(fmt.Sprintf("flood: %d logins at once", cfg.flood), srv.db, ls, rss)
	lr.errs = ls.counts[failed] + ls.counts[status5] + ls.counts[netErr] // TOO_MANY_REQUESTS is the expected answer
	lr.note = fmt.Sprintf("%d ok, %d TOO_MANY_REQUESTS, %d 5xx, %d other", ls.counts[ok], ls.counts[busy], ls.counts[status5], ls.counts[failed]+ls.counts[netErr])
	mr := rowOf("flood: me beside it c=4", srv.db, meStats, rss)
	mr.note = fmt.Sprintf("%d of %d me ok", meStats.counts[ok], meStats.n())
	return []row{lr, mr}
}

// meLoad measures me on cfg.conns connections with the run's generator,
// after a one-second warm-up (connections, caches, prepared statements).
func (c *client) meLoad(ctx context.Context, cfg config, srv *server) (row, error) {
	if cfg.gen == "go" {
		load(ctx, cfg.conns, time.Second, 0, func(ctx context.Context, w int) outcome { return c.me(ctx, w) })
		s, rss := measured(srv, func() *stats {
			return load(ctx, cfg.conns, cfg.duration, 0, func(ctx context.Context, w int) outcome { return c.me(ctx, w) })
		})
		return rowOf("", srv.db, s, rss), nil
	}
	var toks strings.Builder
	for _, s := range c.sessions {
		toks.WriteString(s.access + "\n")
	}
	file := c.tokenFile(cfg, srv)
	if err := os.WriteFile(file, []byte(toks.String()), 0o600); err != nil {
		return row{}, err
	}
	return wrkProfiled(ctx, cfg, srv, file, 0, "me")
}

// profiled runs fn, and with -profile saves the server's CPU profile over
// it (from a second in, for the duration less a second) as
// <db>-<name>.cpu.pprof.
func profiled(ctx context.Context, cfg config, srv *server, name string, fn func()) error {
	if cfg.profile == "" || srv.pprof == "" {
		fn()
		return nil
	}
	if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
		return err
	}
	secs := max(1, int(cfg.duration/time.Second)-1)
	cpu := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		cpu <- srv.saveProfile(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), filepath.Join(cfg.profile, srv.db+"-"+name+".cpu.pprof"))
	}()
	fn()
	if err := <-cpu; err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	progress("%s: CPU profile of %s saved in %s", srv.db, name, cfg.profile)
	return nil
}

// wrkProfiled is wrkScenario, and with -profile it also saves the server's
// CPU profile over the measured run (less a second at each end) as
// <db>-<name>.cpu.pprof, then its cumulative allocations.
func wrkProfiled(ctx context.Context, cfg config, srv *server, tokenFile string, rate float64, name string) (row, error) {
	if cfg.profile == "" || srv.pprof == "" {
		return wrkScenario(ctx, cfg, srv, tokenFile, rate)
	}
	if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
		return row{}, err
	}
	secs := max(1, int(cfg.duration/time.Second)-1)
	cpu := make(chan error, 1)
	go func() {
		time.Sleep(time.Second + 500*time.Millisecond) // the warm-up, then half a second
		cpu <- srv.saveProfile(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), filepath.Join(cfg.profile, srv.db+"-"+name+".cpu.pprof"))
	}()
	r, err := wrkScenario(ctx, cfg, srv, tokenFile, rate)
	if err != nil {
		return row{}, err
	}
	if err := <-cpu; err != nil {
		return row{}, fmt.Errorf("cpu profile: %w", err)
	}
	if err := srv.saveProfile(ctx, "/debug/pprof/allocs", filepath.Join(cfg.profile, srv.db+"-"+name+".allocs.pprof")); err != nil {
		return row{}, fmt.Errorf("allocation profile: %w", err)
	}
	progress("%s: profiles of %s saved in %s", srv.db, name, cfg.profile)
	return r, nil
}

// wrkScenario warms up for a second, then drives POST /query with meBody
// for cfg.duration under wrk.
//
// With rate > 0 the measured run offers that many requests a second instead
// of as many as the server answers. The row's note gives the server's CPU
// time per request (user and system, from /proc), a figure far less moved
// by the rest of the machine than requests per second.
func wrkScenario(ctx context.Context, cfg config, srv *server, tokenFile string, rate float64) (row, error) {
	if _, err := runWrk(ctx, cfg.wrk, cfg.work, srv.url, meBody, tokenFile, cfg.conns, time.Second, 0); err != nil {
		return row{}, err
	}
	srv.resetPeakRSS()
	cpu0, cpuErr := srv.cpuTime()
	res, err := runWrk(ctx, cfg.wrk, cfg.work, srv.url, meBody, tokenFile, cfg.conns, cfg.duration, rate)
	if err != nil {
		return row{}, err
	}
	cpu1, err := srv.cpuTime()
	rss, rssErr := srv.peakRSS()
	if rssErr != nil {
		progress("peak RSS: %v", rssErr)
	}
	r := wrkRow("", srv.db, res, rss)
	if err == nil && cpuErr == nil && res.requests > 0 {
		r.note += fmt.Sprintf("; server CPU %.1f µs a request (wrk: %.1f µs)", float64(cpu1-cpu0)/float64(time.Microsecond)/float64(res.requests),
			float64(res.cpu)/float64(time.Microsecond)/float64(res.requests))
	}
	return r, nil
}

// runBaseline measures the bare handler in its own process: as fast as it
// answers, then (with wrk) at cfg.pacedShare of that rate, the latency me's
// paced run is compared with.
func runBaseline(ctx context.Context, cfg config) ([]row, error) {
	srv, err := startSelf(ctx, "baseline", nil, "-serve-baseline")
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	name := fmt.Sprintf("baseline POST /query c=%d", cfg.conns)
	if cfg.gen == "wrk" {
		return wrkPair(ctx, cfg, srv, name, fmt.Sprintf("baseline c=%d at %.0f%% of its rate", cfg.conns, 100*cfg.pacedShare), 0)
	}
	c := newClient(cfg.conns)
	one := func(ctx context.Context, w int) outcome { return post(ctx, c, srv.url, meBody, "", nil) }
	load(ctx, cfg.conns, time.Second, 0, one) // warm up
	s, rss := measured(srv, func() *stats { return load(ctx, cfg.conns, cfg.duration, 0, one) })
	return []row{rowOf(name, "-", s, rss)}, nil
}

// runGraphQLFloor measures serveGraphQLFloor in its own process, as fast as
// it answers and at the paced share of the baseline's rate, at GOGC=400 as
// Ironclad runs (gc.go's defaultGCPercent; keep the two in step).
func runGraphQLFloor(ctx context.Context, cfg config) ([]row, error) {
	srv, err := startSelf(ctx, "floor", []string{"GOGC=400"}, "-serve-graphql-floor")
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	return wrkPair(ctx, cfg, srv, fmt.Sprintf("GraphQL floor c=%d (constant user, no auth)", cfg.conns),
		fmt.Sprintf("GraphQL floor c=%d at %.0f%% of the baseline rate", cfg.conns, 100*cfg.pacedShare), cfg.pacedShare*cfg.baseRPS)
}

// startSelf starts this harness's own binary as a reference server (with
// -serve-baseline or -serve-graphql-floor).
func startSelf(ctx context.Context, name string, env []string, mode string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return start(ctx, self, name, env, mode)
}

// wrkPair measures a reference server with wrk as fast as it answers, then
// offered rate requests a second (0: cfg.pacedShare of the rate just
// measured), as two rows named saturated and paced.
func wrkPair(ctx context.Context, cfg config, srv *server, saturated, paced string, rate float64) ([]row, error) {
	r, err := wrkScenario(ctx, cfg, srv, "", 0)
	if err != nil {
		return nil, err
	}
	r.scenario, r.db = saturated, "-"
	if rate <= 0 {
		rate = cfg.pacedShare * r.rps
	}
	progress("%s: %d connections, %.0f requests a second (wrk)", srv.db, cfg.conns, rate)
	p, err := wrkScenario(ctx, cfg, srv, "", rate)
	if err != nil {
		return nil, err
	}
	p.scenario, p.db, p.offered = paced, "-", rate
	return []row{r, p}, nil
}

// rawHash times argon2id with auth.DefaultParams, one hash at a time, and
// returns the median.
func rawHash(samples int) time.Duration {
	times := make([]time.Duration, samples)
	for i := range times {
		times[i] = timeHash()
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// timeHash times one argon2id hash of the bench password with
// auth.DefaultParams and a fresh salt.
func timeHash() time.Duration {
	p := auth.DefaultParams
	salt := make([]byte, p.SaltLen)
	_, _ = rand.Read(salt)
	t := time.Now()
	argon2.IDKey([]byte(benchPassword), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return time.Since(t)
}
