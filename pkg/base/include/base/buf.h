/*
 * buf.h - a growable byte buffer, heap-owned.
 *
 * Functions that grow return 0 or -1 on allocation failure (the buffer is unchanged then).
 */
#ifndef BASE_BUF_H
#define BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "base/base.h"

typedef struct base_buf {
    char *base;
    size_t len;
    size_t cap;
} base_buf_t;

#define BASE_BUF_INIT ((base_buf_t){ NULL, 0, 0 })

int base_buf_reserve(base_buf_t *b, size_t extra);
int base_buf_append(base_buf_t *b, const void *data, size_t len);
int base_buf_append_str(base_buf_t *b, const char *s);
int base_buf_printf(base_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int base_buf_vprintf(base_buf_t *b, const char *fmt, va_list ap);
/* Drops the first n bytes, moving the rest to the front. */
void base_buf_consume(base_buf_t *b, size_t n);
void base_buf_free(base_buf_t *b);

static inline base_slice_t base_buf_slice(const base_buf_t *b)
{
    return (base_slice_t){ b->base, b->len };
}

#endif
