#include "router/router.h"

/* Lexical cleaning after Go's path.Clean (the rules of Rob Pike's "Getting Dot-Dot Right"):
 * collapse repeated slashes, drop "." elements, let ".." remove the element before it and
 * never climb above the root. */
base_slice_t router_path_clean(base_pool_t *pool, base_slice_t path)
{
    char *out = base_pool_alloc(pool, path.len + 2);
    if (!out)
        return BASE_SLICE_NULL;
    size_t w = 0, r = 0, n = path.len;
    const char *p = path.base;
    out[w++] = '/';
    while (r < n) {
        if (p[r] == '/') {
            r++;
        } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
            r++;
        } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
            r += 2;
            if (w > 1) {
                w--; /* drop the slash ending the kept path, then the element */
                while (w > 1 && out[w - 1] != '/')
                    w--;
                if (w > 1)
                    w--;
            }
        } else {
            if (w > 1)
                out[w++] = '/';
            while (r < n && p[r] != '/')
                out[w++] = p[r++];
        }
    }
    out[w] = '\0';
    return base_slice(out, w);
}
