/*
 * metadata.c - GET /v1.0/metadata and PUT /v1.0/metadata/{key}, as daprd 1.15 answers them
 * (pkg/api/universal/metadata.go builds the data, pkg/api/http/metadata.go shapes the JSON).
 *
 * daprd encodes its metadataResponse struct with encoding/json: keys in struct order, empty
 * fields left out (omitempty) except the two struct-valued ones, appConnectionProperties and
 * actorRuntime, which are always written; map keys (extended) sorted; invalid UTF-8 replaced
 * by U+FFFD; a newline after the object. For a sidecar without actors, pub/sub, HTTPEndpoint
 * resources or scheduler, that leaves: id, runtimeVersion, enabledFeatures, components,
 * extended, appConnectionProperties, actorRuntime.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/utf8.h"
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

/* Go's time.Duration.String() for a whole number of milliseconds: "0s", "500ms", "5s",
 * "1.5s", "1m30s", "1h0m0s". int64 milliseconds need at most 40 characters. */
#define GO_DURATION_LEN 48
static void go_duration(char out[GO_DURATION_LEN], int64_t ms)
{
    if (ms <= 0) {
        snprintf(out, GO_DURATION_LEN, "0s");
        return;
    }
    if (ms < 1000) {
        snprintf(out, GO_DURATION_LEN, "%lldms", (long long)ms);
        return;
    }
    long long s = (long long)(ms / 1000), frac = (long long)(ms % 1000);
    long long h = s / 3600, m = s / 60 % 60;
    int n = 0;
    if (h)
        n += snprintf(out + n, (size_t)(GO_DURATION_LEN - n), "%lldh", h);
    if (h || m)
        n += snprintf(out + n, (size_t)(GO_DURATION_LEN - n), "%lldm", m);
    n += snprintf(out + n, (size_t)(GO_DURATION_LEN - n), "%lld", s % 60);
    if (frac) {
        n += snprintf(out + n, (size_t)(GO_DURATION_LEN - n), ".%03lld", frac);
        while (out[n - 1] == '0')
            n--; /* Go trims the fraction's trailing zeros */
    }
    snprintf(out + n, (size_t)(GO_DURATION_LEN - n), "s");
}

/* daprd lists every component it initialised, middleware included; capabilities come only
 * from state stores, pub/subs, bindings and secret stores, so for Remora's kinds the list is
 * empty and omitempty drops it. A component whose YAML has no spec.version has none here. */
static void add_components(cJSON *root, const config_t *cfg)
{
    if (cfg->component_count == 0)
        return;
    cJSON *arr = cJSON_AddArrayToObject(root, "components");
    for (size_t i = 0; arr && i < cfg->component_count; i++) {
        const config_component_t *c = &cfg->components[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "type", c->type);
        if (!c->version_default && c->version && *c->version)
            cJSON_AddStringToObject(o, "version", c->version);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_features(cJSON *root, const config_t *cfg)
{
    if (cfg->spec.enabled_feature_count == 0)
        return;
    cJSON *arr = cJSON_AddArrayToObject(root, "enabledFeatures");
    for (size_t i = 0; arr && i < cfg->spec.enabled_feature_count; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(cfg->spec.enabled_features[i]));
}

/* The PUT keys (kept sorted) with daprRuntimeVersion merged in at its place; daprd sets that
 * key after copying the PUT ones, so a PUT of it is overridden. */
static void add_extended(cJSON *root, api_t *api)
{
    static const char version_key[] = "daprRuntimeVersion";
    cJSON *ext = cJSON_AddObjectToObject(root, "extended");
    if (!ext)
        return;
    int version_done = 0;
    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i <= api->extended_count; i++) {
        int c = i < api->extended_count ? strcmp(api->extended[i].key, version_key) : 1;
        if (!version_done && c >= 0) {
            cJSON_AddStringToObject(ext, version_key, REMORA_DAPR_COMPAT_VERSION);
            version_done = 1;
        }
        if (i < api->extended_count && c != 0)
            cJSON_AddStringToObject(ext, api->extended[i].key, api->extended[i].value);
    }
    pthread_mutex_unlock(&api->lock);
}

/* daprd's metadataResponseAppConnectionProperties: every field omitempty, health only when
 * the app health check is on, its path only for HTTP apps. The port is the one the app
 * channel uses: Remora's default 50001 when --app-port is not given (daprd has no app channel
 * then, and no port), omitted for --app-port 0. */
static void add_app_connection(cJSON *root, const config_t *cfg)
{
    cJSON *o = cJSON_AddObjectToObject(root, "appConnectionProperties");
    if (!o)
        return;
    if (cfg->app_port > 0)
        cJSON_AddNumberToObject(o, "port", cfg->app_port);
    cJSON_AddStringToObject(o, "protocol", protocol_name(cfg->app_protocol));
    if (cfg->app_channel_address && *cfg->app_channel_address)
        cJSON_AddStringToObject(o, "channelAddress", cfg->app_channel_address);
    if (cfg->app_max_concurrency > 0)
        cJSON_AddNumberToObject(o, "maxConcurrency", cfg->app_max_concurrency);
    if (!cfg->app_health_check_enabled)
        return;
    cJSON *h = cJSON_AddObjectToObject(o, "health");
    if (!h)
        return;
    int http = cfg->app_protocol == CONFIG_APP_HTTP || cfg->app_protocol == CONFIG_APP_HTTPS ||
               cfg->app_protocol == CONFIG_APP_H2C;
    if (http && cfg->app_health_check_path && *cfg->app_health_check_path)
        cJSON_AddStringToObject(h, "healthCheckPath", cfg->app_health_check_path);
    char buf[GO_DURATION_LEN];
    go_duration(buf, (int64_t)cfg->app_health_probe_interval_s * 1000);
    cJSON_AddStringToObject(h, "healthProbeInterval", buf);
    go_duration(buf, cfg->app_health_probe_timeout_ms);
    cJSON_AddStringToObject(h, "healthProbeTimeout", buf);
    if (cfg->app_health_threshold > 0)
        cJSON_AddNumberToObject(h, "healthThreshold", cfg->app_health_threshold);
}

/* daprd's actors.RuntimeStatus() without placement: disabled, never ready. */
static void add_actor_runtime(cJSON *root)
{
    cJSON *o = cJSON_AddObjectToObject(root, "actorRuntime");
    if (!o)
        return;
    cJSON_AddStringToObject(o, "runtimeStatus", "DISABLED");
    cJSON_AddBoolToObject(o, "hostReady", 0);
    cJSON_AddStringToObject(o, "placement", "placement: disconnected");
}

void api_metadata_get(api_t *api, mw_exchange_t *x)
{
    const config_t *cfg = api->cfg;
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        return;
    }
    if (cfg->app_id && *cfg->app_id)
        cJSON_AddStringToObject(root, "id", cfg->app_id);
    cJSON_AddStringToObject(root, "runtimeVersion", REMORA_DAPR_COMPAT_VERSION);
    add_features(root, cfg);
    add_components(root, cfg);
    add_extended(root, api);
    add_app_connection(root, cfg);
    add_actor_runtime(root);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) {
        mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        return;
    }
    /* json.Encoder.Encode ends the object with a newline */
    size_t n = strlen(s);
    char *body = base_pool_alloc(x->http->pool, n + 1);
    if (!body) {
        cJSON_free(s);
        mw_reply_error(x, BASE_ERR_INTERNAL, NULL);
        return;
    }
    memcpy(body, s, n);
    body[n] = '\n';
    cJSON_free(s);
    mw_reply(x, 200, "application/json", base_slice(body, n + 1));
}

/* A NUL-terminated heap copy in which every byte that is not part of valid UTF-8 becomes
 * U+FFFD, as encoding/json writes it. A NUL byte ends the string (C strings). */
static char *dup_utf8(base_slice_t s)
{
    size_t n = 0;
    while (n < s.len && s.base[n] != '\0')
        n++;
    char *d = base_malloc(BASE_UTF8_REPAIR_MAX * n + 1);
    if (!d)
        return NULL;
    d[base_utf8_repair(d, s.base, n)] = '\0';
    return d;
}

/* Index of key in the sorted list, or where it would go (*found 0). Under api->lock. */
static size_t find_key(const api_t *api, const char *key, int *found)
{
    size_t lo = 0, hi = api->extended_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(api->extended[mid].key, key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

void api_metadata_put(api_t *api, mw_exchange_t *x, base_slice_t key, base_slice_t value)
{
    char *k = dup_utf8(key);
    char *v = dup_utf8(value);
    if (!k || !v) {
        base_free(k);
        base_free(v);
        mw_reply_error(x, BASE_ERR_METADATA_SET, "failed setting metadata: out of memory");
        return;
    }
    int err = 0, found;
    pthread_mutex_lock(&api->lock);
    size_t i = find_key(api, k, &found);
    if (found) {
        base_free(api->extended[i].value);
        api->extended[i].value = v;
        v = NULL;
    } else if (api->extended_count >= API_METADATA_MAX_KEYS) {
        err = 1;
    } else {
        api_kv_t *grown = base_realloc(api->extended, (api->extended_count + 1) * sizeof(*grown));
        if (!grown) {
            err = 2;
        } else {
            api->extended = grown;
            memmove(&grown[i + 1], &grown[i], (api->extended_count - i) * sizeof(*grown));
            grown[i] = (api_kv_t){ k, v };
            api->extended_count++;
            k = v = NULL;
        }
    }
    pthread_mutex_unlock(&api->lock);
    base_free(k);
    base_free(v);
    if (err) {
        mw_reply_error(x, BASE_ERR_METADATA_SET,
                       err == 1 ? "failed setting metadata: too many keys" : "failed setting metadata: out of memory");
        return;
    }
    mw_reply(x, 204, NULL, BASE_SLICE_NULL);
}
