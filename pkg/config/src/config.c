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
    for (size_t i = 0; i < cfg->resources_path_count; i++)
        if (load_resources_path(cfg, cfg->resources_paths[i], err, errlen) != 0)
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
