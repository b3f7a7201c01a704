/* test_chain.c - the chain engine: order, reverse responses, local replies, body, abort. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "http/codec.h"

/* A test filter: logs "<name>.req/.body/.resp", adds "X-<name>: 1" on the response, and may
 * answer locally from on_request or on_body. */
typedef struct tfilter {
    mw_filter_t base;
    const char *name;
    int stop_on_request; /* status to answer with, 0 = pass */
    int stop_on_body;
} tfilter_t;

static void log_hook(const tfilter_t *t, const char *hook)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%s.%s", t->name, hook);
    rec_log(buf);
}

static mw_status_t t_request(mw_filter_t *f, mw_exchange_t *x)
{
    tfilter_t *t = (tfilter_t *)f;
    log_hook(t, "req");
    if (t->stop_on_request) {
        mw_reply(x, t->stop_on_request, "text/plain", BASE_SLICE_LIT("local"));
        return MW_STOP;
    }
    return MW_CONTINUE;
}

static mw_status_t t_body(mw_filter_t *f, mw_exchange_t *x, base_slice_t chunk)
{
    tfilter_t *t = (tfilter_t *)f;
    (void)chunk;
    log_hook(t, "body");
    if (t->stop_on_body) {
        mw_reply_error(x, BASE_ERR_BAD_REQUEST, "stopped in body");
        return MW_STOP;
    }
    return MW_CONTINUE;
}

static void t_response(mw_filter_t *f, mw_exchange_t *x)
{
    tfilter_t *t = (tfilter_t *)f;
    char name[16];
    log_hook(t, "resp");
    snprintf(name, sizeof name, "X-%s", t->name);
    http_headers_add_copy(&x->http->res.headers, x->http->pool, base_slice_cstr(name), BASE_SLICE_LIT("1"));
}

static const mw_filter_ops_t tops = { "test", t_request, t_body, t_response, NULL };

static tfilter_t fa, fb, fc;
static mw_chain_t chain;

static int setup(void **state)
{
    (void)state;
    rec_reset();
    fa = (tfilter_t){ { &tops }, "A", 0, 0 };
    fb = (tfilter_t){ { &tops }, "B", 0, 0 };
    fc = (tfilter_t){ { &tops }, "C", 0, 0 };
    memset(&chain, 0, sizeof chain);
    chain.handler = rec_handler();
    assert_int_equal(mw_chain_add(&chain, &fa.base), 0);
    assert_int_equal(mw_chain_add(&chain, &fb.base), 0);
    assert_int_equal(mw_chain_add(&chain, &fc.base), 0);
    return 0;
}

static void test_order_forward_and_reverse(void **state)
{
    (void)state;
    char *out = run_chain(&chain, NULL, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    assert_string_equal(rec.log, "A.req B.req C.req H.req A.body B.body C.body H.body H.end C.resp B.resp A.resp");
    assert_int_equal(resp_status(out), 200);
    assert_string_equal(resp_header(out, "X-A", 0), "1");
    assert_string_equal(resp_header(out, "X-C", 0), "1");
    assert_string_equal(resp_body(out), "ok");
    assert_int_equal(rec.body_len, 3);
    assert_memory_equal(rec.body, "abc", 3);
    free(out);
}

static void test_local_reply_passes_back_through_earlier_filters(void **state)
{
    (void)state;
    fb.stop_on_request = 403;
    char *out = run_chain(&chain, NULL, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    /* B saw the request and answered: B and A get on_response, C and the handler nothing,
     * and the body goes nowhere. */
    assert_string_equal(rec.log, "A.req B.req B.resp A.resp");
    assert_int_equal(resp_status(out), 403);
    assert_string_equal(resp_body(out), "local");
    assert_non_null(resp_header(out, "X-A", 0));
    assert_non_null(resp_header(out, "X-B", 0));
    assert_null(resp_header(out, "X-C", 0));
    assert_int_equal(rec.requests, 0);
    assert_int_equal(rec.bodies, 0);
    assert_int_equal(rec.ends, 0);
    free(out);
}

static void test_filter_stops_in_body_cuts_handler_off(void **state)
{
    (void)state;
    fc.stop_on_body = 1;
    char *out = run_chain(&chain, NULL, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    assert_string_equal(rec.log, "A.req B.req C.req H.req A.body B.body C.body H.abort C.resp B.resp A.resp");
    assert_int_equal(resp_status(out), 400);
    assert_int_equal(rec.bodies, 0);
    assert_int_equal(rec.ends, 0);
    assert_string_equal(resp_body(out), "{\"errorCode\":\"ERR_MALFORMED_REQUEST\",\"message\":\"stopped in body\"}");
    free(out);
}

static void test_reply_twice_is_harmless(void **state)
{
    (void)state;
    rec.reply_twice = 1;
    char *out = run_chain(&chain, NULL, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(rec.second_rc, -1);
    assert_int_equal(resp_status(out), 200);
    assert_null(strstr(out, "again"));
    assert_null(strstr(out + 1, "HTTP/1.1"));
    /* on_response ran once per filter */
    assert_string_equal(rec.log, "A.req B.req C.req H.req H.end C.resp B.resp A.resp");
    free(out);
}

/* A handler that answers with a JSON error whose message needs escaping. */
static void err_request(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    rec.requests++;
    mw_reply_error(x, BASE_ERR_METHOD_NOT_ALLOWED, "say \"no\"\n");
}

static void err_request_default(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    mw_reply_error_status(x, 403, BASE_ERR_DIRECT_INVOKE, NULL);
}

static void test_reply_error_escapes_and_uses_table(void **state)
{
    (void)state;
    mw_chain_t c2 = { .handler = { err_request, NULL, NULL, NULL, NULL } };
    char *out = run_chain(&c2, NULL, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(resp_status(out), 405);
    assert_string_equal(resp_header(out, "Content-Type", 0), "application/json");
    assert_string_equal(resp_body(out), "{\"errorCode\":\"ERR_METHOD_NOT_ALLOWED\",\"message\":\"say \\\"no\\\"\\n\"}");
    assert_int_equal(atoi(resp_header(out, "Content-Length", 0)), (int)strlen(resp_body(out)));
    free(out);

    c2.handler.on_request = err_request_default;
    out = run_chain(&c2, NULL, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(resp_status(out), 403);
    assert_string_equal(resp_body(out), "{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":\"failed to invoke\"}");
    free(out);
}

static void test_streamed_reply(void **state)
{
    (void)state;
    rec.stream = 1;
    char *out = run_chain(&chain, NULL, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(resp_status(out), 200);
    /* a short body of unknown length is held and sent with its length (see the codec) */
    assert_null(resp_header(out, "Transfer-Encoding", 0));
    assert_string_equal(resp_header(out, "Content-Length", 0), "5");
    assert_non_null(resp_header(out, "X-A", 0));
    assert_string_equal(resp_body(out), "hello");
    free(out);
}

static void test_abort_reaches_handler_once(void **state)
{
    (void)state;
    void *codec;
    char *out = run_chain_keep(&chain, NULL, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc", &codec);
    assert_string_equal(out, "");
    assert_int_equal(rec.requests, 1);
    assert_int_equal(rec.aborts, 0);
    http_codec_free(codec, HTTP_ABORT_CLOSED);
    assert_int_equal(rec.aborts, 1);
    assert_int_equal(rec.ends, 0);
    free(out);
}

static void test_abort_after_local_reply_not_forwarded(void **state)
{
    (void)state;
    /* A filter answered; the handler never saw the request, so it is not told of aborts. */
    fa.stop_on_request = 401;
    void *codec;
    char *out = run_chain_keep(&chain, NULL, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc", &codec);
    assert_int_equal(resp_status(out), 401);
    http_codec_free(codec, HTTP_ABORT_CLOSED);
    assert_int_equal(rec.aborts, 0);
    assert_int_equal(rec.requests, 0);
    free(out);
}

static void test_chain_full(void **state)
{
    (void)state;
    mw_chain_t c2 = { 0 };
    for (int i = 0; i < MW_MAX_FILTERS; i++)
        assert_int_equal(mw_chain_add(&c2, &fa.base), 0);
    assert_int_equal(mw_chain_add(&c2, &fa.base), -1);
    assert_int_equal(c2.count, MW_MAX_FILTERS);
}

static void test_filter_data_slot(void **state)
{
    (void)state;
    mw_exchange_t x = { .chain = &chain };
    assert_ptr_equal(mw_filter_data(&x, &fb.base), &x.filter_data[1]);
    tfilter_t other = fa;
    assert_null(mw_filter_data(&x, &other.base));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_order_forward_and_reverse, setup),
        cmocka_unit_test_setup(test_local_reply_passes_back_through_earlier_filters, setup),
        cmocka_unit_test_setup(test_filter_stops_in_body_cuts_handler_off, setup),
        cmocka_unit_test_setup(test_reply_twice_is_harmless, setup),
        cmocka_unit_test_setup(test_reply_error_escapes_and_uses_table, setup),
        cmocka_unit_test_setup(test_streamed_reply, setup),
        cmocka_unit_test_setup(test_abort_reaches_handler_once, setup),
        cmocka_unit_test_setup(test_abort_after_local_reply_not_forwarded, setup),
        cmocka_unit_test_setup(test_chain_full, setup),
        cmocka_unit_test_setup(test_filter_data_slot, setup),
    };
    return cmocka_run_group_tests_name("middleware_chain", tests, NULL, NULL);
}
