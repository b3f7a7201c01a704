/* test_span.c - the span record's builders, the per-thread rings and the span counters. */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "diag/span.h"

static base_slice_t text(const diag_span_t *s, diag_span_str_t str)
{
    return diag_span_text(s, str);
}

static void assert_text(const diag_span_t *s, diag_span_str_t str, const char *want)
{
    base_slice_t got = text(s, str);
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.base, want, got.len);
}

static uint64_t queue_full(void)
{
    diag_span_stats_t st;
    diag_span_stats(&st);
    return st.dropped_queue_full;
}

/* ---- the record ---- */

static void test_builders(void **state)
{
    (void)state;
    diag_span_t s;
    memset(&s, 0xaa, sizeof s);
    diag_span_reset(&s);
    assert_int_equal(s.kind, DIAG_SPAN_KIND_SERVER);
    assert_int_equal(s.attr_count, 0);
    assert_int_equal(s.text_len, 0);
    assert_int_equal(s.status, DIAG_SPAN_STATUS_UNSET);
    assert_int_equal(s.has_parent, 0);

    assert_int_equal(diag_span_set_name(&s, BASE_SLICE_LIT("/v1.0/invoke/orders/method/new")), 0);
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("http.request.method"), BASE_SLICE_LIT("POST")), 0);
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("dapr.api"), BASE_SLICE_LIT("POST /v1.0/invoke")), 0);
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("empty"), BASE_SLICE_NULL), 0);
    assert_int_equal(diag_span_set_error(&s, BASE_SLICE_LIT("boom")), 0);
    assert_text(&s, s.name, "/v1.0/invoke/orders/method/new");
    assert_int_equal(s.attr_count, 3);
    assert_text(&s, s.attrs[0].key, "http.request.method");
    assert_text(&s, s.attrs[0].value, "POST");
    assert_text(&s, s.attrs[1].value, "POST /v1.0/invoke");
    assert_text(&s, s.attrs[2].value, "");
    assert_int_equal(s.status, DIAG_SPAN_STATUS_ERROR);
    assert_text(&s, s.status_message, "boom");

    /* a repeated key replaces the value (in place when it fits, else appended) */
    uint16_t used = s.text_len;
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("http.request.method"), BASE_SLICE_LIT("GET")), 0);
    assert_int_equal(s.text_len, used);
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("http.request.method"), BASE_SLICE_LIT("OPTIONS")), 0);
    assert_int_equal(s.attr_count, 3);
    assert_text(&s, s.attrs[0].value, "OPTIONS");
    assert_int_equal(diag_span_set_name(&s, BASE_SLICE_LIT("short")), 0);
    assert_text(&s, s.name, "short");
    /* empty key refused */
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_NULL, BASE_SLICE_LIT("x")), -1);
}

/* Known keys are stored as numbers and read back by name; a text key of the same name finds
 * them; the table limit and a value that does not fit hold as for text keys. */
static void test_known_keys(void **state)
{
    (void)state;
    diag_span_t s;
    diag_span_reset(&s);
    diag_span_set_name(&s, BASE_SLICE_LIT("CallLocal/orders/new"));
    assert_int_equal(diag_span_add_attr_key(&s, DIAG_SPAN_KEY_RPC_SERVICE, BASE_SLICE_LIT("ServiceInvocation")), 0);
    assert_int_equal(diag_span_add_attr_key(&s, DIAG_SPAN_KEY_SERVER_PORT, BASE_SLICE_LIT("")), 0);
    size_t used = s.text_len;
    assert_int_equal(used, strlen("CallLocal/orders/new") + strlen("ServiceInvocation")); /* no key text */
    base_slice_t k = diag_span_attr_key(&s, &s.attrs[0]);
    assert_int_equal(k.len, strlen("rpc.service"));
    assert_memory_equal(k.base, "rpc.service", k.len);
    k = diag_span_attr_key(&s, &s.attrs[1]);
    assert_memory_equal(k.base, "server.port", k.len);
    assert_text(&s, s.attrs[0].value, "ServiceInvocation");
    /* the text-key builder finds a known key by its name and replaces its value */
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("rpc.service"), BASE_SLICE_LIT("Other")), 0);
    assert_int_equal(s.attr_count, 2);
    assert_text(&s, s.attrs[0].value, "Other");
    /* every name */
    for (int i = 0; i < DIAG_SPAN_KEY_COUNT; i++)
        assert_true(strlen(diag_span_key_name((diag_span_key_t)i)) > 0);
    assert_int_equal(diag_span_add_attr_key(&s, DIAG_SPAN_KEY_COUNT, BASE_SLICE_LIT("x")), -1);
    /* the limit */
    while (s.attr_count < DIAG_SPAN_MAX_ATTRS)
        assert_true(diag_span_add_attr_key(&s, DIAG_SPAN_KEY_URL_FULL, BASE_SLICE_LIT("u")) >= 0);
    assert_int_equal(diag_span_add_attr_key(&s, DIAG_SPAN_KEY_URL_FULL, BASE_SLICE_LIT("u")), -1);
    /* a value that does not fit at all: nothing added */
    diag_span_reset(&s);
    static char big[DIAG_SPAN_TEXT_MAX];
    memset(big, 'x', sizeof big);
    assert_int_equal(diag_span_set_name(&s, base_slice(big, sizeof big)), 0);
    assert_int_equal(diag_span_add_attr_key(&s, DIAG_SPAN_KEY_URL_FULL, BASE_SLICE_LIT("u")), -1);
    assert_int_equal(s.attr_count, 0);
}

static void count_notify(void *arg)
{
    (*(int *)arg)++;
}

/* The notify function runs once per DIAG_SPAN_NOTIFY_EVERY published spans, on the
 * producer, and not for spans dropped or reserved and not committed. */
static void test_notify(void **state)
{
    (void)state;
    diag_span_ring_t *r = diag_span_ring_new();
    assert_non_null(r);
    int calls = 0;
    diag_span_ring_set_notify(r, count_notify, &calls);
    for (unsigned i = 0; i < DIAG_SPAN_NOTIFY_EVERY - 1; i++)
        diag_span_ring_commit(r, diag_span_ring_reserve(r));
    assert_int_equal(calls, 0);
    (void)diag_span_ring_reserve(r); /* abandoned: not published */
    assert_int_equal(calls, 0);
    diag_span_ring_commit(r, diag_span_ring_reserve(r));
    assert_int_equal(calls, 1);
    /* past the capacity: drops publish nothing; releasing lets the count go on */
    for (unsigned i = 0; i < 2 * DIAG_SPAN_RING_CAP; i++) {
        diag_span_t *s = diag_span_ring_reserve(r);
        if (s)
            diag_span_ring_commit(r, s);
    }
    assert_int_equal(calls, (int)(DIAG_SPAN_RING_CAP / DIAG_SPAN_NOTIFY_EVERY));
    diag_span_ring_release(r, diag_span_ring_pending(r));
    for (unsigned i = 0; i < DIAG_SPAN_NOTIFY_EVERY; i++)
        diag_span_ring_commit(r, diag_span_ring_reserve(r));
    assert_int_equal(calls, (int)(DIAG_SPAN_RING_CAP / DIAG_SPAN_NOTIFY_EVERY) + 1);
    diag_span_ring_set_notify(r, NULL, NULL);
    for (unsigned i = 0; i < DIAG_SPAN_NOTIFY_EVERY; i++)
        diag_span_ring_commit(r, diag_span_ring_reserve(r));
    assert_int_equal(calls, (int)(DIAG_SPAN_RING_CAP / DIAG_SPAN_NOTIFY_EVERY) + 1);
    diag_span_ring_free(r);
}

static void test_context(void **state)
{
    (void)state;
    diag_trace_ctx_t ctx;
    base_slice_t tp = BASE_SLICE_LIT("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    diag_trace_start(&ctx, &tp, NULL, 1.0);
    diag_span_t s;
    diag_span_reset(&s);
    diag_span_set_context(&s, &ctx);
    assert_memory_equal(s.trace_id, ctx.trace_id, 16);
    assert_memory_equal(s.span_id, ctx.span_id, 8);
    assert_memory_equal(s.parent_span_id, ctx.parent_span_id, 8);
    assert_int_equal(s.has_parent, 1);
    assert_int_equal(s.parent_span_id[1], 0xf0);

    diag_trace_start(&ctx, NULL, NULL, 1.0);
    diag_span_set_context(&s, &ctx);
    assert_int_equal(s.has_parent, 0);
    static const uint8_t zero[8];
    assert_memory_equal(s.parent_span_id, zero, 8);
}

static void test_truncation(void **state)
{
    (void)state;
    diag_span_t s;
    diag_span_reset(&s);
    char big[2 * DIAG_SPAN_TEXT_MAX];
    memset(big, 'v', sizeof big);

    assert_int_equal(diag_span_set_name(&s, BASE_SLICE_LIT("name")), 0);
    /* a value bigger than what is left is cut to exactly the room left */
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("url.full"), base_slice(big, sizeof big)), 1);
    assert_int_equal(s.text_len, DIAG_SPAN_TEXT_MAX);
    assert_int_equal(s.attrs[0].value.len, DIAG_SPAN_TEXT_MAX - 4 - 8);
    /* full: a new attribute (key cannot fit) and a new status message are refused */
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("k"), BASE_SLICE_LIT("v")), -1);
    assert_int_equal(s.attr_count, 1);
    assert_int_equal(diag_span_set_error(&s, BASE_SLICE_LIT("msg")), -1);
    assert_int_equal(s.status, DIAG_SPAN_STATUS_ERROR);
    assert_int_equal(s.status_message.len, 0);
    /* an empty value still fits anywhere */
    assert_int_equal(diag_span_set_error(&s, BASE_SLICE_NULL), 0);

    /* a cut never splits a UTF-8 character: "é" is two bytes */
    diag_span_reset(&s);
    size_t fill = DIAG_SPAN_TEXT_MAX - 1 - 3; /* key "k" + "aaé" leaves one byte for é's lead */
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("k"), base_slice(big, fill)), 0);
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("u"), BASE_SLICE_LIT("a\xc3\xa9")), 1);
    assert_text(&s, s.attrs[1].value, "a");

    /* at most 16 attributes; the key must fit whole */
    diag_span_reset(&s);
    for (int i = 0; i < DIAG_SPAN_MAX_ATTRS; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(diag_span_add_attr(&s, base_slice_cstr(k), BASE_SLICE_LIT("v")), 0);
    }
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("k16"), BASE_SLICE_LIT("v")), -1);
    assert_int_equal(s.attr_count, DIAG_SPAN_MAX_ATTRS);
    /* but an existing key can still change */
    assert_int_equal(diag_span_add_attr(&s, BASE_SLICE_LIT("k3"), BASE_SLICE_LIT("w")), 0);
    assert_text(&s, s.attrs[3].value, "w");

    diag_span_reset(&s);
    assert_int_equal(diag_span_add_attr(&s, base_slice(big, DIAG_SPAN_TEXT_MAX + 1), BASE_SLICE_LIT("v")), -1);
    assert_int_equal(s.attr_count, 0);
    assert_int_equal(s.text_len, 0);
    /* a key that fits with no room for any of its value is not kept either */
    assert_int_equal(diag_span_add_attr(&s, base_slice(big, DIAG_SPAN_TEXT_MAX), BASE_SLICE_LIT("v")), -1);
    assert_int_equal(s.attr_count, 0);
    assert_int_equal(s.text_len, 0);
}

/* ---- rings ---- */

static void push(diag_span_ring_t *r, uint64_t seq)
{
    diag_span_t *s = diag_span_ring_reserve(r);
    assert_non_null(s);
    s->start_ns = seq;
    diag_span_ring_commit(r, s);
}

static void test_ring_full_and_order(void **state)
{
    (void)state;
    diag_span_ring_t *r = diag_span_ring_new();
    assert_non_null(r);
    assert_int_equal(diag_span_ring_pending(r), 0);
    uint64_t seq = 0, next = 0;
    for (unsigned i = 0; i < DIAG_SPAN_RING_CAP; i++)
        push(r, seq++);
    assert_int_equal(diag_span_ring_pending(r), DIAG_SPAN_RING_CAP);

    uint64_t before = queue_full();
    assert_null(diag_span_ring_reserve(r));
    assert_null(diag_span_ring_reserve(r));
    assert_int_equal(queue_full() - before, 2);

    /* release some, refill across the wrap point several times: order is kept */
    for (int round = 0; round < 5; round++) {
        size_t n = 300 + (size_t)round * 50;
        for (size_t i = 0; i < n; i++)
            assert_int_equal(diag_span_ring_peek(r, i)->start_ns, next + i);
        diag_span_ring_release(r, n);
        next += n;
        for (size_t i = 0; i < n; i++)
            push(r, seq++);
        assert_int_equal(diag_span_ring_pending(r), DIAG_SPAN_RING_CAP);
    }
    size_t left = diag_span_ring_pending(r);
    for (size_t i = 0; i < left; i++)
        assert_int_equal(diag_span_ring_peek(r, i)->start_ns, next + i);
    diag_span_ring_release(r, left);
    assert_int_equal(diag_span_ring_pending(r), 0);
    diag_span_ring_free(r);
}

static void test_reserve_commit_rules(void **state)
{
    (void)state;
    diag_span_ring_t *r = diag_span_ring_new();
    /* a reserve that is never committed is reused, reset */
    diag_span_t *a = diag_span_ring_reserve(r);
    diag_span_set_name(a, BASE_SLICE_LIT("abandoned"));
    a->start_ns = 7;
    diag_span_t *b = diag_span_ring_reserve(r);
    assert_ptr_equal(a, b);
    assert_int_equal(b->start_ns, 0);
    assert_int_equal(b->name.len, 0);
    assert_int_equal(diag_span_ring_pending(r), 0);
    /* a pointer that is not the reserved slot is ignored */
    diag_span_t other;
    diag_span_ring_commit(r, &other);
    diag_span_ring_commit(r, NULL);
    assert_int_equal(diag_span_ring_pending(r), 0);
    diag_span_ring_commit(r, b);
    assert_int_equal(diag_span_ring_pending(r), 1);
    /* committing twice does not publish the next, unfilled slot */
    diag_span_ring_commit(r, b);
    assert_int_equal(diag_span_ring_pending(r), 1);
    diag_span_ring_free(r);
}

static void *try_bind(void *arg)
{
    diag_span_ring_t *r = arg;
    intptr_t rc = diag_span_bind_thread(r);
    if (rc == 0)
        diag_span_bind_thread(NULL);
    return (void *)rc;
}

static void test_bind_thread(void **state)
{
    (void)state;
    /* no ring: export off, reserve NULL, commit harmless, nothing counted */
    uint64_t before = queue_full();
    assert_int_equal(diag_tracing_export_on(), 0);
    assert_null(diag_span_reserve());
    diag_span_commit(NULL);
    assert_int_equal(queue_full(), before);

    diag_span_ring_t *r = diag_span_ring_new(), *r2 = diag_span_ring_new();
    assert_int_equal(diag_span_bind_thread(r), 0);
    assert_int_equal(diag_span_bind_thread(r), 0); /* again: no change */
    assert_int_equal(diag_tracing_export_on(), 1);
    diag_span_t *s = diag_span_reserve();
    assert_non_null(s);
    s->start_ns = 42;
    diag_span_commit(s);
    assert_int_equal(diag_span_ring_pending(r), 1);
    assert_int_equal(diag_span_ring_peek(r, 0)->start_ns, 42);

    /* another thread cannot bind a ring this thread holds, but can bind a free one */
    pthread_t t;
    void *rc;
    assert_int_equal(pthread_create(&t, NULL, try_bind, r), 0);
    pthread_join(t, &rc);
    assert_int_equal((intptr_t)rc, -1);
    assert_int_equal(pthread_create(&t, NULL, try_bind, r2), 0);
    pthread_join(t, &rc);
    assert_int_equal((intptr_t)rc, 0);

    /* moving this thread to r2 frees r for others */
    assert_int_equal(diag_span_bind_thread(r2), 0);
    assert_int_equal(pthread_create(&t, NULL, try_bind, r), 0);
    pthread_join(t, &rc);
    assert_int_equal((intptr_t)rc, 0);

    assert_int_equal(diag_span_bind_thread(NULL), 0);
    assert_int_equal(diag_tracing_export_on(), 0);
    assert_null(diag_span_reserve());
    diag_span_ring_free(r);
    diag_span_ring_free(r2);
}

/* One producer thread, this thread consuming at the same time: every span arrives once, in
 * order, or was counted as dropped. */
#define STRESS_SPANS 200000u

typedef struct stress {
    diag_span_ring_t *ring;
    uint64_t committed;
} stress_t;

static void *producer(void *arg)
{
    stress_t *st = arg;
    if (diag_span_bind_thread(st->ring) != 0)
        return NULL;
    for (uint64_t i = 0; i < STRESS_SPANS; i++) {
        diag_span_t *s = diag_span_reserve();
        if (!s)
            continue;
        s->start_ns = i;
        s->end_ns = i ^ 0x5555;
        diag_span_set_name(s, BASE_SLICE_LIT("stress"));
        diag_span_commit(s);
        st->committed++;
    }
    diag_span_bind_thread(NULL);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    stress_t st = { diag_span_ring_new(), 0 };
    uint64_t before = queue_full();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &st), 0);
    uint64_t received = 0, last = 0;
    int done = 0;
    while (!done) {
        done = pthread_tryjoin_np(t, NULL) == 0;
        size_t n = diag_span_ring_pending(st.ring);
        for (size_t i = 0; i < n; i++) {
            const diag_span_t *s = diag_span_ring_peek(st.ring, i);
            if (received)
                assert_true(s->start_ns > last);
            assert_int_equal(s->end_ns, s->start_ns ^ 0x5555);
            assert_int_equal(s->name.len, 6);
            last = s->start_ns;
            received++;
        }
        diag_span_ring_release(st.ring, n);
    }
    assert_int_equal(diag_span_ring_pending(st.ring), 0);
    assert_int_equal(received, st.committed);
    assert_int_equal(received + (queue_full() - before), STRESS_SPANS);
    diag_span_ring_free(st.ring);
}

static void test_counters(void **state)
{
    (void)state;
    diag_span_stats_t a, b;
    diag_span_stats(&a);
    diag_span_count(DIAG_SPAN_DROPPED_EXPORT_FAILED, 3);
    diag_span_count(DIAG_SPAN_EXPORTED_ZIPKIN, 5);
    diag_span_count(DIAG_SPAN_EXPORTED_OTLP, 7);
    diag_span_count(DIAG_SPAN_COUNTER_COUNT, 100); /* not a counter: ignored */
    diag_span_stats(&b);
    assert_int_equal(b.dropped_export_failed - a.dropped_export_failed, 3);
    assert_int_equal(b.exported_zipkin - a.exported_zipkin, 5);
    assert_int_equal(b.exported_otlp - a.exported_otlp, 7);
    assert_int_equal(b.dropped_queue_full, a.dropped_queue_full);

    uint64_t t0 = diag_now_unix_ns();
    assert_true(t0 > 1600000000ull * 1000000000ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_known_keys),
        cmocka_unit_test(test_notify),
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_ring_full_and_order),
        cmocka_unit_test(test_reserve_commit_rules),
        cmocka_unit_test(test_bind_thread),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
