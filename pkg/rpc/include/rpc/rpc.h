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

/* Every field left 0 takes the default named in its comment (opts may also be NULL). */
typedef struct rpc_client_options {
    size_t max_message_size;          /* receive and send limit per message; over → RESOURCE_EXHAUSTED (4 MiB) */
    unsigned max_streams_per_conn;    /* a new connection is opened past it (100, as daprd) */
    unsigned keepalive_time_ms;       /* PING after this much read idleness while calls are open (10 s, as daprd) */
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

/* NULL when out of memory. The client owns two handles on `loop` until rpc_client_close()'s
 * done_cb: close it before uv_loop_close(). */
rpc_client_t *rpc_client_new(uv_loop_t *loop, const rpc_client_options_t *opts);
/* Cancels every call (their on_close runs with CANCELLED), closes every connection; done_cb
 * (may be NULL) fires when all handles are closed, the client already freed. */
void rpc_client_close(rpc_client_t *c, void (*done_cb)(void *arg), void *arg);

/*
 * Starts a call to `address` ("host:port", "[v6]:port"; host may be a name resolved with
 * getaddrinfo) on `path` ("/package.Service/Method"). `metadata` is copied (keys must be
 * lower case; reserved ones like content-type are ignored). deadline_ms = 0: none; else the
 * call fails with DEADLINE_EXCEEDED after it and grpc-timeout is sent. Returns the call, or
 * NULL on allocation failure, when cbs->on_close is missing or once rpc_client_close() was
 * called. Connection failures are reported through on_close (UNAVAILABLE), an address that
 * cannot be parsed too.
 *
 * Connections: a call goes to a connection to the same address string with fewer than
 * max_streams_per_conn calls, else a new one is opened. Calls wait on a connection until the
 * server's SETTINGS arrived (so its MAX_CONCURRENT_STREAMS is honoured; nghttp2 queues the
 * streams past it). After a GOAWAY the connection takes no new call; calls above its
 * last-stream-id end with UNAVAILABLE (never processed by the server: safe to retry).
 */
rpc_call_t *rpc_call_start(rpc_client_t *c, const char *address, const char *path, const http_headers_t *metadata,
                           uint64_t deadline_ms, const rpc_call_cbs_t *cbs, void *ud);
/* Queues one message (copied, framed). Returns 0, or -1 when the call is already closing,
 * after rpc_call_close_send(), or when the message exceeds max_message_size (the call then
 * fails with RESOURCE_EXHAUSTED). There is no hard cap on the queue: honour
 * rpc_call_pending() / on_writable. */
int rpc_call_send(rpc_call_t *call, const void *msg, size_t len);
/* Half-close: no more messages from us (END_STREAM after the queued data). */
void rpc_call_close_send(rpc_call_t *call);
/* Cancels (RST_STREAM CANCEL); on_close follows with RPC_CANCELLED on a later turn. When the
 * call already ended (on_close pending), it only drops messages held by a paused receiver. */
void rpc_call_cancel(rpc_call_t *call);
/* Bytes queued on this call but not yet handed to the socket. */
size_t rpc_call_pending(const rpc_call_t *call);
/* Receive flow control: stop granting HTTP/2 window for this stream / grant it again. While
 * paused no on_message is delivered: bytes already in flight (at most one stream window,
 * 1 MiB) are held and delivered after the resume, on a later turn; on_close waits for them
 * when the call ended normally. */
void rpc_call_pause_recv(rpc_call_t *call);
void rpc_call_resume_recv(rpc_call_t *call);
base_pool_t *rpc_call_pool(rpc_call_t *call);

/* ======================================= server ======================================== */

/* Every field left 0 takes the default named in its comment (opts may also be NULL). */
typedef struct rpc_server_options {
    size_t max_message_size;       /* larger incoming message → RESOURCE_EXHAUSTED (4 MiB) */
    unsigned max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS (100) */
    unsigned keepalive_time_ms;    /* server PING after idleness (10 s, daprd) */
    unsigned keepalive_timeout_ms; /* (5 s) */
    unsigned idle_conn_timeout_ms; /* GOAWAY + close after this long without streams (3 min) */
    size_t max_header_list_size;   /* SETTINGS_MAX_HEADER_LIST_SIZE, enforced: over → RESOURCE_EXHAUSTED (64 KiB) */
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

/* `methods` is copied; the path strings and ctx must outlive the server. Requests are checked
 * before dispatch: not POST → 405 with grpc-status INTERNAL; content-type not
 * application/grpc[+…|;…] → 415 with INTERNAL; unknown :path → UNIMPLEMENTED (Trailers-Only).
 * A grpc-timeout arms the call's deadline; a malformed one is ignored (as gRPC C core does).
 * The server owns two handles on `loop` until rpc_server_free(). */
rpc_server_t *rpc_server_new(uv_loop_t *loop, const rpc_server_options_t *opts, const rpc_method_t *methods,
                             size_t method_count);
/* Takes a bound TCP socket fd (bound with SO_REUSEPORT by the runtime, one per worker) and
 * listens on it. 0 or a libuv error; the fd is the server's from this call on (closed by it,
 * even when this fails). */
int rpc_server_listen_fd(rpc_server_t *s, int fd);
/* Graceful: stop accepting, GOAWAY to every connection, let open streams finish; idle_cb when
 * nothing is left. Per connection: a shutdown-notice GOAWAY and a PING; once the PING is
 * answered and the last stream finished, the final GOAWAY and the close. */
void rpc_server_drain(rpc_server_t *s, void (*idle_cb)(void *arg), void *arg);
/* Cancels every stream (on_cancel runs, synchronously) and closes every connection and
 * listener. After a drain, its idle_cb follows once the handles are closed. */
void rpc_server_close_all(rpc_server_t *s);
/* Closes whatever is left (as rpc_server_close_all, without idle_cb) and frees the server once
 * its handles are closed, on a later loop turn: run the loop before uv_loop_close(). Safe to
 * call from idle_cb. */
void rpc_server_free(rpc_server_t *s);

/* Handler API: every function below runs on the loop thread, from a method callback or later,
 * until the handler finished the call or on_cancel returned. Metadata keys are lower-cased;
 * reserved names (pseudo-headers, content-type, te, grpc-status, grpc-message, grpc-timeout,
 * grpc-encoding, connection-specific headers) and invalid fields are skipped. */
/* Initial metadata (:status 200, content-type application/grpc + md). 0, or -1 when already
 * sent or the call is over. */
int rpc_server_call_send_headers(rpc_server_call_t *call, const http_headers_t *md);
/* Queues one message (copied); sends the initial headers first if not sent yet. 0 or -1.
 * Over max_message_size: -1, the call is answered with RESOURCE_EXHAUSTED and on_cancel
 * follows on a later turn. */
int rpc_server_call_send(rpc_server_call_t *call, const void *msg, size_t len);
/* Trailers with grpc-status/grpc-message (percent-encoded; message may be NULL) + md; the
 * trailers follow the queued messages, and the call is freed on a later turn. A finish before
 * any message and headers becomes a Trailers-Only response. 0 or -1 (the call is over either
 * way: do not touch it after). */
int rpc_server_call_finish(rpc_server_call_t *call, int status, const char *message, const http_headers_t *trailers);
size_t rpc_server_call_pending(const rpc_server_call_t *call);
/* As rpc_call_pause_recv() / rpc_call_resume_recv(); on_half_close waits for held messages. */
void rpc_server_call_pause_recv(rpc_server_call_t *call);
void rpc_server_call_resume_recv(rpc_server_call_t *call);
base_pool_t *rpc_server_call_pool(rpc_server_call_t *call);
void rpc_server_call_set_data(rpc_server_call_t *call, void *data);
void *rpc_server_call_data(const rpc_server_call_t *call);
/* The peer's address "ip:port". */
const char *rpc_server_call_peer(const rpc_server_call_t *call);

#endif
