package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable writes the results as a Markdown table, then the targets of
// issue 6 checked against them.
func printTable(w io.Writer, cfg config, rows []row, baseRPS float64) {
	gen := "wrk -t2 for the baseline and me, the Go client for the rest"
	if cfg.gen == "go" {
		gen = "the Go client for every scenario"
	}
	fmt.Fprintf(w, "\nIronclad load run: %s, GOMAXPROCS %d, %s per scenario, load generator on the same machine over loopback (%s)\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOMAXPROCS(0), cfg.duration, gen)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| scenario\t db\t req/s\t × baseline\t p50\t p99\t requests\t errors\t peak RSS\t note\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	for _, r := range rows {
		rps, ratio, n, errs, rss := "", "", "", "", ""
		if r.rps > 0 {
			rps = fmt.Sprintf("%.0f", r.rps)
			ratio = fmt.Sprintf("%.1f%%", 100*r.rps/baseRPS)
			n = fmt.Sprint(r.n)
			errs = fmt.Sprint(r.errs)
		}
		if r.rss > 0 {
			rss = fmt.Sprintf("%.0f MiB", float64(r.rss)/(1<<20))
		}
		p99 := ""
		if r.p99 > 0 {
			p99 = ms(r.p99)
		}
		fmt.Fprintf(tw, "| %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t\n", r.scenario, r.db, rps, ratio, ms(r.p50), p99, n, errs, rss, r.note)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nTargets:")
	check := func(ok bool, format string, args ...any) {
		mark := "PASS"
		if !ok {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %s\n", mark, fmt.Sprintf(format, args...))
	}
	var pacedBaseP99 time.Duration
	for _, r := range rows {
		if strings.HasPrefix(r.scenario, "baseline") && r.offered > 0 {
			pacedBaseP99 = r.p99
		}
	}
	for _, r := range rows {
		switch {
		case strings.HasSuffix(r.scenario, "(before)"):
			continue // for comparison only
		case strings.HasPrefix(r.scenario, "me c=") && r.offered > 0:
			// The latency target: at 30 % of the baseline's rate, with the
			// rate actually served (1 % slack for wrk's pacing).
			check(r.rps >= 0.99*r.offered, "%s: me served %.1f%% of the baseline's rate as offered (%.1f%%)", r.db, 100*r.rps/baseRPS, 100*r.offered/baseRPS)
			check(r.p99 < 20*time.Millisecond, "%s: me p99 %s at %.0f%% of the baseline's rate (< 20 ms; the baseline's own at that share: %s)", r.db, ms(r.p99), 100*r.offered/baseRPS, ms(pacedBaseP99))
			check(r.rss < 100<<20, "%s: me peak RSS %.0f MiB at that rate (< 100 MiB)", r.db, float64(r.rss)/(1<<20))
		case strings.HasPrefix(r.scenario, "me c="):
			check(r.rps >= meTargetShare*baseRPS, "%s: me at %.1f%% of the baseline (≥ 30%%)", r.db, 100*r.rps/baseRPS)
			fmt.Fprintf(w, "  info  %s: me p99 %s at saturation (all %d connections as fast as answered)\n", r.db, ms(r.p99), cfg.conns)
			check(r.rss < 100<<20, "%s: me peak RSS %.0f MiB (< 100 MiB)", r.db, float64(r.rss)/(1<<20))
		case r.scenario == "login c=1":
			check(float64(r.p50) <= 1.15*float64(r.hashP50), "%s: login p50 %.2f × the raw hash p50 timed between the logins (≤ 1.15); mean %.2f ×", r.db,
				float64(r.p50)/float64(r.hashP50), float64(r.mean)/float64(r.hashMean))
		case strings.HasPrefix(r.scenario, "flood: ") && strings.Contains(r.scenario, "logins"):
			check(r.rss < 300<<20, "%s: flood peak RSS %.0f MiB (< 300 MiB)", r.db, float64(r.rss)/(1<<20))
			check(r.st.counts[status5] == 0 && r.errs == 0, "%s: flood answered only ok or TOO_MANY_REQUESTS (%s)", r.db, r.note)
		case strings.HasPrefix(r.scenario, "flood: me"):
			check(r.errs == 0 && r.n > 0, "%s: me kept serving during the flood (%s)", r.db, r.note)
		}
		if r.n > 0 && !strings.HasPrefix(r.scenario, "flood") && !strings.HasPrefix(r.scenario, "login c=32") {
			check(r.errs == 0, "%s %s: zero errors (%d)", r.db, r.scenario, r.errs)
		}
		if r.scenario == "login c=32" {
			check(r.errs == 0, "%s %s: zero errors (%d, of which %d TOO_MANY_REQUESTS)", r.db, r.scenario, r.errs, r.st.counts[busy])
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
