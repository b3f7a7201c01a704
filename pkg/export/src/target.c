/*
 * target.c - the exporters' endpoint settings into host, port and request target.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/pool.h"
#include "export_internal.h"


/* Splits "host[:port]" (host may be "[v6]") of length n. */
static int parse_authority(const char *a, size_t n, export_target_t *t, char *err, size_t errlen)
{
    const char *host_end, *colon = NULL;
    if (memchr(a, '@', n)) {
        snprintf(err, errlen, "credentials in the address are not supported");
        return -1;
    }
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close) {
            snprintf(err, errlen, "unterminated IPv6 address");
            return -1;
        }
        host_end = close + 1;
        if (host_end < a + n) {
            if (*host_end != ':') {
                snprintf(err, errlen, "unexpected characters after the IPv6 address");
                return -1;
            }
            colon = host_end;
        }
    } else {
        colon = memchr(a, ':', n);
        host_end = colon ? colon : a + n;
    }
    if (host_end == a || (a[0] == '[' && host_end - a <= 2)) {
        snprintf(err, errlen, "no host");
        return -1;
    }
    int port = 80;
    if (colon) {
        const char *p = colon + 1, *end = a + n;
        if (p == end || end - p > 5) {
            snprintf(err, errlen, "invalid port");
            return -1;
        }
        port = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9') {
                snprintf(err, errlen, "invalid port");
                return -1;
            }
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535) {
            snprintf(err, errlen, "invalid port");
            return -1;
        }
    }
    for (const char *p = a; p < host_end; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '/' || *p == '?' || *p == '#') {
            snprintf(err, errlen, "invalid host");
            return -1;
        }
    t->host = base_strndup(a, (size_t)(host_end - a));
    t->port = port;
    if (!t->host) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The path and query [p, p+n) as the request target; `dflt` when empty. */
static int set_target(export_target_t *t, const char *p, size_t n, const char *dflt, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f) {
            snprintf(err, errlen, "space or control character in the path");
            return -1;
        }
    if (n == 0 || (n == 1 && p[0] == '/' && dflt[1] != '\0')) {
        p = dflt;
        n = strlen(dflt);
    }
    if (p[0] != '/') {
        snprintf(err, errlen, "invalid path");
        return -1;
    }
    if (!(t->target = base_strndup(p, n))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int fill(const char *rest, const char *dflt, export_target_t *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    size_t auth_len = strcspn(rest, "/?#");
    const char *path = rest + auth_len;
    size_t path_len = strcspn(path, "#");
    if (parse_authority(rest, auth_len, t, err, errlen) != 0 ||
        set_target(t, path, path_len, dflt, err, errlen) != 0) {
        export_target_free(t);
        return -1;
    }
    return 0;
}

int export_target_from_url(const char *url, export_target_t *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    if (strncasecmp(url, "https://", 8) == 0) {
        snprintf(err, errlen, "https needs TLS, which is not supported");
        return -1;
    }
    if (strncasecmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "not an http:// URL");
        return -1;
    }
    return fill(url + 7, "/", t, err, errlen);
}

int export_target_from_otlp(const char *endpoint, export_target_t *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    if (strncasecmp(endpoint, "https://", 8) == 0) {
        snprintf(err, errlen, "https needs TLS, which is not supported");
        return -1;
    }
    if (strncasecmp(endpoint, "http://", 7) == 0)
        endpoint += 7;
    return fill(endpoint, "/v1/traces", t, err, errlen);
}

void export_target_free(export_target_t *t)
{
    base_free(t->host);
    base_free(t->target);
    t->host = t->target = NULL;
}
