/*
 * server.c - the gRPC server's listeners and connections: accept (h2c with prior knowledge,
 * as daprd between sidecars without mTLS), one nghttp2 server session per connection, drain
 * with GOAWAY, keepalive and idle timeout.
 *
 * Protections against a hostile peer come from nghttp2 options (SETTINGS flood, outbound ACK
 * flood, rapid reset, CONTINUATION flood), from the advertised limits (concurrent streams,
 * header list size, windows) that nghttp2 or server_call.c enforce, and from the message size
 * limit. Drain follows RFC 9113 §6.8: a shutdown notice (GOAWAY with the highest stream id)
 * and a PING; once the PING is answered, every stream the client started has been seen, so
 * the final GOAWAY names the last one, after the open streams finished.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/pool.h"

#define BACKLOG 511
#define DEFAULT_MAX_MESSAGE (4u * 1024 * 1024)
#define DEFAULT_MAX_STREAMS 100
#define DEFAULT_KEEPALIVE_TIME 10000
#define DEFAULT_KEEPALIVE_TIMEOUT 5000
#define DEFAULT_IDLE_TIMEOUT (3 * 60 * 1000)
#define DEFAULT_MAX_HEADER_LIST (64 * 1024)

static const uint8_t drain_opaque[8] = { 'r', 'm', 'r', 'a', '-', 'd', 'r', 0 };

static void maybe_free(rpc_server_t *s);

/* ---- connections ------------------------------------------------------------------------- */

static void sconn_fail(sconn_t *conn, const char *why)
{
    if (conn->dead)
        return;
    conn->dead = 1;
    LOG_DEBUG(RPC_LOG_SCOPE, "grpc connection from %s closed: %s", conn->peer, why);
    while (conn->calls)
        rpc_scall_detach(conn->calls);
    rpc_h2conn_close(&conn->h2);
}

static void on_h2_fail(rpc_h2conn_t *h2, const char *why)
{
    sconn_fail((sconn_t *)h2, why);
}

static void on_h2_idle(rpc_h2conn_t *h2)
{
    sconn_t *conn = (sconn_t *)h2;
    if (conn->ncalls || !conn->h2.session || conn->goaway_final)
        return;
    conn->goaway_final = 1;
    nghttp2_submit_goaway(conn->h2.session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(conn->h2.session), NGHTTP2_NO_ERROR, NULL, 0);
    rpc_h2conn_finish(&conn->h2);
}

static void on_h2_closed(rpc_h2conn_t *h2)
{
    sconn_t *conn = (sconn_t *)h2;
    rpc_server_t *s = conn->server;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        s->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    s->nconns--;
    base_free(conn);
    rpc_server_check_idle(s);
}

static const rpc_h2conn_ops_t sconn_ops = { on_h2_fail, on_h2_idle, on_h2_closed };

/* Final GOAWAY once a drain's PING came back and no stream is left. */
static void check_drain(sconn_t *conn)
{
    if (conn->dead || conn->drain_state != 2 || conn->ncalls || conn->goaway_final || !conn->h2.session)
        return;
    conn->goaway_final = 1;
    nghttp2_submit_goaway(conn->h2.session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(conn->h2.session), NGHTTP2_NO_ERROR, NULL, 0);
    rpc_h2conn_finish(&conn->h2);
}

void rpc_sconn_calls_changed(sconn_t *conn)
{
    if (conn->dead)
        return;
    rpc_h2conn_set_active(&conn->h2, conn->ncalls);
    check_drain(conn);
    rpc_h2conn_want_flush(&conn->h2);
}

static void sconn_drain(sconn_t *conn)
{
    if (conn->dead || conn->drain_state || conn->goaway_final || !conn->h2.session)
        return;
    conn->drain_state = 1;
    if (nghttp2_submit_shutdown_notice(conn->h2.session) != 0 ||
        nghttp2_submit_ping(conn->h2.session, NGHTTP2_FLAG_NONE, drain_opaque) != 0)
        conn->drain_state = 2;
    check_drain(conn);
    rpc_h2conn_want_flush(&conn->h2);
}

/* ---- session callbacks ------------------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    sconn_t *conn = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST || conn->dead)
        return 0;
    rpc_server_call_t *call = rpc_scall_new(conn, frame->hd.stream_id);
    if (!call)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* out of memory: reset this stream */
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    rpc_server_call_t *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!call || call->headers_done)
        return 0; /* trailers from a client carry nothing for us */
    return rpc_scall_on_header(call, name, namelen, value, valuelen);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    sconn_t *conn = user_data;
    if (conn->dead)
        return 0;
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        if (memcmp(frame->ping.opaque_data, drain_opaque, 8) == 0) {
            if (conn->drain_state == 1)
                conn->drain_state = 2;
            check_drain(conn);
        } else {
            rpc_h2conn_ping_acked(&conn->h2);
        }
        return 0;
    }
    if (frame->hd.stream_id == 0)
        return 0;
    rpc_server_call_t *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!call)
        return 0;
    int end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && !call->headers_done)
        rpc_scall_on_request(call, end);
    else if (end && (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS))
        rpc_scall_on_remote_end(call);
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                              size_t len, void *user_data)
{
    (void)flags;
    (void)user_data;
    nghttp2_session_consume_connection(session, len);
    rpc_server_call_t *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!call) {
        nghttp2_session_consume_stream(session, stream_id, len);
        return 0;
    }
    rpc_scall_on_data(call, data, len);
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)user_data;
    /* Our END_STREAM went out while the client's side is still open: reset it (NO_ERROR), as
     * gRPC servers do, so the stream does not linger until the client half-closes. */
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
    (void)error_code;
    (void)user_data;
    rpc_server_call_t *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (call)
        rpc_scall_detach(call);
    return 0;
}

/* A fresh set per session (nghttp2 copies it), so no state is shared between threads. The
 * caller deletes it. */
static nghttp2_session_callbacks *server_callbacks(void)
{
    nghttp2_session_callbacks *cbs = NULL;
    if (nghttp2_session_callbacks_new(&cbs) == 0) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    }
    return cbs;
}

static int session_start(sconn_t *conn)
{
    rpc_server_t *s = conn->server;
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return -1;
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33); /* rapid reset (CVE-2023-44487) */
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_max_send_header_block_length(opt, 256 * 1024);
    nghttp2_session_callbacks *cbs = server_callbacks();
    int r = cbs ? nghttp2_session_server_new2(&conn->h2.session, cbs, conn, opt) : -1;
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (r != 0)
        return -1;
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->opts.max_concurrent_streams },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, RPC_STREAM_WINDOW },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)s->opts.max_header_list_size },
    };
    if (nghttp2_submit_settings(conn->h2.session, NGHTTP2_FLAG_NONE, iv, BASE_ARRAY_SIZE(iv)) != 0 ||
        nghttp2_session_set_local_window_size(conn->h2.session, NGHTTP2_FLAG_NONE, 0, RPC_CONN_WINDOW) != 0)
        return -1;
    conn->h2.keepalive_time_ms = s->opts.keepalive_time_ms;
    conn->h2.keepalive_timeout_ms = s->opts.keepalive_timeout_ms;
    conn->h2.idle_timeout_ms = s->opts.idle_conn_timeout_ms;
    conn->h2.keepalive_without_calls = 1;
    return 0;
}

/* ---- accepting --------------------------------------------------------------------------- */

static void peer_name(uv_tcp_t *tcp, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[64] = "";
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(out, cap, "unknown");
    } else if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
        snprintf(out, cap, "%s:%d", ip, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
}

static void on_connection(uv_stream_t *ls, int status)
{
    listener_t *l = ls->data;
    rpc_server_t *s = l->server;
    if (status < 0) {
        LOG_WARN(RPC_LOG_SCOPE, "grpc accept failed: %s", uv_strerror(status));
        return;
    }
    if (s->draining || s->freeing)
        return;
    sconn_t *conn = base_calloc(1, sizeof(*conn));
    if (!conn)
        return;
    conn->server = s;
    rpc_h2conn_init(&conn->h2, s->loop, &s->later, &sconn_ops, s->rbuf, 1);
    conn->next = s->conns;
    if (s->conns)
        s->conns->prev = conn;
    s->conns = conn;
    s->nconns++;
    if (uv_accept(ls, (uv_stream_t *)&conn->h2.tcp) != 0) {
        sconn_fail(conn, "accept failed");
        return;
    }
    peer_name(&conn->h2.tcp, conn->peer, sizeof(conn->peer));
    if (session_start(conn) != 0 || rpc_h2conn_start(&conn->h2) != 0) {
        sconn_fail(conn, "cannot start the HTTP/2 session");
        return;
    }
    rpc_h2conn_flush(&conn->h2); /* our SETTINGS */
}

/* ---- server ------------------------------------------------------------------------------ */

rpc_server_t *rpc_server_new(uv_loop_t *loop, const rpc_server_options_t *opts, const rpc_method_t *methods,
                             size_t method_count)
{
    rpc_server_t *s = base_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->methods = base_calloc(method_count ? method_count : 1, sizeof(*methods));
    if (!s->methods) {
        base_free(s);
        return NULL;
    }
    if (method_count)
        memcpy(s->methods, methods, method_count * sizeof(*methods));
    s->method_count = method_count;
    s->loop = loop;
    if (opts)
        s->opts = *opts;
    rpc_server_options_t *o = &s->opts;
    if (!o->max_message_size)
        o->max_message_size = DEFAULT_MAX_MESSAGE;
    if (!o->max_concurrent_streams)
        o->max_concurrent_streams = DEFAULT_MAX_STREAMS;
    if (!o->keepalive_time_ms)
        o->keepalive_time_ms = DEFAULT_KEEPALIVE_TIME;
    if (!o->keepalive_timeout_ms)
        o->keepalive_timeout_ms = DEFAULT_KEEPALIVE_TIMEOUT;
    if (!o->idle_conn_timeout_ms)
        o->idle_conn_timeout_ms = DEFAULT_IDLE_TIMEOUT;
    if (!o->max_header_list_size)
        o->max_header_list_size = DEFAULT_MAX_HEADER_LIST;
    loop_later_init(&s->later, loop, s);
    s->later_handles = LOOP_LATER_HANDLES;
    return s;
}

int rpc_server_listen_fd(rpc_server_t *s, int fd)
{
    if (s->draining || s->freeing) {
        close(fd);
        return UV_EINVAL;
    }
    listener_t *l = base_calloc(1, sizeof(*l));
    int r = l ? uv_tcp_init(s->loop, &l->tcp) : UV_ENOMEM;
    if (r != 0) {
        base_free(l);
        close(fd);
        return r;
    }
    l->server = s;
    l->tcp.data = l;
    l->next = s->listeners;
    s->listeners = l;
    s->listener_handles++;
    r = uv_tcp_open(&l->tcp, fd);
    if (r != 0)
        close(fd); /* not taken by the handle */
    else
        r = uv_listen((uv_stream_t *)&l->tcp, BACKLOG, on_connection);
    return r; /* on failure the listener is closed with the others at drain or free */
}

static void listener_closed(uv_handle_t *h)
{
    listener_t *l = h->data;
    rpc_server_t *s = l->server;
    listener_t **pp = &s->listeners;
    while (*pp != l)
        pp = &(*pp)->next;
    *pp = l->next;
    base_free(l);
    s->listener_handles--;
    rpc_server_check_idle(s);
}

static void close_listeners(rpc_server_t *s)
{
    for (listener_t *l = s->listeners; l; l = l->next) {
        if (!l->closing) {
            l->closing = 1;
            uv_close((uv_handle_t *)&l->tcp, listener_closed);
        }
    }
}

void rpc_server_check_idle(rpc_server_t *s)
{
    if (s->draining && s->nconns == 0 && s->listener_handles == 0 && s->ncalls == 0 && s->idle_cb) {
        void (*cb)(void *) = s->idle_cb;
        s->idle_cb = NULL;
        cb(s->idle_arg);
        return; /* the callback may have freed the server (rpc_server_free is deferred anyway) */
    }
    maybe_free(s);
}

void rpc_server_drain(rpc_server_t *s, void (*idle_cb)(void *arg), void *arg)
{
    s->idle_cb = idle_cb;
    s->idle_arg = arg;
    s->draining = 1;
    close_listeners(s);
    for (sconn_t *conn = s->conns; conn; conn = conn->next)
        sconn_drain(conn);
    rpc_server_check_idle(s);
}

void rpc_server_close_all(rpc_server_t *s)
{
    close_listeners(s);
    for (sconn_t *conn = s->conns; conn; conn = conn->next)
        sconn_fail(conn, "server closing");
    rpc_server_check_idle(s);
}

static void later_closed(uv_handle_t *h)
{
    rpc_server_t *s = h->data;
    if (--s->later_handles > 0)
        return;
    base_free(s->methods);
    base_free(s);
}

static void maybe_free(rpc_server_t *s)
{
    if (s->freeing && !s->later_closing && s->nconns == 0 && s->listener_handles == 0 && s->ncalls == 0) {
        s->later_closing = 1;
        loop_later_close(&s->later, later_closed);
    }
}

void rpc_server_free(rpc_server_t *s)
{
    if (!s || s->freeing)
        return;
    s->freeing = 1;
    s->idle_cb = NULL;
    rpc_server_close_all(s);
}
