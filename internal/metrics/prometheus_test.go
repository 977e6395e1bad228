package metrics_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
)

// prometheusServer is Debian's Prometheus, started by a test.
type prometheusServer struct {
	url string
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startPrometheus runs /usr/bin/prometheus in a temporary folder, scraping
// target (host:port) every second, and stops it when the test ends.
func startPrometheus(t *testing.T, target string) *prometheusServer {
	t.Helper()
	bin := apptest.Binary(t, "/usr/bin/prometheus", "prometheus")
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ironclad
    scrape_interval: 1s
    scrape_timeout: 1s
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// A free port: taken, noted, and given back for Prometheus to take.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := &syncBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	return &prometheusServer{url: "http://" + addr, out: out}
}

// query runs an instant query and returns the value of its single sample,
// or ok false when it has none yet.
func (p *prometheusServer) query(q string) (v float64, ok bool, err error) {
	res, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false, err
	}
	defer res.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return 0, false, err
	}
	if body.Status != "success" {
		return 0, false, fmt.Errorf("query %s: %s", q, body.Error)
	}
	if len(body.Data.Result) != 1 {
		return 0, false, nil
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, err = strconv.ParseFloat(s, 64)
	return v, err == nil, err
}

// await polls Prometheus until every query answers its wanted value, or
// fails the test at the deadline with what it last saw.
func (p *prometheusServer) await(t *testing.T, want map[string]float64) {
	t.Helper()
	deadline := time.After(90 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		last := map[string]string{}
		done := true
		for q, w := range want {
			v, ok, err := p.query(q)
			switch {
			case err != nil:
				last[q] = err.Error()
				done = false
			case !ok || v != w:
				last[q] = fmt.Sprintf("%v (sample: %v)", v, ok)
				done = false
			}
		}
		if done {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("Prometheus never read the wanted values; last answers (want %v): %v\nprometheus output:\n%s", want, last, p.out.String())
		case <-tick.C:
		}
	}
}

// A real Prometheus scrapes METRICS_ADDR of a running server and reads back
// the logins and refreshes made through the real handler.
func TestPrometheusScrapesIronclad(t *testing.T) {
	e := apptest.Open(t, "sqlite", withMetrics)
	target := strings.TrimSuffix(strings.TrimPrefix(serveMetrics(t, e), "http://"), "/metrics")
	prom := startPrometheus(t, target)

	e.CreateUser("alice", apptest.Password, models.RoleUser)
	var refresh string
	for range 3 {
		refresh = e.Login("alice", apptest.Password).RefreshToken
	}
	for range 2 {
		apptest.WantError(t, login(e, "alice", "wrong password!"), "UNAUTHENTICATED", "invalid_credentials")
	}
	for range 2 {
		r := e.Refresh(refresh)
		apptest.MustOK(t, r)
		refresh = r.Payload(t, "refreshToken").RefreshToken
	}
	apptest.WantError(t, e.Refresh("not-a-token"), "UNAUTHENTICATED", "refresh_token_invalid")

	prom.await(t, map[string]float64{
		`up{job="ironclad"}`:                                              1,
		`ironclad_logins_total{outcome="ok"}`:                             3,
		`ironclad_logins_total{outcome="invalid_credentials"}`:            2,
		`ironclad_refreshes_total{outcome="ok"}`:                          2,
		`ironclad_refreshes_total{outcome="invalid"}`:                     1,
		`sum(ironclad_graphql_requests_total{operation_type="mutation"})`: 8,
	})
}
