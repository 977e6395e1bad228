// Command bench is Ironclad's load harness. It builds Ironclad, starts it on
// SQLite (a temporary DATA_DIR) and on Postgres (a fresh database it creates
// and drops), seeds users, drives load from this machine over loopback, and
// prints one table: requests per second, p50 and p99 latency, errors and the
// server's peak RSS per scenario, with ratios to a bare net/http handler
// answering POST /query with a fixed JSON body, measured in the same run.
// wrk drives the baseline and me (see wrk.go); a Go client drives the
// stateful scenarios (login, refresh chains, the mix, the login flood).
//
//	go run ./bench              # the full run, a few minutes
//	go run ./bench -quick       # CI-sized
//	go run ./bench -db sqlite   # one database only
//	go run ./bench -me-only -profile /tmp/prof   # baseline and me, with pprof profiles
//	go run ./bench -before ../main              # also me of another checkout, same run
//	go run ./bench -env IDENTITY_CACHE_TTL=0   # compare: no identity cache
//	go run ./bench -gen go      # the built-in Go client instead of wrk
//	go run ./bench -soak 1000   # 1,000 idle websockets while me runs (soak.go)
//
// Postgres comes from BENCH_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable): the harness
// creates a database ironclad_bench_<pid> beside it and drops it at the end.
// Every request goes to 127.0.0.1; every scenario is bounded in time or count.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config is the run's settings, from flags.
type config struct {
	quick       bool
	duration    time.Duration // per throughput scenario
	dbs         []string
	pgURL       string
	src         string // module root to build
	conns       int    // connections for me and the baseline
	flood       int    // concurrent logins in the flood
	loginCount  int    // logins at concurrency 1
	hashSamples int    // raw argon2id hashes timed
	serverEnv   []string
	gen         string          // "wrk" or "go": the generator of the baseline and me
	wrk         string          // wrk's path when gen is "wrk"
	work        string          // the run's temporary folder
	baseRPS     float64         // the baseline's requests a second, once measured
	pacedShare  float64         // share of the baseline's rate the paced runs offer
	only        map[string]bool // scenarios to run (see scenarioNames); nil = all
	profile     string          // folder for pprof profiles of the me scenario; "" = none
	before      string          // another checkout whose me is measured in the same run; "" = none
	scale       int             // users of the scale run (scale.go); 0 = the ordinary run
	rounds      int             // rounds of the scale run's scenarios
	keep        bool            // keep (and reuse) the scale run's seeded databases
	pinDB       bool            // with -scale: also measure the write floor and refresh chains with Postgres on a core of its own (pin.go)
}

// scenarioNames are the values -only takes, in the order a run measures them.
var scenarioNames = []string{"me", "login1", "login32", "refresh", "mix", "flood"}

// want reports whether the run measures scenario name.
func (c config) want(name string) bool { return c.only == nil || c.only[name] }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-serve-baseline" {
		serveBaseline(os.Getenv("ADDR"))
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "-serve-graphql-floor" {
		serveGraphQLFloor(os.Getenv("ADDR"))
		return
	}
	var cfg config
	var dbs string
	flag.BoolVar(&cfg.quick, "quick", false, "CI-sized run: short scenarios, fewer samples")
	flag.DurationVar(&cfg.duration, "d", 10*time.Second, "duration of each throughput scenario")
	flag.StringVar(&dbs, "db", "sqlite,postgres", "databases to run on: sqlite, postgres or both")
	flag.StringVar(&cfg.src, "src", ".", "Ironclad's module root (built with go build)")
	flag.IntVar(&cfg.conns, "c", 64, "connections for the me and baseline scenarios")
	flag.IntVar(&cfg.flood, "flood", 500, "concurrent logins in the flood scenario")
	meOnly := flag.Bool("me-only", false, "run only the hash timing, the baseline and me (-only me)")
	flag.StringVar(&cfg.profile, "profile", "", "save CPU and allocation profiles of the server under the me load into this folder (starts Ironclad with PPROF_ADDR)")
	flag.StringVar(&cfg.before, "before", "", "module root of another Ironclad checkout (e.g. a git worktree of main): its me is measured too, in the same run, as \"before\"")
	var only string
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run: "+strings.Join(scenarioNames, ", ")+" (default all)")
	flag.Float64Var(&cfg.pacedShare, "paced", meTargetShare, "share of the baseline's requests a second offered in the paced runs of the baseline and me (wrk)")
	flag.StringVar(&cfg.gen, "gen", "wrk", "load generator of the baseline and me scenarios: wrk, or go (the built-in client)")
	flag.Func("env", "KEY=VALUE added to the server's environment (repeatable), e.g. -env IDENTITY_CACHE_TTL=0", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		cfg.serverEnv = append(cfg.serverEnv, v)
		return nil
	})
	flag.IntVar(&cfg.scale, "scale", 0, "seed this many users (3 sessions and 10 refresh tokens each) and measure the scenarios of issue 16 against a 1,000-user database (scale.go)")
	flag.IntVar(&cfg.rounds, "rounds", 2, "with -scale: how many times each database's scenarios run")
	flag.BoolVar(&cfg.keep, "keep", false, "with -scale: keep the seeded databases and reuse them in the next run (skips seeding; the purge still runs)")
	flag.BoolVar(&cfg.pinDB, "pin-db", false, "with -scale on Postgres: also measure the refresh write floor and the refresh chains beside it with every Postgres process on CPU 0 and the harness and Ironclad on the others (pin.go; needs the server on this machine, and root)")
	flag.Parse()
	cfg.dbs = strings.Split(dbs, ",")
	if cfg.pacedShare <= 0 || cfg.pacedShare > 1 {
		fmt.Fprintf(os.Stderr, "bench: -paced %v: want a share above 0 and at most 1\n", cfg.pacedShare)
		os.Exit(2)
	}
	if *meOnly {
		only = "me"
	}
	if only != "" {
		cfg.only = map[string]bool{}
		for _, name := range strings.Split(only, ",") {
			if !slices.Contains(scenarioNames, name) {
				fmt.Fprintf(os.Stderr, "bench: -only %q: want some of %s\n", name, strings.Join(scenarioNames, ", "))
				os.Exit(2)
			}
			cfg.only[name] = true
		}
	}
	if cfg.gen != "wrk" && cfg.gen != "go" {
		fmt.Fprintf(os.Stderr, "bench: -gen %q: want wrk or go\n", cfg.gen)
		os.Exit(2)
	}
	cfg.loginCount, cfg.hashSamples = 120, 30
	if cfg.quick {
		cfg.duration, cfg.loginCount, cfg.hashSamples = 2*time.Second, 20, 8
	}
	cfg.pgURL = os.Getenv("BENCH_DATABASE_URL")
	if cfg.pgURL == "" {
		cfg.pgURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.scale > 0 {
		if err := runScale(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "ironclad-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg.work = work
	if cfg.gen == "wrk" {
		if cfg.wrk, err = findWrk(ctx); err != nil {
			return err
		}
	}

	bin, err := build(ctx, cfg.src, work)
	if err != nil {
		return err
	}
	if *soakSockets > 0 {
		return runSoak(ctx, cfg, bin) // soak.go
	}
	var rows []row

	progress("raw argon2id hash, %d samples", cfg.hashSamples)
	hash := rawHash(cfg.hashSamples)
	rows = append(rows, row{scenario: "argon2id hash (DefaultParams)", db: "-", p50: hash, note: "raw hash time, one at a time"})

	progress("baseline: bare net/http handler, %d connections (%s)", cfg.conns, cfg.gen)
	bases, err := runBaseline(ctx, cfg)
	if err != nil {
		return err
	}
	base := bases[0]
	rows = append(rows, bases...)
	cfg.baseRPS = base.rps
	if cfg.want("me") && cfg.gen == "wrk" {
		progress("GraphQL floor: Ironclad's GraphQL layer with a constant user, %d connections (wrk)", cfg.conns)
		floor, err := runGraphQLFloor(ctx, cfg)
		if err != nil {
			return err
		}
		rows = append(rows, floor...)
	}

	var binBefore string
	if cfg.before != "" {
		dir := filepath.Join(work, "before")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if binBefore, err = build(ctx, cfg.before, dir); err != nil {
			return fmt.Errorf("-before: %w", err)
		}
	}

	for _, db := range cfg.dbs {
		if binBefore != "" {
			// Right before the same scenario on this checkout, on a fresh
			// database of its own, with the same generator.
			bcfg := cfg
			bcfg.profile = ""
			srv, err := startDB(ctx, bcfg, binBefore, filepath.Join(work, "before"), db)
			if err != nil {
				return fmt.Errorf("-before: %w", err)
			}
			rs, err := meScenario(ctx, bcfg, srv)
			srv.stop()
			if err != nil {
				return fmt.Errorf("-before: %w", err)
			}
			for _, r := range rs {
				r.scenario += " (before)"
				rows = append(rows, r)
			}
		}
		srv, err := startDB(ctx, cfg, bin, work, db)
		if err != nil {
			return err
		}
		rs, err := scenarios(ctx, cfg, srv)
		srv.stop()
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	printTable(os.Stdout, cfg, rows, base.rps)
	return nil
}

// progress reports what runs now on stderr, so stdout holds only the table.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// newClient returns a keep-alive client allowing conns connections to the
// server.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}
