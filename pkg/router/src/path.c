#include "base/path.h"
#include "router/router.h"

base_slice_t router_path_clean(base_pool_t *pool, base_slice_t path)
{
    /* daprd's CleanPath middleware cleans the request path as a rooted path. */
    if (path.len == 0 || path.base[0] != '/') {
        char *rooted = base_pool_alloc(pool, path.len + 2);
        if (!rooted)
            return BASE_SLICE_NULL;
        rooted[0] = '/';
        if (path.len)
            memcpy(rooted + 1, path.base, path.len);
        path = base_slice(rooted, path.len + 1);
    }
    return base_path_clean(pool, path);
}
