/*
 * apitoken.c - DAPR_API_TOKEN authentication of the HTTP API (reliability-ecosystem A6).
 *
 * Every request must carry `dapr-api-token` equal to the token, except GET on the two exact
 * health routes. Matching those on a substring was CVE-2023-37918 (any URL containing
 * "/healthz", even in the query, skipped the check), so the path is compared whole. The
 * comparison is constant-time (daprd compares with !=). After a successful check the header
 * is removed so the token never reaches the app.
 */
#include "middleware/middleware.h"

#include <errno.h>

#include "base/pool.h"

typedef struct apitoken {
    mw_filter_t base;
    size_t len;
    char token[];
} apitoken_t;

/* daprd: strings.Trim(path, "/") compared with "v1.0/healthz" and "v1.0/healthz/outbound". */
static int is_exempt(const http_request_t *req)
{
    if (req->method_id != HTTP_METHOD_GET)
        return 0;
    base_slice_t p = req->path;
    while (p.len && p.base[0] == '/') {
        p.base++;
        p.len--;
    }
    while (p.len && p.base[p.len - 1] == '/')
        p.len--;
    return base_slice_eq(p, BASE_SLICE_LIT("v1.0/healthz")) ||
           base_slice_eq(p, BASE_SLICE_LIT("v1.0/healthz/outbound"));
}

static mw_status_t on_request(mw_filter_t *f, mw_exchange_t *x)
{
    const apitoken_t *t = (const apitoken_t *)f;
    http_request_t *req = &x->http->req;
    if (is_exempt(req))
        return MW_CONTINUE;
    const base_slice_t *got = http_headers_get(&req->headers, "dapr-api-token");
    if (!got || !base_ct_equal(got->base, got->len, t->token, t->len)) {
        /* daprd answers text/plain "invalid api token"; Remora keeps Dapr's JSON error shape
         * with the same text, like every other error it returns. */
        mw_reply_error(x, BASE_ERR_UNAUTHORIZED, NULL);
        return MW_STOP;
    }
    http_headers_remove(&req->headers, "dapr-api-token");
    return MW_CONTINUE;
}

static void destroy(mw_filter_t *f)
{
    apitoken_t *t = (apitoken_t *)f;
    explicit_bzero(t->token, t->len);
    base_free(t);
}

static const mw_filter_ops_t ops = {
    .name = "apitoken",
    .on_request = on_request,
    .destroy = destroy,
};

mw_filter_t *mw_apitoken_new(const config_t *cfg)
{
    errno = 0;
    if (!cfg->dapr_api_token || !cfg->dapr_api_token[0])
        return NULL;
    size_t len = strlen(cfg->dapr_api_token);
    apitoken_t *t = base_calloc(1, sizeof *t + len + 1);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    t->base.ops = &ops;
    t->len = len;
    memcpy(t->token, cfg->dapr_api_token, len + 1);
    return &t->base;
}
