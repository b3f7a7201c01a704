/* Choosing the resolver and validating its configuration (resolve_new only: nothing is
 * opened). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support.h"

static void expect_error(tcfg_t *t, const char *needle)
{
    char err[256] = "";
    resolve_t *r = resolve_new(&t->cfg, err, sizeof(err));
    if (r) {
        resolve_free(r);
        fail_msg("expected an error containing \"%s\"", needle);
    }
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    assert_null(strchr(err, '\n'));
}

static resolve_t *expect_ok(tcfg_t *t)
{
    char err[256] = "";
    resolve_t *r = resolve_new(&t->cfg, err, sizeof(err));
    if (!r)
        fail_msg("resolve_new: %s", err);
    return r;
}

static void test_component_choice(void **state)
{
    (void)state;
    tcfg_t t;
    tcfg_init(&t, NULL, "a", 50010);
    tcfg_set(&t, "connectionString", "/tmp/x.db");
    resolve_t *r = expect_ok(&t);
    assert_string_equal(resolve_component(r), "sqlite"); /* standalone default */
    resolve_free(r);

    tcfg_init(&t, NULL, "a", 50010);
    t.cfg.mode = CONFIG_MODE_KUBERNETES;
    r = expect_ok(&t);
    assert_string_equal(resolve_component(r), "kubernetes");
    resolve_free(r);

    tcfg_init(&t, "mdns", "a", 50010);
    expect_error(&t, "name resolution component \"mdns\" is not supported by Remora");
    tcfg_init(&t, "consul", "a", 50010);
    expect_error(&t, "\"consul\" is not supported by Remora");
    tcfg_init(&t, "sqlite", "a", 50010);
    t.cfg.spec.nr_version = "v2";
    expect_error(&t, "sqlite/v2");
}

static void sqlite_case(const char *key, const char *value, const char *needle)
{
    tcfg_t t;
    tcfg_init(&t, "sqlite", "a", 50010);
    tcfg_set(&t, "connectionString", "/tmp/x.db");
    tcfg_set(&t, key, value);
    if (needle) {
        expect_error(&t, needle);
    } else {
        resolve_t *r = expect_ok(&t);
        resolve_free(r);
    }
}

/* daprd's checks (components-contrib sqlite_metadata.go, common/authentication/sqlite). */
static void test_sqlite_values(void **state)
{
    (void)state;
    sqlite_case("timeout", "500ms", "must be greater than 1s");
    sqlite_case("timeoutInSeconds", "2", NULL);
    sqlite_case("updateInterval", "5500ms", "fractions of seconds");
    sqlite_case("updateInterval", "1s", "at least 1s greater than timeout");
    sqlite_case("updateInterval", "2s", NULL);
    sqlite_case("updateInterval", "1m", NULL);
    sqlite_case("updateInterval", "90", NULL);
    sqlite_case("updateInterval", "soon", "invalid value for 'updateInterval'");
    sqlite_case("updateinterval", "1s", "at least 1s"); /* keys match case-insensitively */
    sqlite_case("cleanupInterval", "1h2m3.5s", NULL);
    sqlite_case("cleanupInterval", "0", NULL);
    sqlite_case("cleanupInterval", "-1s", NULL);
    sqlite_case("cleanupIntervalInSeconds", "10x", "invalid value for 'cleanupInterval'");
    sqlite_case("busyTimeout", "1.5s", NULL);
    sqlite_case("busyTimeout", "1.5", "invalid value for 'busyTimeout'");
    sqlite_case("disableWAL", "yes", NULL);
    sqlite_case("tableName", "bad-name", "invalid identifier for table name: bad-name");
    sqlite_case("metadataTableName", "x;DROP", "invalid identifier for metadata table name");
    sqlite_case("tableName", "my_hosts2", NULL);

    tcfg_t t;
    tcfg_init(&t, "sqlite", "a", 50010);
    tcfg_set(&t, "url", "/tmp/x.db?_pragma=busy_timeout(10)");
    expect_error(&t, "forbidden option '_pragma=busy_timeout'");
}

/* The registered host: the loopback listen address as is, else $DAPR_HOST_IP. */
static void test_self_address(void **state)
{
    (void)state;
    tcfg_t t;
    tcfg_init(&t, "sqlite", "a", 50010);
    tcfg_set(&t, "connectionString", "/tmp/x.db");
    t.cfg.internal_grpc_listen_address = "[::1]";
    resolve_t *r = expect_ok(&t);
    assert_string_equal(resolve_self_address(r), "[::1]:50010");
    resolve_free(r);

    t.cfg.internal_grpc_listen_address = "localhost";
    r = expect_ok(&t);
    assert_string_equal(resolve_self_address(r), "localhost:50010");
    resolve_free(r);

    setenv("DAPR_HOST_IP", "10.1.2.3", 1);
    t.cfg.internal_grpc_listen_address = "";
    r = expect_ok(&t);
    assert_string_equal(resolve_self_address(r), "10.1.2.3:50010");
    resolve_free(r);
    unsetenv("DAPR_HOST_IP");

    t.cfg.internal_grpc_listen_address = "0.0.0.0";
    r = expect_ok(&t);
    const char *a = resolve_self_address(r);
    assert_non_null(strstr(a, ":50010"));
    assert_null(strstr(a, "0.0.0.0"));
    resolve_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_component_choice),
        cmocka_unit_test(test_sqlite_values),
        cmocka_unit_test(test_self_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
