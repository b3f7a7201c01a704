/*
 * cors.c - CORS for the HTTP API, as daprd ≥ 1.16 does it with go-chi/cors (reference §5.6).
 *
 * --allowed-origins "*" allows every origin (Access-Control-Allow-Origin: *). A comma list
 * allows those origins, matched case-insensitively, the request's Origin echoed with
 * Vary: Origin; an entry may hold one '*' standing for any characters (so "https://" followed
 * by "*.example.com" allows every subdomain over https). Allowed methods are HEAD, GET,
 * POST, PUT, PATCH, DELETE (OPTIONS always) and every request header is allowed.
 *
 * A preflight (OPTIONS + Origin + Access-Control-Request-Method) is answered here, 200 with
 * an empty body, also when the origin or method is refused (then without the allow headers,
 * as go-chi does); it never reaches the handler. Other requests with an Origin go on, and
 * the allow headers are added to whatever response comes back, local errors included.
 */
#include "middleware/middleware.h"

#include <errno.h>

#include "base/pool.h"

typedef struct origin_rule {
    base_slice_t prefix; /* the whole origin when !wildcard; lower case */
    base_slice_t suffix;
    int wildcard;
} origin_rule_t;

typedef struct cors {
    mw_filter_t base;
    int allow_all;
    size_t count;
    origin_rule_t *rules;
    char *text; /* lower-cased copy of --allowed-origins the rules point into */
} cors_t;

/* filter_data value marking a preflight this filter answered: on_response leaves it alone. */
static char preflight_mark;

static const char *const allowed_methods[] = { "HEAD", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };

static int method_allowed(base_slice_t m)
{
    for (size_t i = 0; i < BASE_ARRAY_SIZE(allowed_methods); i++)
        if (base_slice_ieq_cstr(m, allowed_methods[i]))
            return 1;
    return 0;
}

static int rule_matches(const origin_rule_t *r, base_slice_t origin)
{
    if (!r->wildcard)
        return base_slice_ieq(origin, r->prefix);
    if (origin.len < r->prefix.len + r->suffix.len)
        return 0;
    return base_slice_ieq(base_slice(origin.base, r->prefix.len), r->prefix) &&
           base_slice_ieq(base_slice(origin.base + origin.len - r->suffix.len, r->suffix.len), r->suffix);
}

static int origin_allowed(const cors_t *c, base_slice_t origin)
{
    if (c->allow_all)
        return 1;
    for (size_t i = 0; i < c->count; i++)
        if (rule_matches(&c->rules[i], origin))
            return 1;
    return 0;
}

static void add_header(http_exchange_t *ex, const char *name, base_slice_t value)
{
    /* Best effort under memory pressure: the response goes out without the header. */
    (void)http_headers_add(&ex->res.headers, ex->pool, base_slice_cstr(name), value);
}

static void set_allow_origin(const cors_t *c, http_exchange_t *ex, base_slice_t origin)
{
    (void)http_headers_set(&ex->res.headers, ex->pool, BASE_SLICE_LIT("Access-Control-Allow-Origin"),
                           c->allow_all ? BASE_SLICE_LIT("*") : origin);
}

static mw_status_t preflight(const cors_t *c, mw_exchange_t *x, base_slice_t origin, base_slice_t method)
{
    http_exchange_t *ex = x->http;
    add_header(ex, "Vary", BASE_SLICE_LIT("Origin"));
    add_header(ex, "Vary", BASE_SLICE_LIT("Access-Control-Request-Method"));
    add_header(ex, "Vary", BASE_SLICE_LIT("Access-Control-Request-Headers"));
    if (origin_allowed(c, origin) && method_allowed(method)) {
        set_allow_origin(c, ex, origin);
        char *up = base_pool_strndup(ex->pool, method.base, method.len);
        if (up) {
            for (char *p = up; *p; p++)
                if (*p >= 'a' && *p <= 'z')
                    *p = (char)(*p - 32);
            add_header(ex, "Access-Control-Allow-Methods", base_slice(up, method.len));
        }
        const base_slice_t *rh = http_headers_get(&ex->req.headers, "Access-Control-Request-Headers");
        if (rh) {
            base_slice_t v = base_slice_trim(*rh);
            if (v.len)
                add_header(ex, "Access-Control-Allow-Headers", v);
        }
    }
    void **slot = mw_filter_data(x, &c->base);
    if (slot)
        *slot = &preflight_mark;
    mw_reply(x, 200, NULL, BASE_SLICE_NULL);
    return MW_STOP;
}

static mw_status_t on_request(mw_filter_t *f, mw_exchange_t *x)
{
    const http_request_t *req = &x->http->req;
    if (req->method_id != HTTP_METHOD_OPTIONS)
        return MW_CONTINUE;
    const base_slice_t *origin = http_headers_get(&req->headers, "Origin");
    const base_slice_t *method = http_headers_get(&req->headers, "Access-Control-Request-Method");
    if (!origin || !method || base_slice_trim(*method).len == 0)
        return MW_CONTINUE;
    return preflight((const cors_t *)f, x, *origin, base_slice_trim(*method));
}

static void on_response(mw_filter_t *f, mw_exchange_t *x)
{
    const cors_t *c = (const cors_t *)f;
    http_exchange_t *ex = x->http;
    void **slot = mw_filter_data(x, f);
    if (slot && *slot == &preflight_mark)
        return;
    const base_slice_t *origin = http_headers_get(&ex->req.headers, "Origin");
    if (!origin)
        return;
    if (!c->allow_all)
        add_header(ex, "Vary", BASE_SLICE_LIT("Origin"));
    if (origin_allowed(c, *origin) && method_allowed(ex->req.method))
        set_allow_origin(c, ex, *origin);
}

static void destroy(mw_filter_t *f)
{
    cors_t *c = (cors_t *)f;
    base_free(c->rules);
    base_free(c->text);
    base_free(c);
}

static const mw_filter_ops_t ops = {
    .name = "cors",
    .on_request = on_request,
    .on_response = on_response,
    .destroy = destroy,
};

/* Splits the lower-cased list in c->text into c->rules. */
static void parse_rules(cors_t *c, size_t text_len)
{
    size_t start = 0;
    for (size_t i = 0; i <= text_len; i++) {
        if (i < text_len && c->text[i] != ',')
            continue;
        base_slice_t e = base_slice_trim(base_slice(c->text + start, i - start));
        start = i + 1;
        if (e.len == 0)
            continue;
        if (e.len == 1 && e.base[0] == '*') {
            c->allow_all = 1; /* go-chi: a "*" entry allows every origin */
            continue;
        }
        origin_rule_t *r = &c->rules[c->count++];
        const char *star = memchr(e.base, '*', e.len);
        if (star) {
            r->wildcard = 1;
            r->prefix = base_slice(e.base, (size_t)(star - e.base));
            r->suffix = base_slice(star + 1, e.len - r->prefix.len - 1);
        } else {
            r->prefix = e;
        }
    }
}

mw_filter_t *mw_cors_new(const config_t *cfg)
{
    errno = 0;
    const char *list = cfg->allowed_origins;
    if (!list || !list[0])
        return NULL;
    size_t len = strlen(list), entries = 1;
    for (size_t i = 0; i < len; i++)
        entries += list[i] == ',';

    cors_t *c = base_calloc(1, sizeof *c);
    if (!c)
        goto fail_filter;
    c->text = base_malloc(len + 1);
    if (!c->text)
        goto fail_text;
    c->rules = base_calloc(entries, sizeof *c->rules);
    if (!c->rules)
        goto fail_rules;
    for (size_t i = 0; i <= len; i++) {
        char ch = list[i];
        c->text[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    c->base.ops = &ops;
    parse_rules(c, len);
    return &c->base;

fail_rules:
    base_free(c->text);
fail_text:
    base_free(c);
fail_filter:
    errno = ENOMEM;
    return NULL;
}
