/* Method normalisation: the cases of the 2026 ACL-bypass advisory and daprd's own tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "messaging/method.h"

static void ok(base_pool_t *p, const char *in, int decode, const char *want)
{
    base_slice_t out;
    const char *why = NULL;
    if (msg_method_normalize(p, base_slice_cstr(in), decode, &out, &why) != 0)
        fail_msg("normalize(%s) failed: %s", in, why);
    if (!base_slice_eq(out, base_slice_cstr(want)))
        fail_msg("normalize(%s) = %.*s, want %s", in, (int)out.len, out.base, want);
}

static void bad(base_pool_t *p, const char *in, int decode)
{
    base_slice_t out;
    const char *why = NULL;
    if (msg_method_normalize(p, base_slice_cstr(in), decode, &out, &why) == 0)
        fail_msg("normalize(%s) accepted as %.*s", in, (int)out.len, out.base);
    assert_non_null(why);
}

static void test_normalize(void **state)
{
    (void)state;
    base_pool_t *p = base_pool_create(0);
    ok(p, "orders/new", 1, "orders/new");
    ok(p, "admin/../public", 1, "public");
    ok(p, "admin%2F..%2Fpublic", 1, "public");
    ok(p, "admin%2F..%2Fpublic", 0, "admin%2F..%2Fpublic"); /* gRPC: percent is literal */
    ok(p, "../../etc/passwd", 1, "etc/passwd");
    ok(p, "a//b/./c/", 1, "a/b/c");
    ok(p, ".", 1, "");
    ok(p, "..", 1, "");
    ok(p, "", 1, "");
    ok(p, "/lead", 1, "lead");
    ok(p, "caf%C3%A9", 1, "caf\xc3\xa9");
    bad(p, "a%23b", 1);
    bad(p, "a%3Fb", 1);
    bad(p, "a#b", 0);
    bad(p, "a?b", 0);
    bad(p, "a%00b", 1);
    bad(p, "a%1fb", 1);
    bad(p, "a%7Fb", 1);
    bad(p, "100%", 1);
    bad(p, "%zz", 1);
    bad(p, "%4", 1);
    base_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_normalize) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
