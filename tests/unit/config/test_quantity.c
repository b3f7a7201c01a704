/* test_quantity.c - config_parse_quantity against Kubernetes resource quantity semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"

typedef struct qcase {
    const char *text;
    int ok;
    int64_t bytes;
} qcase_t;

static const qcase_t valid[] = {
    { "4Mi", 1, 4194304 },
    { "4M", 1, 4000000 },
    { "512Ki", 1, 524288 },
    { "1k", 1, 1000 },
    { "1.5Mi", 1, 1572864 },
    { "100", 1, 100 },
    { "0", 1, 0 },
    { "00012", 1, 12 },
    { "+5", 1, 5 },
    { "-1", 1, -1 },
    { "-4Ki", 1, -4096 },
    { "1Gi", 1, 1073741824 },
    { "1G", 1, 1000000000 },
    { "2Ti", 1, 2199023255552LL },
    { "3T", 1, 3000000000000LL },
    { "1Pi", 1, 1125899906842624LL },
    { "2P", 1, 2000000000000000LL },
    { "1Ei", 1, 1152921504606846976LL },
    { "7Ei", 1, 8070450532247928832LL },
    { "9E", 1, 9000000000000000000LL },
    { "4e6", 1, 4000000 },
    { "4E6", 1, 4000000 },
    { "1e3", 1, 1000 },
    { "1e+3", 1, 1000 },
    { "1.5e3", 1, 1500 },
    { "25e-1", 1, 3 },       /* 2.5 rounds up */
    { "0.5", 1, 1 },         /* Quantity.Value() rounds up */
    { "1.5", 1, 2 },
    { "500m", 1, 1 },
    { "1500m", 1, 2 },
    { "2000m", 1, 2 },
    { "1000000u", 1, 1 },
    { "1000000000n", 1, 1 },
    { "0.1Ki", 1, 103 },     /* 102.4 */
    { ".5Ki", 1, 512 },
    { "1.", 1, 1 },
    { "1.G", 1, 1000000000 },
    { "0.000000000000000000000000000000000000000001", 1, 1 },
    { "0Ei", 1, 0 },
    { "9223372036854775807", 1, INT64_MAX },
    { "12345678901234567890123u", 1, 12345678901234568LL }, /* 19 kept digits + rounding */
    { "1.0000000000000000000001k", 1, 1001 },
};

static const char *const invalid[] = {
    "", "abc", "Mi", "4Mb", "4mi", "4ki", "4K", "4 Mi", " 4Mi", "4Mi ", "1e", "1e+", "1E+x",
    "--1", "+-1", "1.2.3", "1e3Mi", "0x10", "-", "+", ".", "4Mii", "4i", "1..5",
    "8Ei",                 /* 2^63: one past INT64_MAX */
    "10E",
    "9223372036854775808",
    "123456789012345678901234567890",
    "1e19",
    "1e100000000000",
};

static void test_valid_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        int64_t v = 12345;
        int rc = config_parse_quantity(valid[i].text, &v);
        if (rc != 0 || v != valid[i].bytes)
            fail_msg("quantity \"%s\": rc %d value %lld, want %lld", valid[i].text, rc,
                     (long long)v, (long long)valid[i].bytes);
    }
}

static void test_invalid_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        int64_t v = 777;
        if (config_parse_quantity(invalid[i], &v) != -1)
            fail_msg("quantity \"%s\" accepted as %lld", invalid[i], (long long)v);
        assert_int_equal(v, 777); /* untouched on error */
    }
}

static void test_null(void **state)
{
    (void)state;
    int64_t v = 1;
    assert_int_equal(config_parse_quantity(NULL, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_table),
        cmocka_unit_test(test_invalid_table),
        cmocka_unit_test(test_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
