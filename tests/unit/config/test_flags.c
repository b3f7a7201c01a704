/* test_flags.c - daprd's command line and environment in config_load(). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "config/config.h"
#include "support.h"

#define ERRLEN 512

static int setup(void **state)
{
    (void)state;
    unsetenv("DAPR_API_TOKEN");
    unsetenv("APP_API_TOKEN");
    unsetenv("NAMESPACE");
    return 0;
}

/* Loads and expects success. */
#define LOAD_OK(cfg, ...)                                                                          \
    do {                                                                                           \
        char err_[ERRLEN] = "";                                                                    \
        int rc_ = load_args((cfg), err_, sizeof(err_), __VA_ARGS__, NULL);                         \
        if (rc_ != CONFIG_EXIT_OK)                                                                 \
            fail_msg("config_load failed (%d): %s", rc_, err_);                                    \
    } while (0)

/* Loads, expects a usage error whose message contains `want`. */
static void expect_usage(const char *want, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "daprd";
    va_list ap;
    va_start(ap, want);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    config_t cfg;
    char err[ERRLEN] = "";
    int rc = config_load(&cfg, argc, argv, err, sizeof(err));
    if (rc != CONFIG_EXIT_USAGE)
        fail_msg("expected a usage error containing \"%s\", got rc %d", want, rc);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
    assert_null(strchr(err, '\n'));
}

static void test_defaults(void **state)
{
    (void)state;
    config_t c;
    LOAD_OK(&c, "--app-id", "a");
    assert_string_equal(c.app_id, "a");
    assert_int_equal(c.mode, CONFIG_MODE_STANDALONE);
    assert_string_equal(c.namespace_, "default");
    assert_int_equal(c.http_port, 3500);
    assert_int_equal(c.grpc_port, 50001);
    assert_int_equal(c.internal_grpc_port, 0);
    assert_string_equal(c.internal_grpc_listen_address, "");
    assert_int_equal(c.listen_address_count, 2);
    assert_string_equal(c.listen_addresses[0], "::1");
    assert_string_equal(c.listen_addresses[1], "127.0.0.1");
    assert_int_equal(c.public_port, 0);
    assert_string_equal(c.public_listen_address, "");
    assert_null(c.unix_domain_socket);
    assert_int_equal(c.app_port, 50001);
    assert_int_equal(c.app_port_set, 0);
    assert_int_equal(c.app_protocol, CONFIG_APP_GRPC);
    assert_string_equal(c.app_channel_address, "127.0.0.1");
    assert_int_equal(c.app_max_concurrency, -1);
    assert_int_equal(c.app_health_check_enabled, 0);
    assert_string_equal(c.app_health_check_path, "/healthz");
    assert_int_equal(c.app_health_probe_interval_s, 5);
    assert_int_equal(c.app_health_probe_timeout_ms, 500);
    assert_int_equal(c.app_health_threshold, 3);
    assert_int_equal(c.max_body_size, 4194304);
    assert_int_equal(c.read_buffer_size, 4096);
    assert_string_equal(c.allowed_origins, "*");
    assert_int_equal(c.enable_metrics, 1);
    assert_int_equal(c.metrics_port, 9090);
    assert_string_equal(c.metrics_listen_address, "0.0.0.0");
    assert_int_equal(c.log_level, BASE_LOG_INFO);
    assert_int_equal(c.log_as_json, 0);
    assert_null(c.log_file);
    assert_int_equal(c.enable_api_logging, -1);
    assert_int_equal(c.graceful_shutdown_seconds, 5);
    assert_null(c.dapr_api_token);
    assert_null(c.app_api_token);
    assert_int_equal(c.config_file_count, 0);
    assert_int_equal(c.resources_path_count, 0);
    assert_true(c.worker_threads >= 1);
    assert_int_equal(c.read_header_timeout_ms, 10000);
    assert_int_equal(c.read_body_timeout_ms, 60000);
    assert_int_equal(c.idle_timeout_ms, 60000);
    assert_int_equal(c.max_connections, 10000);
    /* spec defaults without any --config */
    assert_true(c.spec.sampling_rate == 1e-4);
    assert_int_equal(c.spec.otel_is_secure, 1);
    assert_int_equal(c.spec.metrics_enabled, 1);
    assert_int_equal(c.spec.metrics_increased_cardinality, 1);
    assert_int_equal(c.spec.acl_present, 0);
    assert_int_equal(c.spec.acl_default_allow, -1);
    assert_string_equal(c.spec.acl_trust_domain, "public");
    assert_int_equal(c.spec.api_logging_enabled, -1);
    assert_int_equal(c.component_count, 0);
    config_free(&c);
}

static void test_no_args_at_all(void **state)
{
    (void)state;
    config_t c;
    char err[ERRLEN];
    char *argv[] = { "daprd", NULL };
    assert_int_equal(config_load(&c, 1, argv, err, sizeof(err)), CONFIG_EXIT_OK);
    assert_string_equal(c.app_id, "");
    config_free(&c);
}

static void test_flag_forms(void **state)
{
    (void)state;
    const char *forms[][3] = {
        { "--app-id", "x1", NULL }, { "--app-id=x1", NULL, NULL },
        { "-app-id", "x1", NULL },  { "-app-id=x1", NULL, NULL },
    };
    for (size_t i = 0; i < 4; i++) {
        config_t c;
        LOAD_OK(&c, forms[i][0], forms[i][1]);
        assert_string_equal(c.app_id, "x1");
        config_free(&c);
    }
    /* A value may start with a dash: it belongs to the flag before it. */
    config_t c;
    LOAD_OK(&c, "--app-max-concurrency", "-1", "-dapr-http-port", "3600");
    assert_int_equal(c.app_max_concurrency, -1);
    assert_int_equal(c.http_port, 3600);
    config_free(&c);
    /* "=" splits at the first one only */
    LOAD_OK(&c, "--allowed-origins=https://a.example.com=x");
    assert_string_equal(c.allowed_origins, "https://a.example.com=x");
    config_free(&c);
}

static void test_every_flag(void **state)
{
    (void)state;
    config_t c;
    LOAD_OK(&c, "--app-id", "orders", "--mode", "kubernetes", "--dapr-http-port", "3501",
            "--dapr-grpc-port", "50011", "--dapr-internal-grpc-port", "50022",
            "--dapr-internal-grpc-listen-address", "[::1]", "--dapr-listen-addresses", "0.0.0.0",
            "--dapr-public-port", "3502", "--dapr-public-listen-address", "10.0.0.1",
            "--unix-domain-socket", "/tmp/sock", "--app-port", "8080", "--app-protocol", "http",
            "--app-channel-address", "10.1.1.1", "--app-max-concurrency", "7",
            "--enable-app-health-check", "--app-health-check-path", "/ready",
            "--app-health-probe-interval", "2", "--app-health-probe-timeout", "1500",
            "--app-health-threshold", "4", "--max-body-size", "16Mi", "--read-buffer-size", "8Ki",
            "--allowed-origins", "https://a.example", "--enable-metrics=false",
            "--metrics-port", "9191", "--metrics-listen-address", "127.0.0.1", "--log-level",
            "debug", "--log-as-json", "--log-file", "/tmp/daprd.log", "--enable-api-logging",
            "--dapr-graceful-shutdown-seconds", "12", "--worker-threads", "3",
            "--http-read-header-timeout", "5s", "--http-read-body-timeout", "30",
            "--http-idle-timeout", "2m", "--http-max-connections", "500");
    assert_string_equal(c.app_id, "orders");
    assert_int_equal(c.mode, CONFIG_MODE_KUBERNETES);
    assert_int_equal(c.http_port, 3501);
    assert_int_equal(c.grpc_port, 50011);
    assert_int_equal(c.internal_grpc_port, 50022);
    assert_string_equal(c.internal_grpc_listen_address, "::1");
    assert_int_equal(c.listen_address_count, 1);
    assert_string_equal(c.listen_addresses[0], "0.0.0.0");
    assert_int_equal(c.public_port, 3502);
    assert_string_equal(c.public_listen_address, "10.0.0.1");
    assert_string_equal(c.unix_domain_socket, "/tmp/sock");
    assert_int_equal(c.app_port, 8080);
    assert_int_equal(c.app_port_set, 1);
    assert_int_equal(c.app_protocol, CONFIG_APP_HTTP);
    assert_string_equal(c.app_channel_address, "10.1.1.1");
    assert_int_equal(c.app_max_concurrency, 7);
    assert_int_equal(c.app_health_check_enabled, 1);
    assert_string_equal(c.app_health_check_path, "/ready");
    assert_int_equal(c.app_health_probe_interval_s, 2);
    assert_int_equal(c.app_health_probe_timeout_ms, 1500);
    assert_int_equal(c.app_health_threshold, 4);
    assert_int_equal(c.max_body_size, 16777216);
    assert_int_equal(c.read_buffer_size, 8192);
    assert_string_equal(c.allowed_origins, "https://a.example");
    assert_int_equal(c.enable_metrics, 0);
    assert_int_equal(c.metrics_port, 9191);
    assert_string_equal(c.metrics_listen_address, "127.0.0.1");
    assert_int_equal(c.log_level, BASE_LOG_DEBUG);
    assert_int_equal(c.log_as_json, 1);
    assert_string_equal(c.log_file, "/tmp/daprd.log");
    assert_int_equal(c.enable_api_logging, 1);
    assert_int_equal(c.graceful_shutdown_seconds, 12);
    assert_int_equal(c.worker_threads, 3);
    assert_int_equal(c.read_header_timeout_ms, 5000);
    assert_int_equal(c.read_body_timeout_ms, 30000);
    assert_int_equal(c.idle_timeout_ms, 120000);
    assert_int_equal(c.max_connections, 500);
    assert_int_equal(config_internal_port(&c), 50022);
    config_free(&c);
}

static void test_booleans(void **state)
{
    (void)state;
    static const struct { const char *arg; int want; } cases[] = {
        { "--log-as-json", 1 },        { "--log-as-json=true", 1 },  { "--log-as-json=1", 1 },
        { "--log-as-json=T", 1 },      { "--log-as-json=false", 0 }, { "--log-as-json=0", 0 },
        { "--log-as-json=FALSE", 0 }, { "-log-as-json", 1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_t c;
        LOAD_OK(&c, cases[i].arg);
        assert_int_equal(c.log_as_json, cases[i].want);
        config_free(&c);
    }
    expect_usage("invalid value \"maybe\" for flag --enable-metrics", "--enable-metrics=maybe", NULL);
    expect_usage("invalid value \"yes\" for flag --log-as-json", "--log-as-json=yes", NULL);
    /* pflag booleans never take the next argument; a stray "false" is refused, not ignored */
    expect_usage("unexpected argument \"false\"", "--enable-metrics", "false", NULL);
}

static void test_api_logging_tristate(void **state)
{
    (void)state;
    config_t c;
    LOAD_OK(&c, "--app-id", "x");
    assert_int_equal(c.enable_api_logging, -1);
    config_free(&c);
    LOAD_OK(&c, "--enable-api-logging");
    assert_int_equal(c.enable_api_logging, 1);
    config_free(&c);
    LOAD_OK(&c, "--enable-api-logging=false");
    assert_int_equal(c.enable_api_logging, 0);
    config_free(&c);
}

static void test_bad_ports(void **state)
{
    (void)state;
    expect_usage("invalid value \"35x\" for flag --dapr-http-port", "--dapr-http-port", "35x", NULL);
    expect_usage("invalid value \"-1\" for flag --dapr-http-port", "--dapr-http-port", "-1", NULL);
    expect_usage("invalid value \"65536\" for flag --dapr-http-port", "--dapr-http-port=65536", NULL);
    expect_usage("invalid value \"\" for flag --dapr-grpc-port", "--dapr-grpc-port=", NULL);
    expect_usage("invalid value \"99999999\" for flag --metrics-port", "--metrics-port", "99999999",
                 NULL);
    expect_usage("invalid value \" 80\" for flag --app-port", "--app-port", " 80", NULL);
    expect_usage("invalid value \"8o8o\" for flag --dapr-internal-grpc-port",
                 "--dapr-internal-grpc-port", "8o8o", NULL);
    expect_usage("invalid value \"x\" for flag --dapr-public-port", "--dapr-public-port", "x", NULL);
    config_t c;
    LOAD_OK(&c, "--dapr-http-port", "0", "--metrics-port", "65535", "--dapr-public-port", "",
            "--dapr-internal-grpc-port", "");
    assert_int_equal(c.http_port, 0);
    assert_int_equal(c.metrics_port, 65535);
    assert_int_equal(c.public_port, 0);
    assert_int_equal(c.internal_grpc_port, 0);
    config_free(&c);
}

static void test_port_conflict(void **state)
{
    (void)state;
    expect_usage("'dapr-http-port' argument value 3500 conflicts with 'app-port'", "--app-port",
                 "3500", NULL);
    expect_usage("value 4000 conflicts", "--dapr-http-port", "4000", "--app-port", "4000", NULL);
    config_t c;
    /* without --app-port there is no conflict, whatever the http port */
    LOAD_OK(&c, "--dapr-http-port", "50001");
    assert_int_equal(c.app_port_set, 0);
    config_free(&c);
    LOAD_OK(&c, "--app-port", "3000");
    assert_int_equal(c.app_port, 3000);
    assert_int_equal(c.app_port_set, 1);
    config_free(&c);
}

static void test_app_protocol(void **state)
{
    (void)state;
    static const struct { const char *v; config_app_protocol_t p; } cases[] = {
        { "grpc", CONFIG_APP_GRPC },   { "grpcs", CONFIG_APP_GRPCS }, { "http", CONFIG_APP_HTTP },
        { "https", CONFIG_APP_HTTPS }, { "h2c", CONFIG_APP_H2C },     { "HTTP", CONFIG_APP_HTTP },
        { "H2C", CONFIG_APP_H2C },     { "GrPcS", CONFIG_APP_GRPCS },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_t c;
        LOAD_OK(&c, "--app-protocol", cases[i].v);
        assert_int_equal(c.app_protocol, cases[i].p);
        config_free(&c);
    }
    expect_usage("invalid value \"tcp\" for flag --app-protocol", "--app-protocol", "tcp", NULL);
    expect_usage("invalid value \"\" for flag --app-protocol", "--app-protocol=", NULL);
}

static void test_listen_addresses(void **state)
{
    (void)state;
    config_t c;
    LOAD_OK(&c, "--dapr-listen-addresses", " 0.0.0.0 , [::] ,[fe80::1] ");
    assert_int_equal(c.listen_address_count, 3);
    assert_string_equal(c.listen_addresses[0], "0.0.0.0");
    assert_string_equal(c.listen_addresses[1], "::");
    assert_string_equal(c.listen_addresses[2], "fe80::1");
    config_free(&c);
    LOAD_OK(&c, "--dapr-listen-addresses=localhost");
    assert_int_equal(c.listen_address_count, 1);
    assert_string_equal(c.listen_addresses[0], "localhost");
    config_free(&c);
    /* the last occurrence wins, as with any pflag string */
    LOAD_OK(&c, "--dapr-listen-addresses", "1.1.1.1", "--dapr-listen-addresses", "2.2.2.2,3.3.3.3");
    assert_int_equal(c.listen_address_count, 2);
    assert_string_equal(c.listen_addresses[0], "2.2.2.2");
    config_free(&c);
    expect_usage("--dapr-listen-addresses", "--dapr-listen-addresses", "a,,b", NULL);
    expect_usage("empty address", "--dapr-listen-addresses", "", NULL);
    expect_usage("empty address", "--dapr-listen-addresses", "127.0.0.1,", NULL);
    expect_usage("unbalanced", "--dapr-listen-addresses", "[::1", NULL);
    expect_usage("unbalanced", "--dapr-listen-addresses", "::1]", NULL);
}

static void test_unknown_and_missing(void **state)
{
    (void)state;
    expect_usage("unknown flag: --nope", "--app-id", "x", "--nope", NULL);
    expect_usage("unknown flag: --nope", "--nope=1", NULL);
    expect_usage("unknown flag: --nope", "-nope", NULL);
    expect_usage("flag needs an argument: --app-id", "--app-id", NULL);
    expect_usage("unexpected argument \"stray\"", "stray", NULL);
    expect_usage("unexpected argument \"after\"", "--", "after", NULL);
    config_t c;
    LOAD_OK(&c, "--app-id", "x", "--");
    config_free(&c);
}

static void test_ignored_flags(void **state)
{
    (void)state;
    config_t c;
    log_capture_start();
    LOAD_OK(&c, "--enable-profiling", "--profile-port", "7777", "--placement-host-address",
            "localhost:50005", "--scheduler-host-address", "localhost:50006", "--enable-mtls",
            "--sentry-address", "localhost:50001", "--control-plane-address", "cp:1",
            "--control-plane-trust-domain", "td", "--control-plane-namespace", "ns",
            "--dapr-block-shutdown-duration", "5s", "--actors-service", "placement:x",
            "--reminders-service", "r:x", "--disable-builtin-k8s-secret-store", "--wait",
            "--build-info", "--metrics-exporter-type", "prometheus", "--app-id", "after");
    assert_true(log_capture_contains("flag --profile-port is not supported by Remora yet and is ignored"));
    /* every value was consumed by its flag: the app id after them is intact */
    assert_string_equal(c.app_id, "after");
    config_free(&c);
}

static void test_deprecated_components_path(void **state)
{
    (void)state;
    char *d1 = tmp_dir(), *d2 = tmp_dir();
    config_t c;
    log_capture_start();
    LOAD_OK(&c, "--components-path", d1);
    assert_true(log_capture_contains("--components-path has been deprecated"));
    assert_int_equal(c.resources_path_count, 1);
    assert_string_equal(c.resources_paths[0], d1);
    config_free(&c);
    /* daprd uses --components-path only when no --resources-path is given */
    LOAD_OK(&c, "--components-path", d1, "--resources-path", d2);
    assert_int_equal(c.resources_path_count, 1);
    assert_string_equal(c.resources_paths[0], d2);
    config_free(&c);
    /* --resources-path repeats and splits on commas */
    char both[600];
    snprintf(both, sizeof(both), "%s,%s", d1, d2);
    LOAD_OK(&c, "--resources-path", both, "--resources-path", d1);
    assert_int_equal(c.resources_path_count, 3);
    assert_string_equal(c.resources_paths[0], d1);
    assert_string_equal(c.resources_paths[1], d2);
    assert_string_equal(c.resources_paths[2], d1);
    config_free(&c);
    tmp_dir_remove(d1);
    tmp_dir_remove(d2);
}

static void test_deprecated_app_ssl(void **state)
{
    (void)state;
    config_t c;
    log_capture_start();
    LOAD_OK(&c, "--app-protocol", "http", "--app-ssl");
    assert_true(log_capture_contains("--app-ssl has been deprecated"));
    assert_int_equal(c.app_protocol, CONFIG_APP_HTTPS);
    config_free(&c);
    LOAD_OK(&c, "--app-ssl");
    assert_int_equal(c.app_protocol, CONFIG_APP_GRPCS);
    config_free(&c);
    LOAD_OK(&c, "--app-ssl=false", "--app-protocol", "http");
    assert_int_equal(c.app_protocol, CONFIG_APP_HTTP);
    config_free(&c);
    LOAD_OK(&c, "--app-ssl", "--app-protocol", "h2c");
    assert_int_equal(c.app_protocol, CONFIG_APP_H2C);
    config_free(&c);
}

static void test_deprecated_sizes(void **state)
{
    (void)state;
    config_t c;
    log_capture_start();
    LOAD_OK(&c, "--dapr-http-max-request-size", "16");
    assert_true(log_capture_contains("--dapr-http-max-request-size has been deprecated"));
    assert_int_equal(c.max_body_size, 16 << 20);
    config_free(&c);
    LOAD_OK(&c, "--dapr-http-max-request-size", "16", "--max-body-size", "1Mi");
    assert_int_equal(c.max_body_size, 1 << 20);
    config_free(&c);
    LOAD_OK(&c, "--max-body-size", "1Mi", "--dapr-http-max-request-size", "16");
    assert_int_equal(c.max_body_size, 1 << 20);
    config_free(&c);
    LOAD_OK(&c, "--dapr-http-max-request-size", "-1");
    assert_int_equal(c.max_body_size, 4 << 20);
    config_free(&c);
    LOAD_OK(&c, "--dapr-http-read-buffer-size", "8");
    assert_int_equal(c.read_buffer_size, 8192);
    config_free(&c);
    LOAD_OK(&c, "--dapr-http-read-buffer-size", "8", "--read-buffer-size", "16Ki");
    assert_int_equal(c.read_buffer_size, 16384);
    config_free(&c);
    LOAD_OK(&c, "--dapr-http-read-buffer-size", "-1");
    assert_int_equal(c.read_buffer_size, 4096);
    config_free(&c);
    expect_usage("--dapr-http-max-request-size", "--dapr-http-max-request-size", "4Mi", NULL);
    expect_usage("--dapr-http-read-buffer-size", "--dapr-http-read-buffer-size", "x", NULL);
}

static void test_sizes(void **state)
{
    (void)state;
    config_t c;
    LOAD_OK(&c, "--max-body-size", "0");
    assert_int_equal(c.max_body_size, 0);
    config_free(&c);
    LOAD_OK(&c, "--max-body-size", "-1", "--read-buffer-size", "32k");
    assert_int_equal(c.max_body_size, -1);
    assert_int_equal(c.read_buffer_size, 32000);
    config_free(&c);
    LOAD_OK(&c, "--max-body-size=4e6", "--read-buffer-size", "0");
    assert_int_equal(c.max_body_size, 4000000);
    assert_int_equal(c.read_buffer_size, 4096); /* no header limit cannot work: the default */
    config_free(&c);
    expect_usage("invalid value \"4MB\" for flag --max-body-size", "--max-body-size", "4MB", NULL);
    expect_usage("invalid value \"big\" for flag --read-buffer-size", "--read-buffer-size", "big",
                 NULL);
}

static void test_env(void **state)
{
    (void)state;
    config_t c;
    setenv("DAPR_API_TOKEN", "s3cret", 1);
    setenv("APP_API_TOKEN", "", 1);
    setenv("NAMESPACE", "prod", 1);
    LOAD_OK(&c, "--app-id", "x");
    assert_string_equal(c.dapr_api_token, "s3cret");
    assert_null(c.app_api_token);
    assert_string_equal(c.namespace_, "prod");
    config_free(&c);
    unsetenv("DAPR_API_TOKEN");
    setenv("APP_API_TOKEN", "apptok", 1);
    setenv("NAMESPACE", "", 1);
    LOAD_OK(&c, "--app-id", "x");
    assert_null(c.dapr_api_token);
    assert_string_equal(c.app_api_token, "apptok");
    assert_string_equal(c.namespace_, "default");
    config_free(&c);
    unsetenv("APP_API_TOKEN");
    unsetenv("NAMESPACE");
}

/* Runs config_load with stdout redirected to a file; returns what was printed (malloc'd). */
static char *capture_stdout(int *rc, ...)
{
    char *argv[8];
    int argc = 0;
    argv[argc++] = "daprd";
    va_list ap;
    va_start(ap, rc);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    char path[] = "/tmp/remora-cfg-out-XXXXXX";
    int fd = mkstemp(path);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    config_t c;
    char err[ERRLEN];
    *rc = config_load(&c, argc, argv, err, sizeof(err));
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    char *buf = calloc(1, 65536);
    ssize_t n = pread(fd, buf, 65535, 0);
    (void)n;
    close(fd);
    unlink(path);
    if (*rc == CONFIG_EXIT_OK)
        config_free(&c);
    return buf;
}

static void test_help(void **state)
{
    (void)state;
    static const char *const must[] = {
        "--app-id", "--mode", "--dapr-http-port", "(default \"3500\")", "--dapr-grpc-port",
        "--dapr-internal-grpc-port", "--dapr-internal-grpc-listen-address",
        "--dapr-listen-addresses", "(default \"[::1],127.0.0.1\")", "--dapr-public-port",
        "--dapr-public-listen-address", "--app-port", "(default \"50001\")", "--app-protocol",
        "(default \"grpc\")", "--app-channel-address", "--max-body-size", "(default \"4Mi\")",
        "--read-buffer-size", "(default \"4Ki\")", "--allowed-origins", "--unix-domain-socket",
        "--config", "--resources-path", "--enable-metrics", "--metrics-port",
        "(default \"9090\")", "--metrics-listen-address", "--log-level", "(default \"info\")",
        "--log-as-json", "--enable-api-logging", "--dapr-graceful-shutdown-seconds",
        "--app-max-concurrency", "--enable-app-health-check", "--app-health-check-path",
        "(default \"/healthz\")", "--app-health-probe-interval", "--app-health-probe-timeout",
        "(default \"500\")", "--app-health-threshold", "--version", "--help", "--worker-threads",
        "--http-read-header-timeout", "(default \"10s\")", "--http-read-body-timeout",
        "--http-idle-timeout", "--http-max-connections", "(default \"10000\")",
        "--components-path", "--app-ssl", "--dapr-http-max-request-size",
        "--dapr-http-read-buffer-size", "--enable-profiling", "--placement-host-address",
    };
    const char *spellings[] = { "--help", "-help", "-h" };
    for (size_t s = 0; s < 3; s++) {
        int rc;
        char *out = capture_stdout(&rc, "--app-id", "x", spellings[s], NULL);
        assert_int_equal(rc, CONFIG_EXIT_DONE);
        for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
            if (!strstr(out, must[i]))
                fail_msg("help (%s) lacks %s", spellings[s], must[i]);
        free(out);
    }
}

static void test_version(void **state)
{
    (void)state;
    int rc;
    char *out = capture_stdout(&rc, "--version", NULL);
    assert_int_equal(rc, CONFIG_EXIT_DONE);
    assert_string_equal(out, REMORA_VERSION "\n");
    free(out);
    /* an invalid flag is reported even next to --version */
    expect_usage("unknown flag: --bad", "--version", "--bad", NULL);
}

static void test_health_rules(void **state)
{
    (void)state;
    config_t c;
    expect_usage("must be smaller than", "--app-health-probe-interval", "2",
                 "--app-health-probe-timeout", "3000", NULL);
    LOAD_OK(&c, "--app-health-probe-interval", "1", "--app-health-probe-timeout", "1000");
    assert_int_equal(c.app_health_probe_timeout_ms, 1000);
    config_free(&c);
    LOAD_OK(&c, "--app-health-probe-interval", "0", "--app-health-probe-timeout", "-5",
            "--app-health-threshold", "0");
    assert_int_equal(c.app_health_probe_interval_s, 5);
    assert_int_equal(c.app_health_probe_timeout_ms, 500);
    assert_int_equal(c.app_health_threshold, 3);
    config_free(&c);
    expect_usage("invalid value \"5s\" for flag --app-health-probe-interval",
                 "--app-health-probe-interval", "5s", NULL);
}

static void test_int_rules(void **state)
{
    (void)state;
    config_t c;
    LOAD_OK(&c, "--dapr-graceful-shutdown-seconds", "-3", "--app-max-concurrency", "0");
    assert_int_equal(c.graceful_shutdown_seconds, 5);
    assert_int_equal(c.app_max_concurrency, -1);
    config_free(&c);
    LOAD_OK(&c, "--dapr-graceful-shutdown-seconds", "0", "--app-max-concurrency", "+9");
    assert_int_equal(c.graceful_shutdown_seconds, 0);
    assert_int_equal(c.app_max_concurrency, 9);
    config_free(&c);
    expect_usage("invalid value \"1.5\" for flag --app-max-concurrency", "--app-max-concurrency",
                 "1.5", NULL);
    expect_usage("invalid value \"99999999999\" for flag --app-health-threshold",
                 "--app-health-threshold", "99999999999", NULL);
    expect_usage("--worker-threads", "--worker-threads", "-1", NULL);
    expect_usage("--worker-threads", "--worker-threads", "5000", NULL);
    expect_usage("--http-max-connections", "--http-max-connections", "-2", NULL);
    LOAD_OK(&c, "--worker-threads", "0", "--http-max-connections", "0");
    assert_true(c.worker_threads >= 1);
    assert_int_equal(c.max_connections, 0);
    config_free(&c);
}

static void test_log_level_and_mode(void **state)
{
    (void)state;
    static const struct { const char *v; int level; } levels[] = {
        { "debug", BASE_LOG_DEBUG }, { "info", BASE_LOG_INFO },   { "warn", BASE_LOG_WARN },
        { "error", BASE_LOG_ERROR }, { "fatal", BASE_LOG_FATAL }, { "WARN", BASE_LOG_WARN },
        { "Debug", BASE_LOG_DEBUG },
    };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        config_t c;
        LOAD_OK(&c, "--log-level", levels[i].v);
        assert_int_equal(c.log_level, levels[i].level);
        config_free(&c);
    }
    expect_usage("invalid value \"verbose\" for flag --log-level", "--log-level", "verbose", NULL);
    expect_usage("invalid value \"cloud\" for flag --mode", "--mode", "cloud", NULL);
    /* daprd refuses dots in a standalone app id (ValidateSelfHostedAppID) */
    expect_usage("period", "--app-id", "a.b", NULL);
    config_t c;
    LOAD_OK(&c, "--app-id", "a.b", "--mode", "kubernetes");
    config_free(&c);
}

static void test_durations(void **state)
{
    (void)state;
    static const struct { const char *v; int ms; } cases[] = {
        { "5", 5000 },     { "500ms", 500 },     { "1m", 60000 },   { "1.5s", 1500 },
        { "1h", 3600000 }, { "0", 0 },           { "1500us", 2 },   { "1m30s", 90000 },
        { "2h45m", 9900000 }, { "100ns", 1 },    { ".5s", 500 },    { "1\xc2\xb5s", 1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_t c;
        LOAD_OK(&c, "--http-idle-timeout", cases[i].v);
        if (c.idle_timeout_ms != cases[i].ms)
            fail_msg("duration %s → %d ms, want %d", cases[i].v, c.idle_timeout_ms, cases[i].ms);
        config_free(&c);
    }
    const char *bad[] = { "10x", "-1s", "", "s", "1.5", "1e3s", "9999999999", "3000000h" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_usage("for flag --http-read-header-timeout", "--http-read-header-timeout", bad[i],
                     NULL);
}

static void test_config_files_missing(void **state)
{
    (void)state;
    expect_usage("/nonexistent/remora.yaml: No such file or directory", "--config",
                 "/nonexistent/remora.yaml", NULL);
    expect_usage("--resources-path /nonexistent/dir", "--resources-path", "/nonexistent/dir", NULL);
    expect_usage("/tmp: Is a directory", "--config", "/tmp", NULL);
    expect_usage("/dev/zero: File too large", "--config", "/dev/zero", NULL);
}

static void test_config_repeat(void **state)
{
    (void)state;
    char *a = tmp_write(NULL, ".yaml", ""), *b = tmp_write(NULL, ".yaml", "kind: Configuration\n");
    char ab[600];
    snprintf(ab, sizeof(ab), "%s,%s", a, b);
    config_t c;
    LOAD_OK(&c, "--config", ab, "--config", a);
    assert_int_equal(c.config_file_count, 3);
    assert_string_equal(c.config_files[0], a);
    assert_string_equal(c.config_files[1], b);
    assert_string_equal(c.config_files[2], a);
    config_free(&c);
    tmp_file_remove(a);
    tmp_file_remove(b);
}

static void test_internal_port(void **state)
{
    (void)state;
    /* dapr/kit ports.GetStablePort vectors, computed independently with Python's hashlib:
     * 47300 + h[0] + (h[1] >> 5) * 256 of sha256("<app>|<cwd>|<uid>|<host>") */
    assert_int_equal(config_stable_port(47300, "myapp", "/home/user/project", "1000", "devbox"),
                     48134);
    assert_int_equal(config_stable_port(47300, "", "", "", ""), 48002);
    assert_int_equal(config_stable_port(47300, NULL, NULL, NULL, NULL), 48002);
    assert_int_equal(config_stable_port(47300, "order-service", "/tmp", "0", "localhost"), 47622);
    /* the SHA-256 padding boundaries: 55, 56, 61, 64 and 180 bytes of input */
    char x[64];
    static const struct { size_t n; int port; } pad[] = {
        { 52, 47660 }, { 53, 48365 }, { 58, 47305 }, { 61, 49030 },
    };
    for (size_t i = 0; i < sizeof(pad) / sizeof(pad[0]); i++) {
        memset(x, 'x', pad[i].n);
        x[pad[i].n] = '\0';
        assert_int_equal(config_stable_port(47300, x, "", "", ""), pad[i].port);
    }
    char longid[101];
    memset(longid, 'a', 100);
    longid[100] = '\0';
    assert_int_equal(config_stable_port(47300, longid,
                                        "/very/long/working/directory/path/that/spans/blocks",
                                        "4294967294", "host.example.com"),
                     47760);

    config_t c;
    LOAD_OK(&c, "--app-id", "orders");
    int p = config_internal_port(&c);
    assert_int_equal(p, config_stable_port_for_process("orders"));
    assert_true(p >= 47300 && p <= 49347);
    assert_int_equal(c.stable_internal_port, p);
    config_free(&c);
    LOAD_OK(&c, "--app-id", "orders", "--mode", "kubernetes");
    assert_int_equal(config_internal_port(&c), 50002);
    config_free(&c);
    LOAD_OK(&c, "--app-id", "orders", "--dapr-internal-grpc-port", "0");
    assert_int_equal(config_internal_port(&c), config_stable_port_for_process("orders"));
    config_free(&c);
    LOAD_OK(&c, "--app-id", "orders", "--dapr-internal-grpc-port", "40001", "--mode", "kubernetes");
    assert_int_equal(config_internal_port(&c), 40001);
    config_free(&c);
    /* a config_t built by hand (stable_internal_port 0) still gets the derived port */
    config_t hand;
    memset(&hand, 0, sizeof(hand));
    hand.app_id = "orders";
    assert_int_equal(config_internal_port(&hand), config_stable_port_for_process("orders"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_no_args_at_all, setup),
        cmocka_unit_test_setup(test_flag_forms, setup),
        cmocka_unit_test_setup(test_every_flag, setup),
        cmocka_unit_test_setup(test_booleans, setup),
        cmocka_unit_test_setup(test_api_logging_tristate, setup),
        cmocka_unit_test_setup(test_bad_ports, setup),
        cmocka_unit_test_setup(test_port_conflict, setup),
        cmocka_unit_test_setup(test_app_protocol, setup),
        cmocka_unit_test_setup(test_listen_addresses, setup),
        cmocka_unit_test_setup(test_unknown_and_missing, setup),
        cmocka_unit_test_setup(test_ignored_flags, setup),
        cmocka_unit_test_setup(test_deprecated_components_path, setup),
        cmocka_unit_test_setup(test_deprecated_app_ssl, setup),
        cmocka_unit_test_setup(test_deprecated_sizes, setup),
        cmocka_unit_test_setup(test_sizes, setup),
        cmocka_unit_test_setup(test_env, setup),
        cmocka_unit_test_setup(test_help, setup),
        cmocka_unit_test_setup(test_version, setup),
        cmocka_unit_test_setup(test_health_rules, setup),
        cmocka_unit_test_setup(test_int_rules, setup),
        cmocka_unit_test_setup(test_log_level_and_mode, setup),
        cmocka_unit_test_setup(test_durations, setup),
        cmocka_unit_test_setup(test_config_files_missing, setup),
        cmocka_unit_test_setup(test_config_repeat, setup),
        cmocka_unit_test_setup(test_internal_port, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
