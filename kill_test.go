package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// The binary the tests of this package run as a process is built once, into
// a folder TestMain removes.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// ironcladBinary returns the path of the command built from this folder
// (`go build -o DIR/ironclad .`), building it on first use.
func ironcladBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "ironclad-e2e-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "ironclad")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// lineLog is the stdout or stderr of a server: it splits what is written into
// lines, keeps the last keep of them (all when keep is 0), counts the lines
// containing each tallied string, and hands a line to whoever waits for it.
type lineLog struct {
	mu      sync.Mutex
	keep    int
	partial []byte
	lines   []string
	tally   map[string]int
	waiters []lineWaiter
}

type lineWaiter struct {
	substr string
	ch     chan string
}

func newLineLog(keep int, tally ...string) *lineLog {
	l := &lineLog{keep: keep, tally: map[string]int{}}
	for _, s := range tally {
		l.tally[s] = 0
	}
	return l
}

// Write takes output in any pieces; a line counts once its newline arrived.
func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	rest := l.partial
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		l.line(string(rest[:i]))
		rest = rest[i+1:]
	}
	l.partial = append(l.partial[:0], rest...)
	return len(p), nil
}

func (l *lineLog) line(s string) {
	l.lines = append(l.lines, s)
	if l.keep > 0 && len(l.lines) > l.keep {
		l.lines = l.lines[len(l.lines)-l.keep:]
	}
	for k := range l.tally {
		if strings.Contains(s, k) {
			l.tally[k]++
		}
	}
	waiting := l.waiters[:0]
	for _, w := range l.waiters {
		if strings.Contains(s, w.substr) {
			w.ch <- s
		} else {
			waiting = append(waiting, w)
		}
	}
	l.waiters = waiting
}

// waitFor returns a channel that receives the first line, kept or to come,
// containing substr.
func (l *lineLog) waitFor(substr string) <-chan string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan string, 1)
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			ch <- s
			return ch
		}
	}
	l.waiters = append(l.waiters, lineWaiter{substr, ch})
	return ch
}

// count returns how many lines contained the tallied string s.
func (l *lineLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tally[s]
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// addrRE finds the address in the "ironclad listening" line, in the text
// log format (addr=127.0.0.1:NNNN) or the JSON one of production.
var addrRE = regexp.MustCompile(`\baddr=(\S+)|"addr":"([^"]+)"`)

// listenAddr returns the address a listening line names.
func listenAddr(t testing.TB, line string) string {
	t.Helper()
	m := addrRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no addr in listening line %q", line)
	}
	return m[1] + m[2]
}

// proc is one ironclad process started by a test.
type proc struct {
	cmd    *exec.Cmd
	stdout *lineLog
	stderr *lineLog
	done   chan struct{} // closed when it exited; err is then set
	err    error         // what cmd.Wait returned
}

// startProc starts the binary with exactly env (nothing inherited) and the
// given stdin and arguments. The test's cleanup kills it if it still runs.
func startProc(t *testing.T, env []string, stdin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(ironcladBinary(t), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	p := &proc{cmd: cmd, stdout: newLineLog(200, "within the reuse grace window", "refresh_token_reused"), stderr: newLineLog(200), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine waits for a line of stdout containing substr; it fails the test
// if the process exits first or nothing comes within guard.
func (p *proc) waitLine(t testing.TB, substr string, guard time.Duration) string {
	t.Helper()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case line := <-p.stdout.waitFor(substr):
		return line
	case <-p.done:
		// Output is complete once Wait returned: the line may have come last.
		select {
		case line := <-p.stdout.waitFor(substr):
			return line
		default:
		}
		t.Fatalf("%v exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", p.cmd.Args, p.err, substr, p.stdout, p.stderr)
	case <-timer.C:
		t.Fatalf("%v printed no %q within %s\nstdout:\n%s\nstderr:\n%s", p.cmd.Args, substr, guard, p.stdout, p.stderr)
	}
	return ""
}

// wait waits for the process to exit and returns its exit code, failing the
// test if it runs past guard.
func (p *proc) wait(t testing.TB, guard time.Duration) int {
	t.Helper()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		t.Fatalf("%v still running after %s\nstdout:\n%s\nstderr:\n%s", p.cmd.Args, guard, p.stdout, p.stderr)
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		t.Fatalf("%v: %v", p.cmd.Args, p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// sharedDatabase returns a DATABASE_URL that several processes can share: a
// fresh Postgres schema when TEST_DATABASE_URL is set, else an SQLite file.
func sharedDatabase(t *testing.T) (dsn, kind string) {
	t.Helper()
	if os.Getenv(storetest.EnvDatabaseURL) != "" {
		dsn, _ = storetest.OpenDSN(t, store.DialectPostgres)
		return dsn, store.DialectPostgres
	}
	return filepath.Join(t.TempDir(), "ironclad.db"), store.DialectSQLite
}

// gqlResponse is a GraphQL response as the chains read it.
type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (r gqlResponse) code() (code, reason string) {
	if len(r.Errors) == 0 {
		return "", ""
	}
	code, _ = r.Errors[0].Extensions["code"].(string)
	reason, _ = r.Errors[0].Extensions["reason"].(string)
	return code, reason
}

// errTransport marks a request that got no complete answer: the connection
// was refused, reset or cut (the replica was killed), so the request may or
// may not have taken effect.
var errTransport = errors.New("transport")

// postGraphQL posts one operation to base/query. An error wrapping
// errTransport means no answer came; any other error is an answer that is
// not a GraphQL response.
func postGraphQL(ctx context.Context, c *http.Client, base, query string, vars map[string]any) (gqlResponse, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return gqlResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query", bytes.NewReader(body))
	if err != nil {
		return gqlResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return gqlResponse{}, fmt.Errorf("%w: %v", errTransport, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return gqlResponse{}, fmt.Errorf("%w: read body: %v", errTransport, err)
	}
	var out gqlResponse
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("not JSON: %v: %s", err, raw)
	}
	return out, nil
}

// killScenario is what TestRefreshSurvivesKilledReplica measures.
type killScenario struct {
	kind             string
	refreshes        int64 // successful refreshes, all chains
	afterLastRestart int64 // of which sent after the last restart
	perReplicaAfter  [2]int64
	kills            int
	transportRetries int64 // refreshes retried on the other replica
	otherErrors      int64 // answers neither a success nor UNAUTHENTICATED (retried)
	graceReplays     int   // "within the reuse grace window" log lines
	reuseDetected    int   // refresh_token_reused log lines
	lost             []string
	elapsed          time.Duration
}

const (
	killChains       = 32
	killCount        = 5
	killEvery        = 150 // successful refreshes between a restart and the next kill
	killAfterRestart = 3   // refreshes each chain must make after the last restart
	killUsername     = "kilroy"
)

// replica is one server process of the pair; restarts keep its port.
type replica struct {
	t     *testing.T
	env   []string
	addr  string
	procs []*proc // every process it ran, the last one current
}

func (r *replica) start() {
	r.t.Helper()
	addr := "127.0.0.1:0"
	if r.addr != "" {
		addr = r.addr
	}
	p := startProc(r.t, append(append([]string(nil), r.env...), "ADDR="+addr), "", "serve")
	line := p.waitLine(r.t, "ironclad listening", time.Minute)
	if got := listenAddr(r.t, line); r.addr == "" {
		r.addr = got
	} else if got != r.addr {
		r.t.Fatalf("restarted replica listens on %s, want %s", got, r.addr)
	}
	r.procs = append(r.procs, p)
}

// kill sends SIGKILL to the current process and waits for it to die.
func (r *replica) kill() error {
	p := r.procs[len(r.procs)-1]
	select {
	case <-p.done:
		return fmt.Errorf("replica %s exited by itself (%v)\nstderr:\n%s", r.addr, p.err, p.stderr)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("replica %s ended with %v, not by SIGKILL", r.addr, p.cmd.ProcessState)
	}
	return nil
}

// runKillScenario runs two replicas on one database and killChains refresh
// chains against them while one replica at a time is SIGKILLed and restarted
// killCount times. extraEnv is added to both replicas' environment.
func runKillScenario(t *testing.T, extraEnv ...string) killScenario {
	dsn, kind := sharedDatabase(t)
	env := append([]string{
		"JWT_SECRET=" + apptest.Secret,
		"DATABASE_URL=" + dsn,
		"DATA_DIR=" + t.TempDir(),
		"PLAYGROUND=false",
		"SHUTDOWN_DRAIN=0s",
		// A replica restarting under 32 writing chains may wait its turn
		// for SQLite's write lock at startup longer than the default 5s;
		// this test is about sessions, not about that bound.
		"DB_STATEMENT_TIMEOUT=30s",
		"REQUEST_TIMEOUT=30s",
	}, extraEnv...)
	res := killScenario{kind: kind}

	create := startProc(t, env, apptest.Password+"\n", "createuser", "--username", killUsername, "--password-stdin")
	if code := create.wait(t, time.Minute); code != 0 {
		t.Fatalf("createuser exit %d\nstdout:\n%s\nstderr:\n%s", code, create.stdout, create.stderr)
	}
	// One after the other: migrations run at start.
	reps := [2]*replica{{t: t, env: env}, {t: t, env: env}}
	for _, r := range reps {
		r.start()
	}
	urls := [2]string{"http://" + reps[0].addr, "http://" + reps[1].addr}

	// A failure guard only: every wait below is on a condition.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: killChains}}
	defer client.CloseIdleConnections()

	var (
		total, after, transport, other atomic.Int64
		perReplicaAfter                [2]atomic.Int64
		lostMu                         sync.Mutex
		kick                           = make(chan struct{}, 1) // a refresh succeeded
		restarted                      = make(chan struct{})    // the last restart is done
		chainsDone                     = make(chan struct{})
		wg                             sync.WaitGroup
	)
	lose := func(format string, args ...any) {
		lostMu.Lock()
		defer lostMu.Unlock()
		res.lost = append(res.lost, fmt.Sprintf(format, args...))
	}
	lostSoFar := func() []string {
		lostMu.Lock()
		defer lostMu.Unlock()
		return append([]string(nil), res.lost...)
	}
	start := time.Now()
	for i := range killChains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Log in, anywhere; a login that got no answer is simply redone.
			var token string
			for token == "" {
				if ctx.Err() != nil {
					lose("chain %d: no login before the guard: %v", i, ctx.Err())
					return
				}
				r, err := postGraphQL(ctx, client, urls[rand.IntN(2)], `mutation($u: String!, $p: String!) { login(username: $u, password: $p) { refreshToken } }`,
					map[string]any{"u": killUsername, "p": apptest.Password})
				if err != nil {
					continue
				}
				if code, reason := r.code(); code == "UNAUTHENTICATED" {
					lose("chain %d: login refused: %s %s", i, code, reason)
					return
				} else if code != "" {
					continue // TOO_MANY_REQUESTS from the hashing queue, an outage: try again
				}
				var p struct{ RefreshToken string }
				if err := json.Unmarshal(r.Data["login"], &p); err != nil || p.RefreshToken == "" {
					lose("chain %d: login answered %s", i, r.Data["login"])
					return
				}
				token = p.RefreshToken
			}
			done := 0
			for n := 0; done < killAfterRestart; n++ {
				post := false
				select {
				case <-restarted:
					post = true
				default:
				}
				at := rand.IntN(2)
				var next string
				for attempt := 0; next == ""; attempt++ {
					if ctx.Err() != nil || attempt == 100 {
						lose("chain %d, refresh %d: no answer after %d attempts: %v", i, n, attempt, ctx.Err())
						return
					}
					r, err := postGraphQL(ctx, client, urls[at], `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }`,
						map[string]any{"t": token})
					if errors.Is(err, errTransport) {
						// The replica died, perhaps after committing the
						// rotation: present the same token to the other one.
						transport.Add(1)
						at = 1 - at
						continue
					}
					if err != nil {
						other.Add(1)
						continue
					}
					if code, reason := r.code(); code == "UNAUTHENTICATED" {
						lose("chain %d, refresh %d (attempt %d, replica %d): %s %s", i, n, attempt, at, code, reason)
						return
					} else if code != "" {
						other.Add(1)
						continue
					}
					var p struct{ AccessToken, RefreshToken string }
					if err := json.Unmarshal(r.Data["refreshToken"], &p); err != nil || p.RefreshToken == "" || p.AccessToken == "" {
						lose("chain %d, refresh %d: answered %s", i, n, r.Data["refreshToken"])
						return
					}
					next = p.RefreshToken
				}
				token = next
				total.Add(1)
				if post {
					after.Add(1)
					perReplicaAfter[at].Add(1)
					done++
				}
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(chainsDone)
	}()
	// However the test ends, no chain outlives it.
	defer func() {
		cancel()
		<-chainsDone
	}()

	// The killer: progress-based, alternating replicas, each restarted on
	// its port (and listening again) before the next kill.
	for k := range killCount {
		target := total.Load() + killEvery
		for total.Load() < target {
			select {
			case <-kick:
			case <-chainsDone:
				t.Fatalf("every chain ended before kill %d (%d refreshes): %v", k+1, total.Load(), lostSoFar())
			case <-ctx.Done():
				t.Fatalf("kill %d: only %d of %d refreshes before the guard: %v", k+1, total.Load(), target, lostSoFar())
			}
		}
		r := reps[k%2]
		if err := r.kill(); err != nil {
			t.Fatalf("kill %d: %v", k+1, err)
		}
		res.kills++
		r.start()
	}
	close(restarted)
	<-chainsDone
	res.elapsed = time.Since(start)

	res.refreshes, res.afterLastRestart = total.Load(), after.Load()
	res.perReplicaAfter = [2]int64{perReplicaAfter[0].Load(), perReplicaAfter[1].Load()}
	res.transportRetries, res.otherErrors = transport.Load(), other.Load()
	for _, r := range reps {
		for _, p := range r.procs {
			res.graceReplays += p.stdout.count("within the reuse grace window")
			res.reuseDetected += p.stdout.count("refresh_token_reused")
		}
	}
	return res
}

// Two replicas share one database; one at a time is SIGKILLed while 32
// clients keep refreshing, each request sent to either replica. A refresh
// that got no answer is presented again, unchanged, to the other replica:
// the rotation may have committed before the kill, and with the default
// REFRESH_REUSE_GRACE (10s) that second presentation must get the same
// successor instead of ending the session.
func TestRefreshSurvivesKilledReplica(t *testing.T) {
	res := runKillScenario(t)
	t.Logf("%s: %d chains, %d refreshes (%d after the last restart) in %s; %d kills; %d refreshes retried on the other replica, %d answered within the grace window; %d other errors; %d reuse detections; %d lost sessions",
		res.kind, killChains, res.refreshes, res.afterLastRestart, res.elapsed.Round(time.Millisecond), res.kills,
		res.transportRetries, res.graceReplays, res.otherErrors, res.reuseDetected, len(res.lost))
	if len(res.lost) > 0 {
		t.Errorf("%d lost sessions:\n%s", len(res.lost), strings.Join(res.lost, "\n"))
	}
	if res.kills != killCount {
		t.Errorf("kills = %d, want %d", res.kills, killCount)
	}
	if want := int64(killChains * killAfterRestart); res.afterLastRestart != want {
		t.Errorf("refreshes after the last restart = %d, want %d (%d per chain)", res.afterLastRestart, want, killAfterRestart)
	}
	for i, n := range res.perReplicaAfter {
		if n == 0 {
			t.Errorf("replica %d served no refresh after the last restart", i)
		}
	}
	if min := int64(killCount * killEvery); res.refreshes < min {
		t.Errorf("refreshes = %d, want at least %d", res.refreshes, min)
	}
}
