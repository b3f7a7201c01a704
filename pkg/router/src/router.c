#include "router/router.h"

static int match_pattern(const char *pat, base_slice_t path, router_params_t *params)
{
    size_t pi = 0;
    const char *s = path.base;
    size_t n = path.len;
    params->count = 0;
    while (*pat) {
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            if (!close)
                return 0;
            base_slice_t name = base_slice(pat + 1, (size_t)(close - pat - 1));
            int rest = name.len > 3 && memcmp(name.base + name.len - 3, "...", 3) == 0;
            if (rest)
                name.len -= 3;
            size_t start = pi;
            if (rest)
                pi = n;
            else
                while (pi < n && s[pi] != '/')
                    pi++;
            if (pi == start && !rest)
                return 0; /* an empty segment does not match a parameter */
            if (params->count < ROUTER_MAX_PARAMS) {
                params->name[params->count] = name;
                params->value[params->count] = base_slice(s + start, pi - start);
                params->count++;
            }
            pat = close + 1;
            continue;
        }
        if (pi >= n || s[pi] != *pat)
            return 0;
        pi++;
        pat++;
    }
    return pi == n;
}

/* RFC 9110 §9.3.2: HEAD is answered wherever GET is (the server drops the body). */
static int method_matches(const char *route_method, base_slice_t method)
{
    if (base_slice_eq(method, base_slice_cstr(route_method)))
        return 1;
    return strcmp(route_method, "GET") == 0 && base_slice_eq(method, BASE_SLICE_LIT("HEAD"));
}

const router_route_t *router_match(const router_route_t *routes, size_t count, base_slice_t method,
                                   base_slice_t path, router_params_t *params)
{
    for (size_t i = 0; i < count; i++) {
        if (routes[i].method && !method_matches(routes[i].method, method))
            continue;
        if (match_pattern(routes[i].pattern, path, params))
            return &routes[i];
    }
    params->count = 0;
    return NULL;
}

base_slice_t router_param(const router_params_t *p, const char *name)
{
    base_slice_t n = base_slice_cstr(name);
    for (size_t i = 0; i < p->count; i++)
        if (base_slice_eq(p->name[i], n))
            return p->value[i];
    return BASE_SLICE_NULL;
}
