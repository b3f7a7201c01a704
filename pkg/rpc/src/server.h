/*
 * server.h - the server's private types: the server, its listeners and connections (one
 * nghttp2 server session each) and its calls. server.c owns listeners, connections and the
 * session callbacks; server_call.c owns calls and the handler-facing API.
 */
#ifndef RPC_SERVER_H
#define RPC_SERVER_H

#include "internal.h"

typedef struct listener {
    uv_tcp_t tcp;
    rpc_server_t *server;
    struct listener *next;
    unsigned closing : 1;
} listener_t;

typedef struct sconn {
    rpc_h2conn_t h2; /* first: the transport hands back this pointer */
    rpc_server_t *server;
    char peer[64];
    rpc_server_call_t *calls; /* calls still attached to a stream */
    unsigned ncalls;
    unsigned drain_state;     /* 0, 1: shutdown notice + PING sent, 2: PING acknowledged */
    unsigned goaway_final : 1;
    unsigned dead : 1;
    struct sconn *prev, *next;
} sconn_t;

struct rpc_server {
    uv_loop_t *loop;
    rpc_server_options_t opts;
    rpc_method_t *methods;
    size_t method_count;
    loop_later_t later;
    int later_handles;
    listener_t *listeners;
    size_t listener_handles;
    sconn_t *conns;
    size_t nconns;
    size_t ncalls; /* not yet freed */
    unsigned draining : 1;
    unsigned freeing : 1;
    unsigned later_closing : 1;
    void (*idle_cb)(void *arg);
    void *idle_arg;
    char rbuf[RPC_READ_BUFFER];
};

enum { SCALL_EV_RECV = 1, SCALL_EV_WRITABLE = 2, SCALL_EV_CANCEL = 4, SCALL_EV_FREE = 8 };

struct rpc_server_call {
    base_pool_t *pool;
    rpc_server_t *server;
    sconn_t *conn;                        /* NULL once the stream is gone */
    struct rpc_server_call *prev, *next;  /* in conn->calls */
    const rpc_method_t *method;
    int32_t stream_id;
    http_headers_t md;
    const char *peer;
    size_t header_bytes;
    int64_t timeout_ms;                   /* -1: none */
    rpc_sendq_t sq;
    rpc_recvq_t rq;
    uv_timer_t timer;
    void *data;
    nghttp2_nv *trailers;                 /* built by finish, sent after the last message */
    size_t ntrailers;
    loop_later_item_t later;
    unsigned events;
    unsigned timer_on : 1;
    unsigned headers_done : 1; /* request header block complete */
    unsigned method_post : 1;
    unsigned ct_seen : 1;
    unsigned ct_ok : 1;
    unsigned too_large : 1;
    unsigned dispatched : 1;   /* on_start ran */
    unsigned headers_sent : 1;
    unsigned finished : 1;     /* our answer is queued: nothing more to send */
    unsigned user_done : 1;    /* finish or on_cancel: the handler is done with it */
    unsigned half_closed : 1;  /* on_half_close delivered */
    unsigned freed : 1;        /* EV_FREE posted */
};

/* server_call.c, for server.c */
rpc_server_call_t *rpc_scall_new(sconn_t *conn, int32_t stream_id);
int rpc_scall_on_header(rpc_server_call_t *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen);
void rpc_scall_on_request(rpc_server_call_t *call, int end_stream);
void rpc_scall_on_data(rpc_server_call_t *call, const uint8_t *data, size_t len);
void rpc_scall_on_remote_end(rpc_server_call_t *call);
/* The stream closed or the connection is gone: on_cancel if the handler was not done. */
void rpc_scall_detach(rpc_server_call_t *call);
ssize_t rpc_scall_read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *data_flags, nghttp2_data_source *source, void *user_data);

/* server.c, for server_call.c */
void rpc_sconn_calls_changed(sconn_t *conn);
void rpc_server_check_idle(rpc_server_t *s);

#endif
