#include "internal.h"

/* The value of one query parameter (raw, not decoded), or an empty slice. */
static base_slice_t query_param(base_slice_t query, const char *name)
{
    size_t nlen = strlen(name), i = 0;
    while (i < query.len) {
        size_t end = i;
        while (end < query.len && query.base[end] != '&')
            end++;
        if (end - i > nlen && memcmp(query.base + i, name, nlen) == 0 && query.base[i + nlen] == '=')
            return base_slice(query.base + i + nlen + 1, end - i - nlen - 1);
        i = end + 1;
    }
    return BASE_SLICE_NULL;
}

/* daprd pkg/api/http/healthz.go: readiness first, then the optional appid check. */
void api_healthz(api_t *api, mw_exchange_t *x)
{
    if (api_get_state(api) != API_READY) {
        mw_reply_error(x, BASE_ERR_HEALTH_NOT_READY, NULL);
        return;
    }
    base_slice_t appid = query_param(x->http->req.query, "appid");
    if (appid.len && !base_slice_eq(appid, base_slice_cstr(api->cfg->app_id))) {
        mw_reply_error(x, BASE_ERR_HEALTH_APPID_NOT_MATCH, NULL);
        return;
    }
    mw_reply(x, 204, NULL, BASE_SLICE_NULL);
}

void api_healthz_outbound(api_t *api, mw_exchange_t *x)
{
    /* Outbound (name resolution, channels to other sidecars) is usable as soon as the runtime
     * has started, and stays usable while draining so the app can still call out. */
    if (api_get_state(api) == API_STARTING) {
        mw_reply_error(x, BASE_ERR_OUTBOUND_HEALTH_NOT_READY, NULL);
        return;
    }
    mw_reply(x, 204, NULL, BASE_SLICE_NULL);
}

void api_shutdown(api_t *api, mw_exchange_t *x)
{
    mw_reply(x, 204, NULL, BASE_SLICE_NULL);
    if (api->hooks.request_shutdown)
        api->hooks.request_shutdown(api->hooks.arg);
}

/* Finds the target app of an invocation the way daprd's findTargetIDAndMethod does: the
 * dapr-app-id header first, then Basic auth "dapr-app-id:<id>", then /v1.0/invoke/<id>/method/. */
static base_slice_t invoke_target(mw_exchange_t *x)
{
    const http_request_t *r = &x->http->req;
    const base_slice_t *h = http_headers_get(&r->headers, "dapr-app-id");
    if (h && h->len)
        return *h;
    static const char prefix[] = "/v1.0/invoke/";
    base_slice_t p = r->path;
    if (base_slice_starts_with(p, prefix)) {
        const char *id = p.base + sizeof(prefix) - 1;
        const char *end = p.base + p.len;
        const char *slash = memchr(id, '/', (size_t)(end - id));
        if (slash && slash > id && (size_t)(end - slash) >= 8 && memcmp(slash, "/method/", 8) == 0)
            return base_slice(id, (size_t)(slash - id));
    }
    return BASE_SLICE_NULL;
}

void api_fallback(api_t *api, mw_exchange_t *x)
{
    (void)api;
    base_slice_t target = invoke_target(x);
    if (target.len == 0) {
        mw_reply_error(x, BASE_ERR_DIRECT_INVOKE_NO_APP_ID, NULL);
        return;
    }
    /* Service invocation arrives with the internal gRPC API; until then the caller gets
     * daprd's invoke error shape with the reason. */
    char *msg = base_pool_printf(x->http->pool, "failed to invoke, id: %.*s, err: service invocation is not available in this build",
                                 (int)BASE_MIN(target.len, 256), target.base);
    mw_reply_error(x, BASE_ERR_DIRECT_INVOKE, msg);
}
