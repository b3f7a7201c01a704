/*
 * api.c - routing of the Dapr HTTP API and the handler plumbing (body collection, API log).
 */
#include <stdlib.h>

#include "base/buf.h"
#include "base/log.h"
#include "internal.h"

enum route_id {
    R_HEALTHZ = 1,
    R_HEALTHZ_OUTBOUND,
    R_METADATA_GET,
    R_METADATA_PUT,
    R_SHUTDOWN,
};

/* daprd registers these with exact verbs; any other verb falls through to the invoke
 * fallback, as with chi's MethodNotAllowed handler in daprd. */
static const router_route_t api_routes[] = {
    { "GET", "/v1.0/healthz", R_HEALTHZ },
    { "GET", "/v1.0/healthz/outbound", R_HEALTHZ_OUTBOUND },
    { "GET", "/v1.0/metadata", R_METADATA_GET },
    { "PUT", "/v1.0/metadata/{key}", R_METADATA_PUT },
    { "POST", "/v1.0/shutdown", R_SHUTDOWN },
};

static const router_route_t public_routes[] = {
    { "GET", "/v1.0/healthz", R_HEALTHZ },
    { "GET", "/v1.0/healthz/outbound", R_HEALTHZ_OUTBOUND },
    { "GET", "/v1.0/metadata", R_METADATA_GET },
};

static void buf_cleanup(void *b)
{
    base_buf_free(b);
}

static void api_log(api_t *api, mw_exchange_t *x, const router_route_t *route, base_slice_t path)
{
    const http_request_t *r = &x->http->req;
    const config_t *cfg = api->cfg;
    if (!api->api_logging)
        return;
    if (route && (route->id == R_HEALTHZ || route->id == R_HEALTHZ_OUTBOUND) && cfg->spec.api_logging_omit_health_checks)
        return;
    /* obfuscateURLs logs the route template instead of the concrete path (daprd). */
    const char *shown = cfg->spec.api_logging_obfuscate_urls && route ? route->pattern : NULL;
    char *method = base_pool_printf(x->http->pool, "%.*s %.*s", (int)r->method.len, r->method.base,
                                    shown ? (int)strlen(shown) : (int)path.len, shown ? shown : path.base);
    const base_slice_t *ua = http_headers_get(&r->headers, "user-agent");
    char *useragent = ua ? base_pool_strndup(x->http->pool, ua->base, ua->len) : NULL;
    base_log_kv(BASE_LOG_INFO, BASE_LOG_SCOPE_HTTP_INFO, "HTTP API Called", "method", method ? method : "",
                "useragent", useragent ? useragent : "", NULL);
}

static void dispatch(api_t *api, mw_exchange_t *x, const router_route_t *routes, size_t n, int public_port)
{
    http_exchange_t *ex = x->http;
    base_slice_t path = router_path_clean(ex->pool, ex->req.path);
    api_request_t *ar = base_pool_calloc(ex->pool, sizeof(*ar));
    if (!path.base || !ar) {
        mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        return;
    }
    x->handler_data = ar;
    const router_route_t *route = router_match(routes, n, ex->req.method, path, &ar->params);
    api_log(api, x, route, path);
    if (!route) {
        if (public_port)
            mw_reply_error_status(x, 404, BASE_ERR_DIRECT_INVOKE_NO_APP_ID, "not found");
        else
            api_fallback(api, x);
        return;
    }
    ar->route = route->id;
    switch (route->id) {
    case R_HEALTHZ:
        api_healthz(api, x);
        break;
    case R_HEALTHZ_OUTBOUND:
        api_healthz_outbound(api, x);
        break;
    case R_METADATA_GET:
        api_metadata_get(api, x);
        break;
    case R_METADATA_PUT:
        /* answered at the end of the body */
        if (base_pool_cleanup_add(ex->pool, buf_cleanup, &ar->body) != 0)
            mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        break;
    case R_SHUTDOWN:
        api_shutdown(api, x);
        break;
    }
}

static void on_request(void *ctx, mw_exchange_t *x)
{
    dispatch(ctx, x, api_routes, BASE_ARRAY_SIZE(api_routes), 0);
}

static void on_public_request(void *ctx, mw_exchange_t *x)
{
    dispatch(ctx, x, public_routes, BASE_ARRAY_SIZE(public_routes), 1);
}

static void on_body(void *ctx, mw_exchange_t *x, base_slice_t chunk)
{
    (void)ctx;
    api_request_t *ar = x->handler_data;
    if (ar && ar->route == 0) {
        api_invoke_body(x, chunk);
        return;
    }
    if (!ar || ar->route != R_METADATA_PUT || x->replied)
        return;
    if (ar->body.len + chunk.len > API_METADATA_MAX_VALUE) {
        ar->too_large = 1;
        return;
    }
    if (base_buf_append(&ar->body, chunk.base, chunk.len) != 0)
        ar->too_large = 1;
}

static void on_end(void *ctx, mw_exchange_t *x)
{
    api_t *api = ctx;
    api_request_t *ar = x->handler_data;
    if (ar && ar->route == 0) {
        api_invoke_end(x);
        return;
    }
    if (!ar || ar->route != R_METADATA_PUT || x->replied)
        return;
    if (ar->too_large) {
        mw_reply_error(x, BASE_ERR_BODY_TOO_LARGE, "metadata value exceeds 65536 bytes");
        return;
    }
    api_metadata_put(api, x, router_param(&ar->params, "key"), base_buf_slice(&ar->body));
}

static void on_abort(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    api_invoke_abort(x); /* the only state that outlives the pool is an invocation in flight */
}

mw_handler_t api_handler(api_t *api)
{
    return (mw_handler_t){ on_request, on_body, on_end, on_abort, api };
}

mw_handler_t api_public_handler(api_t *api)
{
    return (mw_handler_t){ on_public_request, on_body, on_end, on_abort, api };
}

api_t *api_new(const config_t *cfg, const api_hooks_t *hooks)
{
    api_t *api = base_calloc(1, sizeof(*api));
    if (!api)
        return NULL;
    api->cfg = cfg;
    if (hooks)
        api->hooks = *hooks;
    atomic_init(&api->state, API_STARTING);
    api->api_logging = cfg->enable_api_logging >= 0 ? cfg->enable_api_logging : cfg->spec.api_logging_enabled > 0;
    pthread_mutex_init(&api->lock, NULL);
    return api;
}

void api_free(api_t *api)
{
    if (!api)
        return;
    for (size_t i = 0; i < api->extended_count; i++) {
        base_free(api->extended[i].key);
        base_free(api->extended[i].value);
    }
    base_free(api->extended);
    pthread_mutex_destroy(&api->lock);
    base_free(api);
}

void api_set_state(api_t *api, api_state_t state)
{
    atomic_store(&api->state, (int)state);
}

api_state_t api_get_state(const api_t *api)
{
    return (api_state_t)atomic_load(&((api_t *)api)->state);
}
