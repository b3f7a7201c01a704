/* The client's response parser without sockets: response bytes in, head and body out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "client_parser.h"

typedef struct seen {
    int heads;
    int status;
    char headers[1024];
    char body[8192];
    size_t body_len;
    int data_calls;
    int stop_on_data; /* stop after each on_data */
    int stop_on_head;
} seen_t;

static seen_t seen;

static int on_head(void *ud, int status, const http_headers_t *h)
{
    (void)ud;
    seen.heads++;
    seen.status = status;
    size_t off = 0;
    for (size_t i = 0; i < h->len; i++)
        off += (size_t)snprintf(seen.headers + off, sizeof(seen.headers) - off, "%.*s=%.*s;", (int)h->items[i].name.len,
                                h->items[i].name.base, (int)h->items[i].value.len, h->items[i].value.base);
    return seen.stop_on_head;
}

static int on_data(void *ud, base_slice_t chunk)
{
    (void)ud;
    assert_true(chunk.len > 0);
    assert_true(seen.body_len + chunk.len < sizeof(seen.body));
    memcpy(seen.body + seen.body_len, chunk.base, chunk.len);
    seen.body_len += chunk.len;
    seen.data_calls++;
    return seen.stop_on_data;
}

static const http_rparser_cbs_t cbs = { on_head, on_data };

typedef struct parser {
    http_rparser_t rp;
    base_pool_t *pool;
} parser_t;

static void start(parser_t *p, int head_request, size_t max_bytes, size_t max_count)
{
    memset(&seen, 0, sizeof(seen));
    p->pool = base_pool_create(0);
    http_rparser_init(&p->rp, max_bytes, max_count, &cbs, NULL);
    http_rparser_start(&p->rp, p->pool, head_request);
}

static void stop(parser_t *p)
{
    http_rparser_free(&p->rp);
    base_pool_destroy(p->pool);
}

/* Feeds everything (resuming after stops) `step` bytes at a time; returns the last result and
 * the bytes consumed in total. */
static http_rparser_result_t feed(parser_t *p, const char *s, size_t len, size_t step, size_t *total)
{
    size_t pos = 0;
    http_rparser_result_t r = HTTP_RPARSER_MORE;
    while (pos < len || r == HTTP_RPARSER_PAUSED) {
        size_t n = BASE_MIN(step, len - pos), used = 0;
        r = http_rparser_execute(&p->rp, s + pos, n, &used);
        pos += used;
        if (r == HTTP_RPARSER_DONE || r == HTTP_RPARSER_ERROR)
            break;
        if (r == HTTP_RPARSER_MORE)
            assert_int_equal(used, n);
    }
    if (total)
        *total = pos;
    return r;
}

#define FEED(p, lit, step, total) feed(p, lit, sizeof(lit) - 1, step, total)

static void test_content_length_any_split(void **state)
{
    (void)state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";
    for (size_t step = 1; step <= sizeof(resp); step++) {
        parser_t p;
        start(&p, 0, 4096, 100);
        size_t used;
        assert_int_equal(FEED(&p, resp, step, &used), HTTP_RPARSER_DONE);
        assert_int_equal(used, sizeof(resp) - 1);
        assert_int_equal(seen.heads, 1);
        assert_int_equal(seen.status, 200);
        assert_string_equal(seen.headers, "Content-Type=text/plain;Content-Length=11;");
        assert_int_equal(seen.body_len, 11);
        assert_memory_equal(seen.body, "hello world", 11);
        assert_true(p.rp.keep_alive);
        assert_int_equal(p.rp.content_length, 11);
        stop(&p);
    }
}

static void test_chunked_with_trailers(void **state)
{
    (void)state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n";
    for (size_t step = 1; step <= sizeof(resp); step++) {
        parser_t p;
        start(&p, 0, 4096, 100);
        size_t used;
        assert_int_equal(FEED(&p, resp, step, &used), HTTP_RPARSER_DONE);
        assert_int_equal(used, sizeof(resp) - 1);
        assert_int_equal(seen.body_len, 11);
        assert_memory_equal(seen.body, "hello world", 11);
        assert_int_equal(p.rp.content_length, -1);
        assert_null(strstr(seen.headers, "X-Trailer")); /* trailers are not fields of the head */
        stop(&p);
    }
}

static void test_interim_responses_skipped(void **state)
{
    (void)state;
    parser_t p;
    start(&p, 0, 4096, 100);
    assert_int_equal(FEED(&p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                              "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
                         7, NULL),
                     HTTP_RPARSER_DONE);
    assert_int_equal(seen.heads, 1);
    assert_int_equal(seen.status, 201);
    assert_string_equal(seen.headers, "Content-Length=2;");
    stop(&p);

    start(&p, 0, 4096, 100);
    assert_int_equal(FEED(&p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
                              "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
                         1000, NULL),
                     HTTP_RPARSER_ERROR);
    assert_non_null(strstr(http_rparser_error(&p.rp), "too many 1xx"));
    stop(&p);

    start(&p, 0, 4096, 100);
    assert_int_equal(FEED(&p, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n", 1000, NULL),
                     HTTP_RPARSER_ERROR);
    stop(&p);
}

static void test_bodiless_responses(void **state)
{
    (void)state;
    parser_t p;
    /* HEAD: the Content-Length describes the GET's body, none follows. */
    start(&p, 1, 4096, 100);
    size_t used;
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    assert_int_equal(FEED(&p, head, 1000, &used), HTTP_RPARSER_DONE);
    assert_int_equal(used, sizeof(head) - 1);
    assert_int_equal(seen.body_len, 0);
    assert_int_equal(p.rp.content_length, 10);
    assert_true(p.rp.keep_alive);
    stop(&p);

    static const char *const statuses[] = { "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                                            "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n" };
    for (size_t i = 0; i < 2; i++) {
        start(&p, 0, 4096, 100);
        assert_int_equal(feed(&p, statuses[i], strlen(statuses[i]), 1000, &used), HTTP_RPARSER_DONE);
        assert_int_equal(used, strlen(statuses[i]));
        assert_int_equal(seen.body_len, 0);
        stop(&p);
    }
}

static void test_close_delimited_body(void **state)
{
    (void)state;
    parser_t p;
    start(&p, 0, 4096, 100);
    assert_int_equal(FEED(&p, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", 3, NULL), HTTP_RPARSER_MORE);
    assert_int_equal(http_rparser_eof(&p.rp), HTTP_RPARSER_DONE);
    assert_int_equal(seen.body_len, 13);
    assert_false(p.rp.keep_alive);
    stop(&p);

    /* HTTP/1.0 without keep-alive: not reusable either. */
    start(&p, 0, 4096, 100);
    assert_int_equal(FEED(&p, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 1000, NULL), HTTP_RPARSER_DONE);
    assert_false(p.rp.keep_alive);
    stop(&p);
}

static void test_eof_errors(void **state)
{
    (void)state;
    parser_t p;
    start(&p, 0, 4096, 100);
    assert_int_equal(http_rparser_eof(&p.rp), HTTP_RPARSER_ERROR);
    assert_string_equal(http_rparser_error(&p.rp), "EOF");
    assert_false(p.rp.started);
    stop(&p);

    start(&p, 0, 4096, 100);
    assert_int_equal(FEED(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1000, NULL), HTTP_RPARSER_MORE);
    assert_int_equal(http_rparser_eof(&p.rp), HTTP_RPARSER_ERROR);
    assert_string_equal(http_rparser_error(&p.rp), "unexpected EOF");
    stop(&p);

    start(&p, 0, 4096, 100);
    assert_int_equal(FEED(&p, "HTTP/1.1 200 O", 1000, NULL), HTTP_RPARSER_MORE);
    assert_int_equal(http_rparser_eof(&p.rp), HTTP_RPARSER_ERROR);
    assert_true(p.rp.started);
    stop(&p);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 abc\r\n\r\n",
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", /* no CRLF after data */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        "FTP/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
    };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(bad); i++) {
        parser_t p;
        start(&p, 0, 4096, 100);
        if (feed(&p, bad[i], strlen(bad[i]), 1000, NULL) != HTTP_RPARSER_ERROR)
            fail_msg("accepted malformed response %zu: %s", i, bad[i]);
        assert_false(p.rp.too_large);
        assert_non_null(strstr(http_rparser_error(&p.rp), "malformed HTTP response"));
        stop(&p);
    }
}

static void test_limits(void **state)
{
    (void)state;
    char resp[4096];
    int n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nX-Big: %0900d\r\nContent-Length: 0\r\n\r\n", 7);
    parser_t p;
    start(&p, 0, 512, 100);
    assert_int_equal(feed(&p, resp, (size_t)n, 64, NULL), HTTP_RPARSER_ERROR);
    assert_true(p.rp.too_large);
    assert_string_equal(http_rparser_error(&p.rp), "server response headers exceeded 512 bytes; aborted");
    stop(&p);

    start(&p, 0, 4096, 100);
    assert_int_equal(feed(&p, resp, (size_t)n, 64, NULL), HTTP_RPARSER_DONE);
    stop(&p);

    size_t off = (size_t)snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 6; i++)
        off += (size_t)snprintf(resp + off, sizeof(resp) - off, "X-%d: v\r\n", i);
    off += (size_t)snprintf(resp + off, sizeof(resp) - off, "\r\n");
    start(&p, 0, 4096, 5);
    assert_int_equal(feed(&p, resp, off, 1000, NULL), HTTP_RPARSER_ERROR);
    assert_true(p.rp.too_large);
    stop(&p);
}

static void test_repeated_fields_kept_in_order(void **state)
{
    (void)state;
    parser_t p;
    start(&p, 0, 4096, 100);
    assert_int_equal(FEED(&p, "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-A: x\r\nSet-Cookie: b=2\r\nX-Space : y\r\n"
                              "Content-Length: 0\r\n\r\n",
                         5, NULL),
                     HTTP_RPARSER_DONE);
    assert_string_equal(seen.headers, "Set-Cookie=a=1;X-A=x;Set-Cookie=b=2;X-Space=y;Content-Length=0;");
    stop(&p);
}

static void test_stop_and_continue(void **state)
{
    (void)state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    parser_t p;
    start(&p, 0, 4096, 100);
    seen.stop_on_data = 1;
    size_t used = 0;
    /* one byte at a time: each on_data stops; the last stop leaves message-complete pending */
    size_t pos = 0;
    http_rparser_result_t r;
    do {
        r = http_rparser_execute(&p.rp, resp + pos, pos < sizeof(resp) - 1 ? 1 : 0, &used);
        pos += used;
    } while (r != HTTP_RPARSER_DONE && r != HTTP_RPARSER_ERROR);
    assert_int_equal(r, HTTP_RPARSER_DONE);
    assert_int_equal(seen.data_calls, 10);
    assert_memory_equal(seen.body, "0123456789", 10);
    stop(&p);

    /* All at once: stops after the body and completes on an execute without bytes. */
    start(&p, 0, 4096, 100);
    seen.stop_on_data = 1;
    assert_int_equal(http_rparser_execute(&p.rp, resp, sizeof(resp) - 1, &used), HTTP_RPARSER_PAUSED);
    assert_int_equal(used, sizeof(resp) - 1);
    assert_int_equal(http_rparser_execute(&p.rp, resp + used, 0, &used), HTTP_RPARSER_DONE);
    stop(&p);

    /* Stopping in on_head holds the body back. */
    start(&p, 0, 4096, 100);
    seen.stop_on_head = 1;
    assert_int_equal(http_rparser_execute(&p.rp, resp, sizeof(resp) - 1, &used), HTTP_RPARSER_PAUSED);
    assert_int_equal(seen.body_len, 0);
    seen.stop_on_head = 0;
    size_t rest = sizeof(resp) - 1 - used;
    assert_int_equal(http_rparser_execute(&p.rp, resp + used, rest, &used), HTTP_RPARSER_DONE);
    assert_int_equal(used, rest);
    assert_int_equal(seen.body_len, 10);
    stop(&p);
}

static void test_bytes_after_response_left(void **state)
{
    (void)state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
    parser_t p;
    start(&p, 0, 4096, 100);
    size_t used;
    assert_int_equal(http_rparser_execute(&p.rp, resp, sizeof(resp) - 1, &used), HTTP_RPARSER_DONE);
    assert_int_equal(used, sizeof(resp) - 1 - strlen("HTTP/1.1 200 OK\r\n"));
    stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_any_split),
        cmocka_unit_test(test_chunked_with_trailers),
        cmocka_unit_test(test_interim_responses_skipped),
        cmocka_unit_test(test_bodiless_responses),
        cmocka_unit_test(test_close_delimited_body),
        cmocka_unit_test(test_eof_errors),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_repeated_fields_kept_in_order),
        cmocka_unit_test(test_stop_and_continue),
        cmocka_unit_test(test_bytes_after_response_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
