/* test_trace.c - W3C traceparent parsing/formatting and diag_trace_start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "diag/trace.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"
#define VALID "00-" TID "-" SID "-01"

static int parse(const char *s, uint8_t tid[16], uint8_t sid[8], uint8_t *flags)
{
    return diag_traceparent_parse(base_slice_cstr(s), tid, sid, flags);
}

static int parse_ok(const char *s)
{
    uint8_t tid[16], sid[8], fl;
    return parse(s, tid, sid, &fl) == 0;
}

static void test_parse_valid(void **state)
{
    (void)state;
    uint8_t tid[16], sid[8], fl = 0xaa;
    assert_int_equal(parse(VALID, tid, sid, &fl), 0);
    assert_int_equal(tid[0], 0x4b);
    assert_int_equal(tid[15], 0x36);
    assert_int_equal(sid[0], 0x00);
    assert_int_equal(sid[1], 0xf0);
    assert_int_equal(sid[7], 0xb7);
    assert_int_equal(fl, 0x01);
    assert_true(parse_ok("00-" TID "-" SID "-00"));
}

static void test_parse_uppercase_rejected(void **state)
{
    (void)state;
    assert_false(parse_ok("00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01"));
    assert_false(parse_ok("00-" TID "-00F067AA0BA902B7-01"));
    assert_false(parse_ok("00-" TID "-" SID "-0A"));
    assert_true(parse_ok("00-" TID "-" SID "-0a"));
}

static void test_parse_wrong_lengths(void **state)
{
    (void)state;
    assert_false(parse_ok(""));
    assert_false(parse_ok("00-" TID "-" SID "-1"));                 /* 54 */
    assert_false(parse_ok("00-" TID "-" SID "-01 "));               /* 56 */
    assert_false(parse_ok("00-" TID "-" SID "-01-"));               /* v00 takes no suffix */
    assert_false(parse_ok("00-4bf92f3577b34da6a3ce929d0e0e473-" SID "-011")); /* short trace id */
    assert_false(parse_ok("00-" TID "-00f067aa0ba902b-011"));       /* short span id */
    assert_false(parse_ok("00_" TID "-" SID "-01"));                /* separators */
    assert_false(parse_ok("00-" TID "_" SID "-01"));
    assert_false(parse_ok("00-" TID "-" SID "_01"));
    assert_false(diag_traceparent_parse(BASE_SLICE_NULL, NULL, NULL, NULL) == 0);
}

static void test_parse_version_ff_and_bad_version(void **state)
{
    (void)state;
    assert_false(parse_ok("ff-" TID "-" SID "-01"));
    assert_false(parse_ok("0g-" TID "-" SID "-01"));
    assert_false(parse_ok("FE-" TID "-" SID "-01"));
}

static void test_parse_all_zero_ids(void **state)
{
    (void)state;
    assert_false(parse_ok("00-00000000000000000000000000000000-" SID "-01"));
    assert_false(parse_ok("00-" TID "-0000000000000000-01"));
}

static void test_parse_future_version(void **state)
{
    (void)state;
    uint8_t tid[16], sid[8], fl;
    assert_int_equal(parse("cc-" TID "-" SID "-01-what-the-future-will-be-like", tid, sid, &fl), 0);
    assert_int_equal(fl, 0x01);
    assert_int_equal(tid[0], 0x4b);
    assert_true(parse_ok("01-" TID "-" SID "-01"));          /* exactly 55 */
    assert_false(parse_ok("cc-" TID "-" SID "-01.suffix"));  /* 56th must be '-' */
    assert_false(parse_ok("cc-" TID "-" SID "-0"));          /* too short still */
}

static void test_format_round_trip(void **state)
{
    (void)state;
    uint8_t tid[16], sid[8], fl, tid2[16], sid2[8], fl2;
    char out[DIAG_TRACEPARENT_LEN + 1];
    assert_int_equal(parse(VALID, tid, sid, &fl), 0);
    memset(out, 'x', sizeof out);
    diag_traceparent_format(tid, sid, fl, out);
    assert_string_equal(out, VALID);
    assert_int_equal(strlen(out), DIAG_TRACEPARENT_LEN);

    diag_random_bytes(tid, 16);
    diag_random_bytes(sid, 8);
    diag_traceparent_format(tid, sid, 0x00, out);
    assert_int_equal(parse(out, tid2, sid2, &fl2), 0);
    assert_memory_equal(tid, tid2, 16);
    assert_memory_equal(sid, sid2, 8);
    assert_int_equal(fl2, 0);
}

static int is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void test_random_bytes_nonzero_and_distinct(void **state)
{
    (void)state;
    uint8_t a[8], b[8], one;
    diag_random_bytes(a, sizeof a);
    diag_random_bytes(b, sizeof b);
    assert_false(is_zero(a, 8));
    assert_memory_not_equal(a, b, 8);
    /* One byte is zero 1/256 of the time; the redraw must hide that every time. */
    for (int i = 0; i < 5000; i++) {
        diag_random_bytes(&one, 1);
        assert_int_not_equal(one, 0);
    }
}

static void test_start_continues(void **state)
{
    (void)state;
    diag_trace_ctx_t ctx;
    base_slice_t tp = BASE_SLICE_LIT(VALID), ts = BASE_SLICE_LIT("congo=t61rcWkgMzE");
    uint8_t tid[16], sid[8], fl;
    assert_int_equal(parse(VALID, tid, sid, &fl), 0);

    diag_trace_start(&ctx, &tp, &ts, 0.0); /* the caller's decision wins over the rate */
    assert_memory_equal(ctx.trace_id, tid, 16);
    assert_memory_equal(ctx.parent_span_id, sid, 8);
    assert_memory_not_equal(ctx.span_id, sid, 8);
    assert_false(is_zero(ctx.span_id, 8));
    assert_int_equal(ctx.flags, 0x01);
    assert_true(ctx.has_parent);
    assert_string_equal(ctx.tracestate, "congo=t61rcWkgMzE");

    base_slice_t unsampled = BASE_SLICE_LIT("00-" TID "-" SID "-00");
    diag_trace_start(&ctx, &unsampled, NULL, 1.0);
    assert_int_equal(ctx.flags, 0x00);
    assert_memory_equal(ctx.trace_id, tid, 16);
    assert_string_equal(ctx.tracestate, "");
}

static void test_start_tracestate_too_long_dropped(void **state)
{
    (void)state;
    char big[DIAG_TRACESTATE_MAX + 2];
    memset(big, 'a', sizeof big);
    diag_trace_ctx_t ctx;
    base_slice_t tp = BASE_SLICE_LIT(VALID);
    base_slice_t ts = base_slice(big, DIAG_TRACESTATE_MAX + 1);
    diag_trace_start(&ctx, &tp, &ts, 1.0);
    assert_string_equal(ctx.tracestate, "");
    ts.len = DIAG_TRACESTATE_MAX;
    diag_trace_start(&ctx, &tp, &ts, 1.0);
    assert_int_equal(strlen(ctx.tracestate), DIAG_TRACESTATE_MAX);
}

static void test_start_new_trace(void **state)
{
    (void)state;
    diag_trace_ctx_t a, b;
    base_slice_t bad = BASE_SLICE_LIT("00-" TID "-" SID "-1"), ts = BASE_SLICE_LIT("k=v");
    diag_trace_start(&a, &bad, &ts, 1.0);
    diag_trace_start(&b, NULL, NULL, 1.0);
    assert_false(a.has_parent);
    assert_true(is_zero(a.parent_span_id, 8));
    assert_false(is_zero(a.trace_id, 16));
    assert_false(is_zero(a.span_id, 8));
    assert_memory_not_equal(a.trace_id, b.trace_id, 16);
    /* tracestate goes with a valid traceparent only */
    assert_string_equal(a.tracestate, "");
    uint8_t tid[16], sid[8], fl;
    assert_int_equal(parse(TID, tid, sid, &fl), -1);
    char out[DIAG_TRACEPARENT_LEN + 1];
    diag_traceparent_format(a.trace_id, a.span_id, a.flags, out);
    assert_int_equal(parse(out, tid, sid, &fl), 0);
}

static void test_sampling_rates(void **state)
{
    (void)state;
    diag_trace_ctx_t ctx;
    int sampled = 0;
    for (int i = 0; i < 2000; i++) {
        diag_trace_start(&ctx, NULL, NULL, 0.0);
        assert_int_equal(ctx.flags, 0);
        diag_trace_start(&ctx, NULL, NULL, 1.0);
        assert_int_equal(ctx.flags, 1);
    }
    for (int i = 0; i < 10000; i++) {
        diag_trace_start(&ctx, NULL, NULL, 0.5);
        sampled += ctx.flags & 1;
    }
    /* Binomial(10000, 0.5): 4000..6000 is twenty standard deviations wide. */
    assert_in_range(sampled, 4000, 6000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_uppercase_rejected),
        cmocka_unit_test(test_parse_wrong_lengths),
        cmocka_unit_test(test_parse_version_ff_and_bad_version),
        cmocka_unit_test(test_parse_all_zero_ids),
        cmocka_unit_test(test_parse_future_version),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_random_bytes_nonzero_and_distinct),
        cmocka_unit_test(test_start_continues),
        cmocka_unit_test(test_start_tracestate_too_long_dropped),
        cmocka_unit_test(test_start_new_trace),
        cmocka_unit_test(test_sampling_rates),
    };
    return cmocka_run_group_tests_name("diag_trace", tests, NULL, NULL);
}
