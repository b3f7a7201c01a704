#include "base/base.h"

#include <time.h>

base_slice_t base_slice_trim(base_slice_t s)
{
    while (s.len && (s.base[0] == ' ' || s.base[0] == '\t')) {
        s.base++;
        s.len--;
    }
    while (s.len && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t'))
        s.len--;
    return s;
}

int base_slice_has_token(base_slice_t list, const char *tok)
{
    base_slice_t want = base_slice_cstr(tok);
    size_t start = 0;
    for (size_t i = 0; i <= list.len; i++) {
        if (i == list.len || list.base[i] == ',') {
            base_slice_t item = base_slice_trim(base_slice(list.base + start, i - start));
            if (base_slice_ieq(item, want))
                return 1;
            start = i + 1;
        }
    }
    return 0;
}

int base_slice_starts_with(base_slice_t s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.base, prefix, n) == 0;
}

int base_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    /* Compare over the expected secret's length whatever the input length, so the time
     * reveals nothing about the secret's content. */
    const unsigned char *pa = a, *pb = b;
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < blen; i++) {
        unsigned char ca = i < alen ? pa[i] : 0;
        diff |= (unsigned char)(ca ^ pb[i]);
    }
    return diff == 0;
}

uint64_t base_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long base_percent_decode(base_slice_t in, char *out, int plus_is_space, size_t *bad_at)
{
    size_t w = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.base[i];
        if (c == '%') {
            int hi = i + 2 < in.len ? base_hex_val(in.base[i + 1]) : -1;
            int lo = hi >= 0 ? base_hex_val(in.base[i + 2]) : -1;
            if (lo < 0) {
                if (bad_at)
                    *bad_at = i;
                return -1;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        out[w++] = c;
    }
    return (long)w;
}
