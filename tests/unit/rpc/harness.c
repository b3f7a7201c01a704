/* harness.c - see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>


/* ---- fixture ----------------------------------------------------------------------------- */


fx_t F;


static void copy_value(const http_headers_t *h, const char *name, char *out, size_t cap)
{
    const base_slice_t *v = h ? http_headers_get(h, name) : NULL;
    if (v)
        snprintf(out, cap, "%.*s", (int)v->len, v->base);
}

/* ---- server handlers --------------------------------------------------------------------- */

typedef struct scall_state {
    base_buf_t in;
    int nmsgs;
    size_t bytes;
} scall_state_t;

static void note_peer(rpc_server_call_t *call)
{
    const char *p = rpc_server_call_peer(call);
    for (int i = 0; i < F.npeers; i++)
        if (strcmp(F.peers[i], p) == 0)
            return;
    if (F.npeers < 512)
        snprintf(F.peers[F.npeers++], 64, "%s", p);
}

static void cleanup_state(void *data)
{
    scall_state_t *st = data;
    base_buf_free(&st->in);
}

static void s_start(rpc_server_call_t *call, void *ctx, const http_headers_t *md)
{
    (void)ctx;
    F.starts++;
    note_peer(call);
    copy_value(md, "x-test", F.md_seen, sizeof(F.md_seen));
    scall_state_t *st = base_pool_calloc(rpc_server_call_pool(call), sizeof(*st));
    base_pool_cleanup_add(rpc_server_call_pool(call), cleanup_state, st);
    rpc_server_call_set_data(call, st);
}

static void s_collect(rpc_server_call_t *call, void *ctx, base_slice_t msg)
{
    (void)ctx;
    scall_state_t *st = rpc_server_call_data(call);
    st->nmsgs++;
    base_buf_append(&st->in, msg.base, msg.len);
}

static void s_unary_done(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    F.half_closes++;
    scall_state_t *st = rpc_server_call_data(call);
    http_headers_t md = { 0 };
    http_headers_add(&md, rpc_server_call_pool(call), BASE_SLICE_LIT("x-header"), BASE_SLICE_LIT("h1"));
    rpc_server_call_send_headers(call, &md);
    rpc_server_call_send(call, st->in.base, st->in.len);
    http_headers_t tr = { 0 };
    http_headers_add(&tr, rpc_server_call_pool(call), BASE_SLICE_LIT("x-trailer"), BASE_SLICE_LIT("t1"));
    rpc_server_call_finish(call, RPC_OK, NULL, &tr);
}

static void s_echo_msg(rpc_server_call_t *call, void *ctx, base_slice_t msg)
{
    (void)ctx;
    rpc_server_call_send(call, msg.base, msg.len);
}

static void s_finish_ok(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    F.half_closes++;
    rpc_server_call_finish(call, RPC_OK, NULL, NULL);
}

/* Fail: the request is "<code> <message>" */
static void s_fail_done(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    scall_state_t *st = rpc_server_call_data(call);
    base_buf_append(&st->in, "", 1);
    int code = atoi(st->in.base);
    const char *sp = strchr(st->in.base, ' ');
    rpc_server_call_finish(call, code, sp ? sp + 1 : "", NULL);
}

/* Big: answers with a message of the requested size (decimal request) */
static void s_big_done(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    scall_state_t *st = rpc_server_call_data(call);
    base_buf_append(&st->in, "", 1);
    size_t n = strtoul(st->in.base, NULL, 10);
    char *b = malloc(n ? n : 1);
    memset(b, 'b', n);
    int r = rpc_server_call_send(call, b, n);
    free(b);
    if (r == 0)
        rpc_server_call_finish(call, RPC_OK, NULL, NULL);
}

/* Hold: kept by the fixture until the test finishes (or the client cancels) it */
static void s_hold_start(rpc_server_call_t *call, void *ctx, const http_headers_t *md)
{
    s_start(call, ctx, md);
    F.held[F.nheld++] = call;
}

static void s_cancel(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    F.cancels++;
    for (int i = 0; i < F.nheld; i++)
        if (F.held[i] == call)
            F.held[i] = NULL;
    for (int i = 0; i < F.npaused; i++)
        if (F.paused[i] == call)
            F.paused[i] = NULL;
}

/* Pause: stops receiving at the first message; answers "<messages> <bytes>" at the end */
static void s_pause_msg(rpc_server_call_t *call, void *ctx, base_slice_t msg)
{
    (void)ctx;
    scall_state_t *st = rpc_server_call_data(call);
    if (st->nmsgs++ == 0 && F.npaused < 64) {
        rpc_server_call_pause_recv(call);
        F.paused[F.npaused++] = call;
    }
    st->bytes += msg.len;
}

static void s_pause_done(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    scall_state_t *st = rpc_server_call_data(call);
    char out[64];
    int n = snprintf(out, sizeof(out), "%d %zu", st->nmsgs, st->bytes);
    rpc_server_call_send(call, out, (size_t)n);
    rpc_server_call_finish(call, RPC_OK, NULL, NULL);
}

/* Flood: answers "<count>" with count 16 KiB messages, queued only while under the
 * high-water mark, the rest from on_writable */
static void s_flood_pump(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    scall_state_t *st = rpc_server_call_data(call);
    static char chunk[16 * 1024];
    while (st->bytes > 0 && rpc_server_call_pending(call) < RPC_SEND_HIGH_WATER) {
        snprintf(chunk, sizeof(chunk), "%06d", st->nmsgs++);
        if (rpc_server_call_send(call, chunk, sizeof(chunk)) != 0)
            return;
        st->bytes--;
        F.flood_max_pending = BASE_MAX(F.flood_max_pending, rpc_server_call_pending(call));
    }
    if (st->bytes == 0)
        rpc_server_call_finish(call, RPC_OK, NULL, NULL);
    else
        F.flood_waits++;
}

static void s_flood_done(rpc_server_call_t *call, void *ctx)
{
    scall_state_t *st = rpc_server_call_data(call);
    base_buf_append(&st->in, "", 1);
    st->bytes = strtoul(st->in.base, NULL, 10); /* messages left to send */
    st->nmsgs = 0;
    s_flood_pump(call, ctx);
}

const rpc_method_t methods[] = {
    { "/remora.test.Echo/Unary", s_start, s_collect, s_unary_done, NULL, s_cancel, NULL },
    { "/remora.test.Echo/Stream", s_start, s_echo_msg, s_finish_ok, NULL, s_cancel, NULL },
    { "/remora.test.Echo/Fail", s_start, s_collect, s_fail_done, NULL, s_cancel, NULL },
    { "/remora.test.Echo/Big", s_start, s_collect, s_big_done, NULL, s_cancel, NULL },
    { "/remora.test.Echo/Hold", s_hold_start, NULL, NULL, NULL, s_cancel, NULL },
    { "/remora.test.Echo/Pause", s_start, s_pause_msg, s_pause_done, NULL, s_cancel, NULL },
    { "/remora.test.Echo/Flood", s_start, s_collect, s_flood_done, s_flood_pump, s_cancel, NULL },
};
const size_t method_count = BASE_ARRAY_SIZE(methods);

/* ---- client callbacks -------------------------------------------------------------------- */

static void c_headers(rpc_call_t *call, void *ud, const http_headers_t *md)
{
    (void)call;
    res_t *r = ud;
    r->headers++;
    copy_value(md, "x-header", r->hdr, sizeof(r->hdr));
}

static void resume_cb(uv_timer_t *t)
{
    res_t *r = t->data;
    if (!r->closed)
        rpc_call_resume_recv(r->call);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void c_message(rpc_call_t *call, void *ud, base_slice_t msg)
{
    res_t *r = ud;
    if (msg.len >= 8 && r->order_ok) {
        char head[7];
        memcpy(head, msg.base, 6);
        head[6] = 0;
        if ((unsigned)atoi(head) != (unsigned)r->nmsgs)
            r->order_ok = 0;
    }
    r->nmsgs++;
    r->bytes += msg.len;
    free(r->last);
    r->last = malloc(msg.len + 1);
    memcpy(r->last, msg.base, msg.len);
    r->last[msg.len] = 0;
    r->last_len = msg.len;
    if (r->pause_every && r->nmsgs % r->pause_every == 0) {
        rpc_call_pause_recv(call);
        uv_timer_t *t = malloc(sizeof(*t));
        uv_timer_init(&F.loop, t);
        t->data = r;
        uv_timer_start(t, resume_cb, 1, 0);
    }
}

static void c_close(rpc_call_t *call, void *ud, int status, base_slice_t message, const http_headers_t *trailers)
{
    (void)call;
    res_t *r = ud;
    r->closed++;
    r->status = status;
    snprintf(r->message, sizeof(r->message), "%.*s", (int)message.len, message.base ? message.base : "");
    copy_value(trailers, "x-trailer", r->trl, sizeof(r->trl));
    r->call = NULL;
}

const rpc_call_cbs_t cbs = { c_headers, c_message, NULL, c_close };

/* ---- helpers ----------------------------------------------------------------------------- */

static void on_guard(uv_timer_t *t)
{
    (void)t;
}

int listen_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

void setup_with(const rpc_server_options_t *so, const rpc_client_options_t *co)
{
    memset(&F, 0, sizeof(F));
    assert_int_equal(uv_loop_init(&F.loop), 0);
    uv_timer_init(&F.loop, &F.guard);
    uv_timer_start(&F.guard, on_guard, 10, 10);
    F.server = rpc_server_new(&F.loop, so, methods, method_count);
    assert_non_null(F.server);
    int fd = listen_socket(&F.port);
    assert_int_equal(rpc_server_listen_fd(F.server, fd), 0);
    snprintf(F.addr, sizeof(F.addr), "127.0.0.1:%d", F.port);
    F.client = rpc_client_new(&F.loop, co);
    assert_non_null(F.client);
}

void setup_default(void)
{
    setup_with(NULL, NULL);
}


void run_until(pred_fn pred, void *arg, unsigned timeout_ms)
{
    uint64_t start = uv_now(&F.loop);
    while (!pred(arg)) {
        uv_run(&F.loop, UV_RUN_ONCE);
        if (uv_now(&F.loop) - start > timeout_ms)
            fail_msg("timed out after %u ms", timeout_ms);
    }
}

int int_set(void *arg)
{
    return *(int *)arg != 0;
}

int res_closed(void *arg)
{
    return ((res_t *)arg)->closed > 0;
}


int all_closed(void *arg)
{
    many_t *m = arg;
    for (int i = 0; i < m->n; i++)
        if (!m->r[i].closed)
            return 0;
    return 1;
}

void client_done(void *arg)
{
    (void)arg;
    F.client_done = 1;
}

static void walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "leaked handle: type %s active %d closing %d\n", uv_handle_type_name(h->type), uv_is_active(h),
            uv_is_closing(h));
}

void teardown(void)
{
    if (F.client)
        rpc_client_close(F.client, client_done, NULL);
    if (F.server)
        rpc_server_free(F.server);
    uv_close((uv_handle_t *)&F.guard, NULL);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    if (F.client)
        assert_true(F.client_done);
    int r = uv_loop_close(&F.loop);
    if (r != 0)
        uv_walk(&F.loop, walk_cb, NULL);
    assert_int_equal(r, 0); /* no handle leaked */
}

void res_free(res_t *r)
{
    free(r->last);
    r->last = NULL;
}

rpc_call_t *start(res_t *r, const char *path, uint64_t deadline_ms)
{
    memset(r, 0, sizeof(*r));
    r->order_ok = 1;
    r->call = rpc_call_start(F.client, F.addr, path, NULL, deadline_ms, &cbs, r);
    assert_non_null(r->call);
    return r->call;
}

void unary(res_t *r, const char *path, const void *msg, size_t len, uint64_t deadline_ms)
{
    start(r, path, deadline_ms);
    rpc_call_send(r->call, msg, len);
    rpc_call_close_send(r->call);
    run_until(res_closed, r, 10000);
}

