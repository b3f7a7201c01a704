/* The sans-I/O gRPC pieces: framing and deframing, grpc-timeout, grpc-message
 * percent-encoding and the status mappings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rpc/rpc.h"
#include "wire.h"

typedef struct got {
    int count;
    char msgs[16][64];
    size_t lens[16];
    int stop_after;
} got_t;

static int on_msg(void *arg, base_slice_t m)
{
    got_t *g = arg;
    if (g->count < 16) {
        memcpy(g->msgs[g->count], m.base, BASE_MIN(m.len, 63));
        g->lens[g->count] = m.len;
    }
    g->count++;
    return g->stop_after && g->count >= g->stop_after;
}

static size_t frame(char *out, const char *msg, size_t len)
{
    rpc_frame_header((uint8_t *)out, (uint32_t)len);
    memcpy(out + 5, msg, len);
    return len + 5;
}

static void test_frame_header(void **state)
{
    (void)state;
    uint8_t h[5];
    rpc_frame_header(h, 0x01020304);
    assert_int_equal(h[0], 0);
    assert_int_equal(h[1], 1);
    assert_int_equal(h[4], 4);
}

static void test_deframe_whole_and_split(void **state)
{
    (void)state;
    char buf[256];
    size_t n = frame(buf, "hello", 5);
    n += frame(buf + n, "", 0);
    n += frame(buf + n, "world!", 6);
    /* every split point, byte by byte and in two halves */
    for (size_t cut = 0; cut <= n; cut++) {
        rpc_deframer_t d;
        rpc_deframer_init(&d, 1024);
        got_t g = { 0 };
        size_t used;
        assert_int_equal(rpc_deframer_feed(&d, buf, cut, &used, on_msg, &g), RPC_DEFRAME_OK);
        assert_int_equal(used, cut);
        assert_int_equal(rpc_deframer_feed(&d, buf + cut, n - cut, &used, on_msg, &g), RPC_DEFRAME_OK);
        assert_int_equal(g.count, 3);
        assert_string_equal(g.msgs[0], "hello");
        assert_int_equal(g.lens[1], 0);
        assert_string_equal(g.msgs[2], "world!");
        assert_false(rpc_deframer_partial(&d));
        rpc_deframer_free(&d);
    }
    rpc_deframer_t d;
    rpc_deframer_init(&d, 1024);
    got_t g = { 0 };
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rpc_deframer_feed(&d, buf + i, 1, NULL, on_msg, &g), RPC_DEFRAME_OK);
    assert_int_equal(g.count, 3);
    assert_string_equal(g.msgs[2], "world!");
    rpc_deframer_free(&d);
}

static void test_deframe_partial_and_stop(void **state)
{
    (void)state;
    char buf[64];
    size_t n = frame(buf, "abc", 3);
    n += frame(buf + n, "def", 3);
    rpc_deframer_t d;
    rpc_deframer_init(&d, 1024);
    got_t g = { .stop_after = 1 };
    size_t used;
    assert_int_equal(rpc_deframer_feed(&d, buf, n, &used, on_msg, &g), RPC_DEFRAME_STOPPED);
    assert_int_equal(used, 8);
    g.stop_after = 0;
    assert_int_equal(rpc_deframer_feed(&d, buf + used, 4, &used, on_msg, &g), RPC_DEFRAME_OK);
    assert_true(rpc_deframer_partial(&d));
    rpc_deframer_free(&d);
}

static void test_deframe_errors(void **state)
{
    (void)state;
    rpc_deframer_t d;
    got_t g = { 0 };
    uint8_t big[5];
    rpc_frame_header(big, 1025);
    rpc_deframer_init(&d, 1024);
    assert_int_equal(rpc_deframer_feed(&d, (char *)big, 5, NULL, on_msg, &g), RPC_DEFRAME_TOO_LARGE);
    rpc_deframer_free(&d);
    /* exactly at the limit is fine */
    char *msg = calloc(1, 1024 + 5);
    frame(msg, msg + 5, 1024);
    rpc_deframer_init(&d, 1024);
    assert_int_equal(rpc_deframer_feed(&d, msg, 1029, NULL, on_msg, &g), RPC_DEFRAME_OK);
    assert_int_equal(g.count, 1);
    rpc_deframer_free(&d);
    free(msg);
    uint8_t comp[6] = { 1, 0, 0, 0, 1, 'x' };
    rpc_deframer_init(&d, 1024);
    assert_int_equal(rpc_deframer_feed(&d, (char *)comp, 6, NULL, on_msg, &g), RPC_DEFRAME_COMPRESSED);
    rpc_deframer_free(&d);
    comp[0] = 7;
    rpc_deframer_init(&d, 1024);
    assert_int_equal(rpc_deframer_feed(&d, (char *)comp, 6, NULL, on_msg, &g), RPC_DEFRAME_BAD_FLAG);
    rpc_deframer_free(&d);
    /* a huge declared length with max 4 GiB-1 never allocates up front */
    uint8_t huge[6] = { 0, 0xff, 0xff, 0xff, 0xff, 'x' };
    rpc_deframer_init(&d, UINT32_MAX);
    assert_int_equal(rpc_deframer_feed(&d, (char *)huge, 6, NULL, on_msg, &g), RPC_DEFRAME_OK);
    assert_true(d.msg.cap < 4096);
    rpc_deframer_free(&d);
}

static int64_t tp(const char *s)
{
    return rpc_timeout_parse(base_slice_cstr(s));
}

static void test_timeout_parse(void **state)
{
    (void)state;
    assert_int_equal(tp("1500m"), 1500);
    assert_int_equal(tp("2S"), 2000);
    assert_int_equal(tp("3M"), 180000);
    assert_int_equal(tp("1H"), 3600000);
    assert_int_equal(tp("1500u"), 2);
    assert_int_equal(tp("1n"), 1);
    assert_int_equal(tp("0m"), 0);
    assert_int_equal(tp("99999999S"), 99999999000LL);
    assert_int_equal(tp("123456789S"), -1); /* 9 digits */
    assert_int_equal(tp("m"), -1);
    assert_int_equal(tp("10"), -1);
    assert_int_equal(tp("10x"), -1);
    assert_int_equal(tp("1 m"), -1);
    assert_int_equal(tp("-1m"), -1);
    assert_int_equal(tp(""), -1);
}

static void test_timeout_format(void **state)
{
    (void)state;
    char b[16];
    size_t n = rpc_timeout_format(1500, b);
    assert_int_equal(n, 5);
    assert_string_equal(b, "1500m");
    rpc_timeout_format(99999999, b);
    assert_string_equal(b, "99999999m");
    rpc_timeout_format(100000000, b);
    assert_string_equal(b, "100000S");
    rpc_timeout_format(100000001, b);
    assert_string_equal(b, "100001S"); /* rounded up */
    rpc_timeout_format(UINT64_MAX / 2, b);
    assert_true(strlen(b) <= 9);
    assert_true(tp(b) > 0);
}

static void test_percent(void **state)
{
    (void)state;
    base_buf_t b = BASE_BUF_INIT;
    const char raw[] = "bad: 100% \xc3\xbcnicode\n\ttab~";
    assert_int_equal(rpc_percent_encode(&b, base_slice(raw, sizeof(raw) - 1)), 0);
    assert_int_equal(b.len, strlen("bad: 100%25 %C3%BCnicode%0A%09tab~"));
    assert_memory_equal(b.base, "bad: 100%25 %C3%BCnicode%0A%09tab~", b.len);
    char out[64];
    size_t n = rpc_percent_decode(base_buf_slice(&b), out);
    assert_int_equal(n, sizeof(raw) - 1);
    assert_memory_equal(out, raw, n);
    base_buf_free(&b);
    /* lenient decoding: invalid escapes stay as they are */
    n = rpc_percent_decode(BASE_SLICE_LIT("50%% %zz %4"), out);
    assert_memory_equal(out, "50%% %zz %4", n);
    n = rpc_percent_decode(BASE_SLICE_LIT("%41%62"), out);
    assert_memory_equal(out, "Ab", n);
    assert_int_equal(n, 2);
}

static void test_status(void **state)
{
    (void)state;
    assert_string_equal(rpc_status_name(0), "OK");
    assert_string_equal(rpc_status_name(16), "UNAUTHENTICATED");
    assert_string_equal(rpc_status_name(17), "UNKNOWN");
    assert_string_equal(rpc_status_name(-1), "UNKNOWN");
    assert_int_equal(rpc_status_from_http(400), RPC_INTERNAL);
    assert_int_equal(rpc_status_from_http(401), RPC_UNAUTHENTICATED);
    assert_int_equal(rpc_status_from_http(403), RPC_PERMISSION_DENIED);
    assert_int_equal(rpc_status_from_http(404), RPC_UNIMPLEMENTED);
    assert_int_equal(rpc_status_from_http(429), RPC_UNAVAILABLE);
    assert_int_equal(rpc_status_from_http(502), RPC_UNAVAILABLE);
    assert_int_equal(rpc_status_from_http(503), RPC_UNAVAILABLE);
    assert_int_equal(rpc_status_from_http(504), RPC_UNAVAILABLE);
    assert_int_equal(rpc_status_from_http(500), RPC_UNKNOWN);
    assert_int_equal(rpc_status_from_http(415), RPC_UNKNOWN);
    assert_int_equal(rpc_status_from_h2_error(0x7), RPC_UNAVAILABLE);
    assert_int_equal(rpc_status_from_h2_error(0x8), RPC_CANCELLED);
    assert_int_equal(rpc_status_from_h2_error(0xb), RPC_RESOURCE_EXHAUSTED);
    assert_int_equal(rpc_status_from_h2_error(0xc), RPC_PERMISSION_DENIED);
    assert_int_equal(rpc_status_from_h2_error(0x0), RPC_INTERNAL);
    assert_int_equal(rpc_status_from_h2_error(0x2), RPC_INTERNAL);
    assert_int_equal(rpc_status_parse(BASE_SLICE_LIT("0")), 0);
    assert_int_equal(rpc_status_parse(BASE_SLICE_LIT("14")), 14);
    assert_int_equal(rpc_status_parse(BASE_SLICE_LIT("")), -1);
    assert_int_equal(rpc_status_parse(BASE_SLICE_LIT("1x")), -1);
    assert_int_equal(rpc_status_parse(BASE_SLICE_LIT("100")), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_header),
        cmocka_unit_test(test_deframe_whole_and_split),
        cmocka_unit_test(test_deframe_partial_and_stop),
        cmocka_unit_test(test_deframe_errors),
        cmocka_unit_test(test_timeout_parse),
        cmocka_unit_test(test_timeout_format),
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
