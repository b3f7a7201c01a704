#include "pb/pb.h"

static void *pool_alloc(void *data, size_t size)
{
    return base_pool_alloc(data, size);
}

static void pool_free(void *data, void *ptr)
{
    /* Pool memory is released with the pool (base_pool_destroy/reset), never piece by piece. */
    BASE_UNUSED(data);
    BASE_UNUSED(ptr);
}

ProtobufCAllocator pb_pool_allocator(base_pool_t *pool)
{
    return (ProtobufCAllocator){ .alloc = pool_alloc, .free = pool_free, .allocator_data = pool };
}

ProtobufCMessage *pb_unpack(const ProtobufCMessageDescriptor *desc, base_pool_t *pool,
                            const uint8_t *data, size_t len)
{
    static const uint8_t empty[1];
    ProtobufCAllocator a = pb_pool_allocator(pool);
    /* protobuf-c does pointer arithmetic on data even when len is 0, and NULL + 0 is
     * undefined behaviour (UBSan reports it), so an empty input gets a real address. */
    return protobuf_c_message_unpack(desc, &a, len, data ? data : empty);
}

uint8_t *pb_pack(const ProtobufCMessage *msg, base_pool_t *pool, size_t headroom, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > SIZE_MAX - headroom)
        return NULL;
    uint8_t *buf = base_pool_alloc(pool, headroom + n);
    if (!buf)
        return NULL;
    *len = protobuf_c_message_pack(msg, buf + headroom);
    return buf;
}
