/*
 * yaml.c - Dapr Configuration and Component documents (libyaml document API) into config_t.
 *
 * daprd reads these files with sigs.k8s.io/yaml: YAML → JSON → encoding/json into Go structs
 * (pkg/config/configuration.go, components-contrib metadata). What that implies, and what we
 * keep: unknown keys are ignored; key names match case-insensitively and the last duplicate
 * wins; a null value leaves the field as it was; a value of the wrong shape (a mapping where a
 * list is expected, "maybe" for a boolean) is an error, reported here as file:line:column.
 * Booleans are YAML 1.1 words (true/yes/on...). Where Dapr's Go type is a string but users
 * write a number (samplingRate: 1), any scalar is accepted.
 *
 * Aliases are shared nodes in a libyaml document, so walking a document can visit a node many
 * times; a visit budget bounds the work and the memory a hostile file can cause.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "base/log.h"
#include "base/pool.h"
#include "config_internal.h"

#define VISIT_BUDGET 200000
#define FLATTEN_DEPTH 8

typedef struct walk {
    yaml_document_t *doc;
    const char *file;
    char *err;
    size_t errlen;
    size_t budget;
    int failed;
} walk_t;

/* ---- errors ---- */

static int fail_at(walk_t *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(walk_t *w, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        cfg_errf(w->err, w->errlen, "%s:%zu:%zu: %s", w->file, n->start_mark.line + 1,
                 n->start_mark.column + 1, msg);
    else
        cfg_errf(w->err, w->errlen, "%s: %s", w->file, msg);
    w->failed = 1;
    return -1;
}

static int fail_oom(walk_t *w)
{
    return fail_at(w, NULL, "out of memory");
}

/* A key path for messages ("spec.tracing.otel.isSecure"); long ones are cut. */
static void pathf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void pathf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

/* ---- node access ---- */

static yaml_node_t *child(walk_t *w, int index)
{
    if (w->budget == 0)
        return NULL;
    w->budget--;
    return yaml_document_get_node(w->doc, index);
}

static int budget_check(walk_t *w, const yaml_node_t *at)
{
    if (w->budget == 0 && !w->failed)
        return fail_at(w, at, "document too large (too many nodes or aliases)");
    return w->failed ? -1 : 0;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int is_null(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return 0;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = scalar(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a scalar";
    }
}

/* The value of `key` in mapping `map` (last one wins), or NULL. */
static yaml_node_t *get(walk_t *w, const yaml_node_t *map, const char *key)
{
    yaml_node_t *found = NULL;
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = child(w, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcasecmp(scalar(k), key) == 0)
            found = child(w, p->value);
    }
    return found;
}

/* 1 when n is a mapping, 0 when absent or null, -1 (error set) otherwise. */
static int want(walk_t *w, const yaml_node_t *n, yaml_node_type_t type, const char *path)
{
    if (budget_check(w, n) != 0)
        return -1;
    if (!n || is_null(n))
        return 0;
    if (n->type == type)
        return 1;
    return fail_at(w, n, "%s: expected %s, got %s", path,
                   type == YAML_MAPPING_NODE ? "a mapping" : type == YAML_SEQUENCE_NODE ? "a list"
                                                                                      : "a scalar",
                   type_name(n));
}

static int want_map(walk_t *w, const yaml_node_t *n, const char *path)
{
    return want(w, n, YAML_MAPPING_NODE, path);
}

static int want_seq(walk_t *w, const yaml_node_t *n, const char *path)
{
    return want(w, n, YAML_SEQUENCE_NODE, path);
}

/* The i-th item of a sequence, or NULL past the end / when out of budget. */
static yaml_node_t *item(walk_t *w, const yaml_node_t *seq, size_t i)
{
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    return i < n ? child(w, seq->data.sequence.items.start[i]) : NULL;
}

static size_t seq_len(const yaml_node_t *seq)
{
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

/* A string field: absent or null leaves *dst alone; any scalar replaces it. */
static int str_at(walk_t *w, const yaml_node_t *n, const char *path, char **dst)
{
    int rc = want(w, n, YAML_SCALAR_NODE, path);
    if (rc <= 0)
        return rc;
    char *copy = cfg_strndup(scalar(n), n->data.scalar.length);
    if (!copy)
        return fail_oom(w);
    base_free(*dst);
    *dst = copy;
    return 0;
}

static int get_str(walk_t *w, const yaml_node_t *map, const char *key, const char *path, char **dst)
{
    return str_at(w, get(w, map, key), path, dst);
}

/* YAML 1.1 booleans, as go-yaml v2 (under sigs.k8s.io/yaml) reads them. */
static int bool_word(const char *s, int *out)
{
    static const char *const yes[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE",
                                       "on", "On", "ON" };
    static const char *const no[] = { "n", "N", "no", "No", "NO", "false", "False", "FALSE",
                                      "off", "Off", "OFF" };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcmp(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcmp(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int get_bool(walk_t *w, const yaml_node_t *map, const char *key, const char *path, int *dst)
{
    yaml_node_t *n = get(w, map, key);
    int rc = want(w, n, YAML_SCALAR_NODE, path);
    if (rc <= 0)
        return rc;
    if (bool_word(scalar(n), dst) != 0)
        return fail_at(w, n, "%s: expected a boolean, got \"%s\"", path, scalar(n));
    return 0;
}

/* A list of strings: replaces *list when present. */
static int get_str_list(walk_t *w, const yaml_node_t *map, const char *key, const char *path,
                        char ***list, size_t *count)
{
    yaml_node_t *seq = get(w, map, key);
    int rc = want_seq(w, seq, path);
    if (rc <= 0)
        return rc;
    char **out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < seq_len(seq); i++) {
        yaml_node_t *it = item(w, seq, i);
        char ip[160];
        pathf(ip, sizeof(ip), "%s[%zu]", path, i);
        char **slot = NULL;
        if (want(w, it, YAML_SCALAR_NODE, ip) < 0 || !it)
            goto fail;
        if (!(slot = cfg_push(&out, &n, sizeof(*out))) ||
            !(*slot = cfg_strndup(scalar(it), it->data.scalar.length))) {
            fail_oom(w);
            goto fail;
        }
    }
    cfg_free_strv(*list, *count);
    *list = out;
    *count = n;
    return 0;
fail:
    budget_check(w, seq);
    cfg_free_strv(out, n);
    return -1;
}

/* ---- Configuration: spec.httpPipeline / spec.appHttpPipeline ---- */

static void pipeline_free(config_pipeline_t *p)
{
    for (size_t i = 0; i < p->count; i++) {
        base_free(p->handlers[i].name);
        base_free(p->handlers[i].type);
        base_free(p->handlers[i].version);
    }
    base_free(p->handlers);
    p->handlers = NULL;
    p->count = 0;
}

static int parse_handler(walk_t *w, const yaml_node_t *h, const char *path, config_pipeline_t *p)
{
    if (want_map(w, h, path) <= 0)
        return w->failed ? -1 : fail_at(w, h, "%s: expected a mapping", path);
    config_handler_t *slot = cfg_push(&p->handlers, &p->count, sizeof(*slot));
    if (!slot)
        return fail_oom(w);
    char kp[192];
    pathf(kp, sizeof(kp), "%s.name", path);
    if (get_str(w, h, "name", kp, &slot->name) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.type", path);
    if (get_str(w, h, "type", kp, &slot->type) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.version", path);
    if (get_str(w, h, "version", kp, &slot->version) != 0)
        return -1;
    if (!slot->name || !*slot->name || !slot->type || !*slot->type)
        return fail_at(w, h, "%s: a handler needs a name and a type", path);
    if ((!slot->version || !*slot->version) && cfg_set_str(&slot->version, "v1") != 0)
        return fail_oom(w);
    return 0;
}

static int parse_pipeline(walk_t *w, const yaml_node_t *spec, const char *key,
                          config_pipeline_t *out)
{
    char path[96];
    pathf(path, sizeof(path), "spec.%s", key);
    yaml_node_t *pn = get(w, spec, key);
    int rc = want_map(w, pn, path);
    if (rc <= 0)
        return rc;
    pathf(path, sizeof(path), "spec.%s.handlers", key);
    yaml_node_t *seq = get(w, pn, "handlers");
    if ((rc = want_seq(w, seq, path)) < 0)
        return -1;
    config_pipeline_t p = { NULL, 0 };
    for (size_t i = 0; rc > 0 && i < seq_len(seq); i++) {
        char ip[128];
        pathf(ip, sizeof(ip), "%s[%zu]", path, i);
        yaml_node_t *h = item(w, seq, i);
        if (budget_check(w, seq) != 0 || parse_handler(w, h, ip, &p) != 0) {
            pipeline_free(&p);
            return -1;
        }
    }
    pipeline_free(out);
    *out = p;
    return 0;
}

/* ---- spec.tracing ---- */

/* diag.GetTraceSamplingRate: strconv.ParseFloat, 1e-4 when that fails. */
static double sampling_rate(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || isnan(v) || isinf(v) || v < 0)
        return 1e-4;
    return v > 1 ? 1 : v;
}

static void kv_free(config_kv_t *kv, size_t n);

/* One header of spec.tracing.otel.headers: Dapr's CRD form {name, value} (value: any
 * scalar, missing or null → ""). */
static int otel_header_item(walk_t *w, const yaml_node_t *it, const char *path, config_kv_t **kv, size_t *n)
{
    if (want_map(w, it, path) <= 0)
        return w->failed ? -1 : fail_at(w, it, "%s: expected a mapping with name and value", path);
    config_kv_t *slot = cfg_push(kv, n, sizeof(*slot));
    if (!slot)
        return fail_oom(w);
    char kp[160];
    pathf(kp, sizeof(kp), "%s.name", path);
    if (get_str(w, it, "name", kp, &slot->name) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.value", path);
    if (get_str(w, it, "value", kp, &slot->value) != 0)
        return -1;
    if (!slot->name || !*slot->name)
        return fail_at(w, it, "%s: a header needs a name", path);
    if (!slot->value && !(slot->value = cfg_strdup("")))
        return fail_oom(w);
    return 0;
}

/* spec.tracing.otel.headers: a list of {name, value} as in daprd's Configuration CRD, or (a
 * Remora extension) a mapping of name: value. Replaces the list of an earlier file. The names
 * and values are checked once every source is merged (config.c). */
static int parse_otel_headers(walk_t *w, const yaml_node_t *o, config_spec_t *out)
{
    static const char path[] = "spec.tracing.otel.headers";
    yaml_node_t *h = get(w, o, "headers");
    if (budget_check(w, h) != 0)
        return -1;
    if (!h || is_null(h))
        return 0;
    config_kv_t *kv = NULL;
    size_t n = 0;
    if (h->type == YAML_SEQUENCE_NODE) {
        for (size_t i = 0; i < seq_len(h); i++) {
            char ip[96];
            pathf(ip, sizeof(ip), "%s[%zu]", path, i);
            yaml_node_t *it = item(w, h, i);
            if (budget_check(w, h) != 0 || otel_header_item(w, it, ip, &kv, &n) != 0)
                goto fail;
        }
    } else if (h->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = h->data.mapping.pairs.start; p < h->data.mapping.pairs.top; p++) {
            yaml_node_t *k = child(w, p->key), *v = child(w, p->value);
            if (budget_check(w, h) != 0)
                goto fail;
            if (!k || k->type != YAML_SCALAR_NODE || !v || (v->type != YAML_SCALAR_NODE)) {
                fail_at(w, v ? v : h, "%s: expected name: value pairs of scalars", path);
                goto fail;
            }
            config_kv_t *slot = cfg_push(&kv, &n, sizeof(*slot));
            if (!slot || !(slot->name = cfg_strndup(scalar(k), k->data.scalar.length)) ||
                !(slot->value = is_null(v) ? cfg_strdup("") : cfg_strndup(scalar(v), v->data.scalar.length))) {
                fail_oom(w);
                goto fail;
            }
        }
    } else {
        return fail_at(w, h, "%s: expected a list of {name, value}, got a scalar", path);
    }
    kv_free(out->otel_headers, out->otel_header_count);
    out->otel_headers = kv;
    out->otel_header_count = n;
    return 0;
fail:
    kv_free(kv, n);
    return -1;
}

/* spec.tracing.otel.timeout: a Go duration string ("10s", "500ms"), as the CRD's
 * metav1.Duration; a bare number other than 0 is refused (it has no unit). */
static int parse_otel_timeout(walk_t *w, const yaml_node_t *o, config_spec_t *out)
{
    static const char path[] = "spec.tracing.otel.timeout";
    yaml_node_t *t = get(w, o, "timeout");
    int rc = want(w, t, YAML_SCALAR_NODE, path);
    if (rc <= 0)
        return rc;
    const char *v = scalar(t);
    int ms;
    if ((strspn(v, "0123456789") == strlen(v) && strcmp(v, "0") != 0) || cfg_parse_duration_ms(v, &ms) != 0)
        return fail_at(w, t, "%s: expected a duration such as \"10s\", got \"%s\"", path, v);
    out->otel_timeout_ms = ms;
    return 0;
}

static int parse_tracing(walk_t *w, const yaml_node_t *spec, config_spec_t *out)
{
    yaml_node_t *t = get(w, spec, "tracing");
    int rc = want_map(w, t, "spec.tracing");
    if (rc <= 0)
        return rc;
    yaml_node_t *rate = get(w, t, "samplingRate");
    if ((rc = want(w, rate, YAML_SCALAR_NODE, "spec.tracing.samplingRate")) < 0)
        return -1;
    if (rc > 0) {
        out->sampling_rate = sampling_rate(scalar(rate));
        out->sampling_rate_set = 1;
    }
    if (get_bool(w, t, "stdout", "spec.tracing.stdout", &out->tracing_stdout) != 0)
        return -1;
    yaml_node_t *z = get(w, t, "zipkin");
    if ((rc = want_map(w, z, "spec.tracing.zipkin")) < 0)
        return -1;
    if (rc > 0 && get_str(w, z, "endpointAddress", "spec.tracing.zipkin.endpointAddress",
                          &out->zipkin_endpoint) != 0)
        return -1;
    yaml_node_t *o = get(w, t, "otel");
    if ((rc = want_map(w, o, "spec.tracing.otel")) <= 0)
        return rc;
    if (get_str(w, o, "endpointAddress", "spec.tracing.otel.endpointAddress",
                &out->otel_endpoint) != 0 ||
        get_str(w, o, "protocol", "spec.tracing.otel.protocol", &out->otel_protocol) != 0 ||
        get_bool(w, o, "isSecure", "spec.tracing.otel.isSecure", &out->otel_is_secure) != 0 ||
        parse_otel_headers(w, o, out) != 0 || parse_otel_timeout(w, o, out) != 0)
        return -1;
    return 0;
}

/* ---- spec.metric / spec.metrics ---- */

static int parse_buckets(walk_t *w, const yaml_node_t *m, const char *path, config_spec_t *out)
{
    yaml_node_t *seq = get(w, m, "latencyDistributionBuckets");
    int rc = want_seq(w, seq, path);
    if (rc <= 0)
        return rc;
    double *b = NULL;
    size_t n = 0;
    for (size_t i = 0; i < seq_len(seq); i++) {
        yaml_node_t *it = item(w, seq, i);
        char ip[128];
        pathf(ip, sizeof(ip), "%s[%zu]", path, i);
        if (want(w, it, YAML_SCALAR_NODE, ip) < 0 || !it)
            goto fail;
        char *end;
        double v = strtod(scalar(it), &end);
        if (!*scalar(it) || *end || !isfinite(v) || v < 0) {
            fail_at(w, it, "%s: expected a number of milliseconds, got \"%s\"", ip, scalar(it));
            goto fail;
        }
        double *slot = cfg_push(&b, &n, sizeof(*b));
        if (!slot) {
            fail_oom(w);
            goto fail;
        }
        *slot = v;
    }
    base_free(out->latency_buckets);
    out->latency_buckets = b;
    out->latency_bucket_count = n;
    return 0;
fail:
    budget_check(w, seq);
    base_free(b);
    return -1;
}

static int parse_metric(walk_t *w, const yaml_node_t *spec, const char *key, config_spec_t *out)
{
    char path[96], kp[128];
    pathf(path, sizeof(path), "spec.%s", key);
    yaml_node_t *m = get(w, spec, key);
    int rc = want_map(w, m, path);
    if (rc <= 0)
        return rc;
    pathf(kp, sizeof(kp), "%s.enabled", path);
    if (get_bool(w, m, "enabled", kp, &out->metrics_enabled) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.latencyDistributionBuckets", path);
    if (parse_buckets(w, m, kp, out) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.http", path);
    yaml_node_t *h = get(w, m, "http");
    if ((rc = want_map(w, h, kp)) <= 0)
        return rc;
    pathf(kp, sizeof(kp), "%s.http.increasedCardinality", path);
    if (get_bool(w, h, "increasedCardinality", kp, &out->metrics_increased_cardinality) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.http.excludeVerbs", path);
    if (get_bool(w, h, "excludeVerbs", kp, &out->metrics_exclude_verbs) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.http.pathMatching", path);
    return get_str_list(w, h, "pathMatching", kp, &out->metrics_path_matching,
                        &out->metrics_path_matching_count);
}

/* ---- spec.nameResolution ---- */

static int push_kv(walk_t *w, config_kv_t **kv, size_t *n, const char *name, const yaml_node_t *v)
{
    config_kv_t *slot = cfg_push(kv, n, sizeof(*slot));
    if (!slot || !(slot->name = cfg_strdup(name)) ||
        !(slot->value = cfg_strndup(scalar(v), v->data.scalar.length)))
        return fail_oom(w);
    return 0;
}

/* Scalars of the resolver's configuration, nested mappings as dotted names (consul's
 * client.address); lists are not representable as one value and are skipped. */
static int flatten(walk_t *w, const yaml_node_t *map, const char *prefix, int depth,
                   config_kv_t **kv, size_t *n)
{
    if (depth > FLATTEN_DEPTH)
        return fail_at(w, map, "spec.nameResolution.configuration: nested too deeply");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = child(w, p->key), *v = child(w, p->value);
        if (budget_check(w, map) != 0)
            return -1;
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            continue;
        char name[256];
        pathf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", scalar(k));
        if (v->type == YAML_SCALAR_NODE) {
            if (push_kv(w, kv, n, name, v) != 0)
                return -1;
        } else if (v->type == YAML_MAPPING_NODE) {
            if (flatten(w, v, name, depth + 1, kv, n) != 0)
                return -1;
        } else {
            LOG_DEBUG(BASE_LOG_SCOPE_CONFIG, "%s: nameResolution.configuration.%s is a list; "
                      "not passed to the resolver", w->file, name);
        }
    }
    return 0;
}

static void kv_free(config_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        base_free(kv[i].name);
        base_free(kv[i].value);
    }
    base_free(kv);
}

static int parse_name_resolution(walk_t *w, const yaml_node_t *spec, config_spec_t *out)
{
    yaml_node_t *nr = get(w, spec, "nameResolution");
    int rc = want_map(w, nr, "spec.nameResolution");
    if (rc <= 0)
        return rc;
    if (get_str(w, nr, "component", "spec.nameResolution.component", &out->nr_component) != 0 ||
        get_str(w, nr, "version", "spec.nameResolution.version", &out->nr_version) != 0)
        return -1;
    yaml_node_t *c = get(w, nr, "configuration");
    if ((rc = want_map(w, c, "spec.nameResolution.configuration")) <= 0)
        return rc;
    config_kv_t *kv = NULL;
    size_t n = 0;
    if (flatten(w, c, "", 0, &kv, &n) != 0) {
        kv_free(kv, n);
        return -1;
    }
    kv_free(out->nr_configuration, out->nr_configuration_count);
    out->nr_configuration = kv;
    out->nr_configuration_count = n;
    return 0;
}

/* ---- spec.accessControl (pkg/acl/acl.go ParseAccessControlSpec) ---- */

/* An action allows iff it equals "allow" ignoring case (acl.isActionAllowed); anything else
 * denies, which a typo would do silently in daprd, hence the warning. */
static int action(walk_t *w, const yaml_node_t *map, const char *key, const char *path, int *out)
{
    char *v = NULL;
    if (get_str(w, map, key, path, &v) != 0)
        return -1;
    if (v) {
        *out = strcasecmp(v, "allow") == 0;
        if (!*out && strcasecmp(v, "deny") != 0)
            LOG_WARN(BASE_LOG_SCOPE_CONFIG, "%s: %s is \"%s\", neither allow nor deny: "
                     "treated as deny", w->file, path, v);
    }
    base_free(v);
    return 0;
}

static void acl_policies_free(config_acl_policy_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        base_free(p[i].app_id);
        base_free(p[i].namespace_);
        base_free(p[i].trust_domain);
        for (size_t j = 0; j < p[i].operation_count; j++) {
            base_free(p[i].operations[j].name);
            cfg_free_strv(p[i].operations[j].http_verbs, p[i].operations[j].http_verb_count);
        }
        base_free(p[i].operations);
    }
    base_free(p);
}

static int parse_operation(walk_t *w, const yaml_node_t *o, const char *path,
                           config_acl_policy_t *pol)
{
    char kp[224];
    if (want_map(w, o, path) <= 0)
        return w->failed ? -1 : fail_at(w, o, "%s: expected a mapping", path);
    config_acl_operation_t *op = cfg_push(&pol->operations, &pol->operation_count, sizeof(*op));
    if (!op)
        return fail_oom(w);
    pathf(kp, sizeof(kp), "%s.name", path);
    if (get_str(w, o, "name", kp, &op->name) != 0)
        return -1;
    if (!op->name || !*op->name)
        return fail_at(w, o, "%s: an operation needs a name", path);
    pathf(kp, sizeof(kp), "%s.httpVerb", path);
    if (get_str_list(w, o, "httpVerb", kp, &op->http_verbs, &op->http_verb_count) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.action", path);
    return action(w, o, "action", kp, &op->allow);
}

static int parse_policy(walk_t *w, const yaml_node_t *pn, const char *path,
                        config_acl_policy_t **pols, size_t *npols)
{
    char kp[192];
    if (want_map(w, pn, path) <= 0)
        return w->failed ? -1 : fail_at(w, pn, "%s: expected a mapping", path);
    config_acl_policy_t *pol = cfg_push(pols, npols, sizeof(*pol));
    if (!pol)
        return fail_oom(w);
    pol->default_allow = -1;
    pathf(kp, sizeof(kp), "%s.appId", path);
    if (get_str(w, pn, "appId", kp, &pol->app_id) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.trustDomain", path);
    if (get_str(w, pn, "trustDomain", kp, &pol->trust_domain) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.namespace", path);
    if (get_str(w, pn, "namespace", kp, &pol->namespace_) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.defaultAction", path);
    if (action(w, pn, "defaultAction", kp, &pol->default_allow) != 0)
        return -1;
    /* daprd refuses the whole spec when a policy lacks any of these. */
    const char *missing = !pol->app_id || !*pol->app_id               ? "appId"
                          : !pol->trust_domain || !*pol->trust_domain ? "trustDomain"
                          : !pol->namespace_ || !*pol->namespace_     ? "namespace"
                                                                      : NULL;
    if (missing)
        return fail_at(w, pn, "%s: invalid access control policy: missing %s", path, missing);
    pathf(kp, sizeof(kp), "%s.operations", path);
    yaml_node_t *ops = get(w, pn, "operations");
    int rc = want_seq(w, ops, kp);
    for (size_t i = 0; rc > 0 && i < seq_len(ops); i++) {
        char ip[208];
        pathf(ip, sizeof(ip), "%s[%zu]", kp, i);
        yaml_node_t *o = item(w, ops, i);
        if (budget_check(w, ops) != 0 || parse_operation(w, o, ip, pol) != 0)
            return -1;
    }
    return rc < 0 ? -1 : 0;
}

static int parse_access_control(walk_t *w, const yaml_node_t *spec, config_spec_t *out)
{
    yaml_node_t *ac = get(w, spec, "accessControl");
    int rc = want_map(w, ac, "spec.accessControl");
    if (rc <= 0)
        return rc;
    char *td = NULL;
    int def = out->acl_default_allow;
    if (get_str(w, ac, "trustDomain", "spec.accessControl.trustDomain", &td) != 0 ||
        action(w, ac, "defaultAction", "spec.accessControl.defaultAction", &def) != 0) {
        base_free(td);
        return -1;
    }
    if (td && *td) {
        base_free(out->acl_trust_domain);
        out->acl_trust_domain = td;
        td = NULL;
    }
    base_free(td);
    out->acl_default_allow = def;
    yaml_node_t *seq = get(w, ac, "policies");
    if ((rc = want_seq(w, seq, "spec.accessControl.policies")) < 0)
        return -1;
    if (rc > 0) {
        config_acl_policy_t *pols = NULL;
        size_t n = 0;
        for (size_t i = 0; i < seq_len(seq); i++) {
            char ip[96];
            pathf(ip, sizeof(ip), "spec.accessControl.policies[%zu]", i);
            yaml_node_t *pn = item(w, seq, i);
            if (budget_check(w, seq) != 0 || parse_policy(w, pn, ip, &pols, &n) != 0) {
                acl_policies_free(pols, n);
                return -1;
            }
        }
        acl_policies_free(out->acl_policies, out->acl_policy_count);
        out->acl_policies = pols;
        out->acl_policy_count = n;
    }
    /* daprd: no trustDomain, no defaultAction and no policies means no ACL at all. */
    yaml_node_t *tdn = get(w, ac, "trustDomain");
    out->acl_present = out->acl_present || out->acl_default_allow != -1 ||
                       out->acl_policy_count > 0 ||
                       (tdn && tdn->type == YAML_SCALAR_NODE && *scalar(tdn) && !is_null(tdn));
    return 0;
}

/* ---- spec.api ---- */

static void api_rules_free(config_api_rule_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        base_free(r[i].name);
        base_free(r[i].version);
        base_free(r[i].protocol);
    }
    base_free(r);
}

static int parse_api_rule(walk_t *w, const yaml_node_t *rn, const char *path,
                          config_api_rule_t **rules, size_t *n)
{
    char kp[160];
    if (want_map(w, rn, path) <= 0)
        return w->failed ? -1 : fail_at(w, rn, "%s: expected a mapping", path);
    config_api_rule_t *r = cfg_push(rules, n, sizeof(*r));
    if (!r)
        return fail_oom(w);
    pathf(kp, sizeof(kp), "%s.name", path);
    if (get_str(w, rn, "name", kp, &r->name) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.version", path);
    if (get_str(w, rn, "version", kp, &r->version) != 0)
        return -1;
    pathf(kp, sizeof(kp), "%s.protocol", path);
    if (get_str(w, rn, "protocol", kp, &r->protocol) != 0)
        return -1;
    if (!r->name || !*r->name)
        return fail_at(w, rn, "%s: an API rule needs a name", path);
    if (!r->protocol || !*r->protocol) {
        if (cfg_set_str(&r->protocol, "http") != 0)
            return fail_oom(w);
    } else {
        for (char *p = r->protocol; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        if (strcmp(r->protocol, "http") != 0 && strcmp(r->protocol, "grpc") != 0)
            return fail_at(w, rn, "%s: protocol must be http or grpc, got \"%s\"", kp, r->protocol);
    }
    return 0;
}

static int parse_api_list(walk_t *w, const yaml_node_t *api, const char *key,
                          config_api_rule_t **out, size_t *out_n)
{
    char path[64];
    pathf(path, sizeof(path), "spec.api.%s", key);
    yaml_node_t *seq = get(w, api, key);
    int rc = want_seq(w, seq, path);
    if (rc <= 0)
        return rc;
    config_api_rule_t *rules = NULL;
    size_t n = 0;
    for (size_t i = 0; i < seq_len(seq); i++) {
        char ip[96];
        pathf(ip, sizeof(ip), "%s[%zu]", path, i);
        yaml_node_t *rn = item(w, seq, i);
        if (budget_check(w, seq) != 0 || parse_api_rule(w, rn, ip, &rules, &n) != 0) {
            api_rules_free(rules, n);
            return -1;
        }
    }
    api_rules_free(*out, *out_n);
    *out = rules;
    *out_n = n;
    return 0;
}

static int parse_api(walk_t *w, const yaml_node_t *spec, config_spec_t *out)
{
    yaml_node_t *api = get(w, spec, "api");
    int rc = want_map(w, api, "spec.api");
    if (rc <= 0)
        return rc;
    if (parse_api_list(w, api, "allowed", &out->api_allowed, &out->api_allowed_count) != 0)
        return -1;
    return parse_api_list(w, api, "denied", &out->api_denied, &out->api_denied_count);
}

/* ---- spec.logging ---- */

static int parse_logging(walk_t *w, const yaml_node_t *spec, config_spec_t *out)
{
    yaml_node_t *l = get(w, spec, "logging");
    int rc = want_map(w, l, "spec.logging");
    if (rc <= 0)
        return rc;
    yaml_node_t *a = get(w, l, "apiLogging");
    if ((rc = want_map(w, a, "spec.logging.apiLogging")) <= 0)
        return rc;
    if (get_bool(w, a, "enabled", "spec.logging.apiLogging.enabled", &out->api_logging_enabled) != 0 ||
        get_bool(w, a, "obfuscateURLs", "spec.logging.apiLogging.obfuscateURLs",
                 &out->api_logging_obfuscate_urls) != 0 ||
        get_bool(w, a, "omitHealthChecks", "spec.logging.apiLogging.omitHealthChecks",
                 &out->api_logging_omit_health_checks) != 0)
        return -1;
    return 0;
}

/* ---- spec.features ---- */

static void features_free(config_feature_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        base_free(f[i].name);
    base_free(f);
}

static int parse_feature(walk_t *w, const yaml_node_t *fn, const char *path,
                         config_feature_t **list, size_t *n)
{
    char kp[96];
    if (want_map(w, fn, path) <= 0)
        return w->failed ? -1 : fail_at(w, fn, "%s: expected a mapping", path);
    config_feature_t *f = cfg_push(list, n, sizeof(*f));
    if (!f)
        return fail_oom(w);
    pathf(kp, sizeof(kp), "%s.name", path);
    if (get_str(w, fn, "name", kp, &f->name) != 0)
        return -1;
    if (!f->name && cfg_set_str(&f->name, "") != 0)
        return fail_oom(w);
    pathf(kp, sizeof(kp), "%s.enabled", path);
    return get_bool(w, fn, "enabled", kp, &f->enabled);
}

static int parse_features(walk_t *w, const yaml_node_t *spec, config_spec_t *out)
{
    yaml_node_t *seq = get(w, spec, "features");
    int rc = want_seq(w, seq, "spec.features");
    if (rc <= 0)
        return rc;
    config_feature_t *list = NULL;
    size_t n = 0;
    for (size_t i = 0; i < seq_len(seq); i++) {
        char ip[48];
        pathf(ip, sizeof(ip), "spec.features[%zu]", i);
        yaml_node_t *fn = item(w, seq, i);
        if (budget_check(w, seq) != 0 || parse_feature(w, fn, ip, &list, &n) != 0) {
            features_free(list, n);
            return -1;
        }
    }
    features_free(out->features, out->feature_count);
    out->features = list;
    out->feature_count = n;
    return 0;
}

/* An ordered set of names: add (once) or remove. */
static int feature_set(config_spec_t *s, const char *name, int enabled)
{
    size_t i = 0;
    while (i < s->enabled_feature_count && strcmp(s->enabled_features[i], name) != 0)
        i++;
    if (!enabled) {
        if (i < s->enabled_feature_count) {
            base_free(s->enabled_features[i]);
            memmove(&s->enabled_features[i], &s->enabled_features[i + 1],
                    (s->enabled_feature_count - i - 1) * sizeof(char *));
            s->enabled_feature_count--;
        }
        return 0;
    }
    if (i < s->enabled_feature_count)
        return 0;
    char *copy = cfg_strdup(name);
    char **slot = copy ? cfg_push(&s->enabled_features, &s->enabled_feature_count, sizeof(char *)) : NULL;
    if (!slot) {
        base_free(copy);
        return -1;
    }
    *slot = copy;
    return 0;
}

int cfg_features_resolve(config_spec_t *s)
{
    /* daprd 1.15 pkg/config: defaultFeatures = {SchedulerReminders: true}, appended by
     * SetDefaultFeatures when the list does not name it, then LoadFeatures. */
    static const char default_feature[] = "SchedulerReminders";
    int listed = 0;
    cfg_free_strv(s->enabled_features, s->enabled_feature_count);
    s->enabled_features = NULL;
    s->enabled_feature_count = 0;
    for (size_t i = 0; i < s->feature_count; i++) {
        listed |= strcmp(s->features[i].name, default_feature) == 0;
        if (s->features[i].name[0] && feature_set(s, s->features[i].name, s->features[i].enabled) != 0)
            return -1;
    }
    return listed ? 0 : feature_set(s, default_feature, 1);
}

/* ---- the Configuration document ---- */

static int on_configuration(walk_t *w, yaml_node_t *root, void *ctx)
{
    config_t *cfg = ctx;
    int rc = want_map(w, root, "document");
    if (rc <= 0)
        return rc; /* an empty file is the default configuration, as in daprd */
    char *kind = NULL;
    if (get_str(w, root, "kind", "kind", &kind) != 0)
        return -1;
    if (kind && strcmp(kind, "Configuration") != 0)
        LOG_WARN(BASE_LOG_SCOPE_CONFIG, "%s: kind is \"%s\", expected Configuration; reading its "
                 "spec anyway", w->file, kind);
    base_free(kind);
    yaml_node_t *spec = get(w, root, "spec");
    if ((rc = want_map(w, spec, "spec")) <= 0)
        return rc;
    config_spec_t *s = &cfg->spec;
    if (parse_pipeline(w, spec, "httpPipeline", &s->http_pipeline) != 0 ||
        parse_pipeline(w, spec, "appHttpPipeline", &s->app_http_pipeline) != 0 ||
        parse_tracing(w, spec, s) != 0 || parse_metric(w, spec, "metric", s) != 0 ||
        parse_metric(w, spec, "metrics", s) != 0 || parse_name_resolution(w, spec, s) != 0 ||
        parse_access_control(w, spec, s) != 0 || parse_api(w, spec, s) != 0 ||
        parse_logging(w, spec, s) != 0 || parse_features(w, spec, s) != 0)
        return -1;
    return budget_check(w, root);
}

/* ---- Component documents ---- */

void cfg_component_free(config_component_t *c)
{
    base_free(c->name);
    base_free(c->type);
    base_free(c->version);
    base_free(c->file);
    kv_free(c->metadata, c->metadata_count);
}

static int parse_meta_item(walk_t *w, const yaml_node_t *it, const char *path,
                           config_component_t *c)
{
    char kp[160];
    if (want_map(w, it, path) <= 0)
        return w->failed ? -1 : fail_at(w, it, "%s: expected a mapping", path);
    config_kv_t *kv = cfg_push(&c->metadata, &c->metadata_count, sizeof(*kv));
    if (!kv)
        return fail_oom(w);
    pathf(kp, sizeof(kp), "%s.name", path);
    if (get_str(w, it, "name", kp, &kv->name) != 0)
        return -1;
    if (!kv->name || !*kv->name)
        return fail_at(w, it, "%s: a metadata item needs a name", path);
    yaml_node_t *v = get(w, it, "value");
    yaml_node_t *ref = get(w, it, "secretKeyRef");
    if (ref && !is_null(ref)) {
        LOG_WARN(BASE_LOG_SCOPE_CONFIG, "%s: component %s metadata %s uses secretKeyRef, which "
                 "Remora does not resolve yet; the value is left empty", w->file, c->name, kv->name);
        return 0;
    }
    if (v && v->type != YAML_SCALAR_NODE) {
        LOG_WARN(BASE_LOG_SCOPE_CONFIG, "%s: component %s metadata %s has a structured value, "
                 "which Remora does not support; the value is left empty", w->file, c->name,
                 kv->name);
        return 0;
    }
    /* Numbers and booleans keep their text ("10", "true"); a missing or null value is "". */
    const char *text = v && !is_null(v) ? scalar(v) : "";
    size_t len = v && !is_null(v) ? v->data.scalar.length : 0;
    if (!(kv->value = cfg_strndup(text, len)))
        return fail_oom(w);
    return 0;
}

/* `scopes`: when listed, only those app ids load the component (daprd's component loader). */
static int in_scope(walk_t *w, const yaml_node_t *root, const char *app_id, int *yes)
{
    char **scopes = NULL;
    size_t n = 0;
    *yes = 1;
    if (get_str_list(w, root, "scopes", "scopes", &scopes, &n) != 0)
        return -1;
    if (n > 0) {
        *yes = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(scopes[i], app_id) == 0)
                *yes = 1;
    }
    cfg_free_strv(scopes, n);
    return 0;
}

static int check_duplicate(walk_t *w, const yaml_node_t *root, const config_t *cfg,
                           const char *name, const char *type)
{
    for (size_t i = 0; i < cfg->component_count; i++) {
        const config_component_t *o = &cfg->components[i];
        if (o->name && o->type && !strcmp(o->name, name) && !strcmp(o->type, type))
            return fail_at(w, root, "component %s (%s) is defined twice (first in %s)", name,
                           type, o->file);
    }
    return 0;
}

/* Reads metadata.name, spec.type and spec.version; *skip when the document is not for us. */
static int component_identity(walk_t *w, yaml_node_t *root, const config_t *cfg, char **name,
                              char **type, char **version, int *skip)
{
    char *ns = NULL;
    yaml_node_t *md = get(w, root, "metadata");
    yaml_node_t *spec = get(w, root, "spec");
    if (want_map(w, md, "metadata") < 0 || want_map(w, spec, "spec") < 0 ||
        get_str(w, md, "name", "metadata.name", name) != 0 ||
        get_str(w, md, "namespace", "metadata.namespace", &ns) != 0 ||
        get_str(w, spec, "type", "spec.type", type) != 0 ||
        get_str(w, spec, "version", "spec.version", version) != 0) {
        base_free(ns);
        return -1;
    }
    if (!*name || !**name) {
        base_free(ns);
        return fail_at(w, root, "component without metadata.name");
    }
    if (!*type || !**type) {
        base_free(ns);
        return fail_at(w, root, "component %s has no spec.type", *name);
    }
    int scoped;
    if (in_scope(w, root, cfg->app_id ? cfg->app_id : "", &scoped) != 0) {
        base_free(ns);
        return -1;
    }
    /* Like daprd's disk loader, a component for another namespace is skipped, when a
     * namespace is set both in the environment and on the component. */
    const char *env_ns = getenv("NAMESPACE");
    int other_ns = ns && *ns && env_ns && *env_ns && strcmp(ns, env_ns) != 0;
    *skip = !scoped || other_ns;
    if (*skip)
        LOG_DEBUG(BASE_LOG_SCOPE_CONFIG, "%s: component %s skipped (%s)", w->file, *name,
                  other_ns ? "other namespace" : "not in scopes");
    base_free(ns);
    return 0;
}

static int on_component(walk_t *w, yaml_node_t *root, void *ctx)
{
    config_t *cfg = ctx;
    int rc = want_map(w, root, "document");
    if (rc <= 0)
        return rc; /* empty document, e.g. after a trailing --- */
    char *kind = NULL, *name = NULL, *type = NULL, *version = NULL;
    if (get_str(w, root, "kind", "kind", &kind) != 0)
        return -1;
    if (!kind || strcmp(kind, "Component") != 0) {
        LOG_DEBUG(BASE_LOG_SCOPE_CONFIG, "%s: skipping a document of kind %s", w->file,
                  kind ? kind : "(none)");
        base_free(kind);
        return 0;
    }
    base_free(kind);
    int skip = 0;
    if (component_identity(w, root, cfg, &name, &type, &version, &skip) != 0 ||
        (!skip && check_duplicate(w, root, cfg, name, type) != 0))
        goto fail;
    if (skip)
        goto done;
    config_component_t *c = cfg_push(&cfg->components, &cfg->component_count, sizeof(*c));
    if (!c) {
        fail_oom(w);
        goto fail;
    }
    c->name = name;
    c->type = type;
    c->version = version;
    name = type = version = NULL;
    c->version_default = !c->version || !*c->version;
    if (c->version_default && cfg_set_str(&c->version, "v1") != 0)
        return fail_oom(w);
    if (!(c->file = cfg_strdup(w->file)))
        return fail_oom(w);
    yaml_node_t *seq = get(w, get(w, root, "spec"), "metadata");
    if ((rc = want_seq(w, seq, "spec.metadata")) < 0)
        return -1;
    for (size_t i = 0; rc > 0 && i < seq_len(seq); i++) {
        char ip[64];
        pathf(ip, sizeof(ip), "spec.metadata[%zu]", i);
        yaml_node_t *it = item(w, seq, i);
        if (budget_check(w, seq) != 0 || parse_meta_item(w, it, ip, c) != 0)
            return -1;
    }
    return budget_check(w, root);
done:
    base_free(name);
    base_free(type);
    base_free(version);
    return 0;
fail:
    base_free(name);
    base_free(type);
    base_free(version);
    return -1;
}

/* ---- files ---- */

typedef int (*doc_fn)(walk_t *w, yaml_node_t *root, void *ctx);

static void parser_error(const yaml_parser_t *p, const char *file, char *err, size_t errlen)
{
    if (p->error == YAML_MEMORY_ERROR)
        cfg_errf(err, errlen, "%s: out of memory while parsing YAML", file);
    else if (p->error == YAML_READER_ERROR)
        cfg_errf(err, errlen, "%s: %s at byte %zu", file, p->problem ? p->problem : "invalid input",
                 p->problem_offset);
    else
        cfg_errf(err, errlen, "%s:%zu:%zu: %s%s%s%s", file, p->problem_mark.line + 1,
                 p->problem_mark.column + 1, p->problem ? p->problem : "invalid YAML",
                 p->context ? " (" : "", p->context ? p->context : "", p->context ? ")" : "");
}

/* Feeds each document of `data` to fn; only the first one when first_only (yaml.Unmarshal). */
static int load_documents(const char *file, const char *data, size_t len, int first_only,
                          doc_fn fn, void *ctx, char *err, size_t errlen)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        cfg_errf(err, errlen, "%s: out of memory", file);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    int rc = 0;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) {
            parser_error(&parser, file, err, errlen);
            rc = -1;
            break;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
            yaml_document_delete(&doc);
            break;
        }
        walk_t w = { &doc, file, err, errlen, VISIT_BUDGET, 0 };
        rc = fn(&w, root, ctx);
        yaml_document_delete(&doc);
        if (rc != 0 || first_only)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

static int read_or_fail(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    if (cfg_read_file(path, data, len) != 0) {
        cfg_errf(err, errlen, "%s: %s", path, errno == ENOMEM ? "out of memory" : strerror(errno));
        return -1;
    }
    return 0;
}

int cfg_yaml_load_configuration(config_t *cfg, const char *path, char *err, size_t errlen)
{
    char *raw, *expanded;
    size_t len, exp_len;
    if (read_or_fail(path, &raw, &len, err, errlen) != 0)
        return -1;
    /* daprd: os.ExpandEnv over the whole file before parsing (LoadStandaloneConfiguration). */
    expanded = cfg_expand_env(raw, len, &exp_len);
    base_free(raw);
    if (!expanded) {
        cfg_errf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = load_documents(path, expanded, exp_len, 1, on_configuration, cfg, err, errlen);
    base_free(expanded);
    return rc;
}

int cfg_yaml_load_components(config_t *cfg, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (read_or_fail(path, &data, &len, err, errlen) != 0)
        return -1;
    int rc = load_documents(path, data, len, 0, on_component, cfg, err, errlen);
    base_free(data);
    return rc;
}

void cfg_spec_free(config_spec_t *s)
{
    base_free(s->zipkin_endpoint);
    base_free(s->otel_endpoint);
    base_free(s->otel_protocol);
    kv_free(s->otel_headers, s->otel_header_count);
    cfg_free_strv(s->metrics_path_matching, s->metrics_path_matching_count);
    base_free(s->latency_buckets);
    base_free(s->nr_component);
    base_free(s->nr_version);
    kv_free(s->nr_configuration, s->nr_configuration_count);
    base_free(s->acl_trust_domain);
    acl_policies_free(s->acl_policies, s->acl_policy_count);
    api_rules_free(s->api_allowed, s->api_allowed_count);
    api_rules_free(s->api_denied, s->api_denied_count);
    features_free(s->features, s->feature_count);
    cfg_free_strv(s->enabled_features, s->enabled_feature_count);
    pipeline_free(&s->http_pipeline);
    pipeline_free(&s->app_http_pipeline);
    memset(s, 0, sizeof(*s));
}
