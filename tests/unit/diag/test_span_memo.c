/* test_span_memo.c - the encoders' memo: when a set of attributes is kept, found, replaced,
 * and the bound on its memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/pool.h"
#include "span_fixture.h"
#include "span_memo.h"

#define SETS (SPAN_MEMO_SLOTS / SPAN_MEMO_WAYS)

/* A span with one attribute, "k" = "v<i>". */
static void span_with(diag_span_t *s, unsigned i)
{
    char v[16];
    int n = snprintf(v, sizeof v, "v%u", i);
    diag_span_reset(s);
    diag_span_add_attr(s, BASE_SLICE_LIT("k"), base_slice(v, (size_t)n));
}

/* A key points into its span's text: each key here keeps its span beside it. */
typedef struct keyed {
    diag_span_t s;
    span_memo_key_t k;
} keyed_t;

static void key_of(keyed_t *x, unsigned i)
{
    span_with(&x->s, i);
    span_memo_key(&x->k, &x->s, base_slice("", 0), 0);
}

/* Finds n values whose keys fall in the same set. */
static void same_set(unsigned *out, size_t n)
{
    keyed_t x;
    key_of(&x, 0);
    uint64_t set = x.k.hash % SETS;
    out[0] = 0;
    size_t found = 1;
    for (unsigned i = 1; found < n; i++) {
        assert_true(i < 1000000);
        key_of(&x, i);
        if (x.k.hash % SETS == set)
            out[found++] = i;
    }
}

static void put_text(span_memo_t *m, const span_memo_key_t *k, const char *text)
{
    base_slice_t out = base_slice_cstr(text);
    assert_int_equal(span_memo_put(m, k, &out, 1), 0);
}

static void test_kept_on_second_miss(void **state)
{
    (void)state;
    span_memo_t *m = span_memo_new();
    assert_non_null(m);
    keyed_t x;
    span_memo_key_t *k = &x.k;
    base_slice_t out;
    key_of(&x, 1);
    assert_int_equal(span_memo_get(m, k, &out), -1);
    assert_int_equal(span_memo_get(m, k, &out), 0);
    put_text(m, k, "encoded");
    assert_int_equal(span_memo_get(m, k, &out), 1);
    assert_int_equal(out.len, 7);
    assert_memory_equal(out.base, "encoded", 8); /* with its NUL */
    span_memo_stats_t st;
    span_memo_stats(m, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.stored, 1);
    assert_int_equal(st.entries, 1);
    span_memo_free(m);
}

/* "In a row": another key missing in between starts the count again. */
static void test_not_kept_when_interleaved(void **state)
{
    (void)state;
    unsigned v[2];
    same_set(v, 2);
    span_memo_t *m = span_memo_new();
    keyed_t a, b;
    base_slice_t out;
    key_of(&a, v[0]);
    key_of(&b, v[1]);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(span_memo_get(m, &a.k, &out), -1);
        assert_int_equal(span_memo_get(m, &b.k, &out), -1);
    }
    span_memo_free(m);
}

/* Two keys of one set both stay; a third replaces the one used less recently. */
static void test_two_ways(void **state)
{
    (void)state;
    unsigned v[3];
    same_set(v, 3);
    span_memo_t *m = span_memo_new();
    static keyed_t x[3];
    span_memo_key_t *k[3];
    base_slice_t out;
    for (int i = 0; i < 3; i++) {
        key_of(&x[i], v[i]);
        k[i] = &x[i].k;
    }
    put_text(m, k[0], "zero");
    put_text(m, k[1], "one");
    assert_int_equal(span_memo_get(m, k[0], &out), 1); /* k[1] is now the older */
    assert_int_equal(span_memo_get(m, k[1], &out), 1);
    assert_int_equal(span_memo_get(m, k[0], &out), 1);
    put_text(m, k[2], "two");
    assert_int_equal(span_memo_get(m, k[0], &out), 1);
    assert_memory_equal(out.base, "zero", 5);
    assert_int_equal(span_memo_get(m, k[2], &out), 1);
    assert_memory_equal(out.base, "two", 4);
    assert_int_equal(span_memo_get(m, k[1], &out), -1);
    span_memo_stats_t st;
    span_memo_stats(m, &st);
    assert_int_equal(st.entries, 2);
    span_memo_free(m);
}

/* What makes keys differ: values, the extra piece, the status and its message. */
static void test_key_parts(void **state)
{
    (void)state;
    span_memo_t *m = span_memo_new();
    diag_span_t s;
    span_with(&s, 7);
    span_memo_key_t plain, extra, status, failed, failed2;
    span_memo_key(&plain, &s, base_slice("", 0), 0);
    span_memo_key(&extra, &s, BASE_SLICE_LIT("orders"), 0);
    span_memo_key(&status, &s, base_slice("", 0), SPAN_MEMO_STATUS);
    diag_span_set_error(&s, BASE_SLICE_LIT("boom"));
    span_memo_key(&failed, &s, base_slice("", 0), SPAN_MEMO_STATUS);
    diag_span_set_error(&s, BASE_SLICE_LIT("bang"));
    span_memo_key(&failed2, &s, base_slice("", 0), SPAN_MEMO_STATUS);
    put_text(m, &plain, "p");
    base_slice_t out;
    assert_int_equal(span_memo_get(m, &plain, &out), 1);
    const span_memo_key_t *others[] = { &extra, &status, &failed, &failed2 };
    for (size_t i = 0; i < 4; i++) {
        assert_int_not_equal(others[i]->hash, plain.hash);
        assert_int_not_equal(span_memo_get(m, others[i], &out), 1);
    }
    assert_int_not_equal(failed.hash, failed2.hash);
    span_memo_free(m);
}

/* Outputs are kept while the budget allows; past it, nothing is kept and nothing breaks. */
static void test_budget(void **state)
{
    (void)state;
    span_memo_t *m = span_memo_new();
    size_t big = 20000;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, 'x', big);
    text[big] = '\0';
    int kept = 0, refused = 0;
    for (unsigned i = 0; i < 64; i++) {
        keyed_t x;
        key_of(&x, 1000 + i);
        base_slice_t out = base_slice(text, big);
        if (span_memo_put(m, &x.k, &out, 1) == 0)
            kept++;
        else
            refused++;
        span_memo_stats_t st;
        span_memo_stats(m, &st);
        assert_true(st.bytes <= SPAN_MEMO_BUDGET);
    }
    assert_true(kept >= (int)(SPAN_MEMO_BUDGET / (big + 256)) - 1);
    assert_true(refused > 0);
    free(text);
    span_memo_free(m);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    base_allocator_t a = { failing_malloc, free };
    base_set_allocator(&a);
    fail_alloc = 1;
    assert_null(span_memo_new());
    fail_alloc = 0;
    span_memo_t *m = span_memo_new();
    keyed_t x;
    base_slice_t out;
    key_of(&x, 3);
    fail_alloc = 1;
    base_slice_t out1 = BASE_SLICE_LIT("x");
    assert_int_equal(span_memo_put(m, &x.k, &out1, 1), -1);
    fail_alloc = 0;
    assert_int_equal(span_memo_get(m, &x.k, &out), -1);
    span_memo_free(m);
    base_set_allocator(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_on_second_miss),
        cmocka_unit_test(test_not_kept_when_interleaved),
        cmocka_unit_test(test_two_ways),
        cmocka_unit_test(test_key_parts),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
