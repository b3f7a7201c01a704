/*
 * apilog.c - daprd's API log (pkg/api/http/server.go useAPILogging, daprd 1.13 to 1.15).
 *
 * One line per API request that reached this filter, written once the response is finished:
 * msg "HTTP API Called", level info, scope dapr.runtime.http-info, fields
 *   method     "<VERB> <path>" (the path percent-decoded, as Go's r.URL.Path), or with
 *              spec.logging.apiLogging.obfuscateURLs the endpoint name the handler reports
 *              ("GetMetadata", "InvokeService/<app id>"...)
 *   useragent  the User-Agent header, when not empty
 *   code       the response status (0 when the request ended without one)
 *   size       response body bytes
 *   duration   milliseconds from the request head to the end of the response
 * Health endpoints are skipped with omitHealthChecks.
 *
 * daprd installs its logger after CORS, the token check and the pipeline components, so
 * requests those answer (401, preflights, 429) are not logged; this filter sits at the same
 * place, last in the chain. daprd also pins that logger at info, so the lines appear whatever
 * --log-level says. The filter exists only when API logging is on: otherwise it costs nothing.
 *
 * The line is written from a cleanup of the request pool, which runs when the exchange is
 * freed: after the last byte was written, or when the client went away.
 */
#include "middleware/middleware.h"

#include <errno.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/pool.h"

typedef struct apilog {
    mw_filter_t base;
    int obfuscate;   /* spec.logging.apiLogging.obfuscateURLs */
    int omit_health; /* spec.logging.apiLogging.omitHealthChecks */
} apilog_t;

typedef struct pending {
    const apilog_t *f;
    mw_exchange_t *x;
} pending_t;

/* Go's url.PathUnescape: every %XX decoded, '+' kept. A path Go could not decode never reaches
 * daprd's handlers (400 at parse); here it is logged as sent. */
static void append_path(base_buf_t *b, base_slice_t path)
{
    if (base_buf_reserve(b, path.len) != 0)
        return;
    long n = base_percent_decode(path, b->base + b->len, 0, NULL);
    if (n < 0)
        base_buf_append(b, path.base, path.len);
    else
        b->len += (size_t)n;
}

/* The `method` field. daprd: r.Method + " " + r.URL.Path, or with obfuscation the endpoint's
 * name, which its invoke group turns into "InvokeService/<app id>" once the target is known. */
static void method_text(const apilog_t *f, const mw_exchange_t *x, base_buf_t *b)
{
    const http_request_t *r = &x->http->req;
    if (f->obfuscate) {
        base_buf_append_str(b, x->endpoint ? x->endpoint : "");
        if (x->endpoint_app_id.len) {
            base_buf_append(b, "/", 1);
            base_buf_append(b, x->endpoint_app_id.base, x->endpoint_app_id.len);
        }
        return;
    }
    base_buf_append(b, r->method.base, r->method.len);
    base_buf_append(b, " ", 1);
    append_path(b, r->path);
}

static void write_line(void *data)
{
    const pending_t *p = data;
    const mw_exchange_t *x = p->x;
    const http_exchange_t *ex = x->http;
    if (x->endpoint_health && p->f->omit_health)
        return;
    base_buf_t method = BASE_BUF_INIT;
    method_text(p->f, x, &method);
    base_buf_append(&method, "", 1); /* NUL */
    uint64_t now = base_now_ns();
    uint64_t ms = now > ex->req.start_ns ? (now - ex->req.start_ns) / 1000000u : 0;
    base_log_field_t fields[5] = {
        { "code", NULL, ex->res.status },
        { "duration", NULL, (long long)ms },
        { "method", method.base ? method.base : "", 0 },
        { "size", NULL, (long long)x->res_bytes },
    };
    size_t n = 4;
    const base_slice_t *ua = http_headers_get(&ex->req.headers, "user-agent");
    char *useragent = NULL;
    if (ua && ua->len) {
        useragent = base_malloc(ua->len + 1);
        if (useragent) {
            memcpy(useragent, ua->base, ua->len);
            useragent[ua->len] = '\0';
            fields[n++] = (base_log_field_t){ "useragent", useragent, 0 };
        }
    }
    base_log_fields(BASE_LOG_INFO, BASE_LOG_SCOPE_HTTP_INFO, "HTTP API Called", fields, n);
    base_free(useragent);
    base_buf_free(&method);
}

static mw_status_t on_request(mw_filter_t *f, mw_exchange_t *x)
{
    base_pool_t *pool = x->http->pool;
    pending_t *p = base_pool_alloc(pool, sizeof *p);
    if (p) {
        p->f = (const apilog_t *)f;
        p->x = x;
    }
    if (!p || base_pool_cleanup_add(pool, write_line, p) != 0)
        LOG_DEBUG(BASE_LOG_SCOPE_HTTP, "api log: out of memory, request not logged");
    return MW_CONTINUE;
}

static void destroy(mw_filter_t *f)
{
    base_free(f);
}

static const mw_filter_ops_t ops = {
    .name = "apilog",
    .on_request = on_request,
    .destroy = destroy,
};

mw_filter_t *mw_apilog_new(const config_t *cfg)
{
    errno = 0;
    /* daprd: the flag when given (true or false), else the Configuration's switch. */
    int on = cfg->enable_api_logging >= 0 ? cfg->enable_api_logging : cfg->spec.api_logging_enabled > 0;
    if (!on)
        return NULL;
    apilog_t *a = base_calloc(1, sizeof *a);
    if (!a) {
        errno = ENOMEM;
        return NULL;
    }
    a->base.ops = &ops;
    a->obfuscate = cfg->spec.api_logging_obfuscate_urls > 0;
    a->omit_health = cfg->spec.api_logging_omit_health_checks > 0;
    return &a->base;
}
