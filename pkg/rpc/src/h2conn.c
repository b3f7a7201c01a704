/*
 * h2conn.c - one TCP connection carrying one nghttp2 session, driven by libuv: reads go
 * straight into nghttp2_session_mem_recv(), frames nghttp2 wants to send are pulled with
 * nghttp2_session_mem_send() into one buffer and written with one uv_write() at a time (after
 * nghttp2's examples/libevent-server.c, with libuv's lifetime rules: memory is freed only in
 * the close callbacks, a buffer being written is untouched until its write callback).
 *
 * The one timer covers connect timeout, keepalive PING and its ACK timeout, idle timeout and
 * the linger after our FIN. It is re-armed lazily: a read only records the time, the timer
 * re-computes the next deadline when it fires.
 */
#include "internal.h"

#include "base/pool.h"

static const uint8_t keepalive_opaque[8] = { 'r', 'm', 'r', 'a', '-', 'k', 'a', 0 };

static void conn_fail(rpc_h2conn_t *c, const char *why)
{
    if (!c->closing)
        c->ops->on_fail(c, why);
}

/* ---- closing ----------------------------------------------------------------------------- */

void rpc_h2conn_handle_closed(uv_handle_t *h)
{
    rpc_h2conn_t *c = h->data;
    if (--c->handles_open > 0)
        return;
    base_buf_free(&c->out);
    base_buf_free(&c->writing);
    c->ops->on_closed(c);
}

void rpc_h2conn_close(rpc_h2conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    loop_later_cancel(&c->flush_item);
    /* nghttp2 forbids deleting a session from inside its callbacks: on_read and flush delete
     * it once mem_recv / mem_send returns. */
    if (c->session && !c->in_recv && !c->in_send) {
        nghttp2_session_del(c->session);
        c->session = NULL;
    }
    if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, rpc_h2conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, rpc_h2conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* lingering continues until EOF or the timer */
}

/* After rpc_h2conn_finish(): once nothing is left to write, send FIN and linger. */
static void maybe_shut(rpc_h2conn_t *c)
{
    if (!c->finishing || c->shut || c->closing || c->write_pending || c->out.len)
        return;
    c->shut = 1;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_fail(c, "shutdown failed");
        return;
    }
    rpc_h2conn_update_timer(c);
}

void rpc_h2conn_finish(rpc_h2conn_t *c)
{
    if (c->closing || c->finishing)
        return;
    c->finishing = 1;
    c->finish_at = uv_now(c->loop);
    rpc_h2conn_flush(c);
    rpc_h2conn_update_timer(c);
}

/* ---- writing ----------------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    rpc_h2conn_t *c = req->data;
    c->write_pending = 0;
    c->writing.len = 0;
    if (c->closing)
        return;
    if (status < 0) {
        conn_fail(c, uv_strerror(status));
        return;
    }
    rpc_h2conn_flush(c);
}

void rpc_h2conn_flush(rpc_h2conn_t *c)
{
    /* Never from inside nghttp2's callbacks: in_send (a stream closed, a frame went out...),
     * the loop below picks up whatever was just submitted; in_recv, on_read flushes after
     * mem_recv returns. */
    if (c->closing || c->write_pending || !c->session || c->shut || c->in_send || c->in_recv)
        return;
    loop_later_cancel(&c->flush_item);
again:
    while (c->out.len < RPC_WRITE_BATCH) {
        const uint8_t *data;
        c->in_send = 1;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        c->in_send = 0;
        if (c->closing) {
            if (c->session && !c->in_recv) {
                nghttp2_session_del(c->session);
                c->session = NULL;
            }
            return;
        }
        if (n < 0) {
            conn_fail(c, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            break;
        if (base_buf_append(&c->out, data, (size_t)n) != 0) {
            conn_fail(c, "out of memory");
            return;
        }
    }
    if (c->out.len == 0) {
        if (!c->finishing && !nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
            rpc_h2conn_finish(c); /* GOAWAY both ways and no stream left */
        maybe_shut(c);
        return;
    }
    /* nghttp2 output keeps collecting in `out` while `writing` is on the wire */
    c->write_req.data = c;
    size_t queued;
    int r = loop_write((uv_stream_t *)&c->tcp, &c->write_req, &c->out, &c->writing, on_write, &queued);
    if (r == 0)
        goto again;
    if (r < 0) {
        conn_fail(c, uv_strerror(r));
        return;
    }
    c->write_pending = 1;
}

static void flush_later(loop_later_item_t *it)
{
    rpc_h2conn_flush(BASE_CONTAINER_OF(it, rpc_h2conn_t, flush_item));
}

void rpc_h2conn_want_flush(rpc_h2conn_t *c)
{
    /* a read callback flushes when nghttp2 is done with the input; a write in flight flushes
     * from its callback */
    if (c->in_recv || c->in_send || c->write_pending || c->closing || !c->session)
        return;
    loop_later_post(c->later, &c->flush_item, flush_later);
}

/* ---- reading ----------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    rpc_h2conn_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->rbuf, RPC_READ_BUFFER);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    rpc_h2conn_t *c = st->data;
    if (c->closing || nread == 0)
        return;
    if (nread < 0) {
        if (c->shut || nread == UV_EOF)
            c->reading = 0, uv_read_stop(st);
        if (c->shut) {
            conn_fail(c, "closed after GOAWAY"); /* the owner fails what is left, then closes */
            return;
        }
        conn_fail(c, nread == UV_EOF ? "connection closed by peer" : uv_strerror((int)nread));
        return;
    }
    c->last_read = uv_now(c->loop);
    if (c->shut || !c->session)
        return; /* lingering: discard */
    c->in_recv = 1;
    ssize_t r = nghttp2_session_mem_recv(c->session, (const uint8_t *)buf->base, (size_t)nread);
    c->in_recv = 0;
    if (c->closing) {
        if (c->session && !c->in_send) {
            nghttp2_session_del(c->session);
            c->session = NULL;
        }
        return;
    }
    if (r < 0) {
        /* nghttp2 queued a GOAWAY for most errors: send it, then give up on the connection */
        LOG_DEBUG(RPC_LOG_SCOPE, "http2 protocol error: %s", nghttp2_strerror((int)r));
        rpc_h2conn_flush(c);
        if (!c->closing)
            conn_fail(c, nghttp2_strerror((int)r));
        return;
    }
    rpc_h2conn_flush(c);
}

/* ---- timer ------------------------------------------------------------------------------- */

static uint64_t next_deadline(const rpc_h2conn_t *c)
{
    uint64_t d = UINT64_MAX;
    if (c->connect_deadline)
        d = BASE_MIN(d, c->connect_deadline);
    if (c->finishing)
        return BASE_MIN(d, c->finish_at + RPC_LINGER_MS);
    if (c->ping_sent && c->keepalive_timeout_ms)
        d = BASE_MIN(d, c->ping_sent + c->keepalive_timeout_ms);
    else if (c->keepalive_time_ms && c->session && (c->active > 0 || c->keepalive_without_calls))
        d = BASE_MIN(d, c->last_read + c->keepalive_time_ms);
    if (c->active == 0 && c->idle_timeout_ms && c->idle_since)
        d = BASE_MIN(d, c->idle_since + c->idle_timeout_ms);
    return d;
}

static void on_timer(uv_timer_t *t);

void rpc_h2conn_update_timer(rpc_h2conn_t *c)
{
    if (c->closing)
        return;
    uint64_t d = next_deadline(c);
    if (d == UINT64_MAX) {
        if (c->armed) {
            uv_timer_stop(&c->timer);
            c->armed = 0;
        }
        return;
    }
    if (c->armed && c->armed <= d)
        return; /* fires earlier anyway and re-computes then */
    uint64_t now = uv_now(c->loop);
    c->armed = d;
    uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    rpc_h2conn_t *c = t->data;
    uint64_t now = uv_now(c->loop);
    c->armed = 0;
    if (c->connect_deadline && now >= c->connect_deadline) {
        conn_fail(c, "connect timeout");
        return;
    }
    if (c->finishing) {
        if (now >= c->finish_at + RPC_LINGER_MS) {
            conn_fail(c, "linger timeout");
            return;
        }
    } else if (c->ping_sent) {
        if (c->keepalive_timeout_ms && now >= c->ping_sent + c->keepalive_timeout_ms) {
            conn_fail(c, "keepalive ping not acknowledged");
            return;
        }
    } else if (c->keepalive_time_ms && c->session && (c->active > 0 || c->keepalive_without_calls) &&
               now >= c->last_read + c->keepalive_time_ms) {
        if (nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, keepalive_opaque) == 0) {
            c->ping_sent = now;
            rpc_h2conn_flush(c);
            if (c->closing)
                return;
        }
    }
    if (c->active == 0 && c->idle_timeout_ms && c->idle_since && now >= c->idle_since + c->idle_timeout_ms) {
        c->idle_since = 0;
        c->ops->on_idle(c);
        if (c->closing)
            return;
    }
    rpc_h2conn_update_timer(c);
}

void rpc_h2conn_ping_acked(rpc_h2conn_t *c)
{
    c->ping_sent = 0;
}

void rpc_h2conn_set_active(rpc_h2conn_t *c, unsigned active)
{
    unsigned before = c->active;
    c->active = active;
    if (active == 0 && before != 0)
        c->idle_since = uv_now(c->loop);
    else if (active)
        c->idle_since = 0;
    if ((before == 0) != (active == 0))
        rpc_h2conn_update_timer(c);
}

/* ---- setup ------------------------------------------------------------------------------- */

void rpc_h2conn_init(rpc_h2conn_t *c, uv_loop_t *loop, loop_later_t *later, const rpc_h2conn_ops_t *ops, char *rbuf,
                     int tcp)
{
    c->loop = loop;
    c->later = later;
    c->ops = ops;
    c->rbuf = rbuf;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 1;
    if (tcp) {
        uv_tcp_init(loop, &c->tcp);
        c->tcp.data = c;
        c->tcp_open = 1;
        c->handles_open++;
    }
    c->last_read = uv_now(loop);
    c->idle_since = c->last_read;
}

int rpc_h2conn_start(rpc_h2conn_t *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    c->last_read = uv_now(c->loop);
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r != 0)
        return r;
    c->reading = 1;
    rpc_h2conn_update_timer(c);
    return 0;
}
