/*
 * pb.h - protobuf-c glue: per-request pool allocation for the generated Dapr messages.
 *
 * The generated code lives beside this header in the same library; include it by proto path:
 *   #include "dapr/proto/internals/v1/service_invocation.pb-c.h"
 *   #include "dapr/proto/runtime/v1/appcallback.pb-c.h"
 * Names follow protoc-c: Dapr__Proto__Internals__V1__InternalInvokeRequest, its _init() /
 * _INIT, and dapr__proto__internals__v1__internal_invoke_request__descriptor.
 *
 * Decoding with pb_unpack() places the whole message tree (strings, bytes, repeated arrays,
 * map entries) in the request's pool, so nothing needs protobuf_c_message_free_unpacked(): it
 * all goes when the pool is destroyed. Strings and bytes are copied out of the input, so the
 * input buffer may be released as soon as pb_unpack() returns. Everything here runs on the
 * calling thread and touches only the pool given (a pool belongs to one thread at a time).
 *
 * Proto3 note: Go's protobuf (daprd) rejects string fields that are not valid UTF-8, both when
 * it sends and when it receives; protobuf-c checks neither. A string put into a message bound
 * for daprd must be valid UTF-8, and a char * string field cannot carry a NUL byte.
 */
#ifndef PB_PB_H
#define PB_PB_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "base/pool.h"

/* An allocator whose alloc() takes memory from `pool` and whose free() does nothing (the pool
 * frees everything at once). The struct is a value holding `pool`; it stays usable while the
 * pool lives. Allocation failure makes protobuf-c's call fail cleanly (it returns NULL). */
ProtobufCAllocator pb_pool_allocator(base_pool_t *pool);

/* Decodes `len` bytes as a message of type `desc`, allocating from `pool`. Returns the message
 * (cast it to the generated type), or NULL when the bytes are not a valid encoding of `desc`
 * or the pool is out of memory; on NULL, whatever was allocated stays in the pool until it is
 * destroyed. data may be NULL when len is 0. */
ProtobufCMessage *pb_unpack(const ProtobufCMessageDescriptor *desc, base_pool_t *pool,
                            const uint8_t *data, size_t len);

/* Encodes `msg` into a buffer taken from `pool`, with `headroom` spare bytes reserved before
 * the encoding (for example 5 for the gRPC message prefix the caller writes itself). Returns
 * the start of the buffer (headroom included) and stores the encoded length, without the
 * headroom, in *len; returns NULL when the pool is out of memory. */
uint8_t *pb_pack(const ProtobufCMessage *msg, base_pool_t *pool, size_t headroom, size_t *len);

#endif
