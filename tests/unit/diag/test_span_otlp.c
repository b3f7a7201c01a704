/* test_span_otlp.c - the OTLP/HTTP protobuf encoder: exact bytes written by a tiny independent
 * protobuf writer with OpenTelemetry's field numbers, every field read back with protobuf-c's
 * generated unpack, canonical bytes (what protobuf-c packs from the decoded tree), UTF-8
 * repair, large batches and allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/pool.h"
#include "diag/span_otlp.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest request_t;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv_t;

#include "span_fixture.h"
#include "span_memo.h"


/* The request for a batch, inside b: it ends at b->len and starts a few bytes in. */
static base_slice_t encode(const diag_span_t *spans, size_t n, base_slice_t service, base_buf_t *b)
{
    diag_span_otlp_encoder_t e = { 0 };
    base_slice_t req;
    b->len = 0;
    assert_int_equal(diag_span_otlp_begin(&e, b, service), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(diag_span_otlp_add(&e, &spans[i]), 0);
    assert_int_equal(diag_span_otlp_end(&e, &req), 0);
    diag_span_otlp_free(&e);
    assert_int_equal(e.count, n);
    assert_true(req.base >= b->base && req.base <= b->base + 8);
    assert_ptr_equal(req.base + req.len, b->base + b->len);
    return req;
}

/* Decodes with the generated unpack, and checks that protobuf-c packs the decoded tree back to
 * the very same bytes: the encoder's framing is the canonical one. */
static request_t *decode(base_slice_t b)
{
    request_t *r = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, b.len, (const uint8_t *)b.base);
    assert_non_null(r);
    size_t n = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(r);
    assert_int_equal(n, b.len);
    uint8_t *again = malloc(n ? n : 1);
    assert_non_null(again);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(r, again);
    assert_memory_equal(again, b.base, n);
    free(again);
    return r;
}

static void request_free(request_t *r)
{
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r, NULL);
}

/* The spans of the one ResourceSpans / ScopeSpans, after checking the envelope. */
static pb_span_t **spans_of(const request_t *r, const char *service, size_t *n)
{
    assert_int_equal(r->n_resource_spans, 1);
    const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = r->resource_spans[0];
    assert_non_null(rs->resource);
    assert_int_equal(rs->resource->n_attributes, 1);
    assert_string_equal(rs->resource->attributes[0]->key, "service.name");
    assert_int_equal(rs->resource->attributes[0]->value->value_case,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
    assert_string_equal(rs->resource->attributes[0]->value->string_value, service);
    assert_int_equal(rs->resource->dropped_attributes_count, 0);
    assert_string_equal(rs->schema_url, "");
    assert_int_equal(rs->n_scope_spans, 1);
    const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[0];
    assert_non_null(ss->scope);
    assert_string_equal(ss->scope->name, DIAG_SPAN_SCOPE_NAME);
    assert_string_equal(ss->scope->version, "");
    assert_string_equal(ss->schema_url, "");
    *n = ss->n_spans;
    return ss->spans;
}

static void assert_attr(const pb_kv_t *kv, const char *key, const char *value)
{
    assert_string_equal(kv->key, key);
    assert_non_null(kv->value);
    assert_int_equal(kv->value->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
    assert_string_equal(kv->value->string_value, value);
}

/* ---- a protobuf writer of the test's own, with the numbers of OpenTelemetry's .proto ---- */

static void w_varint(base_buf_t *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        assert_int_equal(base_buf_append(b, &c, 1), 0);
    } while (v);
}

static void w_bytes(base_buf_t *b, unsigned field, const void *p, size_t n)
{
    w_varint(b, field << 3 | 2);
    w_varint(b, n);
    assert_int_equal(base_buf_append(b, p, n), 0);
}

static void w_str(base_buf_t *b, unsigned field, const char *s)
{
    w_bytes(b, field, s, strlen(s));
}

static void w_msg(base_buf_t *b, unsigned field, base_buf_t *sub)
{
    w_bytes(b, field, sub->base, sub->len);
    base_buf_free(sub);
}

static void w_fixed64(base_buf_t *b, unsigned field, uint64_t v)
{
    w_varint(b, field << 3 | 1);
    for (int i = 0; i < 8; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        assert_int_equal(base_buf_append(b, &c, 1), 0);
    }
}

static void w_enum(base_buf_t *b, unsigned field, uint64_t v)
{
    w_varint(b, field << 3 | 0);
    w_varint(b, v);
}

/* KeyValue{key = 1, value = 2: AnyValue{string_value = 1}} */
static void w_attr(base_buf_t *b, unsigned field, const char *key, const char *value)
{
    base_buf_t kv = BASE_BUF_INIT, any = BASE_BUF_INIT;
    w_str(&any, 1, value);
    w_str(&kv, 1, key);
    w_msg(&kv, 2, &any);
    w_msg(b, field, &kv);
}

/* Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8, attributes 9,
 * status 15 (Status: message 2, code 3). */
static void w_span(base_buf_t *b, const uint8_t *span_id, const uint8_t *parent, const char *name, int kind,
                   uint64_t start, uint64_t end, const char *const *attrs, size_t nattrs, const char *error)
{
    base_buf_t s = BASE_BUF_INIT;
    w_bytes(&s, 1, tid, 16);
    w_bytes(&s, 2, span_id, 8);
    if (parent)
        w_bytes(&s, 4, parent, 8);
    w_str(&s, 5, name);
    w_enum(&s, 6, (uint64_t)kind);
    w_fixed64(&s, 7, start);
    w_fixed64(&s, 8, end);
    for (size_t i = 0; i < nattrs; i++)
        w_attr(&s, 9, attrs[2 * i], attrs[2 * i + 1]);
    if (error) {
        base_buf_t st = BASE_BUF_INIT;
        w_str(&st, 2, error);
        w_enum(&st, 3, 2); /* STATUS_CODE_ERROR */
        w_msg(&s, 15, &st);
    }
    w_msg(b, 2, &s); /* ScopeSpans.spans */
}

/* ExportTraceServiceRequest{resource_spans 1: ResourceSpans{resource 1: Resource{attributes 1},
 * scope_spans 2: ScopeSpans{scope 1: InstrumentationScope{name 1}, spans 2}}} */
static void w_request(base_buf_t *out, const char *service, base_buf_t *spans)
{
    base_buf_t res = BASE_BUF_INIT, scope = BASE_BUF_INIT, ss = BASE_BUF_INIT, rs = BASE_BUF_INIT;
    w_attr(&res, 1, "service.name", service);
    w_str(&scope, 1, "dapr-diagnostics");
    w_msg(&ss, 1, &scope);
    assert_int_equal(base_buf_append(&ss, spans->base, spans->len), 0);
    base_buf_free(spans);
    w_msg(&rs, 1, &res);
    w_msg(&rs, 2, &ss);
    w_msg(out, 1, &rs);
}

/* ---- tests ---- */

static void test_exact_bytes(void **state)
{
    (void)state;
    diag_span_t spans[2];
    root_span(&spans[0]);
    child_span(&spans[1]);
    base_buf_t got = BASE_BUF_INIT, want = BASE_BUF_INIT, sp = BASE_BUF_INIT;
    static const char *const root_attrs[] = { "http.request.method", "GET", "dapr.api", "GET /v1.0/metadata" };
    static const char *const child_attrs[] = { "rpc.system", "grpc" };
    w_span(&sp, sid, NULL, "/v1.0/metadata", 2, START, START + 2500000, root_attrs, 2, NULL);
    w_span(&sp, pid, sid, "CallLocal/orders/new", 3, START + 999, START + 1399, child_attrs, 1, "connection refused");
    w_request(&want, "orders", &sp);
    base_slice_t req = encode(spans, 2, SERVICE, &got);
    assert_int_equal(req.len, want.len);
    assert_memory_equal(req.base, want.base, want.len);

    /* the head of a one-span request, byte for byte */
    want.len = 0;
    req = encode(spans, 1, SERVICE, &got);
    static const uint8_t head[] = {
        0x0a, 0xb6, 0x01,             /* resource_spans (1), 182 bytes */
        0x0a, 0x1a, 0x0a, 0x18,       /* resource (1) > attributes (1) */
        0x0a, 0x0c, 's', 'e', 'r', 'v', 'i', 'c', 'e', '.', 'n', 'a', 'm', 'e',
        0x12, 0x08, 0x0a, 0x06, 'o', 'r', 'd', 'e', 'r', 's',
        0x12, 0x97, 0x01,             /* scope_spans (2), 151 bytes */
        0x0a, 0x12, 0x0a, 0x10,       /* scope (1) > name (1) */
        'd', 'a', 'p', 'r', '-', 'd', 'i', 'a', 'g', 'n', 'o', 's', 't', 'i', 'c', 's',
        0x12, 0x80, 0x01,             /* spans (2), 128 bytes */
        0x0a, 0x10,                   /* trace_id (1) */
    };
    assert_int_equal(req.len, 185);
    assert_memory_equal(req.base, head, sizeof head);
    assert_memory_equal(req.base + sizeof head, tid, 16);
    base_buf_free(&got);
    base_buf_free(&want);
}

static void test_fields(void **state)
{
    (void)state;
    diag_span_t spans[2];
    root_span(&spans[0]);
    child_span(&spans[1]);
    base_buf_t b = BASE_BUF_INIT;
    base_slice_t req = encode(spans, 2, SERVICE, &b);
    request_t *r = decode(req);
    size_t n;
    pb_span_t **s = spans_of(r, "orders", &n);
    assert_int_equal(n, 2);

    pb_span_t *a = s[0];
    assert_int_equal(a->trace_id.len, 16);
    assert_memory_equal(a->trace_id.data, tid, 16);
    assert_int_equal(a->span_id.len, 8);
    assert_memory_equal(a->span_id.data, sid, 8);
    assert_int_equal(a->parent_span_id.len, 0); /* a root span: absent */
    assert_string_equal(a->trace_state, "");
    assert_string_equal(a->name, "/v1.0/metadata");
    assert_int_equal(a->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
    assert_true(a->start_time_unix_nano == START);
    assert_true(a->end_time_unix_nano == START + 2500000);
    assert_int_equal(a->n_attributes, 2);
    assert_attr(a->attributes[0], "http.request.method", "GET");
    assert_attr(a->attributes[1], "dapr.api", "GET /v1.0/metadata");
    assert_int_equal(a->dropped_attributes_count, 0);
    assert_null(a->status); /* unset */
    assert_int_equal(a->flags, 0);

    pb_span_t *c = s[1];
    assert_memory_equal(c->trace_id.data, tid, 16);
    assert_memory_equal(c->span_id.data, pid, 8);
    assert_int_equal(c->parent_span_id.len, 8);
    assert_memory_equal(c->parent_span_id.data, sid, 8);
    assert_string_equal(c->name, "CallLocal/orders/new");
    assert_int_equal(c->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
    assert_true(c->start_time_unix_nano == START + 999);
    assert_true(c->end_time_unix_nano == START + 1399);
    assert_int_equal(c->n_attributes, 1);
    assert_attr(c->attributes[0], "rpc.system", "grpc");
    assert_non_null(c->status);
    assert_int_equal(c->status->code, OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
    assert_string_equal(c->status->message, "connection refused");
    request_free(r);

    /* an internal span, an error without a message, an empty attribute value, no name */
    diag_span_t x;
    diag_span_reset(&x);
    x.kind = DIAG_SPAN_KIND_INTERNAL;
    diag_span_add_attr(&x, BASE_SLICE_LIT("empty"), BASE_SLICE_LIT(""));
    diag_span_set_error(&x, BASE_SLICE_LIT(""));
    req = encode(&x, 1, SERVICE, &b);
    r = decode(req);
    s = spans_of(r, "orders", &n);
    assert_int_equal(n, 1);
    assert_int_equal(s[0]->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL);
    assert_string_equal(s[0]->name, "");
    assert_int_equal(s[0]->trace_id.len, 16); /* the record's ids are always written */
    assert_attr(s[0]->attributes[0], "empty", ""); /* still a string value */
    assert_non_null(s[0]->status);
    assert_int_equal(s[0]->status->code, OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
    assert_string_equal(s[0]->status->message, "");
    request_free(r);

    /* a kind the record should never hold is sent as unspecified */
    x.kind = 200;
    req = encode(&x, 1, SERVICE, &b);
    r = decode(req);
    s = spans_of(r, "orders", &n);
    assert_int_equal(s[0]->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_UNSPECIFIED);
    request_free(r);

    /* no span at all: still a well-formed request with its resource and scope */
    req = encode(NULL, 0, SERVICE, &b);
    r = decode(req);
    spans_of(r, "orders", &n);
    assert_int_equal(n, 0);
    request_free(r);
    base_buf_free(&b);
}

/* A batch appended to a buffer that holds something: those bytes are left alone, and the
 * request is the same as in an empty buffer. */
static void test_appends_to_buffer(void **state)
{
    (void)state;
    diag_span_t s;
    root_span(&s);
    base_buf_t b = BASE_BUF_INIT, alone = BASE_BUF_INIT;
    base_slice_t want = encode(&s, 1, SERVICE, &alone);
    assert_int_equal(base_buf_append(&b, "prefix", 6), 0);
    diag_span_otlp_encoder_t e = { 0 };
    base_slice_t req;
    assert_int_equal(diag_span_otlp_begin(&e, &b, SERVICE), 0);
    assert_int_equal(diag_span_otlp_add(&e, &s), 0);
    assert_int_equal(diag_span_otlp_end(&e, &req), 0);
    diag_span_otlp_free(&e);
    assert_memory_equal(b.base, "prefix", 6);
    assert_true(req.base >= b.base + 6 + 2);
    assert_ptr_equal(req.base + req.len, b.base + b.len);
    assert_int_equal(req.len, want.len);
    assert_memory_equal(req.base, want.base, want.len);
    base_buf_free(&b);
    base_buf_free(&alone);
}

/* What the encoder must send for arbitrary bytes: each NUL, and each byte that does not start a
 * valid UTF-8 sequence, as U+FFFD; everything else as is. */
static size_t repair(char *o, const unsigned char *p, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = 0;
        if (c >= 0x01 && c < 0x80)
            len = 1;
        else if (c >= 0xc2 && c <= 0xdf && i + 1 < n && (p[i + 1] & 0xc0) == 0x80)
            len = 2;
        else if (c == 0xe2 && i + 2 < n && (p[i + 1] & 0xc0) == 0x80 && (p[i + 2] & 0xc0) == 0x80)
            len = 3; /* the only 3-byte lead the test uses */
        if (len) {
            memcpy(o + w, p + i, len);
            w += len;
            i += len;
        } else {
            memcpy(o + w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
        }
    }
    o[w] = '\0';
    return w;
}

static void test_utf8_repair(void **state)
{
    (void)state;
    /* in the name, a key, a value, the status message and the service name */
    static const char bad[] = "a\x00" "b\xff" "c\xc3" "d\xe2\x82" "e\xed\xa0\x80" "f\xc0\xaf" "g\xf4\x90\x80\x80"
                              "h\xc3\xa9" "i\xe2\x82\xac" "j\xf0\x9f\x98\x80";
    static const char fixed[] = "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd" "d\xef\xbf\xbd\xef\xbf\xbd"
                                "e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "f\xef\xbf\xbd\xef\xbf\xbd"
                                "g\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "h\xc3\xa9" "i\xe2\x82\xac"
                                "j\xf0\x9f\x98\x80";
    base_slice_t in = base_slice(bad, sizeof bad - 1);
    diag_span_t s;
    diag_span_reset(&s);
    diag_span_set_name(&s, in);
    diag_span_add_attr(&s, in, in);
    diag_span_set_error(&s, in);
    base_buf_t b = BASE_BUF_INIT;
    base_slice_t req = encode(&s, 1, in, &b);
    request_t *r = decode(req);
    size_t n;
    pb_span_t **sp = spans_of(r, fixed, &n);
    assert_string_equal(sp[0]->name, fixed);
    assert_attr(sp[0]->attributes[0], fixed, fixed);
    assert_string_equal(sp[0]->status->message, fixed);
    request_free(r);

    /* every length up to 40, with a special byte at every position */
    static const unsigned char specials[] = { 0x00, 0x80, 0xff, 0xc3, 0xe2, '"', 0x7f };
    unsigned char text[40];
    char want[3 * sizeof text + 1];
    for (size_t len = 0; len <= sizeof text; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof specials; k++) {
                for (size_t i = 0; i < len; i++)
                    text[i] = (unsigned char)('A' + i % 26);
                if (at < len)
                    text[at] = specials[k];
                repair(want, text, len);
                diag_span_reset(&s);
                diag_span_set_name(&s, base_slice((const char *)text, len));
                req = encode(&s, 1, SERVICE, &b);
                r = decode(req);
                sp = spans_of(r, "orders", &n);
                assert_string_equal(sp[0]->name, want);
                request_free(r);
            }
        }
    }
    base_buf_free(&b);
}

/* Full records of invalid bytes (every text byte tripled), 16 attributes each, and a batch
 * large enough for 4-byte lengths in the framing; a long service name for 2-byte ones. */
static void test_worst_case(void **state)
{
    (void)state;
    enum { N = 2100 };
    diag_span_t *spans = calloc(N, sizeof *spans);
    assert_non_null(spans);
    char junk[DIAG_SPAN_TEXT_MAX];
    memset(junk, 0xff, sizeof junk);
    char key[8];
    for (size_t i = 0; i < N; i++) {
        diag_span_t *s = &spans[i];
        diag_span_reset(s);
        memcpy(s->trace_id, tid, 16);
        memcpy(s->span_id, sid, 8);
        memcpy(s->parent_span_id, pid, 8);
        s->has_parent = i & 1;
        s->kind = DIAG_SPAN_KIND_CLIENT;
        s->start_ns = UINT64_MAX - i;
        s->end_ns = UINT64_MAX;
        diag_span_set_name(s, base_slice(junk, 20));
        for (int k = 0; k < DIAG_SPAN_MAX_ATTRS; k++) {
            snprintf(key, sizeof key, "\xff%d", k);
            diag_span_add_attr(s, base_slice_cstr(key), base_slice(junk, 40));
        }
        diag_span_set_error(s, base_slice(junk, sizeof junk)); /* takes the rest of the text */
        assert_int_equal(s->text_len, DIAG_SPAN_TEXT_MAX);
    }
    char service[300];
    memset(service, 'x', sizeof service);
    service[7] = '\xff';
    base_buf_t b = BASE_BUF_INIT;
    base_slice_t req = encode(spans, N, base_slice(service, sizeof service), &b);
    assert_true(req.len > (1u << 21) + 1000); /* lengths of 4 bytes */
    request_t *r = decode(req);
    size_t n;
    char want_service[sizeof service + 3];
    memcpy(want_service, service, 7);
    memcpy(want_service + 7, "\xef\xbf\xbd", 3);
    memcpy(want_service + 10, service + 8, sizeof service - 8);
    want_service[sizeof want_service - 1] = '\0';
    pb_span_t **sp = spans_of(r, want_service, &n);
    assert_int_equal(n, N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(sp[i]->n_attributes, DIAG_SPAN_MAX_ATTRS);
        assert_int_equal(strlen(sp[i]->name), 60);
        assert_int_equal(sp[i]->parent_span_id.len, (i & 1) ? 8 : 0);
        assert_true(sp[i]->start_time_unix_nano == UINT64_MAX - i);
        assert_true(sp[i]->end_time_unix_nano == UINT64_MAX);
        assert_int_equal(strlen(sp[i]->status->message), 3 * spans[i].status_message.len);
    }
    request_free(r);
    base_buf_free(&b);
    free(spans);
}

/* ---- allocation failure ---- */

/* ---- the memo ---- */

/* Batches of spans whose attributes repeat, change and come back, with and without an error
 * status: with and without the memo, the same bytes, batch by batch, and canonical ones. */
static void test_memo_same_output(void **state)
{
    (void)state;
    enum { N = MEMO_SPANS };
    diag_span_t *spans = memo_spans();
    assert_non_null(spans);
    diag_span_otlp_encoder_t on = { 0 }, off = { 0 };
    diag_span_otlp_memo_off(&off);
    base_buf_t a = BASE_BUF_INIT, b = BASE_BUF_INIT;
    for (int batch = 0; batch < 3; batch++) { /* the memo lives across batches */
        base_slice_t ra, rb;
        a.len = b.len = 0;
        assert_int_equal(diag_span_otlp_begin(&on, &a, SERVICE), 0);
        assert_int_equal(diag_span_otlp_begin(&off, &b, SERVICE), 0);
        for (int i = 0; i < N; i++) {
            assert_int_equal(diag_span_otlp_add(&on, &spans[i]), 0);
            assert_int_equal(diag_span_otlp_add(&off, &spans[i]), 0);
        }
        assert_int_equal(diag_span_otlp_end(&on, &ra), 0);
        assert_int_equal(diag_span_otlp_end(&off, &rb), 0);
        assert_int_equal(ra.len, rb.len);
        assert_memory_equal(ra.base, rb.base, ra.len);
        request_free(decode(ra)); /* packs back to the same bytes */
    }
    assert_null(off.memo);
    assert_non_null(on.memo);
    span_memo_stats_t st;
    span_memo_stats(on.memo, &st);
    /* The key is the attributes alone (the status is packed on its own): B, E and F share
     * one. A, B, C and D are kept in the first batch; after that every span hits. */
    assert_int_equal(st.entries, 4);
    assert_true(st.hits >= 2 * N);
    diag_span_otlp_free(&on);
    diag_span_otlp_free(&off);
    base_buf_free(&a);
    base_buf_free(&b);
    free(spans);
}

/* A span with known keys (stored as numbers) encodes to the same bytes as one with the same
 * keys as text, with and without the memo. */
static void test_known_keys_same_output(void **state)
{
    (void)state;
    diag_span_t a, b;
    known_key_spans(&a, &b);
    base_buf_t x = BASE_BUF_INIT, y = BASE_BUF_INIT;
    diag_span_otlp_encoder_t ea = { 0 }, eb = { 0 };
    base_slice_t rx, ry;
    assert_int_equal(diag_span_otlp_begin(&ea, &x, SERVICE), 0);
    assert_int_equal(diag_span_otlp_begin(&eb, &y, SERVICE), 0);
    for (int i = 0; i < 4; i++) { /* the third and fourth come from the memo */
        assert_int_equal(diag_span_otlp_add(&ea, &a), 0);
        assert_int_equal(diag_span_otlp_add(&eb, &b), 0);
    }
    assert_int_equal(diag_span_otlp_end(&ea, &rx), 0);
    assert_int_equal(diag_span_otlp_end(&eb, &ry), 0);
    assert_int_equal(rx.len, ry.len);
    assert_memory_equal(rx.base, ry.base, rx.len);
    request_free(decode(ry));
    diag_span_otlp_free(&ea);
    diag_span_otlp_free(&eb);
    base_buf_free(&x);
    base_buf_free(&y);
}

static void test_allocation_failure(void **state)
{
    (void)state;
    base_allocator_t a = { failing_malloc, free };
    base_set_allocator(&a);
    diag_span_t s;
    root_span(&s);
    base_buf_t b = BASE_BUF_INIT;
    diag_span_otlp_encoder_t e = { 0 };
    fail_alloc = 1;
    assert_int_equal(diag_span_otlp_begin(&e, &b, SERVICE), -1);
    assert_int_equal(b.len, 0);
    fail_alloc = 0;
    assert_int_equal(diag_span_otlp_begin(&e, &b, SERVICE), 0);
    /* spans go in while the buffer has room; the first that needs it to grow fails cleanly */
    fail_alloc = 1;
    size_t len = b.len, count = e.count;
    int rc;
    for (int i = 0; i < 100000 && (rc = diag_span_otlp_add(&e, &s)) == 0; i++) {
        len = b.len;
        count = e.count;
    }
    assert_int_equal(rc, -1);
    assert_int_equal(b.len, len);
    assert_int_equal(e.count, count);
    fail_alloc = 0;
    assert_int_equal(diag_span_otlp_add(&e, &s), 0);
    base_slice_t req;
    assert_int_equal(diag_span_otlp_end(&e, &req), 0);
    diag_span_otlp_free(&e);
    request_t *r = decode(req);
    size_t n;
    spans_of(r, "orders", &n);
    assert_int_equal(n, count + 1);
    request_free(r);
    base_buf_free(&b);
    base_set_allocator(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_appends_to_buffer),
        cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_worst_case),
        cmocka_unit_test(test_memo_same_output),
        cmocka_unit_test(test_known_keys_same_output),
        cmocka_unit_test(test_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
