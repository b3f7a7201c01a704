/*
 * client.h - the client's private types: the client, its connections (one nghttp2 session
 * each) and its calls. client.c owns connections and their sessions, call.c owns calls.
 */
#ifndef RPC_CLIENT_H
#define RPC_CLIENT_H

#include "internal.h"

#define RPC_CLIENT_MAX_HEADER_LIST (64 * 1024) /* response headers or trailers, RFC 9113 §6.5.2 sizing */

/* A call is submitted once the server's SETTINGS arrived (CC_READY): before, nghttp2 would
 * assume 100 concurrent streams and a server allowing fewer would refuse the rest. */
typedef enum cconn_state { CC_RESOLVING = 0, CC_CONNECTING, CC_PREFACE, CC_READY } cconn_state_t;

typedef struct cconn {
    rpc_h2conn_t h2; /* first: the transport hands back this pointer */
    rpc_client_t *client;
    char *address;   /* "host:port" as the caller gave it; also :authority */
    char *host;      /* without brackets */
    char port[8];
    uv_connect_t connect_req;
    uv_getaddrinfo_t gai_req;
    struct addrinfo *ai, *ai_cur;     /* resolved addresses, tried in turn */
    struct sockaddr_storage literal; /* the address when the host is an IP literal */
    rpc_call_t *calls;  /* attached calls, queued (stream_id 0) and submitted */
    unsigned ncalls;
    cconn_state_t state;
    unsigned usable : 1;      /* takes new calls: not failed, no GOAWAY, not finishing */
    unsigned gai_pending : 1;
    unsigned handles_closed : 1;
    unsigned dead : 1;
    struct cconn *prev, *next;
} cconn_t;

struct rpc_client {
    uv_loop_t *loop;
    rpc_client_options_t opts;
    loop_later_t later;
    cconn_t *conns;     /* every connection until freed */
    rpc_call_t *calls;  /* every call until freed */
    size_t nconns, ncalls;
    int later_handles;
    unsigned closing : 1;
    unsigned later_closing : 1;
    void (*done_cb)(void *arg);
    void *done_arg;
    char rbuf[RPC_READ_BUFFER];
};

/* Events a call owes its user, delivered from the later queue. */
enum { CALL_EV_RECV = 1, CALL_EV_WRITABLE = 2, CALL_EV_CLOSE = 4 };

struct rpc_call {
    base_pool_t *pool;
    rpc_client_t *client;
    cconn_t *conn;                  /* NULL once detached */
    struct rpc_call *prev, *next;   /* in conn->calls */
    struct rpc_call *cprev, *cnext; /* in client->calls */
    rpc_call_cbs_t cbs;
    void *ud;
    const char *path;
    http_headers_t md;        /* request metadata (copied) */
    uint64_t deadline_at;     /* uv_now() ms; 0: none */
    uv_timer_t timer;
    int32_t stream_id;        /* 0 until submitted */
    rpc_sendq_t sq;
    rpc_recvq_t rq;
    /* response */
    http_headers_t resp_md;   /* initial metadata (and trailing, in a Trailers-Only response) */
    http_headers_t trailers;
    int http_status;
    int grpc_status;          /* -1 until received */
    base_slice_t grpc_message;
    size_t header_bytes;
    /* result */
    int status;
    base_slice_t message;
    const http_headers_t *final_trailers;
    loop_later_item_t later;
    unsigned events;
    unsigned timer_on : 1;
    unsigned headers_done : 1;
    unsigned ct_ok : 1;
    unsigned done : 1;        /* final status decided; on_close pending */
    unsigned drop_held : 1;   /* do not deliver held messages before on_close */
    unsigned closed : 1;      /* on_close returned */
};

/* call.c, for client.c */
void rpc_call_submit(rpc_call_t *call);
/* Final status: detaches the call from its stream (RST_STREAM rst_code unless < 0) and its
 * connection, schedules on_close. graceful: messages held by a paused receiver are delivered
 * first. */
void rpc_call_end(rpc_call_t *call, int status, const char *msg, int rst_code, int graceful);
/* A fresh callback set (nghttp2 copies it into the session): the caller deletes it. */
nghttp2_session_callbacks *rpc_client_callbacks(void);

/* client.c, for call.c */
void rpc_cconn_call_detached(cconn_t *conn);
/* Connection-level frames (SETTINGS, PING, GOAWAY) from on_frame_recv. */
void rpc_cconn_on_frame(cconn_t *conn, const nghttp2_frame *frame);
/* Picks a connection to `address` with room for one more call, or opens one. Returns NULL
 * for an address that cannot be parsed or when out of memory. `*fresh`: rpc_client_connect()
 * it once the call is attached. */
cconn_t *rpc_client_pick(rpc_client_t *c, const char *address, int *fresh);
void rpc_client_connect(cconn_t *conn);
void rpc_client_call_freed(rpc_client_t *c);

#endif
