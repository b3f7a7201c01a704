/*
 * api.c - routing of the Dapr HTTP API and the handler plumbing (body collection, what the
 * API log learns about each request).
 */
#include <stdlib.h>

#include "base/buf.h"
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

/* daprd's EndpointSettings: the name its API log shows with obfuscateURLs, and whether
 * omitHealthChecks skips it. The fallback is "InvokeService" (set in dispatch()). */
static const struct {
    const char *name;
    int health;
} endpoints[] = {
    [R_HEALTHZ] = { "Healthz", 1 },
    [R_HEALTHZ_OUTBOUND] = { "HealthzOutbound", 1 },
    [R_METADATA_GET] = { "GetMetadata", 0 },
    [R_METADATA_PUT] = { "PutMetadata", 0 },
    [R_SHUTDOWN] = { "Shutdown", 0 },
};

static void buf_cleanup(void *b)
{
    base_buf_free(b);
}

/* Go's url.QueryUnescape, which daprd applies to every route parameter: %XX decoded, '+' a
 * space. An invalid escape fails with Go's message, quoting up to three bytes from the '%'. */
static int query_unescape(base_pool_t *pool, base_slice_t in, base_slice_t *out, char **why)
{
    char *d = base_pool_alloc(pool, in.len + 1);
    if (!d)
        return -1;
    size_t i = 0;
    long n = base_percent_decode(in, d, 1, &i);
    if (n < 0) {
        size_t k = BASE_MIN(in.len - i, (size_t)3);
        base_buf_t q = BASE_BUF_INIT;
        for (size_t j = 0; j < k; j++) {
            unsigned char b = (unsigned char)in.base[i + j];
            if (b < 0x20 || b >= 0x7f)
                base_buf_printf(&q, "\\x%02x", b);
            else if (b == '"' || b == '\\')
                base_buf_printf(&q, "\\%c", b);
            else
                base_buf_append(&q, &in.base[i + j], 1);
        }
        *why = base_pool_printf(pool, "invalid URL escape \"%.*s\"", (int)q.len, q.base ? q.base : "");
        base_buf_free(&q);
        return -1;
    }
    d[n] = '\0';
    *out = base_slice(d, (size_t)n);
    return 0;
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
    if (!route) {
        if (public_port) {
            mw_reply_error_status(x, 404, BASE_ERR_DIRECT_INVOKE_NO_APP_ID, "not found");
        } else {
            x->endpoint = "InvokeService";
            api_fallback(api, x);
        }
        return;
    }
    ar->route = route->id;
    x->endpoint = endpoints[route->id].name;
    x->endpoint_health = endpoints[route->id].health != 0;
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
    case R_METADATA_PUT: {
        /* answered at the end of the body; daprd unescapes the key before its handler runs */
        char *why = NULL;
        if (query_unescape(ex->pool, router_param(&ar->params, "key"), &ar->key, &why) != 0) {
            if (!why) {
                mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
                break;
            }
            char *msg = base_pool_printf(ex->pool, "failed to unescape request parameter \"key\". Error: %s\n", why);
            /* Go's http.Error */
            http_headers_set(&ex->res.headers, ex->pool, BASE_SLICE_LIT("X-Content-Type-Options"),
                             BASE_SLICE_LIT("nosniff"));
            mw_reply(x, 400, "text/plain; charset=utf-8", msg ? base_slice_cstr(msg) : BASE_SLICE_NULL);
            break;
        }
        if (base_pool_cleanup_add(ex->pool, buf_cleanup, &ar->body) != 0)
            mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        break;
    }
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
    api_metadata_put(api, x, ar->key, base_buf_slice(&ar->body));
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
