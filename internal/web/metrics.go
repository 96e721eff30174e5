package web

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Metrics are the dashboard's Prometheus collectors, on a registry of their
// own (no global state).
type Metrics struct {
	Registry     *prometheus.Registry
	httpRequests *prometheus.HistogramVec
	vagonCalls   *prometheus.HistogramVec
	// Sync metrics, fed by the sessions sync runner.
	SyncPasses   *prometheus.CounterVec
	SyncMachines *prometheus.GaugeVec
	SyncSessions *prometheus.GaugeVec
	SyncLastEnd  prometheus.Gauge
}

// NewMetrics registers the collectors on reg (a new registry when nil),
// with the Go runtime and process collectors.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry: reg,
		httpRequests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dashboard_http_request_duration_seconds", Help: "HTTP requests by route pattern, method and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "status"}),
		vagonCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dashboard_vagon_api_call_duration_seconds", Help: "Vagon API calls by endpoint, HTTP status and client_code (one per attempt).",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint", "status", "client_code"}),
		SyncPasses:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dashboard_sync_passes_total", Help: "Sessions sync passes by result."}, []string{"result"}),
		SyncMachines: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dashboard_sync_last_machines", Help: "Machines in the last sync pass, done or failed."}, []string{"state"}),
		SyncSessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dashboard_sync_last_sessions", Help: "Sessions in the last sync pass, new or updated."}, []string{"kind"}),
		SyncLastEnd:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "dashboard_sync_last_finished_timestamp_seconds", Help: "When the last sync pass finished."}),
	}
	reg.MustRegister(m.httpRequests, m.vagonCalls, m.SyncPasses, m.SyncMachines, m.SyncSessions, m.SyncLastEnd,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) observeHTTP(method, route string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

// ObserveVagon is the vagon client's hook: one observation per attempt.
func (m *Metrics) ObserveVagon(ci vagon.CallInfo) {
	m.vagonCalls.WithLabelValues(ci.Endpoint, strconv.Itoa(ci.HTTPStatus), strconv.Itoa(ci.Code)).Observe(ci.Duration.Seconds())
}

func (s *Server) metricsHandler(c echo.Context) error {
	promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}
