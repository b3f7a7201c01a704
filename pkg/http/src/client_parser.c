/*
 * client_parser.c - HTTP/1.x response parsing on llhttp (HTTP_RESPONSE), without I/O.
 *
 * Framing follows RFC 9112 §6.3 as llhttp implements it (chunked, Content-Length, or read
 * until close), with the cases llhttp leaves to its user: no body for HEAD, 1xx, 204 and 304
 * whatever the fields say (RFC 9110 §6.4.1); interim 1xx responses skipped (RFC 9110 §15.2),
 * at most MAX_INTERIM of them as Go does; 101 refused since the client never asks to
 * upgrade; and the CRLF after each chunk's data checked (llhttp 8.1 accepts any two bytes
 * there, which would let a broken app desynchronise a pooled connection).
 */
#include "client_parser.h"

#include <stdio.h>

#define MAX_INTERIM 5      /* Go's transport: "too many 1xx informational responses" */
#define STATUS_LINE_BYTES 15 /* "HTTP/1.1 200 " + CRLF, counted with the reason phrase */
#define FIELD_OVERHEAD 4   /* ": " and CRLF around each field */

static http_rparser_t *rp_of(llhttp_t *p)
{
    return p->data;
}

static int fail(http_rparser_t *rp, int too_large, const char *fmt, const char *arg)
{
    rp->failed = 1;
    rp->too_large = too_large != 0;
    snprintf(rp->error, sizeof(rp->error), fmt, arg);
    return -1;
}

static int fail_size(http_rparser_t *rp, const char *what, size_t limit)
{
    char n[32];
    snprintf(n, sizeof(n), "%zu", limit);
    return fail(rp, 1, what, n);
}

/* Counts head bytes against the limit as they arrive, so a huge field never gets buffered. */
static int count_bytes(http_rparser_t *rp, size_t n)
{
    rp->header_bytes += n;
    if (rp->header_bytes > rp->max_header_bytes)
        return fail_size(rp, "server response headers exceeded %s bytes; aborted", rp->max_header_bytes);
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    http_rparser_t *rp = rp_of(p);
    rp->headers = (http_headers_t){ 0 };
    rp->header_bytes = STATUS_LINE_BYTES;
    rp->header_count = 0;
    rp->field.len = 0;
    rp->value.len = 0;
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
    return count_bytes(rp_of(p), len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_rparser_t *rp = rp_of(p);
    if (rp->field.len == 0 && rp->value.len == 0) {
        if (++rp->header_count > rp->max_header_count)
            return fail_size(rp, "server response has more than %s header fields; aborted", rp->max_header_count);
        if (count_bytes(rp, FIELD_OVERHEAD) != 0)
            return -1;
    }
    if (count_bytes(rp, len) != 0)
        return -1;
    if (base_buf_append(&rp->field, at, len) != 0)
        return fail(rp, 0, "%s", "out of memory");
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_rparser_t *rp = rp_of(p);
    if (count_bytes(rp, len) != 0)
        return -1;
    if (base_buf_append(&rp->value, at, len) != 0)
        return fail(rp, 0, "%s", "out of memory");
    return 0;
}

/* Keeps the field unless it belongs to an interim response or to the trailer section (the
 * head was already delivered; trailers only count against the limits). */
static int on_header_value_complete(llhttp_t *p)
{
    http_rparser_t *rp = rp_of(p);
    int keep = !rp->head_done && p->status_code >= 200;
    /* RFC 9112 §5.1 forbids whitespace before the colon; llhttp keeps it in the name, a proxy
     * must strip it from a response (and so do we). */
    base_slice_t name = base_slice_trim(base_slice(rp->field.base, rp->field.len));
    base_slice_t value = base_slice_trim(base_slice(rp->value.base, rp->value.len));
    rp->field.len = 0;
    rp->value.len = 0;
    if (keep && http_headers_add_copy(&rp->headers, rp->pool, name, value) != 0)
        return fail(rp, 0, "%s", "out of memory");
    return 0;
}

static int64_t announced_length(const llhttp_t *p)
{
    if ((p->flags & F_CHUNKED) || !(p->flags & F_CONTENT_LENGTH))
        return -1;
    return (int64_t)p->content_length;
}

/* Returns 0 (body follows), 1 (no body: llhttp goes straight to message complete), -1 (error)
 * or HPE_PAUSED (a stopping on_head, with a body still to come). */
static int on_headers_complete(llhttp_t *p)
{
    http_rparser_t *rp = rp_of(p);
    int status = p->status_code;
    if (p->http_major != 1)
        return fail(rp, 0, "malformed HTTP response: %s", "unsupported HTTP version");
    if (status < 100)
        return fail(rp, 0, "malformed HTTP response: %s", "invalid status code");
    if (status == 101)
        return fail(rp, 0, "malformed HTTP response: %s", "unexpected 101 Switching Protocols");
    if (status < 200) {
        if (++rp->interim > MAX_INTERIM)
            return fail(rp, 0, "%s", "net/http: too many 1xx informational responses");
        return 1;
    }
    rp->status = status;
    rp->content_length = announced_length(p);
    rp->head_done = 1;
    int bodiless = rp->head_request || status == 204 || status == 304;
    if (rp->cbs->on_head && rp->cbs->on_head(rp->ud, status, &rp->headers) != 0)
        rp->stop = 1;
    if (bodiless)
        return 1;
    return rp->stop ? HPE_PAUSED : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    http_rparser_t *rp = rp_of(p);
    if (len == 0)
        return 0; /* a span restarted by an execute without bytes */
    if (rp->cbs->on_data && rp->cbs->on_data(rp->ud, base_slice(at, len)) != 0) {
        rp->stop = 1;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_chunk_header(llhttp_t *p)
{
    http_rparser_t *rp = rp_of(p);
    if (p->content_length == 0) {
        /* The last chunk; trailer fields follow and are counted afresh. */
        rp->last_chunk = 1;
        rp->header_bytes = 0;
        rp->header_count = 0;
    }
    return 0;
}

static int on_chunk_complete(llhttp_t *p)
{
    http_rparser_t *rp = rp_of(p);
    if (rp->last_chunk)
        return 0;
    rp->check_crlf = 1;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p)
{
    http_rparser_t *rp = rp_of(p);
    if (!rp->head_done)
        return 0; /* an interim response: the final one follows */
    rp->complete = 1;
    rp->keep_alive = llhttp_should_keep_alive(p) != 0;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
    .on_message_complete = on_message_complete,
};

void http_rparser_init(http_rparser_t *rp, size_t max_header_bytes, size_t max_header_count,
                       const http_rparser_cbs_t *cbs, void *ud)
{
    *rp = (http_rparser_t){ .cbs = cbs, .ud = ud, .max_header_bytes = max_header_bytes,
                            .max_header_count = max_header_count };
}

void http_rparser_free(http_rparser_t *rp)
{
    base_buf_free(&rp->field);
    base_buf_free(&rp->value);
}

void http_rparser_start(http_rparser_t *rp, base_pool_t *pool, int head_request)
{
    llhttp_init(&rp->parser, HTTP_RESPONSE, &settings);
    rp->parser.data = rp;
    rp->pool = pool;
    rp->headers = (http_headers_t){ 0 };
    rp->field.len = 0;
    rp->value.len = 0;
    rp->header_bytes = 0;
    rp->header_count = 0;
    rp->interim = 0;
    rp->status = 0;
    rp->content_length = -1;
    rp->tail[0] = rp->tail[1] = 0;
    rp->error[0] = 0;
    rp->head_request = head_request != 0;
    rp->started = 0;
    rp->head_done = 0;
    rp->complete = 0;
    rp->keep_alive = 0;
    rp->failed = 0;
    rp->too_large = 0;
    rp->stop = 0;
    rp->check_crlf = 0;
    rp->last_chunk = 0;
}

static void remember_tail(http_rparser_t *rp, const char *p, size_t used)
{
    if (used >= 2) {
        rp->tail[0] = p[used - 2];
        rp->tail[1] = p[used - 1];
    } else if (used == 1) {
        rp->tail[0] = rp->tail[1];
        rp->tail[1] = p[0];
    }
}

static http_rparser_result_t failed(http_rparser_t *rp, llhttp_errno_t e)
{
    if (!rp->failed) {
        const char *reason = llhttp_get_error_reason(&rp->parser);
        if (e == HPE_CLOSED_CONNECTION)
            reason = "data after a response that closes the connection";
        fail(rp, 0, "malformed HTTP response: %s", reason ? reason : llhttp_errno_name(e));
    }
    return HTTP_RPARSER_ERROR;
}

http_rparser_result_t http_rparser_execute(http_rparser_t *rp, const char *data, size_t len, size_t *consumed)
{
    size_t pos = 0;
    *consumed = 0;
    if (rp->failed)
        return HTTP_RPARSER_ERROR;
    if (rp->complete)
        return HTTP_RPARSER_DONE;
    if (len > 0)
        rp->started = 1;
    rp->stop = 0;
    do {
        const char *p = data + pos;
        llhttp_errno_t e = llhttp_execute(&rp->parser, p, len - pos);
        if (e == HPE_OK) {
            remember_tail(rp, p, len - pos);
            pos = len;
            break;
        }
        if (e != HPE_PAUSED)
            return failed(rp, e);
        size_t used = (size_t)(llhttp_get_error_pos(&rp->parser) - p);
        remember_tail(rp, p, used);
        pos += used;
        llhttp_resume(&rp->parser);
        if (rp->check_crlf) {
            rp->check_crlf = 0;
            if (rp->tail[0] != '\r' || rp->tail[1] != '\n') {
                fail(rp, 0, "malformed HTTP response: %s", "chunk data not followed by CRLF");
                return HTTP_RPARSER_ERROR;
            }
        }
        *consumed = pos;
        if (rp->complete)
            return HTTP_RPARSER_DONE;
        if (rp->stop)
            return HTTP_RPARSER_PAUSED;
    } while (pos < len);
    *consumed = pos;
    return HTTP_RPARSER_MORE;
}

http_rparser_result_t http_rparser_eof(http_rparser_t *rp)
{
    if (rp->complete)
        return HTTP_RPARSER_DONE;
    if (rp->failed)
        return HTTP_RPARSER_ERROR;
    llhttp_errno_t e = llhttp_finish(&rp->parser);
    if (rp->complete)
        return HTTP_RPARSER_DONE; /* the close ended a body delimited by it (RFC 9112 §6.3 ¶8) */
    if (!rp->failed)
        fail(rp, 0, "%s", e == HPE_OK && !rp->started ? "EOF" : "unexpected EOF");
    return HTTP_RPARSER_ERROR;
}

const char *http_rparser_error(const http_rparser_t *rp)
{
    return rp->error;
}
