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

