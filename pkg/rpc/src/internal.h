/*
 * internal.h - pieces shared by the rpc client and server: deferred work, per-stream send and
 * receive queues, and the HTTP/2 connection transport (libuv TCP handle + nghttp2 session).
 */
#ifndef RPC_INTERNAL_H
#define RPC_INTERNAL_H

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "base/buf.h"
#include "base/log.h"
#include "loop/later.h"
#include "loop/write.h"
#include "rpc/rpc.h"
#include "wire.h"

#define RPC_LOG_SCOPE "dapr.runtime.grpc"

/* HTTP/2 windows we grant: per stream (also the most a paused stream buffers) and per
 * connection (consumed as soon as bytes arrive, so one paused stream never stalls the rest). */
#define RPC_STREAM_WINDOW (1 << 20)
#define RPC_CONN_WINDOW (16 << 20)
#define RPC_READ_BUFFER (64 * 1024)
#define RPC_WRITE_BATCH (256 * 1024) /* stop pulling frames from nghttp2 past this per write */
#define RPC_LINGER_MS 2000           /* after our final frames: wait this long for the peer's FIN */

/* ---- per-stream send queue: framed messages waiting for the data provider ---------------- */
typedef struct rpc_sendq {
    base_buf_t buf;
    size_t off;            /* bytes of buf already given to nghttp2 */
    unsigned eof : 1;      /* no more messages (client half-close, server finish) */
    unsigned deferred : 1; /* the data provider said NGHTTP2_ERR_DEFERRED */
    unsigned full : 1;     /* over RPC_SEND_HIGH_WATER: on_writable owed once under half */
} rpc_sendq_t;

int rpc_sendq_push(rpc_sendq_t *q, const void *msg, size_t len);
static inline size_t rpc_sendq_pending(const rpc_sendq_t *q)
{
    return q->buf.len - q->off;
}
/* Copies up to len bytes out; sets *writable when the queue just fell under half the high
 * water mark while full. */
size_t rpc_sendq_read(rpc_sendq_t *q, uint8_t *out, size_t len, int *writable);
void rpc_sendq_free(rpc_sendq_t *q);

/* ---- per-stream receive side: deframing, pause and window accounting ---------------------- */
typedef struct rpc_recvq {
    rpc_deframer_t df;
    base_buf_t held;     /* DATA bytes that arrived while paused, not yet deframed */
    size_t held_off;
    unsigned paused : 1;
    unsigned ended : 1;  /* END_STREAM received */
} rpc_recvq_t;

/* on_msg returns non-zero to stop (paused, or the call finished meanwhile). */
typedef int (*rpc_msg_fn)(void *arg, base_slice_t msg);

/* Takes bytes from one DATA frame. Delivers whole messages unless paused; bytes that cannot be
 * delivered now are held. Grants stream window (nghttp2_session_consume_stream) only for bytes
 * delivered. Returns RPC_DEFRAME_OK or an error; STOPPED is not an error. */
rpc_deframe_result_t rpc_recvq_feed(rpc_recvq_t *q, nghttp2_session *s, int32_t stream_id, const char *data,
                                    size_t len, rpc_msg_fn on_msg, void *arg);
/* Delivers held bytes after a resume, as far as the receiver lets it. */
rpc_deframe_result_t rpc_recvq_drain(rpc_recvq_t *q, nghttp2_session *s, int32_t stream_id, rpc_msg_fn on_msg,
                                     void *arg);
static inline int rpc_recvq_has_held(const rpc_recvq_t *q)
{
    return q->held.len > q->held_off;
}
void rpc_recvq_free(rpc_recvq_t *q);
/* The status and message (in `pool` or static) for a deframer error. */
int rpc_deframe_status(rpc_deframe_result_t r, const rpc_deframer_t *d, base_pool_t *pool, const char **msg);

/* ---- HTTP/2 connection transport ----------------------------------------------------------- */
typedef struct rpc_h2conn rpc_h2conn_t;

typedef struct rpc_h2conn_ops {
    /* The connection is unusable (peer closed, socket error, protocol error, keepalive or
     * connect timeout). The owner fails its streams and calls rpc_h2conn_close(). */
    void (*on_fail)(rpc_h2conn_t *c, const char *why);
    /* No stream for idle_timeout_ms. The owner sends GOAWAY and calls rpc_h2conn_finish(). */
    void (*on_idle)(rpc_h2conn_t *c);
    /* Every handle is closed: the owner frees the connection. */
    void (*on_closed)(rpc_h2conn_t *c);
} rpc_h2conn_ops_t;

struct rpc_h2conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    uv_loop_t *loop;
    nghttp2_session *session;
    const rpc_h2conn_ops_t *ops;
    loop_later_t *later;
    loop_later_item_t flush_item;
    char *rbuf; /* the owner's read buffer: nghttp2 consumes every byte before on_read returns */
    base_buf_t out;     /* frames pulled from nghttp2, waiting for the write in flight */
    base_buf_t writing; /* handed to uv_write, untouched until on_write */
    int handles_open;
    /* timers (uv_now() milliseconds; 0 = none) */
    unsigned keepalive_time_ms, keepalive_timeout_ms, idle_timeout_ms;
    uint64_t connect_deadline;
    uint64_t last_read;
    uint64_t ping_sent;
    uint64_t idle_since;
    uint64_t finish_at;
    uint64_t armed; /* when the timer fires next (0: stopped) */
    unsigned active;     /* streams the owner counts as open */
    unsigned keepalive_without_calls : 1;
    unsigned tcp_open : 1;
    unsigned reading : 1;
    unsigned write_pending : 1;
    unsigned in_recv : 1;
    unsigned in_send : 1;
    unsigned finishing : 1; /* write what is queued, then FIN, then close */
    unsigned shut : 1;      /* FIN sent: lingering until the peer's FIN */
    unsigned closing : 1;
};

/* Initialises the timer (and, with tcp = 1, the TCP handle). */
void rpc_h2conn_init(rpc_h2conn_t *c, uv_loop_t *loop, loop_later_t *later, const rpc_h2conn_ops_t *ops,
                     char *rbuf, int tcp);
/* Starts reading and the keepalive/idle timer once the session exists. */
int rpc_h2conn_start(rpc_h2conn_t *c);
/* Writes what nghttp2 has to send now (one uv_write at a time). */
void rpc_h2conn_flush(rpc_h2conn_t *c);
/* Same, from outside a read callback: batched on a later turn. */
void rpc_h2conn_want_flush(rpc_h2conn_t *c);
/* The owner's stream count changed (drives keepalive and idle timeout). */
void rpc_h2conn_set_active(rpc_h2conn_t *c, unsigned active);
void rpc_h2conn_ping_acked(rpc_h2conn_t *c);
/* Recomputes the timer (after a deadline changed). */
void rpc_h2conn_update_timer(rpc_h2conn_t *c);
/* Graceful end: flush, FIN, wait for the peer's FIN (bounded), close. */
void rpc_h2conn_finish(rpc_h2conn_t *c);
/* Immediate close; on_closed follows when the handles are closed. */
void rpc_h2conn_close(rpc_h2conn_t *c);
/* The close callback of the transport's handles, for an owner that closed the TCP handle
 * itself (a failed connect attempt) and finds the connection closing meanwhile. */
void rpc_h2conn_handle_closed(uv_handle_t *h);

/* ---- headers -------------------------------------------------------------------------------- */

/* Reserved names never copied from user metadata to the wire or from the wire to user metadata. */
int rpc_header_reserved(base_slice_t name);
/* Appends user metadata to an nghttp2 name/value array (lower-cased copy in `pool`); invalid
 * or reserved entries are skipped. `nva` has room for `cap`; returns the new count. */
size_t rpc_nva_add_md(nghttp2_nv *nva, size_t n, size_t cap, base_pool_t *pool, const http_headers_t *md);
static inline nghttp2_nv rpc_nv(const char *name, size_t nlen, const char *value, size_t vlen)
{
    return (nghttp2_nv){ (uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value, nlen, vlen, NGHTTP2_NV_FLAG_NONE };
}
#define RPC_NV_LIT(n, v) rpc_nv((n), sizeof(n) - 1, (v), sizeof(v) - 1)
/* A field whose value differs on every call (a deadline, a span id): sent as a literal never
 * added to the HPACK dynamic table (RFC 7541 §6.2.3), where each new value would evict entries
 * that the other, repeating fields are then sent in full to put back. */
static inline nghttp2_nv rpc_nv_unique(const char *name, size_t nlen, const char *value, size_t vlen)
{
    nghttp2_nv nv = rpc_nv(name, nlen, value, vlen);
    nv.flags = NGHTTP2_NV_FLAG_NO_INDEX;
    return nv;
}
/* The metadata fields that carry per-call values. */
int rpc_header_per_call(base_slice_t name);
/* Copies one received header into md when it is user metadata. 0, or -1 on allocation failure. */
int rpc_md_add_received(http_headers_t *md, base_pool_t *pool, const uint8_t *name, size_t nlen, const uint8_t *value,
                        size_t vlen);

#endif
