/*
 * bodylimit.c - --max-body-size, enforced while the body streams.
 *
 * daprd wraps the body in a limit reader and fails the request with 500 (invoke) or 400
 * when the handler reads past the limit (reference §2.6). Remora answers 413 instead
 * (DESIGN.md "deliberately better"): at once from the head when Content-Length is over the
 * limit, so no 100 Continue is sent and the body is never read; else, for a chunked body,
 * from the chunk that crosses the limit, which never reaches the handler.
 */
#include "middleware/middleware.h"

#include <errno.h>
#include <inttypes.h>

#include "base/log.h"
#include "base/pool.h"

typedef struct bodylimit {
    mw_filter_t base;
    int64_t limit;
} bodylimit_t;

static void reply_too_large(const bodylimit_t *b, mw_exchange_t *x, int64_t size, int at_least)
{
    char *msg = base_pool_printf(x->http->pool, "request body size %s%" PRId64
                                 " exceeds the maximum body size of %" PRId64 " bytes",
                                 at_least ? "at least " : "", size, b->limit);
    mw_reply_error(x, BASE_ERR_BODY_TOO_LARGE, msg);
}

static mw_status_t on_request(mw_filter_t *f, mw_exchange_t *x)
{
    const bodylimit_t *b = (const bodylimit_t *)f;
    const http_request_t *req = &x->http->req;
    if (req->content_length > b->limit) {
        reply_too_large(b, x, req->content_length, 0);
        return MW_STOP;
    }
    if (req->content_length >= 0)
        return MW_CONTINUE; /* the codec stops at Content-Length, which is within the limit */
    /* Unknown length (chunked): count what arrives. */
    void **slot = mw_filter_data(x, f);
    int64_t *seen = base_pool_calloc(x->http->pool, sizeof *seen);
    if (!slot || !seen) {
        mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        return MW_STOP;
    }
    *slot = seen;
    return MW_CONTINUE;
}

static mw_status_t on_body(mw_filter_t *f, mw_exchange_t *x, base_slice_t chunk)
{
    const bodylimit_t *b = (const bodylimit_t *)f;
    void **slot = mw_filter_data(x, f);
    int64_t *seen = slot ? *slot : NULL;
    if (!seen)
        return MW_CONTINUE;
    if ((uint64_t)chunk.len > (uint64_t)(b->limit - *seen)) {
        if (x->replied) {
            /* The handler already answers (a streamed response): too late for a 413. The
             * rest of the body is dropped and the handler is told the request is gone. */
            LOG_WARN(BASE_LOG_SCOPE_HTTP, "request body over %" PRId64 " bytes after the response started",
                     b->limit);
            if (x->in_handler) {
                const mw_handler_t *h = &x->chain->handler;
                x->in_handler = 0;
                if (h->on_abort)
                    h->on_abort(h->ctx, x);
            }
            return MW_STOP;
        }
        reply_too_large(b, x, *seen + (int64_t)chunk.len, 1);
        return MW_STOP;
    }
    *seen += (int64_t)chunk.len;
    return MW_CONTINUE;
}

static void destroy(mw_filter_t *f)
{
    base_free(f);
}

static const mw_filter_ops_t ops = {
    .name = "bodylimit",
    .on_request = on_request,
    .on_body = on_body,
    .destroy = destroy,
};

mw_filter_t *mw_bodylimit_new(const config_t *cfg)
{
    errno = 0;
    if (cfg->max_body_size <= 0)
        return NULL;
    bodylimit_t *b = base_calloc(1, sizeof *b);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    b->base.ops = &ops;
    b->limit = cfg->max_body_size;
    return &b->base;
}
