/* test_pb.c - the pool allocator and pack/unpack helpers over the generated Dapr messages.
 * Nothing here calls protobuf_c_message_free_unpacked(): under LeakSanitizer that proves the
 * decoded tree lives in the pool only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dapr/proto/internals/v1/service_invocation.pb-c.h"
#include "dapr/proto/runtime/v1/appcallback.pb-c.h"
#include "pb/pb.h"

typedef Dapr__Proto__Internals__V1__InternalInvokeRequest req_t;
typedef Dapr__Proto__Internals__V1__InternalInvokeRequest__MetadataEntry entry_t;
typedef Dapr__Proto__Internals__V1__ListStringValue list_t;
typedef Dapr__Proto__Internals__V1__InternalInvokeRequestStream req_stream_t;
typedef Dapr__Proto__Common__V1__InvokeRequest invoke_t;
typedef Dapr__Proto__Common__V1__HTTPExtension ext_t;
typedef Dapr__Proto__Common__V1__StreamPayload payload_t;

#define REQ_DESC (&dapr__proto__internals__v1__internal_invoke_request__descriptor)
#define STREAM_DESC (&dapr__proto__internals__v1__internal_invoke_request_stream__descriptor)

static const uint8_t BODY[] = { 'a', 0x00, 0xff, 0x00, 'z' };

/* A request with two metadata keys (one multi-valued), a body with NUL bytes and an HTTP
 * extension; encoded with the malloc allocator into a heap buffer the caller frees. */
static uint8_t *sample_request(size_t *len)
{
    char *ct_values[] = { "text/plain", "x-second" };
    char *ua_values[] = { "t\xc3\xa9st/1.0" };
    list_t ct = DAPR__PROTO__INTERNALS__V1__LIST_STRING_VALUE__INIT;
    list_t ua = DAPR__PROTO__INTERNALS__V1__LIST_STRING_VALUE__INIT;
    ct.n_values = 2;
    ct.values = ct_values;
    ua.n_values = 1;
    ua.values = ua_values;
    entry_t e1 = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_REQUEST__METADATA_ENTRY__INIT;
    entry_t e2 = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_REQUEST__METADATA_ENTRY__INIT;
    e1.key = "Content-Type";
    e1.value = &ct;
    e2.key = "User-Agent";
    e2.value = &ua;
    entry_t *entries[] = { &e1, &e2 };

    Google__Protobuf__Any data = GOOGLE__PROTOBUF__ANY__INIT;
    data.value.data = (uint8_t *)BODY;
    data.value.len = sizeof(BODY);
    ext_t ext = DAPR__PROTO__COMMON__V1__HTTPEXTENSION__INIT;
    ext.verb = DAPR__PROTO__COMMON__V1__HTTPEXTENSION__VERB__PATCH;
    ext.querystring = "a=1&b=2";
    invoke_t msg = DAPR__PROTO__COMMON__V1__INVOKE_REQUEST__INIT;
    msg.method = "orders/new";
    msg.data = &data;
    msg.content_type = "text/plain";
    msg.http_extension = &ext;

    req_t req = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_REQUEST__INIT;
    req.ver = DAPR__PROTO__INTERNALS__V1__APIVERSION__V1;
    req.n_metadata = 2;
    req.metadata = entries;
    req.message = &msg;

    *len = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(&req.base, buf), *len);
    return buf;
}

static void check_request(const req_t *r)
{
    assert_int_equal(r->ver, DAPR__PROTO__INTERNALS__V1__APIVERSION__V1);
    assert_int_equal(r->n_metadata, 2);
    assert_string_equal(r->metadata[0]->key, "Content-Type");
    assert_int_equal(r->metadata[0]->value->n_values, 2);
    assert_string_equal(r->metadata[0]->value->values[0], "text/plain");
    assert_string_equal(r->metadata[0]->value->values[1], "x-second");
    assert_string_equal(r->metadata[1]->key, "User-Agent");
    assert_string_equal(r->metadata[1]->value->values[0], "t\xc3\xa9st/1.0");
    assert_non_null(r->message);
    assert_string_equal(r->message->method, "orders/new");
    assert_string_equal(r->message->content_type, "text/plain");
    assert_non_null(r->message->data);
    assert_string_equal(r->message->data->type_url, "");
    assert_int_equal(r->message->data->value.len, sizeof(BODY));
    assert_memory_equal(r->message->data->value.data, BODY, sizeof(BODY));
    assert_non_null(r->message->http_extension);
    assert_int_equal(r->message->http_extension->verb, DAPR__PROTO__COMMON__V1__HTTPEXTENSION__VERB__PATCH);
    assert_string_equal(r->message->http_extension->querystring, "a=1&b=2");
    assert_null(r->actor);
}

static void test_unpack_into_pool(void **state)
{
    (void)state;
    size_t len;
    uint8_t *wire = sample_request(&len);
    base_pool_t *pool = base_pool_create(0);
    assert_non_null(pool);
    size_t before = base_pool_footprint(pool);
    req_t *r = (req_t *)pb_unpack(REQ_DESC, pool, wire, len);
    /* strings and bytes are copies: the input may go before the message */
    memset(wire, 0x55, len);
    free(wire);
    assert_non_null(r);
    check_request(r);
    assert_true(base_pool_footprint(pool) >= before);
    base_pool_destroy(pool);
}

static void test_pack_into_pool_with_headroom(void **state)
{
    (void)state;
    size_t len;
    uint8_t *wire = sample_request(&len);
    base_pool_t *pool = base_pool_create(256); /* small blocks: big buffers go "large" */
    assert_non_null(pool);
    req_t *r = (req_t *)pb_unpack(REQ_DESC, pool, wire, len);
    assert_non_null(r);
    size_t out_len = 0;
    uint8_t *out = pb_pack(&r->base, pool, 5, &out_len);
    assert_non_null(out);
    assert_int_equal(out_len, len);
    memset(out, 0, 5); /* the headroom is the caller's to write */
    assert_memory_equal(out + 5, wire, len);
    free(wire);
    base_pool_destroy(pool);
}

static void test_unpack_rejects_bad_input(void **state)
{
    (void)state;
    size_t len;
    uint8_t *wire = sample_request(&len);
    base_pool_t *pool = base_pool_create(0);
    assert_non_null(pool);
    /* A prefix that ends on a field boundary is a valid shorter message; the others must
     * fail. None may crash or read past `cut` (ASan watches the heap copy). */
    for (size_t cut = 1; cut < len; cut++) {
        uint8_t *prefix = malloc(cut);
        assert_non_null(prefix);
        memcpy(prefix, wire, cut);
        (void)pb_unpack(REQ_DESC, pool, prefix, cut);
        free(prefix);
    }
    assert_null(pb_unpack(REQ_DESC, pool, wire, len - 1));
    static const uint8_t bad_wire_type[] = { 0x0f, 0x00 }; /* field 1, wire type 7 */
    assert_null(pb_unpack(REQ_DESC, pool, bad_wire_type, sizeof(bad_wire_type)));
    static const uint8_t huge_len[] = { 0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f }; /* message: 4 GiB */
    assert_null(pb_unpack(REQ_DESC, pool, huge_len, sizeof(huge_len)));
    /* the pool stays usable after failures */
    assert_non_null(pb_unpack(REQ_DESC, pool, wire, len));
    free(wire);
    base_pool_destroy(pool);
}

static void test_empty_input_is_default_message(void **state)
{
    (void)state;
    base_pool_t *pool = base_pool_create(0);
    assert_non_null(pool);
    req_t *r = (req_t *)pb_unpack(REQ_DESC, pool, NULL, 0);
    assert_non_null(r);
    assert_int_equal(r->ver, 0);
    assert_int_equal(r->n_metadata, 0);
    assert_null(r->message);
    Dapr__Proto__Runtime__V1__HealthCheckResponse *h = (Dapr__Proto__Runtime__V1__HealthCheckResponse *)
        pb_unpack(&dapr__proto__runtime__v1__health_check_response__descriptor, pool, NULL, 0);
    assert_non_null(h);
    size_t n = 99;
    assert_non_null(pb_pack(&h->base, pool, 0, &n));
    assert_int_equal(n, 0);
    base_pool_destroy(pool);
}

/* A payload that is present but all-default must survive: CallLocalStream's receiver tells
 * "chunk with empty data, seq 0" from "no chunk" by the submessage's presence. */
static void test_empty_payload_keeps_presence_and_large_seq(void **state)
{
    (void)state;
    base_pool_t *pool = base_pool_create(0);
    assert_non_null(pool);
    payload_t p = DAPR__PROTO__COMMON__V1__STREAM_PAYLOAD__INIT;
    req_stream_t s = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_REQUEST_STREAM__INIT;
    s.payload = &p;
    size_t n = 0;
    uint8_t *out = pb_pack(&s.base, pool, 0, &n);
    assert_non_null(out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0x12);
    assert_int_equal(out[1], 0x00);
    req_stream_t *back = (req_stream_t *)pb_unpack(STREAM_DESC, pool, out, n);
    assert_non_null(back);
    assert_null(back->request);
    assert_non_null(back->payload);
    assert_int_equal(back->payload->seq, 0);
    assert_int_equal(back->payload->data.len, 0);

    p.seq = UINT64_MAX;
    out = pb_pack(&s.base, pool, 0, &n);
    assert_non_null(out);
    back = (req_stream_t *)pb_unpack(STREAM_DESC, pool, out, n);
    assert_non_null(back);
    assert_true(back->payload->seq == UINT64_MAX);
    base_pool_destroy(pool);
}

static int fail_after;
static void *failing_malloc(size_t size)
{
    if (fail_after-- <= 0)
        return NULL;
    return malloc(size);
}

/* Every pool block the decoder needs can fail to come: each failure must give NULL, never a
 * crash or a half-built message, and destroying the pool frees what was taken. */
static void test_unpack_survives_allocation_failure(void **state)
{
    (void)state;
    size_t len;
    uint8_t *wire = sample_request(&len);
    const base_allocator_t failing = { failing_malloc, free };
    int succeeded = 0, failures = 0;
    for (int k = 0; k < 64 && !succeeded; k++) {
        base_pool_t *pool = base_pool_create(64); /* tiny blocks: many allocations */
        assert_non_null(pool);
        fail_after = k;
        base_set_allocator(&failing);
        req_t *r = (req_t *)pb_unpack(REQ_DESC, pool, wire, len);
        base_set_allocator(NULL);
        if (r) {
            check_request(r);
            succeeded = 1;
        } else {
            failures++;
        }
        base_pool_destroy(pool);
    }
    assert_true(succeeded);
    assert_true(failures > 0);
    free(wire);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpack_into_pool),
        cmocka_unit_test(test_pack_into_pool_with_headroom),
        cmocka_unit_test(test_unpack_rejects_bad_input),
        cmocka_unit_test(test_empty_input_is_default_message),
        cmocka_unit_test(test_empty_payload_keeps_presence_and_large_seq),
        cmocka_unit_test(test_unpack_survives_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
