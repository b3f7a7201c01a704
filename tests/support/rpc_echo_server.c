/*
 * rpc_echo_server - the echo service of interop_common.h on Remora's rpc server (one libuv
 * loop), for interop tests against gRPC C core and @grpc/grpc-js clients.
 *
 *   rpc_echo_server [--port N] [--max-msg BYTES] [--host IP]
 * Prints "PORT <n>" once listening; SIGTERM drains (GOAWAY, open calls finish), then exits 0
 * with every handle closed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <signal.h>

#include "base/buf.h"
#include "interop_common.h"
#include "rpc/rpc.h"

typedef struct state {
    base_buf_t in;
    int nmsgs;
    uv_timer_t timer; /* Sleep: state on the heap, the timer may outlive the call */
    int timer_on;
    rpc_server_call_t *call;
} state_t;

static uv_loop_t *loop;
static rpc_server_t *server;
static uv_signal_t sig_term, sig_int;

static void state_cleanup(void *data)
{
    state_t *st = data;
    base_buf_free(&st->in);
}

static void on_start(rpc_server_call_t *call, void *ctx, const http_headers_t *md)
{
    (void)ctx;
    base_pool_t *pool = rpc_server_call_pool(call);
    state_t *st = base_pool_calloc(pool, sizeof(*st));
    base_pool_cleanup_add(pool, state_cleanup, st);
    st->call = call;
    rpc_server_call_set_data(call, st);
    if (ctx) { /* Unary: echo x-test as x-echo in the initial metadata */
        const base_slice_t *v = http_headers_get(md, "x-test");
        if (v) {
            http_headers_t out = { 0 };
            http_headers_add_copy(&out, pool, BASE_SLICE_LIT("x-echo"), *v);
            rpc_server_call_send_headers(call, &out);
        }
    }
}

static void on_collect(rpc_server_call_t *call, void *ctx, base_slice_t msg)
{
    (void)ctx;
    state_t *st = rpc_server_call_data(call);
    st->nmsgs++;
    base_buf_append(&st->in, msg.base, msg.len);
}

static void on_echo(rpc_server_call_t *call, void *ctx, base_slice_t msg)
{
    (void)ctx;
    rpc_server_call_send(call, msg.base, msg.len);
}

static const char *text(state_t *st)
{
    base_buf_append(&st->in, "", 1);
    return st->in.base;
}

static void unary_done(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    state_t *st = rpc_server_call_data(call);
    if (st->nmsgs != 1) {
        rpc_server_call_finish(call, RPC_INVALID_ARGUMENT, "expected one request message", NULL);
        return;
    }
    if (rpc_server_call_send(call, st->in.base, st->in.len) != 0)
        return; /* too large: the call was answered with RESOURCE_EXHAUSTED */
    http_headers_t tr = { 0 };
    http_headers_add(&tr, rpc_server_call_pool(call), BASE_SLICE_LIT("x-trailer"), BASE_SLICE_LIT("done"));
    rpc_server_call_finish(call, RPC_OK, NULL, &tr);
}

static void stream_done(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    rpc_server_call_finish(call, RPC_OK, NULL, NULL);
}

static void fail_done(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    const char *t = text(rpc_server_call_data(call));
    const char *sp = strchr(t, ' ');
    rpc_server_call_finish(call, atoi(t), sp ? sp + 1 : "", NULL);
}

static void big_done(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    size_t n = strtoul(text(rpc_server_call_data(call)), NULL, 10);
    char *b = malloc(n ? n : 1);
    interop_fill(b, n, 0);
    int r = rpc_server_call_send(call, b, n);
    free(b);
    if (r == 0)
        rpc_server_call_finish(call, RPC_OK, NULL, NULL);
}

static void on_cancel(rpc_server_call_t *call, void *ctx)
{
    (void)call;
    (void)ctx; /* the call's pool holds everything */
}

/* Sleep calls keep their own memory so a cancelled call's timer can close after the pool. */
static void sleep_start(rpc_server_call_t *call, void *ctx, const http_headers_t *md)
{
    (void)ctx;
    (void)md;
    state_t *st = calloc(1, sizeof(*st));
    st->call = call;
    rpc_server_call_set_data(call, st);
}

static void sleep_collect(rpc_server_call_t *call, void *ctx, base_slice_t msg)
{
    on_collect(call, ctx, msg);
}

static void sleep_free_closed(uv_handle_t *h)
{
    state_t *st = h->data;
    if (st->call)
        rpc_server_call_finish(st->call, RPC_OK, NULL, NULL);
    base_buf_free(&st->in);
    free(st);
}

static void sleep_fire(uv_timer_t *t)
{
    state_t *st = t->data;
    rpc_server_call_send(st->call, "slept", 5);
    uv_close((uv_handle_t *)t, sleep_free_closed);
}

static void sleep_done(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    state_t *st = rpc_server_call_data(call);
    uv_timer_init(loop, &st->timer);
    st->timer.data = st;
    st->timer_on = 1;
    uv_timer_start(&st->timer, sleep_fire, strtoul(text(st), NULL, 10), 0);
}

static void sleep_cancel(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    state_t *st = rpc_server_call_data(call);
    st->call = NULL;
    if (st->timer_on) {
        if (!uv_is_closing((uv_handle_t *)&st->timer))
            uv_close((uv_handle_t *)&st->timer, sleep_free_closed);
    } else {
        base_buf_free(&st->in);
        free(st);
    }
}

static const rpc_method_t methods[] = {
    { ECHO_UNARY, on_start, on_collect, unary_done, NULL, on_cancel, (void *)1 },
    { ECHO_STREAM, on_start, on_echo, stream_done, NULL, on_cancel, NULL },
    { ECHO_FAIL, on_start, on_collect, fail_done, NULL, on_cancel, NULL },
    { ECHO_SLEEP, sleep_start, sleep_collect, sleep_done, NULL, sleep_cancel, NULL },
    { ECHO_BIG, on_start, on_collect, big_done, NULL, on_cancel, NULL },
};

static void drained(void *arg)
{
    (void)arg;
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    rpc_server_free(server);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
    rpc_server_drain(server, drained, NULL);
}

int main(int argc, char **argv)
{
    int port = 0;
    size_t max_msg = 0;
    const char *host = "127.0.0.1";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--max-msg") == 0)
            max_msg = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--host") == 0)
            host = argv[i + 1];
    }
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    rpc_server_options_t so = { .max_message_size = max_msg };
    server = rpc_server_new(loop, &so, methods, sizeof(methods) / sizeof(methods[0]));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, host, &sa.sin_addr);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("bind");
        return 1;
    }
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    int r = rpc_server_listen_fd(server, fd);
    if (r != 0) {
        fprintf(stderr, "listen: %s\n", uv_strerror(r));
        return 1;
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    printf("PORT %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    r = uv_loop_close(loop);
    if (r != 0) {
        fprintf(stderr, "handles left open at exit\n");
        return 1;
    }
    return 0;
}
