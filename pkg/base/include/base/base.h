/*
 * base.h - small shared vocabulary: slices, macros.
 *
 * A slice is a borrowed view {base, len}; it owns nothing. Whoever hands out a slice says how
 * long the bytes stay valid (usually: until the request's pool is destroyed, or until the
 * callback that received it returns).
 */
#ifndef BASE_BASE_H
#define BASE_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct base_slice {
    const char *base;
    size_t len;
} base_slice_t;

#define BASE_SLICE_LIT(s) ((base_slice_t){ (s), sizeof(s) - 1 })
#define BASE_SLICE_NULL ((base_slice_t){ NULL, 0 })
#define BASE_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BASE_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define BASE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define BASE_MAX(a, b) ((a) > (b) ? (a) : (b))
#define BASE_UNUSED(x) ((void)(x))
#define BASE_LIKELY(x) __builtin_expect(!!(x), 1)
#define BASE_UNLIKELY(x) __builtin_expect(!!(x), 0)

static inline base_slice_t base_slice(const char *s, size_t len)
{
    return (base_slice_t){ s, len };
}

static inline base_slice_t base_slice_cstr(const char *s)
{
    return (base_slice_t){ s, s ? strlen(s) : 0 };
}

static inline int base_slice_eq(base_slice_t a, base_slice_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

static inline unsigned char base_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* ASCII case-insensitive comparison, as HTTP field names need (RFC 9110 §5.1). Inline so
 * that a string literal's length folds at compile time and most mismatches cost one compare
 * of lengths: header lookups run many times per request. */
static inline int base_slice_ieq(base_slice_t a, base_slice_t b)
{
    if (a.len != b.len)
        return 0;
    for (size_t i = 0; i < a.len; i++)
        if (base_lower((unsigned char)a.base[i]) != base_lower((unsigned char)b.base[i]))
            return 0;
    return 1;
}

static inline int base_slice_ieq_cstr(base_slice_t a, const char *s)
{
    return base_slice_ieq(a, base_slice_cstr(s));
}
/* Concatenates parts into buf (at most cap bytes, no NUL) and returns the result: building a
 * short string from slices without printf. */
static inline base_slice_t base_slice_join(char *buf, size_t cap, const base_slice_t *parts, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n && len < cap; i++) {
        size_t k = BASE_MIN(parts[i].len, cap - len);
        if (k)
            memcpy(buf + len, parts[i].base, k);
        len += k;
    }
    return (base_slice_t){ buf, len };
}

/* The value of a hex digit (either case), or -1. */
static inline int base_hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decoding (RFC 3986 §2.1) into out (room for in.len bytes; no NUL added): every %XX
 * decoded, and '+' turned into a space when plus_is_space (form/query encoding, Go's
 * url.QueryUnescape; without it, Go's url.PathUnescape). Returns the decoded length, or -1 at
 * the first '%' not followed by two hex digits, whose index goes to *bad_at when not NULL. */
long base_percent_decode(base_slice_t in, char *out, int plus_is_space, size_t *bad_at);

/* Case-insensitive search of token `tok` in a comma-separated list (e.g. Connection: a, close). */
int base_slice_has_token(base_slice_t list, const char *tok);
/* Leading and trailing SP/HTAB removed. */
base_slice_t base_slice_trim(base_slice_t s);
/* Prefix test, case-sensitive. */
int base_slice_starts_with(base_slice_t s, const char *prefix);

/* Constant-time equality: the time taken depends only on the lengths, never on where the
 * first differing byte is (for secrets such as the API token). */
int base_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Monotonic clock in nanoseconds / milliseconds. Thread-safe. */
uint64_t base_now_ns(void);

#endif
