/*
 * call.c - client calls: request submission, the response's headers, messages and trailers,
 * the final status, deadlines and the nghttp2 client session callbacks.
 *
 * A call ends exactly once (rpc_call_end): from the trailers, a reset, a connection failure,
 * its deadline or the caller's cancel. Ending detaches it from its stream and connection at
 * once, so nothing a peer sends later can reach it; on_close then runs from the later queue
 * and the call is freed when it returns (after its timer handle closed, if it had one).
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/pool.h"

static const char USER_AGENT[] = "grpc-c-remora/0.1";

/* ---- ending and freeing ------------------------------------------------------------------ */

static void call_timer_closed(uv_handle_t *h)
{
    rpc_call_t *call = h->data;
    rpc_client_t *c = call->client;
    base_pool_destroy(call->pool);
    rpc_client_call_freed(c);
}

static void call_free(rpc_call_t *call)
{
    rpc_client_t *c = call->client;
    if (call->cprev)
        call->cprev->cnext = call->cnext;
    else
        c->calls = call->cnext;
    if (call->cnext)
        call->cnext->cprev = call->cprev;
    c->ncalls--;
    loop_later_cancel(&call->later);
    rpc_sendq_free(&call->sq);
    rpc_recvq_free(&call->rq);
    if (call->timer_on) {
        uv_close((uv_handle_t *)&call->timer, call_timer_closed);
        return;
    }
    base_pool_destroy(call->pool);
    rpc_client_call_freed(c);
}

static int deliver(void *arg, base_slice_t msg)
{
    rpc_call_t *call = arg;
    if (call->drop_held)
        return 1;
    if (call->cbs.on_message)
        call->cbs.on_message(call, call->ud, msg);
    return call->rq.paused || call->drop_held;
}

static void fail_stream(rpc_call_t *call, rpc_deframe_result_t r)
{
    const char *msg;
    int status = rpc_deframe_status(r, &call->rq.df, call->pool, &msg);
    rpc_call_end(call, status, msg, NGHTTP2_CANCEL, 0);
}

/* Delivers what a paused receiver held. Returns 0 when all of it went out. */
static int drain_held(rpc_call_t *call)
{
    nghttp2_session *s = call->conn ? call->conn->h2.session : NULL;
    rpc_deframe_result_t r = rpc_recvq_drain(&call->rq, s, call->stream_id, deliver, call);
    if (r != RPC_DEFRAME_OK) {
        const char *msg;
        int status = rpc_deframe_status(r, &call->rq.df, call->pool, &msg);
        if (!call->done) {
            rpc_call_end(call, status, msg, NGHTTP2_CANCEL, 0);
        } else {
            call->status = status;
            call->message = base_slice_cstr(msg);
        }
        call->drop_held = 1;
        return 0;
    }
    if (call->conn)
        rpc_h2conn_want_flush(&call->conn->h2); /* the window we just granted */
    return rpc_recvq_has_held(&call->rq) && !call->drop_held;
}

static void call_later(loop_later_item_t *it)
{
    rpc_call_t *call = BASE_CONTAINER_OF(it, rpc_call_t, later);
    unsigned ev = call->events;
    call->events = 0;
    if (ev & CALL_EV_RECV)
        drain_held(call);
    if ((ev & CALL_EV_WRITABLE) && !call->done && call->cbs.on_writable)
        call->cbs.on_writable(call, call->ud);
    if (!call->done)
        return;
    if (!call->drop_held && rpc_recvq_has_held(&call->rq)) {
        if (call->rq.paused)
            return; /* rpc_call_resume_recv() posts us again */
        if (drain_held(call) != 0)
            return;
    }
    if (call->status == RPC_OK && rpc_deframer_partial(&call->rq.df)) {
        call->status = RPC_INTERNAL;
        call->message = BASE_SLICE_LIT("stream ended in the middle of a message");
    }
    call->closed = 1;
    call->cbs.on_close(call, call->ud, call->status, call->message, call->final_trailers);
    call_free(call);
}

static void post(rpc_call_t *call, unsigned ev)
{
    call->events |= ev;
    loop_later_post(&call->client->later, &call->later, call_later);
}

void rpc_call_end(rpc_call_t *call, int status, const char *msg, int rst_code, int graceful)
{
    if (call->done)
        return;
    call->done = 1;
    call->status = status;
    if (!call->message.base)
        call->message = base_pool_slice_dup(call->pool, base_slice_cstr(msg));
    if (!graceful)
        call->drop_held = 1;
    if (call->timer_on)
        uv_timer_stop(&call->timer);
    cconn_t *conn = call->conn;
    if (conn) {
        if (call->stream_id > 0 && conn->h2.session) {
            nghttp2_session_set_stream_user_data(conn->h2.session, call->stream_id, NULL);
            if (rst_code >= 0)
                nghttp2_submit_rst_stream(conn->h2.session, NGHTTP2_FLAG_NONE, call->stream_id, (uint32_t)rst_code);
        }
        if (call->prev)
            call->prev->next = call->next;
        else
            conn->calls = call->next;
        if (call->next)
            call->next->prev = call->prev;
        call->prev = call->next = NULL;
        call->conn = NULL;
        rpc_cconn_call_detached(conn);
    }
    post(call, CALL_EV_CLOSE);
}

static void on_deadline(uv_timer_t *t)
{
    rpc_call_t *call = t->data;
    rpc_call_end(call, RPC_DEADLINE_EXCEEDED, "Deadline Exceeded", NGHTTP2_CANCEL, 0);
}

/* ---- request ----------------------------------------------------------------------------- */

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    (void)source;
    (void)user_data;
    rpc_call_t *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!call)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* ended meanwhile: the stream is reset */
    int writable;
    size_t n = rpc_sendq_read(&call->sq, buf, length, &writable);
    if (writable)
        post(call, CALL_EV_WRITABLE);
    if (rpc_sendq_pending(&call->sq) == 0 && call->sq.eof) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (n == 0) {
        call->sq.deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

void rpc_call_submit(rpc_call_t *call)
{
    cconn_t *conn = call->conn;
    size_t cap = 9 + call->md.len;
    nghttp2_nv *nva = base_pool_alloc(call->pool, cap * sizeof(*nva));
    if (!nva) {
        rpc_call_end(call, RPC_RESOURCE_EXHAUSTED, "out of memory", -1, 0);
        return;
    }
    size_t n = 0;
    nva[n++] = RPC_NV_LIT(":method", "POST");
    nva[n++] = RPC_NV_LIT(":scheme", "http");
    nva[n++] = rpc_nv(":path", 5, call->path, strlen(call->path));
    nva[n++] = rpc_nv(":authority", 10, conn->address, strlen(conn->address));
    nva[n++] = RPC_NV_LIT("content-type", "application/grpc");
    nva[n++] = RPC_NV_LIT("te", "trailers");
    /* As grpc-go: a user-agent given in the metadata goes first, then ours, in one header. */
    const base_slice_t *ua = http_headers_get(&call->md, "user-agent");
    char *agent = ua ? base_pool_printf(call->pool, "%.*s %s", (int)ua->len, ua->base, USER_AGENT) : NULL;
    if (agent)
        nva[n++] = rpc_nv("user-agent", 10, agent, strlen(agent));
    else
        nva[n++] = rpc_nv("user-agent", 10, USER_AGENT, sizeof(USER_AGENT) - 1);
    char timeout[16];
    if (call->deadline_at) {
        uint64_t now = uv_now(call->client->loop);
        uint64_t left = call->deadline_at > now ? call->deadline_at - now : 1;
        nva[n++] = rpc_nv_unique("grpc-timeout", 12, timeout, rpc_timeout_format(left, timeout));
    }
    n = rpc_nva_add_md(nva, n, cap, call->pool, &call->md);
    nghttp2_data_provider prd = { .source.ptr = NULL, .read_callback = read_body };
    int32_t id = nghttp2_submit_request(conn->h2.session, NULL, nva, n, &prd, call);
    if (id < 0) {
        rpc_call_end(call, RPC_UNAVAILABLE, nghttp2_strerror(id), -1, 0);
        return;
    }
    call->stream_id = id;
    rpc_h2conn_want_flush(&conn->h2);
}

/* Wakes the data provider after new output (more messages or the half-close). */
static void resume(rpc_call_t *call)
{
    cconn_t *conn = call->conn;
    if (!conn || call->stream_id <= 0 || !conn->h2.session)
        return;
    if (call->sq.deferred) {
        call->sq.deferred = 0;
        nghttp2_session_resume_data(conn->h2.session, call->stream_id);
    }
    rpc_h2conn_want_flush(&conn->h2);
}

/* ---- response ---------------------------------------------------------------------------- */

static base_slice_t decode_message(base_pool_t *pool, base_slice_t v)
{
    char *out = base_pool_alloc(pool, v.len + 1);
    if (!out)
        return BASE_SLICE_LIT("");
    size_t n = rpc_percent_decode(v, out);
    out[n] = '\0';
    return base_slice(out, n);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    rpc_call_t *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!call)
        return 0;
    call->header_bytes += namelen + valuelen + 32;
    if (call->header_bytes > RPC_CLIENT_MAX_HEADER_LIST) {
        rpc_call_end(call, RPC_RESOURCE_EXHAUSTED, "response header list too large", NGHTTP2_CANCEL, 0);
        return 0;
    }
    base_slice_t n = base_slice((const char *)name, namelen), v = base_slice((const char *)value, valuelen);
    if (base_slice_eq(n, BASE_SLICE_LIT("grpc-status"))) {
        call->grpc_status = rpc_status_parse(v);
        if (call->grpc_status < 0)
            call->grpc_status = RPC_UNKNOWN;
        return 0;
    }
    if (base_slice_eq(n, BASE_SLICE_LIT("grpc-message"))) {
        call->grpc_message = decode_message(call->pool, v);
        return 0;
    }
    if (!call->headers_done) {
        if (base_slice_eq(n, BASE_SLICE_LIT(":status"))) {
            call->http_status = 0;
            for (size_t i = 0; i < valuelen && i < 3; i++)
                call->http_status = call->http_status * 10 + (value[i] - '0');
        } else if (base_slice_eq(n, BASE_SLICE_LIT("content-type"))) {
            call->ct_ok = base_slice_starts_with(v, "application/grpc") &&
                          (v.len == 16 || v.base[16] == '+' || v.base[16] == ';');
        }
    }
    http_headers_t *md = call->headers_done ? &call->trailers : &call->resp_md;
    if (rpc_md_add_received(md, call->pool, name, namelen, value, valuelen) != 0)
        rpc_call_end(call, RPC_RESOURCE_EXHAUSTED, "out of memory", NGHTTP2_CANCEL, 0);
    return 0;
}

/* The stream ended from the server's side (trailers, or a Trailers-Only response). */
static void end_of_stream(rpc_call_t *call, nghttp2_session *session, int trailers_only)
{
    call->rq.ended = 1;
    call->final_trailers = trailers_only ? &call->resp_md : &call->trailers;
    int rst = -1;
    /* our side still open (the server answered before we half-closed): nothing we send
     * matters any more */
    if (!nghttp2_session_get_stream_local_close(session, call->stream_id))
        rst = NGHTTP2_NO_ERROR;
    if (call->grpc_status < 0) {
        rpc_call_end(call, RPC_UNKNOWN, "missing grpc-status in the response trailers", rst, 1);
        return;
    }
    call->message = call->grpc_message;
    rpc_call_end(call, call->grpc_status, "", rst, 1);
}

static void headers_complete(rpc_call_t *call, nghttp2_session *session, const nghttp2_frame *frame)
{
    int end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (call->http_status >= 100 && call->http_status < 200 && !end) {
        call->resp_md.len = 0; /* informational: the real response follows */
        call->header_bytes = 0;
        return;
    }
    call->headers_done = 1;
    if (call->http_status != 200) {
        char msg[64];
        int status = call->grpc_status >= 0 ? call->grpc_status : rpc_status_from_http(call->http_status);
        snprintf(msg, sizeof(msg), "unexpected HTTP status code %d", call->http_status);
        if (call->grpc_status >= 0 && call->grpc_message.base)
            call->message = call->grpc_message;
        call->final_trailers = &call->resp_md;
        rpc_call_end(call, status, msg, end ? -1 : NGHTTP2_CANCEL, 0);
        return;
    }
    if (end) {
        end_of_stream(call, session, 1);
        return;
    }
    if (!call->ct_ok) {
        rpc_call_end(call, RPC_INTERNAL, "invalid content-type in the response", NGHTTP2_CANCEL, 0);
        return;
    }
    if (call->cbs.on_headers)
        call->cbs.on_headers(call, call->ud, &call->resp_md);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    cconn_t *conn = user_data;
    if (conn->h2.closing)
        return 0;
    if (frame->hd.stream_id == 0) {
        rpc_cconn_on_frame(conn, frame);
        return 0;
    }
    rpc_call_t *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!call)
        return 0;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (!call->headers_done) {
            headers_complete(call, session, frame);
        } else if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            end_of_stream(call, session, 0);
        } else {
            /* a second header block without END_STREAM is not gRPC */
            rpc_call_end(call, RPC_INTERNAL, "unexpected header block", NGHTTP2_PROTOCOL_ERROR, 0);
        }
        break;
    case NGHTTP2_DATA:
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            /* END_STREAM on DATA: no trailers, so no grpc-status */
            call->final_trailers = NULL;
            rpc_call_end(call, RPC_UNKNOWN, "missing grpc-status: stream ended without trailers", -1, 1);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                              size_t len, void *user_data)
{
    (void)flags;
    cconn_t *conn = user_data;
    /* The connection window is granted at once; the stream window only as messages are
     * delivered (rpc_recvq_feed), so a paused call stops its own stream only. */
    nghttp2_session_consume_connection(session, len);
    rpc_call_t *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (conn->h2.closing || !call || call->done || !call->headers_done) {
        nghttp2_session_consume_stream(session, stream_id, len);
        return 0;
    }
    rpc_deframe_result_t r = rpc_recvq_feed(&call->rq, session, stream_id, (const char *)data, len, deliver, call);
    if (r != RPC_DEFRAME_OK && !call->done)
        fail_stream(call, r);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
    (void)user_data;
    rpc_call_t *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!call || call->done)
        return 0;
    char msg[96];
    if (error_code == NGHTTP2_REFUSED_STREAM)
        snprintf(msg, sizeof(msg), "stream refused by the server (GOAWAY or REFUSED_STREAM)");
    else
        snprintf(msg, sizeof(msg), "stream reset by the server: %s", nghttp2_http2_strerror(error_code));
    call->stream_id = -call->stream_id; /* closed: nothing more to send */
    rpc_call_end(call, rpc_status_from_h2_error(error_code), msg, -1, 0);
    return 0;
}

nghttp2_session_callbacks *rpc_client_callbacks(void)
{
    nghttp2_session_callbacks *cbs = NULL;
    if (nghttp2_session_callbacks_new(&cbs) == 0) {
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    }
    return cbs;
}

/* ---- public API -------------------------------------------------------------------------- */

static int copy_md(rpc_call_t *call, const http_headers_t *md)
{
    if (!md)
        return 0;
    for (size_t i = 0; i < md->len; i++)
        if (!rpc_header_reserved(md->items[i].name) &&
            http_headers_add_copy(&call->md, call->pool, md->items[i].name, md->items[i].value) != 0)
            return -1;
    return 0;
}

rpc_call_t *rpc_call_start(rpc_client_t *c, const char *address, const char *path, const http_headers_t *metadata,
                           uint64_t deadline_ms, const rpc_call_cbs_t *cbs, void *ud)
{
    if (c->closing || !cbs || !cbs->on_close)
        return NULL;
    base_pool_t *pool = base_pool_create(4096);
    if (!pool)
        return NULL;
    rpc_call_t *call = base_pool_calloc(pool, sizeof(*call));
    if (call) {
        call->pool = pool;
        call->path = base_pool_strndup(pool, path, strlen(path));
    }
    if (!call || !call->path || copy_md(call, metadata) != 0) {
        base_pool_destroy(pool);
        return NULL;
    }
    call->client = c;
    call->cbs = *cbs;
    call->ud = ud;
    call->grpc_status = -1;
    rpc_deframer_init(&call->rq.df, c->opts.max_message_size);
    call->cnext = c->calls;
    if (c->calls)
        c->calls->cprev = call;
    c->calls = call;
    c->ncalls++;
    if (deadline_ms) {
        call->deadline_at = uv_now(c->loop) + deadline_ms;
        uv_timer_init(c->loop, &call->timer);
        call->timer.data = call;
        call->timer_on = 1;
        uv_timer_start(&call->timer, on_deadline, deadline_ms, 0);
    }
    int fresh;
    cconn_t *conn = rpc_client_pick(c, address, &fresh);
    if (!conn) {
        char msg[160];
        snprintf(msg, sizeof(msg), "connection error: invalid address \"%.100s\"", address);
        rpc_call_end(call, RPC_UNAVAILABLE, msg, -1, 0);
        return call;
    }
    call->conn = conn;
    call->next = conn->calls;
    if (conn->calls)
        conn->calls->prev = call;
    conn->calls = call;
    conn->ncalls++;
    rpc_h2conn_set_active(&conn->h2, conn->ncalls);
    if (fresh)
        rpc_client_connect(conn); /* may fail the connection, and with it this call, for later */
    else if (conn->state == CC_READY)
        rpc_call_submit(call);
    return call;
}

int rpc_call_send(rpc_call_t *call, const void *msg, size_t len)
{
    if (call->done || call->sq.eof)
        return -1;
    if (len > call->client->opts.max_message_size) {
        const char *m = base_pool_printf(call->pool, "sent message larger than max (%zu vs. %zu)", len,
                                         call->client->opts.max_message_size);
        rpc_call_end(call, RPC_RESOURCE_EXHAUSTED, m ? m : "sent message larger than max", NGHTTP2_CANCEL, 0);
        return -1;
    }
    if (rpc_sendq_push(&call->sq, msg, len) != 0) {
        rpc_call_end(call, RPC_RESOURCE_EXHAUSTED, "out of memory", NGHTTP2_CANCEL, 0);
        return -1;
    }
    resume(call);
    return 0;
}

void rpc_call_close_send(rpc_call_t *call)
{
    if (call->done || call->sq.eof)
        return;
    call->sq.eof = 1;
    resume(call);
}

void rpc_call_cancel(rpc_call_t *call)
{
    if (call->done) {
        call->drop_held = 1; /* on_close is already owed: just stop the held messages */
        return;
    }
    rpc_call_end(call, RPC_CANCELLED, "Cancelled", NGHTTP2_CANCEL, 0);
}

size_t rpc_call_pending(const rpc_call_t *call)
{
    return rpc_sendq_pending(&call->sq);
}

void rpc_call_pause_recv(rpc_call_t *call)
{
    call->rq.paused = 1;
}

void rpc_call_resume_recv(rpc_call_t *call)
{
    if (!call->rq.paused)
        return;
    call->rq.paused = 0;
    if (rpc_recvq_has_held(&call->rq) || call->done)
        post(call, CALL_EV_RECV);
}

base_pool_t *rpc_call_pool(rpc_call_t *call)
{
    return call->pool;
}
