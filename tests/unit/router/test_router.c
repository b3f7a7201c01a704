#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "router/router.h"

static void check_clean(base_pool_t *p, const char *in, const char *want)
{
    base_slice_t r = router_path_clean(p, base_slice_cstr(in));
    if (!base_slice_eq(r, base_slice_cstr(want)))
        fail_msg("clean(%s) = %.*s, want %s", in, (int)r.len, r.base, want);
}

static void test_path_clean(void **state)
{
    (void)state;
    base_pool_t *p = base_pool_create(0);
    check_clean(p, "", "/");
    check_clean(p, "/", "/");
    check_clean(p, "//a//b", "/a/b");
    check_clean(p, "/a/./b/", "/a/b");
    check_clean(p, "/a/b/../c", "/a/c");
    check_clean(p, "/../../a", "/a");
    check_clean(p, "/a/..", "/");
    check_clean(p, "/v1.0/healthz/", "/v1.0/healthz");
    check_clean(p, "/v1.0/healthz/../invoke/x", "/v1.0/invoke/x");
    check_clean(p, "/a/...", "/a/...");
    check_clean(p, "/.a/b.", "/.a/b.");
    base_pool_destroy(p);
}

static const router_route_t routes[] = {
    { "GET", "/v1.0/healthz", 1 },
    { "PUT", "/v1.0/metadata/{key}", 2 },
    { NULL, "/v1.0/invoke/{id}/method/{method...}", 3 },
};

static void test_match(void **state)
{
    (void)state;
    router_params_t p;
    const router_route_t *r = router_match(routes, 3, base_slice_cstr("GET"), base_slice_cstr("/v1.0/healthz"), &p);
    assert_non_null(r);
    assert_int_equal(r->id, 1);
    assert_null(router_match(routes, 3, base_slice_cstr("POST"), base_slice_cstr("/v1.0/healthz"), &p));
    assert_non_null(router_match(routes, 3, base_slice_cstr("HEAD"), base_slice_cstr("/v1.0/healthz"), &p));
    assert_null(router_match(routes, 3, base_slice_cstr("HEAD"), base_slice_cstr("/v1.0/metadata/x"), &p));
    assert_null(router_match(routes, 3, base_slice_cstr("GET"), base_slice_cstr("/v1.0/healthzz"), &p));
    r = router_match(routes, 3, base_slice_cstr("PUT"), base_slice_cstr("/v1.0/metadata/cliPID"), &p);
    assert_non_null(r);
    assert_true(base_slice_eq(router_param(&p, "key"), base_slice_cstr("cliPID")));
    assert_null(router_match(routes, 3, base_slice_cstr("PUT"), base_slice_cstr("/v1.0/metadata/"), &p));
    assert_null(router_match(routes, 3, base_slice_cstr("PUT"), base_slice_cstr("/v1.0/metadata/a/b"), &p));
    r = router_match(routes, 3, base_slice_cstr("DELETE"), base_slice_cstr("/v1.0/invoke/app/method/a/b/c"), &p);
    assert_non_null(r);
    assert_int_equal(r->id, 3);
    assert_true(base_slice_eq(router_param(&p, "id"), base_slice_cstr("app")));
    assert_true(base_slice_eq(router_param(&p, "method"), base_slice_cstr("a/b/c")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_clean),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
