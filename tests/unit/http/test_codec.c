/* The HTTP/1.x codec without sockets: request bytes in, response bytes out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http/codec.h"

/* A handler that answers synchronously with the request's method, path, query and the body it
 * received; `defer` makes it answer later (the test calls answer_deferred). */
typedef struct seen {
    int requests;
    int aborts;
    int defer;
    int reply_at_head; /* answer from on_request, before the body */
    http_exchange_t *pending;
    char last_path[256];
    char body[8192];
    size_t body_len;
} seen_t;

static seen_t seen;

static void respond(http_exchange_t *ex)
{
    char buf[9000];
    int n = snprintf(buf, sizeof(buf), "%.*s %.*s ?%.*s body=%.*s", (int)ex->req.method.len, ex->req.method.base,
                     (int)ex->req.path.len, ex->req.path.base, (int)ex->req.query.len, ex->req.query.base,
                     (int)seen.body_len, seen.body);
    http_exchange_respond(ex, 200, "text/plain", base_slice(buf, (size_t)n));
}

static void on_data(http_exchange_t *ex, base_slice_t chunk)
{
    (void)ex;
    if (seen.body_len + chunk.len < sizeof(seen.body)) {
        memcpy(seen.body + seen.body_len, chunk.base, chunk.len);
        seen.body_len += chunk.len;
    }
}

static void on_end(http_exchange_t *ex)
{
    if (seen.defer)
        seen.pending = ex;
    else
        respond(ex);
}

static void on_abort(http_exchange_t *ex, http_abort_reason_t why)
{
    (void)ex;
    (void)why;
    seen.aborts++;
    seen.pending = NULL;
}

static const http_body_cbs_t body_cbs = { on_data, on_end };

static void on_request(void *ctx, http_exchange_t *ex, http_listener_kind_t kind)
{
    (void)ctx;
    (void)kind;
    seen.requests++;
    seen.body_len = 0;
    snprintf(seen.last_path, sizeof(seen.last_path), "%.*s", (int)ex->req.path.len, ex->req.path.base);
    ex->body_cbs = &body_cbs;
    ex->on_abort = on_abort;
    if (seen.reply_at_head)
        http_exchange_respond(ex, 401, "text/plain", BASE_SLICE_LIT("no"));
}

static http_codec_t *codec_new(void)
{
    memset(&seen, 0, sizeof(seen));
    http_codec_limits_t limits = { .max_header_bytes = 4096, .max_header_count = 100, .max_request_line = 8192,
                                   .max_body_bytes = 1u << 20 };
    http_handler_t h = { on_request, NULL };
    http_codec_t *c = http_codec_new(&limits, &h, HTTP_LISTENER_API, NULL, "127.0.0.1:1");
    assert_non_null(c);
    return c;
}

static char out[1 << 16];

/* Feeds `in` and returns the output so far as a C string (consumed). */
static const char *run(http_codec_t *c, const char *in, size_t len)
{
    http_codec_feed(c, in, len);
    base_buf_t *o = http_codec_output(c);
    size_t n = o->len < sizeof(out) - 1 ? o->len : sizeof(out) - 1;
    if (n)
        memcpy(out, o->base, n);
    out[n] = '\0';
    base_buf_consume(o, o->len);
    return out;
}

#define RUN(c, s) run((c), (s), sizeof(s) - 1)

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_simple_get(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    const char *r = RUN(c, "GET /v1.0/metadata?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(r, "Content-Length: "));
    assert_non_null(strstr(r, "GET /v1.0/metadata ?x=1 body="));
    assert_null(strstr(r, "Connection: close"));
    assert_false(http_codec_should_close(c));
    assert_int_equal(http_codec_state(c), HTTP_CODEC_IDLE);
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_pipelined_in_order(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    const char *r = RUN(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(seen.requests, 3);
    const char *a = strstr(r, "GET /a"), *b = strstr(r, "POST /b ? body=xyz"), *cc = strstr(r, "GET /c");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(cc);
    assert_true(a < b && b < cc);
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_deferred_response_holds_next_request(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    seen.defer = 1;
    const char *r = RUN(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_string_equal(r, "");
    assert_int_equal(seen.requests, 1);
    assert_int_equal(http_codec_state(c), HTTP_CODEC_RESPONDING);
    assert_true(http_codec_busy(c));
    seen.defer = 0;
    respond(seen.pending);
    http_codec_resume(c);
    r = run(c, "", 0);
    assert_int_equal(seen.requests, 2);
    assert_true(strstr(r, "GET /a") < strstr(r, "GET /b"));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_chunked_request_and_byte_by_byte(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    static const char req[] = "PUT /k HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    for (size_t i = 0; i < sizeof(req) - 1; i++)
        run(c, req + i, 1);
    assert_int_equal(seen.requests, 1);
    assert_int_equal(seen.body_len, 11);
    assert_memory_equal(seen.body, "hello world", 11);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_http10_closes(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    const char *r = RUN(c, "GET /a HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(r, "Connection: close"));
    assert_true(http_codec_should_close(c));
    http_codec_free(c, HTTP_ABORT_CLOSED);

    c = codec_new();
    r = RUN(c, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_non_null(strstr(r, "Connection: keep-alive"));
    assert_false(http_codec_should_close(c));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_connection_close(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    const char *r = RUN(c, "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(seen.requests, 1);
    assert_non_null(strstr(r, "Connection: close"));
    assert_true(http_codec_should_close(c));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_head_has_no_body(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    const char *r = RUN(c, "HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_non_null(strstr(r, "Content-Length: "));
    assert_null(strstr(r, "body="));
    assert_string_equal(strstr(r, "\r\n\r\n"), "\r\n\r\n");
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_expect_continue(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    const char *r = RUN(c, "PUT /k HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    assert_string_equal(r, "HTTP/1.1 100 Continue\r\n\r\n");
    r = RUN(c, "ok");
    assert_non_null(strstr(r, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(r, "body=ok"));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

/* Each malformed head gets its status and the connection closes; nothing after it is parsed. */
static void expect_reject(const char *req, const char *status_line)
{
    http_codec_t *c = codec_new();
    char buf[20000];
    snprintf(buf, sizeof(buf), "%sGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", req);
    const char *r = run(c, buf, strlen(buf));
    if (!strstr(r, status_line))
        fail_msg("request %s: expected %s, got %.80s", req, status_line, r);
    assert_int_equal(count(r, "HTTP/1.1 "), 1);
    assert_null(strstr(r, "smuggled"));
    assert_non_null(strstr(r, "Connection: close"));
    assert_true(http_codec_should_close(c));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_framing_errors(void **state)
{
    (void)state;
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400");
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "HTTP/1.1 400");
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", "HTTP/1.1 400");
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 400");
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\nHost: a\n\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/2.0\r\nHost: a\r\n\r\n", "HTTP/1.1 505");
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 400");
    /* what Debian's llhttp 8.1 lets through and the codec checks itself */
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", "HTTP/1.1 400");
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400");
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T : v\r\n\r\n", "HTTP/1.1 400");
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n b\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\nHost: a\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\n\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\rHost: a\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.x\r\nHost: a\r\n\r\n", "HTTP/1.1 400");
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", "HTTP/1.1 400");
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\nab", "HTTP/1.1 413");
}

static void test_limits(void **state)
{
    (void)state;
    static char buf[20000];
    /* request line over 8 KiB → 414 */
    int n = snprintf(buf, sizeof(buf), "GET /");
    memset(buf + n, 'a', 8200);
    snprintf(buf + n + 8200, sizeof(buf) - (size_t)n - 8200, " HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_reject(buf, "HTTP/1.1 414");
    /* header block over 4096 → 431 */
    n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(buf + n, 'b', 4100);
    snprintf(buf + n + 4100, sizeof(buf) - (size_t)n - 4100, "\r\n\r\n");
    expect_reject(buf, "HTTP/1.1 431");
    /* 101 headers → 431 */
    n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 100; i++)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "X%d: 1\r\n", i);
    snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n");
    expect_reject(buf, "HTTP/1.1 431");
}

static void test_timeout_mid_head_408(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    RUN(c, "GET / HTTP/1.1\r\nHo");
    assert_int_equal(http_codec_state(c), HTTP_CODEC_READING_HEAD);
    http_codec_timeout(c);
    const char *r = run(c, "", 0);
    assert_non_null(strstr(r, "HTTP/1.1 408"));
    assert_non_null(strstr(r, "ERR_REQUEST_TIMEOUT"));
    assert_true(http_codec_should_close(c));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_timeout_mid_body_aborts_exchange(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    RUN(c, "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    assert_int_equal(http_codec_state(c), HTTP_CODEC_READING_BODY);
    http_codec_timeout(c);
    const char *r = run(c, "", 0);
    assert_non_null(strstr(r, "HTTP/1.1 408"));
    assert_int_equal(seen.aborts, 1);
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_eof_mid_request_aborts(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    RUN(c, "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    http_codec_eof(c);
    assert_int_equal(seen.aborts, 1);
    assert_true(http_codec_should_close(c));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_drain_closes_after_current(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    seen.defer = 1;
    RUN(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
    http_codec_drain(c);
    seen.defer = 0;
    respond(seen.pending);
    const char *r = run(c, "", 0);
    assert_non_null(strstr(r, "Connection: close"));
    assert_true(http_codec_should_close(c));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

/* A response of unknown length: a body that ends within the first 2048 bytes goes out with
 * Content-Length in one piece (as Go's net/http answers); a longer one goes out chunked, the
 * held bytes first. */
static void test_chunked_response(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    seen.defer = 1;
    RUN(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
    http_exchange_t *ex = seen.pending;
    ex->res.status = 200;
    assert_int_equal(http_exchange_send_head(ex), 0);
    assert_int_equal(http_exchange_send_body(ex, "abc", 3, 0), 0);
    assert_int_equal(http_codec_output(c)->len, 0); /* held */
    assert_int_equal(http_exchange_send_body(ex, "de", 2, 1), 0);
    const char *r = run(c, "", 0);
    assert_null(strstr(r, "Transfer-Encoding"));
    assert_non_null(strstr(r, "Content-Length: 5\r\n"));
    assert_non_null(strstr(r, "\r\n\r\nabcde"));

    static char big[3000];
    memset(big, 'x', sizeof(big));
    seen.pending = NULL;
    RUN(c, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    ex = seen.pending;
    assert_non_null(ex);
    ex->res.status = 200;
    assert_int_equal(http_exchange_send_head(ex), 0);
    assert_int_equal(http_exchange_send_body(ex, "abc", 3, 0), 0);
    assert_int_equal(http_exchange_send_body(ex, big, sizeof(big), 0), 0);
    assert_int_equal(http_exchange_send_body(ex, "de", 2, 1), 0);
    r = run(c, "", 0);
    assert_non_null(strstr(r, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(r, "\r\n\r\nbbb\r\nabcxxx"));
    assert_non_null(strstr(r, "xxx\r\n2\r\nde\r\n0\r\n\r\n"));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

/* A reply from on_request to a bodyless request keeps the connection (pipelining goes on);
 * to a request whose body is still unread it closes (the body stays on the wire). */
static void test_reply_at_head(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    seen.reply_at_head = 1;
    const char *r = RUN(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(seen.requests, 2);
    assert_int_equal(count(r, "HTTP/1.1 401"), 2);
    assert_null(strstr(r, "Connection: close"));
    assert_false(http_codec_should_close(c));
    http_codec_free(c, HTTP_ABORT_CLOSED);

    c = codec_new();
    seen.reply_at_head = 1;
    r = RUN(c, "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(count(r, "HTTP/1.1 401"), 1);
    assert_non_null(strstr(r, "Connection: close"));
    assert_true(http_codec_should_close(c));
    assert_true(http_codec_unread_input(c));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

static void test_valid_hosts_and_trailers(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "GET / HTTP/1.1\r\nHost: a.b-c_d:80\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::1]:3500\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: v\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        http_codec_t *c = codec_new();
        const char *r = run(c, ok[i], strlen(ok[i]));
        if (!strstr(r, "HTTP/1.1 200 OK"))
            fail_msg("request %zu rejected: %.60s", i, r);
        http_codec_free(c, HTTP_ABORT_CLOSED);
    }
}

static void test_absolute_form_target(void **state)
{
    (void)state;
    http_codec_t *c = codec_new();
    const char *r = RUN(c, "GET http://example.com/v1.0/healthz?a=b HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_non_null(strstr(r, "GET /v1.0/healthz ?a=b"));
    http_codec_free(c, HTTP_ABORT_CLOSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_pipelined_in_order),
        cmocka_unit_test(test_deferred_response_holds_next_request),
        cmocka_unit_test(test_chunked_request_and_byte_by_byte),
        cmocka_unit_test(test_http10_closes),
        cmocka_unit_test(test_connection_close),
        cmocka_unit_test(test_head_has_no_body),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_framing_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_timeout_mid_head_408),
        cmocka_unit_test(test_timeout_mid_body_aborts_exchange),
        cmocka_unit_test(test_eof_mid_request_aborts),
        cmocka_unit_test(test_drain_closes_after_current),
        cmocka_unit_test(test_chunked_response),
        cmocka_unit_test(test_absolute_form_target),
        cmocka_unit_test(test_reply_at_head),
        cmocka_unit_test(test_valid_hosts_and_trailers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
