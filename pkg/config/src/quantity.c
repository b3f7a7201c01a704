/*
 * quantity.c - Kubernetes resource quantities ("4Mi", "1.5k", "4e6") and Go durations.
 *
 * Quantities follow k8s.io/apimachinery/pkg/api/resource ParseQuantity, which daprd uses for
 * --max-body-size and --read-buffer-size: [+-] digits [. digits] then one suffix out of the
 * binary set (Ki Mi Gi Ti Pi Ei, powers of 1024), the decimal SI set (n u m "" k M G T P E,
 * powers of 1000) or a decimal exponent ([eE][+-]digits). The value is made a whole number of
 * bytes by rounding up, as Quantity.Value() does ("0.5" → 1, "1.5Mi" → 1572864).
 */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "config_internal.h"

typedef unsigned __int128 u128;

#define MANTISSA_DIGITS 19 /* 10^19 - 1 fits in uint64_t */
#define EXPONENT_CAP 100000

/* The number part: up to 19 significant digits in *mant, their decimal exponent in *e10, and
 * *sticky set when non-zero digits beyond those were dropped (the value is then a bit larger). */
static const char *parse_number(const char *p, uint64_t *mant, int *e10, int *sticky, int *digits)
{
    int sig = 0;
    *mant = 0;
    *e10 = 0;
    *sticky = 0;
    *digits = 0;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        (*digits)++;
        if (*mant == 0 && d == 0)
            continue;
        if (sig < MANTISSA_DIGITS) {
            *mant = *mant * 10 + d;
            sig++;
        } else {
            (*e10)++;
            *sticky |= d != 0;
        }
    }
    if (*p != '.')
        return p;
    for (p++; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        (*digits)++;
        if (*mant == 0 && d == 0) {
            (*e10)--;
        } else if (sig < MANTISSA_DIGITS) {
            *mant = *mant * 10 + d;
            sig++;
            (*e10)--;
        } else {
            *sticky |= d != 0;
        }
    }
    return p;
}

/* The suffix: a power of 1024 in *bin, or a power of 10 in *e10. The whole rest must match. */
static int parse_suffix(const char *p, int *bin, int *e10)
{
    static const char binary[] = "KMGTPE";
    static const struct { char c; int e; } decimal[] = {
        { 'n', -9 }, { 'u', -6 }, { 'm', -3 }, { 'k', 3 },
        { 'M', 6 }, { 'G', 9 }, { 'T', 12 }, { 'P', 15 }, { 'E', 18 },
    };
    *bin = 0;
    *e10 = 0;
    if (*p == '\0')
        return 0;
    if (p[1] == 'i' && p[2] == '\0' && p[0] != '\0' && strchr(binary, p[0])) {
        *bin = (int)(strchr(binary, p[0]) - binary) + 1;
        return 0;
    }
    if (p[1] == '\0') {
        for (size_t i = 0; i < sizeof(decimal) / sizeof(decimal[0]); i++) {
            if (decimal[i].c == p[0]) {
                *e10 = decimal[i].e;
                return 0;
            }
        }
        return -1;
    }
    if (*p != 'e' && *p != 'E')
        return -1;
    p++;
    int neg = 0;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (!isdigit((unsigned char)*p))
        return -1;
    int e = 0;
    for (; isdigit((unsigned char)*p); p++)
        if (e < EXPONENT_CAP)
            e = e * 10 + (*p - '0');
    if (*p != '\0')
        return -1;
    *e10 = neg ? -e : e;
    return 0;
}

/* mant × 1024^bin × 10^e10 rounded up to an integer; -1 when above INT64_MAX. */
static int scale(uint64_t mant, int bin, int e10, int sticky, uint64_t *out)
{
    const u128 limit = INT64_MAX;
    u128 v = (u128)mant << (10 * bin); /* < 2^64 × 2^60 */
    if (e10 >= 0) {
        for (int i = 0; i < e10; i++) {
            v *= 10;
            if (v > limit)
                return -1;
        }
        v += (u128)sticky; /* dropped digits are below the last kept one, hence below 1 */
    } else if (-e10 > 38) {
        v = 1; /* a positive amount far below one byte rounds up to one */
    } else {
        u128 d = 1;
        for (int i = 0; i < -e10; i++)
            d *= 10;
        u128 q = v / d;
        if (v % d != 0 || sticky)
            q++;
        v = q;
    }
    if (v > limit)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int config_parse_quantity(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    const char *p = s;
    int neg = 0;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    uint64_t mant;
    int e10, sticky, digits, bin, se10;
    p = parse_number(p, &mant, &e10, &sticky, &digits);
    if (digits == 0 || parse_suffix(p, &bin, &se10) != 0)
        return -1;
    if (mant == 0) {
        *out = 0;
        return 0;
    }
    uint64_t v;
    if (scale(mant, bin, e10 + se10, sticky, &v) != 0)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* ---- durations ---- */

static const struct {
    const char *unit;
    uint64_t ns;
} duration_units[] = {
    { "ns", 1ULL }, { "us", 1000ULL }, { "\xc2\xb5s", 1000ULL } /* µ U+00B5 */,
    { "\xce\xbcs", 1000ULL } /* μ U+03BC */, { "ms", 1000000ULL }, { "s", 1000000000ULL },
    { "m", 60000000000ULL }, { "h", 3600000000000ULL },
};

static int unit_ns(const char **pp, uint64_t *ns)
{
    const char *p = *pp;
    size_t n = 0;
    while (p[n] && !isdigit((unsigned char)p[n]) && p[n] != '.')
        n++;
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
        if (strlen(duration_units[i].unit) == n && memcmp(p, duration_units[i].unit, n) == 0) {
            *ns = duration_units[i].ns;
            *pp = p + n;
            return 0;
        }
    }
    return -1;
}

/* Go's time.ParseDuration without the sign, into nanoseconds. */
static int parse_go_duration(const char *p, u128 *total)
{
    const u128 limit = (u128)INT64_MAX;
    *total = 0;
    if (strcmp(p, "0") == 0)
        return 0;
    if (*p == '\0')
        return -1;
    while (*p) {
        u128 whole = 0, frac = 0, frac_scale = 1;
        int digits = 0;
        for (; isdigit((unsigned char)*p); p++, digits++) {
            whole = whole * 10 + (unsigned)(*p - '0');
            if (whole > limit)
                return -1;
        }
        if (*p == '.') {
            for (p++; isdigit((unsigned char)*p); p++, digits++) {
                if (frac_scale < (u128)1000000000000000000ULL) {
                    frac = frac * 10 + (unsigned)(*p - '0');
                    frac_scale *= 10;
                }
            }
        }
        uint64_t ns;
        if (digits == 0 || unit_ns(&p, &ns) != 0)
            return -1;
        u128 part = whole * ns + (frac * ns + frac_scale - 1) / frac_scale;
        *total += part;
        if (whole > limit / ns || *total > limit)
            return -1;
    }
    return 0;
}

int cfg_parse_duration_ms(const char *s, int *out_ms)
{
    if (!s || !*s)
        return -1;
    const char *p = s;
    if (*p == '+')
        p++;
    size_t n = strlen(p);
    u128 ns = 0;
    if (n > 0 && strspn(p, "0123456789") == n) {
        /* A plain integer is a number of seconds (Remora extension, like the daprd flags
         * that take seconds). */
        if (n > 9)
            return -1;
        for (; *p; p++)
            ns = ns * 10 + (unsigned)(*p - '0');
        ns *= 1000000000ULL;
    } else if (parse_go_duration(p, &ns) != 0) {
        return -1;
    }
    u128 ms = (ns + 999999) / 1000000;
    if (ms > INT_MAX)
        return -1;
    *out_ms = (int)ms;
    return 0;
}
