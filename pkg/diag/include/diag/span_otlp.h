/*
 * span_otlp.h - spans as OTLP/HTTP protobuf: the body of POST /v1/traces with Content-Type
 * application/x-protobuf, as daprd's exporter (OpenTelemetry Go's otlptracehttp) sends it.
 *
 * A batch is one binary ExportTraceServiceRequest (proto/opentelemetry/proto/...): one
 * ResourceSpans whose resource has the attribute service.name = the service name, one
 * ScopeSpans with scope name DIAG_SPAN_SCOPE_NAME, then per span trace_id (16 bytes), span_id
 * (8), parent_span_id (8, only with a parent), name, kind (OTLP's numbers, as in the record),
 * start_time_unix_nano and end_time_unix_nano (fixed64), the attributes as string values, and
 * for an error status {code: STATUS_CODE_ERROR, message}. No status is written for an unset
 * one, which OTLP reads as unset.
 *
 * Go's protobuf, and so the collector, rejects a whole request over one string field that is
 * not valid UTF-8, and a C string cannot carry a NUL byte: in every text piece (and the
 * service name) such bytes become U+FFFD first, as the Zipkin encoder does.
 *
 * Pure functions, any thread: no I/O, no shared state, no allocation but the growth of the
 * caller's buffer (a span is packed by protobuf-c from structs on the stack, about 5 KiB).
 * Each returns 0, or -1 when the buffer cannot grow (the buffer then holds what it held before
 * that call). The request only exists once diag_span_otlp_end() has framed it: it is then the
 * slice that end returns, which ends at out->len and begins a few bytes after where the batch
 * began (room left by begin for lengths not known until the end).
 */
#ifndef DIAG_SPAN_OTLP_H
#define DIAG_SPAN_OTLP_H

#include <stddef.h>

#include "base/base.h"
#include "base/buf.h"
#include "diag/span.h"
#include "diag/span_json.h" /* DIAG_SPAN_SCOPE_NAME */

#define DIAG_SPAN_OTLP_CONTENT_TYPE "application/x-protobuf"

/* A batch being written into `out`. Fields are private to the encoder. */
typedef struct diag_span_otlp_encoder {
    base_buf_t *out;
    size_t start;      /* out->len when the batch began */
    size_t res_len;    /* bytes of the resource field (tag, length, Resource) */
    size_t count;      /* spans added so far */
} diag_span_otlp_encoder_t;

/* Starts a batch at out->len: writes the resource (service.name = service_name, copied) and
 * the scope, with room in front of each for the lengths that diag_span_otlp_end() writes.
 * The bytes before out->len are left alone. */
int diag_span_otlp_begin(diag_span_otlp_encoder_t *e, base_buf_t *out, base_slice_t service_name);
/* Appends one span. */
int diag_span_otlp_add(diag_span_otlp_encoder_t *e, const diag_span_t *s);
/* Closes the batch: writes the lengths of ResourceSpans and ScopeSpans, and sets *request to
 * the whole ExportTraceServiceRequest, inside `out` (valid until `out` changes). The spans are
 * not moved. Fails (-1, nothing changed) only for a request over 2 GiB, which protobuf does not
 * allow. */
int diag_span_otlp_end(diag_span_otlp_encoder_t *e, base_slice_t *request);

#endif
