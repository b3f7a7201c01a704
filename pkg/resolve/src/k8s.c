/*
 * k8s.c - the kubernetes resolver's target names (components-contrib
 * nameresolution/kubernetes/kubernetes.go): "<id>-dapr.<namespace>.svc.<clusterDomain>:<port>"
 * or the user's template.
 *
 * daprd runs the template through Go's text/template. Remora substitutes the four fields a
 * ResolveRequest has ({{.ID}}, {{.Namespace}}, {{.Port}}, {{.Data.x}}, spaces allowed inside
 * the braces) and refuses any other action at start-up, so a template that would need the
 * full engine fails loudly instead of resolving something else.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/pool.h"
#include "resolve_internal.h"

#define DEFAULT_CLUSTER_DOMAIN "cluster.local"

typedef struct out {
    char *p;
    size_t cap, len;
    int overflow;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len + n >= o->cap) {
        o->overflow = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void put_str(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

static const char *data_get(const config_kv_t *data, size_t n, const char *key, size_t keylen)
{
    for (size_t i = 0; i < n; i++)
        if (data[i].name && strlen(data[i].name) == keylen &&
            memcmp(data[i].name, key, keylen) == 0)
            return data[i].value ? data[i].value : "";
    return "";
}

typedef struct fields {
    const char *id, *ns;
    int port;
    const config_kv_t *data;
    size_t data_count;
} fields_t;

/* Writes one action's value; -1 when the action is not one of ours. */
static int action(out_t *o, const char *a, size_t len, const fields_t *f)
{
    char num[16];
    while (len > 0 && isspace((unsigned char)*a))
        a++, len--;
    while (len > 0 && isspace((unsigned char)a[len - 1]))
        len--;
    if (len == 3 && memcmp(a, ".ID", 3) == 0) {
        put_str(o, f->id);
    } else if (len == 10 && memcmp(a, ".Namespace", 10) == 0) {
        put_str(o, f->ns);
    } else if (len == 5 && memcmp(a, ".Port", 5) == 0) {
        snprintf(num, sizeof(num), "%d", f->port);
        put_str(o, num);
    } else if (len > 6 && memcmp(a, ".Data.", 6) == 0) {
        for (size_t i = 6; i < len; i++)
            if (!isalnum((unsigned char)a[i]) && a[i] != '_')
                return -1;
        put_str(o, data_get(f->data, f->data_count, a + 6, len - 6));
    } else {
        return -1;
    }
    return 0;
}

/* Expands tmpl. Returns 0, -1 when out is too small, or -2 with *bad pointing at an
 * unsupported or unterminated action. */
static int expand(const char *tmpl, const fields_t *f, out_t *o, const char **bad)
{
    const char *s = tmpl;
    o->len = 0;
    o->overflow = 0;
    if (o->cap)
        o->p[0] = '\0';
    while (*s) {
        const char *open = strstr(s, "{{");
        if (!open) {
            put_str(o, s);
            break;
        }
        put(o, s, (size_t)(open - s));
        const char *close = strstr(open + 2, "}}");
        if (!close || action(o, open + 2, (size_t)(close - open - 2), f) != 0) {
            *bad = open;
            return -2;
        }
        s = close + 2;
    }
    return o->overflow ? -1 : 0;
}

int nr_k8s_configure(resolve_t *r, const config_t *cfg, char *err, size_t errlen)
{
    const char *domain = nr_conf(cfg, "clusterDomain", NULL);
    const char *tmpl = nr_conf(cfg, "template", NULL);
    r->cluster_domain = nr_strdup(domain ? domain : DEFAULT_CLUSTER_DOMAIN);
    if (!r->cluster_domain) {
        nr_errf(err, errlen, "out of memory");
        return -1;
    }
    if (!tmpl)
        return 0;
    /* dry run: every action must be one we substitute */
    char buf[8];
    out_t o = { buf, sizeof(buf), 0, 0 };
    const char *bad = NULL;
    fields_t f = { "", "", 0, NULL, 0 };
    if (expand(tmpl, &f, &o, &bad) == -2) {
        const char *end = strstr(bad + 2, "}}");
        int n = end ? (int)(end + 2 - bad) : (int)strlen(bad);
        nr_errf(err, errlen,
                "nameResolution kubernetes: template action %.*s is not supported by Remora "
                "(supported: {{.ID}}, {{.Namespace}}, {{.Port}}, {{.Data.<key>}})",
                n > 80 ? 80 : n, bad);
        return -1;
    }
    r->tmpl = nr_strdup(tmpl);
    if (!r->tmpl) {
        nr_errf(err, errlen, "out of memory");
        return -1;
    }
    LOG_DEBUG(NR_LOG_SCOPE, "using custom template %s", tmpl);
    return 0;
}

int resolve_kubernetes_target(const resolve_t *r, const char *app_id, const char *namespace_,
                              const config_kv_t *data, size_t data_count, char *out,
                              size_t outlen)
{
    if (!r || r->kind != NR_KUBERNETES || !out || outlen == 0)
        return -1;
    fields_t f = { app_id ? app_id : "",
                   namespace_ && *namespace_ ? namespace_ : r->namespace_, r->port, data,
                   data_count };
    out_t o = { out, outlen, 0, 0 };
    if (r->tmpl) {
        const char *bad;
        if (expand(r->tmpl, &f, &o, &bad) != 0)
            return -1;
        return (int)o.len;
    }
    int n = snprintf(out, outlen, "%s-dapr.%s.svc.%s:%d", f.id, f.ns, r->cluster_domain, f.port);
    return n < 0 || (size_t)n >= outlen ? -1 : n;
}

static int copy_n(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int nr_k8s_split(const resolve_t *r, const char *target, char *host, size_t hostcap,
                 char *port, size_t portcap)
{
    const char *hs = target, *he, *colon = NULL;
    if (*target == '[') {
        /* "[v6]" or "[v6]:port" */
        const char *rb = strchr(target, ']');
        if (!rb)
            return -1;
        hs = target + 1;
        he = rb;
        if (rb[1] == ':')
            colon = rb + 1;
    } else {
        colon = strrchr(target, ':');
        if (colon && strchr(target, ':') != colon)
            colon = NULL; /* a bare IPv6 literal: no port in it */
        he = colon ? colon : target + strlen(target);
    }
    if (copy_n(host, hostcap, hs, (size_t)(he - hs)) != 0)
        return -1;
    if (colon && colon[1]) /* daprd: what follows the last ':' is the port */
        return copy_n(port, portcap, colon + 1, strlen(colon + 1));
    /* daprd would dial "<ip>:" here; Remora uses the internal port every sidecar serves */
    int n = snprintf(port, portcap, "%d", r->port);
    return n < 0 || (size_t)n >= portcap ? -1 : 0;
}
