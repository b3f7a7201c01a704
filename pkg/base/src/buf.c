#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/pool.h"

int base_buf_reserve(base_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -1;
    /* Doubling while small; past 64 KiB, half again or exactly what is needed (rounded to a
     * page), whichever is more: a body of 64 KiB plus a few bytes of framing must not cost a
     * 128 KiB buffer per request in flight. */
    size_t need = b->len + extra, cap = b->cap ? b->cap : 256;
    if (cap < 64 * 1024) {
        while (cap < need && cap < 64 * 1024)
            cap *= 2;
    } else {
        cap += cap / 2;
    }
    if (cap < need)
        cap = (need + 4095) & ~(size_t)4095;
    char *nb = b->base ? base_realloc(b->base, cap) : base_malloc(cap);
    if (!nb && b->base) {
        nb = base_malloc(cap); /* an injected allocator has no realloc */
        if (nb && b->len)
            memcpy(nb, b->base, b->len);
        if (nb)
            base_free(b->base);
    }
    if (!nb)
        return -1;
    b->base = nb;
    b->cap = cap;
    return 0;
}

int base_buf_append(base_buf_t *b, const void *data, size_t len)
{
    if (base_buf_reserve(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->base + b->len, data, len);
    b->len += len;
    return 0;
}

int base_buf_append_str(base_buf_t *b, const char *s)
{
    return base_buf_append(b, s, strlen(s));
}

int base_buf_vprintf(base_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || base_buf_reserve(b, (size_t)n + 1) != 0)
        return -1;
    vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int base_buf_printf(base_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = base_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void base_buf_consume(base_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
}

void base_buf_free(base_buf_t *b)
{
    base_free(b->base);
    *b = BASE_BUF_INIT;
}
