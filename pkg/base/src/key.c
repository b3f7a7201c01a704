/*
 * key.c - packed byte-string sequences as hash-table keys (see key.h).
 */
#include "base/key.h"

#include <string.h>

uint64_t base_key_hash(uint64_t h, const base_slice_t *pieces, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[i].base;
        size_t len = pieces[i].len;
        h = base_hash_mix(h, len);
        for (; len >= 8; p += 8, len -= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            h = base_hash_mix(h, v);
        }
        if (len) {
            /* byte by byte: a memcpy() of a variable length is a library call */
            uint64_t v = 0;
            for (size_t b = 0; b < len; b++)
                v |= (uint64_t)(unsigned char)p[b] << (8 * b);
            h = base_hash_mix(h, v);
        }
    }
    /* the finaliser of MurmurHash3: every input bit reaches every output bit */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

size_t base_key_size(const base_slice_t *pieces, size_t n)
{
    size_t size = 0;
    for (size_t i = 0; i < n; i++) {
        if (pieces[i].len > BASE_KEY_PIECE_MAX)
            return SIZE_MAX;
        size += 2 + pieces[i].len;
    }
    return size;
}

void base_key_pack(char *dst, const base_slice_t *pieces, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t len = (uint16_t)pieces[i].len;
        memcpy(dst, &len, 2);
        if (len)
            memcpy(dst + 2, pieces[i].base, len);
        dst += 2 + len;
    }
}

/*
 * n bytes at a and b equal. Keys and labels are short, and a memcmp() call costs more than the
 * compare itself at these sizes: words are compared in place, the last one overlapping the one
 * before it, so no byte outside either range is read.
 */
static int bytes_equal(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y)
                return 0;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t u, v, w, z;
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        memcpy(&w, a + n - 4, 4);
        memcpy(&z, b + n - 4, 4);
        return u == v && w == z;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

int base_key_equal(const char *key, size_t key_len, const base_slice_t *pieces, size_t n)
{
    const char *p = key, *end = key + key_len;
    for (size_t i = 0; i < n; i++) {
        uint16_t len;
        if (end - p < 2)
            return 0;
        memcpy(&len, p, 2);
        p += 2;
        if (len != pieces[i].len || (size_t)(end - p) < len || !bytes_equal(p, pieces[i].base, len))
            return 0;
        p += len;
    }
    return p == end;
}
