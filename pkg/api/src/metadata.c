#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "internal.h"

static const char *protocol_name(config_app_protocol_t p)
{
    switch (p) {
    case CONFIG_APP_GRPC: return "grpc";
    case CONFIG_APP_GRPCS: return "grpcs";
    case CONFIG_APP_HTTP: return "http";
    case CONFIG_APP_HTTPS: return "https";
    case CONFIG_APP_H2C: return "h2c";
    }
    return "grpc";
}

static cJSON *components_json(const config_t *cfg)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < cfg->component_count; i++) {
        const config_component_t *c = &cfg->components[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "type", c->type);
        cJSON_AddStringToObject(o, "version", c->version);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* daprd's appConnectionProperties (pkg/api/http/metadata.go); health only when enabled. */
static cJSON *app_connection_json(const config_t *cfg)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "port", cfg->app_port);
    cJSON_AddStringToObject(o, "protocol", protocol_name(cfg->app_protocol));
    cJSON_AddStringToObject(o, "channelAddress", cfg->app_channel_address);
    if (cfg->app_max_concurrency > 0)
        cJSON_AddNumberToObject(o, "maxConcurrency", cfg->app_max_concurrency);
    if (cfg->app_health_check_enabled) {
        cJSON *h = cJSON_AddObjectToObject(o, "health");
        char buf[32];
        if (h) {
            if (cfg->app_protocol == CONFIG_APP_HTTP || cfg->app_protocol == CONFIG_APP_HTTPS ||
                cfg->app_protocol == CONFIG_APP_H2C)
                cJSON_AddStringToObject(h, "healthCheckPath", cfg->app_health_check_path);
            snprintf(buf, sizeof(buf), "%ds", cfg->app_health_probe_interval_s);
            cJSON_AddStringToObject(h, "healthProbeInterval", buf);
            snprintf(buf, sizeof(buf), "%dms", cfg->app_health_probe_timeout_ms);
            cJSON_AddStringToObject(h, "healthProbeTimeout", buf);
            cJSON_AddNumberToObject(h, "healthThreshold", cfg->app_health_threshold);
        }
    }
    return o;
}

void api_metadata_get(api_t *api, mw_exchange_t *x)
{
    const config_t *cfg = api->cfg;
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        return;
    }
    cJSON_AddStringToObject(root, "id", cfg->app_id);
    cJSON_AddStringToObject(root, "runtimeVersion", REMORA_DAPR_COMPAT_VERSION);
    cJSON_AddItemToObject(root, "enabledFeatures", cJSON_CreateArray());
    cJSON_AddItemToObject(root, "components", components_json(cfg));
    cJSON *ext = cJSON_AddObjectToObject(root, "extended");
    if (ext) {
        cJSON_AddStringToObject(ext, "daprRuntimeVersion", REMORA_DAPR_COMPAT_VERSION);
        cJSON_AddStringToObject(ext, "remoraVersion", REMORA_VERSION);
        pthread_mutex_lock(&api->lock);
        for (size_t i = 0; i < api->extended_count; i++)
            cJSON_AddStringToObject(ext, api->extended[i].key, api->extended[i].value);
        pthread_mutex_unlock(&api->lock);
    }
    cJSON_AddItemToObject(root, "appConnectionProperties", app_connection_json(cfg));
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) {
        mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        return;
    }
    mw_reply(x, 200, "application/json", base_slice_cstr(s));
    cJSON_free(s);
}

static char *dup_slice(base_slice_t s)
{
    char *d = base_malloc(s.len + 1);
    if (d) {
        if (s.len)
            memcpy(d, s.base, s.len);
        d[s.len] = '\0';
    }
    return d;
}

void api_metadata_put(api_t *api, mw_exchange_t *x, base_slice_t key, base_slice_t value)
{
    char *v = dup_slice(value);
    if (!v) {
        mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        return;
    }
    int err = 0;
    pthread_mutex_lock(&api->lock);
    size_t i = 0;
    while (i < api->extended_count && !base_slice_eq(base_slice_cstr(api->extended[i].key), key))
        i++;
    if (i < api->extended_count) {
        base_free(api->extended[i].value);
        api->extended[i].value = v;
    } else if (api->extended_count >= API_METADATA_MAX_KEYS) {
        err = 1;
    } else {
        api_kv_t *grown = base_realloc(api->extended, (api->extended_count + 1) * sizeof(*grown));
        char *k = dup_slice(key);
        if (!grown || !k) {
            if (grown)
                api->extended = grown;
            base_free(k);
            err = 2;
        } else {
            api->extended = grown;
            api->extended[api->extended_count++] = (api_kv_t){ k, v };
        }
    }
    pthread_mutex_unlock(&api->lock);
    if (err) {
        base_free(v);
        mw_reply_error(x, BASE_ERR_METADATA_SET,
                       err == 1 ? "failed setting metadata: too many keys" : "failed setting metadata: out of memory");
        return;
    }
    mw_reply(x, 204, NULL, BASE_SLICE_NULL);
}
