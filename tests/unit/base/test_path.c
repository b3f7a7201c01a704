/* base_path_clean against the table of Go's path.Clean tests (path/path_test.go cases). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/path.h"

static const struct { const char *in, *want; } cases[] = {
    { "", "." },           { "abc", "abc" },       { "abc/def", "abc/def" }, { "a/b/c", "a/b/c" },
    { ".", "." },          { "..", ".." },         { "../..", "../.." },     { "../../abc", "../../abc" },
    { "/abc", "/abc" },    { "/", "/" },           { "abc/", "abc" },        { "abc/def/", "abc/def" },
    { "/abc/", "/abc" },   { "abc//def//ghi", "abc/def/ghi" },              { "//abc", "/abc" },
    { "abc//", "abc" },    { "abc/./def", "abc/def" },                      { "/./abc/def", "/abc/def" },
    { "abc/.", "abc" },    { "abc/def/ghi/../jkl", "abc/def/jkl" },         { "abc/def/../ghi/../jkl", "abc/jkl" },
    { "abc/def/..", "abc" }, { "abc/def/../..", "." },                      { "/abc/def/../..", "/" },
    { "abc/def/../../..", ".." },                   { "/abc/def/../../..", "/" },
    { "abc/def/../../../ghi/jkl/../../../mno", "../../mno" },               { "abc/./../def", "def" },
    { "abc//./../def", "def" }, { "abc/../../././../def", "../../def" },     { "a/../../b", "../b" },
    { "admin/../public", "public" }, { "../admin", "../admin" },
};

static void test_go_table(void **state)
{
    (void)state;
    base_pool_t *pool = base_pool_create(0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        base_slice_t got = base_path_clean(pool, base_slice_cstr(cases[i].in));
        if (!base_slice_eq(got, base_slice_cstr(cases[i].want)))
            fail_msg("clean(\"%s\") = \"%.*s\", want \"%s\"", cases[i].in, (int)got.len, got.base, cases[i].want);
    }
    base_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_go_table) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
