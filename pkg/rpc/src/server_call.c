/*
 * server_call.c - one incoming call: request validation and dispatch, messages in (with
 * pause/resume), headers, messages and trailers out, deadline, cancellation.
 *
 * Two owners share a call: the stream (until nghttp2 closes it or the connection goes) and
 * the handler (until it finishes the call or on_cancel returned). The call is freed on a
 * later turn once both let go.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/pool.h"

/* ---- lifetime ---------------------------------------------------------------------------- */

static void call_timer_closed(uv_handle_t *h)
{
    rpc_server_call_t *call = h->data;
    rpc_server_t *s = call->server;
    base_pool_destroy(call->pool);
    s->ncalls--;
    rpc_server_check_idle(s);
}

static void call_free(rpc_server_call_t *call)
{
    rpc_server_t *s = call->server;
    loop_later_cancel(&call->later);
    rpc_sendq_free(&call->sq);
    rpc_recvq_free(&call->rq);
    if (call->timer_on) {
        uv_close((uv_handle_t *)&call->timer, call_timer_closed);
        return;
    }
    base_pool_destroy(call->pool);
    s->ncalls--;
    rpc_server_check_idle(s);
}

static void call_later(loop_later_item_t *it);

static void post(rpc_server_call_t *call, unsigned ev)
{
    call->events |= ev;
    loop_later_post(&call->server->later, &call->later, call_later);
}

/* Both owners let go: free on a later turn. */
static void maybe_release(rpc_server_call_t *call)
{
    if (call->user_done && !call->conn && !call->freed) {
        call->freed = 1;
        post(call, SCALL_EV_FREE);
    }
}

/* The handler hears that the call died (it must not touch the call after). */
static void cancel_user(rpc_server_call_t *call)
{
    if (call->user_done)
        return;
    call->user_done = 1;
    if (call->timer_on)
        uv_timer_stop(&call->timer);
    if (call->dispatched && call->method->on_cancel)
        call->method->on_cancel(call, call->method->ctx);
    maybe_release(call);
}

void rpc_scall_detach(rpc_server_call_t *call)
{
    sconn_t *conn = call->conn;
    if (!conn)
        return;
    if (conn->h2.session)
        nghttp2_session_set_stream_user_data(conn->h2.session, call->stream_id, NULL);
    if (call->prev)
        call->prev->next = call->next;
    else
        conn->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->conn = NULL;
    conn->ncalls--;
    cancel_user(call);
    maybe_release(call);
    rpc_sconn_calls_changed(conn);
}

rpc_server_call_t *rpc_scall_new(sconn_t *conn, int32_t stream_id)
{
    base_pool_t *pool = base_pool_create(4096);
    if (!pool)
        return NULL;
    rpc_server_call_t *call = base_pool_calloc(pool, sizeof(*call));
    if (!call || !(call->peer = base_pool_strndup(pool, conn->peer, strlen(conn->peer)))) {
        base_pool_destroy(pool);
        return NULL;
    }
    rpc_server_t *s = conn->server;
    call->pool = pool;
    call->server = s;
    call->conn = conn;
    call->stream_id = stream_id;
    call->timeout_ms = -1;
    rpc_deframer_init(&call->rq.df, s->opts.max_message_size);
    call->next = conn->calls;
    if (conn->calls)
        conn->calls->prev = call;
    conn->calls = call;
    conn->ncalls++;
    s->ncalls++;
    rpc_h2conn_set_active(&conn->h2, conn->ncalls);
    return call;
}

/* ---- answering --------------------------------------------------------------------------- */

/* grpc-status, grpc-message (percent-encoded) and the handler's trailing metadata, into the
 * call's pool; `lead` slots left free at the front for :status and content-type. */
static nghttp2_nv *build_trailers(rpc_server_call_t *call, size_t lead, int status, const char *message,
                                  const http_headers_t *md, size_t *count)
{
    size_t cap = lead + 2 + (md ? md->len : 0);
    nghttp2_nv *nva = base_pool_alloc(call->pool, cap * sizeof(*nva));
    /* gRPC codes are 0..16; anything else still goes out as its decimal value */
    static const char *const codes[] = { "0", "1", "2", "3", "4", "5", "6", "7", "8",
                                         "9", "10", "11", "12", "13", "14", "15", "16" };
    const char *st = status >= 0 && status < (int)BASE_ARRAY_SIZE(codes) ? codes[status]
                                                                            : base_pool_printf(call->pool, "%d", status);
    if (!nva || !st)
        return NULL;
    size_t n = lead;
    nva[n++] = rpc_nv("grpc-status", 11, st, strlen(st));
    if (message && *message) {
        base_buf_t enc = BASE_BUF_INIT;
        if (rpc_percent_encode(&enc, base_slice_cstr(message)) == 0) {
            base_slice_t v = base_pool_slice_dup(call->pool, base_buf_slice(&enc));
            if (v.base)
                nva[n++] = rpc_nv("grpc-message", 12, v.base, v.len);
        }
        base_buf_free(&enc);
    }
    *count = rpc_nva_add_md(nva, n, cap, call->pool, md);
    return nva;
}

/* Sends the whole answer in one HEADERS frame with END_STREAM (Trailers-Only). */
static int answer_trailers_only(rpc_server_call_t *call, const char *http_status, int status, const char *message,
                                const http_headers_t *md)
{
    size_t n;
    nghttp2_nv *nva = build_trailers(call, 2, status, message, md, &n);
    if (!nva) {
        call->finished = 1;
        nghttp2_submit_rst_stream(call->conn->h2.session, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_INTERNAL_ERROR);
        rpc_h2conn_want_flush(&call->conn->h2);
        return -1;
    }
    nva[0] = rpc_nv(":status", 7, http_status, 3);
    nva[1] = RPC_NV_LIT("content-type", "application/grpc");
    call->headers_sent = 1;
    call->finished = 1;
    if (nghttp2_submit_response(call->conn->h2.session, call->stream_id, nva, n, NULL) != 0) {
        nghttp2_submit_rst_stream(call->conn->h2.session, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_INTERNAL_ERROR);
        rpc_h2conn_want_flush(&call->conn->h2);
        return -1;
    }
    rpc_h2conn_want_flush(&call->conn->h2);
    return 0;
}

static int send_headers(rpc_server_call_t *call, const http_headers_t *md)
{
    size_t cap = 2 + (md ? md->len : 0);
    nghttp2_nv *nva = base_pool_alloc(call->pool, cap * sizeof(*nva));
    if (!nva)
        return -1;
    nva[0] = RPC_NV_LIT(":status", "200");
    nva[1] = RPC_NV_LIT("content-type", "application/grpc");
    size_t n = rpc_nva_add_md(nva, 2, cap, call->pool, md);
    nghttp2_data_provider prd = { .source.ptr = NULL, .read_callback = rpc_scall_read_body };
    if (nghttp2_submit_response(call->conn->h2.session, call->stream_id, nva, n, &prd) != 0)
        return -1;
    call->headers_sent = 1;
    rpc_h2conn_want_flush(&call->conn->h2);
    return 0;
}

static void resume(rpc_server_call_t *call)
{
    if (call->sq.deferred) {
        call->sq.deferred = 0;
        nghttp2_session_resume_data(call->conn->h2.session, call->stream_id);
    }
    rpc_h2conn_want_flush(&call->conn->h2);
}

/* Our answer (status + message, no metadata), whatever was sent before. */
static int answer(rpc_server_call_t *call, int status, const char *message, const http_headers_t *md)
{
    if (call->finished || !call->conn)
        return -1;
    if (!call->headers_sent && rpc_sendq_pending(&call->sq) == 0)
        return answer_trailers_only(call, "200", status, message, md);
    call->trailers = build_trailers(call, 0, status, message, md, &call->ntrailers);
    call->finished = 1;
    if (!call->trailers) {
        nghttp2_submit_rst_stream(call->conn->h2.session, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_INTERNAL_ERROR);
        rpc_h2conn_want_flush(&call->conn->h2);
        return -1;
    }
    call->sq.eof = 1;
    resume(call);
    return 0;
}

/* The server ends the call itself (deadline, message too large, bad stream); the handler is
 * told through on_cancel, now or (from inside one of its own calls) on a later turn. */
static void abort_call(rpc_server_call_t *call, int status, const char *message, int later)
{
    answer(call, status, message, NULL); /* on failure it reset the stream */
    call->finished = 1;
    if (later && !call->user_done)
        post(call, SCALL_EV_CANCEL);
    else
        cancel_user(call);
}

ssize_t rpc_scall_read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    (void)source;
    (void)user_data;
    rpc_server_call_t *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!call)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    int writable;
    size_t n = rpc_sendq_read(&call->sq, buf, length, &writable);
    if (writable && !call->user_done)
        post(call, SCALL_EV_WRITABLE);
    if (rpc_sendq_pending(&call->sq) == 0 && call->sq.eof) {
        /* the trailers carry END_STREAM */
        *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (nghttp2_submit_trailer(session, stream_id, call->trailers, call->ntrailers) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return (ssize_t)n;
    }
    if (n == 0) {
        call->sq.deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* ---- request ----------------------------------------------------------------------------- */

int rpc_scall_on_header(rpc_server_call_t *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen)
{
    call->header_bytes += namelen + valuelen + 32;
    if (call->header_bytes > call->server->opts.max_header_list_size) {
        call->too_large = 1;
        return 0;
    }
    base_slice_t n = base_slice((const char *)name, namelen), v = base_slice((const char *)value, valuelen);
    if (n.len && n.base[0] == ':') {
        if (base_slice_eq(n, BASE_SLICE_LIT(":method"))) {
            call->method_post = base_slice_eq(v, BASE_SLICE_LIT("POST"));
        } else if (base_slice_eq(n, BASE_SLICE_LIT(":path"))) {
            rpc_server_t *s = call->server;
            for (size_t i = 0; i < s->method_count; i++)
                if (base_slice_eq(v, base_slice_cstr(s->methods[i].path)))
                    call->method = &s->methods[i];
        }
        return 0;
    }
    if (base_slice_eq(n, BASE_SLICE_LIT("content-type"))) {
        call->ct_seen = 1;
        call->ct_ok = base_slice_starts_with(v, "application/grpc") &&
                      (v.len == 16 || v.base[16] == '+' || v.base[16] == ';');
        return 0;
    }
    if (base_slice_eq(n, BASE_SLICE_LIT("grpc-timeout"))) {
        /* like gRPC C core, a malformed timeout is ignored rather than failing the call */
        call->timeout_ms = rpc_timeout_parse(v);
        return 0;
    }
    if (rpc_md_add_received(&call->md, call->pool, name, namelen, value, valuelen) != 0)
        call->too_large = 1;
    return 0;
}

static void on_deadline(uv_timer_t *t)
{
    rpc_server_call_t *call = t->data;
    if (call->user_done)
        return;
    abort_call(call, RPC_DEADLINE_EXCEEDED, "Deadline Exceeded", 0);
}

static void reject(rpc_server_call_t *call, const char *http_status, int status, const char *message)
{
    call->user_done = 1; /* never dispatched: no handler owns it */
    answer_trailers_only(call, http_status, status, message, NULL);
}

void rpc_scall_on_request(rpc_server_call_t *call, int end_stream)
{
    call->headers_done = 1;
    if (call->too_large) {
        reject(call, "200", RPC_RESOURCE_EXHAUSTED, "request header list too large");
        return;
    }
    if (!call->method_post) {
        reject(call, "405", RPC_INTERNAL, "gRPC requires the POST method");
        return;
    }
    if (!call->ct_ok) {
        reject(call, "415", RPC_INTERNAL, call->ct_seen ? "invalid gRPC request content-type" : "missing content-type");
        return;
    }
    if (!call->method) {
        reject(call, "200", RPC_UNIMPLEMENTED, "unknown method");
        return;
    }
    if (call->timeout_ms >= 0) {
        rpc_server_t *s = call->server;
        uv_timer_init(s->loop, &call->timer);
        call->timer.data = call;
        call->timer_on = 1;
        uv_timer_start(&call->timer, on_deadline, (uint64_t)call->timeout_ms, 0);
    }
    call->dispatched = 1;
    if (call->method->on_start)
        call->method->on_start(call, call->method->ctx, &call->md);
    if (end_stream)
        rpc_scall_on_remote_end(call);
}

static int deliver(void *arg, base_slice_t msg)
{
    rpc_server_call_t *call = arg;
    if (call->user_done || call->finished)
        return 1;
    if (call->method->on_message)
        call->method->on_message(call, call->method->ctx, msg);
    return call->rq.paused || call->user_done || call->finished;
}

static void deframe_failed(rpc_server_call_t *call, rpc_deframe_result_t r)
{
    const char *msg;
    int status = rpc_deframe_status(r, &call->rq.df, call->pool, &msg);
    abort_call(call, status, msg, 0);
}

/* After the last message: on_half_close, unless a message was cut short. */
static void half_close(rpc_server_call_t *call)
{
    if (call->half_closed || call->user_done || call->finished || rpc_recvq_has_held(&call->rq) || call->rq.paused)
        return;
    call->half_closed = 1;
    if (rpc_deframer_partial(&call->rq.df)) {
        abort_call(call, RPC_INTERNAL, "request ended in the middle of a message", 0);
        return;
    }
    if (call->method->on_half_close)
        call->method->on_half_close(call, call->method->ctx);
}

void rpc_scall_on_data(rpc_server_call_t *call, const uint8_t *data, size_t len)
{
    sconn_t *conn = call->conn;
    if (!call->dispatched || call->user_done || call->finished) {
        nghttp2_session_consume_stream(conn->h2.session, call->stream_id, len);
        return;
    }
    rpc_deframe_result_t r =
        rpc_recvq_feed(&call->rq, conn->h2.session, call->stream_id, (const char *)data, len, deliver, call);
    if (r != RPC_DEFRAME_OK && !call->finished && !call->user_done)
        deframe_failed(call, r);
}

void rpc_scall_on_remote_end(rpc_server_call_t *call)
{
    call->rq.ended = 1;
    if (call->dispatched)
        half_close(call);
}

static void call_later(loop_later_item_t *it)
{
    rpc_server_call_t *call = BASE_CONTAINER_OF(it, rpc_server_call_t, later);
    unsigned ev = call->events;
    call->events = 0;
    if ((ev & SCALL_EV_RECV) && !call->user_done && !call->finished) {
        nghttp2_session *s = call->conn ? call->conn->h2.session : NULL;
        rpc_deframe_result_t r = rpc_recvq_drain(&call->rq, s, call->stream_id, deliver, call);
        if (r != RPC_DEFRAME_OK && !call->finished && !call->user_done)
            deframe_failed(call, r);
        else if (call->rq.ended)
            half_close(call);
        if (call->conn)
            rpc_h2conn_want_flush(&call->conn->h2);
    }
    if ((ev & SCALL_EV_WRITABLE) && !call->user_done && call->method->on_writable)
        call->method->on_writable(call, call->method->ctx);
    if (ev & SCALL_EV_CANCEL)
        cancel_user(call); /* may post EV_FREE: it runs in this same pass */
    if (ev & SCALL_EV_FREE)
        call_free(call);
}

/* ---- handler API ------------------------------------------------------------------------- */

int rpc_server_call_send_headers(rpc_server_call_t *call, const http_headers_t *md)
{
    if (call->user_done || call->finished || call->headers_sent || !call->conn)
        return -1;
    return send_headers(call, md);
}

int rpc_server_call_send(rpc_server_call_t *call, const void *msg, size_t len)
{
    if (call->user_done || call->finished || !call->conn)
        return -1;
    if (len > call->server->opts.max_message_size) {
        const char *m = base_pool_printf(call->pool, "sent message larger than max (%zu vs. %zu)", len,
                                         call->server->opts.max_message_size);
        abort_call(call, RPC_RESOURCE_EXHAUSTED, m ? m : "sent message larger than max", 1);
        return -1;
    }
    if (!call->headers_sent && send_headers(call, NULL) != 0)
        return -1;
    if (rpc_sendq_push(&call->sq, msg, len) != 0) {
        abort_call(call, RPC_RESOURCE_EXHAUSTED, "out of memory", 1);
        return -1;
    }
    resume(call);
    return 0;
}

int rpc_server_call_finish(rpc_server_call_t *call, int status, const char *message, const http_headers_t *trailers)
{
    if (call->user_done)
        return -1;
    call->user_done = 1;
    if (call->timer_on)
        uv_timer_stop(&call->timer);
    int r = call->finished || !call->conn ? -1 : answer(call, status, message, trailers);
    maybe_release(call);
    return r;
}

size_t rpc_server_call_pending(const rpc_server_call_t *call)
{
    return rpc_sendq_pending(&call->sq);
}

void rpc_server_call_pause_recv(rpc_server_call_t *call)
{
    call->rq.paused = 1;
}

void rpc_server_call_resume_recv(rpc_server_call_t *call)
{
    if (!call->rq.paused)
        return;
    call->rq.paused = 0;
    if (rpc_recvq_has_held(&call->rq) || call->rq.ended)
        post(call, SCALL_EV_RECV);
}

base_pool_t *rpc_server_call_pool(rpc_server_call_t *call)
{
    return call->pool;
}

void rpc_server_call_set_data(rpc_server_call_t *call, void *data)
{
    call->data = data;
}

void *rpc_server_call_data(const rpc_server_call_t *call)
{
    return call->data;
}

const char *rpc_server_call_peer(const rpc_server_call_t *call)
{
    return call->peer;
}
