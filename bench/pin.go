package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

// With -pin-db, the write floors and the refresh chains beside them run a
// second time with the database on a core of its own: every Postgres
// process on the first CPU, this harness (the load generator and the floor's
// pgx client) and the Ironclad it starts on the others. On a machine where
// all three share two cores, the chains' ratio to the floor measures whose
// CPU the database gets as much as how close Ironclad comes to what the
// database allows; pinned, both sides face the same database on the same
// core, as with Postgres on its own host. It needs the Postgres server on
// this machine and the right to set its affinity (root, or its user).

// pinning is the state of a -pin-db run: what to restore afterwards.
type pinning struct {
	postmaster int
	all        string // the CPU list to restore, e.g. "0-1"
}

// pinDatabase pins Postgres (the postmaster and every process it started,
// and through inheritance every backend it starts later) to CPU 0, and this
// process to the rest. Undo with unpin.
func pinDatabase(ctx context.Context, dsn string) (*pinning, error) {
	n := runtime.NumCPU()
	if n < 2 {
		return nil, fmt.Errorf("-pin-db needs at least 2 CPUs, this machine has %d", n)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	var dir string
	err = conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir)
	_ = conn.Close(ctx)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return nil, fmt.Errorf("-pin-db: the Postgres server must run on this machine: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("-pin-db: postmaster.pid: %w", err)
	}
	p := &pinning{postmaster: pid, all: fmt.Sprintf("0-%d", n-1)}
	if err := p.setDatabase(ctx, "0"); err != nil {
		return nil, err
	}
	if err := taskset(ctx, fmt.Sprintf("1-%d", n-1), os.Getpid()); err != nil {
		_ = p.setDatabase(ctx, p.all)
		return nil, err
	}
	progress("pinned: Postgres (postmaster %d and its processes) on CPU 0, the harness and Ironclad on CPU 1-%d", pid, n-1)
	return p, nil
}

// unpin gives the database and this process every CPU again.
func (p *pinning) unpin() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.setDatabase(ctx, p.all); err != nil {
		progress("unpin Postgres: %v", err)
	}
	if err := taskset(ctx, p.all, os.Getpid()); err != nil {
		progress("unpin the harness: %v", err)
	}
}

// setDatabase sets the affinity of the postmaster and of each process whose
// parent it is.
func (p *pinning) setDatabase(ctx context.Context, cpus string) error {
	pids := []int{p.postmaster}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // ended meanwhile
		}
		f, err := parseStat(stat)
		if err == nil && f[1] == strconv.Itoa(p.postmaster) { // field 4: ppid
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		if err := taskset(ctx, cpus, pid); err != nil && pid == p.postmaster {
			return err
		}
	}
	return nil
}

// taskset sets the CPU affinity of every thread of pid.
func taskset(ctx context.Context, cpus string, pid int) error {
	out, err := exec.CommandContext(ctx, "taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -p -c %s %d: %v: %s", cpus, pid, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pinnedFloors measures, with the database pinned (pinDatabase), the
// refresh write floor and Ironclad's refresh chains on each database, in
// alternation for cfg.rounds rounds, and prints each round's ratio.
func pinnedFloors(ctx context.Context, cfg config, bin string, dbs []*scaleDB) error {
	p, err := pinDatabase(ctx, dbs[0].dsn)
	if err != nil {
		return err
	}
	defer p.unpin()
	w := os.Stdout
	fmt.Fprintf(w, "\nwrite floor and refresh chains with the database on a core of its own (-pin-db: Postgres on CPU 0, the harness and Ironclad on CPU 1-%d)\n\n", runtime.NumCPU()-1)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintf(tw, "| users\t round\t floor refresh tx/s c=32\t floor p99\t floor on %d connections\t refresh chains req/s c=32\t chains p99\t chains / floor (the higher)\t errors (floors + chains)\t\n", poolConns())
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	users := floorUsers()
	for _, db := range dbs {
		for round := range cfg.rounds {
			progress("postgres-%d, pinned, round %d: refresh write floor, 32 chains, %s", db.n, round+1, cfg.duration)
			rf, rfPool, err := refreshFloors(ctx, db.dsn, users, cfg.duration)
			if err != nil {
				return err
			}
			progress("postgres-%d, pinned, round %d: refresh chains c=32", db.n, round+1)
			ch, err := refreshChains(ctx, cfg, bin, db, 32)
			if err != nil {
				return err
			}
			fmt.Fprintf(tw, "| %d\t %d\t %.0f\t %s\t %.0f\t %.0f\t %s\t %.0f%%\t %d + %d\t\n", db.n, round+1, rf.rps(), ms(rf.pct(0.99)), rfPool.rps(),
				ch.rps(), ms(ch.pct(0.99)), 100*ch.rps()/max(rf.rps(), rfPool.rps()), rf.errors()+rfPool.errors(), ch.errors())
		}
	}
	return tw.Flush()
}

// refreshChains starts Ironclad on db, logs in workers users (100 on) and
// runs their refresh chains for cfg.duration, as the scale scenarios do.
func refreshChains(ctx context.Context, cfg config, bin string, db *scaleDB, workers int) (*stats, error) {
	srv, err := startScale(ctx, cfg, bin, db)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c := &client{url: srv.url, http: newClient(workers)}
	if c.sessions, err = scaleSessions(ctx, c, workers); err != nil {
		return nil, err
	}
	load(ctx, workers, time.Second, 0, func(ctx context.Context, w int) outcome { return c.refresh(ctx, w) }) // warm up
	return load(ctx, workers, cfg.duration, 0, func(ctx context.Context, w int) outcome { return c.refresh(ctx, w) }), nil
}
