package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reads pgxpool's statistics at each scrape: no goroutine,
// and the figures are those of the moment Prometheus asks.
type poolCollector struct {
	pool                                      *pgxpool.Pool
	total, idle, acquired, constructing, max  *prometheus.Desc
	acquires, acquireSeconds, empty, canceled *prometheus.Desc
	newConns, closedLifetime, closedIdle      *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "db_pool", name), help, nil, nil)
	}
	return &poolCollector{
		pool:           pool,
		total:          d("connections", "Connections in the pool: idle, in use and being opened."),
		idle:           d("idle_connections", "Connections in the pool not in use."),
		acquired:       d("acquired_connections", "Connections in use."),
		constructing:   d("constructing_connections", "Connections being opened."),
		max:            d("max_connections", "The pool's size limit."),
		acquires:       d("acquires_total", "Successful connection acquisitions."),
		acquireSeconds: d("acquire_duration_seconds_total", "Time spent acquiring connections, successful acquisitions only."),
		empty:          d("empty_acquires_total", "Acquisitions that had to wait: no idle connection was ready."),
		canceled:       d("canceled_acquires_total", "Acquisitions cancelled by their context."),
		newConns:       d("new_connections_total", "Connections opened."),
		closedLifetime: d("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime."),
		closedIdle:     d("max_idle_destroys_total", "Connections closed for idling too long."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.acquired, c.constructing, c.max,
		c.acquires, c.acquireSeconds, c.empty, c.canceled, c.newConns, c.closedLifetime, c.closedIdle} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.acquired, float64(s.AcquiredConns()))
	gauge(c.constructing, float64(s.ConstructingConns()))
	gauge(c.max, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.acquireSeconds, s.AcquireDuration().Seconds())
	counter(c.empty, float64(s.EmptyAcquireCount()))
	counter(c.canceled, float64(s.CanceledAcquireCount()))
	counter(c.newConns, float64(s.NewConnsCount()))
	counter(c.closedLifetime, float64(s.MaxLifetimeDestroyCount()))
	counter(c.closedIdle, float64(s.MaxIdleDestroyCount()))
}
