/* Our gRPC server and client against each other on one libuv loop, over loopback TCP. Every
 * test ends with "no handle leaked": uv_loop_close() returns 0. */
#include "harness.h"

#include <unistd.h>

/* ---- tests ------------------------------------------------------------------------------- */

static void test_unary_echo(void **state)
{
    (void)state;
    setup_default();
    /* a cancel right away: on_close never runs inside the call that caused it */
    res_t c;
    start(&c, "/remora.test.Echo/Unary", 0);
    rpc_call_cancel(c.call);
    assert_int_equal(c.closed, 0);
    run_until(res_closed, &c, 1000);
    assert_int_equal(c.status, RPC_CANCELLED);
    assert_int_equal(c.closed, 1);

    /* the round trip, with metadata each way */
    res_t e;
    memset(&e, 0, sizeof(e));
    base_pool_t *p = base_pool_create(0);
    http_headers_t md = { 0 };
    http_headers_add(&md, p, BASE_SLICE_LIT("x-test"), BASE_SLICE_LIT("hello-md"));
    http_headers_add(&md, p, BASE_SLICE_LIT("content-type"), BASE_SLICE_LIT("text/plain")); /* reserved: ignored */
    e.call = rpc_call_start(F.client, F.addr, "/remora.test.Echo/Unary", &md, 5000, &cbs, &e);
    base_pool_destroy(p); /* metadata was copied */
    assert_int_equal(rpc_call_send(e.call, "ping", 4), 0);
    rpc_call_close_send(e.call);
    assert_int_equal(rpc_call_send(e.call, "late", 4), -1);
    assert_int_equal(e.closed, 0);
    run_until(res_closed, &e, 5000);
    assert_int_equal(e.status, RPC_OK);
    assert_int_equal(e.closed, 1);
    assert_int_equal(e.nmsgs, 1);
    assert_string_equal(e.last, "ping");
    assert_int_equal(e.headers, 1);
    assert_string_equal(e.hdr, "h1");
    assert_string_equal(e.trl, "t1");
    assert_string_equal(F.md_seen, "hello-md");
    res_free(&e);
    teardown();
}

static void test_empty_message_and_trailers_only(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    unary(&r, "/remora.test.Echo/Unary", "", 0, 0);
    assert_int_equal(r.status, RPC_OK);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.last_len, 0);
    res_free(&r);
    /* no message at all, finished at once: Trailers-Only */
    start(&r, "/remora.test.Echo/Stream", 0);
    rpc_call_close_send(r.call);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_OK);
    assert_int_equal(r.nmsgs, 0);
    assert_int_equal(r.headers, 0);
    res_free(&r);
    teardown();
}

static void test_bidi_many(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    start(&r, "/remora.test.Echo/Stream", 0);
    enum { N = 5000 };
    char msg[100];
    for (int i = 0; i < N; i++) {
        memset(msg, 'x', sizeof(msg));
        snprintf(msg, sizeof(msg), "%06d", i);
        msg[6] = '-';
        assert_int_equal(rpc_call_send(r.call, msg, 8 + (size_t)(i % 90)), 0);
    }
    rpc_call_close_send(r.call);
    run_until(res_closed, &r, 20000);
    assert_int_equal(r.status, RPC_OK);
    assert_int_equal(r.nmsgs, N);
    assert_true(r.order_ok);
    res_free(&r);
    teardown();
}

static void test_pause_resume(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    start(&r, "/remora.test.Echo/Stream", 0);
    r.pause_every = 7;
    enum { N = 300 };
    char msg[4096];
    for (int i = 0; i < N; i++) {
        memset(msg, 'p', sizeof(msg));
        snprintf(msg, sizeof(msg), "%06d", i);
        msg[6] = '-';
        rpc_call_send(r.call, msg, sizeof(msg));
    }
    rpc_call_close_send(r.call);
    run_until(res_closed, &r, 20000);
    assert_int_equal(r.status, RPC_OK);
    assert_int_equal(r.nmsgs, N);
    assert_true(r.order_ok);
    res_free(&r);
    teardown();
}

static void test_server_backpressure(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    unary(&r, "/remora.test.Echo/Flood", "2000", 4, 0); /* 2000 x 16 KiB = 31 MiB */
    assert_int_equal(r.status, RPC_OK);
    assert_int_equal(r.nmsgs, 2000);
    assert_true(r.order_ok);
    assert_true(F.flood_waits > 10);                      /* on_writable drove it */
    assert_true(F.flood_max_pending <= RPC_SEND_HIGH_WATER + 16 * 1024 + 5);
    res_free(&r);
    teardown();
}

static void test_large_messages(void **state)
{
    (void)state;
    rpc_server_options_t so = { .max_message_size = 4 * MIB };
    rpc_client_options_t co = { .max_message_size = 4 * MIB };
    setup_with(&so, &co);
    size_t n = 3 * MIB;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    res_t r;
    unary(&r, "/remora.test.Echo/Unary", big, n, 0);
    assert_int_equal(r.status, RPC_OK);
    assert_int_equal(r.last_len, n);
    assert_memory_equal(r.last, big, n);
    res_free(&r);
    /* exactly the limit */
    unary(&r, "/remora.test.Echo/Big", "4194304", 7, 0);
    assert_int_equal(r.status, RPC_OK);
    assert_int_equal(r.last_len, 4 * MIB);
    res_free(&r);
    free(big);
    teardown();
}

static void test_over_limit(void **state)
{
    (void)state;
    rpc_server_options_t so = { .max_message_size = 1 * MIB };
    rpc_client_options_t co = { .max_message_size = 2 * MIB };
    setup_with(&so, &co);
    char *big = calloc(1, 2 * MIB + 1);
    res_t r;
    /* the server refuses what it receives */
    unary(&r, "/remora.test.Echo/Unary", big, 1 * MIB + 1, 0);
    assert_int_equal(r.status, RPC_RESOURCE_EXHAUSTED);
    res_free(&r);
    /* the client refuses to send */
    start(&r, "/remora.test.Echo/Unary", 0);
    assert_int_equal(rpc_call_send(r.call, big, 2 * MIB + 1), -1);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_RESOURCE_EXHAUSTED);
    res_free(&r);
    /* the server handler refuses to send */
    unary(&r, "/remora.test.Echo/Big", "1048577", 7, 0);
    assert_int_equal(r.status, RPC_RESOURCE_EXHAUSTED);
    res_free(&r);
    free(big);
    /* a client with a smaller limit refuses what it receives */
    rpc_client_options_t small = { .max_message_size = 512 * 1024 };
    rpc_client_t *c2 = rpc_client_new(&F.loop, &small);
    memset(&r, 0, sizeof(r));
    r.call = rpc_call_start(c2, F.addr, "/remora.test.Echo/Big", NULL, 0, &cbs, &r);
    rpc_call_send(r.call, "600000", 6);
    rpc_call_close_send(r.call);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_RESOURCE_EXHAUSTED);
    res_free(&r);
    rpc_client_close(c2, NULL, NULL);
    /* the connections are still fine */
    unary(&r, "/remora.test.Echo/Unary", "ok", 2, 0);
    assert_int_equal(r.status, RPC_OK);
    res_free(&r);
    teardown();
}

static void test_unknown_method(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    unary(&r, "/remora.test.Echo/Nope", "x", 1, 0);
    assert_int_equal(r.status, RPC_UNIMPLEMENTED);
    assert_int_equal(F.starts, 0);
    res_free(&r);
    teardown();
}

static void test_deadline(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    uint64_t t0 = uv_now(&F.loop);
    unary(&r, "/remora.test.Echo/Hold", "x", 1, 150);
    assert_int_equal(r.status, RPC_DEADLINE_EXCEEDED);
    assert_true(uv_now(&F.loop) - t0 >= 140);
    res_free(&r);
    /* the server saw the grpc-timeout too (or the reset): the handler was told */
    for (int i = 0; i < 50 && F.cancels < 1; i++)
        uv_run(&F.loop, UV_RUN_ONCE);
    assert_int_equal(F.cancels, 1);
    teardown();
}

static void test_server_deadline(void **state)
{
    (void)state;
    /* the server's own deadline fires first when the client's timer is later: here the client
     * has no timer of its own beyond the server's answer */
    setup_default();
    res_t r;
    start(&r, "/remora.test.Echo/Hold", 300);
    rpc_call_send(r.call, "x", 1);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_DEADLINE_EXCEEDED);
    res_free(&r);
    teardown();
}

static void test_error_status(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    const char req[] = "9 bad: 100% \xc3\xbcnicode\r\n\ttab and a very long tail ~!@#$^&*()";
    unary(&r, "/remora.test.Echo/Fail", req, sizeof(req) - 1, 0);
    assert_int_equal(r.status, RPC_FAILED_PRECONDITION);
    assert_string_equal(r.message, req + 2);
    res_free(&r);
    unary(&r, "/remora.test.Echo/Fail", "16 ", 3, 0);
    assert_int_equal(r.status, RPC_UNAUTHENTICATED);
    assert_string_equal(r.message, "");
    res_free(&r);
    teardown();
}

static void cancel_timer_cb(uv_timer_t *t)
{
    res_t *r = t->data;
    rpc_call_cancel(r->call);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    start(&r, "/remora.test.Echo/Hold", 0);
    rpc_call_send(r.call, "x", 1);
    uv_timer_t t;
    uv_timer_init(&F.loop, &t);
    t.data = &r;
    uv_timer_start(&t, cancel_timer_cb, 50, 0);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_CANCELLED);
    for (int i = 0; i < 100 && F.cancels < 1; i++)
        uv_run(&F.loop, UV_RUN_ONCE);
    assert_int_equal(F.starts, 1);
    assert_int_equal(F.cancels, 1); /* the server handler heard the RST_STREAM */
    res_free(&r);
    teardown();
}

static void test_concurrent_200(void **state)
{
    (void)state;
    rpc_client_options_t co = { .max_streams_per_conn = 100 };
    setup_with(NULL, &co);
    enum { N = 200 };
    res_t *rs = calloc(N, sizeof(*rs));
    for (int i = 0; i < N; i++) {
        start(&rs[i], "/remora.test.Echo/Unary", 10000);
        char msg[16];
        int n = snprintf(msg, sizeof(msg), "m%d", i);
        rpc_call_send(rs[i].call, msg, (size_t)n);
        rpc_call_close_send(rs[i].call);
    }
    many_t m = { rs, N };
    run_until(all_closed, &m, 20000);
    for (int i = 0; i < N; i++) {
        char msg[16];
        snprintf(msg, sizeof(msg), "m%d", i);
        assert_int_equal(rs[i].status, RPC_OK);
        assert_string_equal(rs[i].last, msg);
        res_free(&rs[i]);
    }
    assert_true(F.npeers >= 2); /* more than max_streams_per_conn → a second connection */
    free(rs);
    teardown();
}

static void server_idle(void *arg)
{
    (void)arg;
    F.drained = 1;
}

static void finish_held_cb(uv_timer_t *t)
{
    for (int i = 0; i < F.nheld; i++) {
        if (F.held[i]) {
            rpc_server_call_send(F.held[i], "done", 4);
            rpc_server_call_finish(F.held[i], RPC_OK, NULL, NULL);
            F.held[i] = NULL;
        }
    }
    uv_close((uv_handle_t *)t, NULL);
}

static void test_drain_in_flight(void **state)
{
    (void)state;
    setup_default();
    enum { N = 5 };
    res_t rs[N];
    for (int i = 0; i < N; i++) {
        start(&rs[i], "/remora.test.Echo/Hold", 0);
        rpc_call_close_send(rs[i].call);
    }
    while (F.nheld < N)
        uv_run(&F.loop, UV_RUN_ONCE);
    rpc_server_drain(F.server, server_idle, NULL);
    uv_timer_t t;
    uv_timer_init(&F.loop, &t);
    uv_timer_start(&t, finish_held_cb, 100, 0);
    /* a call started during the drain goes to a new connection, which the closed listener
     * refuses */
    for (int i = 0; i < 3; i++)
        uv_run(&F.loop, UV_RUN_ONCE);
    many_t m = { rs, N };
    run_until(all_closed, &m, 5000);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rs[i].status, RPC_OK);
        assert_string_equal(rs[i].last, "done");
        res_free(&rs[i]);
    }
    run_until(int_set, &F.drained, 5000);
    res_t late;
    unary(&late, "/remora.test.Echo/Unary", "x", 1, 0);
    assert_int_equal(late.status, RPC_UNAVAILABLE);
    res_free(&late);
    teardown();
}

static void test_closed_port(void **state)
{
    (void)state;
    setup_default();
    int port;
    int fd = listen_socket(&port); /* bound, never listening: connect is refused */
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    res_t r;
    memset(&r, 0, sizeof(r));
    r.call = rpc_call_start(F.client, addr, "/remora.test.Echo/Unary", NULL, 0, &cbs, &r);
    rpc_call_send(r.call, "x", 1);
    rpc_call_close_send(r.call);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_UNAVAILABLE);
    assert_non_null(strstr(r.message, "connection error"));
    close(fd);
    /* an address that cannot be parsed */
    memset(&r, 0, sizeof(r));
    r.call = rpc_call_start(F.client, "nonsense", "/remora.test.Echo/Unary", NULL, 0, &cbs, &r);
    assert_non_null(r.call);
    assert_int_equal(r.closed, 0);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_UNAVAILABLE);
    /* a name that resolves: localhost */
    char local[64];
    snprintf(local, sizeof(local), "localhost:%d", F.port);
    memset(&r, 0, sizeof(r));
    r.call = rpc_call_start(F.client, local, "/remora.test.Echo/Unary", NULL, 0, &cbs, &r);
    rpc_call_send(r.call, "via-dns", 7);
    rpc_call_close_send(r.call);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_OK);
    assert_string_equal(r.last, "via-dns");
    res_free(&r);
    teardown();
}

static void test_server_close_all(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    start(&r, "/remora.test.Echo/Hold", 0);
    while (F.nheld < 1)
        uv_run(&F.loop, UV_RUN_ONCE);
    rpc_server_close_all(F.server);
    assert_int_equal(F.cancels, 1);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_UNAVAILABLE);
    teardown();
}

static void test_client_close_with_calls(void **state)
{
    (void)state;
    setup_default();
    res_t r;
    start(&r, "/remora.test.Echo/Hold", 0);
    while (F.nheld < 1)
        uv_run(&F.loop, UV_RUN_ONCE);
    rpc_client_close(F.client, client_done, NULL);
    assert_int_equal(r.closed, 0);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_CANCELLED);
    run_until(int_set, &F.client_done, 5000);
    F.client = NULL;
    teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_echo),
        cmocka_unit_test(test_empty_message_and_trailers_only),
        cmocka_unit_test(test_bidi_many),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_server_backpressure),
        cmocka_unit_test(test_large_messages),
        cmocka_unit_test(test_over_limit),
        cmocka_unit_test(test_unknown_method),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_server_deadline),
        cmocka_unit_test(test_error_status),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_concurrent_200),
        cmocka_unit_test(test_drain_in_flight),
        cmocka_unit_test(test_closed_port),
        cmocka_unit_test(test_server_close_all),
        cmocka_unit_test(test_client_close_with_calls),
    };
    if (getenv("RPC_TEST")) /* run one test: RPC_TEST=test_cancel */
        cmocka_set_test_filter(getenv("RPC_TEST"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
