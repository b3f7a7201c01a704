/*
 * wire.h - the sans-I/O part of gRPC over HTTP/2: message framing, grpc-timeout, grpc-message
 * percent-encoding and status mappings (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
 *
 * Nothing here touches a socket or a loop, so the unit tests and fuzzers drive it directly.
 * Private to pkg/rpc (the tests add pkg/rpc/src to their include path).
 */
#ifndef RPC_WIRE_H
#define RPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "base/buf.h"

#define RPC_FRAME_HEADER 5 /* 1 byte compressed flag + 4 bytes big-endian length */

/* Writes the 5-byte prefix of an uncompressed message of `len` bytes. */
void rpc_frame_header(uint8_t out[RPC_FRAME_HEADER], uint32_t len);

/*
 * Deframer: bytes of a stream's DATA frames in, whole messages out. A message contained in
 * one fed chunk is handed out in place (no copy); one split across chunks is reassembled in
 * `msg`, which never grows past the declared length, itself at most `max`.
 */
typedef struct rpc_deframer {
    size_t max;
    uint8_t hdr[RPC_FRAME_HEADER];
    size_t hdr_len;
    uint32_t need;   /* length of the current message, valid once hdr_len == 5 */
    base_buf_t msg;  /* partial message */
} rpc_deframer_t;

typedef enum rpc_deframe_result {
    RPC_DEFRAME_OK = 0,
    RPC_DEFRAME_STOPPED,    /* on_msg returned non-zero: `*used` says how far it got */
    RPC_DEFRAME_TOO_LARGE,  /* declared length over max → RESOURCE_EXHAUSTED */
    RPC_DEFRAME_COMPRESSED, /* compressed flag set: we never offer compression → INTERNAL */
    RPC_DEFRAME_BAD_FLAG,   /* flag byte other than 0 or 1 → INTERNAL */
    RPC_DEFRAME_NOMEM,
} rpc_deframe_result_t;

void rpc_deframer_init(rpc_deframer_t *d, size_t max);
void rpc_deframer_free(rpc_deframer_t *d);
/* Feeds `len` bytes; calls on_msg(arg, msg) for each complete message, `msg` valid only
 * during the call. A non-zero return from on_msg stops feeding right after that message.
 * `*used` receives how many bytes were taken (all of them unless STOPPED or an error). */
rpc_deframe_result_t rpc_deframer_feed(rpc_deframer_t *d, const char *data, size_t len, size_t *used,
                                       int (*on_msg)(void *arg, base_slice_t msg), void *arg);
/* True when a message has started but not finished (a stream ending here is truncated). */
int rpc_deframer_partial(const rpc_deframer_t *d);

/* grpc-timeout: "1-8 digits" + unit (H, M, S, m, u, n). Returns the timeout in milliseconds
 * (sub-millisecond values round up to 1), or -1 when malformed. */
int64_t rpc_timeout_parse(base_slice_t v);
/* Formats `ms` (> 0) in at most 8 digits: "1500m", "100000S"... Returns the length. */
size_t rpc_timeout_format(uint64_t ms, char out[16]);

/* grpc-message: bytes outside 0x20-0x7E and '%' become "%XX". Appends to `out`; 0 or -1. */
int rpc_percent_encode(base_buf_t *out, base_slice_t msg);
/* Decodes "%XX"; a '%' not followed by two hex digits is kept as is. `out` needs msg.len
 * bytes; returns the decoded length. */
size_t rpc_percent_decode(base_slice_t msg, char *out);

/* The gRPC code for a non-200 HTTP status (doc/http-grpc-status-mapping.md). */
int rpc_status_from_http(int http_status);
/* The gRPC code for an RST_STREAM error code received from the peer (PROTOCOL-HTTP2.md,
 * "Errors"). */
int rpc_status_from_h2_error(uint32_t error_code);
/* Parses grpc-status: decimal 0..99; -1 when malformed. */
int rpc_status_parse(base_slice_t v);

#endif
