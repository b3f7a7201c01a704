/*
 * queue.c - per-stream send/receive queues and metadata helpers shared by the
 * client and the server.
 */
#include "internal.h"

#include "base/pool.h"

#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

/* ---- send queue -------------------------------------------------------------------------- */

int rpc_sendq_push(rpc_sendq_t *q, const void *msg, size_t len)
{
    if (len > UINT32_MAX)
        return -1;
    if (q->off && q->off == q->buf.len) {
        q->off = 0;
        q->buf.len = 0;
    }
    if (base_buf_reserve(&q->buf, RPC_FRAME_HEADER + len) != 0)
        return -1;
    uint8_t hdr[RPC_FRAME_HEADER];
    rpc_frame_header(hdr, (uint32_t)len);
    base_buf_append(&q->buf, hdr, sizeof(hdr));
    base_buf_append(&q->buf, msg, len);
    if (rpc_sendq_pending(q) > RPC_SEND_HIGH_WATER)
        q->full = 1;
    return 0;
}

size_t rpc_sendq_read(rpc_sendq_t *q, uint8_t *out, size_t len, int *writable)
{
    size_t n = BASE_MIN(len, rpc_sendq_pending(q));
    if (n)
        memcpy(out, q->buf.base + q->off, n);
    q->off += n;
    if (q->off == q->buf.len) {
        q->off = 0;
        q->buf.len = 0;
        if (q->buf.cap > 4 * RPC_SEND_HIGH_WATER) /* a burst is over: give the memory back */
            base_buf_free(&q->buf);
    } else if (q->off > q->buf.len / 2 && q->off > 64 * 1024) {
        base_buf_consume(&q->buf, q->off);
        q->off = 0;
    }
    *writable = 0;
    if (q->full && rpc_sendq_pending(q) < RPC_SEND_HIGH_WATER / 2) {
        q->full = 0;
        *writable = 1;
    }
    return n;
}

void rpc_sendq_free(rpc_sendq_t *q)
{
    base_buf_free(&q->buf);
    q->off = 0;
}

/* ---- receive queue ----------------------------------------------------------------------- */

static rpc_deframe_result_t hold(rpc_recvq_t *q, const char *data, size_t len)
{
    if (len == 0)
        return RPC_DEFRAME_OK;
    /* Bounded by the stream window: a paused stream is granted no more (RPC_STREAM_WINDOW). */
    if (q->held_off && q->held_off == q->held.len) {
        q->held.len = 0;
        q->held_off = 0;
    }
    return base_buf_append(&q->held, data, len) == 0 ? RPC_DEFRAME_OK : RPC_DEFRAME_NOMEM;
}

rpc_deframe_result_t rpc_recvq_feed(rpc_recvq_t *q, nghttp2_session *s, int32_t stream_id, const char *data,
                                    size_t len, rpc_msg_fn on_msg, void *arg)
{
    if (q->paused || rpc_recvq_has_held(q))
        return hold(q, data, len);
    size_t used = 0;
    rpc_deframe_result_t r = rpc_deframer_feed(&q->df, data, len, &used, on_msg, arg);
    if (used)
        nghttp2_session_consume_stream(s, stream_id, used);
    if (r == RPC_DEFRAME_STOPPED) {
        /* on_msg stopped us: either paused (keep the rest) or the call is over (drop it) */
        if (q->paused)
            return hold(q, data + used, len - used);
        return RPC_DEFRAME_OK;
    }
    return r;
}

rpc_deframe_result_t rpc_recvq_drain(rpc_recvq_t *q, nghttp2_session *s, int32_t stream_id, rpc_msg_fn on_msg,
                                     void *arg)
{
    if (q->paused || !rpc_recvq_has_held(q))
        return RPC_DEFRAME_OK;
    size_t used = 0;
    rpc_deframe_result_t r = rpc_deframer_feed(&q->df, q->held.base + q->held_off, q->held.len - q->held_off,
                                               &used, on_msg, arg);
    q->held_off += used;
    if (s && used)
        nghttp2_session_consume_stream(s, stream_id, used);
    if (q->held_off == q->held.len)
        base_buf_free(&q->held), q->held_off = 0;
    return r == RPC_DEFRAME_STOPPED ? RPC_DEFRAME_OK : r;
}

void rpc_recvq_free(rpc_recvq_t *q)
{
    rpc_deframer_free(&q->df);
    base_buf_free(&q->held);
    q->held_off = 0;
}

int rpc_deframe_status(rpc_deframe_result_t r, const rpc_deframer_t *d, base_pool_t *pool, const char **msg)
{
    switch (r) {
    case RPC_DEFRAME_TOO_LARGE:
        /* the wording of gRPC C core, which peers' logs and tests may match */
        *msg = base_pool_printf(pool, "received message larger than max (%u vs. %zu)", d->need, d->max);
        if (!*msg)
            *msg = "received message larger than max";
        return RPC_RESOURCE_EXHAUSTED;
    case RPC_DEFRAME_COMPRESSED:
        *msg = "compressed message received but compression is not supported";
        return RPC_INTERNAL;
    case RPC_DEFRAME_BAD_FLAG:
        *msg = "invalid message compression flag";
        return RPC_INTERNAL;
    case RPC_DEFRAME_NOMEM:
        *msg = "out of memory";
        return RPC_RESOURCE_EXHAUSTED;
    default:
        *msg = "";
        return RPC_OK;
    }
}

/* ---- metadata ---------------------------------------------------------------------------- */

int rpc_header_reserved(base_slice_t n)
{
#define R(s) { s, sizeof(s) - 1 }
    static const base_slice_t reserved[] = {
        R("content-type"), R("te"), R("grpc-status"), R("grpc-message"), R("grpc-timeout"), R("grpc-encoding"),
        R("grpc-accept-encoding"), R("connection"), R("keep-alive"), R("transfer-encoding"), R("upgrade"),
        R("proxy-connection"), R("host"), R("content-length"),
    };
#undef R
    if (n.len == 0 || n.base[0] == ':')
        return 1;
    for (size_t i = 0; i < BASE_ARRAY_SIZE(reserved); i++)
        if (base_slice_ieq(n, reserved[i]))
            return 1;
    return 0;
}

int rpc_header_per_call(base_slice_t n)
{
    /* trace context: a new span id on every hop of every call */
    return base_slice_ieq(n, BASE_SLICE_LIT("grpc-trace-bin")) || base_slice_ieq(n, BASE_SLICE_LIT("traceparent")) ||
           base_slice_ieq(n, BASE_SLICE_LIT("tracestate"));
}

static int is_bin_key(base_slice_t n)
{
    return n.len > 4 && strncasecmp(n.base + n.len - 4, "-bin", 4) == 0;
}

/* gRPC over HTTP/2: binary metadata ("-bin" keys) travels base64-encoded; emitted unpadded,
 * accepted padded or not (PROTOCOL-HTTP2.md). */
static base_slice_t b64_encode(base_pool_t *pool, base_slice_t v)
{
    char *out = base_pool_alloc(pool, 4 * ((v.len + 2) / 3) + 1);
    if (!out)
        return BASE_SLICE_NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)v.base, (int)v.len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    return base_slice(out, (size_t)n);
}

static int b64_decode(base_pool_t *pool, base_slice_t v, base_slice_t *out)
{
    size_t len = v.len;
    while (len > 0 && v.base[len - 1] == '=')
        len--;
    size_t padded = (len + 3) / 4 * 4;
    char *in = base_pool_alloc(pool, padded + 1);
    unsigned char *dec = base_pool_alloc(pool, padded / 4 * 3 + 1);
    if (!in || !dec)
        return -1;
    memcpy(in, v.base, len);
    memset(in + len, '=', padded - len);
    int n = EVP_DecodeBlock(dec, (const unsigned char *)in, (int)padded);
    if (n < 0)
        return -1;
    n -= (int)(padded - len); /* EVP_DecodeBlock counts the padding as zero bytes */
    *out = base_slice((const char *)dec, n > 0 ? (size_t)n : 0);
    return 0;
}

size_t rpc_nva_add_md(nghttp2_nv *nva, size_t n, size_t cap, base_pool_t *pool, const http_headers_t *md)
{
    if (!md)
        return n;
    for (size_t i = 0; i < md->len && n < cap; i++) {
        base_slice_t name = md->items[i].name, value = md->items[i].value;
        if (rpc_header_reserved(name) || base_slice_ieq_cstr(name, "user-agent"))
            continue; /* user-agent: merged with ours by the caller of this function */
        /* HTTP/2 field names are lower case (RFC 9113 §8.2.1); copy only when one is not
         * (nghttp2 copies the names it is given, so a borrowed one suffices) */
        const char *lname = name.base;
        size_t up = 0;
        while (up < name.len && !(name.base[up] >= 'A' && name.base[up] <= 'Z'))
            up++;
        if (up < name.len) {
            char *low = base_pool_strndup(pool, name.base, name.len);
            if (!low)
                continue;
            for (size_t k = up; k < name.len; k++)
                low[k] = (char)base_lower((unsigned char)low[k]);
            lname = low;
        }
        if (is_bin_key(name)) {
            value = b64_encode(pool, value);
            if (!value.base)
                continue;
        }
        if (!nghttp2_check_header_name((const uint8_t *)lname, name.len) ||
            !nghttp2_check_header_value((const uint8_t *)value.base, value.len))
            continue;
        nva[n++] = rpc_header_per_call(name) ? rpc_nv_unique(lname, name.len, value.base ? value.base : "", value.len)
                                              : rpc_nv(lname, name.len, value.base ? value.base : "", value.len);
    }
    return n;
}

int rpc_md_add_received(http_headers_t *md, base_pool_t *pool, const uint8_t *name, size_t nlen, const uint8_t *value,
                        size_t vlen)
{
    base_slice_t n = base_slice((const char *)name, nlen);
    if (rpc_header_reserved(n))
        return 0;
    base_slice_t v = base_slice((const char *)value, vlen);
    if (is_bin_key(n) && b64_decode(pool, v, &v) != 0)
        return 0; /* not base64: dropped, as gRPC implementations do */
    return http_headers_add_copy(md, pool, n, v);
}
