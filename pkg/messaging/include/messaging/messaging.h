/*
 * messaging.h - what the caller (invoke) and the callee (internal) sidecars share about
 * daprd's internal invocation messages (daprd pkg/messaging/v1): header and metadata
 * mapping, status tables. Pure functions; thread-safe; memory from the given pool.
 */
#ifndef MESSAGING_MESSAGING_H
#define MESSAGING_MESSAGING_H

#include "base/base.h"
#include "base/pool.h"
#include "dapr/proto/internals/v1/service_invocation.pb-c.h"
#include "http/http.h"

typedef Dapr__Proto__Internals__V1__InternalInvokeRequest__MetadataEntry msg_md_entry_t;
typedef Dapr__Proto__Internals__V1__InternalInvokeResponse__HeadersEntry msg_hdr_entry_t;

/* Go's textproto.CanonicalMIMEHeaderKey: "content-type" → "Content-Type". A key holding a
 * byte that is not a token character is returned unchanged, as Go does. */
base_slice_t msg_canonical_key(base_pool_t *pool, base_slice_t key);

/* RFC 9110 §7.6.1 hop-by-hop fields (and Proxy-Connection): never forwarded by Remora
 * (daprd forwards them until 1.18). */
int msg_is_hop_by_hop(base_slice_t name);

/* Packs a message for sending: into stackbuf when it fits (no allocation on the common path),
 * else into a malloc'd buffer. Returns the bytes (release with msg_pack_release) or NULL. */
uint8_t *msg_pack(const ProtobufCMessage *m, uint8_t *stackbuf, size_t cap, size_t *len);
void msg_pack_release(uint8_t *buf, const uint8_t *stackbuf);

/* dapr.proto.common.v1.HTTPExtension.Verb ↔ HTTP method name. msg_verb_from_name: an
 * unknown method becomes POST (daprd's WithHTTPExtension); msg_verb_name: NULL for NONE or an
 * out-of-range value. */
int msg_verb_from_name(base_slice_t method);
const char *msg_verb_name(int verb);

/* A gRPC code as grpc-go prints it in "rpc error: code = <Name> desc = ..." (daprd's error
 * messages carry that text): "Unavailable", "ResourceExhausted", ... */
const char *msg_grpc_code_name(int code);

/* daprd HTTPStatusFromCode (grpc-gateway's table): gRPC code → HTTP status. */
int msg_http_status_from_grpc(int code);

/* HTTP request headers → InternalInvokeRequest.metadata (canonical keys, values grouped per
 * key in order). Headers for which skip(name) returns 1 are left out. *cap receives the
 * array's capacity, for msg_metadata_put. Returns 0 or -1. */
int msg_metadata_from_headers(base_pool_t *pool, const http_headers_t *h, int (*skip)(base_slice_t name),
                              msg_md_entry_t ***out, size_t *n, size_t *cap);
/* Adds (append=1) or sets (append=0) one value under key in a metadata array built above;
 * the array grows by doubling (*cap). */
int msg_metadata_put(base_pool_t *pool, msg_md_entry_t ***entries, size_t *n, size_t *cap, const char *key,
                     base_slice_t value, int append);
/* InternalInvokeRequest.metadata → headers, one entry per value. A key repeated on the wire
 * keeps only its last entry, as a Go map does (protobuf-c keeps both). */
int msg_headers_from_metadata(base_pool_t *pool, msg_md_entry_t *const *md, size_t n, http_headers_t *out);
/* Response headers/trailers maps ↔ headers (same shape as metadata, another entry type). */
int msg_headers_from_map(base_pool_t *pool, msg_hdr_entry_t *const *md, size_t n, http_headers_t *out);
int msg_map_from_headers(base_pool_t *pool, const http_headers_t *h, int canonical, msg_hdr_entry_t ***out,
                         size_t *n);

#endif
