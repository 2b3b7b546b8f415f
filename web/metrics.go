package web

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the echo service's Prometheus metrics, in a registry of
// their own (no global state).
type Metrics struct {
	registry         *prometheus.Registry
	Requests         *prometheus.CounterVec
	Handshakes       *prometheus.CounterVec
	StreamMatches    *prometheus.CounterVec
	CaptureStops     prometheus.Counter
	CaptureAnomalies prometheus.Counter
	FingerprintTime  prometheus.Histogram
	OpenConnections  prometheus.Gauge
}

// NewMetrics registers the echo service's metrics (echo_*).
func NewMetrics() *Metrics { return NewServiceMetrics("echo") }

// NewServiceMetrics registers the metrics of a service, their names
// prefixed with service and "_" (fp_requests_total, ...).
func NewServiceMetrics(service string) *Metrics {
	p := service + "_"
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: p + "requests_total",
			Help: "Requests answered, by protocol."}, []string{"proto"}),
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: p + "tls_handshakes_total",
			Help: "TLS handshakes, by result."}, []string{"result"}),
		StreamMatches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: p + "http2_stream_matches_total",
			Help: "HTTP/2 requests matched to their captured stream, by outcome (exact, ambiguous, none)."}, []string{"match"}),
		CaptureStops: prometheus.NewCounter(prometheus.CounterOpts{Name: p + "capture_stopped_total",
			Help: "Requests whose connection's recording had stopped early (a parse error or a limit)."}),
		CaptureAnomalies: prometheus.NewCounter(prometheus.CounterOpts{Name: p + "capture_anomalies_total",
			Help: "Anomalies recorded in request heads and frames."}),
		FingerprintTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: p + "fingerprint_seconds",
			Help: "Time to build a request's report (parse results to fingerprints).", Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10)}),
		OpenConnections: prometheus.NewGauge(prometheus.GaugeOpts{Name: p + "open_connections",
			Help: "Connections open."}),
	}
	m.registry.MustRegister(m.Requests, m.Handshakes, m.StreamMatches, m.CaptureStops, m.CaptureAnomalies,
		m.FingerprintTime, m.OpenConnections, prometheus.NewGoCollector())
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Handshake counts a TLS handshake's result.
func (m *Metrics) Handshake(err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.Handshakes.WithLabelValues(result).Inc()
}

// observeReport records what a report says about its capture.
func (m *Metrics) observeReport(rep *Report, proto string, took time.Duration) {
	if m == nil {
		return
	}
	m.Requests.WithLabelValues(proto).Inc()
	m.FingerprintTime.Observe(took.Seconds())
	if rep.Capture.StreamMatch != "" {
		m.StreamMatches.WithLabelValues(rep.Capture.StreamMatch).Inc()
	}
	if rep.Capture.Stopped != "" {
		m.CaptureStops.Inc()
	}
	m.CaptureAnomalies.Add(float64(len(rep.Capture.Anomalies)))
}
