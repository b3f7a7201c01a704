#include "messaging/method.h"

#include "base/path.h"

static int decode(base_pool_t *pool, base_slice_t in, base_slice_t *out)
{
    char *d = base_pool_alloc(pool, in.len + 1);
    if (!d)
        return -1;
    long n = base_percent_decode(in, d, 0, NULL);
    if (n < 0)
        return -1;
    d[n] = '\0';
    *out = base_slice(d, (size_t)n);
    return 0;
}

int msg_method_normalize(base_pool_t *pool, base_slice_t in, int percent_decode, base_slice_t *out,
                            const char **why)
{
    base_slice_t m = in;
    if (percent_decode && memchr(in.base ? in.base : "", '%', in.len) && decode(pool, in, &m) != 0) {
        *why = "invalid percent-encoding";
        return -1;
    }
    for (size_t i = 0; i < m.len; i++) {
        unsigned char ch = (unsigned char)m.base[i];
        if (ch == '#' || ch == '?' || ch < 0x20 || ch == 0x7f) {
            *why = "method contains a forbidden character ('#', '?', NUL or a control byte)";
            return -1;
        }
    }
    base_slice_t c = base_path_clean(pool, m);
    if (!c.base) {
        *why = "out of memory";
        return -1;
    }
    for (;;) {
        if (base_slice_starts_with(c, "../"))
            c = base_slice(c.base + 3, c.len - 3);
        else if (base_slice_starts_with(c, "/"))
            c = base_slice(c.base + 1, c.len - 1);
        else
            break;
    }
    if (base_slice_eq(c, BASE_SLICE_LIT(".")) || base_slice_eq(c, BASE_SLICE_LIT("..")))
        c = base_slice(c.base, 0);
    *out = c;
    return 0;
}
