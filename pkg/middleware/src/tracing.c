/*
 * tracing.c - W3C trace context on the API server (daprd's HTTPTraceMiddleware, §5.2).
 *
 * Reads traceparent/tracestate, starts this hop's span context in x->trace for the layers
 * below (invoke copies it onto the outgoing call), and puts `traceparent` on the response
 * when nothing else did. When the span is sampled and an exporter is configured, the span is
 * recorded as the head goes out (daprd ends it there too): kind CLIENT, named after the path,
 * or CallLocal/<app>/<method> for service invocation, with daprd's attributes.
 */
#include "middleware/middleware.h"

#include <errno.h>
#include <stdio.h>

#include "base/pool.h"
#include "diag/metrics.h"
#include "diag/span.h"

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

/* "ip:port" or "[ip]:port" → address and port. */
static void split_peer(const char *peer, base_slice_t *addr, base_slice_t *port)
{
    const char *colon = peer ? strrchr(peer, ':') : NULL;
    *addr = *port = BASE_SLICE_NULL;
    if (!colon)
        return;
    const char *a = peer, *ae = colon;
    if (*a == '[' && ae > a && ae[-1] == ']') {
        a++;
        ae--;
    }
    *addr = base_slice(a, (size_t)(ae - a));
    *port = base_slice_cstr(colon + 1);
}

static void record_span(mw_exchange_t *x)
{
    http_exchange_t *ex = x->http;
    const http_request_t *req = &ex->req;
    diag_span_t *s = diag_span_reserve();
    if (!s)
        return;
    uint64_t now_unix = diag_now_unix_ns(), now = base_now_ns();
    s->end_ns = now_unix;
    s->start_ns = now_unix - (now > req->start_ns ? now - req->start_ns : 0);
    s->kind = DIAG_SPAN_KIND_CLIENT;
    diag_span_set_context(s, &x->trace);
    char buf[DIAG_SPAN_TEXT_MAX];
    int invoke = x->invoke_app.len > 0;
    if (invoke) {
        base_slice_t parts[] = { BASE_SLICE_LIT("CallLocal/"), x->invoke_app, BASE_SLICE_LIT("/"), x->invoke_method };
        diag_span_set_name(s, base_slice_join(buf, sizeof buf, parts, 4));
    } else {
        diag_span_set_name(s, req->path);
    }
    char status[12];
    base_slice_t status_text = diag_status_label(ex->res.status, status);
    /* known keys, each added once: stored as numbers */
    if (invoke) {
        diag_span_add_attr_key(s, DIAG_SPAN_KEY_RPC_SERVICE, BASE_SLICE_LIT("ServiceInvocation"));
        diag_span_add_attr_key(s, DIAG_SPAN_KEY_NET_PEER_NAME, x->invoke_app);
    }
    base_slice_t api[] = { req->method, BASE_SLICE_LIT(" "), req->path };
    diag_span_add_attr_key(s, DIAG_SPAN_KEY_DAPR_API, base_slice_join(buf, sizeof buf, api, 3));
    diag_span_add_attr_key(s, DIAG_SPAN_KEY_DAPR_PROTOCOL, BASE_SLICE_LIT("http"));
    diag_span_add_attr_key(s, DIAG_SPAN_KEY_DAPR_STATUS_CODE, status_text);
    diag_span_add_attr_key(s, DIAG_SPAN_KEY_HTTP_REQUEST_METHOD, req->method);
    diag_span_add_attr_key(s, DIAG_SPAN_KEY_URL_FULL, req->target);
    base_slice_t addr, port;
    split_peer(req->peer, &addr, &port);
    if (addr.len)
        diag_span_add_attr_key(s, DIAG_SPAN_KEY_SERVER_ADDRESS, addr);
    if (port.len)
        diag_span_add_attr_key(s, DIAG_SPAN_KEY_SERVER_PORT, port);
    /* the caller's own dapr-* headers become attributes (daprd's userDefinedHTTPHeaders) */
    for (size_t i = 0; i < req->headers.len; i++) {
        base_slice_t k = req->headers.items[i].name;
        /* the first letter first: most headers are not dapr-* */
        if (k.len > 5 && (k.base[0] | 0x20) == 'd' && base_slice_ieq(base_slice(k.base, 5), BASE_SLICE_LIT("dapr-"))) {
            char key[64];
            size_t kl = BASE_MIN(k.len, sizeof key);
            for (size_t j = 0; j < kl; j++)
                key[j] = (char)((k.base[j] >= 'A' && k.base[j] <= 'Z') ? k.base[j] + 32 : k.base[j]);
            if (!base_slice_eq(base_slice(key, kl), BASE_SLICE_LIT("dapr-api-token")))
                diag_span_add_attr(s, base_slice(key, kl), req->headers.items[i].value);
        }
    }
    if (ex->res.status >= 400) {
        const char *reason = http_status_reason(ex->res.status);
        base_slice_t parts[] = { BASE_SLICE_LIT("Code("), status_text, BASE_SLICE_LIT("): "),
                                 base_slice_cstr(reason && reason[0] ? reason : "Unknown") };
        diag_span_set_error(s, base_slice_join(buf, sizeof buf, parts, 4));
    }
    diag_span_commit(s);
}

static void on_response(mw_filter_t *f, mw_exchange_t *x)
{
    http_exchange_t *ex = x->http;
    if (x->traced && (x->trace.flags & 0x01) && diag_tracing_export_on())
        record_span(x);
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
