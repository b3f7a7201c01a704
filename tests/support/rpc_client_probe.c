/*
 * rpc_client_probe - runs interop_common.h cases with Remora's rpc client (one libuv loop,
 * one client, cases one after another on its pooled connection) and prints one JSON line per
 * case. Streams are sent with back-pressure (on_writable).
 *
 *   rpc_client_probe ADDRESS [--max-msg BYTES] CASE...
 * Exits 0 when every handle closed (uv_loop_close() == 0), 1 otherwise.
 */
#include <signal.h>

#include "base/buf.h"
#include "interop_common.h"
#include "rpc/rpc.h"

static uv_loop_t *loop;
static rpc_client_t *client;
static const char *address;
static char **cases;
static int ncases, next_case;
static uv_timer_t cancel_timer;

typedef struct run {
    interop_result_t r;
    interop_case_t c;
    rpc_call_t *call;
    long sent;
    char *buf;
    size_t buf_len;
} run_t;

static run_t cur;

static void start_next(void);

static void on_headers(rpc_call_t *call, void *ud, const http_headers_t *md)
{
    (void)call;
    run_t *run = ud;
    const base_slice_t *v = http_headers_get(md, "x-echo");
    if (v)
        snprintf(run->r.hdr, sizeof(run->r.hdr), "%.*s", (int)v->len, v->base);
}

static void on_message(rpc_call_t *call, void *ud, base_slice_t msg)
{
    (void)call;
    run_t *run = ud;
    long i = run->r.msgs++;
    run->r.bytes += (long)msg.len;
    switch (run->c.kind) {
    case IC_UNARY:
        run->r.echo = (long)msg.len == run->c.a && interop_check(msg.base, msg.len, 1);
        break;
    case IC_STREAM:
        if ((long)msg.len != run->c.b || !interop_check(msg.base, msg.len, (unsigned)i))
            run->r.echo = 0;
        break;
    case IC_BIG:
        run->r.echo = (long)msg.len == run->c.a && interop_check(msg.base, msg.len, 0);
        break;
    default:
        break;
    }
}

/* Streams: keep the queue under the high-water mark, continue from on_writable. */
static void pump(run_t *run)
{
    while (run->sent < run->c.a && rpc_call_pending(run->call) < RPC_SEND_HIGH_WATER) {
        interop_fill(run->buf, (size_t)run->c.b, (unsigned)run->sent);
        if (rpc_call_send(run->call, run->buf, (size_t)run->c.b) != 0)
            return;
        run->sent++;
    }
    if (run->sent == run->c.a)
        rpc_call_close_send(run->call);
}

static void on_writable(rpc_call_t *call, void *ud)
{
    (void)call;
    pump(ud);
}

static void on_close(rpc_call_t *call, void *ud, int status, base_slice_t message, const http_headers_t *trailers)
{
    (void)call;
    run_t *run = ud;
    run->r.status = status;
    snprintf(run->r.message, sizeof(run->r.message), "%.*s", (int)message.len, message.base ? message.base : "");
    const base_slice_t *v = trailers ? http_headers_get(trailers, "x-trailer") : NULL;
    if (v)
        snprintf(run->r.trl, sizeof(run->r.trl), "%.*s", (int)v->len, v->base);
    if (run->c.kind == IC_STREAM && run->r.msgs != run->c.a)
        run->r.echo = 0;
    interop_print(&run->r);
    free(run->buf);
    run->buf = NULL;
    run->call = NULL;
    uv_timer_stop(&cancel_timer);
    start_next();
}

static const rpc_call_cbs_t cbs = { on_headers, on_message, on_writable, on_close };

static void on_cancel_timer(uv_timer_t *t)
{
    (void)t;
    if (cur.call)
        rpc_call_cancel(cur.call);
}

static void client_closed(void *arg)
{
    (void)arg;
    uv_close((uv_handle_t *)&cancel_timer, NULL);
}

static void send_text(run_t *run, const char *text)
{
    rpc_call_send(run->call, text, strlen(text));
    rpc_call_close_send(run->call);
}

static void start_next(void)
{
    if (next_case >= ncases) {
        rpc_client_close(client, client_closed, NULL);
        return;
    }
    run_t *run = &cur;
    memset(run, 0, sizeof(*run));
    run->r.name = cases[next_case++];
    run->c = interop_parse(run->r.name);
    uint64_t deadline = 60000;
    if (run->c.kind == IC_SLEEP)
        deadline = (uint64_t)run->c.b;
    base_pool_t *pool = base_pool_create(0);
    http_headers_t md = { 0 };
    http_headers_add(&md, pool, BASE_SLICE_LIT("x-test"), BASE_SLICE_LIT("interop"));
    run->call = rpc_call_start(client, address, run->c.path, &md, deadline, &cbs, run);
    base_pool_destroy(pool);
    if (!run->call) {
        fprintf(stderr, "rpc_call_start failed\n");
        exit(1);
    }
    char req[1200];
    switch (run->c.kind) {
    case IC_UNARY:
        run->buf = malloc(run->c.a ? (size_t)run->c.a : 1);
        interop_fill(run->buf, (size_t)run->c.a, 1);
        rpc_call_send(run->call, run->buf, (size_t)run->c.a);
        rpc_call_close_send(run->call);
        break;
    case IC_STREAM:
        run->r.echo = 1;
        run->buf = malloc(run->c.b ? (size_t)run->c.b : 1);
        pump(run);
        break;
    case IC_FAIL:
        snprintf(req, sizeof(req), "%ld %s", run->c.a, run->c.text);
        send_text(run, req);
        break;
    case IC_SLEEP:
    case IC_BIG:
        snprintf(req, sizeof(req), "%ld", run->c.a);
        send_text(run, req);
        break;
    case IC_UNKNOWN:
        send_text(run, "x");
        break;
    case IC_CANCEL:
        send_text(run, "10000");
        uv_timer_start(&cancel_timer, on_cancel_timer, (uint64_t)run->c.a, 0);
        break;
    default:
        rpc_call_cancel(run->call);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s ADDRESS [--max-msg N] CASE...\n", argv[0]);
        return 2;
    }
    address = argv[1];
    int first = 2;
    rpc_client_options_t opts = { 0 };
    if (argc > 3 && strcmp(argv[2], "--max-msg") == 0) {
        opts.max_message_size = strtoul(argv[3], NULL, 10);
        first = 4;
    }
    cases = argv + first;
    ncases = argc - first;
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    uv_timer_init(loop, &cancel_timer);
    client = rpc_client_new(loop, &opts);
    start_next();
    uv_run(loop, UV_RUN_DEFAULT);
    if (uv_loop_close(loop) != 0) {
        fprintf(stderr, "handles left open at exit\n");
        return 1;
    }
    return 0;
}
