/* Connection-level behaviour of the rpc client and server: flow control, connect and
 * keepalive timeouts, GOAWAY, idle timeouts, concurrency limit, malformed input. Peers are our
 * own server/client (harness.c) or raw TCP peers written here. Every test ends with "no
 * handle leaked". */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a raw HTTP/2 "server" that says little ---------------------------------------------- */

enum { FAKE_SETTINGS = 1, FAKE_GOAWAY };

typedef struct fake_conn {
    uv_tcp_t tcp;
    uv_write_t w;
    int wrote_goaway;
    struct fake *fake;
} fake_conn_t;

typedef struct fake {
    uv_tcp_t listener;
    int mode;
    int accepts;
    fake_conn_t conns[8];
    char addr[64];
} fake_t;

static const char SETTINGS_EMPTY[9] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
static const char GOAWAY_0[17] = { 0, 0, 8, 7, 0, 0, 0, 0, 0, /* last id */ 0, 0, 0, 0, /* NO_ERROR */ 0, 0, 0, 0 };

static void fake_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    static char buf[65536];
    (void)n;
    *b = uv_buf_init(buf, sizeof(buf));
}

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    fake_conn_t *fc = s->data;
    if (n < 0) {
        uv_read_stop(s);
        return;
    }
    /* the client's preface and first HEADERS arrived: refuse every stream */
    if (n > 0 && fc->fake->mode == FAKE_GOAWAY && !fc->wrote_goaway) {
        fc->wrote_goaway = 1;
        uv_buf_t g = uv_buf_init((char *)GOAWAY_0, sizeof(GOAWAY_0));
        uv_write(&fc->w, s, &g, 1, NULL);
    }
}

static void fake_connection(uv_stream_t *ls, int status)
{
    fake_t *f = ls->data;
    if (status < 0 || f->accepts >= 8)
        return;
    fake_conn_t *fc = &f->conns[f->accepts++];
    fc->fake = f;
    uv_tcp_init(ls->loop, &fc->tcp);
    fc->tcp.data = fc;
    uv_accept(ls, (uv_stream_t *)&fc->tcp);
    uv_buf_t b = uv_buf_init((char *)SETTINGS_EMPTY, sizeof(SETTINGS_EMPTY));
    uv_try_write((uv_stream_t *)&fc->tcp, &b, 1);
    uv_read_start((uv_stream_t *)&fc->tcp, fake_alloc, fake_read);
}

static void fake_start(fake_t *f, int mode)
{
    memset(f, 0, sizeof(*f));
    f->mode = mode;
    int port;
    int fd = listen_socket(&port);
    uv_tcp_init(&F.loop, &f->listener);
    f->listener.data = f;
    assert_int_equal(uv_tcp_open(&f->listener, fd), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->listener, 16, fake_connection), 0);
    snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", port);
}

static void fake_stop(fake_t *f)
{
    uv_close((uv_handle_t *)&f->listener, NULL);
    for (int i = 0; i < f->accepts; i++)
        uv_close((uv_handle_t *)&f->conns[i].tcp, NULL);
}

static void start_at(res_t *r, const char *addr, const char *path, uint64_t deadline_ms)
{
    memset(r, 0, sizeof(*r));
    r->order_ok = 1;
    r->call = rpc_call_start(F.client, addr, path, NULL, deadline_ms, &cbs, r);
    assert_non_null(r->call);
    rpc_call_send(r->call, "x", 1);
    rpc_call_close_send(r->call);
}

/* ---- tests ------------------------------------------------------------------------------- */

/* A paused server call grants no more stream window: the client's data stays queued on its
 * side, and flows once the call is resumed. */
static void test_server_flow_control(void **state)
{
    (void)state;
    rpc_server_options_t so = { .max_message_size = 1 * MIB };
    setup_with(&so, NULL);
    res_t r;
    start(&r, "/remora.test.Echo/Pause", 0);
    enum { N = 64, SIZE = 64 * 1024 };
    char *msg = calloc(1, SIZE);
    for (int i = 0; i < N; i++)
        assert_int_equal(rpc_call_send(r.call, msg, SIZE), 0);
    rpc_call_close_send(r.call);
    free(msg);
    while (F.npaused < 1)
        uv_run(&F.loop, UV_RUN_ONCE);
    uint64_t t0 = uv_now(&F.loop);
    while (uv_now(&F.loop) - t0 < 200)
        uv_run(&F.loop, UV_RUN_ONCE);
    /* at most about one stream window (1 MiB) left the client */
    size_t pending = rpc_call_pending(r.call);
    assert_true(pending > (size_t)N * SIZE - 2 * MIB);
    assert_int_equal(r.closed, 0);
    rpc_server_call_resume_recv(F.paused[0]);
    run_until(res_closed, &r, 10000);
    assert_int_equal(r.status, RPC_OK);
    char want[64];
    snprintf(want, sizeof(want), "%d %d", N, N * SIZE);
    assert_string_equal(r.last, want);
    res_free(&r);
    teardown();
}

static void test_connect_timeout(void **state)
{
    (void)state;
    rpc_client_options_t co = { .connect_timeout_ms = 150 };
    setup_with(NULL, &co);
    /* listening, never accepting, never speaking: TCP connects, the HTTP/2 preface never comes */
    int port;
    int fd = listen_socket(&port);
    assert_int_equal(listen(fd, 8), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    res_t r;
    start_at(&r, addr, "/remora.test.Echo/Unary", 0);
    uint64_t t0 = uv_now(&F.loop);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_UNAVAILABLE);
    assert_non_null(strstr(r.message, "connect timeout"));
    assert_true(uv_now(&F.loop) - t0 >= 140);
    close(fd);
    teardown();
}

static void test_keepalive_timeout(void **state)
{
    (void)state;
    rpc_client_options_t co = { .keepalive_time_ms = 50, .keepalive_timeout_ms = 100 };
    setup_with(NULL, &co);
    fake_t f;
    fake_start(&f, FAKE_SETTINGS); /* answers nothing, PINGs included */
    res_t r;
    start_at(&r, f.addr, "/remora.test.Echo/Unary", 0);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_UNAVAILABLE);
    assert_non_null(strstr(r.message, "keepalive"));
    fake_stop(&f);
    teardown();
}

static void test_keepalive_ok(void **state)
{
    (void)state;
    rpc_server_options_t so = { .keepalive_time_ms = 20, .keepalive_timeout_ms = 200 };
    rpc_client_options_t co = { .keepalive_time_ms = 20, .keepalive_timeout_ms = 200 };
    setup_with(&so, &co);
    res_t r;
    start(&r, "/remora.test.Echo/Hold", 0);
    rpc_call_close_send(r.call);
    uint64_t t0 = uv_now(&F.loop);
    while (uv_now(&F.loop) - t0 < 300) /* many PING round trips, no data */
        uv_run(&F.loop, UV_RUN_ONCE);
    assert_int_equal(r.closed, 0);
    assert_non_null(F.held[0]);
    rpc_server_call_finish(F.held[0], RPC_OK, NULL, NULL);
    F.held[0] = NULL;
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_OK);
    assert_int_equal(F.npeers, 1);
    teardown();
}

static void test_goaway_refuses_stream(void **state)
{
    (void)state;
    setup_default();
    fake_t f;
    fake_start(&f, FAKE_GOAWAY);
    res_t r;
    start_at(&r, f.addr, "/remora.test.Echo/Unary", 0);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_UNAVAILABLE); /* never processed: safe to retry */
    /* the connection takes no new call: the next one opens another connection */
    start_at(&r, f.addr, "/remora.test.Echo/Unary", 0);
    run_until(res_closed, &r, 5000);
    assert_int_equal(r.status, RPC_UNAVAILABLE);
    assert_int_equal(f.accepts, 2);
    fake_stop(&f);
    teardown();
}

static void wait_ms(unsigned ms)
{
    uint64_t t0 = uv_now(&F.loop);
    while (uv_now(&F.loop) - t0 < ms)
        uv_run(&F.loop, UV_RUN_ONCE);
}

static void test_server_idle_timeout(void **state)
{
    (void)state;
    rpc_server_options_t so = { .idle_conn_timeout_ms = 80 };
    setup_with(&so, NULL);
    res_t r;
    unary(&r, "/remora.test.Echo/Unary", "a", 1, 0);
    assert_int_equal(r.status, RPC_OK);
    res_free(&r);
    wait_ms(300); /* GOAWAY + close from the server */
    unary(&r, "/remora.test.Echo/Unary", "b", 1, 0);
    assert_int_equal(r.status, RPC_OK);
    res_free(&r);
    assert_int_equal(F.npeers, 2);
    teardown();
}

static void test_client_idle_timeout(void **state)
{
    (void)state;
    rpc_client_options_t co = { .idle_conn_timeout_ms = 80 };
    setup_with(NULL, &co);
    res_t r;
    unary(&r, "/remora.test.Echo/Unary", "a", 1, 0);
    res_free(&r);
    unary(&r, "/remora.test.Echo/Unary", "a", 1, 0); /* same connection */
    res_free(&r);
    assert_int_equal(F.npeers, 1);
    wait_ms(300);
    unary(&r, "/remora.test.Echo/Unary", "b", 1, 0);
    assert_int_equal(r.status, RPC_OK);
    res_free(&r);
    assert_int_equal(F.npeers, 2);
    teardown();
}

static int held_count(void)
{
    int n = 0;
    for (int i = 0; i < F.nheld; i++)
        n += F.held[i] != NULL;
    return n;
}

static void test_server_max_concurrent(void **state)
{
    (void)state;
    rpc_server_options_t so = { .max_concurrent_streams = 2 };
    setup_with(&so, NULL);
    enum { N = 6 };
    res_t rs[N];
    for (int i = 0; i < N; i++)
        start(&rs[i], "/remora.test.Echo/Hold", 0), rpc_call_close_send(rs[i].call);
    many_t m = { rs, N };
    int finished = 0;
    uint64_t t0 = uv_now(&F.loop);
    while (!all_closed(&m) && uv_now(&F.loop) - t0 < 5000) {
        uv_run(&F.loop, UV_RUN_ONCE);
        assert_true(held_count() <= 2); /* SETTINGS_MAX_CONCURRENT_STREAMS honoured */
        for (int i = 0; i < F.nheld; i++) {
            if (F.held[i]) {
                rpc_server_call_finish(F.held[i], RPC_OK, NULL, NULL);
                F.held[i] = NULL;
                finished++;
            }
        }
    }
    assert_int_equal(finished, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(rs[i].status, RPC_OK);
    teardown();
}

/* ---- malformed input: the server closes the connection, keeps serving the others --------- */

typedef struct raw {
    uv_tcp_t tcp;
    uv_connect_t cr;
    uv_write_t w;
    const char *data;
    size_t len;
    int eof;
    int closed;
    size_t got;
} raw_t;

static void raw_closed(uv_handle_t *h)
{
    ((raw_t *)h->data)->closed = 1;
}

static void raw_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    (void)n;
    static char buf[65536];
    *b = uv_buf_init(buf, sizeof(buf));
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    raw_t *r = s->data;
    if (n < 0) {
        r->eof = 1;
        uv_read_stop(s);
    } else {
        r->got += (size_t)n;
    }
}

static void raw_connected(uv_connect_t *req, int status)
{
    raw_t *r = req->data;
    if (status < 0) {
        r->eof = 1;
        return;
    }
    uv_buf_t b = uv_buf_init((char *)r->data, (unsigned)r->len);
    uv_write(&r->w, (uv_stream_t *)&r->tcp, &b, 1, NULL);
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

static void raw_send(raw_t *r, const void *data, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->data = data;
    r->len = len;
    uv_tcp_init(&F.loop, &r->tcp);
    r->tcp.data = r;
    r->cr.data = r;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", F.port, &sa);
    uv_tcp_connect(&r->cr, &r->tcp, (struct sockaddr *)&sa, raw_connected);
    run_until(int_set, &r->eof, 5000);
    uv_close((uv_handle_t *)&r->tcp, raw_closed);
    run_until(int_set, &r->closed, 1000); /* the handle may be reused at once */
}

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

static void test_malformed_input(void **state)
{
    (void)state;
    rpc_server_options_t so = { .idle_conn_timeout_ms = 500 };
    setup_with(&so, NULL);
    raw_t r;
    static const char http1[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(&r, http1, sizeof(http1) - 1);
    /* a frame of an unknown length after the preface: 16 MiB DATA on stream 0 */
    static const char bad_frame[] = PREFACE "\xff\xff\xff\x00\x00\x00\x00\x00\x00";
    raw_send(&r, bad_frame, sizeof(bad_frame) - 1);
    /* HEADERS whose HPACK block is garbage */
    static const char bad_hpack[] = PREFACE "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                                            "\x00\x00\x04\x01\x05\x00\x00\x00\x01\xff\xff\xff\xff";
    raw_send(&r, bad_hpack, sizeof(bad_hpack) - 1);
    /* random bytes */
    char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)((x = x * 1103515245u + 12345u) >> 24);
    raw_send(&r, junk, sizeof(junk));
    /* a valid preface, then silence: closed by the idle timeout */
    static const char silent[] = PREFACE "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    raw_send(&r, silent, sizeof(silent) - 1);
    assert_true(r.got > 0); /* our SETTINGS and the GOAWAY */
    /* the server is still fine */
    res_t ok;
    unary(&ok, "/remora.test.Echo/Unary", "alive", 5, 0);
    assert_int_equal(ok.status, RPC_OK);
    assert_string_equal(ok.last, "alive");
    res_free(&ok);
    teardown();
}

/* Requests that are HTTP/2 but not gRPC get gRPC answers, never a crash. */
static void test_not_grpc(void **state)
{
    (void)state;
    rpc_server_options_t so = { .idle_conn_timeout_ms = 200 };
    setup_with(&so, NULL);
    /* HEADERS: :method GET, :scheme http, :path /, :authority x (static table / literal), END_STREAM */
    static const char get[] = PREFACE "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                                      "\x00\x00\x06\x01\x05\x00\x00\x00\x01\x82\x86\x84\x41\x01x";
    raw_t r;
    raw_send(&r, get, sizeof(get) - 1); /* answered (405), then closed when idle */
    assert_true(r.got > 0);
    teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_flow_control),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_keepalive_timeout),
        cmocka_unit_test(test_keepalive_ok),
        cmocka_unit_test(test_goaway_refuses_stream),
        cmocka_unit_test(test_server_idle_timeout),
        cmocka_unit_test(test_client_idle_timeout),
        cmocka_unit_test(test_server_max_concurrent),
        cmocka_unit_test(test_malformed_input),
        cmocka_unit_test(test_not_grpc),
    };
    if (getenv("RPC_TEST"))
        cmocka_set_test_filter(getenv("RPC_TEST"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
