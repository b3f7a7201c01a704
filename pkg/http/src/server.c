/*
 * server.c - libuv side of the HTTP/1.x server: accept, read into the codec, write its
 * output, timers, connection cap, lingering close, drain.
 *
 * Lifetimes follow libuv's rules: a connection is freed only in its handle's close callback;
 * the buffer being written stays untouched until the write callback; nothing is freed inside
 * a callback that the freed object is still running.
 */
#include "http/server.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/pool.h"
#include "loop/later.h"
#include "loop/write.h"

#define BACKLOG 511

/* A TCP or Unix stream, seen as whichever libuv type a call needs. */
typedef union stream_handle {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_handle_t handle;
    uv_stream_t stream;
} stream_handle_t;

typedef struct listener {
    stream_handle_t h;
    http_server_t *server;
    http_listener_kind_t kind;
    http_listener_shared_t *shared;
    int is_pipe;
    struct listener *next;
} listener_t;

typedef enum timer_kind { TK_NONE = 0, TK_HEADER, TK_BODY, TK_IDLE, TK_WRITE, TK_LINGER } timer_kind_t;

typedef struct conn {
    stream_handle_t h;
    uv_timer_t timer;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    http_server_t *server;
    listener_t *listener;
    http_listener_shared_t *shared;
    http_codec_t *codec;
    loop_later_item_t flush_item; /* queued while the codec has output to write this turn */
    base_buf_t writing; /* bytes handed to uv_write, untouched until write_cb */
    timer_kind_t timer_kind;
    int handles_open;  /* stream + timer, freed when both closed */
    unsigned in_read : 1;
    unsigned write_pending : 1;
    unsigned reading : 1;
    unsigned closing : 1;
    unsigned lingering : 1;
    struct conn *prev, *next;
} conn_t;

struct http_server {
    uv_loop_t *loop;
    http_server_options_t opts;
    http_handler_t handler;
    listener_t *listeners;
    size_t handles; /* listener and later handles still open */
    loop_later_t later; /* output flushed once per loop turn (set up by the first listen) */
    int later_state;    /* 0 none, 1 open, 2 closing */
    conn_t *conns;
    size_t conn_count;
    int draining;
    http_server_idle_cb idle_cb;
    void *idle_arg;
};

static void conn_update(conn_t *c);
static void conn_close(conn_t *c);
static void check_idle(http_server_t *s);

/* ---- idle detection ---------------------------------------------------------------------- */

static void later_closed(uv_handle_t *h)
{
    http_server_t *s = h->data;
    s->handles--;
    check_idle(s);
}

static void check_idle(http_server_t *s)
{
    if (!s->draining || s->conn_count || !s->idle_cb)
        return;
    if (s->later_state == 1 && s->handles == 0) {
        s->later_state = 2;
        s->handles += LOOP_LATER_HANDLES;
        loop_later_close(&s->later, later_closed);
        return;
    }
    if (s->handles == 0) {
        http_server_idle_cb cb = s->idle_cb;
        s->idle_cb = NULL;
        cb(s, s->idle_arg);
    }
}

/* ---- closing ----------------------------------------------------------------------------- */

static void conn_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->handles_open > 0)
        return;
    http_server_t *s = c->server;
    base_buf_free(&c->writing);
    base_free(c);
    check_idle(s);
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    http_server_t *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->conn_count--;
    atomic_fetch_sub(&c->shared->connections, 1);
    loop_later_cancel(&c->flush_item);
    /* Aborts an exchange still in flight; its upper layer hears it through on_abort. */
    http_codec_free(c->codec, s->draining ? HTTP_ABORT_SHUTDOWN : HTTP_ABORT_CLOSED);
    c->codec = NULL;
    uv_close(&c->h.handle, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

/* ---- timers ------------------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    timer_kind_t k = c->timer_kind;
    c->timer_kind = TK_NONE;
    if (k == TK_LINGER || k == TK_WRITE || k == TK_IDLE) {
        conn_close(c);
        return;
    }
    http_codec_timeout(c->codec);
    conn_update(c);
}

/* A timeout of 0 means "no timeout" (as the flags document). */
static void arm(conn_t *c, timer_kind_t k, unsigned ms)
{
    c->timer_kind = k;
    if (ms == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Picks the timer for the connection's state. The header timer covers the whole head (it is
 * not re-armed by each trickled byte: slowloris); the body timer is re-armed by each read. */
static void update_timer(conn_t *c, int got_body_bytes)
{
    const http_server_options_t *o = &c->server->opts;
    if (c->lingering)
        return;
    if (c->write_pending) {
        if (c->timer_kind != TK_WRITE)
            arm(c, TK_WRITE, o->write_timeout_ms);
        return;
    }
    switch (http_codec_state(c->codec)) {
    case HTTP_CODEC_IDLE:
        if (http_codec_request_count(c->codec) == 0) {
            if (c->timer_kind != TK_HEADER)
                arm(c, TK_HEADER, o->read_header_timeout_ms);
        } else if (c->timer_kind != TK_IDLE) {
            arm(c, TK_IDLE, o->idle_timeout_ms);
        }
        break;
    case HTTP_CODEC_READING_HEAD:
        if (c->timer_kind != TK_HEADER)
            arm(c, TK_HEADER, o->read_header_timeout_ms);
        break;
    case HTTP_CODEC_READING_BODY:
        if (c->timer_kind != TK_BODY || got_body_bytes)
            arm(c, TK_BODY, o->read_body_timeout_ms);
        break;
    case HTTP_CODEC_RESPONDING:
    case HTTP_CODEC_CLOSING:
        if (c->timer_kind != TK_NONE) {
            uv_timer_stop(&c->timer);
            c->timer_kind = TK_NONE;
        }
        break;
    }
}

/* ---- reading ----------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    if (c->lingering || !c->codec) {
        static _Thread_local char discard[16 * 1024];
        *buf = uv_buf_init(discard, sizeof(discard));
        return;
    }
    char *base;
    size_t len;
    http_codec_read_buffer(c->codec, &base, &len);
    *buf = uv_buf_init(base, (unsigned)len);
}

static void flush(conn_t *c);

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = st->data;
    (void)buf;
    if (c->closing)
        return;
    if (c->lingering) {
        if (nread < 0)
            conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread != UV_EOF) {
            conn_close(c);
            return;
        }
        http_codec_eof(c->codec);
        c->reading = 0;
        uv_read_stop(&c->h.stream);
        conn_update(c);
        return;
    }
    if (c->timer_kind == TK_IDLE) {
        /* the idle period is over; update_timer() starts a fresh one when this request is done */
        uv_timer_stop(&c->timer);
        c->timer_kind = TK_NONE;
    }
    c->in_read = 1;
    http_codec_state_t before = http_codec_state(c->codec);
    http_codec_commit_read(c->codec, (size_t)nread);
    c->in_read = 0;
    int body = before == HTTP_CODEC_READING_BODY;
    flush(c);
    if (!c->closing) {
        update_timer(c, body);
        conn_update(c);
    }
}

/* ---- writing ----------------------------------------------------------------------------- */

/* What follows a completed write: the codec hears it (back-pressure), and a pipelined request
 * that waited for this response may now run. */
static void wrote(conn_t *c)
{
    http_codec_written(c->codec);
    if (c->timer_kind == TK_WRITE) {
        uv_timer_stop(&c->timer);
        c->timer_kind = TK_NONE;
    }
    c->in_read = 1;
    http_codec_resume(c->codec);
    c->in_read = 0;
}

static void on_write(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    c->write_pending = 0;
    c->writing.len = 0;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    wrote(c);
    flush(c);
    conn_update(c);
}

/* Writes what the codec has queued (loop_write: the socket first, uv_write for the rest); the
 * codec keeps appending to a fresh buffer while the rest is on the wire. */
static void flush(conn_t *c)
{
    while (!c->closing && !c->write_pending && c->codec) {
        base_buf_t *out = http_codec_output(c->codec);
        if (out->len == 0)
            return;
        c->write_req.data = c;
        size_t queued;
        int r = loop_write(&c->h.stream, &c->write_req, out, &c->writing, on_write, &queued);
        if (r == 0) {
            wrote(c);
            continue;
        }
        if (r < 0) {
            conn_close(c);
            return;
        }
        c->write_pending = 1;
        http_codec_writing(c->codec, queued);
        update_timer(c, 0);
    }
}

static void flush_later(loop_later_item_t *it)
{
    conn_t *c = BASE_CONTAINER_OF(it, conn_t, flush_item);
    flush(c);
    conn_update(c);
}

/* Output produced outside a read (an upstream answered) is written at the end of the loop
 * turn, so a head, its body and its end, produced by separate calls, leave in one write. */
static void on_codec_output(void *owner)
{
    conn_t *c = owner;
    if (!c->in_read && !c->closing && c->server->later_state == 1)
        loop_later_post(&c->server->later, &c->flush_item, flush_later);
}

static void on_codec_exchange_done(void *owner)
{
    conn_t *c = owner;
    if (!c->in_read)
        conn_update(c);
}

/* ---- state transitions ------------------------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    (void)status;
    if (c->closing)
        return;
    /* Keep reading and discarding until the client closes or the linger time is over, so the
     * kernel does not answer the unread bytes with a reset that destroys our response. */
    c->lingering = 1;
    arm(c, TK_LINGER, c->server->opts.linger_ms);
    if (!c->reading) {
        c->reading = 1;
        uv_read_start(&c->h.stream, on_alloc, on_read);
    }
}

static void conn_update(conn_t *c)
{
    if (c->closing || c->lingering)
        return;
    http_codec_t *codec = c->codec;
    if (http_codec_should_close(codec)) {
        if (http_codec_busy(codec) || c->write_pending || http_codec_output(codec)->len)
            return;
        if (http_codec_unread_input(codec) && c->listener && !c->listener->is_pipe) {
            c->shutdown_req.data = c;
            if (uv_shutdown(&c->shutdown_req, &c->h.stream, on_shutdown) == 0) {
                c->lingering = 1; /* reads are discarded from here on */
                return;
            }
        }
        conn_close(c);
        return;
    }
    int want = http_codec_wants_input(codec);
    if (want && !c->reading) {
        if (uv_read_start(&c->h.stream, on_alloc, on_read) == 0)
            c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = 0;
    }
    update_timer(c, 0);
}

/* ---- accepting --------------------------------------------------------------------------- */

static void peer_name(conn_t *c, char *out, size_t cap)
{
    if (c->listener->is_pipe) {
        snprintf(out, cap, "@");
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[64] = "";
    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(out, cap, "unknown");
        return;
    }
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
        snprintf(out, cap, "%s:%d", ip, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
}

static void reject_closed(uv_handle_t *h)
{
    base_free(h);
}

static void on_connection(uv_stream_t *server_stream, int status)
{
    listener_t *l = server_stream->data;
    http_server_t *s = l->server;
    if (status < 0) {
        LOG_WARN(BASE_LOG_SCOPE_HTTP, "accept on %s failed: %s", l->shared->name, uv_strerror(status));
        return;
    }
    if (s->draining)
        return;
    if (atomic_fetch_add(&l->shared->connections, 1) >= l->shared->max_connections && l->shared->max_connections > 0) {
        atomic_fetch_sub(&l->shared->connections, 1);
        /* Over the cap: accept and close at once, so the client sees a clean FIN rather than
         * waiting in the backlog, and the server keeps serving the others. */
        uv_stream_t *tmp = base_malloc(l->is_pipe ? sizeof(uv_pipe_t) : sizeof(uv_tcp_t));
        if (!tmp)
            return;
        if (l->is_pipe)
            uv_pipe_init(s->loop, (uv_pipe_t *)tmp, 0);
        else
            uv_tcp_init(s->loop, (uv_tcp_t *)tmp);
        uv_accept(server_stream, tmp);
        uv_close((uv_handle_t *)tmp, reject_closed);
        if (atomic_fetch_add(&l->shared->rejected, 1) % 1000 == 0)
            LOG_WARN(BASE_LOG_SCOPE_HTTP, "connection limit of %d reached on %s: closing new connections",
                     l->shared->max_connections, l->shared->name);
        return;
    }
    conn_t *c = base_calloc(1, sizeof(*c));
    if (!c) {
        atomic_fetch_sub(&l->shared->connections, 1);
        return;
    }
    c->server = s;
    c->listener = l;
    c->shared = l->shared;
    if (l->is_pipe)
        uv_pipe_init(s->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(s->loop, &c->h.tcp);
    c->h.handle.data = c;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    /* linked before anything can fail, so conn_close() has one path */
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->conn_count++;
    if (uv_accept(server_stream, &c->h.stream) != 0) {
        conn_close(c); /* no codec yet: http_codec_free(NULL) does nothing */
        return;
    }
    if (!l->is_pipe)
        uv_tcp_nodelay(&c->h.tcp, 1);
    char peer[64];
    peer_name(c, peer, sizeof(peer));
    http_codec_owner_t owner = { on_codec_output, on_codec_exchange_done, c };
    c->codec = http_codec_new(&s->opts.limits, &s->handler, l->kind, &owner, peer);
    if (!c->codec) {
        conn_close(c);
        return;
    }
    conn_update(c);
}

/* ---- server ------------------------------------------------------------------------------ */

http_server_t *http_server_new(uv_loop_t *loop, const http_server_options_t *opts, const http_handler_t *handler)
{
    http_server_t *s = base_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->loop = loop;
    s->opts = *opts;
    s->handler = *handler;
    return s;
}

int http_server_listen_fd(http_server_t *s, int fd, int is_pipe, http_listener_kind_t kind,
                          http_listener_shared_t *shared)
{
    listener_t *l = base_calloc(1, sizeof(*l));
    if (!l)
        return UV_ENOMEM;
    int r = is_pipe ? uv_pipe_init(s->loop, &l->h.pipe, 0) : uv_tcp_init(s->loop, &l->h.tcp);
    if (r == 0)
        r = is_pipe ? uv_pipe_open(&l->h.pipe, fd) : uv_tcp_open(&l->h.tcp, fd);
    if (r != 0) {
        base_free(l);
        return r;
    }
    l->server = s;
    l->kind = kind;
    l->shared = shared;
    l->is_pipe = is_pipe;
    l->h.handle.data = l;
    r = uv_listen(&l->h.stream, BACKLOG, on_connection);
    l->next = s->listeners;
    s->listeners = l;
    s->handles++;
    if (s->later_state == 0) {
        loop_later_init(&s->later, s->loop, s);
        s->later_state = 1;
    }
    return r;
}

static void listener_closed(uv_handle_t *h)
{
    listener_t *l = h->data;
    http_server_t *s = l->server;
    s->handles--;
    check_idle(s);
}

void http_server_drain(http_server_t *s, http_server_idle_cb idle_cb, void *arg)
{
    s->idle_cb = idle_cb;
    s->idle_arg = arg;
    if (!s->draining) {
        s->draining = 1;
        for (listener_t *l = s->listeners; l; l = l->next)
            uv_close(&l->h.handle, listener_closed);
    }
    for (conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        http_codec_drain(c->codec);
        conn_update(c);
    }
    check_idle(s);
}

void http_server_close_all(http_server_t *s)
{
    while (s->conns)
        conn_close(s->conns);
    check_idle(s);
}

size_t http_server_connection_count(const http_server_t *s)
{
    return s->conn_count;
}

void http_server_free(http_server_t *s)
{
    if (!s)
        return;
    for (listener_t *l = s->listeners, *next; l; l = next) {
        next = l->next;
        base_free(l);
    }
    base_free(s);
}
