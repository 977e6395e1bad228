package main

// The soak scenario (-soak N): N idle authenticated websockets, each
// subscribed to sessionEvents, held open while me runs. It reports the
// server's memory per socket (RSS and Go heap in use, before and after
// opening them) and me's throughput with the sockets open against me
// without them, measured before and after in the same run on the same
// server.
//
//	go run ./bench -soak 1000 -db sqlite,postgres

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
)

var soakSockets = flag.Int("soak", 0, "run only the soak scenario: this many idle authenticated websockets (sessionEvents) held open while me runs")

// runSoak is the -soak run on every database of cfg.
func runSoak(ctx context.Context, cfg config, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	pprofAddr := "127.0.0.1:" + strconv.Itoa(port)
	// Tokens must outlive the run; the sockets of one user stay under
	// WS_MAX_PER_USER.
	perUser := (*soakSockets + seededUsers - 1) / seededUsers
	cfg.serverEnv = append(cfg.serverEnv, "ACCESS_TOKEN_TTL=1h", "PPROF_ADDR="+pprofAddr,
		"WS_MAX_PER_USER="+strconv.Itoa(max(perUser, 20)))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "scenario\tdb\treq/s\tp50\tp99\terrors\tratio\t\n")
	var mem []string
	for _, db := range cfg.dbs {
		srv, err := startDB(ctx, cfg, bin, cfg.work, db)
		if err != nil {
			return err
		}
		srv.pprof = "http://" + pprofAddr
		rows, note, err := soakOne(ctx, cfg, srv)
		srv.stop()
		if err != nil {
			return err
		}
		base := (rows[0].rps + rows[2].rps) / 2
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%.0f\t%s\t%s\t%d\t%.2f\t\n", r.scenario, db, r.rps, ms(r.p50), ms(r.p99), r.errs, r.rps/base)
		}
		mem = append(mem, db+": "+note)
	}
	w.Flush()
	fmt.Println()
	for _, m := range mem {
		fmt.Println(m)
	}
	fmt.Println("ratio: me's requests a second over the mean of the two runs without sockets")
	return nil
}

// soakOne runs me without sockets, opens the sockets, runs me again, closes
// them and runs me a third time, on one server.
func soakOne(ctx context.Context, cfg config, srv *server) ([]row, string, error) {
	c, err := newBenchClient(ctx, cfg, srv)
	if err != nil {
		return nil, "", err
	}
	me := func(name string) row {
		progress("%s: %s, %d connections, %s (go)", srv.db, name, cfg.conns, cfg.duration)
		s := load(ctx, cfg.conns, cfg.duration, 0, func(ctx context.Context, w int) outcome { return c.me(ctx, w) })
		r := rowOf(name, srv.db, s, 0)
		return r
	}
	var rows []row
	rows = append(rows, me(fmt.Sprintf("me c=%d, no sockets", cfg.conns)))

	rss0, heap0, err := serverMemory(ctx, srv)
	if err != nil {
		return nil, "", err
	}
	n := *soakSockets
	progress("%s: opening %d websockets", srv.db, n)
	socks, err := openSockets(ctx, srv, c, n)
	defer socks.close()
	if err != nil {
		return nil, "", err
	}
	rss1, heap1, err := serverMemory(ctx, srv)
	if err != nil {
		return nil, "", err
	}
	rows = append(rows, me(fmt.Sprintf("me c=%d, %d idle sockets", cfg.conns, n)))
	if lost := socks.lost.Load(); lost > 0 {
		return nil, "", fmt.Errorf("%s: %d of %d sockets closed during the run", srv.db, lost, n)
	}
	socks.close()
	rows = append(rows, me(fmt.Sprintf("me c=%d, sockets closed", cfg.conns)))
	note := fmt.Sprintf("%d sockets: RSS %+.1f MiB (%.1f KiB a socket), Go heap in use %+.1f MiB (%.1f KiB a socket)",
		n, mib(rss1-rss0), kib(rss1-rss0)/float64(n), mib(heap1-heap0), kib(heap1-heap0)/float64(n))
	return rows, note, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
func kib(b int64) float64 { return float64(b) / (1 << 10) }

// sockets are the soak's open websockets.
type sockets struct {
	conns  []*websocket.Conn
	lost   atomic.Int64 // closed by the server
	closed atomic.Bool
	wg     sync.WaitGroup
}

func (s *sockets) close() {
	if s.closed.Swap(true) {
		return
	}
	for _, c := range s.conns {
		_ = c.Close(websocket.StatusNormalClosure, "")
	}
	s.wg.Wait()
}

// openSockets opens n websockets, each authenticated with one of c's
// access tokens and subscribed to sessionEvents, answering pings.
func openSockets(ctx context.Context, srv *server, c *client, n int) (*sockets, error) {
	s := &sockets{}
	u := "ws" + strings.TrimPrefix(srv.url, "http") + "/query"
	for i := range n {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			cancel()
			return s, fmt.Errorf("socket %d: %w", i, err)
		}
		s.conns = append(s.conns, conn)
		init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + c.sessions[i%len(c.sessions)].access}})
		sub, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": "subscription { sessionEvents { type } }"}})
		if err := conn.Write(dctx, websocket.MessageText, init); err != nil {
			cancel()
			return s, fmt.Errorf("socket %d: %w", i, err)
		}
		_, ack, err := conn.Read(dctx)
		if err != nil || !strings.Contains(string(ack), "connection_ack") {
			cancel()
			return s, fmt.Errorf("socket %d: no connection_ack: %s %v", i, ack, err)
		}
		if err := conn.Write(dctx, websocket.MessageText, sub); err != nil {
			cancel()
			return s, fmt.Errorf("socket %d: %w", i, err)
		}
		cancel()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				_, msg, err := conn.Read(context.Background())
				if err != nil {
					if !s.closed.Load() {
						s.lost.Add(1)
					}
					return
				}
				if strings.Contains(string(msg), `"ping"`) {
					_ = conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
				}
			}
		}()
	}
	return s, nil
}

// serverMemory returns the server's resident set (VmRSS) and the Go heap
// in use after a collection (from its profiler).
func serverMemory(ctx context.Context, srv *server) (rss, heap int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.pprof+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
			heap, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, 0, err
			}
		}
	}
	if heap == 0 {
		return 0, 0, errors.New("no HeapInuse in the heap profile")
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, heap, err
		}
	}
	return 0, 0, errors.New("no VmRSS in /proc status")
}
