#include <stdlib.h>

#include "http/http.h"

static int grow(http_headers_t *h, base_pool_t *pool)
{
    if (h->len < h->cap)
        return 0;
    size_t cap = h->cap ? h->cap * 2 : 16;
    http_header_t *items = base_pool_alloc(pool, cap * sizeof(*items));
    if (!items)
        return -1;
    if (h->len)
        memcpy(items, h->items, h->len * sizeof(*items));
    h->items = items; /* the old array stays in the pool until it is destroyed */
    h->cap = cap;
    return 0;
}

int http_headers_add(http_headers_t *h, base_pool_t *pool, base_slice_t name, base_slice_t value)
{
    if (grow(h, pool) != 0)
        return -1;
    h->items[h->len++] = (http_header_t){ name, value };
    return 0;
}

int http_headers_add_copy(http_headers_t *h, base_pool_t *pool, base_slice_t name, base_slice_t value)
{
    base_slice_t n = base_pool_slice_dup(pool, name);
    base_slice_t v = base_pool_slice_dup(pool, value);
    if (!n.base || !v.base)
        return -1;
    return http_headers_add(h, pool, n, v);
}

int http_headers_set(http_headers_t *h, base_pool_t *pool, base_slice_t name, base_slice_t value)
{
    for (size_t i = 0; i < h->len; i++) {
        if (base_slice_ieq(h->items[i].name, name)) {
            h->items[i].value = value;
            /* drop any later duplicates */
            size_t w = i + 1;
            for (size_t r = i + 1; r < h->len; r++)
                if (!base_slice_ieq(h->items[r].name, name))
                    h->items[w++] = h->items[r];
            h->len = w;
            return 0;
        }
    }
    return http_headers_add(h, pool, name, value);
}

const base_slice_t *http_headers_get(const http_headers_t *h, const char *name)
{
    base_slice_t n = base_slice_cstr(name);
    for (size_t i = 0; i < h->len; i++)
        if (base_slice_ieq(h->items[i].name, n))
            return &h->items[i].value;
    return NULL;
}

size_t http_headers_count(const http_headers_t *h, const char *name)
{
    base_slice_t n = base_slice_cstr(name);
    size_t count = 0;
    for (size_t i = 0; i < h->len; i++)
        count += base_slice_ieq(h->items[i].name, n);
    return count;
}

size_t http_headers_remove(http_headers_t *h, const char *name)
{
    base_slice_t n = base_slice_cstr(name);
    size_t w = 0;
    for (size_t r = 0; r < h->len; r++)
        if (!base_slice_ieq(h->items[r].name, n))
            h->items[w++] = h->items[r];
    size_t removed = h->len - w;
    h->len = w;
    return removed;
}
