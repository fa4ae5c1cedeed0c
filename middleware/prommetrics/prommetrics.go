// Package prommetrics implements middleware.Metrics with Prometheus
// (github.com/prometheus/client_golang). Series are labelled by route
// pattern and subprotocol, never by raw path, so their number stays
// bounded by the route table.
//
// The metrics, with the default namespace "wsmap":
//
//	wsmap_connections_open{route,protocol}                   gauge
//	wsmap_connections_total{route,protocol}                  counter
//	wsmap_messages_total{route,protocol,direction}           counter, direction "in" or "out"
//	wsmap_message_bytes_total{route,protocol,direction}      counter
//	wsmap_closes_total{route,protocol,code}                  counter
//	wsmap_connection_duration_seconds{route,protocol}        histogram
//	wsmap_handshake_rejections_total{status}                 counter
//
// A connection's close is counted last of what its end records: once a
// read of closes_total counts it, a later read of
// connection_duration_seconds has its duration, and one of
// connections_open no longer counts it. (One Gather reads the
// collectors in no set order, so a single scrape can see the close
// without the duration.)
package prommetrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/protocol"
)

// Metrics is a middleware.Metrics that records into Prometheus
// collectors.
type Metrics struct {
	open       *prometheus.GaugeVec
	total      *prometheus.CounterVec
	messages   *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	closes     *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	rejections *prometheus.CounterVec
}

// Options configures New.
type Options struct {
	// Namespace prefixes every metric name. Defaults to "wsmap".
	Namespace string

	// DurationBuckets are the connection-duration histogram's buckets, in
	// seconds. Defaults to 0.1 s to about 3 hours, by factors of 4.
	DurationBuckets []float64
}

// New creates the collectors and registers them with reg (for instance
// prometheus.NewRegistry() or prometheus.DefaultRegisterer). It fails if
// they are registered already. nil options mean the defaults.
func New(reg prometheus.Registerer, opts *Options) (*Metrics, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	ns := o.Namespace
	if ns == "" {
		ns = "wsmap"
	}
	buckets := o.DurationBuckets
	if buckets == nil {
		buckets = prometheus.ExponentialBuckets(0.1, 4, 10)
	}
	conn := []string{"route", "protocol"}
	m := &Metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "connections_open",
			Help: "WebSocket connections open now."}, conn),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "connections_total",
			Help: "WebSocket connections accepted."}, conn),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_total",
			Help: "WebSocket messages received (in) and sent (out)."}, append(conn, "direction")),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "message_bytes_total",
			Help: "Payload bytes of WebSocket messages received (in) and sent (out)."}, append(conn, "direction")),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "closes_total",
			Help: "WebSocket connections ended, by close code (1006: without a close frame)."}, append(conn, "code")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "connection_duration_seconds",
			Help: "How long WebSocket connections stayed open.", Buckets: buckets}, conn),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "handshake_rejections_total",
			Help: "WebSocket handshakes refused, by HTTP status."}, []string{"status"}),
	}
	for _, c := range []prometheus.Collector{m.open, m.total, m.messages, m.bytes, m.closes, m.duration, m.rejections} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// HandshakeRejected implements middleware.Metrics.
func (m *Metrics) HandshakeRejected(status int) {
	m.rejections.WithLabelValues(strconv.Itoa(status)).Inc()
}

// ConnOpened implements middleware.Metrics. The returned sink holds its
// series, so that each message costs two atomic additions.
func (m *Metrics) ConnOpened(route, subprotocol string) middleware.ConnMetrics {
	m.total.WithLabelValues(route, subprotocol).Inc()
	open := m.open.WithLabelValues(route, subprotocol)
	open.Inc()
	return &connMetrics{
		m: m, route: route, proto: subprotocol, open: open,
		msgsIn:   m.messages.WithLabelValues(route, subprotocol, "in"),
		msgsOut:  m.messages.WithLabelValues(route, subprotocol, "out"),
		bytesIn:  m.bytes.WithLabelValues(route, subprotocol, "in"),
		bytesOut: m.bytes.WithLabelValues(route, subprotocol, "out"),
	}
}

type connMetrics struct {
	m                                  *Metrics
	route, proto                       string
	open                               prometheus.Gauge
	msgsIn, msgsOut, bytesIn, bytesOut prometheus.Counter
}

func (c *connMetrics) Received(_ protocol.MessageType, size int) {
	c.msgsIn.Inc()
	c.bytesIn.Add(float64(size))
}

func (c *connMetrics) Sent(_ protocol.MessageType, size int) {
	c.msgsOut.Inc()
	c.bytesOut.Add(float64(size))
}

// Closed counts the close last (see the package doc).
func (c *connMetrics) Closed(code protocol.CloseCode, open time.Duration) {
	c.m.duration.WithLabelValues(c.route, c.proto).Observe(open.Seconds())
	c.open.Dec()
	c.m.closes.WithLabelValues(c.route, c.proto, strconv.Itoa(int(code))).Inc()
}
