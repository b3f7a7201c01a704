/*
 * config.c - config_load(): flags and environment, then --config files, then
 * --resources-path, then the pipelines matched to their components. Built in a local struct
 * and handed over only when everything succeeded, so a caller never sees half a config.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/pool.h"
#include "config_internal.h"

static int spec_defaults(config_spec_t *s)
{
    /* pkg/config LoadDefaultConfiguration and diag.GetTraceSamplingRate(""). */
    s->sampling_rate = 1e-4;
    s->otel_is_secure = 1;
    s->metrics_enabled = 1;
    s->metrics_increased_cardinality = 1;
    s->acl_default_allow = -1;
    s->api_logging_enabled = -1;
    return cfg_set_str(&s->acl_trust_domain, "public");
}

/* ---- --resources-path ---- */

static int has_yaml_ext(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.yaml and *.yml regular files of dir, full paths sorted by name. */
static int list_yaml(const char *dir, char ***out, size_t *count, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        cfg_errf(err, errlen, "--resources-path %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_yaml_ext(e->d_name))
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *full = base_malloc(len);
        if (!full)
            goto oom;
        snprintf(full, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
            base_free(full);
            continue;
        }
        char **slot = cfg_push(out, count, sizeof(**out));
        if (!slot) {
            base_free(full);
            goto oom;
        }
        *slot = full;
    }
    closedir(d);
    if (*count > 1)
        qsort(*out, *count, sizeof(**out), cmp_str);
    return 0;
oom:
    closedir(d);
    cfg_errf(err, errlen, "out of memory");
    return -1;
}

static int load_resources_path(config_t *cfg, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        cfg_errf(err, errlen, "--resources-path %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return cfg_yaml_load_components(cfg, path, err, errlen);
    char **files = NULL;
    size_t n = 0;
    int rc = list_yaml(path, &files, &n, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = cfg_yaml_load_components(cfg, files[i], err, errlen);
    cfg_free_strv(files, n);
    return rc;
}

/* ---- pipelines (pkg/middleware/store: name, type and version must all match) ---- */

static int match_pipeline(config_t *cfg, config_pipeline_t *p, const char *what, char *err,
                          size_t errlen)
{
    for (size_t i = 0; i < p->count; i++) {
        config_handler_t *h = &p->handlers[i];
        for (size_t j = 0; j < cfg->component_count && !h->component; j++) {
            const config_component_t *c = &cfg->components[j];
            if (!strcmp(c->name, h->name) && !strcmp(c->type, h->type) &&
                !strcmp(c->version, h->version))
                h->component = c;
        }
        if (!h->component) {
            cfg_errf(err, errlen, "%s handler %s (%s) has no matching component in "
                     "--resources-path", what, h->name, h->type);
            return -1;
        }
    }
    return 0;
}

/* ---- spec.tracing: the OTEL_EXPORTER_OTLP_* environment, then checks ---- */

/* The signal-specific variable wins over the generic one (OpenTelemetry's rule, and daprd's). */
static const char *env_pick(const char *specific, const char *generic)
{
    const char *v = getenv(specific);
    if (v && *v)
        return v;
    v = getenv(generic);
    return v && *v ? v : NULL;
}

/* An HTTP field name: a token (RFC 9110 §5.6.2), which is also OpenTelemetry's header key rule. */
static int is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return 0;
    }
    return 1;
}

/* A field value: no control character but HTAB (RFC 9110 §5.5); CR or LF would split the
 * export request's head. */
static int is_field_value(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return 0;
    return 1;
}

static int hex_val(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* s[0..n) with Go's strings.TrimSpace (ASCII whitespace). */
static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s))
        (*s)++, (*n)--;
    while (*n && is_space((*s)[*n - 1]))
        (*n)--;
}

/* Go's url.PathUnescape, then TrimSpace. NULL with *bad set for a malformed escape, or when out
 * of memory. */
static char *unescape_value(const char *s, size_t n, int *bad)
{
    char *out = base_malloc(n + 1), *o = out;
    *bad = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= n || hex_val(s[i + 1]) < 0 || hex_val(s[i + 2]) < 0) {
            base_free(out);
            *bad = 1;
            return NULL;
        }
        *o++ = (char)(hex_val(s[i + 1]) << 4 | hex_val(s[i + 2]));
        i += 2;
    }
    const char *v = out;
    size_t len = (size_t)(o - out);
    trim(&v, &len);
    memmove(out, v, len);
    out[len] = '\0';
    return out;
}

/* "k1=v1,k2=v2" (daprd's StringToHeader): every element needs '=', names are trimmed and must
 * be tokens, values are percent-decoded and trimmed. Appended to the spec's headers. */
static int env_headers(config_spec_t *s, const char *var, const char *v, char *err, size_t errlen)
{
    while (1) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        const char *eq = memchr(v, '=', n);
        if (!eq) {
            cfg_errf(err, errlen, "error setting tracing spec from env: %s: missing '=' in \"%.*s\"", var,
                     (int)n, v);
            return -1;
        }
        const char *name = v;
        size_t name_len = (size_t)(eq - v);
        trim(&name, &name_len);
        if (!is_token(name, name_len)) {
            cfg_errf(err, errlen, "error setting tracing spec from env: %s: invalid header key \"%.*s\"", var,
                     (int)name_len, name);
            return -1;
        }
        int bad;
        char *value = unescape_value(eq + 1, n - (size_t)(eq - v) - 1, &bad);
        config_kv_t *slot = value ? cfg_push(&s->otel_headers, &s->otel_header_count, sizeof(*slot)) : NULL;
        if (!slot || !(slot->name = cfg_strndup(name, name_len))) {
            if (slot)
                s->otel_header_count--;
            base_free(value);
            if (bad)
                cfg_errf(err, errlen, "error setting tracing spec from env: %s: invalid escape in \"%.*s\"",
                         var, (int)n, v);
            else
                cfg_errf(err, errlen, "out of memory");
            return -1;
        }
        slot->value = value;
        if (!end)
            return 0;
        v = end + 1;
    }
}

/* strconv.Atoi; > 0 sets the timeout, 0 or less leaves it (daprd). */
static int env_timeout(config_spec_t *s, const char *var, const char *v, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long long ms = strtoll(v, &end, 10);
    if (*end || end == v || errno == ERANGE || ms > INT32_MAX || is_space(*v)) {
        cfg_errf(err, errlen, "error setting tracing spec from env: %s: invalid number \"%s\"", var, v);
        return -1;
    }
    if (ms > 0)
        s->otel_timeout_ms = (int)ms;
    return 0;
}

/*
 * daprd's SetTracingSpecFromEnv: only when no file set spec.tracing.otel.endpointAddress. The
 * endpoint comes from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT with
 * its scheme removed; samplingRate defaults to 1 then; the protocol is "http" when
 * OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL starts with "http", else "grpc";
 * OTEL_EXPORTER_OTLP_INSECURE=true turns isSecure off. Unlike daprd, an "http://" scheme
 * turns isSecure off too (OpenTelemetry's rule: the scheme decides for OTLP/HTTP), where
 * daprd would still dial TLS. Headers and the timeout (ms) are read in the same case.
 */
static int tracing_from_env(config_spec_t *s, char *err, size_t errlen)
{
    if (s->otel_endpoint && *s->otel_endpoint)
        return 0;
    const char *ep = env_pick("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT");
    if (ep) {
        int plain = 0;
        if (strncmp(ep, "http://", 7) == 0) {
            ep += 7;
            plain = 1;
        }
        if (strncmp(ep, "https://", 8) == 0)
            ep += 8;
        const char *proto = env_pick("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL");
        const char *insecure = getenv("OTEL_EXPORTER_OTLP_INSECURE");
        if (cfg_set_str(&s->otel_endpoint, ep) != 0 ||
            cfg_set_str(&s->otel_protocol, proto && strncmp(proto, "http", 4) == 0 ? "http" : "grpc") != 0) {
            cfg_errf(err, errlen, "out of memory");
            return -1;
        }
        if (!s->sampling_rate_set)
            s->sampling_rate = 1;
        if (plain || (insecure && strcmp(insecure, "true") == 0))
            s->otel_is_secure = 0;
    }
    const char *h = env_pick("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS");
    if (h && env_headers(s, getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS") == h ? "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
                                                                             : "OTEL_EXPORTER_OTLP_HEADERS",
                         h, err, errlen) != 0)
        return -1;
    const char *t = env_pick("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT");
    if (t && env_timeout(s, getenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") == t ? "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
                                                                             : "OTEL_EXPORTER_OTLP_TIMEOUT",
                         t, err, errlen) != 0)
        return -1;
    return 0;
}

/* Whatever their source, header names and values must be sendable. */
static int tracing_check(const config_spec_t *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->otel_header_count; i++) {
        const config_kv_t *kv = &s->otel_headers[i];
        if (!is_token(kv->name, strlen(kv->name)) || !is_field_value(kv->value)) {
            cfg_errf(err, errlen, "spec.tracing.otel.headers: invalid header %s%s", kv->name,
                     is_token(kv->name, strlen(kv->name)) ? " (control character in the value)" : " (name)");
            return -1;
        }
    }
    return 0;
}

/* ---- API ---- */

static int load_files(config_t *cfg, char *err, size_t errlen)
{
    if (spec_defaults(&cfg->spec) != 0) {
        cfg_errf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->config_file_count; i++)
        if (cfg_yaml_load_configuration(cfg, cfg->config_files[i], err, errlen) != 0)
            return -1;
    if (cfg_features_resolve(&cfg->spec) != 0) {
        cfg_errf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->resources_path_count; i++)
        if (load_resources_path(cfg, cfg->resources_paths[i], err, errlen) != 0)
            return -1;
    if (tracing_from_env(&cfg->spec, err, errlen) != 0 || tracing_check(&cfg->spec, err, errlen) != 0)
        return -1;
    if (match_pipeline(cfg, &cfg->spec.http_pipeline, "httpPipeline", err, errlen) != 0 ||
        match_pipeline(cfg, &cfg->spec.app_http_pipeline, "appHttpPipeline", err, errlen) != 0)
        return -1;
    return 0;
}

int config_load(config_t *out, int argc, char **argv, char *err, size_t errlen)
{
    config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    if (err && errlen)
        err[0] = '\0';
    int rc = cfg_flags_parse(&cfg, argc, argv, err, errlen);
    if (rc == CONFIG_EXIT_OK && load_files(&cfg, err, errlen) != 0)
        rc = CONFIG_EXIT_USAGE;
    if (rc != CONFIG_EXIT_OK) {
        config_free(&cfg);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    if (cfg.mode == CONFIG_MODE_STANDALONE && cfg.internal_grpc_port == 0)
        cfg.stable_internal_port = config_stable_port_for_process(cfg.app_id);
    *out = cfg;
    return CONFIG_EXIT_OK;
}

void config_free(config_t *c)
{
    if (!c)
        return;
    base_free(c->app_id);
    base_free(c->namespace_);
    base_free(c->internal_grpc_listen_address);
    cfg_free_strv(c->listen_addresses, c->listen_address_count);
    base_free(c->public_listen_address);
    base_free(c->unix_domain_socket);
    base_free(c->app_channel_address);
    base_free(c->app_health_check_path);
    base_free(c->allowed_origins);
    base_free(c->metrics_listen_address);
    base_free(c->log_file);
    base_free(c->dapr_api_token);
    base_free(c->app_api_token);
    cfg_free_strv(c->config_files, c->config_file_count);
    cfg_free_strv(c->resources_paths, c->resources_path_count);
    cfg_spec_free(&c->spec);
    for (size_t i = 0; i < c->component_count; i++)
        cfg_component_free(&c->components[i]);
    base_free(c->components);
    memset(c, 0, sizeof(*c));
}

int config_internal_port(const config_t *cfg)
{
    if (cfg->internal_grpc_port != 0)
        return cfg->internal_grpc_port;
    if (cfg->mode == CONFIG_MODE_KUBERNETES)
        return CFG_K8S_INTERNAL_PORT;
    if (cfg->stable_internal_port != 0)
        return cfg->stable_internal_port;
    return config_stable_port_for_process(cfg->app_id);
}

const char *config_component_meta(const config_component_t *c, const char *name)
{
    for (size_t i = 0; c && i < c->metadata_count; i++)
        if (c->metadata[i].name && strcmp(c->metadata[i].name, name) == 0)
            return c->metadata[i].value;
    return NULL;
}
