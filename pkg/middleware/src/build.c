/*
 * build.c - assembles the chains from the configuration at start-up (main thread).
 *
 * Any failure fails start-up: a sidecar that silently drops a configured middleware (an
 * auth or rate-limit component, say) would run less protected than its operator believes.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <strings.h>

const char *mw_component_meta(const config_component_t *c, const char *name)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->metadata_count; i++)
        if (c->metadata[i].name && strcasecmp(c->metadata[i].name, name) == 0)
            return c->metadata[i].value;
    return NULL;
}

mw_filter_t *mw_component_new(const config_handler_t *h, char *err, size_t errlen)
{
    const char *type = h->type ? h->type : (h->component ? h->component->type : NULL);
    if (type && strcmp(type, "middleware.http.ratelimit") == 0)
        return mw_ratelimit_new(h->component, err, errlen);
    snprintf(err, errlen, "middleware type %s is not supported by Remora", type ? type : "(none)");
    return NULL;
}

static void chain_init(mw_chain_t *chain, mw_handler_t handler)
{
    memset(chain, 0, sizeof *chain);
    chain->handler = handler;
}

static int add_or_fail(mw_chain_t *chain, mw_filter_t *f, char *err, size_t errlen)
{
    if (mw_chain_add(chain, f) == 0)
        return 0;
    if (f->ops->destroy)
        f->ops->destroy(f);
    snprintf(err, errlen, "too many middleware handlers (at most %d)", MW_MAX_FILTERS);
    return -1;
}

static int add_pipeline(mw_chain_t *chain, const config_pipeline_t *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->count; i++) {
        mw_filter_t *f = mw_component_new(&p->handlers[i], err, errlen);
        if (!f || add_or_fail(chain, f, err, errlen) != 0)
            return -1;
    }
    return 0;
}

typedef mw_filter_t *(*builtin_new_fn)(const config_t *cfg);

int mw_chain_build_api(mw_chain_t *chain, const config_t *cfg, mw_handler_t handler, char *err, size_t errlen)
{
    /* daprd's order (reference §2.6) with one change: daprd limits the body outermost, before
     * tracing; here the limit comes after CORS so that a 413 carries the CORS and traceparent
     * headers like any other answer. */
    static const struct {
        const char *name;
        builtin_new_fn make;
    } builtins[] = {
        { "tracing", mw_tracing_new },
        { "api token", mw_apitoken_new },
        { "cors", mw_cors_new },
        { "body limit", mw_bodylimit_new },
    };

    chain_init(chain, handler);
    for (size_t i = 0; i < BASE_ARRAY_SIZE(builtins); i++) {
        mw_filter_t *f = builtins[i].make(cfg);
        if (!f && errno != 0) {
            snprintf(err, errlen, "middleware %s: out of memory", builtins[i].name);
            goto fail;
        }
        if (f && add_or_fail(chain, f, err, errlen) != 0)
            goto fail;
    }
    if (add_pipeline(chain, &cfg->spec.http_pipeline, err, errlen) != 0)
        goto fail;
    /* Last, as in daprd: requests answered by the filters above are not logged. */
    mw_filter_t *apilog = mw_apilog_new(cfg);
    if (!apilog && errno != 0) {
        snprintf(err, errlen, "middleware api log: out of memory");
        goto fail;
    }
    if (apilog && add_or_fail(chain, apilog, err, errlen) != 0)
        goto fail;
    return 0;

fail:
    mw_chain_destroy(chain);
    return -1;
}

int mw_chain_build_app(mw_chain_t *chain, const config_t *cfg, mw_handler_t handler, char *err, size_t errlen)
{
    chain_init(chain, handler);
    if (add_pipeline(chain, &cfg->spec.app_http_pipeline, err, errlen) != 0) {
        mw_chain_destroy(chain);
        return -1;
    }
    return 0;
}
