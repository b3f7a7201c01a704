/* test_apilog.c - the API log filter (daprd's "HTTP API Called"): when it exists, what each
 * line holds in text and JSON, obfuscation, health checks, requests answered before it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"
#include "harness.h"
#include "http/codec.h"

static config_t cfg;
static mw_chain_t chain;
static char log_path[64];
static int log_fd = -1;

/* What the test handler reports and answers. */
static struct {
    const char *endpoint;
    const char *app_id;
    int health;
    int stream;
    int status;
    int no_reply;
} h;

static void log_start(int json, base_log_level_t level)
{
    strcpy(log_path, "/tmp/remora-apilog-XXXXXX");
    log_fd = mkstemp(log_path);
    assert_true(log_fd >= 0);
    base_log_options_t o = { .level = level, .json = json, .fd = log_fd, .instance = "box", .app_id = "app1",
                             .version = "1.15.0" };
    base_log_init(&o);
}

static void log_stop(void)
{
    base_log_options_t o = { .level = BASE_LOG_INFO, .fd = 1, .instance = "test" };
    base_log_init(&o);
    if (log_fd >= 0) {
        close(log_fd);
        unlink(log_path);
    }
    log_fd = -1;
}

/* Everything logged so far (static buffer). */
static const char *log_text(void)
{
    static char buf[65536];
    ssize_t n = pread(log_fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void t_request(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    x->endpoint = h.endpoint;
    x->endpoint_health = h.health != 0;
    if (h.app_id)
        x->endpoint_app_id = base_slice_cstr(h.app_id);
    if (h.no_reply)
        return;
    if (h.stream) {
        x->http->res.content_length = -1;
        mw_reply_head(x, h.status);
        mw_send_body(x, "hel", 3, 0);
        mw_send_body(x, "lo", 2, 1);
        return;
    }
    mw_reply(x, h.status, "text/plain", h.status == 204 ? BASE_SLICE_NULL : BASE_SLICE_LIT("ok"));
}

static mw_handler_t t_handler(void)
{
    return (mw_handler_t){ t_request, NULL, NULL, NULL, NULL };
}

static int setup(void **state)
{
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    memset(&chain, 0, sizeof chain);
    memset(&h, 0, sizeof h);
    h.status = 200;
    cfg.allowed_origins = "";
    cfg.enable_api_logging = 1;
    cfg.spec.api_logging_enabled = -1;
    log_start(0, BASE_LOG_INFO);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mw_chain_destroy(&chain);
    log_stop();
    return 0;
}

static void build(void)
{
    char err[256] = "";
    if (mw_chain_build_api(&chain, &cfg, t_handler(), err, sizeof err) != 0)
        fail_msg("build: %s", err);
}

static int run(const char *raw)
{
    char *out = run_chain(&chain, NULL, raw);
    int s = resp_status(out);
    free(out);
    return s;
}

static void test_switch_flag_then_yaml(void **state)
{
    (void)state;
    static const struct {
        int flag, yaml, on;
    } cases[] = {
        { -1, -1, 0 }, { -1, 0, 0 }, { -1, 1, 1 }, /* no flag: the Configuration decides */
        { 1, -1, 1 },  { 1, 0, 1 },                /* the flag wins either way */
        { 0, 1, 0 },   { 0, -1, 0 },
    };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(cases); i++) {
        cfg.enable_api_logging = cases[i].flag;
        cfg.spec.api_logging_enabled = cases[i].yaml;
        errno = EINVAL;
        mw_filter_t *f = mw_apilog_new(&cfg);
        assert_int_equal(f != NULL, cases[i].on);
        if (f)
            f->ops->destroy(f);
        else
            assert_int_equal(errno, 0);
    }
}

static void test_last_in_chain(void **state)
{
    (void)state;
    cfg.spec.sampling_rate = 1;
    cfg.dapr_api_token = "t";
    cfg.max_body_size = 1024;
    build();
    assert_int_equal(chain.count, 4);
    assert_string_equal(chain.filters[chain.count - 1]->ops->name, "apilog");
    mw_chain_destroy(&chain);
    cfg.enable_api_logging = 0;
    build();
    for (size_t i = 0; i < chain.count; i++)
        assert_string_not_equal(chain.filters[i]->ops->name, "apilog");
}

static void test_text_line(void **state)
{
    (void)state;
    h.endpoint = "GetMetadata";
    build();
    assert_int_equal(run("GET /v1.0/metadata?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8.0\r\n\r\n"), 200);
    const char *l = log_text();
    assert_int_equal(count(l, "\n"), 1);
    /* logrus: time, level, msg, then every other field by name */
    const char *want = " level=info msg=\"HTTP API Called\" app_id=app1 code=200 duration=0 instance=box "
                       "method=\"GET /v1.0/metadata\" scope=dapr.runtime.http-info size=2 type=log "
                       "useragent=curl/8.0 ver=1.15.0\n";
    assert_non_null(strstr(l, want));
    assert_int_equal(strncmp(l, "time=\"20", 8), 0); /* the time has colons: quoted, as logrus does */
}

static void test_json_line(void **state)
{
    (void)state;
    log_stop();
    log_start(1, BASE_LOG_INFO);
    h.endpoint = "PutMetadata";
    h.status = 204;
    build();
    assert_int_equal(run("PUT /v1.0/metadata/k HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\nContent-Length: 0\r\n\r\n"), 204);
    const char *l = log_text();
    assert_non_null(strstr(l, "{\"app_id\":\"app1\",\"code\":204,\"duration\":0,\"instance\":\"box\",\"level\":\"info\","
                              "\"method\":\"PUT /v1.0/metadata/k\",\"msg\":\"HTTP API Called\","
                              "\"scope\":\"dapr.runtime.http-info\",\"size\":0,\"time\":\""));
    assert_non_null(strstr(l, "\",\"type\":\"log\",\"useragent\":\"ua\",\"ver\":\"1.15.0\"}\n"));
}

static void test_no_useragent_field_when_absent(void **state)
{
    (void)state;
    build();
    assert_int_equal(run("GET /v1.0/healthz HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
    assert_int_equal(count(log_text(), "HTTP API Called"), 1);
    assert_null(strstr(log_text(), "useragent"));
    assert_non_null(strstr(log_text(), " method=\"GET /v1.0/healthz\" "));
}

static void test_path_percent_decoded(void **state)
{
    (void)state;
    build();
    run("GET /v1.0/invoke/a%20b/method/x%2Fy+z HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_non_null(strstr(log_text(), " method=\"GET /v1.0/invoke/a b/method/x/y+z\" "));
}

static void test_obfuscated(void **state)
{
    (void)state;
    cfg.spec.api_logging_obfuscate_urls = 1;
    h.endpoint = "GetMetadata";
    build();
    run("GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\n\r\n");
    h.endpoint = "InvokeService";
    h.app_id = "orders.prod";
    run("POST /v1.0/invoke/orders.prod/method/new HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    h.app_id = NULL;
    run("GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n");
    const char *l = log_text();
    assert_int_equal(count(l, "HTTP API Called"), 3);
    assert_non_null(strstr(l, " method=GetMetadata "));
    assert_non_null(strstr(l, " method=InvokeService/orders.prod "));
    assert_non_null(strstr(l, " method=InvokeService "));
    assert_null(strstr(l, "/v1.0/"));
}

static void test_health_checks(void **state)
{
    (void)state;
    h.endpoint = "Healthz";
    h.health = 1;
    h.status = 204;
    build();
    run("GET /v1.0/healthz HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(count(log_text(), "HTTP API Called"), 1); /* logged by default */
    mw_chain_destroy(&chain);
    cfg.spec.api_logging_omit_health_checks = 1;
    build();
    run("GET /v1.0/healthz HTTP/1.1\r\nHost: h\r\n\r\n");
    h.health = 0;
    h.endpoint = "GetMetadata";
    h.status = 200;
    run("GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(count(log_text(), "HTTP API Called"), 2);
    assert_int_equal(count(log_text(), "code=204"), 1);
}

static void test_streamed_size_and_status(void **state)
{
    (void)state;
    h.stream = 1;
    h.status = 201;
    build();
    run("GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_non_null(strstr(log_text(), " code=201 "));
    assert_non_null(strstr(log_text(), " size=5 "));
}

static void test_answered_before_not_logged(void **state)
{
    (void)state;
    cfg.dapr_api_token = "s3cret";
    cfg.max_body_size = 10;
    build();
    assert_int_equal(run("GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\n\r\n"), 401);
    assert_int_equal(run("POST /x HTTP/1.1\r\nHost: h\r\ndapr-api-token: s3cret\r\nContent-Length: 11\r\n\r\n"
                         "hello world"), 413);
    assert_int_equal(count(log_text(), "HTTP API Called"), 0);
    assert_int_equal(run("GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\ndapr-api-token: s3cret\r\n\r\n"), 200);
    assert_int_equal(count(log_text(), "HTTP API Called"), 1);
}

static void test_pinned_at_info(void **state)
{
    (void)state;
    log_stop();
    log_start(0, BASE_LOG_WARN); /* daprd pins the http-info logger at info */
    build();
    run("GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(count(log_text(), "HTTP API Called"), 1);
}

static void test_client_gone_still_logged(void **state)
{
    (void)state;
    /* The handler never answers and the client goes away: the line is written when the
     * exchange dies, with no status. */
    h.no_reply = 1;
    build();
    void *codec = NULL;
    char *out = run_chain_keep(&chain, NULL, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n", &codec);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(count(log_text(), "HTTP API Called"), 0);
    http_codec_free(codec, HTTP_ABORT_CLOSED);
    assert_int_equal(count(log_text(), "HTTP API Called"), 1);
    assert_non_null(strstr(log_text(), " code=0 "));
    assert_non_null(strstr(log_text(), " size=0 "));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_switch_flag_then_yaml),
        T(test_last_in_chain),
        T(test_text_line),
        T(test_json_line),
        T(test_no_useragent_field_when_absent),
        T(test_path_percent_decoded),
        T(test_obfuscated),
        T(test_health_checks),
        T(test_streamed_size_and_status),
        T(test_answered_before_not_logged),
        T(test_pinned_at_info),
        T(test_client_gone_still_logged),
    };
    return cmocka_run_group_tests_name("middleware_apilog", tests, NULL, NULL);
}
