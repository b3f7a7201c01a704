/*
 * span_json.h - spans as Zipkin v2 JSON, for the Zipkin and stdout exporters.
 *
 * Zipkin v2 (POST /api/v2/spans, a JSON array), the fields OpenTelemetry's Zipkin exporter
 * writes: traceId (32 hex), id (16 hex), parentId (only with a parent), name, kind ("SERVER",
 * "CLIENT"; none for an internal span), timestamp (start in µs, rounded), duration (µs,
 * truncated, at least 1), localEndpoint.serviceName, and tags: the attributes, plus
 * "otel.library.name" (the instrumentation scope), "service.name", and for an error status
 * "otel.status_code": "ERROR" and "error": the message.
 *
 * The JSON is built and printed with cJSON, which escapes strings per RFC 8259; beforehand,
 * bytes that are not valid UTF-8 and NUL bytes (which a C string cannot carry) become U+FFFD,
 * so a span carrying arbitrary request bytes never makes a collector reject the batch.
 *
 * No I/O and no shared state: an encoder belongs to one thread at a time, and cJSON's global
 * hooks are neither used nor changed, so any thread may encode while others use cJSON. A batch
 * encoder keeps a bounded memo of the tags it printed (span_memo.h: 128 KiB at most), so a
 * span whose tags repeat an earlier span's costs no printing of them, and the localEndpoint it
 * printed for the service; they live across batches until diag_span_encode_free(). Nothing else is allocated but the growth of the caller's
 * buffer (and about 2 KiB of stack). Each returns 0, or -1 when the buffer cannot grow (the
 * buffer then holds what it held before that call). For the time of the call a span
 * reserves its worst case in the buffer (at most 11 KiB, plus 15 bytes per byte of the service
 * name), of which it leaves only its JSON appended.
 */
#ifndef DIAG_SPAN_JSON_H
#define DIAG_SPAN_JSON_H

#include <stddef.h>

#include "base/base.h"
#include "base/buf.h"
#include "diag/span.h"

/* The instrumentation scope of every span, as daprd names its tracer. */
#define DIAG_SPAN_SCOPE_NAME "dapr-diagnostics"

/* A batch being written into `out`. Fields are private to the encoder; a zeroed struct is
 * ready for diag_span_encode_begin(). */
typedef struct diag_span_encoder {
    base_buf_t *out;
    base_slice_t service; /* borrowed: must stay valid until diag_span_encode_end() */
    size_t count;         /* spans added so far */
    struct span_memo *memo; /* created by the first span; NULL without memory */
    int memo_off;           /* 1: none could be created, or diag_span_encode_memo_off() */
    char *endpoint;         /* the localEndpoint object cJSON printed, for endpoint_for */
    char *endpoint_for;     /* the service name it was printed for (not NUL-terminated) */
    size_t endpoint_for_len;
} diag_span_encoder_t;

/* Starts a batch, a JSON array: appends its "[". */
int diag_span_encode_begin(diag_span_encoder_t *e, base_buf_t *out, base_slice_t service_name);
/* Appends one span. */
int diag_span_encode_add(diag_span_encoder_t *e, const diag_span_t *s);
/* Closes the batch: appends "]". */
int diag_span_encode_end(diag_span_encoder_t *e);
/* Frees the encoder's memo; the struct may then begin a new batch. */
void diag_span_encode_free(diag_span_encoder_t *e);
/* Encodes without a memo from now on (for tests and measurements; the output is the same). */
void diag_span_encode_memo_off(diag_span_encoder_t *e);

/* One span as a single Zipkin JSON object (no array), NUL-terminated after out->len: the
 * stdout exporter's line. */
int diag_span_encode_zipkin_object(base_buf_t *out, const diag_span_t *s, base_slice_t service_name);

#endif
