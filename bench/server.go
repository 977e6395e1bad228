package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// benchSecret signs the harness's tokens; it is used nowhere else.
const benchSecret = "bench-secret-0123456789abcdefghijklmnop"

// benchPassword is every seeded user's password.
const benchPassword = "correct horse battery staple"

// seededUsers is how many accounts each database gets: bench000...
const seededUsers = 64

// build compiles Ironclad into dir.
func build(ctx context.Context, src, dir string) (string, error) {
	bin := filepath.Join(dir, "ironclad")
	progress("building Ironclad from %s", src)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}

// server is a running process under test.
type server struct {
	db    string
	url   string // http://127.0.0.1:port
	cmd   *exec.Cmd
	done  chan struct{}
	drop  func() // removes what startDB created
	pprof string // http://127.0.0.1:port of the profiler, when on
}

// startDB seeds a fresh database of kind db and starts Ironclad on it.
func startDB(ctx context.Context, cfg config, bin, work, db string) (*server, error) {
	var dsn string
	drop := func() {}
	switch db {
	case "sqlite":
		dir := filepath.Join(work, "sqlite")
		dsn = filepath.Join(dir, "ironclad.db")
	case "postgres":
		var err error
		if dsn, drop, err = createPostgres(ctx, cfg.pgURL); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown database %q (want sqlite or postgres)", db)
	}
	env := append([]string{
		"DATABASE_URL=" + dsn,
		"DATA_DIR=" + filepath.Join(work, db),
		"JWT_SECRET=" + benchSecret,
		"PURGE_INTERVAL=0",
		"LOG_LEVEL=info", // the access log line stays on, as in production
		"PLAYGROUND=false",
	}, cfg.serverEnv...)
	pprofURL := ""
	if cfg.profile != "" {
		port, err := freePort()
		if err != nil {
			drop()
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		env, pprofURL = append(env, "PPROF_ADDR="+addr), "http://"+addr
	}
	progress("%s: seeding %d users", db, seededUsers)
	if err := seed(ctx, dsn); err != nil {
		drop()
		return nil, fmt.Errorf("seed %s: %w", db, err)
	}
	s, err := start(ctx, bin, db, env)
	if err != nil {
		drop()
		return nil, err
	}
	s.drop, s.pprof = drop, pprofURL
	return s, nil
}

// createPostgres creates database ironclad_bench_<pid> next to base and
// returns its DSN and a function dropping it.
func createPostgres(ctx context.Context, base string) (string, func(), error) {
	admin, err := store.Open(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("BENCH_DATABASE_URL: %w", err)
	}
	name := fmt.Sprintf("ironclad_bench_%d", os.Getpid())
	if err := admin.DB().WithContext(ctx).Exec("DROP DATABASE IF EXISTS " + name).Error; err != nil {
		admin.Close()
		return "", nil, err
	}
	if err := admin.DB().WithContext(ctx).Exec("CREATE DATABASE " + name).Error; err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		defer admin.Close()
		if err := admin.DB().Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error; err != nil {
			progress("drop database %s: %v", name, err)
		}
	}
	return replaceDBName(base, name), drop, nil
}

// seed migrates dsn and creates seededUsers active accounts sharing one
// argon2id hash (made once: seeding should not take minutes).
func seed(ctx context.Context, dsn string) error {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	hash, err := auth.NewHasher(auth.DefaultParams, 1, time.Minute).Hash(ctx, benchPassword)
	if err != nil {
		return err
	}
	for i := range seededUsers {
		u := &models.User{Username: username(i), PasswordHash: hash}
		if err := st.CreateUser(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

func username(i int) string { return fmt.Sprintf("bench%03d", i%seededUsers) }

// start runs the program bin (with args after "--") on a free loopback
// port and waits until it answers /healthz.
func start(ctx context.Context, bin, name string, env []string, args ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), append(env, "ADDR="+addr)...)
	// Logs go to /dev/null: the server still formats and writes every line.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = devnull, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{db: name, url: "http://" + addr, cmd: cmd, done: make(chan struct{}), drop: func() {}}
	go func() { _ = cmd.Wait(); close(s.done) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s server exited: %s", name, strings.TrimSpace(stderr.String()))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s server did not become healthy", name)
		}
	}
}

// stop ends the server with SIGTERM (SIGKILL after 10 s) and drops its
// database.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.drop()
}

// saveProfile fetches path from the server's profiler into file.
func (s *server) saveProfile(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.pprof+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// resetPeakRSS restarts the kernel's peak-RSS counter (VmHWM) of the
// server, so each scenario reports its own peak. It reports whether that
// worked; if not, the peak is the process's lifetime peak.
func (s *server) resetPeakRSS() bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0) == nil
}

// peakRSS reads the server's VmHWM in bytes.
func (s *server) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// cpuTime reads the CPU time the server has used so far, user and system
// (fields 14 and 15 of /proc/<pid>/stat, in the kernel's 100 Hz ticks).
func (s *server) cpuTime() (time.Duration, error) {
	f, err := s.statFields()
	if err != nil {
		return 0, err
	}
	var ticks int64
	for _, v := range f[11:13] { // utime, stime
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// statFields returns the fields of /proc/<pid>/stat from the third on
// (parseStat).
func (s *server) statFields() ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return nil, err
	}
	return parseStat(b)
}

// parseStat splits a /proc/<pid>/stat line into its fields after the
// command name, so that f[0] is field 3 (state), f[7] field 10 (minflt) and
// f[11], f[12] fields 14 and 15 (utime, stime). The name, in parentheses,
// may itself hold spaces and parentheses: the fields start after the last
// ')'.
func parseStat(b []byte) ([]string, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return nil, errors.New("short /proc stat")
	}
	return f, nil
}

// minorFaults reads the server's count of minor page faults (the tenth
// field of /proc/<pid>/stat): each is a page the kernel had to map, e.g.
// memory the Go runtime returned to the OS and touched again.
func (s *server) minorFaults() (int64, error) {
	f, err := s.statFields()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(f[7], 10, 64) // minflt: field 10 overall
}

// serveGraphQLFloor is Ironclad's GraphQL layer alone, run as a separate
// process like the baseline: the same schema, handler and extensions
// (graph.NewHandler), with every request carrying one constant, active user
// — no token check, no identity cache, no database, no access log. Its me
// is the most an authenticated me could reach on this GraphQL stack.
func serveGraphQLFloor(addr string) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	viewer := auth.Viewer{
		User:      &models.User{ID: "7f9c2ba4-e88f-4b1a-9f4e-0c1d2e3f4a5b", Username: "bench000", Role: models.RoleUser, Active: true, CreatedAt: created},
		SessionID: "00000000-0000-4000-8000-000000000000",
		Scopes:    models.RoleScopes(models.RoleUser),
	}
	gql := graph.NewHandler(&graph.Resolver{Log: slog.New(slog.DiscardHandler)}, graph.Options{})
	serveQuery(addr, "graphql floor", func(w http.ResponseWriter, r *http.Request) {
		gql.ServeHTTP(w, r.WithContext(auth.WithViewer(r.Context(), viewer)))
	})
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// serveBaseline is the round-trip baseline, run as a separate process like
// Ironclad: a bare handler answering POST /query with a fixed JSON body.
func serveBaseline(addr string) {
	body := []byte(`{"data":{"me":{"id":"7f9c2ba4-e88f-4b1a-9f4e-0c1d2e3f4a5b","username":"bench000","email":null,"role":"USER","createdAt":"2026-01-02T03:04:05Z","lastLoginAt":null}}}`)
	serveQuery(addr, "baseline", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// serveQuery serves query at POST /query and a health check at GET
// /healthz on addr until the process is stopped: the shape of the
// reference processes the harness starts from its own binary.
func serveQuery(addr, name string, query http.HandlerFunc) {
	mux := http.NewServeMux()
	mux.Handle("POST /query", query)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
