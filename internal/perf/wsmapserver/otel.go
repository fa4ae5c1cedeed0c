package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/wsmap/wsmap/middleware/otelwsmap"
	"github.com/wsmap/wsmap/mux"
)

// instrument puts otelwsmap's middleware on m, with a real SDK whose
// spans are sampled at ratio (parent-based) and batched, and whose
// metrics are collected every second; both exporters discard what they
// are given, so that what is measured is the instrumentation and the
// SDK, not a network. It returns the function that shuts the SDK down.
func instrument(m *mux.Mux, ratio string) (func(context.Context) error, error) {
	r, err := strconv.ParseFloat(ratio, 64)
	if err != nil || r < 0 || r > 1 {
		return nil, fmt.Errorf("-otel %q: want off or a sampling ratio from 0 to 1", ratio)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r))),
		sdktrace.WithBatcher(discardSpans{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(
		sdkmetric.NewPeriodicReader(discardMetrics{}, sdkmetric.WithInterval(time.Second))))
	tel, err := otelwsmap.New(&otelwsmap.Options{TracerProvider: tp, MeterProvider: mp, Propagator: propagation.TraceContext{}})
	if err != nil {
		return nil, err
	}
	m.Use(tel.Handshake())
	m.UseConn(tel.Conn())
	return func(ctx context.Context) error {
		_ = tp.Shutdown(ctx)
		return mp.Shutdown(ctx)
	}, nil
}

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

type discardMetrics struct{}

func (discardMetrics) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (discardMetrics) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (discardMetrics) Export(context.Context, *metricdata.ResourceMetrics) error { return nil }
func (discardMetrics) ForceFlush(context.Context) error                          { return nil }
func (discardMetrics) Shutdown(context.Context) error                            { return nil }
