// Package metrics is the app's Prometheus side: the series it exports and
// the loopback-only listener that serves them on /metrics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipway-dev/slipway/internal/version"
)

// namespace prefixes every series the app defines itself.
const namespace = "slipway"

// Unmatched is the route label of a request no route matched (a 404 or a
// 405) or one refused before routing (a cross-origin post): the raw path
// would give every scanner's probe its own series.
const Unmatched = "unmatched"

// Metrics holds the app's registry and the series it updates.
// Its own registry, not the global default: nothing a dependency registers
// behind our back ends up on /metrics, and tests can build several.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	migApplied prometheus.Gauge
	migSeconds prometheus.Gauge
}

// New returns the metrics of one process: build info, the Go runtime and
// the process, and the HTTP and migration series (zero until used).
func New(v version.Info) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route (the mux pattern) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time from the request reaching the app to its handler returning, by route and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		migApplied: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "startup_migrations_applied",
			Help: "Migration files this process applied at startup (0: none pending, or another instance applied them).",
		}),
		migSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "startup_migration_duration_seconds",
			Help: "How long this process's startup migration took, lock wait included.",
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels are the running binary's build stamp.",
		ConstLabels: prometheus.Labels{"version": v.Version, "commit": v.Commit, "goversion": v.GoVersion},
	})
	build.Set(1)
	m.reg.MustRegister(m.requests, m.duration, m.inFlight, m.migApplied, m.migSeconds, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchPool exports pool's statistics, read at each scrape.
func (m *Metrics) WatchPool(pool *pgxpool.Pool) {
	m.reg.MustRegister(newPoolCollector(pool))
}

// Migrated records the startup migration: files applied and time taken.
func (m *Metrics) Migrated(applied int, took time.Duration) {
	m.migApplied.Set(float64(applied))
	m.migSeconds.Set(took.Seconds())
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Instrument counts and times every request h serves, by route.
//
// The route is the pattern the ServeMux matched ("GET /admin"), which the
// mux records on the request it was given: h must be, or wrap, that mux
// and pass the request on unchanged (http.CrossOriginProtection does).
func (m *Metrics) Instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			// Recorded even when the handler panics (net/http recovers
			// it and closes the connection): that request happened too.
			route := r.Pattern
			if route == "" {
				route = Unmatched
			}
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			labels := prometheus.Labels{"route": route, "code": strconv.Itoa(code)}
			m.requests.With(labels).Inc()
			m.duration.With(labels).Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(rec, r)
	})
}

// recorder remembers the status code written.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's Flush and
// deadlines through the recorder.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
