// Package metrics is Ironclad's Prometheus instrumentation: the families it
// exports, on a registry of its own per application (never the global
// default one, so a process may hold several), and the Observers of auth
// and graph that count into them. app builds one when METRICS_ADDR is set
// and serves Handler on that address only, never on the public listener.
//
// Every label value comes from a fixed set defined in auth or graph, and
// each counter child is resolved once, here, so that counting an outcome on
// a request's path is one atomic increment: no label lookup, no allocation.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/store"
)

const namespace = "ironclad"

// Sources are the components whose state the metrics read at each scrape.
// Each may be nil, and its families are then left out.
type Sources struct {
	Store  *store.Store // database pool, identity cache, invalidation channels
	Hasher *auth.Hasher // the hashing pool
	Tokens *auth.Tokens // the cache of verified access tokens
}

// Metrics holds the families of one application. It implements
// auth.Observer and graph.Observer.
type Metrics struct {
	reg *prometheus.Registry

	logins    [auth.NumLoginOutcomes]prometheus.Counter
	refreshes [auth.NumRefreshOutcomes]prometheus.Counter
	ended     [auth.NumEndCauses]prometheus.Counter
	limitedU  prometheus.Counter
	limitedIP prometheus.Counter
	hash      prometheus.Histogram
	requests  [graph.NumOpTypes][graph.NumResults]prometheus.Counter
	durations [graph.NumOpTypes]prometheus.Observer
}

var (
	_ auth.Observer  = (*Metrics)(nil)
	_ graph.Observer = (*Metrics)(nil)
)

// New registers every family on a new registry and reads src at each scrape.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}

	logins := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "logins_total",
		Help: "Login attempts by outcome.",
	}, []string{"outcome"})
	for o := range auth.NumLoginOutcomes {
		m.logins[o] = logins.WithLabelValues(o.String())
	}
	refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "refreshes_total",
		Help: "Refresh-token presentations by outcome.",
	}, []string{"outcome"})
	for o := range auth.NumRefreshOutcomes {
		m.refreshes[o] = refreshes.WithLabelValues(o.String())
	}
	ended := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "sessions_ended_total",
		Help: "Live sessions ended, by cause.",
	}, []string{"cause"})
	for c := range auth.NumEndCauses {
		m.ended[c] = ended.WithLabelValues(c.String())
	}
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "rate_limited_total",
		Help: "Attempts refused by a rate limiter, by limiter.",
	}, []string{"limiter"})
	m.limitedU = limited.WithLabelValues(auth.LimiterUser)
	m.limitedIP = limited.WithLabelValues(auth.LimiterIP)
	m.hash = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "password_hash_duration_seconds",
		Help: "Time of one argon2id computation (hash or verification), without the wait for a slot.",
		// About 40 ms at OWASP's parameters; the tail shows an overloaded CPU.
		Buckets: []float64{.005, .01, .02, .04, .08, .16, .32, .64, 1.28, 2.56},
	})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "graphql_requests_total",
		Help: "GraphQL requests answered, by operation type and result (ok, or the code of the first error).",
	}, []string{"operation_type", "result"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "graphql_request_duration_seconds",
		Help:    "Time to answer a GraphQL request, by operation type.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"operation_type"})
	for op := range graph.NumOpTypes {
		for r := range graph.NumResults {
			m.requests[op][r] = requests.WithLabelValues(op.String(), r.String())
		}
		m.durations[op] = durations.WithLabelValues(op.String())
	}
	reg.MustRegister(logins, refreshes, ended, limited, m.hash, requests, durations,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if h := src.Hasher; h != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: namespace, Name: "password_hash_waiting",
				Help: "Callers waiting for a slot of the hashing pool.",
			}, func() float64 { w, _ := h.Stats(); return float64(w) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: namespace, Name: "password_hash_active",
				Help: "argon2id computations running now.",
			}, func() float64 { _, a := h.Stats(); return float64(a) }))
	}
	if t := src.Tokens; t != nil {
		registerCache(reg, "token", t.CacheStats)
	}
	if st := src.Store; st != nil {
		registerCache(reg, "identity", st.IdentityCacheStats)
		reg.MustRegister(collectors.NewDBStatsCollector(st.SQLDB(), namespace), channelCollector{st})
	}
	return m
}

// registerCache exports the hits and misses of one cache, read from stats.
func registerCache(reg *prometheus.Registry, cache string, stats func() (hits, misses uint64)) {
	labels := prometheus.Labels{"cache": cache}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_hits_total", ConstLabels: labels,
			Help: "Lookups answered by a cache (identity: users and sessions; token: verified access tokens).",
		}, func() float64 { h, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_misses_total", ConstLabels: labels,
			Help: "Lookups a cache could not answer (identity: users and sessions; token: verified access tokens).",
		}, func() float64 { _, m := stats(); return float64(m) }))
}

// channelCollector exports the state of the identity invalidation channels
// (Postgres LISTEN/NOTIFY, Redis pub/sub) of a store.
type channelCollector struct{ st *store.Store }

var (
	channelUpDesc = prometheus.NewDesc(namespace+"_invalidation_channel_up",
		"Whether an identity invalidation channel is connected (1) or not (0).", []string{"source"}, nil)
	channelReconnectsDesc = prometheus.NewDesc(namespace+"_invalidation_channel_reconnects_total",
		"Reconnections of an identity invalidation channel after its first connection.", []string{"source"}, nil)
)

func (c channelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- channelUpDesc
	ch <- channelReconnectsDesc
}

func (c channelCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.st.ChannelStates() {
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(channelUpDesc, prometheus.GaugeValue, up, s.Source)
		ch <- prometheus.MustNewConstMetric(channelReconnectsDesc, prometheus.CounterValue, float64(s.Reconnects), s.Source)
	}
}

// RegisterMailOutbox exports the mail outbox: depth is read at each scrape
// (messages waiting to be sent), failures counts the sends that failed
// for good. The mail sender calls it once, when it starts.
func (m *Metrics) RegisterMailOutbox(depth func() int, failures func() uint64) error {
	if err := m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "mail_outbox_depth",
		Help: "Messages waiting in the mail outbox.",
	}, func() float64 { return float64(depth()) })); err != nil {
		return err
	}
	return m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: namespace, Name: "mail_failures_total",
		Help: "Mail messages whose sending failed for good.",
	}, func() float64 { return float64(failures()) }))
}

// Registry returns the registry of m, for collectors added by other parts
// of the application.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the text exposition of m's registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	})
}

// Login counts a login attempt (auth.Observer).
func (m *Metrics) Login(o auth.LoginOutcome) {
	if o < auth.NumLoginOutcomes {
		m.logins[o].Inc()
	}
}

// Refresh counts a refresh (auth.Observer).
func (m *Metrics) Refresh(o auth.RefreshOutcome) {
	if o < auth.NumRefreshOutcomes {
		m.refreshes[o].Inc()
	}
}

// SessionsEnded counts ended sessions (auth.Observer).
func (m *Metrics) SessionsEnded(c auth.EndCause, n int) {
	if c < auth.NumEndCauses && n > 0 {
		m.ended[c].Add(float64(n))
	}
}

// RateLimited counts a refused attempt (auth.Observer).
func (m *Metrics) RateLimited(limiter string) {
	switch limiter {
	case auth.LimiterUser:
		m.limitedU.Inc()
	case auth.LimiterIP:
		m.limitedIP.Inc()
	}
}

// Hashed records an argon2id computation's duration (auth.Observer).
func (m *Metrics) Hashed(d time.Duration) { m.hash.Observe(d.Seconds()) }

// Operation counts a GraphQL request and records its duration
// (graph.Observer).
func (m *Metrics) Operation(op graph.OpType, r graph.Result, d time.Duration) {
	if op >= graph.NumOpTypes || r >= graph.NumResults {
		return
	}
	m.requests[op][r].Inc()
	m.durations[op].Observe(d.Seconds())
}

// RegisterAuditDropped exports the audit events the asynchronous writer's
// full buffer refused (failed logins and rate-limit hits under a flood).
func (m *Metrics) RegisterAuditDropped(dropped func() uint64) error {
	return m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: namespace, Name: "audit_events_dropped_total",
		Help: "Audit events the asynchronous writer dropped because its buffer was full.",
	}, func() float64 { return float64(dropped()) }))
}
