/*
 * rpc.h - gRPC over HTTP/2 on a libuv loop, with nghttp2 (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
 *
 * The data path of Remora speaks gRPC through this module, never through gRPC C core: every
 * call runs on the worker loop that started it, with no thread hand-off (DESIGN.md explains
 * the measurement behind this). gRPC C core is the reference peer our tests interoperate with.
 *
 * Messages are opaque bytes here: callers encode and decode protobuf themselves (pb module).
 * This layer does the 5-byte length-prefixed framing, the `:path`, `content-type:
 * application/grpc`, `te: trailers`, `grpc-timeout` headers, `grpc-status` / `grpc-message`
 * trailers (grpc-message percent-encoded), deadlines, max message size, keepalive PING and
 * GOAWAY. Compression is not offered (`grpc-encoding` identity; a compressed message from a
 * peer is answered with UNIMPLEMENTED / INTERNAL as the protocol says).
 *
 * Threads: an rpc_client_t or rpc_server_t belongs to one loop; every function and callback
 * runs on that loop's thread. Callbacks never fire inside the call that started them (libuv's
 * rule), except where noted.
 *
 * Memory: each call has its own pool (rpc_call_pool / rpc_server_call_pool) that lives until
 * its final callback returns. Metadata passed to callbacks lives in that pool. Bytes given to a
 * send function are copied (the caller may reuse its buffer at once); a message slice given to
 * on_message is valid only during the callback.
 */
#ifndef RPC_RPC_H
#define RPC_RPC_H

#include <stdint.h>
#include <uv.h>

#include "base/base.h"
#include "base/pool.h"
#include "http/http.h"

/* gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
typedef enum rpc_status {
    RPC_OK = 0,
    RPC_CANCELLED = 1,
    RPC_UNKNOWN = 2,
    RPC_INVALID_ARGUMENT = 3,
    RPC_DEADLINE_EXCEEDED = 4,
    RPC_NOT_FOUND = 5,
    RPC_ALREADY_EXISTS = 6,
    RPC_PERMISSION_DENIED = 7,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_FAILED_PRECONDITION = 9,
    RPC_ABORTED = 10,
    RPC_OUT_OF_RANGE = 11,
    RPC_UNIMPLEMENTED = 12,
    RPC_INTERNAL = 13,
    RPC_UNAVAILABLE = 14,
    RPC_DATA_LOSS = 15,
    RPC_UNAUTHENTICATED = 16,
} rpc_status_t;

const char *rpc_status_name(int code); /* "OK", "CANCELLED", ... ("UNKNOWN" when out of range) */

/* Output back-pressure: a call whose queued-but-unsent bytes exceed this is "full"; its
 * on_writable callback fires once they fall under half of it. */
#define RPC_SEND_HIGH_WATER (256u * 1024u)

/* ======================================= client ======================================== */

typedef struct rpc_client_options {
    size_t max_message_size;          /* receive and send limit per message; over → RESOURCE_EXHAUSTED */
    unsigned max_streams_per_conn;    /* a new connection is opened past it (100, as daprd) */
    unsigned keepalive_time_ms;       /* PING after this much idleness (10 s, as daprd) */
    unsigned keepalive_timeout_ms;    /* no PING ack within it → connection closed, calls UNAVAILABLE (5 s) */
    unsigned connect_timeout_ms;      /* TCP connect (plus the HTTP/2 preface) limit (30 s dial, daprd) */
    unsigned idle_conn_timeout_ms;    /* close a connection with no call for this long (3 min) */
} rpc_client_options_t;

typedef struct rpc_client rpc_client_t;
typedef struct rpc_call rpc_call_t;

typedef struct rpc_call_cbs {
    /* Response headers (initial metadata) arrived. Optional. */
    void (*on_headers)(rpc_call_t *call, void *ud, const http_headers_t *md);
    /* One complete message; `msg` valid only during the call. Optional for calls that expect
     * none. Raising pressure: the receiver may call rpc_call_pause_recv() from here. */
    void (*on_message)(rpc_call_t *call, void *ud, base_slice_t msg);
    /* Queued output fell under half of RPC_SEND_HIGH_WATER. Optional. */
    void (*on_writable)(rpc_call_t *call, void *ud);
    /* Final: the call is over. `message` is the decoded grpc-message; `trailers` the trailing
     * metadata (NULL when none, e.g. a connection failure). Always called exactly once, on a
     * later loop turn than rpc_call_start. The call (and its pool) is freed after it returns. */
    void (*on_close)(rpc_call_t *call, void *ud, int status, base_slice_t message, const http_headers_t *trailers);
} rpc_call_cbs_t;

rpc_client_t *rpc_client_new(uv_loop_t *loop, const rpc_client_options_t *opts);
/* Cancels every call (their on_close runs with CANCELLED), closes every connection; done_cb
 * fires when all handles are closed, after which the client is freed. */
void rpc_client_close(rpc_client_t *c, void (*done_cb)(void *arg), void *arg);

/*
 * Starts a call to `address` ("host:port", "[v6]:port"; host may be a name resolved with
 * getaddrinfo) on `path` ("/package.Service/Method"). `metadata` is copied (keys must be
 * lower case; reserved ones like content-type are ignored). deadline_ms = 0: none; else the
 * call fails with DEADLINE_EXCEEDED after it and grpc-timeout is sent. Returns the call, or
 * NULL on allocation failure. Connection failures are reported through on_close (UNAVAILABLE).
 */
rpc_call_t *rpc_call_start(rpc_client_t *c, const char *address, const char *path, const http_headers_t *metadata,
                           uint64_t deadline_ms, const rpc_call_cbs_t *cbs, void *ud);
/* Queues one message (copied, framed). Returns 0, or -1 when the call is already closing or
 * the message exceeds max_message_size (the call then fails with RESOURCE_EXHAUSTED). */
int rpc_call_send(rpc_call_t *call, const void *msg, size_t len);
/* Half-close: no more messages from us (END_STREAM after the queued data). */
void rpc_call_close_send(rpc_call_t *call);
/* Cancels (RST_STREAM CANCEL); on_close follows with RPC_CANCELLED on a later turn. */
void rpc_call_cancel(rpc_call_t *call);
/* Bytes queued on this call but not yet handed to the socket. */
size_t rpc_call_pending(const rpc_call_t *call);
/* Receive flow control: stop granting HTTP/2 window for this stream / grant it again. */
void rpc_call_pause_recv(rpc_call_t *call);
void rpc_call_resume_recv(rpc_call_t *call);
base_pool_t *rpc_call_pool(rpc_call_t *call);

/* ======================================= server ======================================== */

typedef struct rpc_server_options {
    size_t max_message_size;       /* larger incoming message → RESOURCE_EXHAUSTED */
    unsigned max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS (100) */
    unsigned keepalive_time_ms;    /* server PING after idleness (10 s, daprd) */
    unsigned keepalive_timeout_ms; /* (5 s) */
    unsigned idle_conn_timeout_ms; /* GOAWAY + close after this long without streams (3 min) */
    size_t max_header_list_size;   /* SETTINGS_MAX_HEADER_LIST_SIZE */
} rpc_server_options_t;

typedef struct rpc_server rpc_server_t;
typedef struct rpc_server_call rpc_server_call_t;

/* One method. Unary and streaming methods look the same here: messages come through
 * on_message as they arrive, on_half_close when the client finished sending; the handler
 * answers with send_headers (optional) / send (any number) / finish (once). */
typedef struct rpc_method {
    const char *path; /* "/dapr.proto.internals.v1.ServiceInvocation/CallLocal" */
    void (*on_start)(rpc_server_call_t *call, void *ctx, const http_headers_t *md);
    void (*on_message)(rpc_server_call_t *call, void *ctx, base_slice_t msg);
    void (*on_half_close)(rpc_server_call_t *call, void *ctx);
    /* Queued output fell under half of RPC_SEND_HIGH_WATER. Optional. */
    void (*on_writable)(rpc_server_call_t *call, void *ctx);
    /* The call died before the handler finished it: client RST_STREAM, deadline exceeded
     * (the server already answered DEADLINE_EXCEEDED), connection lost or server closing.
     * The call is freed after it returns. Not called after rpc_server_call_finish. */
    void (*on_cancel)(rpc_server_call_t *call, void *ctx);
    void *ctx;
} rpc_method_t;

rpc_server_t *rpc_server_new(uv_loop_t *loop, const rpc_server_options_t *opts, const rpc_method_t *methods,
                             size_t method_count);
/* Takes a listening TCP socket fd (bound with SO_REUSEPORT by the runtime, one per worker). */
int rpc_server_listen_fd(rpc_server_t *s, int fd);
/* Graceful: stop accepting, GOAWAY to every connection, let open streams finish; idle_cb when
 * nothing is left. */
void rpc_server_drain(rpc_server_t *s, void (*idle_cb)(void *arg), void *arg);
/* Cancels every stream (on_cancel runs) and closes every connection. */
void rpc_server_close_all(rpc_server_t *s);
void rpc_server_free(rpc_server_t *s);

int rpc_server_call_send_headers(rpc_server_call_t *call, const http_headers_t *md);
/* Queues one message (copied); sends the initial headers first if not sent yet. 0 or -1. */
int rpc_server_call_send(rpc_server_call_t *call, const void *msg, size_t len);
/* Trailers with grpc-status/grpc-message (+ md); the call is freed on a later turn. A finish
 * before any message and headers becomes a Trailers-Only response. 0 or -1. */
int rpc_server_call_finish(rpc_server_call_t *call, int status, const char *message, const http_headers_t *trailers);
size_t rpc_server_call_pending(const rpc_server_call_t *call);
void rpc_server_call_pause_recv(rpc_server_call_t *call);
void rpc_server_call_resume_recv(rpc_server_call_t *call);
base_pool_t *rpc_server_call_pool(rpc_server_call_t *call);
void rpc_server_call_set_data(rpc_server_call_t *call, void *data);
void *rpc_server_call_data(const rpc_server_call_t *call);
/* The peer's address "ip:port". */
const char *rpc_server_call_peer(const rpc_server_call_t *call);

#endif
