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
 * No I/O and no shared state: an encoder belongs to one thread at a time. A span is packed
 * by protobuf-c from structs on the stack (about 5 KiB) in up to three pieces, which protobuf
 * concatenates into one message: its ids, name, kind and times; its attributes; its status.
 * The encoder keeps a bounded memo of the attribute pieces it packed (span_memo.h: 128 KiB at
 * most), so a span whose attributes repeat an earlier span's costs no packing of them; it
 * lives across batches until diag_span_otlp_free(). Nothing else is allocated but the growth
 * of the caller's buffer. Each returns 0, or -1 when the buffer cannot grow (the buffer then holds what it held before
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

/* A batch being written into `out`. Fields are private to the encoder; a zeroed struct is
 * ready for diag_span_otlp_begin(). */
typedef struct diag_span_otlp_encoder {
    base_buf_t *out;
    size_t start;      /* out->len when the batch began */
    size_t res_len;    /* bytes of the resource field (tag, length, Resource) */
    size_t count;      /* spans added so far */
    struct span_memo *memo; /* created by the first span; NULL without memory */
    int memo_off;           /* 1: none could be created, or diag_span_otlp_memo_off() */
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
/* Frees the encoder's memo; the struct may then begin a new batch. */
void diag_span_otlp_free(diag_span_otlp_encoder_t *e);
/* Encodes without a memo from now on (for tests and measurements; the output is the same). */
void diag_span_otlp_memo_off(diag_span_otlp_encoder_t *e);

#endif
