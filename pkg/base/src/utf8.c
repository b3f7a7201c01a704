/*
 * utf8.c - Go's UTF-8 rules, and the repair that span encoders run on every text piece of
 * every span: that makes base_utf8_repair() a hot path, so plain ASCII (nearly all of it) is
 * checked and copied in whole words, and the byte-by-byte repair stays out of line.
 */
#include "base/utf8.h"

#include <stdint.h>
#include <string.h>

size_t base_utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80; /* below: overlong */
        hi = c == 0xed ? 0x9f : 0xbf; /* above: surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80; /* below: overlong */
        hi = c == 0xf4 ? 0x8f : 0xbf; /* above: past U+10FFFF */
    } else {
        return 0; /* a continuation byte, an overlong lead (c0, c1) or f5..ff */
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* A word with no byte that is 0 or 0x80 and above. Without a high byte, w - ONES borrows into
 * a byte's top bit only at a zero byte, so the test never misses one. */
static inline int plain64(uint64_t w)
{
    return (((w - 0x0101010101010101ull) | w) & 0x8080808080808080ull) == 0;
}

static inline int plain32(uint32_t w)
{
    return (((w - 0x01010101u) | w) & 0x80808080u) == 0;
}

/* Copies n bytes to o when none is 0 or 0x80 and above, in whole words (the last one
 * overlapping the one before); returns 0, with the copy unfinished, otherwise. */
static inline int copy_plain(char *o, const unsigned char *p, size_t n)
{
    if (n >= 8) {
        uint64_t w;
        for (size_t i = 0; n - i >= 8; i += 8) {
            memcpy(&w, p + i, 8);
            if (!plain64(w))
                return 0;
            memcpy(o + i, &w, 8);
        }
        memcpy(&w, p + n - 8, 8);
        if (!plain64(w))
            return 0;
        memcpy(o + n - 8, &w, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        if (!plain32(a) || !plain32(b))
            return 0;
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (p[i] == 0 || p[i] >= 0x80)
                return 0;
            o[i] = (char)p[i];
        }
    }
    return 1;
}

/* The text around a NUL or a non-ASCII byte: plain words are still copied whole, the rest
 * byte by byte. Out of line so that the fast path stays small. */
__attribute__((noinline)) static size_t repair_slow(char *out, const unsigned char *p, size_t n)
{
    char *o = out;
    size_t i = 0;
    while (i < n) {
        uint64_t w;
        if (n - i >= 8 && (memcpy(&w, p + i, 8), plain64(w))) {
            memcpy(o, &w, 8);
            o += 8;
            i += 8;
            continue;
        }
        unsigned char c = p[i];
        size_t len = c == 0 ? 0 : base_utf8_seq_len(p + i, n - i);
        if (len) {
            memcpy(o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(o, BASE_UTF8_REPLACEMENT, 3);
            o += 3;
            i++;
        }
    }
    return (size_t)(o - out);
}

size_t base_utf8_repair(char *out, const char *in, size_t n)
{
    const unsigned char *p = (const unsigned char *)in;
    return copy_plain(out, p, n) ? n : repair_slow(out, p, n);
}
