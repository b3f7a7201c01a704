/*
 * wire.c - gRPC framing, grpc-timeout, grpc-message encoding and status mappings. No I/O.
 */
#include "wire.h"

#include <stdio.h>

#include "rpc/rpc.h"

static const char *const status_names[] = {
    "OK",           "CANCELLED",          "UNKNOWN",   "INVALID_ARGUMENT",    "DEADLINE_EXCEEDED",
    "NOT_FOUND",    "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",      "OUT_OF_RANGE",       "UNIMPLEMENTED", "INTERNAL",        "UNAVAILABLE",
    "DATA_LOSS",    "UNAUTHENTICATED",
};

const char *rpc_status_name(int code)
{
    if (code < 0 || (size_t)code >= BASE_ARRAY_SIZE(status_names))
        return "UNKNOWN";
    return status_names[code];
}

/* ---- framing ----------------------------------------------------------------------------- */

void rpc_frame_header(uint8_t out[RPC_FRAME_HEADER], uint32_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

void rpc_deframer_init(rpc_deframer_t *d, size_t max)
{
    memset(d, 0, sizeof(*d));
    d->max = max;
}

void rpc_deframer_free(rpc_deframer_t *d)
{
    base_buf_free(&d->msg);
    d->hdr_len = 0;
}

int rpc_deframer_partial(const rpc_deframer_t *d)
{
    return d->hdr_len > 0;
}

/* Called once the 5-byte prefix is complete: checks it and reserves room for a split body. */
static rpc_deframe_result_t header_done(rpc_deframer_t *d)
{
    if (d->hdr[0] == 1)
        return RPC_DEFRAME_COMPRESSED;
    if (d->hdr[0] != 0)
        return RPC_DEFRAME_BAD_FLAG;
    d->need = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 | (uint32_t)d->hdr[3] << 8 | d->hdr[4];
    if (d->need > d->max)
        return RPC_DEFRAME_TOO_LARGE;
    d->msg.len = 0;
    return RPC_DEFRAME_OK;
}

rpc_deframe_result_t rpc_deframer_feed(rpc_deframer_t *d, const char *data, size_t len, size_t *used,
                                       int (*on_msg)(void *arg, base_slice_t msg), void *arg)
{
    size_t i = 0;
    rpc_deframe_result_t r = RPC_DEFRAME_OK;
    while (i < len) {
        if (d->hdr_len < RPC_FRAME_HEADER) {
            /* fast path: a whole message in the chunk, nothing buffered */
            if (d->hdr_len == 0 && len - i >= RPC_FRAME_HEADER) {
                memcpy(d->hdr, data + i, RPC_FRAME_HEADER);
                d->hdr_len = RPC_FRAME_HEADER;
                i += RPC_FRAME_HEADER;
            } else {
                while (i < len && d->hdr_len < RPC_FRAME_HEADER)
                    d->hdr[d->hdr_len++] = (uint8_t)data[i++];
                if (d->hdr_len < RPC_FRAME_HEADER)
                    break;
            }
            if ((r = header_done(d)) != RPC_DEFRAME_OK)
                break;
            if (d->msg.len == 0 && len - i >= d->need) {
                base_slice_t m = base_slice(data + i, d->need);
                i += d->need;
                d->hdr_len = 0;
                if (on_msg(arg, m)) {
                    r = RPC_DEFRAME_STOPPED;
                    break;
                }
                continue;
            }
        }
        size_t take = BASE_MIN(len - i, (size_t)d->need - d->msg.len);
        if (take && base_buf_append(&d->msg, data + i, take) != 0) {
            r = RPC_DEFRAME_NOMEM;
            break;
        }
        i += take;
        if (d->msg.len < d->need)
            break;
        d->hdr_len = 0;
        base_slice_t m = base_buf_slice(&d->msg);
        int stop = on_msg(arg, m);
        d->msg.len = 0;
        if (d->msg.cap > 64 * 1024) /* do not keep a big message's buffer for the next small one */
            base_buf_free(&d->msg);
        if (stop) {
            r = RPC_DEFRAME_STOPPED;
            break;
        }
    }
    if (used)
        *used = i;
    return r;
}

/* ---- grpc-timeout ------------------------------------------------------------------------ */

int64_t rpc_timeout_parse(base_slice_t v)
{
    if (v.len < 2 || v.len > 9)
        return -1;
    uint64_t n = 0;
    for (size_t i = 0; i + 1 < v.len; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(v.base[i] - '0');
    }
    switch (v.base[v.len - 1]) {
    case 'H': return (int64_t)(n * 3600000u);
    case 'M': return (int64_t)(n * 60000u);
    case 'S': return (int64_t)(n * 1000u);
    case 'm': return (int64_t)n;
    case 'u': return (int64_t)((n + 999) / 1000);
    case 'n': return (int64_t)((n + 999999) / 1000000);
    default: return -1;
    }
}

size_t rpc_timeout_format(uint64_t ms, char out[16])
{
    /* at most 8 digits: the finest unit that fits, rounded up so a deadline never shrinks */
    int n;
    if (ms < 100000000u)
        n = snprintf(out, 16, "%llum", (unsigned long long)ms);
    else if (ms / 1000 < 100000000u)
        n = snprintf(out, 16, "%lluS", (unsigned long long)((ms + 999) / 1000));
    else if (ms / 60000 < 100000000u)
        n = snprintf(out, 16, "%lluM", (unsigned long long)((ms + 59999) / 60000));
    else
        n = snprintf(out, 16, "%lluH", (unsigned long long)BASE_MIN((ms + 3599999) / 3600000, 99999999u));
    return (size_t)n;
}

/* ---- grpc-message ------------------------------------------------------------------------ */

int rpc_percent_encode(base_buf_t *out, base_slice_t msg)
{
    static const char hex[] = "0123456789ABCDEF";
    if (base_buf_reserve(out, msg.len * 3) != 0)
        return -1;
    char *w = out->base + out->len;
    for (size_t i = 0; i < msg.len; i++) {
        unsigned char c = (unsigned char)msg.base[i];
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    out->len = (size_t)(w - out->base);
    return 0;
}

size_t rpc_percent_decode(base_slice_t msg, char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < msg.len; i++) {
        if (msg.base[i] == '%' && i + 2 < msg.len) {
            int hi = base_hex_val(msg.base[i + 1]), lo = base_hex_val(msg.base[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out[w++] = (char)(hi << 4 | lo);
                i += 2;
                continue;
            }
        }
        out[w++] = msg.base[i];
    }
    return w;
}

/* ---- status mappings --------------------------------------------------------------------- */

int rpc_status_from_http(int http_status)
{
    switch (http_status) {
    case 400: return RPC_INTERNAL;
    case 401: return RPC_UNAUTHENTICATED;
    case 403: return RPC_PERMISSION_DENIED;
    case 404: return RPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return RPC_UNAVAILABLE;
    default: return RPC_UNKNOWN;
    }
}

int rpc_status_from_h2_error(uint32_t error_code)
{
    switch (error_code) {
    case 0x7: return RPC_UNAVAILABLE;        /* REFUSED_STREAM: not processed, may be retried */
    case 0x8: return RPC_CANCELLED;          /* CANCEL */
    case 0xb: return RPC_RESOURCE_EXHAUSTED; /* ENHANCE_YOUR_CALM */
    case 0xc: return RPC_PERMISSION_DENIED;  /* INADEQUATE_SECURITY */
    default: return RPC_INTERNAL;
    }
}

int rpc_status_parse(base_slice_t v)
{
    if (v.len == 0 || v.len > 2)
        return -1;
    int n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        n = n * 10 + (v.base[i] - '0');
    }
    return n;
}
