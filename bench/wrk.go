package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The throughput scenarios (the baseline and me) are driven by wrk: a C
// load generator with a small footprint, so that on a machine where the
// server and the generator share the cores, the figures measure the server
// rather than the client. The stateful scenarios (login, refresh chains,
// the mix, the flood) stay on the Go client in load.go.

// wrkThreads is wrk's -t: one thread per core of this machine.
const wrkThreads = 2

// wrkScript is the Lua script every wrk run uses: POST /query with a JSON
// body, and, when a token file is given, an Authorization header taken from
// a pool of seeded tokens (one request per token in turn, so 64 connections
// spread over 64 sessions). A response counts as an error unless it is HTTP
// 200 without a GraphQL "errors" member; done prints machine-readable lines.
//
// With WRK_INTERVAL_US set, each thread paces its requests to one every
// that many microseconds (a fixed offered rate, as wrk2 does): delay() keeps
// a per-thread schedule on the monotonic clock (LuaJIT's ffi) and holds each
// connection's next request until its slot. A server that falls behind
// shows as a lower achieved rate, not as a hidden queue in the client.
const wrkScript = `
local body = os.getenv("WRK_BODY")
local tokfile = os.getenv("WRK_TOKENS")
local interval = tonumber(os.getenv("WRK_INTERVAL_US") or "")
local threads = {}
local reqs, n, i = {}, 0, 0
errors = 0

if interval and interval > 0 then
  local ffi = require("ffi")
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } wrk_timespec;
    int clock_gettime(int clk, wrk_timespec *tp);
  ]]
  local ts = ffi.new("wrk_timespec")
  local function now_us()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
  end
  local nextslot = nil
  function delay()
    local t = now_us()
    if nextslot == nil then nextslot = t end
    nextslot = nextslot + interval
    local d = (nextslot - t) / 1e3
    if d < 0 then return 0 end
    return d
  end
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  if tokfile and tokfile ~= "" then
    for line in io.lines(tokfile) do
      if line ~= "" then
        headers["Authorization"] = "Bearer " .. line
        n = n + 1
        reqs[n] = wrk.format("POST", "/query", headers, body)
      end
    end
  else
    n = 1
    reqs[1] = wrk.format("POST", "/query", headers, body)
  end
  i = math.random(n) - 1
end

function request()
  i = (i % n) + 1
  return reqs[i]
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("errors") or 0)
  end
  local e = summary.errors
  io.write(string.format("WRK requests %d\n", summary.requests))
  io.write(string.format("WRK duration_us %d\n", summary.duration))
  io.write(string.format("WRK p50_us %d\n", latency:percentile(50)))
  io.write(string.format("WRK p99_us %d\n", latency:percentile(99)))
  io.write(string.format("WRK max_us %d\n", latency.max))
  io.write(string.format("WRK bad_responses %d\n", bad))
  io.write(string.format("WRK non2xx %d\n", e.status))
  io.write(string.format("WRK socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
end
`

// wrkResult is what one wrk run reports through the script's done.
type wrkResult struct {
	requests     int
	duration     time.Duration
	p50, p99     time.Duration
	bad          int // non-200 or a GraphQL error
	non2xx       int
	socketErrors int           // connect, read, write and timeout errors
	cpu          time.Duration // wrk's own CPU time, user and system
}

func (r wrkResult) errors() int { return r.bad + r.socketErrors }

func (r wrkResult) rps() float64 { return float64(r.requests) / r.duration.Seconds() }

// findWrk returns the path of wrk, installing Debian's package when it is
// missing and this process may (root with apt-get); otherwise an error
// saying how to get it.
func findWrk(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
		progress("wrk not found: installing Debian's wrk package")
		for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "wrk"}} {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return "", fmt.Errorf("apt-get %s: %w (install wrk by hand, or run with -gen go)", args[0], err)
			}
		}
		if p, err := exec.LookPath("wrk"); err == nil {
			return p, nil
		}
	}
	return "", errors.New("wrk is not installed: install it (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk), or run with -gen go to use the built-in Go client")
}

// runWrk drives POST /query at url with body for d over conns connections,
// with the tokens in tokenFile (one per line; none when empty), as fast as
// the server answers or, when rate > 0, at rate requests a second.
func runWrk(ctx context.Context, wrkBin, work, url string, body []byte, tokenFile string, conns int, d time.Duration, rate float64) (wrkResult, error) {
	script := filepath.Join(work, "query.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o600); err != nil {
		return wrkResult{}, err
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, wrkBin, "-t"+strconv.Itoa(wrkThreads), "-c"+strconv.Itoa(conns),
		"-d"+strconv.Itoa(secs)+"s", "--timeout", "10s", "--latency", "-s", script, url)
	cmd.Env = append(os.Environ(), "WRK_BODY="+string(body), "WRK_TOKENS="+tokenFile)
	if rate > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("WRK_INTERVAL_US=%.1f", wrkThreads*1e6/rate))
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	r, err := parseWrk(out.String())
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, err
}

// parseWrk reads the "WRK name value" lines of the script's done.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "WRK" {
			continue
		}
		v, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return r, fmt.Errorf("wrk output %q: %w", sc.Text(), err)
		}
		seen++
		switch f[1] {
		case "requests":
			r.requests = int(v)
		case "duration_us":
			r.duration = time.Duration(v) * time.Microsecond
		case "p50_us":
			r.p50 = time.Duration(v) * time.Microsecond
		case "p99_us":
			r.p99 = time.Duration(v) * time.Microsecond
		case "bad_responses":
			r.bad = int(v)
		case "non2xx":
			r.non2xx = int(v)
		case "socket_errors":
			r.socketErrors = int(v)
		default:
			seen--
		}
	}
	if seen < 7 || r.duration <= 0 {
		return r, fmt.Errorf("wrk printed no summary:\n%s", out)
	}
	return r, nil
}

// wrkRow turns a wrk result into a table row.
func wrkRow(scenario, db string, r wrkResult, rss int64) row {
	note := "wrk"
	if r.errors() > 0 {
		note = fmt.Sprintf("wrk: %d bad responses (%d non-2xx), %d socket errors", r.bad, r.non2xx, r.socketErrors)
	}
	return row{scenario: scenario, db: db, rps: r.rps(), p50: r.p50, p99: r.p99, n: r.requests, errs: r.errors(), rss: rss, note: note}
}
