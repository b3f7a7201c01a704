/*
 * client.c - the client's connections: one per (address, up to max_streams_per_conn calls),
 * connected asynchronously (getaddrinfo unless the host is an IP literal, each address tried
 * in turn, all under connect_timeout_ms), one nghttp2 client session each.
 *
 * A connection that fails takes its calls with it (UNAVAILABLE); one that received GOAWAY
 * takes no new call and is finished once its last call ends; one without calls for
 * idle_conn_timeout_ms is closed with GOAWAY.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/pool.h"

#define DEFAULT_MAX_MESSAGE (4u * 1024 * 1024)
#define DEFAULT_MAX_STREAMS 100
#define DEFAULT_KEEPALIVE_TIME 10000
#define DEFAULT_KEEPALIVE_TIMEOUT 5000
#define DEFAULT_CONNECT_TIMEOUT 30000
#define DEFAULT_IDLE_TIMEOUT (3 * 60 * 1000)

static void check_done(rpc_client_t *c);
static void cconn_fail(cconn_t *conn, const char *why);

/* ---- connection lifetime ----------------------------------------------------------------- */

static void cconn_free(cconn_t *conn)
{
    rpc_client_t *c = conn->client;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        c->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    c->nconns--;
    if (conn->ai)
        uv_freeaddrinfo(conn->ai);
    base_free(conn->address);
    base_free(conn->host);
    base_free(conn);
    check_done(c);
}

static void on_h2_closed(rpc_h2conn_t *h2)
{
    cconn_t *conn = (cconn_t *)h2;
    conn->handles_closed = 1;
    if (!conn->gai_pending)
        cconn_free(conn);
}

static void cconn_fail(cconn_t *conn, const char *why)
{
    if (conn->dead)
        return;
    conn->dead = 1;
    conn->usable = 0;
    if (conn->ncalls)
        LOG_DEBUG(RPC_LOG_SCOPE, "grpc connection to %s failed: %s", conn->address, why);
    char msg[256];
    snprintf(msg, sizeof(msg), "connection error: %s", why);
    while (conn->calls)
        rpc_call_end(conn->calls, RPC_UNAVAILABLE, msg, -1, 0);
    if (conn->gai_pending)
        uv_cancel((uv_req_t *)&conn->gai_req);
    rpc_h2conn_close(&conn->h2);
}

static void on_h2_fail(rpc_h2conn_t *h2, const char *why)
{
    cconn_fail((cconn_t *)h2, why);
}

static void on_h2_idle(rpc_h2conn_t *h2)
{
    cconn_t *conn = (cconn_t *)h2;
    if (conn->ncalls || !conn->h2.session)
        return;
    conn->usable = 0;
    nghttp2_submit_goaway(conn->h2.session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
    rpc_h2conn_finish(&conn->h2);
}

static const rpc_h2conn_ops_t cconn_ops = { on_h2_fail, on_h2_idle, on_h2_closed };

void rpc_cconn_call_detached(cconn_t *conn)
{
    conn->ncalls--;
    if (conn->dead)
        return;
    rpc_h2conn_set_active(&conn->h2, conn->ncalls);
    if (conn->ncalls == 0 && !conn->usable && conn->h2.session)
        rpc_h2conn_finish(&conn->h2); /* after GOAWAY: the last call is over */
    else
        rpc_h2conn_want_flush(&conn->h2);
}

/* ---- session ----------------------------------------------------------------------------- */

static int session_start(cconn_t *conn)
{
    rpc_client_t *c = conn->client;
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return -1;
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_send_header_block_length(opt, 256 * 1024);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_no_closed_streams(opt, 1); /* no state kept for closed streams */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_session_callbacks *cbs = rpc_client_callbacks();
    int r = cbs ? nghttp2_session_client_new2(&conn->h2.session, cbs, conn, opt) : -1;
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (r != 0)
        return -1;
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, RPC_STREAM_WINDOW },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, RPC_CLIENT_MAX_HEADER_LIST },
    };
    if (nghttp2_submit_settings(conn->h2.session, NGHTTP2_FLAG_NONE, iv, BASE_ARRAY_SIZE(iv)) != 0 ||
        nghttp2_session_set_local_window_size(conn->h2.session, NGHTTP2_FLAG_NONE, 0, RPC_CONN_WINDOW) != 0)
        return -1;
    conn->h2.keepalive_time_ms = c->opts.keepalive_time_ms;
    conn->h2.keepalive_timeout_ms = c->opts.keepalive_timeout_ms;
    conn->h2.idle_timeout_ms = c->opts.idle_conn_timeout_ms;
    return 0;
}

void rpc_cconn_on_frame(cconn_t *conn, const nghttp2_frame *frame)
{
    switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && conn->state == CC_PREFACE) {
            /* the server's preface arrived: connected, and its limits are known */
            conn->state = CC_READY;
            conn->h2.connect_deadline = 0;
            rpc_h2conn_update_timer(&conn->h2);
            for (rpc_call_t *call = conn->calls, *next; call; call = next) {
                next = call->next;
                if (call->stream_id == 0)
                    rpc_call_submit(call);
            }
        }
        break;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK)
            rpc_h2conn_ping_acked(&conn->h2);
        break;
    case NGHTTP2_GOAWAY:
        /* nghttp2 closes the streams above last_stream_id with REFUSED_STREAM (→ UNAVAILABLE,
         * safe to retry); the others finish; new calls go to a new connection. */
        conn->usable = 0;
        if (frame->goaway.error_code != NGHTTP2_NO_ERROR)
            LOG_DEBUG(RPC_LOG_SCOPE, "GOAWAY from %s: error %u", conn->address, frame->goaway.error_code);
        if (conn->ncalls == 0)
            rpc_h2conn_finish(&conn->h2);
        break;
    default:
        break;
    }
}

/* ---- connecting -------------------------------------------------------------------------- */

static void try_connect(cconn_t *conn);

/* A failed attempt's handle is closed; the next address gets a fresh one (a handle whose
 * connect failed cannot be reused). The transport counts the handle as open throughout. */
static void on_retry_closed(uv_handle_t *h)
{
    cconn_t *conn = h->data;
    if (conn->h2.closing) {
        rpc_h2conn_handle_closed(h);
        return;
    }
    uv_tcp_init(conn->client->loop, &conn->h2.tcp);
    conn->h2.tcp.data = conn;
    try_connect(conn);
}

static void on_connected(uv_connect_t *req, int status)
{
    cconn_t *conn = req->data;
    if (conn->h2.closing || status == UV_ECANCELED)
        return;
    if (status < 0) {
        if (conn->ai_cur && conn->ai_cur->ai_next) {
            /* next address: a handle whose connect failed cannot be reused */
            conn->ai_cur = conn->ai_cur->ai_next;
            uv_close((uv_handle_t *)&conn->h2.tcp, on_retry_closed);
            return;
        }
        char why[128];
        snprintf(why, sizeof(why), "connect %s: %s", conn->address, uv_strerror(status));
        cconn_fail(conn, why);
        return;
    }
    if (session_start(conn) != 0 || rpc_h2conn_start(&conn->h2) != 0) {
        cconn_fail(conn, "cannot start the HTTP/2 session");
        return;
    }
    conn->state = CC_PREFACE;
    rpc_h2conn_flush(&conn->h2); /* our preface and SETTINGS */
}

static void try_connect(cconn_t *conn)
{
    const struct sockaddr *addr = conn->ai_cur ? conn->ai_cur->ai_addr : (const struct sockaddr *)&conn->literal;
    conn->connect_req.data = conn;
    int r = uv_tcp_connect(&conn->connect_req, &conn->h2.tcp, addr, on_connected);
    if (r != 0) {
        char why[128];
        snprintf(why, sizeof(why), "connect %s: %s", conn->address, uv_strerror(r));
        cconn_fail(conn, why);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    cconn_t *conn = req->data;
    conn->gai_pending = 0;
    if (conn->dead) {
        if (res)
            uv_freeaddrinfo(res);
        if (conn->handles_closed)
            cconn_free(conn);
        return;
    }
    if (status < 0 || !res) {
        if (res)
            uv_freeaddrinfo(res);
        char why[160];
        snprintf(why, sizeof(why), "resolve %s: %s", conn->host, uv_strerror(status));
        cconn_fail(conn, why);
        return;
    }
    conn->ai = res;
    conn->ai_cur = res;
    conn->state = CC_CONNECTING;
    try_connect(conn);
}

/* "host:port" or "[v6]:port" → host and port. */
static int split_address(const char *address, char **host, char port[8])
{
    const char *colon, *h = address;
    size_t hlen;
    if (address[0] == '[') {
        const char *end = strchr(address, ']');
        if (!end || end[1] != ':')
            return -1;
        h = address + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(address, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - address);
    }
    size_t plen = strlen(colon + 1);
    if (hlen == 0 || plen == 0 || plen > 5 || strspn(colon + 1, "0123456789") != plen ||
        strtol(colon + 1, NULL, 10) > 65535)
        return -1;
    memcpy(port, colon + 1, plen + 1);
    *host = base_malloc(hlen + 1);
    if (!*host)
        return -1;
    memcpy(*host, h, hlen);
    (*host)[hlen] = '\0';
    return 0;
}

/* Starts connecting, once the first call is attached (failures are reported through it). */
void rpc_client_connect(cconn_t *conn)
{
    rpc_client_t *c = conn->client;
    int port = (int)strtol(conn->port, NULL, 10); /* digits only, checked by split_address */
    if (uv_ip4_addr(conn->host, port, (struct sockaddr_in *)&conn->literal) == 0 ||
        uv_ip6_addr(conn->host, port, (struct sockaddr_in6 *)&conn->literal) == 0) {
        conn->state = CC_CONNECTING; /* an IP literal: no resolver round trip */
        try_connect(conn);
        return;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    conn->gai_req.data = conn;
    int r = uv_getaddrinfo(c->loop, &conn->gai_req, on_resolved, conn->host, conn->port, &hints);
    if (r != 0) {
        char why[160];
        snprintf(why, sizeof(why), "resolve %s: %s", conn->host, uv_strerror(r));
        cconn_fail(conn, why);
        return;
    }
    conn->gai_pending = 1;
}

static cconn_t *cconn_new(rpc_client_t *c, const char *address)
{
    cconn_t *conn = base_calloc(1, sizeof(*conn));
    if (!conn)
        return NULL;
    size_t alen = strlen(address);
    conn->address = base_malloc(alen + 1);
    if (!conn->address || split_address(address, &conn->host, conn->port) != 0) {
        base_free(conn->address);
        base_free(conn);
        return NULL;
    }
    memcpy(conn->address, address, alen + 1);
    conn->client = c;
    conn->usable = 1;
    rpc_h2conn_init(&conn->h2, c->loop, &c->later, &cconn_ops, c->rbuf, 1);
    conn->h2.connect_deadline = uv_now(c->loop) + c->opts.connect_timeout_ms;
    conn->next = c->conns;
    if (c->conns)
        c->conns->prev = conn;
    c->conns = conn;
    c->nconns++;
    rpc_h2conn_update_timer(&conn->h2);
    return conn;
}

cconn_t *rpc_client_pick(rpc_client_t *c, const char *address, int *fresh)
{
    for (cconn_t *conn = c->conns; conn; conn = conn->next) {
        if (conn->usable && conn->ncalls < c->opts.max_streams_per_conn && strcmp(conn->address, address) == 0) {
            *fresh = 0;
            return conn;
        }
    }
    *fresh = 1;
    return cconn_new(c, address);
}

/* ---- client ------------------------------------------------------------------------------ */

rpc_client_t *rpc_client_new(uv_loop_t *loop, const rpc_client_options_t *opts)
{
    rpc_client_t *c = base_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->loop = loop;
    if (opts)
        c->opts = *opts;
    rpc_client_options_t *o = &c->opts;
    if (!o->max_message_size)
        o->max_message_size = DEFAULT_MAX_MESSAGE;
    if (!o->max_streams_per_conn)
        o->max_streams_per_conn = DEFAULT_MAX_STREAMS;
    if (!o->keepalive_time_ms)
        o->keepalive_time_ms = DEFAULT_KEEPALIVE_TIME;
    if (!o->keepalive_timeout_ms)
        o->keepalive_timeout_ms = DEFAULT_KEEPALIVE_TIMEOUT;
    if (!o->connect_timeout_ms)
        o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT;
    if (!o->idle_conn_timeout_ms)
        o->idle_conn_timeout_ms = DEFAULT_IDLE_TIMEOUT;
    loop_later_init(&c->later, loop, c);
    c->later_handles = LOOP_LATER_HANDLES;
    return c;
}

static void later_closed(uv_handle_t *h)
{
    rpc_client_t *c = h->data;
    if (--c->later_handles > 0)
        return;
    void (*done)(void *) = c->done_cb;
    void *arg = c->done_arg;
    base_free(c);
    if (done)
        done(arg);
}

static void check_done(rpc_client_t *c)
{
    if (c->closing && !c->later_closing && c->ncalls == 0 && c->nconns == 0) {
        c->later_closing = 1;
        loop_later_close(&c->later, later_closed);
    }
}

void rpc_client_call_freed(rpc_client_t *c)
{
    check_done(c);
}

void rpc_client_close(rpc_client_t *c, void (*done_cb)(void *arg), void *arg)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->done_cb = done_cb;
    c->done_arg = arg;
    for (rpc_call_t *call = c->calls; call; call = call->cnext)
        if (!call->done)
            rpc_call_end(call, RPC_CANCELLED, "client closed", NGHTTP2_CANCEL, 0);
    for (cconn_t *conn = c->conns; conn; conn = conn->next)
        cconn_fail(conn, "client closed");
    check_done(c);
}
