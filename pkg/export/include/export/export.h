/*
 * export.h - trace span export: drains the workers' span rings on the main loop and sends
 * the spans to Zipkin (v2 JSON) and to an OpenTelemetry collector (OTLP/HTTP protobuf), and
 * writes them to the log for spec.tracing.stdout.
 *
 * Threads: everything here runs on the main loop given to export_start(). The workers only
 * touch their own ring, through diag/span.h (reserve, fill, commit), never this module.
 *
 * Lifetime: export_start() → the runtime binds rings_out[i] to worker i (diag_span_bind_thread)
 * before it serves → workers unbind (or end) → export_stop() flushes what is queued for a
 * short while, closes its handles and calls done_cb; the exporter and the rings are freed
 * right after done_cb returns.
 *
 * Failures never reach the request path: a batch the endpoint does not accept (connection
 * refused, timeout, non-2xx) is dropped and counted (DIAG_SPAN_DROPPED_EXPORT_FAILED), a
 * warning is logged at most every 30 s per exporter (scope dapr.runtime.diagnostics), and the
 * next batch tries again. Each exporter holds at most one batch in flight and one waiting
 * behind it; the rings keep being drained while a request is in flight, and an exporter that
 * has both taken skips a batch, counting its spans as DIAG_SPAN_DROPPED_QUEUE_FULL, so one
 * slow collector does not hold back the other. Only while no exporter can take a batch do the
 * rings keep filling; a full ring drops (DIAG_SPAN_DROPPED_QUEUE_FULL). Memory is the rings
 * plus two bounded batch buffers per exporter, whatever the load or the collectors do.
 */
#ifndef EXPORT_EXPORT_H
#define EXPORT_EXPORT_H

#include <stddef.h>
#include <uv.h>

#include "config/config.h"
#include "diag/span.h"

/* Spans per batch, and the encoded size after which a batch is closed early. */
#define EXPORT_BATCH_MAX_SPANS 512
#define EXPORT_BATCH_MAX_BYTES (1024u * 1024u)
/* The longest wait between two drains; a busy ring is drained sooner (see export.md). */
#define EXPORT_INTERVAL_MS 500
/* Export request timeout when spec.tracing.otel.timeout is not set, and for Zipkin. */
#define EXPORT_TIMEOUT_MS 10000
/* How long export_stop() keeps sending what is queued. */
#define EXPORT_STOP_DEADLINE_MS 2000

typedef struct export export_t;

/*
 * Starts the exporters that cfg configures, on main_loop:
 *   - Zipkin: spec.tracing.zipkin.endpointAddress, an http:// URL;
 *   - OTLP: spec.tracing.otel with an endpointAddress ("host:port", optionally followed by a
 *     path, "/v1/traces" when none), protocol "http" and isSecure false;
 *   - stdout: spec.tracing.stdout.
 * An https:// Zipkin URL, OTLP with isSecure true (TLS) or protocol grpc are not supported:
 * each is logged once, as an error or a warning, and that exporter stays off.
 *
 * Returns NULL when no exporter is on (none configured, none usable, samplingRate 0) or out of
 * memory (logged): then no ring exists and the workers bind nothing. Otherwise fills
 * rings_out[0 .. worker_count) with one ring per worker, owned by the exporter.
 */
export_t *export_start(uv_loop_t *main_loop, const config_t *cfg, int worker_count, diag_span_ring_t **rings_out);

/*
 * Stops: drains the rings and sends what they hold, batch after batch, for at most
 * EXPORT_STOP_DEADLINE_MS (a request still in flight then is cancelled, and its spans, those
 * of a batch waiting behind it and those left in the rings are counted as export failures);
 * then closes every handle. done_cb(arg) runs on the loop, on a
 * later turn, once everything is closed; after it returns the exporter and its rings are
 * freed. Call it once, after every worker has stopped producing (unbound its ring or ended).
 * e may be NULL: then nothing happens and done_cb is not called. done_cb may be NULL.
 */
void export_stop(export_t *e, void (*done_cb)(void *arg), void *arg);

/* Bytes the exporter holds (rings and both batch buffers of each exporter), for tests and
 * metrics. */
size_t export_footprint(const export_t *e);

#endif
