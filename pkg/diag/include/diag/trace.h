/*
 * trace.h - W3C Trace Context (https://www.w3.org/TR/trace-context/).
 *
 * traceparent = 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>. Pure functions, no
 * allocation, thread-safe (the random source is per thread).
 */
#ifndef DIAG_TRACE_H
#define DIAG_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define DIAG_TRACEPARENT_LEN 55
#define DIAG_TRACESTATE_MAX 512

typedef struct diag_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[16 / 2];        /* this hop's span */
    uint8_t parent_span_id[8];      /* the caller's span; all zero when this hop started the trace */
    uint8_t flags;                  /* bit 0: sampled */
    unsigned has_parent : 1;
    char tracestate[DIAG_TRACESTATE_MAX + 1]; /* "" when none or dropped (over 512 chars) */
} diag_trace_ctx_t;

/* Parses a traceparent header value. Returns 0, or -1 when it is not valid (wrong length or
 * version ff, non-lowercase-hex, all-zero trace or span id). Versions above 00 are accepted
 * when the first 55 chars parse and the next is '-' (forward compatibility, per the spec). */
int diag_traceparent_parse(base_slice_t value, uint8_t trace_id[16], uint8_t span_id[8], uint8_t *flags);
/* Writes "00-…-…-.." (55 chars) plus NUL into out (at least 56 bytes). */
void diag_traceparent_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags, char *out);
/* Fills a new random non-zero id. */
void diag_random_bytes(uint8_t *out, size_t n);

/*
 * Starts this hop's context: continues the incoming traceparent when valid (keeping its
 * sampled flag), else starts a new trace whose sampled flag is drawn with `sampling_rate`.
 * A fresh span id is always made for this hop. tracestate is kept if ≤ 512 chars.
 */
void diag_trace_start(diag_trace_ctx_t *ctx, const base_slice_t *traceparent, const base_slice_t *tracestate,
                      double sampling_rate);

#endif
