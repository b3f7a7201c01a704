#include "base/path.h"

base_slice_t base_path_clean(base_pool_t *pool, base_slice_t path)
{
    const char *p = path.base;
    size_t n = path.len;
    if (n == 0)
        return base_pool_slice_dup(pool, BASE_SLICE_LIT("."));
    char *out = base_pool_alloc(pool, n + 1);
    if (!out)
        return BASE_SLICE_NULL;
    int rooted = p[0] == '/';
    size_t w = 0, r = 0, dotdot = 0; /* out[0..dotdot) may not be backtracked over */
    if (rooted) {
        out[w++] = '/';
        r = 1;
        dotdot = 1;
    }
    while (r < n) {
        if (p[r] == '/') {
            r++;
        } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
            r++;
        } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--; /* back over the last element */
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            while (r < n && p[r] != '/')
                out[w++] = p[r++];
        }
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    return base_slice(out, w);
}
