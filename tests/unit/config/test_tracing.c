/* test_tracing.c - spec.tracing's exporter settings: otel.headers and otel.timeout in the
 * YAML, the OTEL_EXPORTER_OTLP_* environment variables, and the checks made after both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "support.h"

#define ERRLEN 512

static const char *const otel_vars[] = {
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof otel_vars / sizeof otel_vars[0]; i++)
        unsetenv(otel_vars[i]);
    return 0;
}

/* Loads with one --config file holding text (NULL: no --config). */
static int load(config_t *c, const char *text, char *err)
{
    if (!text)
        return load_args(c, err, ERRLEN, "--app-id", "me", NULL);
    char *path = tmp_write(NULL, ".yaml", text);
    assert_non_null(path);
    int rc = load_args(c, err, ERRLEN, "--app-id", "me", "--config", path, NULL);
    tmp_file_remove(path);
    return rc;
}

static void load_ok(config_t *c, const char *text)
{
    char err[ERRLEN] = "";
    if (load(c, text, err) != CONFIG_EXIT_OK)
        fail_msg("load failed: %s", err);
}

static void load_fails(const char *text, const char *what)
{
    config_t c;
    char err[ERRLEN] = "";
    if (load(&c, text, err) != CONFIG_EXIT_USAGE)
        fail_msg("expected failure \"%s\"", what);
    if (!strstr(err, what))
        fail_msg("error \"%s\" does not contain \"%s\"", err, what);
}

static void assert_header(const config_t *c, size_t i, const char *name, const char *value)
{
    assert_true(i < c->spec.otel_header_count);
    assert_string_equal(c->spec.otel_headers[i].name, name);
    assert_string_equal(c->spec.otel_headers[i].value, value);
}

static void test_yaml_headers_and_timeout(void **state)
{
    (void)state;
    config_t c;
    load_ok(&c, "spec:\n  tracing:\n    otel:\n      endpointAddress: collector:4318\n      protocol: http\n"
                "      isSecure: false\n      timeout: 2500ms\n      headers:\n"
                "        - name: x-api-key\n          value: secret\n"
                "        - name: x-num\n          value: 42\n"
                "        - name: x-empty\n");
    assert_string_equal(c.spec.otel_endpoint, "collector:4318");
    assert_string_equal(c.spec.otel_protocol, "http");
    assert_int_equal(c.spec.otel_is_secure, 0);
    assert_int_equal(c.spec.otel_timeout_ms, 2500);
    assert_int_equal(c.spec.otel_header_count, 3);
    assert_header(&c, 0, "x-api-key", "secret");
    assert_header(&c, 1, "x-num", "42");
    assert_header(&c, 2, "x-empty", "");
    assert_true(c.spec.sampling_rate == 1e-4); /* not set: the default */
    assert_int_equal(c.spec.sampling_rate_set, 0);
    config_free(&c);

    /* the mapping form */
    load_ok(&c, "spec:\n  tracing:\n    samplingRate: '0.5'\n    otel:\n      timeout: 1m\n"
                "      headers:\n        a: b\n        c: ~\n");
    assert_int_equal(c.spec.otel_header_count, 2);
    assert_header(&c, 0, "a", "b");
    assert_header(&c, 1, "c", "");
    assert_int_equal(c.spec.otel_timeout_ms, 60000);
    assert_int_equal(c.spec.sampling_rate_set, 1);
    config_free(&c);

    /* defaults */
    load_ok(&c, NULL);
    assert_int_equal(c.spec.otel_header_count, 0);
    assert_int_equal(c.spec.otel_timeout_ms, 0);
    assert_int_equal(c.spec.otel_is_secure, 1);
    assert_null(c.spec.otel_endpoint);
    config_free(&c);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    load_fails("spec:\n  tracing:\n    otel:\n      timeout: 5000\n", "spec.tracing.otel.timeout: expected a duration");
    load_fails("spec:\n  tracing:\n    otel:\n      timeout: soon\n", "spec.tracing.otel.timeout");
    load_fails("spec:\n  tracing:\n    otel:\n      headers: x\n", "spec.tracing.otel.headers");
    load_fails("spec:\n  tracing:\n    otel:\n      headers:\n        - value: v\n", "a header needs a name");
    load_fails("spec:\n  tracing:\n    otel:\n      headers:\n        - x\n", "spec.tracing.otel.headers[0]");
    load_fails("spec:\n  tracing:\n    otel:\n      headers:\n        - name: 'a b'\n          value: v\n",
               "spec.tracing.otel.headers: invalid header a b");
    load_fails("spec:\n  tracing:\n    otel:\n      headers:\n        - name: a\n          value: \"v\\r\\nX: y\"\n",
               "control character");
    /* the protocol is the exporter's business (an unknown one turns OTLP off there) */
    config_t c;
    load_ok(&c, "spec:\n  tracing:\n    otel:\n      endpointAddress: c:4317\n      protocol: udp\n");
    assert_string_equal(c.spec.otel_protocol, "udp");
    config_free(&c);
}

static void test_env_endpoint(void **state)
{
    (void)state;
    config_t c;
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
    load_ok(&c, NULL);
    assert_string_equal(c.spec.otel_endpoint, "collector:4318");
    assert_string_equal(c.spec.otel_protocol, "http");
    assert_int_equal(c.spec.otel_is_secure, 0); /* "http://" */
    assert_true(c.spec.sampling_rate == 1.0);   /* samplingRate not set: 1 */
    config_free(&c);

    /* the traces-specific variables win; no scheme and no INSECURE: secure; default grpc */
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "traces:4317", 1);
    unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
    load_ok(&c, "spec:\n  tracing:\n    samplingRate: '0.25'\n");
    assert_string_equal(c.spec.otel_endpoint, "traces:4317");
    assert_string_equal(c.spec.otel_protocol, "grpc");
    assert_int_equal(c.spec.otel_is_secure, 1);
    assert_true(c.spec.sampling_rate == 0.25);
    config_free(&c);

    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
    setenv("OTEL_EXPORTER_OTLP_INSECURE", "true", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces:4318", 1);
    load_ok(&c, NULL);
    assert_string_equal(c.spec.otel_endpoint, "traces:4318");
    assert_string_equal(c.spec.otel_protocol, "http");
    assert_int_equal(c.spec.otel_is_secure, 0);
    config_free(&c);

    /* an endpoint from the file: the environment is not read at all */
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=b", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "x", 1);
    load_ok(&c, "spec:\n  tracing:\n    otel:\n      endpointAddress: file:4318\n      protocol: http\n");
    assert_string_equal(c.spec.otel_endpoint, "file:4318");
    assert_int_equal(c.spec.otel_is_secure, 1);
    assert_int_equal(c.spec.otel_header_count, 0);
    config_free(&c);
}

static void test_env_headers_and_timeout(void **state)
{
    (void)state;
    config_t c;
    setenv("OTEL_EXPORTER_OTLP_HEADERS", " api-key = se%20cret ,x=1", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "250", 1);
    load_ok(&c, NULL);
    assert_null(c.spec.otel_endpoint);
    assert_int_equal(c.spec.otel_header_count, 2);
    assert_header(&c, 0, "api-key", "se cret");
    assert_header(&c, 1, "x", "1");
    assert_int_equal(c.spec.otel_timeout_ms, 250);
    config_free(&c);

    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "t=%41", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-5", 1); /* 0 or less: ignored */
    load_ok(&c, "spec:\n  tracing:\n    otel:\n      headers:\n        - name: y\n          value: z\n");
    assert_int_equal(c.spec.otel_header_count, 2); /* the file's, then the environment's */
    assert_header(&c, 0, "y", "z");
    assert_header(&c, 1, "t", "A");
    assert_int_equal(c.spec.otel_timeout_ms, 0);
    config_free(&c);

    unsetenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT");
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=b,novalue", 1);
    load_fails(NULL, "OTEL_EXPORTER_OTLP_HEADERS: missing '='");
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "a b=c", 1);
    load_fails(NULL, "invalid header key");
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=%zz", 1);
    load_fails(NULL, "invalid escape");
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=x%0d%0ay", 1);
    load_fails(NULL, "control character");
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", 1);
    load_fails(NULL, "OTEL_EXPORTER_OTLP_TIMEOUT: invalid number");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_yaml_headers_and_timeout, clear_env),
        cmocka_unit_test_setup(test_yaml_errors, clear_env),
        cmocka_unit_test_setup(test_env_endpoint, clear_env),
        cmocka_unit_test_setup(test_env_headers_and_timeout, clear_env),
    };
    return cmocka_run_group_tests(tests, clear_env, NULL);
}
