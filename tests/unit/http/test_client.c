/*
 * The HTTP/1.1 client against real servers on a libuv loop: Remora's own http_server_t with a
 * test handler (so both sides are proven together), and a scripted raw-socket server for what
 * a well-behaved server never sends (interim responses, close-delimited or malformed bodies,
 * connections dropped at chosen moments). Every test ends with no handle left on its loop.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "http/client.h"
#include "http/server.h"

#define MIB (1024u * 1024u)

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)((i * 7u) ^ (i >> 11));
}

static void fill_pattern(char *dst, uint64_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)pattern(off + i);
}

/* ==================================== environment ===================================== */

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    http_server_t *server;
    http_listener_shared_t shared;
    int port;
    http_client_t *client;
    int client_closed;
    int server_idle;
    int finishing;
    void (*before_finish)(struct env *e); /* closes test-owned handles */
} env_t;

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    fail_msg("test did not finish in time");
}

static void on_client_closed(void *arg)
{
    ((env_t *)arg)->client_closed = 1;
}

static void on_server_idle(http_server_t *s, void *arg)
{
    (void)s;
    ((env_t *)arg)->server_idle = 1;
}

/* Stops everything; uv_run returns once every handle is closed. */
static void env_finish(env_t *e)
{
    if (e->finishing)
        return;
    e->finishing = 1;
    if (e->before_finish)
        e->before_finish(e);
    http_client_close(e->client, on_client_closed, e);
    if (e->server) {
        http_server_drain(e->server, on_server_idle, e);
        http_server_close_all(e->server);
    } else {
        e->server_idle = 1;
    }
    uv_close((uv_handle_t *)&e->watchdog, NULL);
}

static int listen_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static const http_handler_t test_handler;

static void env_init(env_t *e, const http_client_options_t *copts, unsigned server_idle_ms, int with_server)
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(uv_loop_init(&e->loop), 0);
    uv_timer_init(&e->loop, &e->watchdog);
    uv_timer_start(&e->watchdog, on_watchdog, 20000, 0);
    if (with_server) {
        http_server_options_t so = {
            .limits = { .max_header_bytes = 64 * 1024, .max_header_count = 100, .max_request_line = 8192 },
            .read_header_timeout_ms = 5000,
            .read_body_timeout_ms = 5000,
            .idle_timeout_ms = server_idle_ms ? server_idle_ms : 5000,
            .write_timeout_ms = 5000,
            .linger_ms = 200,
        };
        http_handler_t h = test_handler;
        h.ctx = e;
        e->server = http_server_new(&e->loop, &so, &h);
        assert_non_null(e->server);
        e->shared.max_connections = 1000;
        snprintf(e->shared.name, sizeof(e->shared.name), "test");
        int fd = listen_socket(&e->port);
        assert_int_equal(http_server_listen_fd(e->server, fd, 0, HTTP_LISTENER_API, &e->shared), 0);
    }
    e->client = http_client_new(&e->loop, copts);
    assert_non_null(e->client);
}

static void env_run(env_t *e)
{
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_true(e->finishing);
    assert_true(e->client_closed);
    assert_true(e->server_idle);
    if (e->server)
        http_server_free(e->server);
    assert_int_equal(uv_loop_close(&e->loop), 0); /* no handle leaked */
}

/* ==================================== test server ===================================== */

typedef struct srv {
    int requests;
    char peers[64][64];
    int npeers;
    int aborts;
    int chunked_seen;
    int64_t length_seen;
    uint64_t upload_bytes;
    uint64_t upload_errors;
    int stream_left; /* pieces /stream still has to send */
} srv_t;

static srv_t srv;

static void note_peer(const char *peer)
{
    for (int i = 0; i < srv.npeers; i++)
        if (strcmp(srv.peers[i], peer) == 0)
            return;
    if (srv.npeers < 64)
        snprintf(srv.peers[srv.npeers++], sizeof(srv.peers[0]), "%s", peer);
}

static int64_t query_num(const http_exchange_t *ex, const char *key)
{
    char q[128];
    snprintf(q, sizeof(q), "%.*s", (int)ex->req.query.len, ex->req.query.base);
    const char *p = strstr(q, key);
    return p ? strtoll(p + strlen(key) + 1, NULL, 10) : 0;
}

static void on_abort_count(http_exchange_t *ex, http_abort_reason_t why)
{
    (void)ex;
    (void)why;
    srv.aborts++;
}

/* /echo: collects the request body, answers it back at the end with a Content-Length. */
static void free_buf(void *b)
{
    base_buf_free(b);
}

static void echo_data(http_exchange_t *ex, base_slice_t chunk)
{
    base_buf_append(ex->upper, chunk.base, chunk.len);
}

static void echo_end(http_exchange_t *ex)
{
    base_buf_t *b = ex->upper;
    http_exchange_respond(ex, 200, "application/octet-stream", base_buf_slice(b));
}

static const http_body_cbs_t echo_cbs = { echo_data, echo_end };

/* /big and /upload: a patterned body of `total` bytes, sent under back-pressure. */
typedef struct pump {
    uint64_t total;
    uint64_t sent;
} pump_t;

static void pump(http_exchange_t *ex)
{
    pump_t *p = ex->upper;
    char buf[16384];
    while (p->sent < p->total && http_exchange_pending(ex) < HTTP_SEND_HIGH_WATER) {
        size_t n = (size_t)BASE_MIN((uint64_t)sizeof(buf), p->total - p->sent);
        fill_pattern(buf, p->sent, n);
        p->sent += n;
        if (http_exchange_send_body(ex, buf, n, p->sent == p->total) != 0)
            return;
    }
}

static void pump_start(http_exchange_t *ex, uint64_t total)
{
    pump_t *p = base_pool_calloc(ex->pool, sizeof(*p));
    p->total = total;
    ex->upper = p;
    ex->on_writable = pump;
    ex->res.status = 200;
    ex->res.content_length = (int64_t)total;
    http_exchange_send_head(ex);
    pump(ex);
}

/* /upload: checks the patterned request body, then answers with as many patterned bytes. */
static void upload_data(http_exchange_t *ex, base_slice_t chunk)
{
    for (size_t i = 0; i < chunk.len; i++)
        srv.upload_errors += (uint8_t)chunk.base[i] != pattern(srv.upload_bytes + i);
    srv.upload_bytes += chunk.len;
}

static void upload_end(http_exchange_t *ex)
{
    pump_start(ex, srv.upload_bytes);
}

static const http_body_cbs_t upload_cbs = { upload_data, upload_end };

/* /stream?n=K: K chunked pieces of 1000 bytes, one every 5 ms. */
typedef struct streamer {
    uv_timer_t timer;
    http_exchange_t *ex;
    int next;
    int total;
} streamer_t;

static void streamer_closed(uv_handle_t *h)
{
    base_free(h->data);
}

static void stream_tick(uv_timer_t *t)
{
    streamer_t *s = t->data;
    char piece[1000];
    memset(piece, '.', sizeof(piece));
    snprintf(piece, sizeof(piece), "piece-%03d:", s->next);
    s->next++;
    srv.stream_left = s->total - s->next;
    int last = s->next == s->total;
    http_exchange_t *ex = s->ex;
    if (last) {
        s->ex = NULL;
        uv_close((uv_handle_t *)&s->timer, streamer_closed);
    }
    http_exchange_send_body(ex, piece, sizeof(piece), last);
}

static void stream_abort(http_exchange_t *ex, http_abort_reason_t why)
{
    streamer_t *s = ex->upper;
    on_abort_count(ex, why);
    uv_close((uv_handle_t *)&s->timer, streamer_closed);
}

static void stream_start(http_exchange_t *ex, env_t *e)
{
    streamer_t *s = base_calloc(1, sizeof(*s));
    s->ex = ex;
    s->total = (int)query_num(ex, "n");
    srv.stream_left = s->total;
    uv_timer_init(&e->loop, &s->timer);
    s->timer.data = s;
    ex->upper = s;
    ex->on_abort = stream_abort;
    ex->res.status = 200;
    ex->res.content_length = -1;
    http_exchange_send_head(ex);
    uv_timer_start(&s->timer, stream_tick, 5, 5);
}

static void dump_headers(http_exchange_t *ex)
{
    base_buf_t b = BASE_BUF_INIT;
    for (size_t i = 0; i < ex->req.headers.len; i++) {
        const http_header_t *h = &ex->req.headers.items[i];
        base_buf_printf(&b, "%.*s: %.*s\n", (int)h->name.len, h->name.base, (int)h->value.len, h->value.base);
    }
    http_exchange_respond(ex, 200, "text/plain", base_buf_slice(&b));
    base_buf_free(&b);
}

static int path_is(const http_exchange_t *ex, const char *p)
{
    return base_slice_eq(ex->req.path, base_slice_cstr(p));
}

static void srv_on_request(void *ctx, http_exchange_t *ex, http_listener_kind_t kind)
{
    env_t *e = ctx;
    (void)kind;
    srv.requests++;
    note_peer(ex->req.peer);
    srv.chunked_seen = ex->req.chunked;
    srv.length_seen = ex->req.content_length;
    if (path_is(ex, "/hello")) {
        http_exchange_respond(ex, 200, "text/plain", BASE_SLICE_LIT("hello"));
    } else if (path_is(ex, "/echo")) {
        base_buf_t *b = base_pool_calloc(ex->pool, sizeof(*b));
        base_pool_cleanup_add(ex->pool, free_buf, b);
        ex->upper = b;
        ex->body_cbs = &echo_cbs;
    } else if (path_is(ex, "/upload")) {
        srv.upload_bytes = 0;
        srv.upload_errors = 0;
        ex->body_cbs = &upload_cbs;
    } else if (path_is(ex, "/big")) {
        pump_start(ex, (uint64_t)query_num(ex, "size"));
    } else if (path_is(ex, "/stream")) {
        stream_start(ex, e);
    } else if (path_is(ex, "/stall")) {
        ex->on_abort = on_abort_count;
        ex->res.status = 200;
        ex->res.content_length = 1000000;
        http_exchange_send_head(ex);
        char part[1000];
        memset(part, 's', sizeof(part));
        http_exchange_send_body(ex, part, sizeof(part), 0);
    } else if (path_is(ex, "/early413")) {
        http_exchange_respond(ex, 413, "text/plain", BASE_SLICE_LIT("too large"));
    } else if (path_is(ex, "/cookies")) {
        http_headers_add(&ex->res.headers, ex->pool, BASE_SLICE_LIT("Set-Cookie"), BASE_SLICE_LIT("a=1"));
        http_headers_add(&ex->res.headers, ex->pool, BASE_SLICE_LIT("X-Between"), BASE_SLICE_LIT("x"));
        http_headers_add(&ex->res.headers, ex->pool, BASE_SLICE_LIT("Set-Cookie"), BASE_SLICE_LIT("b=2"));
        http_exchange_respond(ex, 200, "text/plain", BASE_SLICE_LIT("cookies"));
    } else if (base_slice_starts_with(ex->req.path, "/status/")) {
        int status = atoi(ex->req.path.base + 8);
        char v[8];
        snprintf(v, sizeof(v), "%d", status);
        http_headers_add_copy(&ex->res.headers, ex->pool, BASE_SLICE_LIT("X-Status"), base_slice_cstr(v));
        http_exchange_respond(ex, status, "text/plain", base_slice_cstr(v));
    } else if (path_is(ex, "/headers")) {
        dump_headers(ex);
    } else {
        http_exchange_respond(ex, 404, "text/plain", BASE_SLICE_LIT("no route"));
    }
}

static const http_handler_t test_handler = { srv_on_request, NULL };

/* ==================================== raw server ====================================== */

typedef enum raw_action { RAW_REPLY = 0, RAW_REPLY_CLOSE, RAW_CLOSE, RAW_SILENT } raw_action_t;

typedef struct raw_conn raw_conn_t;
typedef struct raw_server {
    uv_tcp_t tcp;
    int port;
    int accepted;
    int requests;
    int answer_at_head; /* answer as soon as a head arrived; the body is read and ignored */
    raw_action_t (*script)(raw_conn_t *rc, const char **reply);
    raw_conn_t *conns[16];
    char last_body[256];
} raw_server_t;

struct raw_conn {
    uv_tcp_t tcp;
    raw_server_t *srv;
    int index; /* accept order */
    int reqs;  /* requests seen on this connection */
    char buf[16384];
    size_t len;
    int64_t body_left;
    int closing;
    char body[256];
    size_t body_len;
};

typedef struct raw_write {
    uv_write_t req;
    raw_conn_t *rc;
    int close_after;
    char data[];
} raw_write_t;

static raw_server_t raw;

static void raw_conn_closed(uv_handle_t *h)
{
    raw_conn_t *rc = h->data;
    for (int i = 0; i < 16; i++)
        if (rc->srv->conns[i] == rc)
            rc->srv->conns[i] = NULL;
    free(rc);
}

static void raw_conn_close(raw_conn_t *rc)
{
    if (rc->closing)
        return;
    rc->closing = 1;
    uv_close((uv_handle_t *)&rc->tcp, raw_conn_closed);
}

static void raw_written(uv_write_t *req, int status)
{
    raw_write_t *w = (raw_write_t *)req;
    (void)status;
    if (w->close_after)
        raw_conn_close(w->rc);
    free(w);
}

static void raw_send(raw_conn_t *rc, const char *s, int close_after)
{
    size_t n = strlen(s);
    raw_write_t *w = malloc(sizeof(*w) + n);
    w->rc = rc;
    w->close_after = close_after;
    memcpy(w->data, s, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&rc->tcp, &b, 1, raw_written) != 0)
        free(w);
}

static void raw_dispatch(raw_conn_t *rc)
{
    const char *reply = NULL;
    raw_action_t a = rc->srv->script(rc, &reply);
    rc->srv->requests++;
    rc->reqs++;
    switch (a) {
    case RAW_REPLY:
        raw_send(rc, reply, 0);
        break;
    case RAW_REPLY_CLOSE:
        raw_send(rc, reply, 1);
        break;
    case RAW_CLOSE:
        raw_conn_close(rc);
        break;
    case RAW_SILENT:
        break;
    }
}

static int64_t head_length(const char *head, size_t len)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%.*s", (int)BASE_MIN(len, sizeof(tmp) - 1), head);
    for (char *p = tmp; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    const char *cl = strstr(tmp, "\ncontent-length:");
    return cl ? strtoll(cl + 16, NULL, 10) : 0;
}

static void raw_parse(raw_conn_t *rc)
{
    while (!rc->closing) {
        if (rc->body_left > 0) {
            size_t n = (size_t)BASE_MIN((int64_t)rc->len, rc->body_left);
            size_t keep = BASE_MIN(n, sizeof(rc->body) - 1 - rc->body_len);
            memcpy(rc->body + rc->body_len, rc->buf, keep);
            rc->body_len += keep;
            memmove(rc->buf, rc->buf + n, rc->len - n);
            rc->len -= n;
            rc->body_left -= (int64_t)n;
            if (rc->body_left > 0)
                return;
            rc->body[rc->body_len] = 0;
            snprintf(rc->srv->last_body, sizeof(rc->srv->last_body), "%s", rc->body);
            if (!rc->srv->answer_at_head)
                raw_dispatch(rc);
            continue;
        }
        char *end = memmem(rc->buf, rc->len, "\r\n\r\n", 4);
        if (!end)
            return;
        size_t head = (size_t)(end - rc->buf) + 4;
        int64_t body = head_length(rc->buf, head);
        memmove(rc->buf, rc->buf + head, rc->len - head);
        rc->len -= head;
        rc->body_len = 0;
        rc->body_left = body;
        if (body == 0 || rc->srv->answer_at_head)
            raw_dispatch(rc);
    }
}

static void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    raw_conn_t *rc = h->data;
    (void)s;
    *b = uv_buf_init(rc->buf + rc->len, (unsigned)(sizeof(rc->buf) - rc->len));
}

static void raw_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    raw_conn_t *rc = st->data;
    (void)b;
    if (n < 0) {
        raw_conn_close(rc);
        return;
    }
    rc->len += (size_t)n;
    raw_parse(rc);
    if (rc->len == sizeof(rc->buf))
        rc->len = 0; /* a body we do not track: drop it */
}

static void raw_on_connection(uv_stream_t *l, int status)
{
    raw_server_t *rs = l->data;
    assert_int_equal(status, 0);
    raw_conn_t *rc = calloc(1, sizeof(*rc));
    rc->srv = rs;
    rc->index = rs->accepted++;
    uv_tcp_init(l->loop, &rc->tcp);
    rc->tcp.data = rc;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&rc->tcp), 0);
    for (int i = 0; i < 16; i++)
        if (!rs->conns[i]) {
            rs->conns[i] = rc;
            break;
        }
    uv_read_start((uv_stream_t *)&rc->tcp, raw_alloc, raw_read);
}

static void raw_start(env_t *e, raw_action_t (*script)(raw_conn_t *, const char **))
{
    memset(&raw, 0, sizeof(raw));
    raw.script = script;
    int fd = listen_socket(&raw.port);
    uv_tcp_init(&e->loop, &raw.tcp);
    raw.tcp.data = &raw;
    assert_int_equal(uv_tcp_open(&raw.tcp, fd), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&raw.tcp, 16, raw_on_connection), 0);
}

static void raw_stop(env_t *e)
{
    (void)e;
    uv_close((uv_handle_t *)&raw.tcp, NULL);
    for (int i = 0; i < 16; i++)
        if (raw.conns[i])
            raw_conn_close(raw.conns[i]);
}

/* ==================================== client side ===================================== */

typedef struct call call_t;
struct call {
    env_t *env;
    http_client_req_t *req;
    int status;
    int heads;
    int done;
    int err;
    int data_calls;
    char errmsg[256];
    char headers[2048];
    base_buf_t body;
    uint64_t body_len;
    uint64_t body_errors;
    int check_pattern;
    int reused;
    int64_t res_len;
    size_t idle_at_done;
    int in_api;         /* inside a client call: a callback now would break the contract */
    int data_while_paused;
    int paused;
    uint64_t first_data_stream_left;
    void (*on_head)(call_t *c);
    void (*on_data)(call_t *c, base_slice_t chunk);
    void (*on_writable)(call_t *c);
    void (*next)(call_t *c); /* after on_done */
    void *user;
};

static void c_on_head(http_client_req_t *req, void *ud, int status, const http_headers_t *h)
{
    call_t *c = ud;
    assert_false(c->in_api);
    assert_ptr_equal(req, c->req);
    c->heads++;
    c->status = status;
    c->reused = http_client_req_reused(req);
    c->res_len = http_client_req_response_length(req);
    size_t off = 0;
    for (size_t i = 0; i < h->len && off < sizeof(c->headers); i++)
        off += (size_t)snprintf(c->headers + off, sizeof(c->headers) - off, "%.*s: %.*s\n", (int)h->items[i].name.len,
                                h->items[i].name.base, (int)h->items[i].value.len, h->items[i].value.base);
    if (c->on_head)
        c->on_head(c);
}

static void c_on_data(http_client_req_t *req, void *ud, base_slice_t chunk)
{
    call_t *c = ud;
    (void)req;
    assert_false(c->in_api);
    assert_true(chunk.len > 0);
    if (c->paused)
        c->data_while_paused++;
    if (c->data_calls++ == 0)
        c->first_data_stream_left = (uint64_t)srv.stream_left;
    if (c->check_pattern) {
        for (size_t i = 0; i < chunk.len; i++)
            c->body_errors += (uint8_t)chunk.base[i] != pattern(c->body_len + i);
    } else {
        base_buf_append(&c->body, chunk.base, chunk.len);
    }
    c->body_len += chunk.len;
    if (c->on_data)
        c->on_data(c, chunk);
}

static void c_on_writable(http_client_req_t *req, void *ud)
{
    call_t *c = ud;
    (void)req;
    assert_false(c->in_api);
    if (c->on_writable)
        c->on_writable(c);
}

static void c_on_done(http_client_req_t *req, void *ud, int err, const char *msg)
{
    call_t *c = ud;
    (void)req;
    assert_false(c->in_api);
    assert_int_equal(c->done, 0);
    c->done++;
    c->err = err;
    if (err)
        snprintf(c->errmsg, sizeof(c->errmsg), "%s", msg ? msg : "");
    else
        assert_null(msg);
    c->idle_at_done = http_client_idle_count(c->env->client);
    c->req = NULL;
    if (c->next)
        c->next(c);
}

static const http_client_cbs_t call_cbs = { c_on_head, c_on_data, c_on_writable, c_on_done };

static void call_start_at(call_t *c, env_t *e, const char *host, int port, const char *method, const char *target,
                          const http_headers_t *headers, int64_t length)
{
    c->env = e;
    c->in_api = 1;
    c->req = http_client_request(e->client, host, port, base_slice_cstr(method), base_slice_cstr(target), headers,
                                 length, &call_cbs, c);
    c->in_api = 0;
    assert_non_null(c->req);
}

static void call_start(call_t *c, env_t *e, const char *method, const char *target, const http_headers_t *headers,
                       int64_t length)
{
    call_start_at(c, e, "127.0.0.1", e->port, method, target, headers, length);
}

static int call_write(call_t *c, const void *data, size_t len)
{
    c->in_api = 1;
    int r = http_client_req_write(c->req, data, len);
    c->in_api = 0;
    return r;
}

static int call_write_ref(call_t *c, const void *data, size_t len)
{
    c->in_api = 1;
    int r = http_client_req_write_ref(c->req, data, len);
    c->in_api = 0;
    return r;
}

static int call_end(call_t *c)
{
    c->in_api = 1;
    int r = http_client_req_end(c->req);
    c->in_api = 0;
    return r;
}

static void call_free(call_t *c)
{
    base_buf_free(&c->body);
}

static int body_is(const call_t *c, const char *s)
{
    return c->body.len == strlen(s) && memcmp(c->body.base, s, c->body.len) == 0;
}

static void finish_env(call_t *c)
{
    env_finish(c->env);
}

/* ===================================== the tests ====================================== */

static env_t env;
static call_t calls[8];

static void reset(void)
{
    memset(&srv, 0, sizeof(srv));
    for (size_t i = 0; i < BASE_ARRAY_SIZE(calls); i++)
        call_free(&calls[i]);
    memset(calls, 0, sizeof(calls));
}

static void reuse_second(call_t *c)
{
    calls[1].next = finish_env;
    call_start(&calls[1], c->env, "GET", "/hello", NULL, 0);
}

static void test_get_keepalive_reuse(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    calls[0].next = reuse_second;
    call_start(&calls[0], &env, "GET", "/hello", NULL, 0);
    env_run(&env);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(calls[i].err, 0);
        assert_int_equal(calls[i].status, 200);
        assert_true(body_is(&calls[i], "hello"));
        assert_int_equal(calls[i].res_len, 5);
        assert_int_equal(calls[i].idle_at_done, 1); /* back in the pool before on_done */
    }
    assert_int_equal(calls[0].reused, 0);
    assert_int_equal(calls[1].reused, 1);
    assert_int_equal(srv.requests, 2);
    assert_int_equal(srv.npeers, 1); /* one connection accepted */
    reset();
}

/* 40 requests at once open 40 connections; the next wave of 40 reuses every one of them. */
#define WAVE 40
static call_t wave[2][WAVE];
static int wave_done;

static void wave_next(call_t *c)
{
    assert_int_equal(c->err, 0);
    if (++wave_done == WAVE) {
        assert_int_equal(http_client_idle_count(c->env->client), WAVE);
        for (int i = 0; i < WAVE; i++) {
            wave[1][i].next = wave_next;
            call_start(&wave[1][i], c->env, "GET", "/hello", NULL, 0);
        }
    } else if (wave_done == 2 * WAVE) {
        env_finish(c->env);
    }
}

static void test_concurrent_requests_fill_the_pool(void **state)
{
    (void)state;
    reset();
    memset(wave, 0, sizeof(wave));
    wave_done = 0;
    env_init(&env, NULL, 0, 1);
    for (int i = 0; i < WAVE; i++) {
        wave[0][i].next = wave_next;
        call_start(&wave[0][i], &env, "GET", "/hello", NULL, 0);
    }
    env_run(&env);
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < WAVE; i++) {
            assert_true(body_is(&wave[w][i], "hello"));
            assert_int_equal(wave[w][i].reused, w);
            call_free(&wave[w][i]);
        }
    assert_int_equal(srv.requests, 2 * WAVE);
    assert_int_equal(srv.npeers, WAVE);
    reset();
}

/* max_idle_per_host < 0: no pooling, each request dials. */
static void test_pooling_disabled(void **state)
{
    (void)state;
    reset();
    http_client_options_t o = { .max_idle_per_host = -1 };
    env_init(&env, &o, 0, 1);
    calls[0].next = reuse_second;
    call_start(&calls[0], &env, "GET", "/hello", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].idle_at_done, 0);
    assert_int_equal(calls[1].err, 0);
    assert_int_equal(calls[1].reused, 0);
    assert_int_equal(srv.npeers, 2);
    reset();
}

static void test_post_content_length(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    calls[0].next = finish_env;
    call_start(&calls[0], &env, "POST", "/echo?x=1", NULL, 11);
    assert_int_equal(call_write(&calls[0], "hello ", 6), 0);
    assert_int_equal(call_write(&calls[0], "world!", 6), UV_EINVAL); /* past Content-Length */
    assert_int_equal(call_write(&calls[0], "world", 5), 0);
    assert_int_equal(call_end(&calls[0]), 0);
    assert_int_equal(call_write(&calls[0], "x", 1), UV_EINVAL);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].status, 200);
    assert_true(body_is(&calls[0], "hello world"));
    assert_int_equal(srv.length_seen, 11);
    assert_int_equal(srv.chunked_seen, 0);
    reset();
}

/* A chunked request body written piece by piece over several loop turns. */
typedef struct writer {
    uv_timer_t timer;
    call_t *call;
    int pieces;
    int written;
    int by_ref;           /* pieces: every other one written by reference, from piece_at */
    char piece_at[20][16];
    size_t piece_size;
    uint64_t offset;
    uint64_t total;
} writer_t;

static writer_t writer;

static void writer_tick(uv_timer_t *t)
{
    writer_t *w = t->data;
    call_t *c = w->call;
    if (!c->req || c->done) {
        uv_timer_stop(t);
        return;
    }
    if (w->pieces) {
        char *piece = w->piece_at[w->written];
        int n = snprintf(piece, sizeof(w->piece_at[0]), "piece-%02d;", w->written);
        if (w->by_ref && w->written % 2)
            assert_int_equal(call_write_ref(c, piece, (size_t)n), 0);
        else
            assert_int_equal(call_write(c, piece, (size_t)n), 0);
        if (++w->written == w->pieces) {
            assert_int_equal(call_end(c), 0);
            uv_timer_stop(t);
        }
        return;
    }
    /* patterned body of `total` bytes, `piece_size` per tick */
    char *buf = malloc(w->piece_size);
    size_t n = (size_t)BASE_MIN((uint64_t)w->piece_size, w->total - w->offset);
    fill_pattern(buf, w->offset, n);
    int r = call_write(c, buf, n);
    free(buf);
    assert_int_equal(r, 0);
    w->offset += n;
    if (w->offset == w->total) {
        call_end(c);
        uv_timer_stop(t);
    }
}

static void writer_close(env_t *e)
{
    (void)e;
    uv_close((uv_handle_t *)&writer.timer, NULL);
}

static void writer_start(env_t *e, call_t *c, unsigned every_ms)
{
    writer.call = c;
    uv_timer_init(&e->loop, &writer.timer);
    writer.timer.data = &writer;
    uv_timer_start(&writer.timer, writer_tick, every_ms, every_ms);
    e->before_finish = writer_close;
}

static void chunked_request_streamed(int by_ref)
{
    reset();
    env_init(&env, NULL, 0, 1);
    memset(&writer, 0, sizeof(writer));
    writer.pieces = 20;
    writer.by_ref = by_ref;
    calls[0].next = finish_env;
    call_start(&calls[0], &env, "PUT", "/echo", NULL, -1);
    writer_start(&env, &calls[0], 2);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].status, 200);
    char want[512] = "";
    for (int i = 0; i < 20; i++)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "piece-%02d;", i);
    assert_true(body_is(&calls[0], want));
    assert_int_equal(srv.chunked_seen, 1);
    reset();
}

static void test_chunked_request_streamed(void **state)
{
    (void)state;
    chunked_request_streamed(0);
}

/* The same with every other piece borrowed: framing stays right across loop turns. */
static void test_chunked_request_streamed_by_ref(void **state)
{
    (void)state;
    chunked_request_streamed(1);
}

static void test_chunked_response_streamed(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    calls[0].next = finish_env;
    call_start(&calls[0], &env, "GET", "/stream?n=10", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].res_len, -1);
    assert_int_equal(calls[0].body_len, 10000);
    /* the server holds the first 2048 bytes (as Go's net/http), so pieces 0-2 come as one */
    assert_true(calls[0].data_calls >= 8);
    assert_true(calls[0].first_data_stream_left > 0); /* delivered while the app still sent */
    for (int i = 0; i < 10; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "piece-%03d:", i);
        assert_memory_equal(calls[0].body.base + i * 1000, tag, strlen(tag));
    }
    reset();
}

/* 3 MiB up under back-pressure (on_writable), 3 MiB down, both checked byte by byte. */
typedef struct upload {
    uint64_t offset;
    uint64_t total;
    size_t max_pending;
    int writable_calls;
} upload_t;

static upload_t up;

static void upload_more(call_t *c)
{
    char buf[65536];
    while (up.offset < up.total && http_client_req_pending(c->req) < HTTP_CLIENT_SEND_HIGH_WATER) {
        size_t n = (size_t)BASE_MIN((uint64_t)sizeof(buf), up.total - up.offset);
        fill_pattern(buf, up.offset, n);
        assert_int_equal(call_write(c, buf, n), 0);
        up.offset += n;
        up.max_pending = BASE_MAX(up.max_pending, http_client_req_pending(c->req));
    }
    if (up.offset == up.total)
        assert_int_equal(call_end(c), 0);
}

static void upload_writable(call_t *c)
{
    up.writable_calls++;
    upload_more(c);
}

static void test_large_bodies_both_ways(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    memset(&up, 0, sizeof(up));
    up.total = 3 * MIB;
    calls[0].next = finish_env;
    calls[0].check_pattern = 1;
    calls[0].on_writable = upload_writable;
    call_start(&calls[0], &env, "POST", "/upload", NULL, (int64_t)up.total);
    upload_more(&calls[0]);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].status, 200);
    assert_int_equal(srv.upload_bytes, 3 * MIB);
    assert_int_equal(srv.upload_errors, 0);
    assert_int_equal(calls[0].body_len, 3 * MIB);
    assert_int_equal(calls[0].body_errors, 0);
    assert_true(up.writable_calls > 0);
    assert_true(up.max_pending < HTTP_CLIENT_SEND_HIGH_WATER + 65536);
    reset();
}

static void test_multi_value_headers(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    calls[0].next = finish_env;
    call_start(&calls[0], &env, "GET", "/cookies", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_non_null(strstr(calls[0].headers, "Set-Cookie: a=1\nX-Between: x\nSet-Cookie: b=2\n"));
    reset();
}

static void statuses_next(call_t *c)
{
    static const char *const targets[] = { "/status/201", "/status/404", "/status/500" };
    int i = (int)(c - calls) + 1;
    if (i == 3) {
        env_finish(c->env);
        return;
    }
    calls[i].next = statuses_next;
    call_start(&calls[i], c->env, "GET", targets[i], NULL, 0);
}

static void test_statuses_with_headers(void **state)
{
    (void)state;
    reset();
    http_client_options_t o = { .response_header_timeout_ms = 5000 }; /* armed, then disarmed */
    env_init(&env, &o, 0, 1);
    calls[0].next = statuses_next;
    call_start(&calls[0], &env, "GET", "/status/201", NULL, 0);
    env_run(&env);
    static const int want[] = { 201, 404, 500 };
    for (int i = 0; i < 3; i++) {
        char hdr[32], body[8];
        snprintf(hdr, sizeof(hdr), "X-Status: %d\n", want[i]);
        snprintf(body, sizeof(body), "%d", want[i]);
        assert_int_equal(calls[i].err, 0);
        assert_int_equal(calls[i].status, want[i]);
        assert_non_null(strstr(calls[i].headers, hdr));
        assert_true(body_is(&calls[i], body));
    }
    assert_int_equal(srv.npeers, 1); /* error statuses keep the connection */
    reset();
}

static void test_connection_refused(void **state)
{
    (void)state;
    reset();
    int port;
    close(listen_socket(&port)); /* a port nobody listens on */
    env_init(&env, NULL, 0, 0);
    calls[0].next = finish_env;
    uint64_t t0 = uv_hrtime();
    call_start_at(&calls[0], &env, "127.0.0.1", port, "GET", "/", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, UV_ECONNREFUSED);
    char want[96];
    snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%d: connect: connection refused", port);
    assert_string_equal(calls[0].errmsg, want);
    assert_true(uv_hrtime() - t0 < 2000000000ull);
    assert_int_equal(calls[0].heads, 0);
    reset();
}

/* The app closes a pooled connection (its keep-alive timeout): the client drops it. */
static uv_timer_t pause_timer;

static void idle_second(uv_timer_t *t)
{
    (void)t;
    assert_int_equal(http_client_idle_count(env.client), 0); /* EOF seen while idle */
    calls[1].next = finish_env;
    call_start(&calls[1], &env, "GET", "/hello", NULL, 0);
}

static void idle_wait(call_t *c)
{
    (void)c;
    uv_timer_start(&pause_timer, idle_second, 300, 0);
}

static void close_pause_timer(env_t *e)
{
    (void)e;
    uv_close((uv_handle_t *)&pause_timer, NULL);
}

static void test_pooled_conn_closed_by_server(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 50, 1);
    uv_timer_init(&env.loop, &pause_timer);
    env.before_finish = close_pause_timer;
    calls[0].next = idle_wait;
    call_start(&calls[0], &env, "GET", "/hello", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].idle_at_done, 1);
    assert_int_equal(calls[1].err, 0);
    assert_int_equal(calls[1].reused, 0);
    assert_true(body_is(&calls[1], "hello"));
    assert_int_equal(srv.npeers, 2);
    reset();
}

/* The app closes a pooled connection just as a request goes out on it: retried once. */
static raw_action_t script_close_second(raw_conn_t *rc, const char **reply)
{
    if (rc->index == 0 && rc->reqs == 1)
        return RAW_CLOSE; /* read the request, then close without answering */
    *reply = rc->index == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
                            : "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";
    return RAW_REPLY;
}

static void raw_finish(call_t *c)
{
    env_finish(c->env);
}

static void retry_second(call_t *c)
{
    calls[1].next = raw_finish;
    call_start_at(&calls[1], c->env, "127.0.0.1", raw.port, "POST", "/two", NULL, 5);
    assert_int_equal(call_write(&calls[1], "hello", 5), 0);
}

static void test_retry_when_reused_conn_was_closed(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 0);
    raw_start(&env, script_close_second);
    env.before_finish = raw_stop;
    calls[0].next = retry_second;
    call_start_at(&calls[0], &env, "127.0.0.1", raw.port, "GET", "/one", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_true(body_is(&calls[0], "one"));
    assert_int_equal(calls[1].err, 0);
    assert_true(body_is(&calls[1], "two"));
    assert_int_equal(calls[1].reused, 0); /* answered on the new connection */
    assert_int_equal(raw.accepted, 2);
    assert_string_equal(raw.last_body, "hello"); /* the body was replayed */
    reset();
}

/* A response cut short on a reused connection is not retried: the app did answer. */
static raw_action_t script_truncate_second(raw_conn_t *rc, const char **reply)
{
    if (rc->reqs == 1) {
        *reply = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        return RAW_REPLY_CLOSE;
    }
    *reply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none";
    return RAW_REPLY;
}

static void truncate_second(call_t *c)
{
    calls[1].next = raw_finish;
    call_start_at(&calls[1], c->env, "127.0.0.1", raw.port, "GET", "/two", NULL, 0);
}

static void test_truncated_response_not_retried(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 0);
    raw_start(&env, script_truncate_second);
    env.before_finish = raw_stop;
    calls[0].next = truncate_second;
    call_start_at(&calls[0], &env, "127.0.0.1", raw.port, "GET", "/one", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[1].err, UV_EOF);
    assert_non_null(strstr(calls[1].errmsg, "unexpected EOF"));
    assert_int_equal(calls[1].status, 200);
    assert_int_equal(raw.accepted, 1);
    reset();
}

/* The app answers before the body is sent: delivered, the connection not reused. */
static void early_second(call_t *c)
{
    assert_true(writer.offset < writer.total); /* the body was not fully sent */
    calls[1].next = finish_env;
    call_start(&calls[1], c->env, "GET", "/hello", NULL, 0);
}

static void test_early_response_before_body(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    memset(&writer, 0, sizeof(writer));
    writer.total = 4 * MIB;
    writer.piece_size = 16384;
    calls[0].next = early_second;
    call_start(&calls[0], &env, "POST", "/early413", NULL, (int64_t)writer.total);
    writer_start(&env, &calls[0], 1);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].status, 413);
    assert_true(body_is(&calls[0], "too large"));
    assert_int_equal(calls[1].err, 0);
    assert_int_equal(calls[1].reused, 0);
    assert_int_equal(srv.npeers, 2);
    reset();
}

/* Same with an app that keeps the connection open: still not reused (body bytes pending). */
static raw_action_t script_answer_at_head(raw_conn_t *rc, const char **reply)
{
    (void)rc;
    *reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly";
    return RAW_REPLY;
}

static void early_raw_second(call_t *c)
{
    calls[1].next = raw_finish;
    call_start_at(&calls[1], c->env, "127.0.0.1", raw.port, "GET", "/", NULL, 0);
}

static void test_early_keepalive_response_closes_conn(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 0);
    raw_start(&env, script_answer_at_head);
    raw.answer_at_head = 1;
    calls[0].next = early_raw_second;
    call_start_at(&calls[0], &env, "127.0.0.1", raw.port, "POST", "/", NULL, 1000);
    assert_int_equal(call_write(&calls[0], "x", 1), 0); /* 999 bytes never come */
    env.before_finish = raw_stop;
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_true(body_is(&calls[0], "early"));
    assert_int_equal(calls[1].err, 0);
    assert_int_equal(calls[1].reused, 0);
    assert_int_equal(raw.accepted, 2);
    reset();
}

/* Cancel inside on_data: on_done comes later with UV_ECANCELED. */
static void cancel_on_data(call_t *c, base_slice_t chunk)
{
    (void)chunk;
    if (c->data_calls == 1) {
        c->in_api = 1;
        http_client_req_cancel(c->req);
        http_client_req_cancel(c->req); /* twice: no effect */
        c->in_api = 0;
    }
}

static void test_cancel_mid_response(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    calls[0].on_data = cancel_on_data;
    calls[0].next = finish_env;
    call_start(&calls[0], &env, "GET", "/stall", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].status, 200);
    assert_int_equal(calls[0].data_calls, 1);
    assert_int_equal(calls[0].err, UV_ECANCELED);
    assert_string_equal(calls[0].errmsg, "request canceled");
    reset();
}

/* Pause at every 256 KiB of a 2 MiB response, resume 10 ms later: nothing arrives meanwhile. */
static void resume_tick(uv_timer_t *t)
{
    call_t *c = t->data;
    c->paused = 0;
    c->in_api = 1;
    http_client_req_resume(c->req);
    c->in_api = 0;
}

static void pause_on_data(call_t *c, base_slice_t chunk)
{
    uint64_t before = c->body_len - chunk.len;
    if (before / (256 * 1024) != c->body_len / (256 * 1024) && c->body_len < 2 * MIB) {
        c->paused = 1;
        c->in_api = 1;
        http_client_req_pause(c->req);
        c->in_api = 0;
        ((int *)c->user)[0]++;
        uv_timer_start(&pause_timer, resume_tick, 10, 0);
    }
}

static void test_pause_resume_large_body(void **state)
{
    (void)state;
    reset();
    int pauses = 0;
    env_init(&env, NULL, 0, 1);
    uv_timer_init(&env.loop, &pause_timer);
    pause_timer.data = &calls[0];
    env.before_finish = close_pause_timer;
    calls[0].check_pattern = 1;
    calls[0].user = &pauses;
    calls[0].on_data = pause_on_data;
    calls[0].next = finish_env;
    call_start(&calls[0], &env, "GET", "/big?size=2097152", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].body_len, 2 * MIB);
    assert_int_equal(calls[0].body_errors, 0);
    assert_int_equal(calls[0].data_while_paused, 0);
    assert_true(pauses >= 7);
    reset();
}

/* Paused in on_head: neither the body nor the completion arrives until resume. */
static void check_still_paused(uv_timer_t *t)
{
    call_t *c = t->data;
    assert_int_equal(c->data_calls, 0);
    assert_int_equal(c->done, 0);
    resume_tick(t);
}

static void pause_in_head(call_t *c)
{
    c->paused = 1;
    c->in_api = 1;
    http_client_req_pause(c->req);
    http_client_req_pause(c->req);
    c->in_api = 0;
    uv_timer_start(&pause_timer, check_still_paused, 50, 0);
}

static void pause_head_next(call_t *c)
{
    if (c == &calls[1]) {
        env_finish(c->env);
        return;
    }
    calls[1].next = pause_head_next;
    calls[1].on_head = pause_in_head;
    pause_timer.data = &calls[1];
    call_start(&calls[1], c->env, "HEAD", "/hello", NULL, 0);
}

static void test_pause_in_head_holds_completion(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    uv_timer_init(&env.loop, &pause_timer);
    pause_timer.data = &calls[0];
    env.before_finish = close_pause_timer;
    calls[0].on_head = pause_in_head;
    calls[0].next = pause_head_next;
    call_start(&calls[0], &env, "GET", "/hello", NULL, 0);
    env_run(&env);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(calls[i].err, 0);
        assert_int_equal(calls[i].data_while_paused, 0);
    }
    assert_true(body_is(&calls[0], "hello"));
    assert_int_equal(calls[1].data_calls, 0);
    assert_int_equal(calls[1].reused, 1);
    reset();
}

static void head_second(call_t *c)
{
    calls[1].next = finish_env;
    call_start(&calls[1], c->env, "GET", "/hello", NULL, 0);
}

static void test_head_has_no_body(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    calls[0].next = head_second;
    call_start(&calls[0], &env, "HEAD", "/hello", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].status, 200);
    assert_int_equal(calls[0].res_len, 5);
    assert_int_equal(calls[0].data_calls, 0);
    assert_int_equal(calls[1].err, 0);
    assert_int_equal(calls[1].reused, 1);
    assert_true(body_is(&calls[1], "hello"));
    reset();
}

/* Interim 100 Continue, then a body delimited by the connection close. */
static raw_action_t script_interim_then_close(raw_conn_t *rc, const char **reply)
{
    (void)rc;
    *reply = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the close";
    return RAW_REPLY_CLOSE;
}

static void test_interim_and_close_delimited(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 0);
    raw_start(&env, script_interim_then_close);
    env.before_finish = raw_stop;
    calls[0].next = raw_finish;
    call_start_at(&calls[0], &env, "127.0.0.1", raw.port, "GET", "/", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].heads, 1);
    assert_int_equal(calls[0].status, 200);
    assert_int_equal(calls[0].res_len, -1);
    assert_true(body_is(&calls[0], "until the close"));
    assert_int_equal(calls[0].idle_at_done, 0);
    reset();
}

/* Malformed and oversized responses fail the request; the next one gets a new connection. */
static const char *bad_replies[3];

static raw_action_t script_bad(raw_conn_t *rc, const char **reply)
{
    *reply = bad_replies[rc->index];
    return RAW_REPLY;
}

static void bad_next(call_t *c)
{
    int i = (int)(c - calls) + 1;
    if (i == 3) {
        env_finish(c->env);
        return;
    }
    calls[i].next = bad_next;
    call_start_at(&calls[i], c->env, "127.0.0.1", raw.port, "GET", "/", NULL, 0);
}

static void test_malformed_and_oversized_responses(void **state)
{
    (void)state;
    reset();
    static char big[2048];
    snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX-Big: %01500d\r\nContent-Length: 0\r\n\r\n", 1);
    bad_replies[0] = "HTTP/1.1 2x0 OK\r\n\r\n";
    bad_replies[1] = big;
    bad_replies[2] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n";
    http_client_options_t o = { .max_response_header_bytes = 1024 };
    env_init(&env, &o, 0, 0);
    raw_start(&env, script_bad);
    env.before_finish = raw_stop;
    calls[0].next = bad_next;
    call_start_at(&calls[0], &env, "127.0.0.1", raw.port, "GET", "/", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, UV_EPROTO);
    assert_non_null(strstr(calls[0].errmsg, "malformed HTTP response"));
    assert_int_equal(calls[1].err, UV_E2BIG);
    assert_string_equal(calls[1].errmsg, "server response headers exceeded 1024 bytes; aborted");
    assert_int_equal(calls[2].err, UV_EPROTO);
    assert_int_equal(calls[2].status, 200);
    assert_int_equal(raw.accepted, 3);
    reset();
}

static raw_action_t script_silent(raw_conn_t *rc, const char **reply)
{
    (void)rc;
    (void)reply;
    return RAW_SILENT;
}

static void test_response_header_timeout(void **state)
{
    (void)state;
    reset();
    http_client_options_t o = { .response_header_timeout_ms = 100 };
    env_init(&env, &o, 0, 0);
    raw_start(&env, script_silent);
    env.before_finish = raw_stop;
    calls[0].next = raw_finish;
    call_start_at(&calls[0], &env, "127.0.0.1", raw.port, "GET", "/", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, UV_ETIMEDOUT);
    assert_string_equal(calls[0].errmsg, "net/http: timeout awaiting response headers");
    reset();
}

static void test_hop_by_hop_dropped(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    base_pool_t *pool = base_pool_create(0);
    http_headers_t h = { 0 };
    static const char *const fields[][2] = {
        { "Connection", "X-Drop, keep-alive" }, { "X-Drop", "1" }, { "Keep-Alive", "timeout=5" },
        { "TE", "trailers" }, { "Upgrade", "h2c" }, { "Host", "evil.example" }, { "Content-Length", "99" },
        { "Transfer-Encoding", "chunked" }, { "Proxy-Connection", "x" }, { "Trailer", "y" },
        { "X-Keep", "yes" }, { "Set-Cookie", "c=1" }, { "Set-Cookie", "d=2" },
    };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(fields); i++)
        http_headers_add(&h, pool, base_slice_cstr(fields[i][0]), base_slice_cstr(fields[i][1]));
    calls[0].next = finish_env;
    call_start(&calls[0], &env, "GET", "/headers", &h, 0);
    base_pool_destroy(pool); /* the client copied what it needs */
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    char want[256];
    snprintf(want, sizeof(want), "Host: 127.0.0.1:%d\nX-Keep: yes\nSet-Cookie: c=1\nSet-Cookie: d=2\n", env.port);
    base_buf_append(&calls[0].body, "", 1);
    assert_string_equal(calls[0].body.base, want);
    reset();
}

static void invalid_next(call_t *c)
{
    int i = (int)(c - calls) + 1;
    if (i == 3) {
        env_finish(c->env);
        return;
    }
    calls[i].next = invalid_next;
    if (i == 1) {
        call_start(&calls[i], c->env, "GE T", "/", NULL, 0);
    } else {
        base_pool_t *pool = base_pool_create(0);
        http_headers_t h = { 0 };
        http_headers_add(&h, pool, BASE_SLICE_LIT("X-Bad"), BASE_SLICE_LIT("a\r\nInjected: 1"));
        call_start(&calls[i], c->env, "GET", "/", &h, 0);
        base_pool_destroy(pool);
    }
}

static void test_invalid_requests_fail_later(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    calls[0].next = invalid_next;
    call_start(&calls[0], &env, "GET", "no-slash", NULL, 0);
    env_run(&env);
    for (int i = 0; i < 3; i++)
        assert_int_equal(calls[i].err, UV_EINVAL);
    assert_string_equal(calls[1].errmsg, "net/http: invalid method \"GE T\"");
    assert_string_equal(calls[2].errmsg, "net/http: invalid header field value for \"X-Bad\"");
    assert_int_equal(srv.requests, 0);
    reset();
}

/* A short body fails the request; a cancel while dialling; close with requests in flight. */
static int closes_done;

static void count_and_maybe_finish(call_t *c)
{
    if (++closes_done == 3)
        env_finish(c->env);
}

static void close_client_on_head(call_t *c)
{
    (void)c;
    calls[2].in_api = 1;
    http_client_close(env.client, on_client_closed, &env);
    calls[2].in_api = 0;
}

static void test_short_body_cancel_and_close(void **state)
{
    (void)state;
    reset();
    closes_done = 0;
    env_init(&env, NULL, 0, 1);
    calls[0].next = count_and_maybe_finish;
    call_start(&calls[0], &env, "POST", "/echo", NULL, 10);
    assert_int_equal(call_write(&calls[0], "12345", 5), 0);
    assert_int_equal(call_end(&calls[0]), UV_EINVAL);
    assert_int_equal(call_write(&calls[0], "x", 1), UV_ECANCELED);

    calls[1].next = count_and_maybe_finish;
    call_start(&calls[1], &env, "GET", "/hello", NULL, 0);
    calls[1].in_api = 1;
    http_client_req_cancel(calls[1].req); /* still dialling */
    calls[1].in_api = 0;

    calls[2].next = count_and_maybe_finish;
    calls[2].on_head = close_client_on_head;
    call_start(&calls[2], &env, "GET", "/stall", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, UV_EINVAL);
    assert_string_equal(calls[0].errmsg, "http: ContentLength=10 with Body length 5");
    assert_int_equal(calls[1].err, UV_ECANCELED);
    assert_int_equal(calls[1].heads, 0);
    assert_int_equal(calls[2].err, UV_ECANCELED);
    assert_int_equal(calls[2].status, 200);
    reset();
}

/* A name, resolved with getaddrinfo ("localhost" may give ::1 first: the client falls back). */
static void test_name_resolution(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    calls[0].next = finish_env;
    call_start_at(&calls[0], &env, "localhost", env.port, "GET", "/hello", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_true(body_is(&calls[0], "hello"));
    reset();
}

/* ============================ name resolution under control =========================== */

/* The test executable's getaddrinfo() comes first in symbol lookup, so libuv's resolver thread
 * calls it: "multi.test" gives ::1 (nothing listens there: refused, or no IPv6 at all) then
 * 127.0.0.1, "fail.test" gives nothing; other names go to the C library. */
typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
typedef void (*fai_fn)(struct addrinfo *);
static gai_fn real_getaddrinfo;
static fai_fn real_freeaddrinfo;

typedef struct fake_ai {
    struct addrinfo ai[2];
    struct sockaddr_in6 v6;
    struct sockaddr_in v4;
} fake_ai_t;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    if (node && strcmp(node, "fail.test") == 0)
        return EAI_NONAME;
    if (!node || strcmp(node, "multi.test") != 0)
        return real_getaddrinfo(node, service, hints, res);
    fake_ai_t *f = calloc(1, sizeof(*f));
    int port = atoi(service);
    f->v6.sin6_family = AF_INET6;
    f->v6.sin6_port = htons((uint16_t)port);
    f->v6.sin6_addr = in6addr_loopback;
    f->v4.sin_family = AF_INET;
    f->v4.sin_port = htons((uint16_t)port);
    f->v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->ai[0] = (struct addrinfo){ .ai_family = AF_INET6, .ai_socktype = SOCK_STREAM, .ai_addrlen = sizeof(f->v6),
                                  .ai_addr = (struct sockaddr *)&f->v6, .ai_next = &f->ai[1] };
    f->ai[1] = (struct addrinfo){ .ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_addrlen = sizeof(f->v4),
                                  .ai_addr = (struct sockaddr *)&f->v4 };
    *res = f->ai;
    return 0;
}

void freeaddrinfo(struct addrinfo *ai)
{
    if (ai && ai->ai_next && ai->ai_next == ai + 1 && ai->ai_addr == (struct sockaddr *)&((fake_ai_t *)ai)->v6) {
        free(ai);
        return;
    }
    real_freeaddrinfo(ai);
}

static void names_next(call_t *c)
{
    int i = (int)(c - calls) + 1;
    if (i == 3) {
        env_finish(c->env);
        return;
    }
    calls[i].next = names_next;
    if (i == 1) {
        call_start_at(&calls[i], c->env, "fail.test", c->env->port, "GET", "/hello", NULL, 0);
        return;
    }
    /* another port: a new host pool, so a new dial rather than the pooled connection */
    call_start_at(&calls[i], c->env, "multi.test", c->env->port + 1, "GET", "/hello", NULL, 0);
    calls[i].in_api = 1;
    http_client_req_cancel(calls[i].req); /* while getaddrinfo runs */
    calls[i].in_api = 0;
}

static void test_name_fallback_and_lookup_failure(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    calls[0].next = names_next;
    call_start_at(&calls[0], &env, "multi.test", env.port, "GET", "/hello", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0); /* ::1 failed, 127.0.0.1 answered */
    assert_true(body_is(&calls[0], "hello"));
    assert_int_equal(calls[1].err, UV_EAI_NONAME);
    assert_non_null(strstr(calls[1].errmsg, "dial tcp: lookup fail.test: "));
    assert_int_equal(calls[2].err, UV_ECANCELED);
    reset();
}

/* A listener whose accept queue is full drops our SYN: the dial times out. */
static void test_connect_timeout(void **state)
{
    (void)state;
    reset();
    int port;
    int lfd = listen_socket(&port);
    assert_int_equal(listen(lfd, 0), 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof(a)), 0); /* fills the queue */
    http_client_options_t o = { .connect_timeout_ms = 150 };
    env_init(&env, &o, 0, 0);
    calls[0].next = finish_env;
    call_start_at(&calls[0], &env, "127.0.0.1", port, "GET", "/", NULL, 0);
    env_run(&env);
    close(filler);
    close(lfd);
    assert_int_equal(calls[0].err, UV_ETIMEDOUT);
    char want[96];
    snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%d: i/o timeout", port);
    assert_string_equal(calls[0].errmsg, want);
    reset();
}

/* Our own idle timeout closes a pooled connection. */
static void idle_check(uv_timer_t *t)
{
    (void)t;
    assert_int_equal(http_client_idle_count(env.client), 0);
    env_finish(&env);
}

static void idle_timeout_wait(call_t *c)
{
    assert_int_equal(c->idle_at_done, 1);
    uv_timer_start(&pause_timer, idle_check, 200, 0);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    reset();
    http_client_options_t o = { .idle_conn_timeout_ms = 50 };
    env_init(&env, &o, 0, 1);
    uv_timer_init(&env.loop, &pause_timer);
    env.before_finish = close_pause_timer;
    calls[0].next = idle_timeout_wait;
    call_start(&calls[0], &env, "GET", "/hello", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    reset();
}

/* Bytes after a complete response: the response stands, the connection is not reused. */
static raw_action_t script_extra_bytes(raw_conn_t *rc, const char **reply)
{
    *reply = rc->index == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXX"
                            : "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew";
    return RAW_REPLY;
}

static void extra_second(call_t *c)
{
    calls[1].next = raw_finish;
    call_start_at(&calls[1], c->env, "127.0.0.1", raw.port, "GET", "/", NULL, 0);
}

static void test_bytes_after_response_not_reused(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 0);
    raw_start(&env, script_extra_bytes);
    env.before_finish = raw_stop;
    calls[0].next = extra_second;
    call_start_at(&calls[0], &env, "127.0.0.1", raw.port, "GET", "/", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_true(body_is(&calls[0], "ok"));
    assert_int_equal(calls[1].err, 0);
    assert_true(body_is(&calls[1], "new"));
    assert_int_equal(raw.accepted, 2);
    reset();
}

/* The app resets the connection while the body streams: the request fails (fresh connection,
 * no retry) with the connection error. */
static raw_action_t script_close_at_head(raw_conn_t *rc, const char **reply)
{
    (void)rc;
    (void)reply;
    return RAW_CLOSE;
}

static void test_reset_while_sending_body(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 0);
    raw_start(&env, script_close_at_head);
    raw.answer_at_head = 1;
    env.before_finish = raw_stop;
    memset(&up, 0, sizeof(up));
    up.total = 64 * MIB;
    calls[0].next = raw_finish;
    calls[0].on_writable = upload_writable;
    call_start_at(&calls[0], &env, "127.0.0.1", raw.port, "POST", "/", NULL, (int64_t)up.total);
    upload_more(&calls[0]);
    env_run(&env);
    assert_true(calls[0].err == UV_ECONNRESET || calls[0].err == UV_EPIPE || calls[0].err == UV_EOF);
    assert_true(strncmp(calls[0].errmsg, "read tcp 127.0.0.1:", 19) == 0 ||
                strncmp(calls[0].errmsg, "write tcp 127.0.0.1:", 20) == 0);
    assert_true(up.offset < up.total);
    assert_int_equal(raw.accepted, 1);
    reset();
}

/* ================================ bodies written by reference ============================== */

/* An allocator that records the largest allocation, or fails them all. */
static size_t alloc_largest;
static int alloc_failing;

static void *counting_malloc(size_t n)
{
    if (alloc_failing)
        return NULL;
    alloc_largest = BASE_MAX(alloc_largest, n);
    return malloc(n);
}

static const base_allocator_t counting_allocator = { counting_malloc, free };

/* The borrowed buffer is freed as soon as on_done is called: ASan reports any later read. */
static void free_user_and_finish(call_t *c);

/* A fresh environment and calls[0] started as an upload of a patterned body of `total` bytes
 * (Content-Length `length`, -1 for chunked) that the app checks byte by byte; the body is the
 * caller's to write and is freed when the call finishes. */
static char *start_patterned_upload(size_t total, const char *method, int64_t length)
{
    reset();
    env_init(&env, NULL, 0, 1);
    char *body = malloc(total);
    assert_non_null(body);
    fill_pattern(body, 0, total);
    calls[0].user = body;
    calls[0].check_pattern = 1;
    calls[0].next = free_user_and_finish;
    call_start(&calls[0], &env, method, "/upload", NULL, length);
    return body;
}

static void free_user_and_finish(call_t *c)
{
    free(c->user);
    c->user = NULL;
    env_finish(c->env);
}

/* 3 MiB and a bit (several borrowed chunks, many socket writes), written by reference in one
 * call: nothing the size of the body is allocated, and the app gets it byte-exact. */
static void test_ref_body_large(void **state)
{
    (void)state;
    const size_t total = 3 * MIB + 777;
    char *body = start_patterned_upload(total, "POST", (int64_t)total);
    size_t head = http_client_req_pending(calls[0].req);

    alloc_largest = 0;
    alloc_failing = 1;
    base_set_allocator(&counting_allocator);
    int r_oom = call_write_ref(&calls[0], body, total);
    alloc_failing = 0;
    int r = call_write_ref(&calls[0], body, total);
    base_set_allocator(NULL);
    assert_int_equal(r_oom, UV_ENOMEM);
    assert_int_equal(r, 0);
    assert_true(alloc_largest < 4096); /* descriptors only, no copy */
    assert_int_equal(http_client_req_pending(calls[0].req), head + total);
    assert_int_equal(call_write_ref(&calls[0], "x", 1), UV_EINVAL); /* the whole length is in */
    assert_int_equal(call_end(&calls[0]), 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].status, 200);
    assert_null(calls[0].user);
    assert_int_equal(srv.length_seen, (int64_t)total);
    assert_int_equal(srv.upload_bytes, total);
    assert_int_equal(srv.upload_errors, 0);
    assert_int_equal(calls[0].body_len, total);
    assert_int_equal(calls[0].body_errors, 0);
    reset();
}

/* Copied and borrowed pieces go out in call order, in the same turn. */
static void test_ref_and_copied_writes_keep_order(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 1);
    static const char two[] = "two,", three[] = "three,", five[] = "five";
    char one[8] = "one,", four[8] = "four,";
    calls[0].next = finish_env;
    call_start(&calls[0], &env, "POST", "/echo", NULL, 23);
    assert_int_equal(call_write(&calls[0], one, 4), 0);
    memset(one, '!', sizeof(one)); /* copied: the caller's buffer is free again */
    assert_int_equal(call_write_ref(&calls[0], two, 4), 0);
    assert_int_equal(call_write_ref(&calls[0], three, 6), 0);
    assert_int_equal(call_write(&calls[0], four, 5), 0);
    memset(four, '!', sizeof(four));
    assert_int_equal(call_write_ref(&calls[0], five, 4), 0);
    assert_int_equal(call_end(&calls[0]), 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_true(body_is(&calls[0], "one,two,three,four,five"));
    assert_int_equal(srv.length_seen, 23);
    reset();
}

/* Chunked: one borrowed chunk over CHUNK_MAX, small borrowed ones back to back, copied ones
 * between them, all patterned so any misplaced or mis-framed byte shows. */
static void test_chunked_ref_body(void **state)
{
    (void)state;
    const size_t total = 2 * MIB + 1234;
    char *body = start_patterned_upload(total, "PUT", -1);
    static const size_t cuts[] = { MIB + 100, MIB + 1100, MIB + 1110, MIB + 1115, MIB + 1116, MIB + 70000 };
    size_t off = 0;
    for (size_t i = 0; i <= BASE_ARRAY_SIZE(cuts); i++) {
        size_t end = i < BASE_ARRAY_SIZE(cuts) ? cuts[i] : total;
        int r = i % 3 == 1 ? call_write(&calls[0], body + off, end - off) : call_write_ref(&calls[0], body + off, end - off);
        assert_int_equal(r, 0);
        off = end;
    }
    assert_int_equal(call_write_ref(&calls[0], body, 0), 0); /* nothing: not the last chunk */
    assert_int_equal(call_end(&calls[0]), 0);
    assert_int_equal(call_write_ref(&calls[0], body, 1), UV_EINVAL);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[0].status, 200);
    assert_null(calls[0].user);
    assert_int_equal(srv.chunked_seen, 1);
    assert_int_equal(srv.upload_bytes, total);
    assert_int_equal(srv.upload_errors, 0);
    assert_int_equal(calls[0].body_len, total);
    assert_int_equal(calls[0].body_errors, 0);
    reset();
}

/* Content-Length is enforced as for copied writes; after a cancel nothing is taken. */
static int ref_checks_done;

static void ref_checks_next(call_t *c)
{
    if (++ref_checks_done == 2)
        env_finish(c->env);
}

static void test_ref_length_checks_and_cancel(void **state)
{
    (void)state;
    reset();
    ref_checks_done = 0;
    env_init(&env, NULL, 0, 1);
    calls[0].next = ref_checks_next;
    call_start(&calls[0], &env, "POST", "/echo", NULL, 5);
    assert_int_equal(call_write_ref(&calls[0], "hello world", 11), UV_EINVAL);
    assert_int_equal(call_write_ref(&calls[0], "hel", 3), 0);
    assert_int_equal(call_write_ref(&calls[0], "lo!", 3), UV_EINVAL); /* past Content-Length */
    assert_int_equal(call_write_ref(&calls[0], "lo", 2), 0);
    assert_int_equal(call_write_ref(&calls[0], "x", 1), UV_EINVAL);
    assert_int_equal(call_end(&calls[0]), 0);
    assert_int_equal(call_write_ref(&calls[0], "x", 1), UV_EINVAL);

    calls[1].next = ref_checks_next;
    call_start(&calls[1], &env, "POST", "/echo", NULL, 10);
    assert_int_equal(call_write_ref(&calls[1], "12345", 5), 0);
    calls[1].in_api = 1;
    http_client_req_cancel(calls[1].req);
    calls[1].in_api = 0;
    assert_int_equal(call_write_ref(&calls[1], "67890", 5), UV_ECANCELED);
    assert_int_equal(call_write(&calls[1], "67890", 5), UV_ECANCELED);
    assert_int_equal(call_end(&calls[1]), UV_ECANCELED);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_true(body_is(&calls[0], "hello"));
    assert_int_equal(calls[1].err, UV_ECANCELED);
    assert_int_equal(calls[1].heads, 0);
    reset();
}

/* Cancelled while a borrowed body is being written to an app that is not reading: on_done
 * poisons the buffer (filled with 0xEE, and for ASan unreadable), then the app starts reading
 * while the loop runs on. It must get body bytes sent before the cancel, then the close, and
 * none of the poison. */
typedef struct stuck {
    uv_timer_t timer;
    uv_tcp_t listener;
    uv_tcp_t app; /* the app's end, accepted but not read until on_done */
    int accepted;
    char rbuf[65536];
    char *body;
    size_t total;
    size_t pending_at_cancel;
    int write_after_cancel;
    size_t head;     /* request head bytes still to skip; SIZE_MAX until seen */
    char head_tail[4];
    uint64_t got;    /* body bytes the app read */
    uint64_t wrong;  /* ... that differ from the body */
    int eof;
} stuck_t;

static stuck_t stuck;

static void stuck_accept(uv_stream_t *l, int status)
{
    assert_int_equal(status, 0);
    assert_false(stuck.accepted);
    uv_tcp_init(l->loop, &stuck.app);
    assert_int_equal(uv_accept(l, (uv_stream_t *)&stuck.app), 0);
    stuck.accepted = 1;
}

static void stuck_cancel(uv_timer_t *t)
{
    (void)t;
    call_t *c = &calls[0];
    stuck.pending_at_cancel = http_client_req_pending(c->req);
    c->in_api = 1;
    http_client_req_cancel(c->req);
    c->in_api = 0;
    stuck.write_after_cancel = call_write_ref(c, stuck.body, 1);
}

static void stuck_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    (void)h;
    (void)size;
    *b = uv_buf_init(stuck.rbuf, sizeof(stuck.rbuf));
}

/* Skips the request head (it ends at the first CRLF CRLF), then checks every body byte. */
static void stuck_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)st;
    if (n < 0) {
        stuck.eof = n == UV_EOF || n == UV_ECONNRESET;
        env_finish(&env);
        return;
    }
    size_t i = 0;
    for (; stuck.head && i < (size_t)n; i++) {
        memmove(stuck.head_tail, stuck.head_tail + 1, 3);
        stuck.head_tail[3] = b->base[i];
        if (memcmp(stuck.head_tail, "\r\n\r\n", 4) == 0)
            stuck.head = 0;
    }
    for (; i < (size_t)n; i++, stuck.got++)
        stuck.wrong += (uint8_t)b->base[i] != pattern(stuck.got);
    if (stuck.wrong)
        env_finish(&env); /* bytes read after on_done went out */
}

static void stuck_done(call_t *c)
{
    (void)c;
    memset(stuck.body, 0xEE, stuck.total);
    ASAN_POISON_MEMORY_REGION(stuck.body, stuck.total);
    assert_true(stuck.accepted);
    uv_read_start((uv_stream_t *)&stuck.app, stuck_alloc, stuck_read);
}

static void stuck_close(env_t *e)
{
    (void)e;
    uv_close((uv_handle_t *)&stuck.timer, NULL);
    uv_close((uv_handle_t *)&stuck.listener, NULL);
    if (stuck.accepted)
        uv_close((uv_handle_t *)&stuck.app, NULL);
}

static void test_cancel_while_ref_body_written(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 0);
    memset(&stuck, 0, sizeof(stuck));
    stuck.head = SIZE_MAX;
    stuck.total = 64 * MIB; /* far more than the socket buffers hold */
    stuck.body = malloc(stuck.total);
    assert_non_null(stuck.body);
    fill_pattern(stuck.body, 0, stuck.total);
    int port;
    uv_tcp_init(&env.loop, &stuck.listener);
    assert_int_equal(uv_tcp_open(&stuck.listener, listen_socket(&port)), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&stuck.listener, 4, stuck_accept), 0);
    uv_timer_init(&env.loop, &stuck.timer);
    env.before_finish = stuck_close;
    calls[0].next = stuck_done;
    call_start_at(&calls[0], &env, "127.0.0.1", port, "POST", "/", NULL, (int64_t)stuck.total);
    assert_int_equal(call_write_ref(&calls[0], stuck.body, stuck.total), 0);
    assert_int_equal(call_end(&calls[0]), 0);
    uv_timer_start(&stuck.timer, stuck_cancel, 200, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, UV_ECANCELED);
    assert_true(stuck.pending_at_cancel > 0); /* the write was still under way */
    assert_int_equal(stuck.write_after_cancel, UV_ECANCELED);
    assert_int_equal(stuck.head, 0);
    assert_int_equal(stuck.wrong, 0);
    assert_true(stuck.eof);
    assert_true(stuck.got > 0 && stuck.got < stuck.total); /* part of the body, then the close */
    ASAN_UNPOISON_MEMORY_REGION(stuck.body, stuck.total);
    free(stuck.body);
    reset();
}

/* A borrowed body far over the copy budget for retries (HTTP_CLIENT_SEND_HIGH_WATER) is still
 * replayed when the app closed the pooled connection it went out on. */
static void ref_retry_second(call_t *c)
{
    char *body = c->user;
    calls[1].user = body;
    calls[1].next = free_user_and_finish;
    call_start_at(&calls[1], c->env, "127.0.0.1", raw.port, "POST", "/two", NULL, (int64_t)MIB);
    assert_int_equal(call_write_ref(&calls[1], body, MIB), 0);
    assert_int_equal(call_end(&calls[1]), 0);
}

static void test_ref_body_replayed_on_retry(void **state)
{
    (void)state;
    reset();
    env_init(&env, NULL, 0, 0);
    raw_start(&env, script_close_second);
    env.before_finish = raw_stop;
    char *body = malloc(MIB);
    assert_non_null(body);
    for (size_t i = 0; i < MIB; i++)
        body[i] = (char)('a' + i % 26);
    calls[0].user = body;
    calls[0].next = ref_retry_second;
    call_start_at(&calls[0], &env, "127.0.0.1", raw.port, "GET", "/one", NULL, 0);
    env_run(&env);
    assert_int_equal(calls[0].err, 0);
    assert_int_equal(calls[1].err, 0);
    assert_true(body_is(&calls[1], "two"));
    assert_int_equal(calls[1].reused, 0); /* answered on the new connection */
    assert_null(calls[1].user);
    assert_int_equal(raw.accepted, 2);
    assert_int_equal(raw.requests, 3);
    assert_int_equal(strlen(raw.last_body), 255);
    for (size_t i = 0; i < 255; i++)
        assert_int_equal(raw.last_body[i], 'a' + i % 26);
    reset();
}

int main(void)
{
    real_getaddrinfo = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    real_freeaddrinfo = (fai_fn)dlsym(RTLD_NEXT, "freeaddrinfo");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_keepalive_reuse),
        cmocka_unit_test(test_concurrent_requests_fill_the_pool),
        cmocka_unit_test(test_pooling_disabled),
        cmocka_unit_test(test_post_content_length),
        cmocka_unit_test(test_chunked_request_streamed),
        cmocka_unit_test(test_chunked_request_streamed_by_ref),
        cmocka_unit_test(test_chunked_response_streamed),
        cmocka_unit_test(test_large_bodies_both_ways),
        cmocka_unit_test(test_multi_value_headers),
        cmocka_unit_test(test_statuses_with_headers),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_pooled_conn_closed_by_server),
        cmocka_unit_test(test_retry_when_reused_conn_was_closed),
        cmocka_unit_test(test_truncated_response_not_retried),
        cmocka_unit_test(test_early_response_before_body),
        cmocka_unit_test(test_early_keepalive_response_closes_conn),
        cmocka_unit_test(test_cancel_mid_response),
        cmocka_unit_test(test_pause_resume_large_body),
        cmocka_unit_test(test_pause_in_head_holds_completion),
        cmocka_unit_test(test_head_has_no_body),
        cmocka_unit_test(test_interim_and_close_delimited),
        cmocka_unit_test(test_malformed_and_oversized_responses),
        cmocka_unit_test(test_response_header_timeout),
        cmocka_unit_test(test_hop_by_hop_dropped),
        cmocka_unit_test(test_invalid_requests_fail_later),
        cmocka_unit_test(test_short_body_cancel_and_close),
        cmocka_unit_test(test_name_resolution),
        cmocka_unit_test(test_name_fallback_and_lookup_failure),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_bytes_after_response_not_reused),
        cmocka_unit_test(test_reset_while_sending_body),
        cmocka_unit_test(test_ref_body_large),
        cmocka_unit_test(test_ref_and_copied_writes_keep_order),
        cmocka_unit_test(test_chunked_ref_body),
        cmocka_unit_test(test_ref_length_checks_and_cancel),
        cmocka_unit_test(test_cancel_while_ref_body_written),
        cmocka_unit_test(test_ref_body_replayed_on_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
