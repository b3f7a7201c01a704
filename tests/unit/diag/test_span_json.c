/* test_span_json.c - the Zipkin v2 JSON encoder (cJSON trees printed into the caller's
 * buffer), checked byte for byte and by parsing its output back with cJSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "base/pool.h"
#include "diag/span_json.h"

#include "span_fixture.h"
#include "span_memo.h"


static char *encode(const diag_span_t *spans, size_t n, base_buf_t *b)
{
    diag_span_encoder_t e = { 0 };
    b->len = 0;
    assert_int_equal(diag_span_encode_begin(&e, b, SERVICE), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(diag_span_encode_add(&e, &spans[i]), 0);
    assert_int_equal(diag_span_encode_end(&e), 0);
    diag_span_encode_free(&e);
    assert_int_equal(base_buf_append(b, "", 1), 0); /* NUL for the parser */
    b->len--;
    return b->base;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_non_null(v);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_non_null(v);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static int count_key(const cJSON *o, const char *key)
{
    int n = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        n += strcmp(c->string, key) == 0;
    return n;
}

/* ---- Zipkin ---- */

static void test_zipkin_exact(void **state)
{
    (void)state;
    diag_span_t s;
    root_span(&s);
    base_buf_t b = BASE_BUF_INIT;
    const char *want = "[{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"id\":\"00f067aa0ba902b7\","
                       "\"name\":\"/v1.0/metadata\",\"kind\":\"SERVER\",\"timestamp\":1700000000123457,"
                       "\"duration\":2500,\"localEndpoint\":{\"serviceName\":\"orders\"},"
                       "\"tags\":{\"http.request.method\":\"GET\",\"dapr.api\":\"GET /v1.0/metadata\","
                       "\"otel.library.name\":\"dapr-diagnostics\",\"service.name\":\"orders\"}}]";
    assert_string_equal(encode(&s, 1, &b), want);
    base_buf_free(&b);
}

static void test_zipkin_fields(void **state)
{
    (void)state;
    diag_span_t spans[2];
    root_span(&spans[0]);
    child_span(&spans[1]);
    base_buf_t b = BASE_BUF_INIT;
    cJSON *arr = cJSON_Parse(encode(spans, 2, &b));
    assert_non_null(arr);
    assert_true(cJSON_IsArray(arr));
    assert_int_equal(cJSON_GetArraySize(arr), 2);

    const cJSON *a = cJSON_GetArrayItem(arr, 0);
    assert_string_equal(str_of(a, "traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(str_of(a, "id"), "00f067aa0ba902b7");
    assert_null(cJSON_GetObjectItemCaseSensitive(a, "parentId"));
    assert_string_equal(str_of(a, "name"), "/v1.0/metadata");
    assert_string_equal(str_of(a, "kind"), "SERVER");
    assert_true(num_of(a, "timestamp") == 1700000000123457.0);
    assert_true(num_of(a, "duration") == 2500.0);
    assert_string_equal(str_of(cJSON_GetObjectItemCaseSensitive(a, "localEndpoint"), "serviceName"), "orders");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a, "tags");
    assert_int_equal(cJSON_GetArraySize(tags), 4);
    assert_string_equal(str_of(tags, "http.request.method"), "GET");
    assert_string_equal(str_of(tags, "dapr.api"), "GET /v1.0/metadata");
    assert_null(cJSON_GetObjectItemCaseSensitive(tags, "error"));
    assert_null(cJSON_GetObjectItemCaseSensitive(tags, "otel.status_code"));

    const cJSON *c = cJSON_GetArrayItem(arr, 1);
    assert_string_equal(str_of(c, "traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(str_of(c, "id"), "1122334455667788");
    assert_string_equal(str_of(c, "parentId"), "00f067aa0ba902b7");
    assert_string_equal(str_of(c, "kind"), "CLIENT");
    assert_true(num_of(c, "timestamp") == 1700000000123458.0); /* ...457.788 µs rounded */
    assert_true(num_of(c, "duration") == 1.0);                 /* 400 ns: at least 1 */
    tags = cJSON_GetObjectItemCaseSensitive(c, "tags");
    assert_string_equal(str_of(tags, "rpc.system"), "grpc");
    assert_string_equal(str_of(tags, "otel.status_code"), "ERROR");
    assert_string_equal(str_of(tags, "error"), "connection refused");
    assert_string_equal(str_of(tags, "otel.library.name"), "dapr-diagnostics");
    assert_string_equal(str_of(tags, "service.name"), "orders");
    cJSON_Delete(arr);

    /* no spans: an empty array */
    arr = cJSON_Parse(encode(NULL, 0, &b));
    assert_int_equal(cJSON_GetArraySize(arr), 0);
    cJSON_Delete(arr);
    base_buf_free(&b);
}

static void test_zipkin_shadowed_tags(void **state)
{
    (void)state;
    diag_span_t s;
    root_span(&s);
    s.kind = DIAG_SPAN_KIND_INTERNAL;
    s.end_ns = s.start_ns - 5; /* a clock step backwards */
    diag_span_add_attr(&s, BASE_SLICE_LIT("service.name"), BASE_SLICE_LIT("evil"));
    diag_span_add_attr(&s, BASE_SLICE_LIT("error"), BASE_SLICE_LIT("stale"));
    diag_span_add_attr(&s, BASE_SLICE_LIT("otel.status_code"), BASE_SLICE_LIT("OK"));
    diag_span_add_attr(&s, BASE_SLICE_LIT("otel.library.name"), BASE_SLICE_LIT("x"));
    base_buf_t b = BASE_BUF_INIT;
    cJSON *arr = cJSON_Parse(encode(&s, 1, &b));
    const cJSON *a = cJSON_GetArrayItem(arr, 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(a, "kind")); /* internal: no Zipkin kind */
    assert_true(num_of(a, "duration") == 1.0);
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a, "tags");
    assert_int_equal(count_key(tags, "service.name"), 1);
    assert_string_equal(str_of(tags, "service.name"), "orders");
    assert_int_equal(count_key(tags, "otel.library.name"), 1);
    assert_string_equal(str_of(tags, "otel.library.name"), "dapr-diagnostics");
    assert_null(cJSON_GetObjectItemCaseSensitive(tags, "error")); /* removed without an error */
    assert_string_equal(str_of(tags, "otel.status_code"), "OK");  /* kept: status unset */
    cJSON_Delete(arr);

    /* with an error status, ours replace the attributes */
    diag_span_set_error(&s, BASE_SLICE_LIT("bad"));
    arr = cJSON_Parse(encode(&s, 1, &b));
    tags = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 0), "tags");
    assert_int_equal(count_key(tags, "otel.status_code"), 1);
    assert_string_equal(str_of(tags, "otel.status_code"), "ERROR");
    assert_int_equal(count_key(tags, "error"), 1);
    assert_string_equal(str_of(tags, "error"), "bad");
    cJSON_Delete(arr);
    base_buf_free(&b);
}

static void test_zipkin_object(void **state)
{
    (void)state;
    diag_span_t s;
    child_span(&s);
    base_buf_t b = BASE_BUF_INIT;
    assert_int_equal(diag_span_encode_zipkin_object(&b, &s, SERVICE), 0);
    assert_int_equal(b.base[b.len], '\0');
    assert_int_equal(strlen(b.base), b.len);
    assert_int_equal(b.base[0], '{');
    cJSON *o = cJSON_Parse(b.base);
    assert_non_null(o);
    assert_string_equal(str_of(o, "parentId"), "00f067aa0ba902b7");
    cJSON_Delete(o);
    base_buf_free(&b);
}

/* ---- escaping ---- */

static void test_escaping(void **state)
{
    (void)state;
    /* controls, quotes, backslash; valid 2-, 3- and 4-byte characters; then invalid bytes:
     * a stray continuation, 0xff, an overlong '/', a surrogate, a sequence cut at the end */
    static const char raw[] = "a\"b\\c\n\r\t\b\f\x01\x1f"
                              "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                              "\x80\xff\xc0\xaf\xed\xa0\x80\xe2\x82";
    static const char want[] = "a\"b\\c\n\r\t\b\f\x01\x1f"
                               "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                               "\xef\xbf\xbd\xef\xbf\xbd";
    diag_span_t s;
    root_span(&s);
    diag_span_set_name(&s, base_slice(raw, sizeof raw - 1));
    diag_span_add_attr(&s, base_slice(raw, sizeof raw - 1), base_slice(raw, sizeof raw - 1));
    base_buf_t b = BASE_BUF_INIT;
    const char *out = encode(&s, 1, &b);
    assert_non_null(strstr(out, "\\u0001\\u001f"));
    assert_non_null(strstr(out, "\\n\\r\\t\\b\\f"));
    for (size_t i = 0; i < b.len; i++)
        assert_true((unsigned char)out[i] >= 0x20);
    cJSON *arr = cJSON_Parse(out);
    assert_non_null(arr);
    const cJSON *a = cJSON_GetArrayItem(arr, 0);
    assert_string_equal(str_of(a, "name"), want);
    assert_string_equal(str_of(cJSON_GetObjectItemCaseSensitive(a, "tags"), want), want);
    cJSON_Delete(arr);

    /* the service name is escaped and repaired too */
    static const char svc[] = "a\"b\xff", fixed[] = "a\"b\xef\xbf\xbd";
    b.len = 0;
    assert_int_equal(diag_span_encode_zipkin_object(&b, &s, base_slice(svc, sizeof svc - 1)), 0);
    arr = cJSON_Parse(b.base);
    assert_non_null(arr);
    assert_string_equal(str_of(cJSON_GetObjectItemCaseSensitive(arr, "localEndpoint"), "serviceName"), fixed);
    assert_string_equal(str_of(cJSON_GetObjectItemCaseSensitive(arr, "tags"), "service.name"), fixed);
    cJSON_Delete(arr);
    base_buf_free(&b);
}

/* A NUL byte, which a C string cannot carry, becomes U+FFFD; the text around it is kept. */
static void test_nul_byte(void **state)
{
    (void)state;
    static const char raw[] = "ab\0cd\0\0efghijklmnop\0";
    static const char want[] = "ab\xef\xbf\xbd" "cd\xef\xbf\xbd\xef\xbf\xbd" "efghijklmnop\xef\xbf\xbd";
    diag_span_t s;
    root_span(&s);
    diag_span_reset(&s);
    diag_span_set_name(&s, base_slice(raw, sizeof raw - 1));
    diag_span_add_attr(&s, BASE_SLICE_LIT("k"), base_slice(raw, 3)); /* "ab" and a NUL */
    base_buf_t b = BASE_BUF_INIT;
    cJSON *root = cJSON_Parse(encode(&s, 1, &b));
    assert_non_null(root);
    const cJSON *sp = cJSON_GetArrayItem(root, 0);
    assert_string_equal(str_of(cJSON_GetObjectItemCaseSensitive(sp, "tags"), "k"), "ab\xef\xbf\xbd");
    assert_string_equal(str_of(sp, "name"), want);
    cJSON_Delete(root);
    base_buf_free(&b);
}

/* The word-at-a-time paths: every length from 0 to 40 with one special byte (or none) at every
 * position, against the expected decoded text. */
static void test_every_length_and_position(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } specials[] = { { "\"", "\"" }, { "\\", "\\" }, { "\x01", "\x01" }, { "\x7f", "\x7f" },
                     { "\xc3\xa9", "\xc3\xa9" }, { "\xff", "\xef\xbf\xbd" }, { "\x1f", "\x1f" }, { " ", " " } };
    base_buf_t b = BASE_BUF_INIT;
    for (size_t len = 0; len <= 40; len++) {
        for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
            for (size_t pos = 0; pos <= len; pos++) { /* pos == len: none */
                char in[64], want[64];
                size_t ni = 0, nw = 0;
                for (size_t i = 0; i < len; i++) {
                    if (i == pos) {
                        memcpy(in + ni, specials[k].in, strlen(specials[k].in));
                        ni += strlen(specials[k].in);
                        memcpy(want + nw, specials[k].out, strlen(specials[k].out));
                        nw += strlen(specials[k].out);
                    } else {
                        in[ni++] = want[nw++] = (char)('a' + i % 26);
                    }
                }
                want[nw] = '\0';
                diag_span_t s;
                root_span(&s);
                diag_span_reset(&s);
                diag_span_set_name(&s, base_slice(in, ni));
                b.len = 0;
                assert_int_equal(diag_span_encode_zipkin_object(&b, &s, SERVICE), 0);
                cJSON *o = cJSON_Parse(b.base);
                if (!o)
                    fail_msg("len %zu special %zu pos %zu: invalid JSON %s", len, k, pos, b.base);
                assert_string_equal(str_of(o, "name"), want);
                cJSON_Delete(o);
            }
        }
    }
    base_buf_free(&b);
}

/* Every byte value in every field, full text buffers, a batch of 512: always valid JSON. */
static void test_worst_case(void **state)
{
    (void)state;
    static diag_span_t spans[512];
    for (size_t k = 0; k < 512; k++) {
        diag_span_t *s = &spans[k];
        root_span(s);
        diag_span_reset(s);
        s->has_parent = 1;
        char junk[DIAG_SPAN_TEXT_MAX];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (char)((i * 31 + k) & 0xff);
        diag_span_set_name(s, base_slice(junk, 40));
        for (int i = 0; i < DIAG_SPAN_MAX_ATTRS; i++) {
            char key[2] = { (char)('A' + i), 0 };
            diag_span_add_attr(s, base_slice(key, 1), base_slice(junk + i, 60));
        }
        diag_span_set_error(s, base_slice(junk, sizeof junk));
        assert_true(s->text_len >= DIAG_SPAN_TEXT_MAX - 3);
    }
    base_buf_t b = BASE_BUF_INIT;
    cJSON *root = cJSON_Parse(encode(spans, 512, &b));
    assert_non_null(root);
    cJSON_Delete(root);

    /* The bounds: every byte a control (printed as six), or every byte invalid (three in the
     * scratch), in full text buffers and a long service name, each span alone in a fresh
     * buffer (the debug build checks the node count and the scratch end). */
    for (int fill = 0; fill < 2; fill++) {
        char junk[DIAG_SPAN_TEXT_MAX], svc[300];
        memset(junk, fill ? 0xff : 0x01, sizeof junk);
        memset(svc, fill ? 0xff : 0x01, sizeof svc);
        diag_span_t *s = &spans[0];
        diag_span_reset(s);
        s->has_parent = 1;
        s->kind = DIAG_SPAN_KIND_CLIENT;
        s->start_ns = UINT64_MAX;
        s->end_ns = UINT64_MAX;
        diag_span_set_name(s, base_slice(junk, 40));
        for (int i = 0; i < DIAG_SPAN_MAX_ATTRS; i++) {
            char key[2] = { (char)('A' + i), 0 };
            diag_span_add_attr(s, base_slice(key, 1), base_slice(junk, 50));
        }
        diag_span_set_error(s, base_slice(junk, sizeof junk));
        assert_int_equal(s->attr_count, DIAG_SPAN_MAX_ATTRS);
        for (int f = 0; f < 2; f++) {
            base_buf_free(&b);
            diag_span_encoder_t e = { 0 };
            base_slice_t service = base_slice(svc, sizeof svc);
            if (f == 1) {
                assert_int_equal(diag_span_encode_zipkin_object(&b, s, service), 0);
            } else {
                assert_int_equal(diag_span_encode_begin(&e, &b, service), 0);
                assert_int_equal(diag_span_encode_add(&e, s), 0);
                assert_int_equal(diag_span_encode_end(&e), 0);
                diag_span_encode_free(&e);
                assert_int_equal(base_buf_append(&b, "", 1), 0);
            }
            root = cJSON_Parse(b.base);
            assert_non_null(root);
            cJSON_Delete(root);
        }
    }
    base_buf_free(&b);
}

/* ---- allocation failure ---- */

/* ---- the memo ---- */

/* Batches of spans whose tags repeat, change, fail and come back: with and without the memo,
 * the same bytes, batch by batch. */
static void test_memo_same_output(void **state)
{
    (void)state;
    enum { N = MEMO_SPANS };
    diag_span_t *spans = memo_spans();
    assert_non_null(spans);
    diag_span_encoder_t on = { 0 }, off = { 0 };
    diag_span_encode_memo_off(&off);
    base_buf_t a = BASE_BUF_INIT, b = BASE_BUF_INIT;
    for (int batch = 0; batch < 3; batch++) { /* the memo lives across batches */
        a.len = b.len = 0;
        assert_int_equal(diag_span_encode_begin(&on, &a, SERVICE), 0);
        assert_int_equal(diag_span_encode_begin(&off, &b, SERVICE), 0);
        for (int i = 0; i < N; i++) {
            assert_int_equal(diag_span_encode_add(&on, &spans[i]), 0);
            assert_int_equal(diag_span_encode_add(&off, &spans[i]), 0);
        }
        assert_int_equal(diag_span_encode_end(&on), 0);
        assert_int_equal(diag_span_encode_end(&off), 0);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.base, b.base, a.len);
    }
    assert_null(off.memo);
    assert_non_null(on.memo);
    span_memo_stats_t st;
    span_memo_stats(on.memo, &st);
    /* The tags of A, B, C, D and F kept in the first batch (each missed twice in a row in its
     * set), E's (missed once there) in the second; after that every span hits */
    assert_int_equal(st.entries, 6);
    assert_true(st.hits >= 2 * N);
    assert_true(st.bytes <= SPAN_MEMO_BUDGET);
    /* another service name is another key: the memo's tags carry service.name */
    a.len = b.len = 0;
    assert_int_equal(diag_span_encode_begin(&on, &a, BASE_SLICE_LIT("billing")), 0);
    assert_int_equal(diag_span_encode_begin(&off, &b, BASE_SLICE_LIT("billing")), 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(diag_span_encode_add(&on, &spans[0]), 0);
        assert_int_equal(diag_span_encode_add(&off, &spans[0]), 0);
    }
    assert_int_equal(diag_span_encode_end(&on), 0);
    assert_int_equal(diag_span_encode_end(&off), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.base, b.base, a.len);
    diag_span_encode_free(&on);
    diag_span_encode_free(&off);
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
    diag_span_encoder_t ea = { 0 }, eb = { 0 };
    assert_int_equal(diag_span_encode_begin(&ea, &x, SERVICE), 0);
    assert_int_equal(diag_span_encode_begin(&eb, &y, SERVICE), 0);
    for (int i = 0; i < 4; i++) { /* the third and fourth come from the memo */
        assert_int_equal(diag_span_encode_add(&ea, &a), 0);
        assert_int_equal(diag_span_encode_add(&eb, &b), 0);
    }
    assert_int_equal(diag_span_encode_end(&ea), 0);
    assert_int_equal(diag_span_encode_end(&eb), 0);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.base, y.base, x.len);
    assert_int_equal(base_buf_append(&x, "", 1), 0); /* NUL for strstr() */
    assert_non_null(strstr(x.base, "\"server.port\":\"5123\""));
    diag_span_encode_free(&ea);
    diag_span_encode_free(&eb);
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
    diag_span_encoder_t e = { 0 };
    fail_alloc = 1;
    assert_int_equal(diag_span_encode_begin(&e, &b, SERVICE), -1);
    assert_int_equal(b.len, 0);
    fail_alloc = 0;
    assert_int_equal(diag_span_encode_begin(&e, &b, SERVICE), 0);
    size_t len = b.len;
    fail_alloc = 1;
    assert_int_equal(diag_span_encode_add(&e, &s), -1);
    assert_int_equal(b.len, len);
    assert_int_equal(e.count, 0);
    assert_int_equal(diag_span_encode_zipkin_object(&b, &s, SERVICE), -1);
    assert_int_equal(b.len, len);
    fail_alloc = 0;
    assert_int_equal(diag_span_encode_add(&e, &s), 0);
    assert_int_equal(diag_span_encode_end(&e), 0);
    diag_span_encode_free(&e);
    base_buf_free(&b);
    base_set_allocator(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zipkin_exact),
        cmocka_unit_test(test_zipkin_fields),
        cmocka_unit_test(test_zipkin_shadowed_tags),
        cmocka_unit_test(test_zipkin_object),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_every_length_and_position),
        cmocka_unit_test(test_worst_case),
        cmocka_unit_test(test_memo_same_output),
        cmocka_unit_test(test_known_keys_same_output),
        cmocka_unit_test(test_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
