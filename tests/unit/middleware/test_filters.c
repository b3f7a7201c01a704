/* test_filters.c - the built-in filters and the ratelimit component, through the real codec
 * and chains built by mw_chain_build_api / mw_chain_build_app. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

static config_t cfg;
static mw_chain_t chain;
static config_kv_t rl_meta[1];
static config_component_t rl_comp;
static config_handler_t rl_handler;

static int setup(void **state)
{
    (void)state;
    rec_reset();
    memset(&cfg, 0, sizeof cfg);
    memset(&chain, 0, sizeof chain);
    cfg.allowed_origins = "";
    rl_meta[0] = (config_kv_t){ "maxRequestsPerSecond", "2" };
    rl_comp = (config_component_t){ .name = "rl", .type = "middleware.http.ratelimit", .version = "v1",
                                    .metadata = rl_meta, .metadata_count = 1 };
    rl_handler = (config_handler_t){ "rl", "middleware.http.ratelimit", "v1", &rl_comp };
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mw_chain_destroy(&chain);
    return 0;
}

static void build(void)
{
    char err[256] = "";
    if (mw_chain_build_api(&chain, &cfg, rec_handler(), err, sizeof err) != 0)
        fail_msg("build: %s", err);
}

/* One request; returns its response (to free). */
static char *req(const char *raw)
{
    return run_chain(&chain, NULL, raw);
}

static int status_of(const char *raw)
{
    char *out = req(raw);
    int s = resp_status(out);
    free(out);
    return s;
}

/* ---- API token ---------------------------------------------------------------------------- */

static void test_apitoken_missing_or_wrong(void **state)
{
    (void)state;
    cfg.dapr_api_token = "s3cret";
    build();
    char *out = req("GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(resp_status(out), 401);
    assert_string_equal(resp_header(out, "Content-Type", 0), "application/json");
    assert_string_equal(resp_body(out), "{\"errorCode\":\"ERR_UNAUTHORIZED\",\"message\":\"invalid api token\"}");
    free(out);
    static const char *const wrong[] = { "s3cre", "s3cret2", "S3CRET", "" };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(wrong); i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\ndapr-api-token: %s\r\n\r\n", wrong[i]);
        assert_int_equal(status_of(raw), 401);
    }
    assert_int_equal(rec.requests, 0);
}

static void test_apitoken_right_and_removed(void **state)
{
    (void)state;
    cfg.dapr_api_token = "s3cret";
    build();
    char *out = req("POST /v1.0/invoke/a/method/b HTTP/1.1\r\nHost: h\r\nDapr-Api-Token: s3cret\r\n"
                    "Content-Length: 2\r\n\r\nhi");
    assert_int_equal(resp_status(out), 200);
    assert_int_equal(rec.requests, 1);
    assert_false(rec.saw_token_header);
    assert_int_equal(rec.body_len, 2);
    free(out);
}

static void test_apitoken_exempt_exact_paths(void **state)
{
    (void)state;
    cfg.dapr_api_token = "s3cret";
    build();
    static const char *const exempt[] = { "/v1.0/healthz", "/v1.0/healthz/", "/v1.0/healthz/outbound",
                                          "//v1.0/healthz/outbound//", "/v1.0/healthz?appid=x" };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(exempt); i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", exempt[i]);
        if (status_of(raw) != 200)
            fail_msg("%s should be exempt", exempt[i]);
    }
    assert_int_equal(rec.requests, (int)BASE_ARRAY_SIZE(exempt));
}

static void test_apitoken_not_exempt(void **state)
{
    (void)state;
    cfg.dapr_api_token = "s3cret";
    build();
    static const char *const guarded[] = {
        "POST /v1.0/healthz",          "HEAD /v1.0/healthz",
        "PUT /v1.0/healthz/outbound",  "GET /v1.0/invoke/x/method/healthz",
        "GET /v1.0/healthz/../invoke", "GET /v1.0/healthzz",
        "GET /v1.0/metadata?x=/v1.0/healthz", "GET /v1.0/healthz/outbound/x",
        "GET /healthz",                "GET /v1.0/invoke/healthz/method/v1.0/healthz",
    };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(guarded); i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "%s HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", guarded[i]);
        if (status_of(raw) != 401)
            fail_msg("%s must need the token", guarded[i]);
    }
    assert_int_equal(rec.requests, 0);
}

static void test_apitoken_disabled(void **state)
{
    (void)state;
    errno = EINVAL;
    assert_null(mw_apitoken_new(&cfg));
    assert_int_equal(errno, 0);
    cfg.dapr_api_token = "";
    assert_null(mw_apitoken_new(&cfg));
    cfg.dapr_api_token = NULL;
    build();
    assert_int_equal(chain.count, 0);
    assert_int_equal(status_of("GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
}

/* ---- tracing ------------------------------------------------------------------------------ */

static void test_tracing_continues_incoming(void **state)
{
    (void)state;
    cfg.spec.sampling_rate = 1e-4;
    build();
    char *out = req("GET /v1.0/invoke/a/method/b HTTP/1.1\r\nHost: h\r\n"
                    "traceparent: 00-" TID "-" SID "-01\r\ntracestate: k=v\r\n\r\n");
    assert_int_equal(resp_status(out), 200);
    const char *tp = resp_header(out, "traceparent", 0);
    assert_non_null(tp);
    assert_int_equal(strlen(tp), DIAG_TRACEPARENT_LEN);
    assert_memory_equal(tp, "00-" TID "-", 36);
    assert_memory_not_equal(tp + 36, SID, 16);
    assert_string_equal(tp + 52, "-01");
    /* the handler gets this hop's context: parent = the caller's span */
    assert_true(rec.traced);
    char mine[DIAG_TRACEPARENT_LEN + 1];
    diag_traceparent_format(rec.trace.trace_id, rec.trace.span_id, rec.trace.flags, mine);
    assert_string_equal(mine, tp);
    uint8_t tid[16], sid[8], fl;
    base_slice_t in = BASE_SLICE_LIT("00-" TID "-" SID "-01");
    assert_int_equal(diag_traceparent_parse(in, tid, sid, &fl), 0);
    assert_memory_equal(rec.trace.parent_span_id, sid, 8);
    assert_string_equal(rec.trace.tracestate, "k=v");
    free(out);

    out = req("GET /x HTTP/1.1\r\nHost: h\r\ntraceparent: 00-" TID "-" SID "-00\r\n\r\n");
    assert_string_equal(resp_header(out, "traceparent", 0) + 52, "-00");
    free(out);
}

static void test_tracing_starts_new_trace(void **state)
{
    (void)state;
    cfg.spec.sampling_rate = 1;
    build();
    char *out = req("GET /x HTTP/1.1\r\nHost: h\r\ntraceparent: garbage\r\n\r\n");
    const char *tp = resp_header(out, "traceparent", 0);
    assert_non_null(tp);
    uint8_t tid[16], sid[8], fl;
    assert_int_equal(diag_traceparent_parse(base_slice_cstr(tp), tid, sid, &fl), 0);
    assert_int_equal(fl, 1);
    assert_false(rec.trace.has_parent);
    free(out);
}

static void test_tracing_keeps_handler_traceparent(void **state)
{
    (void)state;
    cfg.spec.sampling_rate = 1;
    build();
    rec.extra_header = "traceparent: 00-" TID "-" SID "-01";
    char *out = req("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(resp_header_count(out, "traceparent"), 1);
    assert_string_equal(resp_header(out, "traceparent", 0), "00-" TID "-" SID "-01");
    free(out);
}

static void test_tracing_skips_health(void **state)
{
    (void)state;
    cfg.spec.sampling_rate = 1;
    build();
    char *out = req("GET /v1.0/healthz HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(resp_status(out), 200);
    assert_null(resp_header(out, "traceparent", 0));
    assert_false(rec.traced);
    free(out);
    out = req("GET /v1.0/healthz/outbound HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_null(resp_header(out, "traceparent", 0));
    free(out);
}

static void test_tracing_disabled(void **state)
{
    (void)state;
    cfg.spec.sampling_rate = 0;
    errno = EINVAL;
    assert_null(mw_tracing_new(&cfg));
    assert_int_equal(errno, 0);
    build();
    char *out = req("GET /x HTTP/1.1\r\nHost: h\r\ntraceparent: 00-" TID "-" SID "-01\r\n\r\n");
    assert_null(resp_header(out, "traceparent", 0));
    assert_false(rec.traced);
    free(out);
}

static void test_traceparent_on_local_error(void **state)
{
    (void)state;
    cfg.spec.sampling_rate = 1;
    cfg.dapr_api_token = "t";
    build();
    char *out = req("GET /x HTTP/1.1\r\nHost: h\r\ntraceparent: 00-" TID "-" SID "-01\r\n\r\n");
    assert_int_equal(resp_status(out), 401);
    assert_memory_equal(resp_header(out, "traceparent", 0), "00-" TID "-", 36);
    free(out);
}

/* ---- CORS --------------------------------------------------------------------------------- */

static void test_cors_star_actual_request(void **state)
{
    (void)state;
    cfg.allowed_origins = "*";
    build();
    char *out = req("GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\nOrigin: http://x.test\r\n\r\n");
    assert_int_equal(resp_status(out), 200);
    assert_string_equal(resp_header(out, "Access-Control-Allow-Origin", 0), "*");
    assert_int_equal(resp_header_count(out, "Access-Control-Allow-Origin"), 1);
    assert_null(resp_header(out, "Vary", 0));
    free(out);

    out = req("GET /v1.0/metadata HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_null(resp_header(out, "Access-Control-Allow-Origin", 0));
    assert_null(resp_header(out, "Vary", 0));
    free(out);
    assert_int_equal(rec.requests, 2);
}

static void test_cors_star_preflight(void **state)
{
    (void)state;
    cfg.allowed_origins = "*";
    build();
    char *out = req("OPTIONS /v1.0/invoke/a/method/b HTTP/1.1\r\nHost: h\r\nOrigin: http://x.test\r\n"
                    "Access-Control-Request-Method: put\r\n"
                    "Access-Control-Request-Headers: X-Custom, Content-Type\r\n\r\n");
    assert_int_equal(resp_status(out), 200);
    assert_string_equal(resp_header(out, "Content-Length", 0), "0");
    assert_string_equal(resp_body(out), "");
    assert_string_equal(resp_header(out, "Access-Control-Allow-Origin", 0), "*");
    assert_string_equal(resp_header(out, "Access-Control-Allow-Methods", 0), "PUT");
    assert_string_equal(resp_header(out, "Access-Control-Allow-Headers", 0), "X-Custom, Content-Type");
    assert_null(resp_header(out, "Access-Control-Max-Age", 0));
    assert_null(resp_header(out, "Content-Type", 0));
    assert_int_equal(resp_header_count(out, "Vary"), 3);
    assert_string_equal(resp_header(out, "Vary", 0), "Origin");
    assert_string_equal(resp_header(out, "Vary", 1), "Access-Control-Request-Method");
    assert_string_equal(resp_header(out, "Vary", 2), "Access-Control-Request-Headers");
    assert_int_equal(rec.requests, 0);
    free(out);
}

static void test_cors_preflight_method_denied(void **state)
{
    (void)state;
    cfg.allowed_origins = "*";
    build();
    char *out = req("OPTIONS /x HTTP/1.1\r\nHost: h\r\nOrigin: http://x.test\r\n"
                    "Access-Control-Request-Method: PROPFIND\r\n\r\n");
    assert_int_equal(resp_status(out), 200);
    assert_null(resp_header(out, "Access-Control-Allow-Origin", 0));
    assert_null(resp_header(out, "Access-Control-Allow-Methods", 0));
    assert_null(resp_header(out, "Access-Control-Allow-Headers", 0));
    assert_int_equal(resp_header_count(out, "Vary"), 3);
    assert_int_equal(rec.requests, 0);
    free(out);
}

static void test_cors_list_and_wildcard(void **state)
{
    (void)state;
    cfg.allowed_origins = " https://a.example.com ,, https://*.other.org";
    build();
    static const struct {
        const char *origin;
        int allowed;
    } cases[] = {
        { "https://a.example.com", 1 },  { "https://A.Example.COM", 1 },  { "https://x.other.org", 1 },
        { "https://x.y.other.org", 1 },  { "https://other.org", 0 },      { "https://evil.com", 0 },
        { "https://a.example.com.evil.com", 0 }, { "http://a.example.com", 0 }, { "https://x.other.org.evil", 0 },
    };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(cases); i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "GET /x HTTP/1.1\r\nHost: h\r\nOrigin: %s\r\n\r\n", cases[i].origin);
        char *out = req(raw);
        assert_int_equal(resp_status(out), 200);
        assert_string_equal(resp_header(out, "Vary", 0), "Origin");
        const char *acao = resp_header(out, "Access-Control-Allow-Origin", 0);
        if (cases[i].allowed) {
            if (!acao || strcmp(acao, cases[i].origin) != 0)
                fail_msg("%s should be echoed, got %s", cases[i].origin, acao ? acao : "(none)");
        } else if (acao) {
            fail_msg("%s must not be allowed", cases[i].origin);
        }
        free(out);
    }
}

static void test_cors_list_preflight(void **state)
{
    (void)state;
    cfg.allowed_origins = "https://a.example.com";
    build();
    char *out = req("OPTIONS /x HTTP/1.1\r\nHost: h\r\nOrigin: https://a.example.com\r\n"
                    "Access-Control-Request-Method: DELETE\r\n\r\n");
    assert_string_equal(resp_header(out, "Access-Control-Allow-Origin", 0), "https://a.example.com");
    assert_string_equal(resp_header(out, "Access-Control-Allow-Methods", 0), "DELETE");
    assert_null(resp_header(out, "Access-Control-Allow-Headers", 0));
    assert_int_equal(resp_header_count(out, "Vary"), 3);
    free(out);
    out = req("OPTIONS /x HTTP/1.1\r\nHost: h\r\nOrigin: https://b.example.com\r\n"
              "Access-Control-Request-Method: GET\r\n\r\n");
    assert_int_equal(resp_status(out), 200);
    assert_null(resp_header(out, "Access-Control-Allow-Origin", 0));
    assert_null(resp_header(out, "Access-Control-Allow-Methods", 0));
    free(out);
    assert_int_equal(rec.requests, 0);
}

static void test_cors_options_not_preflight(void **state)
{
    (void)state;
    cfg.allowed_origins = "*";
    build();
    /* OPTIONS without Access-Control-Request-Method, or without Origin, is an ordinary request */
    char *out = req("OPTIONS /x HTTP/1.1\r\nHost: h\r\nOrigin: http://x.test\r\n\r\n");
    assert_int_equal(rec.requests, 1);
    assert_string_equal(resp_header(out, "Access-Control-Allow-Origin", 0), "*");
    free(out);
    out = req("OPTIONS /x HTTP/1.1\r\nHost: h\r\nAccess-Control-Request-Method: GET\r\n\r\n");
    assert_int_equal(rec.requests, 2);
    assert_null(resp_header(out, "Access-Control-Allow-Origin", 0));
    free(out);
}

static void test_cors_disabled(void **state)
{
    (void)state;
    errno = EINVAL;
    assert_null(mw_cors_new(&cfg));
    assert_int_equal(errno, 0);
    build();
    char *out = req("OPTIONS /x HTTP/1.1\r\nHost: h\r\nOrigin: http://x.test\r\n"
                    "Access-Control-Request-Method: GET\r\n\r\n");
    assert_int_equal(rec.requests, 1);
    assert_null(resp_header(out, "Access-Control-Allow-Origin", 0));
    assert_null(resp_header(out, "Vary", 0));
    free(out);
}

static void test_cors_headers_on_413_not_on_401(void **state)
{
    (void)state;
    cfg.allowed_origins = "*";
    cfg.max_body_size = 5;
    build();
    char *out = req("POST /x HTTP/1.1\r\nHost: h\r\nOrigin: http://x.test\r\nContent-Length: 10\r\n\r\n0123456789");
    assert_int_equal(resp_status(out), 413);
    assert_string_equal(resp_header(out, "Access-Control-Allow-Origin", 0), "*");
    free(out);
    mw_chain_destroy(&chain);

    /* CORS runs after the token check, so an unauthenticated preflight gets a bare 401. */
    cfg.dapr_api_token = "t";
    build();
    out = req("OPTIONS /x HTTP/1.1\r\nHost: h\r\nOrigin: http://x.test\r\n"
              "Access-Control-Request-Method: GET\r\n\r\n");
    assert_int_equal(resp_status(out), 401);
    assert_null(resp_header(out, "Access-Control-Allow-Origin", 0));
    free(out);
}

/* ---- body limit --------------------------------------------------------------------------- */

static void test_bodylimit_content_length_over(void **state)
{
    (void)state;
    cfg.max_body_size = 10;
    build();
    char *out = req("POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
    assert_int_equal(resp_status(out), 413);
    assert_null(strstr(out, "100 Continue"));
    assert_string_equal(resp_body(out), "{\"errorCode\":\"ERR_BODY_TOO_LARGE\",\"message\":"
                                        "\"request body size 11 exceeds the maximum body size of 10 bytes\"}");
    assert_int_equal(rec.requests, 0);
    free(out);
}

static void test_bodylimit_at_limit(void **state)
{
    (void)state;
    cfg.max_body_size = 10;
    build();
    char *out = req("POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n0123456789");
    assert_non_null(strstr(out, "HTTP/1.1 100 Continue\r\n"));
    assert_int_equal(resp_status(out), 200);
    assert_int_equal(rec.body_len, 10);
    free(out);
}

static void test_bodylimit_chunked_crossing(void **state)
{
    (void)state;
    cfg.max_body_size = 10;
    build();
    char *out = req("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "6\r\nabcdef\r\n5\r\nghijk\r\n3\r\nlmn\r\n0\r\n\r\n");
    assert_int_equal(resp_status(out), 413);
    assert_string_equal(resp_body(out), "{\"errorCode\":\"ERR_BODY_TOO_LARGE\",\"message\":"
                                        "\"request body size at least 11 exceeds the maximum body size of 10 bytes\"}");
    /* the handler saw the first chunk only, then was cut off */
    assert_int_equal(rec.requests, 1);
    assert_int_equal(rec.body_len, 6);
    assert_memory_equal(rec.body, "abcdef", 6);
    assert_int_equal(rec.aborts, 1);
    assert_int_equal(rec.ends, 0);
    free(out);
}

static void test_bodylimit_chunked_within(void **state)
{
    (void)state;
    cfg.max_body_size = 10;
    build();
    char *out = req("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n");
    assert_int_equal(resp_status(out), 200);
    assert_int_equal(rec.body_len, 10);
    assert_int_equal(rec.ends, 1);
    free(out);
}

static void test_bodylimit_disabled(void **state)
{
    (void)state;
    errno = EINVAL;
    cfg.max_body_size = 0;
    assert_null(mw_bodylimit_new(&cfg));
    assert_int_equal(errno, 0);
    cfg.max_body_size = -1;
    assert_null(mw_bodylimit_new(&cfg));
}

/* ---- ratelimit and components ------------------------------------------------------------- */

static int status_from(const char *peer)
{
    char *out = run_chain(&chain, peer, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    int s = resp_status(out);
    if (s == 429)
        assert_string_equal(resp_body(out), "{\"errorCode\":\"ERR_TOO_MANY_REQUESTS\",\"message\":\"too many requests\"}");
    free(out);
    return s;
}

static void test_ratelimit_per_client(void **state)
{
    (void)state;
    cfg.spec.http_pipeline = (config_pipeline_t){ &rl_handler, 1 };
    build();
    assert_int_equal(status_from("10.0.0.1:1000"), 200);
    assert_int_equal(status_from("10.0.0.1:1001"), 200);
    assert_int_equal(status_from("10.0.0.1:1002"), 429); /* burst 2 spent; port does not matter */
    assert_int_equal(status_from("10.0.0.2:1000"), 200);
    /* IPv6 clients are keyed by their /64, like tollbooth */
    assert_int_equal(status_from("[2001:db8::1]:1"), 200);
    assert_int_equal(status_from("[2001:db8::1]:2"), 200);
    assert_int_equal(status_from("[2001:db8::2]:3"), 429);
    assert_int_equal(status_from("[2001:db8:0:1::1]:3"), 200);
    assert_int_equal(rec.requests, 6);
}

static void test_ratelimit_refills(void **state)
{
    (void)state;
    rl_meta[0].value = "20";
    cfg.spec.http_pipeline = (config_pipeline_t){ &rl_handler, 1 };
    build();
    for (int i = 0; i < 20; i++)
        assert_int_equal(status_from("10.1.1.1:5"), 200);
    assert_int_equal(status_from("10.1.1.1:5"), 429);
    struct timespec ts = { 0, 120 * 1000 * 1000 }; /* 2.4 tokens at 20/s */
    nanosleep(&ts, NULL);
    assert_int_equal(status_from("10.1.1.1:5"), 200);
}

static void test_ratelimit_many_clients_bounded(void **state)
{
    (void)state;
    rl_meta[0].value = "1";
    char err[128];
    mw_filter_t *f = mw_component_new(&rl_handler, err, sizeof err);
    assert_non_null(f);
    /* Far more clients than the table holds: every newcomer still gets its first request. */
    for (int i = 0; i < 20000; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.%d.%d.%d:80", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        http_exchange_t ex = { .req = { .peer = peer } };
        mw_exchange_t x = { .http = &ex };
        assert_int_equal(f->ops->on_request(f, &x), MW_CONTINUE);
    }
    f->ops->destroy(f);
}

static void test_ratelimit_bad_metadata(void **state)
{
    (void)state;
    static const char *const bad[] = { "0", "-1", "abc", "", "1e400", "nan", "5x" };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(bad); i++) {
        char err[256] = "";
        rl_meta[0].value = (char *)bad[i];
        assert_null(mw_component_new(&rl_handler, err, sizeof err));
        if (!strstr(err, "maxRequestsPerSecond must be a positive value"))
            fail_msg("'%s': %s", bad[i], err);
    }
    /* absent → Dapr's default of 100 */
    char err[64];
    rl_comp.metadata_count = 0;
    mw_filter_t *f = mw_component_new(&rl_handler, err, sizeof err);
    assert_non_null(f);
    f->ops->destroy(f);
    /* names are case-insensitive, as Dapr decodes metadata */
    rl_meta[0] = (config_kv_t){ "MAXREQUESTSPERSECOND", " 3 " };
    rl_comp.metadata_count = 1;
    f = mw_component_new(&rl_handler, err, sizeof err);
    assert_non_null(f);
    f->ops->destroy(f);
}

static void test_unknown_component_fails_start(void **state)
{
    (void)state;
    config_component_t up = { .name = "up", .type = "middleware.http.uppercase", .version = "v1" };
    config_handler_t h[2] = { rl_handler, { "up", "middleware.http.uppercase", "v1", &up } };
    char err[256] = "";
    assert_null(mw_component_new(&h[1], err, sizeof err));
    assert_string_equal(err, "middleware type middleware.http.uppercase is not supported by Remora");

    /* Start-up fails as a whole; what was built is released (ASan checks the leak). */
    cfg.allowed_origins = "*";
    cfg.dapr_api_token = "t";
    cfg.spec.sampling_rate = 1;
    cfg.spec.http_pipeline = (config_pipeline_t){ h, 2 };
    err[0] = '\0';
    assert_int_equal(mw_chain_build_api(&chain, &cfg, rec_handler(), err, sizeof err), -1);
    assert_string_equal(err, "middleware type middleware.http.uppercase is not supported by Remora");
    assert_int_equal(chain.count, 0);
    cfg.spec.app_http_pipeline = (config_pipeline_t){ h + 1, 1 };
    assert_int_equal(mw_chain_build_app(&chain, &cfg, rec_handler(), err, sizeof err), -1);
    assert_int_equal(chain.count, 0);
}

static void test_build_order(void **state)
{
    (void)state;
    cfg.spec.sampling_rate = 1;
    cfg.dapr_api_token = "t";
    cfg.allowed_origins = "*";
    cfg.max_body_size = 4 << 20;
    cfg.spec.http_pipeline = (config_pipeline_t){ &rl_handler, 1 };
    build();
    static const char *const want[] = { "tracing", "apitoken", "cors", "bodylimit", "ratelimit" };
    assert_int_equal(chain.count, BASE_ARRAY_SIZE(want));
    for (size_t i = 0; i < BASE_ARRAY_SIZE(want); i++)
        assert_string_equal(chain.filters[i]->ops->name, want[i]);
    mw_chain_destroy(&chain);

    /* The app chain holds the appHttpPipeline components only. */
    cfg.spec.http_pipeline = (config_pipeline_t){ 0 };
    cfg.spec.app_http_pipeline = (config_pipeline_t){ &rl_handler, 1 };
    char err[128];
    assert_int_equal(mw_chain_build_app(&chain, &cfg, rec_handler(), err, sizeof err), 0);
    assert_int_equal(chain.count, 1);
    assert_string_equal(chain.filters[0]->ops->name, "ratelimit");
}

static void test_build_too_many_handlers(void **state)
{
    (void)state;
    config_handler_t many[MW_MAX_FILTERS + 1];
    for (size_t i = 0; i < BASE_ARRAY_SIZE(many); i++)
        many[i] = rl_handler;
    cfg.spec.http_pipeline = (config_pipeline_t){ many, BASE_ARRAY_SIZE(many) };
    char err[128] = "";
    assert_int_equal(mw_chain_build_api(&chain, &cfg, rec_handler(), err, sizeof err), -1);
    assert_non_null(strstr(err, "too many middleware handlers"));
    assert_int_equal(chain.count, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_apitoken_missing_or_wrong),
        T(test_apitoken_right_and_removed),
        T(test_apitoken_exempt_exact_paths),
        T(test_apitoken_not_exempt),
        T(test_apitoken_disabled),
        T(test_tracing_continues_incoming),
        T(test_tracing_starts_new_trace),
        T(test_tracing_keeps_handler_traceparent),
        T(test_tracing_skips_health),
        T(test_tracing_disabled),
        T(test_traceparent_on_local_error),
        T(test_cors_star_actual_request),
        T(test_cors_star_preflight),
        T(test_cors_preflight_method_denied),
        T(test_cors_list_and_wildcard),
        T(test_cors_list_preflight),
        T(test_cors_options_not_preflight),
        T(test_cors_disabled),
        T(test_cors_headers_on_413_not_on_401),
        T(test_bodylimit_content_length_over),
        T(test_bodylimit_at_limit),
        T(test_bodylimit_chunked_crossing),
        T(test_bodylimit_chunked_within),
        T(test_bodylimit_disabled),
        T(test_ratelimit_per_client),
        T(test_ratelimit_refills),
        T(test_ratelimit_many_clients_bounded),
        T(test_ratelimit_bad_metadata),
        T(test_unknown_component_fails_start),
        T(test_build_order),
        T(test_build_too_many_handlers),
    };
    return cmocka_run_group_tests_name("middleware_filters", tests, NULL, NULL);
}
