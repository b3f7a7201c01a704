/* options.c - parsing of nameResolution.configuration values, as dapr/kit's metadata decoder
 * reads them (mapstructure with Dapr's duration and truthy-bool hooks). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/pool.h"
#include "resolve_internal.h"

const char *nr_conf(const config_t *cfg, const char *name, const char *alias)
{
    const config_kv_t *kv = cfg->spec.nr_configuration;
    for (size_t i = 0; i < cfg->spec.nr_configuration_count; i++) {
        if (!kv[i].name || !kv[i].value || kv[i].value[0] == '\0')
            continue;
        if (strcasecmp(kv[i].name, name) == 0 || (alias && strcasecmp(kv[i].name, alias) == 0))
            return kv[i].value;
    }
    return NULL;
}

void nr_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* One Go duration unit at s; its length in *len and its size in ns. */
static int unit_ns(const char *s, size_t *len, uint64_t *ns)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        { "ns", 1ull },           { "us", 1000ull },          { "\xc2\xb5s", 1000ull },
        { "\xce\xbcs", 1000ull }, { "ms", 1000000ull },       { "s", 1000000000ull },
        { "m", 60000000000ull },  { "h", 3600000000000ull },
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t l = strlen(units[i].name);
        if (strncmp(s, units[i].name, l) == 0) {
            /* "m" must not swallow the "m" of "ms" */
            if (l == 1 && s[0] == 'm' && s[1] == 's')
                continue;
            *len = l;
            *ns = units[i].ns;
            return 0;
        }
    }
    return -1;
}

/* Go's time.ParseDuration, on unsigned nanoseconds with overflow checks. */
static int parse_go_duration(const char *s, uint64_t *out)
{
    uint64_t total = 0;
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s == '\0')
        return -1;
    while (*s) {
        uint64_t v = 0, frac = 0, scale = 1;
        int digits = 0;
        for (; isdigit((unsigned char)*s); s++, digits++) {
            if (v > (UINT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*s - '0');
        }
        if (*s == '.') {
            for (s++; isdigit((unsigned char)*s); s++, digits++) {
                if (scale <= UINT64_MAX / 100) { /* extra digits past 1e18 are dropped */
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
            }
        }
        if (digits == 0)
            return -1;
        size_t ulen;
        uint64_t unit;
        if (unit_ns(s, &ulen, &unit) != 0)
            return -1;
        s += ulen;
        if (v > INT64_MAX / unit)
            return -1;
        uint64_t part = v * unit + (uint64_t)((long double)frac * (long double)unit / (long double)scale);
        if (part > (uint64_t)INT64_MAX - total)
            return -1;
        total += part;
    }
    *out = total;
    return 0;
}

int nr_parse_duration(const char *s, int64_t *ns)
{
    int neg = 0;
    if (!s)
        return -1;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    /* dapr/kit: a value that is not a Go duration is read as an integer of seconds */
    const char *p = s;
    while (isdigit((unsigned char)*p))
        p++;
    uint64_t v;
    if (p != s && *p == '\0') {
        v = 0;
        for (p = s; *p; p++) {
            if (v > (uint64_t)INT64_MAX / 10 / 1000000000ull)
                return -1;
            v = v * 10 + (uint64_t)(*p - '0');
        }
        v *= 1000000000ull;
    } else if (parse_go_duration(s, &v) != 0) {
        return -1;
    }
    *ns = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int nr_truthy(const char *s)
{
    static const char *const yes[] = { "y", "yes", "true", "t", "on", "1" };
    if (!s)
        return 0;
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strlen(yes[i]) == len && strncasecmp(s, yes[i], len) == 0)
            return 1;
    return 0;
}

int nr_valid_identifier(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

int nr_join_host_port(char *out, size_t cap, const char *host, int port)
{
    int n = strchr(host, ':') ? snprintf(out, cap, "[%s]:%d", host, port)
                              : snprintf(out, cap, "%s:%d", host, port);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

char *nr_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = base_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void nr_addrs_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        base_free(v[i]);
    base_free(v);
}
