/* resolve.c - choosing the resolver from the Configuration, and its life on the main thread. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/pool.h"
#include "resolve_internal.h"

/* daprd's defaults (pkg/runtime/runtime.go initNameResolution) are kubernetes in kubernetes
 * mode and mdns otherwise; Remora has no mdns, so standalone mode defaults to sqlite. */
static int pick_kind(const config_t *cfg, nr_kind_t *kind, char *err, size_t errlen)
{
    const char *c = cfg->spec.nr_component;
    const char *v = cfg->spec.nr_version;
    if (!c || !*c) {
        *kind = cfg->mode == CONFIG_MODE_KUBERNETES ? NR_KUBERNETES : NR_SQLITE;
        return 0;
    }
    if (strcmp(c, "sqlite") == 0) {
        *kind = NR_SQLITE;
    } else if (strcmp(c, "kubernetes") == 0) {
        *kind = NR_KUBERNETES;
    } else {
        nr_errf(err, errlen, "name resolution component \"%s\" is not supported by Remora "
                "(supported: sqlite, kubernetes)", c);
        return -1;
    }
    if (v && *v && strcmp(v, "v1") != 0) {
        nr_errf(err, errlen, "couldn't find name resolver %s/%s", c, v);
        return -1;
    }
    return 0;
}

resolve_t *resolve_new(const config_t *cfg, char *err, size_t errlen)
{
    nr_kind_t kind;
    if (pick_kind(cfg, &kind, err, errlen) != 0)
        return NULL;
    resolve_t *r = base_calloc(1, sizeof(*r));
    if (!r)
        goto fail_oom;
    r->kind = kind;
    pthread_mutex_init(&r->lookup_mu, NULL);
    r->port = config_internal_port(cfg);
    r->app_id = nr_strdup(cfg->app_id ? cfg->app_id : "");
    r->namespace_ = nr_strdup(cfg->namespace_ && *cfg->namespace_ ? cfg->namespace_ : "default");
    if (!r->app_id || !r->namespace_)
        goto fail_oom;
    if (kind == NR_KUBERNETES)
        return nr_k8s_configure(r, cfg, err, errlen) == 0 ? r : (resolve_free(r), NULL);
    if (nr_sqlite_configure(r, cfg, err, errlen) != 0)
        goto fail;
    char host[RESOLVE_ADDRESS_MAX];
    nr_self_host(cfg->internal_grpc_listen_address, host, sizeof(host));
    if (nr_join_host_port(r->self_addr, sizeof(r->self_addr), host, r->port) != 0) {
        nr_errf(err, errlen, "name resolution: host address too long: %s", host);
        goto fail;
    }
    return r;
fail_oom:
    nr_errf(err, errlen, "out of memory");
fail:
    resolve_free(r);
    return NULL;
}

int resolve_start(resolve_t *r, uv_loop_t *main_loop)
{
    r->err[0] = '\0';
    if (r->kind != NR_SQLITE)
        return 0;
    int rc = nr_sqlite_start(r, main_loop);
    if (rc != 0)
        LOG_ERROR(NR_LOG_SCOPE, "%s", r->err);
    return rc;
}

void resolve_stop(resolve_t *r)
{
    if (r && r->kind == NR_SQLITE)
        nr_sqlite_stop(r);
}

void resolve_free(resolve_t *r)
{
    if (!r)
        return;
    /* after a failed resolve_start() the row and the connection may still be there; the
     * timers are never left open by a failure */
    if (!r->timers)
        nr_sqlite_stop(r);
    nr_sqlite_free(r);
    pthread_mutex_destroy(&r->lookup_mu);
    base_free(r->app_id);
    base_free(r->namespace_);
    base_free(r->cluster_domain);
    base_free(r->tmpl);
    base_free(r);
}

const char *resolve_strerror(const resolve_t *r)
{
    return r->err;
}

const char *resolve_component(const resolve_t *r)
{
    return r->kind == NR_KUBERNETES ? "kubernetes" : "sqlite";
}

const char *resolve_self_address(const resolve_t *r)
{
    return r->self_addr;
}
