#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/codec.h"

rec_t rec;

void rec_reset(void)
{
    memset(&rec, 0, sizeof rec);
}

void rec_log(const char *what)
{
    size_t n = strlen(rec.log);
    snprintf(rec.log + n, sizeof rec.log - n, "%s%s", n ? " " : "", what);
}

static void h_reply(mw_exchange_t *x)
{
    if (rec.extra_header) {
        const char *colon = strchr(rec.extra_header, ':');
        http_headers_add(&x->http->res.headers, x->http->pool,
                         base_slice(rec.extra_header, (size_t)(colon - rec.extra_header)),
                         base_slice_trim(base_slice_cstr(colon + 1)));
    }
    if (rec.stream) {
        x->http->res.content_length = -1;
        mw_reply_head(x, 200);
        mw_send_body(x, "hel", 3, 0);
        mw_send_body(x, "lo", 2, 1);
    } else {
        mw_reply(x, 200, "text/plain", BASE_SLICE_LIT("ok"));
    }
    if (rec.reply_twice)
        rec.second_rc = mw_reply(x, 500, "text/plain", BASE_SLICE_LIT("again"));
}

static void h_request(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    rec.requests++;
    rec_log("H.req");
    rec.saw_token_header = http_headers_get(&x->http->req.headers, "dapr-api-token") != NULL;
    rec.traced = x->traced;
    rec.trace = x->trace;
    if (rec.reply_in_request)
        h_reply(x);
}

static void h_body(void *ctx, mw_exchange_t *x, base_slice_t chunk)
{
    (void)ctx;
    (void)x;
    rec.bodies++;
    rec_log("H.body");
    size_t n = BASE_MIN(chunk.len, sizeof rec.body - rec.body_len);
    memcpy(rec.body + rec.body_len, chunk.base, n);
    rec.body_len += n;
}

static void h_end(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    rec.ends++;
    rec_log("H.end");
    if (!rec.reply_in_request)
        h_reply(x);
}

static void h_abort(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    (void)x;
    rec.aborts++;
    rec_log("H.abort");
}

mw_handler_t rec_handler(void)
{
    return (mw_handler_t){ h_request, h_body, h_end, h_abort, NULL };
}

char *run_chain_keep(mw_chain_t *chain, const char *peer, const char *raw, void **keep)
{
    http_codec_limits_t limits = { .max_header_bytes = 8192, .max_header_count = 100, .max_request_line = 8192 };
    http_handler_t handler = { mw_chain_on_request, chain };
    http_codec_t *c = http_codec_new(&limits, &handler, HTTP_LISTENER_API, NULL, peer ? peer : "127.0.0.1:40000");
    if (!c)
        abort();
    http_codec_feed(c, raw, strlen(raw));
    base_buf_t *o = http_codec_output(c);
    char *out = malloc(o->len + 1);
    if (!out)
        abort();
    if (o->len)
        memcpy(out, o->base, o->len);
    out[o->len] = '\0';
    base_buf_consume(o, o->len);
    if (keep)
        *keep = c;
    else
        http_codec_free(c, HTTP_ABORT_CLOSED);
    return out;
}

char *run_chain(mw_chain_t *chain, const char *peer, const char *raw)
{
    return run_chain_keep(chain, peer, raw, NULL);
}

/* The first final response: skips a leading 100 Continue. */
static const char *head_start(const char *out)
{
    if (strncmp(out, "HTTP/1.1 100 ", 13) == 0) {
        const char *e = strstr(out, "\r\n\r\n");
        if (e)
            return e + 4;
    }
    return out;
}

int resp_status(const char *out)
{
    int status = -1;
    if (sscanf(head_start(out), "HTTP/1.1 %d", &status) != 1)
        return -1;
    return status;
}

const char *resp_header(const char *out, const char *name, int n)
{
    static char value[1024];
    const char *p = head_start(out);
    const char *end = strstr(p, "\r\n\r\n");
    size_t nl = strlen(name);
    if (!end)
        return NULL;
    p = strstr(p, "\r\n");
    while (p && p < end) {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':' && n-- == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = (size_t)(eol - v);
            if (len >= sizeof value)
                len = sizeof value - 1;
            memcpy(value, v, len);
            value[len] = '\0';
            return value;
        }
        p = eol;
    }
    return NULL;
}

int resp_header_count(const char *out, const char *name)
{
    int n = 0;
    while (resp_header(out, name, n))
        n++;
    return n;
}

const char *resp_body(const char *out)
{
    const char *e = strstr(head_start(out), "\r\n\r\n");
    return e ? e + 4 : "";
}
