/*
 * span_fixture.h - what the span encoder and memo tests share: a root server span and a child
 * client span that failed, the memo tests' spans, and a failing allocator.
 */
#ifndef TEST_DIAG_SPAN_FIXTURE_H
#define TEST_DIAG_SPAN_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag/span.h"

/* An allocator for base_set_allocator() that fails while fail_alloc is set. */
static int fail_alloc;

static inline void *failing_malloc(size_t n)
{
    return fail_alloc ? NULL : malloc(n);
}

#define START 1700000000123456789ull
#define SERVICE BASE_SLICE_LIT("orders")

static const uint8_t tid[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
static const uint8_t sid[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };
static const uint8_t pid[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };

/* A root server span: GET /v1.0/metadata, 2.5 ms. */
static inline void root_span(diag_span_t *s)
{
    diag_span_reset(s);
    memcpy(s->trace_id, tid, 16);
    memcpy(s->span_id, sid, 8);
    s->kind = DIAG_SPAN_KIND_SERVER;
    s->start_ns = START;
    s->end_ns = START + 2500000;
    diag_span_set_name(s, BASE_SLICE_LIT("/v1.0/metadata"));
    diag_span_add_attr(s, BASE_SLICE_LIT("http.request.method"), BASE_SLICE_LIT("GET"));
    diag_span_add_attr(s, BASE_SLICE_LIT("dapr.api"), BASE_SLICE_LIT("GET /v1.0/metadata"));
}

/* A child client span that failed after 400 ns. */
static inline void child_span(diag_span_t *s)
{
    diag_span_reset(s);
    memcpy(s->trace_id, tid, 16);
    memcpy(s->span_id, pid, 8);
    memcpy(s->parent_span_id, sid, 8);
    s->has_parent = 1;
    s->kind = DIAG_SPAN_KIND_CLIENT;
    s->start_ns = START + 999; /* rounds up to the next µs */
    s->end_ns = START + 999 + 400;
    diag_span_set_name(s, BASE_SLICE_LIT("CallLocal/orders/new"));
    diag_span_add_attr(s, BASE_SLICE_LIT("rpc.system"), BASE_SLICE_LIT("grpc"));
    diag_span_set_error(s, BASE_SLICE_LIT("connection refused"));
}

/*
 * The memo tests' spans: MEMO_SPANS of them, in the pattern AAABBBCACADDDEBFFF. A is the root
 * span, B the child, C and D the root with one attribute changed (D's with bytes to escape or
 * repair), E the child with another error, F the child without its error. Every span has its
 * own id and start. The caller frees the array.
 */
#define MEMO_SPANS 18
static inline diag_span_t *memo_spans(void)
{
    static const char pattern[MEMO_SPANS] = "AAABBBCACADDDEBFFF";
    diag_span_t *spans = calloc(MEMO_SPANS, sizeof *spans);
    if (!spans)
        return NULL;
    for (int i = 0; i < MEMO_SPANS; i++) {
        diag_span_t *s = &spans[i];
        switch (pattern[i]) {
        case 'A': root_span(s); break;
        case 'B': child_span(s); break;
        case 'C':
            root_span(s);
            diag_span_add_attr(s, BASE_SLICE_LIT("dapr.api"), BASE_SLICE_LIT("GET /v1.0/healthz"));
            break;
        case 'D':
            root_span(s);
            diag_span_add_attr(s, BASE_SLICE_LIT("url.full"), BASE_SLICE_LIT("/a\xff\"b\x01"));
            break;
        case 'E':
            child_span(s);
            diag_span_set_error(s, BASE_SLICE_LIT("deadline exceeded"));
            break;
        case 'F':
            child_span(s);
            s->status = DIAG_SPAN_STATUS_UNSET;
            break;
        }
        s->span_id[7] = (uint8_t)i;
        s->start_ns += (uint64_t)i * 1000;
    }
    return spans;
}

/* A root span plus rpc.service and server.port, the keys added as text (a) or as known keys
 * (b): both must encode to the same bytes. */
static inline void known_key_spans(diag_span_t *a, diag_span_t *b)
{
    root_span(a);
    root_span(b);
    diag_span_add_attr(a, BASE_SLICE_LIT("rpc.service"), BASE_SLICE_LIT("ServiceInvocation"));
    diag_span_add_attr(a, BASE_SLICE_LIT("server.port"), BASE_SLICE_LIT("5123"));
    diag_span_add_attr_key(b, DIAG_SPAN_KEY_RPC_SERVICE, BASE_SLICE_LIT("ServiceInvocation"));
    diag_span_add_attr_key(b, DIAG_SPAN_KEY_SERVER_PORT, BASE_SLICE_LIT("5123"));
}

#endif
