package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// BenchmarkMeMetrics is BenchmarkMe/serial with the metrics off and on, in
// one run: two servers on two stores, served in turn, one request each per
// iteration, so that both see the same load from the rest of the machine.
// It reports the median time of a request on each and their difference in
// percent (target: under 3).
//
//	go test -run '^$' -bench MeMetrics -count 5 ./app
func BenchmarkMeMetrics(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			off := newBenchEnv(b, kind)
			on := newBenchEnv(b, kind, func(c *app.Config) { c.MetricsAddr = "127.0.0.1:0" })
			if off.App.Metrics != nil || on.App.Metrics == nil {
				b.Fatal("metrics not off and on as asked")
			}
			reqs := make([]replay, 2)
			for i, e := range []*apptest.Env{off, on} {
				p := benchLogin(e, "alice")
				body, _ := json.Marshal(map[string]any{"query": apptest.MeQuery})
				reqs[i] = replay{body: body, authz: apptest.Bearer(p.AccessToken)}
			}
			envs := []*apptest.Env{off, on}
			var spent [2][]time.Duration
			serve := func(i int) {
				req := reqs[i].request()
				rec := httptest.NewRecorder()
				start := time.Now()
				envs[i].Handler.ServeHTTP(rec, req)
				spent[i] = append(spent[i], time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				// Alternate which goes first: neither always finds the
				// caches the other just warmed.
				first := n & 1
				serve(first)
				serve(1 - first)
				n++
			}
			// Medians: on a shared machine a burst of other work lands on
			// a few requests of either side, and would move a mean.
			offNs, onNs := median(spent[0]), median(spent[1])
			b.ReportMetric(offNs, "off-ns/req")
			b.ReportMetric(onNs, "on-ns/req")
			b.ReportMetric(100*(onNs-offNs)/offNs, "overhead-%")
		})
	}
}

// median returns the median of ds in nanoseconds.
func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds())
}
