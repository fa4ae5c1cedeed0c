package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/wsmap/wsmap/middleware/otelwsmap"
)

// telemetry sets up OpenTelemetry from the standard environment
// variables, exporting by OTLP over HTTP/protobuf only:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT   e.g. http://localhost:4318 (or the
//	                              signal's own _TRACES_ / _METRICS_ENDPOINT)
//	OTEL_TRACES_EXPORTER          otlp (the default once an endpoint is set) or none
//	OTEL_METRICS_EXPORTER         otlp (likewise) or none
//	OTEL_EXPORTER_OTLP_PROTOCOL   http/protobuf, the only one supported
//
// and what the SDK reads itself (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,
// OTEL_METRIC_EXPORT_INTERVAL, the exporters' headers and timeouts).
// With no endpoint set it returns nil: nothing is instrumented, and
// nothing costs. shutdown flushes and stops the exporters.
func telemetry(ctx context.Context) (tel *otelwsmap.Telemetry, shutdown func(context.Context) error, err error) {
	traces, err := wanted("TRACES")
	if err != nil {
		return nil, nil, err
	}
	metrics, err := wanted("METRICS")
	if err != nil {
		return nil, nil, err
	}
	shutdown = func(context.Context) error { return nil }
	if !traces && !metrics {
		return nil, shutdown, nil
	}
	if p := os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: only http/protobuf is supported", p)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("wsmap-chi-example")),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, nil, err
	}
	var stops []func(context.Context) error
	shutdown = func(ctx context.Context) error {
		var errs []error
		for _, stop := range stops {
			errs = append(errs, stop(ctx))
		}
		return errors.Join(errs...)
	}
	var tp trace.TracerProvider = tracenoop.NewTracerProvider()
	if traces {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, nil, err
		}
		sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		stops = append(stops, sdk.Shutdown)
		tp = sdk
	}
	var mp metric.MeterProvider = metricnoop.NewMeterProvider()
	if metrics {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			_ = shutdown(ctx)
			return nil, nil, err
		}
		sdk := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)), sdkmetric.WithResource(res))
		stops = append(stops, sdk.Shutdown)
		mp = sdk
	}
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(prop)
	tel, err = otelwsmap.New(&otelwsmap.Options{TracerProvider: tp, MeterProvider: mp, Propagator: prop})
	if err != nil {
		_ = shutdown(ctx)
		return nil, nil, err
	}
	return tel, shutdown, nil
}

// wanted reports whether the signal (TRACES or METRICS) is to be
// exported: an OTLP endpoint is set for it, and OTEL_<signal>_EXPORTER
// is unset or otlp.
func wanted(signal string) (bool, error) {
	endpoint := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
	switch e := os.Getenv("OTEL_" + signal + "_EXPORTER"); e {
	case "", "otlp":
		return endpoint, nil
	case "none":
		return false, nil
	default:
		return false, fmt.Errorf("OTEL_%s_EXPORTER=%s: only otlp (over HTTP/protobuf) and none are supported", signal, e)
	}
}
