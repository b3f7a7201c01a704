/*
 * codec.c - HTTP/1.x server codec on llhttp, without I/O.
 *
 * Input flows: bytes → head scanner (our own RFC 9112 checks and limits) → llhttp → exchange.
 * The scanner runs ahead of llhttp over each request head, so llhttp never sees a head that
 * breaks a limit or a rule that Debian's llhttp 8.1 does not enforce itself: whitespace
 * between a field name and its colon, and obs-fold (RFC 9112 §5.1, §5.2). It also counts
 * the exact request-line (414) and header-block (431) sizes.
 *
 * llhttp is paused at each message end, so the next pipelined request is parsed only after
 * the current response was queued (RFC 9112 §9.3.2: responses in request order).
 */
#include "http/codec.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <strings.h>
#include <time.h>

#include "base/err.h"
#include "base/pool.h"

#define BODY_SLICE (16u * 1024u)   /* body bytes handed to llhttp per call (flow control) */
#define READ_CHUNK (16u * 1024u)   /* space offered to each socket read */
#define INPUT_HIGH_WATER (64u * 1024u)
#define POOL_BLOCK 4096u

enum phase { PHASE_HEAD = 0, PHASE_BODY, PHASE_TRAILER };

enum scan_state {
    SC_START = 0, /* before the request line; leading CRLFs are skipped (RFC 9112 §2.2) */
    SC_REQLINE,
    SC_LINE_START,
    SC_NAME,
    SC_VALUE,
};

struct http_codec {
    llhttp_t parser;
    llhttp_settings_t settings;
    http_codec_limits_t limits;
    http_handler_t handler;
    http_listener_kind_t kind;
    http_codec_owner_t owner;
    char peer[64];

    base_buf_t in;
    size_t in_pos; /* first unparsed byte of `in` */
    base_buf_t out;

    enum phase phase;
    struct {
        enum scan_state state;
        size_t line_len;
        size_t header_bytes;
        size_t header_count;
        int started;
        int cr;            /* the previous byte was CR: only LF may follow */
    } scan;
    char tail[2];          /* the last two bytes llhttp consumed (chunk terminator check) */
    unsigned check_crlf : 1;
    unsigned last_chunk : 1;
    uint64_t body_announced; /* sum of chunk sizes seen so far */

    /* the request being parsed or answered */
    http_exchange_t *ex;
    base_buf_t url;
    base_buf_t field;
    base_buf_t value;
    http_headers_t headers;
    base_pool_t *pool;
    int fail_status; /* set by a callback that rejects the request */
    base_err_t fail_err;

    /* response framing of the current exchange */
    int64_t res_remaining; /* bytes still due under Content-Length, -1 otherwise */
    unsigned res_chunked : 1;
    unsigned res_no_body : 1;
    unsigned res_close_delimited : 1;
    unsigned head_held : 1; /* head of unknown length not yet written (see HOLD_BYTES) */
    base_buf_t held;        /* body bytes held with it */

    unsigned request_complete : 1; /* llhttp saw the end of the current request */
    unsigned body_expected : 1;    /* the current request announced a body */
    unsigned closing : 1;          /* parse no more; close after the output is flushed */
    unsigned unread : 1;           /* request bytes may still be on the wire */
    unsigned draining : 1;
    unsigned in_parse : 1;
    unsigned body_paused : 1;
    unsigned continue_sent : 1;
    unsigned over_high_water : 1;  /* pending output went over HTTP_SEND_HIGH_WATER */
    size_t inflight;               /* bytes the owner is writing right now */
    uint64_t requests;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static const char *date_header(void)
{
    static _Thread_local time_t cached_at;
    static _Thread_local char cached[40];
    time_t now = time(NULL);
    if (now != cached_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_at = now;
    }
    return cached;
}

static void notify_output(http_codec_t *c)
{
    if (c->owner.on_output)
        c->owner.on_output(c->owner.owner);
}

static void reset_request_state(http_codec_t *c)
{
    c->url.len = 0;
    c->field.len = 0;
    c->value.len = 0;
    c->headers = (http_headers_t){ 0 };
    c->request_complete = 0;
    c->body_expected = 0;
    c->continue_sent = 0;
    c->body_paused = 0;
    c->phase = PHASE_HEAD;
    c->scan.state = SC_START;
    c->scan.line_len = 0;
    c->scan.header_bytes = 0;
    c->scan.header_count = 0;
    c->scan.started = 0;
    c->scan.cr = 0;
    c->check_crlf = 0;
    c->last_chunk = 0;
    c->body_announced = 0;
}

/* Frees the current exchange; its pool goes with it. */
static void exchange_free(http_codec_t *c)
{
    if (c->pool) {
        base_pool_destroy(c->pool);
        c->pool = NULL;
    }
    c->ex = NULL;
}

static void exchange_abort(http_codec_t *c, http_abort_reason_t why)
{
    http_exchange_t *ex = c->ex;
    if (ex && !ex->done && ex->on_abort) {
        ex->done = 1;
        ex->on_abort(ex, why);
    }
    exchange_free(c);
}

/* Appends a complete error response with Dapr's JSON body; the connection closes after it. */
static void write_error(http_codec_t *c, int status, base_err_t err)
{
    char body[256];
    int blen = snprintf(body, sizeof(body), "{\"errorCode\":\"%s\",\"message\":\"%s\"}", base_err_tag(err),
                        base_err_message(err));
    base_buf_printf(&c->out,
                    "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                    status, http_status_reason(status), date_header(), blen, body);
    notify_output(c);
}

/* An error found by the codec itself: the exchange (if any) is aborted and, unless its head
 * already went out, the error is answered. The connection closes: after a framing error
 * nothing that follows on the wire can be trusted. */
static void codec_fail(http_codec_t *c, int status, base_err_t err)
{
    int head_sent = c->ex && c->ex->head_sent && !c->head_held;
    c->head_held = 0;
    c->held.len = 0;
    exchange_abort(c, HTTP_ABORT_CLOSED);
    c->closing = 1;
    c->unread = 1;
    if (!head_sent && status != 0)
        write_error(c, status, err);
}

/* ---- head scanner ------------------------------------------------------------------------ */

/* Scans request-head (or trailer) bytes. Sets *n to the bytes llhttp may now see. Returns 0,
 * or the HTTP status of the violation (with *err). Lines must end in CRLF: a bare LF or a CR
 * not followed by LF is rejected here (RFC 9112 §2.2 lets a server refuse them, and refusing
 * removes a parser-disagreement vector between us and any other hop). */
static int scan_head(http_codec_t *c, const char *p, size_t len, size_t *n, base_err_t *err)
{
    *err = BASE_ERR_BAD_REQUEST;
    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        if (c->scan.cr) {
            if (ch != '\n')
                return 400; /* bare CR */
            c->scan.cr = 0;
            if (c->scan.state == SC_LINE_START)
                goto head_done;
            c->scan.state = c->scan.state == SC_START ? SC_START : SC_LINE_START;
            continue;
        }
        if (ch == '\n')
            return 400; /* bare LF */
        if (ch == '\r') {
            c->scan.cr = 1;
            if ((c->scan.state == SC_NAME || c->scan.state == SC_VALUE) &&
                ++c->scan.header_bytes > c->limits.max_header_bytes) {
                *err = BASE_ERR_HEADERS_TOO_LARGE;
                return 431;
            }
            continue;
        }
        switch (c->scan.state) {
        case SC_START:
            c->scan.started = 1;
            c->scan.state = SC_REQLINE;
            /* fall through */
        case SC_REQLINE:
            if (++c->scan.line_len > c->limits.max_request_line) {
                *err = BASE_ERR_URI_TOO_LONG;
                return 414;
            }
            continue;
        case SC_LINE_START:
            if (ch == ' ' || ch == '\t')
                return 400; /* obs-fold, or whitespace before the first field: RFC 9112 §5.2, §2.2 */
            if (ch == ':')
                return 400; /* empty field name (RFC 9110 §5.1: a token of at least one char) */
            if (++c->scan.header_count > c->limits.max_header_count) {
                *err = BASE_ERR_HEADERS_TOO_LARGE;
                return 431;
            }
            c->scan.state = SC_NAME;
            /* fall through */
        case SC_NAME:
            if (ch == ':')
                c->scan.state = SC_VALUE;
            else if (ch == ' ' || ch == '\t')
                return 400; /* RFC 9112 §5.1: no whitespace between field name and colon; MUST reject */
            break;
        case SC_VALUE:
            break;
        }
        if (++c->scan.header_bytes > c->limits.max_header_bytes) {
            *err = BASE_ERR_HEADERS_TOO_LARGE;
            return 431;
        }
        continue;
    head_done:
        c->phase = PHASE_BODY;
        *n = i + 1;
        return 0;
    }
    *n = len;
    return 0;
}

/* ---- llhttp callbacks -------------------------------------------------------------------- */

static http_codec_t *codec_of(llhttp_t *p)
{
    return p->data;
}

static int on_message_begin(llhttp_t *p)
{
    http_codec_t *c = codec_of(p);
    c->pool = base_pool_create(POOL_BLOCK);
    if (!c->pool) {
        c->fail_status = 500;
        c->fail_err = BASE_ERR_INTERNAL;
        return -1;
    }
    return 0;
}

static int append_span(http_codec_t *c, base_buf_t *b, const char *at, size_t len)
{
    if (base_buf_append(b, at, len) == 0)
        return 0;
    c->fail_status = 500;
    c->fail_err = BASE_ERR_INTERNAL;
    return -1;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    http_codec_t *c = codec_of(p);
    return append_span(c, &c->url, at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_codec_t *c = codec_of(p);
    return append_span(c, &c->field, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_codec_t *c = codec_of(p);
    return append_span(c, &c->value, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    http_codec_t *c = codec_of(p);
    base_slice_t name = base_slice(c->field.base, c->field.len);
    base_slice_t value = base_slice_trim(base_slice(c->value.base, c->value.len));
    int r = http_headers_add_copy(&c->headers, c->pool, name, value);
    c->field.len = 0;
    c->value.len = 0;
    if (r != 0) {
        c->fail_status = 500;
        c->fail_err = BASE_ERR_INTERNAL;
        return -1;
    }
    return 0;
}

static int reject(http_codec_t *c, int status, base_err_t err)
{
    c->fail_status = status;
    c->fail_err = err;
    return -1;
}

static void split_target(http_request_t *r)
{
    const char *t = r->target.base;
    size_t len = r->target.len;
    size_t start = 0, scheme = 0;
    /* absolute-form (RFC 9112 §3.2.2): keep only the path of http://host/path */
    if (len >= 7 && strncasecmp(t, "http://", 7) == 0)
        scheme = 7;
    else if (len >= 8 && strncasecmp(t, "https://", 8) == 0)
        scheme = 8;
    if (scheme) {
        const char *slash = memchr(t + scheme, '/', len - scheme);
        start = slash ? (size_t)(slash - t) : len;
    }
    const char *q = memchr(t + start, '?', len - start);
    size_t end = q ? (size_t)(q - t) : len;
    r->path = start < end ? base_slice(t + start, end - start) : BASE_SLICE_LIT("/");
    r->query = q ? base_slice(q + 1, len - end - 1) : BASE_SLICE_NULL;
}

/* RFC 9112 §3.2: origin-form "/...", absolute-form "http(s)://...", or "*" for OPTIONS.
 * No control bytes, spaces or DEL anywhere in it. */
static int target_valid(base_slice_t t, http_method_t m)
{
    if (t.len == 0)
        return 0;
    for (size_t i = 0; i < t.len; i++) {
        unsigned char ch = (unsigned char)t.base[i];
        if (ch <= 0x20 || ch == 0x7f)
            return 0;
    }
    if (t.base[0] == '/')
        return 1;
    if (t.len == 1 && t.base[0] == '*')
        return m == HTTP_METHOD_OPTIONS;
    return (t.len > 7 && strncasecmp(t.base, "http://", 7) == 0) || (t.len > 8 && strncasecmp(t.base, "https://", 8) == 0);
}

/* RFC 9110 §7.2 / RFC 3986 §3.2.2: uri-host [ ":" port ]; no userinfo, path or spaces. */
static int host_valid(base_slice_t h)
{
    size_t i = 0;
    if (h.len && h.base[0] == '[') {
        const char *close = memchr(h.base, ']', h.len);
        if (!close)
            return 0;
        for (const char *q = h.base + 1; q < close; q++)
            if (!(isxdigit((unsigned char)*q) || *q == ':' || *q == '.'))
                return 0;
        i = (size_t)(close - h.base) + 1;
    } else {
        for (; i < h.len && h.base[i] != ':'; i++) {
            unsigned char ch = (unsigned char)h.base[i];
            if (!(isalnum(ch) || strchr("-._~%!$&'()*+,;=", ch)))
                return 0;
        }
    }
    if (i == h.len)
        return 1;
    if (h.base[i] != ':')
        return 0;
    for (i++; i < h.len; i++)
        if (!isdigit((unsigned char)h.base[i]))
            return 0;
    return 1;
}

/* Transfer-Encoding on a request: Remora decodes only chunked, so the whole list over every
 * field must be exactly "chunked" (RFC 9112 §6.1: an unknown coding → 400 and close). */
static int te_valid(const http_headers_t *h)
{
    int seen = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (!base_slice_ieq_cstr(h->items[i].name, "transfer-encoding"))
            continue;
        base_slice_t v = h->items[i].value;
        size_t start = 0;
        for (size_t j = 0; j <= v.len; j++) {
            if (j < v.len && v.base[j] != ',')
                continue;
            base_slice_t tok = base_slice_trim(base_slice(v.base + start, j - start));
            if (!base_slice_ieq_cstr(tok, "chunked") || seen++)
                return 0;
            start = j + 1;
        }
    }
    return 1;
}

static int on_headers_complete(llhttp_t *p)
{
    http_codec_t *c = codec_of(p);
    if (p->http_major != 1)
        return reject(c, 505, BASE_ERR_BAD_REQUEST);
    if (p->method == HTTP_CONNECT)
        return reject(c, 405, BASE_ERR_METHOD_NOT_ALLOWED);
    /* Upgrade (websocket, h2c via Upgrade) is not offered on this codec: the request is
     * served as plain HTTP/1.1 and the Upgrade header ignored (RFC 9110 §7.8 allows it). */
    p->upgrade = 0;

    http_exchange_t *ex = base_pool_calloc(c->pool, sizeof(*ex));
    if (!ex)
        return reject(c, 500, BASE_ERR_INTERNAL);
    ex->pool = c->pool;
    ex->conn = c;
    http_request_t *r = &ex->req;
    const char *mname = llhttp_method_name((llhttp_method_t)p->method);
    r->method = base_slice_cstr(mname);
    r->method_id = http_method_from_slice(r->method);
    r->target = base_pool_slice_dup(c->pool, base_slice(c->url.base, c->url.len));
    if (!r->target.base)
        return reject(c, 500, BASE_ERR_INTERNAL);
    if (!target_valid(r->target, r->method_id))
        return reject(c, 400, BASE_ERR_BAD_REQUEST);
    split_target(r);
    r->version_minor = p->http_minor;
    r->headers = c->headers;
    r->content_length = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : -1;
    r->chunked = (p->flags & F_CHUNKED) != 0;
    r->keep_alive = llhttp_should_keep_alive(p) != 0;
    r->peer = c->peer;
    r->start_ns = base_now_ns();
    ex->res.content_length = -1;

    /* RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without exactly one
     * Host field. */
    size_t hosts = http_headers_count(&r->headers, "host");
    if ((p->http_minor >= 1 && hosts != 1) || hosts > 1)
        return reject(c, 400, BASE_ERR_BAD_REQUEST);
    const base_slice_t *host = http_headers_get(&r->headers, "host");
    r->host = host ? *host : BASE_SLICE_NULL;
    if (host && (p->http_minor >= 1 || host->len) && !host_valid(*host))
        return reject(c, 400, BASE_ERR_BAD_REQUEST);
    if (r->chunked && !te_valid(&r->headers))
        return reject(c, 400, BASE_ERR_BAD_REQUEST);
    const base_slice_t *expect = http_headers_get(&r->headers, "expect");
    if (expect) {
        if (!base_slice_ieq_cstr(*expect, "100-continue"))
            return reject(c, 417, BASE_ERR_BAD_REQUEST);
        r->expect_continue = p->http_minor >= 1;
    }

    c->body_expected = r->chunked || r->content_length > 0;
    c->ex = ex;
    c->requests++;
    c->handler.on_request(c->handler.ctx, ex, c->kind);
    /* The chain accepted the request and wants its body: tell a waiting client to send it. */
    if (c->ex == ex && !ex->done && !ex->head_sent)
        http_exchange_continue(ex);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    http_codec_t *c = codec_of(p);
    http_exchange_t *ex = c->ex;
    if (ex && !ex->done && ex->body_cbs && ex->body_cbs->on_data)
        ex->body_cbs->on_data(ex, base_slice(at, len));
    return 0;
}

static int on_chunk_header(llhttp_t *p)
{
    http_codec_t *c = codec_of(p);
    if (p->content_length == 0) {
        /* The last chunk: the trailer section follows, scanned like a head. */
        c->phase = PHASE_TRAILER;
        c->last_chunk = 1;
        c->scan.state = SC_LINE_START;
        c->scan.header_bytes = 0;
        c->scan.header_count = 0;
        c->scan.cr = 0;
        return HPE_PAUSED;
    }
    c->body_announced += p->content_length;
    if (c->limits.max_body_bytes && c->body_announced > c->limits.max_body_bytes)
        return reject(c, 413, BASE_ERR_BODY_TOO_LARGE); /* announced: no need to wait for the bytes */
    return 0;
}

/* llhttp 8.1 accepts any two bytes after a chunk's data; the parse loop checks they were CRLF.
 * The last chunk's trailer section was already checked line by line by the scanner, and
 * pausing there would hold back the message-complete callback until more input arrives. */
static int on_chunk_complete(llhttp_t *p)
{
    http_codec_t *c = codec_of(p);
    if (c->last_chunk)
        return 0;
    c->check_crlf = 1;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p)
{
    http_codec_t *c = codec_of(p);
    c->request_complete = 1;
    c->phase = PHASE_HEAD;
    http_exchange_t *ex = c->ex;
    if (ex && !ex->done && ex->body_cbs && ex->body_cbs->on_end)
        ex->body_cbs->on_end(ex);
    return HPE_PAUSED;
}

/* ---- parse loop -------------------------------------------------------------------------- */

static int status_for_llhttp(llhttp_errno_t e, base_err_t *err)
{
    *err = BASE_ERR_BAD_REQUEST;
    switch (e) {
    default:
        return 400;
    }
}

/* The current exchange is answered and its request fully read: free it and get ready for the
 * next request on this connection. */
static void finish_exchange(http_codec_t *c)
{
    exchange_free(c);
    reset_request_state(c);
    if (c->draining)
        c->closing = 1;
    if (c->owner.on_exchange_done)
        c->owner.on_exchange_done(c->owner.owner);
}

static void remember_tail(http_codec_t *c, const char *p, size_t used)
{
    if (used >= 2) {
        c->tail[0] = p[used - 2];
        c->tail[1] = p[used - 1];
    } else if (used == 1) {
        c->tail[0] = c->tail[1];
        c->tail[1] = p[0];
    }
}

static void parse(http_codec_t *c)
{
    c->in_parse = 1;
    for (;;) {
        if (c->ex && c->ex->done && c->request_complete)
            finish_exchange(c);
        if (c->closing || c->body_paused || (c->ex && c->request_complete))
            break;
        size_t avail = c->in.len - c->in_pos;
        if (avail == 0)
            break;
        const char *p = c->in.base + c->in_pos;
        size_t n = BASE_MIN(avail, (size_t)BODY_SLICE);
        if (c->phase != PHASE_BODY) {
            base_err_t err = BASE_ERR_BAD_REQUEST;
            int status = scan_head(c, p, avail, &n, &err);
            if (status) {
                codec_fail(c, status, err);
                break;
            }
        }
        llhttp_errno_t e = llhttp_execute(&c->parser, p, n);
        if (e == HPE_OK) {
            remember_tail(c, p, n);
            c->in_pos += n;
            continue;
        }
        if (e == HPE_PAUSED) {
            size_t used = (size_t)(llhttp_get_error_pos(&c->parser) - p);
            remember_tail(c, p, used);
            c->in_pos += used;
            llhttp_resume(&c->parser);
            if (c->check_crlf) {
                c->check_crlf = 0;
                if (c->tail[0] != '\r' || c->tail[1] != '\n') {
                    codec_fail(c, 400, BASE_ERR_BAD_REQUEST);
                    break;
                }
            }
            continue;
        }
        base_err_t err;
        int status = c->fail_status ? c->fail_status : status_for_llhttp(e, &err);
        if (c->fail_status)
            err = c->fail_err;
        codec_fail(c, status, err);
        break;
    }
    if (c->in_pos == c->in.len) {
        c->in.len = 0;
        c->in_pos = 0;
        if (!c->ex && !c->scan.started && c->in.cap > READ_CHUNK * 2)
            base_buf_free(&c->in); /* give a burst's buffer back once the connection is idle */
    }
    c->in_parse = 0;
}

/* ---- public API -------------------------------------------------------------------------- */

http_codec_t *http_codec_new(const http_codec_limits_t *limits, const http_handler_t *handler,
                             http_listener_kind_t kind, const http_codec_owner_t *owner, const char *peer)
{
    http_codec_t *c = base_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->limits = *limits;
    c->handler = *handler;
    c->kind = kind;
    if (owner)
        c->owner = *owner;
    snprintf(c->peer, sizeof(c->peer), "%s", peer ? peer : "");
    llhttp_settings_init(&c->settings);
    c->settings.on_message_begin = on_message_begin;
    c->settings.on_url = on_url;
    c->settings.on_header_field = on_header_field;
    c->settings.on_header_value = on_header_value;
    c->settings.on_header_value_complete = on_header_value_complete;
    c->settings.on_headers_complete = on_headers_complete;
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_message_complete;
    c->settings.on_chunk_header = on_chunk_header;
    c->settings.on_chunk_complete = on_chunk_complete;
    llhttp_init(&c->parser, HTTP_REQUEST, &c->settings);
    c->parser.data = c;
    reset_request_state(c);
    return c;
}

void http_codec_free(http_codec_t *c, http_abort_reason_t why)
{
    if (!c)
        return;
    exchange_abort(c, why);
    base_buf_free(&c->in);
    base_buf_free(&c->out);
    base_buf_free(&c->held);
    base_buf_free(&c->url);
    base_buf_free(&c->field);
    base_buf_free(&c->value);
    base_free(c);
}

int http_codec_feed(http_codec_t *c, const char *data, size_t len)
{
    if (base_buf_append(&c->in, data, len) != 0)
        return -1;
    return http_codec_commit_read(c, 0);
}

void http_codec_read_buffer(http_codec_t *c, char **base, size_t *len)
{
    if (c->in_pos > 0 && c->in_pos == c->in.len) {
        c->in.len = 0;
        c->in_pos = 0;
    }
    if (base_buf_reserve(&c->in, READ_CHUNK) != 0) {
        *base = NULL;
        *len = 0;
        return;
    }
    *base = c->in.base + c->in.len;
    *len = c->in.cap - c->in.len;
}

int http_codec_commit_read(http_codec_t *c, size_t n)
{
    c->in.len += n;
    if (c->closing)
        return 0;
    parse(c);
    return 0;
}

void http_codec_eof(http_codec_t *c)
{
    c->unread = 0;
    if (c->ex && !c->request_complete) {
        /* The client stopped sending mid-request; nothing more can be answered usefully. */
        exchange_abort(c, HTTP_ABORT_CLOSED);
    }
    c->closing = 1;
}

int http_codec_resume(http_codec_t *c)
{
    if (c->in_parse)
        return 0;
    parse(c);
    return 0;
}

void http_codec_timeout(http_codec_t *c)
{
    http_codec_state_t s = http_codec_state(c);
    if (s == HTTP_CODEC_READING_HEAD || s == HTTP_CODEC_READING_BODY)
        codec_fail(c, 408, BASE_ERR_REQUEST_TIMEOUT);
    else {
        c->closing = 1;
        c->unread = 0;
    }
}

void http_codec_drain(http_codec_t *c)
{
    c->draining = 1;
    if (http_codec_state(c) == HTTP_CODEC_IDLE && c->in.len == c->in_pos)
        c->closing = 1;
}

base_buf_t *http_codec_output(http_codec_t *c)
{
    return &c->out;
}

void http_codec_writing(http_codec_t *c, size_t bytes)
{
    c->inflight = bytes;
}

void http_codec_written(http_codec_t *c)
{
    c->inflight = 0;
    http_exchange_t *ex = c->ex;
    if (c->over_high_water && c->out.len < HTTP_SEND_HIGH_WATER / 2) {
        c->over_high_water = 0;
        if (ex && !ex->done && ex->on_writable)
            ex->on_writable(ex);
    }
}

size_t http_exchange_pending(const http_exchange_t *ex)
{
    if (ex->sink)
        return ex->sink->pending ? ex->sink->pending(ex) : 0;
    const http_codec_t *c = ex->conn;
    return c->out.len + c->inflight;
}

http_codec_state_t http_codec_state(const http_codec_t *c)
{
    if (c->closing)
        return HTTP_CODEC_CLOSING;
    if (c->ex && c->request_complete)
        return HTTP_CODEC_RESPONDING;
    if (c->ex)
        return HTTP_CODEC_READING_BODY;
    if (c->scan.started)
        return HTTP_CODEC_READING_HEAD;
    return HTTP_CODEC_IDLE;
}

int http_codec_wants_input(const http_codec_t *c)
{
    if (c->closing || c->body_paused)
        return 0;
    if (c->ex && c->request_complete)
        return c->in.len - c->in_pos < INPUT_HIGH_WATER; /* pipelined requests wait their turn */
    return 1;
}

int http_codec_busy(const http_codec_t *c)
{
    return c->ex != NULL && !c->ex->done;
}

int http_codec_should_close(const http_codec_t *c)
{
    return c->closing;
}

int http_codec_unread_input(const http_codec_t *c)
{
    return c->unread;
}

uint64_t http_codec_request_count(const http_codec_t *c)
{
    return c->requests;
}

/* The request's bytes are all read, or it announced no body (a reply from on_request to a
 * bodyless request comes before llhttp's message-complete callback). */
static int request_read(const http_codec_t *c)
{
    return c->request_complete || !c->body_expected;
}

/* ---- responding -------------------------------------------------------------------------- */

static http_codec_t *codec_of_ex(http_exchange_t *ex)
{
    return ex->conn;
}

static int header_is_framing(base_slice_t name)
{
    return base_slice_ieq_cstr(name, "content-length") || base_slice_ieq_cstr(name, "transfer-encoding") ||
           base_slice_ieq_cstr(name, "connection") || base_slice_ieq_cstr(name, "date") ||
           base_slice_ieq_cstr(name, "keep-alive");
}

/* A response of unknown length holds its head and up to this many body bytes, as Go's
 * net/http (daprd's server) does: a body that ends within them goes out with Content-Length in
 * one write; a longer one goes out chunked. */
#define HOLD_BYTES 2048

static int append_u64(base_buf_t *o, uint64_t v)
{
    char d[24];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return base_buf_append(o, d + i, sizeof(d) - i);
}

static int append_hex(base_buf_t *o, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char d[20];
    size_t i = sizeof(d);
    do {
        d[--i] = digits[v & 15];
        v >>= 4;
    } while (v);
    return base_buf_append(o, d + i, sizeof(d) - i);
}

/* Serialises the head with the framing decided in http_exchange_send_head; content_length is
 * the announced length, or -1 for none. */
static int write_head(http_codec_t *c, http_exchange_t *ex, int64_t content_length)
{
    http_response_t *res = &ex->res;
    const http_request_t *req = &ex->req;
    int status = res->status ? res->status : 200;
    int bodiless_status = status < 200 || status == 204 || status == 304;
    /* Answering before the request body was read: the rest of it is unread on the wire. */
    int close = c->draining || c->closing || !req->keep_alive || c->res_close_delimited || !request_read(c);

    base_buf_t *o = &c->out;
    const char *reason = http_status_reason(status);
    char code[4] = { (char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10), (char)('0' + status % 10), ' ' };
    int r = base_buf_reserve(o, 256);
    r |= base_buf_append(o, "HTTP/1.1 ", 9);
    r |= base_buf_append(o, code, 4);
    r |= base_buf_append_str(o, reason);
    r |= base_buf_append(o, "\r\nDate: ", 8);
    r |= base_buf_append_str(o, date_header());
    r |= base_buf_append(o, "\r\n", 2);
    for (size_t i = 0; i < res->headers.len && r == 0; i++) {
        const http_header_t *h = &res->headers.items[i];
        if (header_is_framing(h->name))
            continue;
        r |= base_buf_append(o, h->name.base, h->name.len);
        r |= base_buf_append(o, ": ", 2);
        r |= base_buf_append(o, h->value.base, h->value.len);
        r |= base_buf_append(o, "\r\n", 2);
    }
    if (!bodiless_status && content_length >= 0) {
        r |= base_buf_append(o, "Content-Length: ", 16);
        r |= append_u64(o, (uint64_t)content_length);
        r |= base_buf_append(o, "\r\n", 2);
    } else if (c->res_chunked) {
        r |= base_buf_append(o, "Transfer-Encoding: chunked\r\n", 28);
    }
    if (close)
        r |= base_buf_append(o, "Connection: close\r\n", 19);
    else if (req->version_minor == 0)
        r |= base_buf_append(o, "Connection: keep-alive\r\n", 24);
    r |= base_buf_append(o, "\r\n", 2);
    if (r != 0) {
        codec_fail(c, 0, BASE_ERR_INTERNAL);
        return -1;
    }
    if (close) {
        c->closing = 1;
        c->unread = !request_read(c);
    }
    return 0;
}

int http_exchange_send_head(http_exchange_t *ex)
{
    if (ex->sink) {
        if (ex->done || ex->head_sent)
            return -1;
        ex->head_sent = 1;
        return ex->sink->send_head(ex);
    }
    http_codec_t *c = codec_of_ex(ex);
    if (ex->done || ex->head_sent || c->ex != ex)
        return -1;
    http_response_t *res = &ex->res;
    const http_request_t *req = &ex->req;
    int status = res->status ? res->status : 200;
    int bodiless_status = status < 200 || status == 204 || status == 304;

    c->res_no_body = bodiless_status || req->method_id == HTTP_METHOD_HEAD;
    c->res_chunked = 0;
    c->res_close_delimited = 0;
    c->res_remaining = -1;
    c->head_held = 0;
    c->held.len = 0;
    if (!bodiless_status && res->content_length < 0 && req->method_id != HTTP_METHOD_HEAD) {
        if (req->version_minor >= 1)
            c->res_chunked = 1;
        else
            c->res_close_delimited = 1;
    }
    if (!c->res_no_body && res->content_length >= 0)
        c->res_remaining = res->content_length;
    ex->head_sent = 1;
    if (c->res_chunked) {
        c->head_held = 1; /* written by send_body: with a length if the body is short */
        return 0;
    }
    if (write_head(c, ex, bodiless_status ? -1 : res->content_length) != 0)
        return -1;
    notify_output(c);
    return 0;
}

static void exchange_completed(http_codec_t *c, http_exchange_t *ex)
{
    ex->done = 1;
    if (!request_read(c)) {
        /* Answered early; the remaining request body is not read (lingering close). */
        c->closing = 1;
        c->unread = 1;
    }
    notify_output(c);
}

/* Ends the hold: the whole body is known (last) and goes out with its length, or it outgrew
 * HOLD_BYTES and goes out chunked, starting with what was held. */
static int release_head(http_codec_t *c, http_exchange_t *ex, const void *data, size_t len, int last)
{
    c->head_held = 0;
    if (last) {
        c->res_chunked = 0;
        int r = write_head(c, ex, (int64_t)(c->held.len + len));
        r |= base_buf_append(&c->out, c->held.base, c->held.len);
        r |= base_buf_append(&c->out, data, len);
        c->held.len = 0;
        return r;
    }
    int r = write_head(c, ex, -1);
    r |= append_hex(&c->out, c->held.len + len);
    r |= base_buf_append(&c->out, "\r\n", 2);
    r |= base_buf_append(&c->out, c->held.base, c->held.len);
    r |= base_buf_append(&c->out, data, len);
    r |= base_buf_append(&c->out, "\r\n", 2);
    c->held.len = 0;
    if (c->held.cap > HOLD_BYTES * 4)
        base_buf_free(&c->held);
    return r;
}

int http_exchange_send_body(http_exchange_t *ex, const void *data, size_t len, int last)
{
    if (ex->sink) {
        if (ex->done || !ex->head_sent)
            return -1;
        if (last)
            ex->done = 1;
        return ex->sink->send_body(ex, data, len, last);
    }
    http_codec_t *c = codec_of_ex(ex);
    if (ex->done || !ex->head_sent || c->ex != ex)
        return -1;
    int r = 0;
    if (c->head_held) {
        if (!last && c->held.len + len <= HOLD_BYTES) {
            if (base_buf_append(&c->held, data, len) != 0) {
                codec_fail(c, 0, BASE_ERR_INTERNAL);
                return -1;
            }
            return 0;
        }
        r = release_head(c, ex, data, len, last);
        if (!last || r != 0)
            goto done;
        exchange_completed(c, ex);
        return 0;
    }
    if (!c->res_no_body && len > 0) {
        if (c->res_remaining >= 0 && (int64_t)len > c->res_remaining) {
            /* More than the announced Content-Length: never let it spill into the next
             * response on this connection. */
            len = (size_t)c->res_remaining;
            c->closing = 1;
        }
        if (c->res_chunked) {
            r |= append_hex(&c->out, len);
            r |= base_buf_append(&c->out, "\r\n", 2);
        }
        r |= base_buf_append(&c->out, data, len);
        if (c->res_chunked)
            r |= base_buf_append(&c->out, "\r\n", 2);
        if (c->res_remaining >= 0)
            c->res_remaining -= (int64_t)len;
    }
    if (last) {
        if (c->res_chunked && !c->res_no_body)
            r |= base_buf_append(&c->out, "0\r\n\r\n", 5);
        if (c->res_remaining > 0)
            c->closing = 1; /* short body: the client can only tell by the close */
        if (c->res_close_delimited)
            c->closing = 1;
    }
done:
    if (r != 0) {
        codec_fail(c, 0, BASE_ERR_INTERNAL);
        return -1;
    }
    if (last) {
        exchange_completed(c, ex);
    } else {
        if (c->out.len + c->inflight >= HTTP_SEND_HIGH_WATER)
            c->over_high_water = 1;
        notify_output(c);
    }
    return 0;
}

int http_exchange_respond(http_exchange_t *ex, int status, const char *content_type, base_slice_t body)
{
    ex->res.status = status;
    if (content_type && body.len > 0 &&
        http_headers_set(&ex->res.headers, ex->pool, BASE_SLICE_LIT("Content-Type"), base_slice_cstr(content_type)) != 0)
        return -1;
    ex->res.content_length = (int64_t)body.len;
    if (http_exchange_send_head(ex) != 0)
        return -1;
    return http_exchange_send_body(ex, body.base, body.len, 1);
}

void http_exchange_continue(http_exchange_t *ex)
{
    if (ex->sink)
        return;
    http_codec_t *c = codec_of_ex(ex);
    if (!ex->req.expect_continue || c->continue_sent || ex->head_sent || c->request_complete)
        return;
    c->continue_sent = 1;
    base_buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    notify_output(c);
}

void http_exchange_abort(http_exchange_t *ex)
{
    if (ex->sink) {
        if (!ex->done) {
            ex->done = 1;
            if (ex->sink->abort)
                ex->sink->abort(ex);
        }
        return;
    }
    http_codec_t *c = codec_of_ex(ex);
    if (ex->done || c->ex != ex)
        return;
    /* A response already under way cannot be replaced: cut the connection once what was
     * queued is written, so the client sees a truncated response rather than a wrong one. */
    ex->done = 1;
    c->closing = 1;
    c->unread = !request_read(c);
    if (!ex->head_sent || c->head_held)
        write_error(c, 500, BASE_ERR_INTERNAL);
    c->head_held = 0;
    c->held.len = 0;
    notify_output(c);
}

void http_exchange_pause_body(http_exchange_t *ex)
{
    if (ex->sink) {
        if (ex->sink->pause_body)
            ex->sink->pause_body(ex, 1);
        return;
    }
    codec_of_ex(ex)->body_paused = 1;
}

void http_exchange_resume_body(http_exchange_t *ex)
{
    if (ex->sink) {
        if (ex->sink->pause_body)
            ex->sink->pause_body(ex, 0);
        return;
    }
    http_codec_t *c = codec_of_ex(ex);
    c->body_paused = 0;
    if (c->owner.on_exchange_done)
        c->owner.on_exchange_done(c->owner.owner); /* owner re-reads and resumes parsing */
}
