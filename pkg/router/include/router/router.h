/*
 * router.h - method + path → route, with captured parameters.
 *
 * Patterns are literal segments, `{name}` (one segment) and a final `{name...}` (the rest of
 * the path, possibly with slashes). Matching is on the cleaned path (router_path_clean) and
 * is case-sensitive, as in daprd's router. Pure functions: thread-safe, no allocation except
 * router_path_clean into the given pool.
 */
#ifndef ROUTER_ROUTER_H
#define ROUTER_ROUTER_H

#include "base/base.h"
#include "base/pool.h"

#define ROUTER_MAX_PARAMS 4

typedef struct router_route {
    const char *method;  /* "GET" (also matches HEAD), ...; NULL matches any method */
    const char *pattern; /* e.g. "/v1.0/metadata/{key}" */
    int id;              /* caller's identifier for the endpoint */
} router_route_t;

typedef struct router_params {
    base_slice_t name[ROUTER_MAX_PARAMS];
    base_slice_t value[ROUTER_MAX_PARAMS];
    size_t count;
} router_params_t;

/* The first route whose method and pattern match, or NULL. `params` gets the captures. */
const router_route_t *router_match(const router_route_t *routes, size_t count, base_slice_t method,
                                   base_slice_t path, router_params_t *params);
/* The captured value for a name, or an empty slice. */
base_slice_t router_param(const router_params_t *p, const char *name);

/* Go's path.Clean on a URL path, as daprd's CleanPath middleware applies it: "//a/./b/../c/"
 * → "/a/c". Always starts with '/'; no trailing slash except for "/". Allocated in pool;
 * returns an empty slice on allocation failure. */
base_slice_t router_path_clean(base_pool_t *pool, base_slice_t path);

#endif
