/* Header/metadata mapping and status tables shared by the caller and callee sidecars. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "messaging/messaging.h"
#include "pb/pb.h"

static void test_canonical_key(void **state)
{
    (void)state;
    base_pool_t *p = base_pool_create(0);
    static const struct { const char *in, *want; } cases[] = {
        { "content-type", "Content-Type" }, { "X-MY-HEADER", "X-My-Header" }, { "dapr-app-id", "Dapr-App-Id" },
        { "a", "A" }, { "-x-", "-X-" }, { "bad key", "bad key" }, { "ünicode", "ünicode" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        base_slice_t got = msg_canonical_key(p, base_slice_cstr(cases[i].in));
        if (!base_slice_eq(got, base_slice_cstr(cases[i].want)))
            fail_msg("canonical(%s) = %.*s, want %s", cases[i].in, (int)got.len, got.base, cases[i].want);
    }
    base_pool_destroy(p);
}

static void test_status_table(void **state)
{
    (void)state;
    static const int want[] = { 200, 408, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401 };
    for (int i = 0; i < 17; i++)
        assert_int_equal(msg_http_status_from_grpc(i), want[i]);
    assert_int_equal(msg_http_status_from_grpc(99), 500);
    assert_string_equal(msg_grpc_code_name(14), "Unavailable");
    assert_string_equal(msg_grpc_code_name(8), "ResourceExhausted");
    assert_string_equal(msg_grpc_code_name(42), "Unknown");
    assert_int_equal(msg_http_status_from_grpc(-1), 500);
}

static int skip_token(base_slice_t n)
{
    return base_slice_ieq_cstr(n, "dapr-api-token") || msg_is_hop_by_hop(n);
}

static void test_metadata_round_trip(void **state)
{
    (void)state;
    base_pool_t *p = base_pool_create(0);
    http_headers_t h = { 0 };
    http_headers_add(&h, p, BASE_SLICE_LIT("set-cookie"), BASE_SLICE_LIT("a=1"));
    http_headers_add(&h, p, BASE_SLICE_LIT("Content-Type"), BASE_SLICE_LIT("text/plain"));
    http_headers_add(&h, p, BASE_SLICE_LIT("Set-Cookie"), BASE_SLICE_LIT("b=2"));
    http_headers_add(&h, p, BASE_SLICE_LIT("connection"), BASE_SLICE_LIT("keep-alive"));
    http_headers_add(&h, p, BASE_SLICE_LIT("dapr-api-token"), BASE_SLICE_LIT("secret"));
    msg_md_entry_t **md = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(msg_metadata_from_headers(p, &h, skip_token, &md, &n, &cap), 0);
    assert_int_equal(n, 2);
    assert_string_equal(md[0]->key, "Set-Cookie");
    assert_int_equal(md[0]->value->n_values, 2);
    assert_string_equal(md[0]->value->values[1], "b=2");
    assert_int_equal(msg_metadata_put(p, &md, &n, &cap, "dapr-caller-app-id", BASE_SLICE_LIT("a"), 0), 0);
    assert_int_equal(msg_metadata_put(p, &md, &n, &cap, "dapr-caller-app-id", BASE_SLICE_LIT("b"), 0), 0);
    assert_int_equal(n, 3);
    assert_int_equal(md[2]->value->n_values, 1);
    assert_string_equal(md[2]->value->values[0], "b");

    /* through the wire and back */
    Dapr__Proto__Internals__V1__InternalInvokeRequest req = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_REQUEST__INIT;
    req.metadata = md;
    req.n_metadata = n;
    size_t len = dapr__proto__internals__v1__internal_invoke_request__get_packed_size(&req);
    uint8_t *buf = base_pool_alloc(p, len);
    dapr__proto__internals__v1__internal_invoke_request__pack(&req, buf);
    ProtobufCAllocator pa = pb_pool_allocator(p);
    Dapr__Proto__Internals__V1__InternalInvokeRequest *back =
        dapr__proto__internals__v1__internal_invoke_request__unpack(&pa, len, buf);
    assert_non_null(back);
    http_headers_t out = { 0 };
    assert_int_equal(msg_headers_from_metadata(p, back->metadata, back->n_metadata, &out), 0);
    assert_int_equal(out.len, 4);
    assert_int_equal(http_headers_count(&out, "set-cookie"), 2);
    assert_true(base_slice_eq(*http_headers_get(&out, "dapr-caller-app-id"), BASE_SLICE_LIT("b")));
    base_pool_destroy(p);
}

static void test_repeated_key_last_wins(void **state)
{
    (void)state;
    base_pool_t *p = base_pool_create(0);
    msg_md_entry_t **md = NULL;
    size_t n = 0, cap = 0;
    /* two entries of one key, as a peer may put on the wire */
    assert_int_equal(msg_metadata_put(p, &md, &n, &cap, "K", BASE_SLICE_LIT("first"), 0), 0);
    msg_md_entry_t **two = base_pool_alloc(p, 2 * sizeof(*two));
    msg_md_entry_t *dup = base_pool_alloc(p, sizeof(*dup));
    *dup = *md[0];
    Dapr__Proto__Internals__V1__ListStringValue *l = base_pool_alloc(p, sizeof(*l));
    dapr__proto__internals__v1__list_string_value__init(l);
    char **vals = base_pool_alloc(p, sizeof(char *));
    vals[0] = (char *)"second";
    l->values = vals;
    l->n_values = 1;
    dup->value = l;
    two[0] = md[0];
    two[1] = dup;
    http_headers_t out = { 0 };
    assert_int_equal(msg_headers_from_metadata(p, two, 2, &out), 0);
    assert_int_equal(out.len, 1);
    assert_true(base_slice_eq(out.items[0].value, BASE_SLICE_LIT("second")));
    base_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_key),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_metadata_round_trip),
        cmocka_unit_test(test_repeated_key_last_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
