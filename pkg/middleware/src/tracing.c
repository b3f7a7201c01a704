/*
 * tracing.c - W3C trace context on the API server (daprd's HTTPTraceMiddleware, §5.2).
 *
 * Reads traceparent/tracestate, starts this hop's span context in x->trace for the layers
 * below (invoke copies it onto the outgoing call), and puts `traceparent` on the response
 * when nothing else did. Span export is not done here.
 */
#include "middleware/middleware.h"

#include <errno.h>

#include "base/pool.h"

typedef struct tracing {
    mw_filter_t base;
    double sampling_rate;
} tracing_t;

/* daprd skips every path containing /healthz (pkg/diagnostics/http_tracing.go). */
static int is_health_path(base_slice_t path)
{
    static const char needle[] = "/healthz";
    const size_t n = sizeof needle - 1;
    for (size_t i = 0; i + n <= path.len; i++)
        if (memcmp(path.base + i, needle, n) == 0)
            return 1;
    return 0;
}

static mw_status_t on_request(mw_filter_t *f, mw_exchange_t *x)
{
    const tracing_t *t = (const tracing_t *)f;
    const http_request_t *req = &x->http->req;
    if (is_health_path(req->path))
        return MW_CONTINUE;
    diag_trace_start(&x->trace, http_headers_get(&req->headers, "traceparent"),
                     http_headers_get(&req->headers, "tracestate"), t->sampling_rate);
    x->traced = 1;
    return MW_CONTINUE;
}

static void on_response(mw_filter_t *f, mw_exchange_t *x)
{
    http_exchange_t *ex = x->http;
    if (!x->traced || http_headers_get(&ex->res.headers, "traceparent"))
        return;
    char tp[DIAG_TRACEPARENT_LEN + 1];
    diag_traceparent_format(x->trace.trace_id, x->trace.span_id, x->trace.flags, tp);
    /* Best effort: without memory the response simply goes out without it. */
    (void)http_headers_add_copy(&ex->res.headers, ex->pool, BASE_SLICE_LIT("traceparent"),
                                base_slice(tp, DIAG_TRACEPARENT_LEN));
}

static void destroy(mw_filter_t *f)
{
    base_free(f);
}

static const mw_filter_ops_t ops = {
    .name = "tracing",
    .on_request = on_request,
    .on_response = on_response,
    .destroy = destroy,
};

mw_filter_t *mw_tracing_new(const config_t *cfg)
{
    errno = 0;
    if (!(cfg->spec.sampling_rate > 0))
        return NULL;
    tracing_t *t = base_calloc(1, sizeof *t);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    t->base.ops = &ops;
    t->sampling_rate = cfg->spec.sampling_rate;
    return &t->base;
}
