/*
 * invoke.c (api) - the HTTP edge of service invocation (daprd pkg/api/http/directmessaging.go):
 * finds the target app and the method, normalises the method once, and streams the request
 * and the answer between the HTTP exchange and the invoke module, with back-pressure both
 * ways.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <strings.h>

#include "base/log.h"
#include "internal.h"
#include "invoke/invoke.h"
#include "messaging/method.h"

static _Thread_local invoke_t *worker_invoke;

void api_bind_worker(invoke_t *inv)
{
    worker_invoke = inv;
}

typedef struct target {
    base_slice_t id;
    base_slice_t namespace_;
    base_slice_t raw_method; /* still percent-encoded */
    int from_header;
} target_t;

/* "Basic base64(dapr-app-id:<id>)" → id. */
static int basic_auth_target(base_pool_t *pool, const base_slice_t *auth, base_slice_t *id)
{
    base_slice_t v = base_slice_trim(*auth);
    if (v.len < 7 || strncasecmp(v.base, "basic ", 6) != 0)
        return 0;
    base_slice_t b64 = base_slice_trim(base_slice(v.base + 6, v.len - 6));
    if (b64.len == 0 || b64.len > 1024 || b64.len % 4)
        return 0;
    unsigned char *out = base_pool_alloc(pool, b64.len);
    char *in = base_pool_strndup(pool, b64.base, b64.len);
    if (!out || !in)
        return 0;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)b64.len);
    if (n < 0)
        return 0;
    /* EVP_DecodeBlock counts the '=' padding as decoded zero bytes */
    n -= (in[b64.len - 1] == '=') + (in[b64.len - 2] == '=');
    static const char user[] = "dapr-app-id:";
    if ((size_t)n <= sizeof(user) - 1 || memcmp(out, user, sizeof(user) - 1) != 0)
        return 0;
    *id = base_slice((const char *)out + sizeof(user) - 1, (size_t)n - (sizeof(user) - 1));
    return 1;
}

/* daprd findTargetIDAndMethod: header, then Basic auth, then /v1.0/invoke/<id>/method/<m>. */
static int find_target(mw_exchange_t *x, target_t *t)
{
    http_request_t *r = &x->http->req;
    memset(t, 0, sizeof(*t));
    const base_slice_t *h = http_headers_get(&r->headers, "dapr-app-id");
    const base_slice_t *auth = http_headers_get(&r->headers, "authorization");
    base_slice_t path = r->path;
    if ((h && h->len) || (auth && basic_auth_target(x->http->pool, auth, &t->id))) {
        if (h && h->len)
            t->id = *h;
        t->from_header = 1;
        t->raw_method = path.len && path.base[0] == '/' ? base_slice(path.base + 1, path.len - 1) : path;
        http_headers_remove(&r->headers, "dapr-app-id");
    } else {
        static const char prefix[] = "/v1.0/invoke/";
        if (!base_slice_starts_with(path, prefix))
            return 0;
        const char *id = path.base + sizeof(prefix) - 1, *end = path.base + path.len;
        const char *m = NULL;
        for (const char *p = id; p + 8 <= end; p++)
            if (memcmp(p, "/method/", 8) == 0) {
                m = p;
                break;
            }
        if (!m || m == id)
            return 0;
        t->id = base_slice(id, (size_t)(m - id));
        t->raw_method = base_slice(m + 8, (size_t)(end - m - 8));
    }
    /* <id>.<namespace> */
    const char *dot = memchr(t->id.base, '.', t->id.len);
    if (dot) {
        t->namespace_ = base_slice(dot + 1, (size_t)(t->id.base + t->id.len - dot - 1));
        t->id.len = (size_t)(dot - t->id.base);
    }
    return 1;
}

/* ---- invoke callbacks (answer → HTTP) ------------------------------------------------ */

static void on_head(invoke_call_t *call, void *ud, int status, const http_headers_t *headers, int64_t clen)
{
    mw_exchange_t *x = ud;
    (void)call;
    http_response_t *res = &x->http->res;
    for (size_t i = 0; i < headers->len; i++)
        http_headers_add_copy(&res->headers, x->http->pool, headers->items[i].name, headers->items[i].value);
    res->content_length = clen;
    mw_reply_head(x, status);
}

static void on_data(invoke_call_t *call, void *ud, base_slice_t chunk)
{
    mw_exchange_t *x = ud;
    if (mw_send_body(x, chunk.base, chunk.len, 0) == 0 && http_exchange_pending(x->http) > HTTP_SEND_HIGH_WATER)
        invoke_call_pause(call);
}

static void on_request_writable(invoke_call_t *call, void *ud)
{
    mw_exchange_t *x = ud;
    (void)call;
    http_exchange_resume_body(x->http);
}

static void on_done(invoke_call_t *call, void *ud, int status, const char *tag, const char *message)
{
    mw_exchange_t *x = ud;
    api_request_t *ar = x->handler_data;
    (void)call;
    (void)tag;
    ar->call = NULL;
    if (!x->replied) {
        mw_reply_error_status(x, status ? status : 500, BASE_ERR_DIRECT_INVOKE, message);
    } else if (message) {
        LOG_WARN(BASE_LOG_SCOPE_HTTP, "invocation answer cut: %s", message);
        http_exchange_abort(x->http);
    } else {
        mw_send_body(x, NULL, 0, 1);
    }
}

static const invoke_cbs_t invoke_cbs = { on_head, on_data, on_request_writable, on_done };

static void on_http_writable(http_exchange_t *ex)
{
    mw_exchange_t *x = ex->upper;
    api_request_t *ar = x->handler_data;
    if (ar && ar->call)
        invoke_call_resume(ar->call);
}

void api_fallback(api_t *api, mw_exchange_t *x)
{
    api_request_t *ar = x->handler_data;
    http_exchange_t *ex = x->http;
    target_t t;
    if (!find_target(x, &t)) {
        mw_reply_error(x, BASE_ERR_DIRECT_INVOKE_NO_APP_ID, NULL);
        return;
    }
    /* For the API log ("InvokeService/<id>"): the id as addressed, namespace included. */
    x->endpoint_app_id = t.namespace_.base ? base_slice(t.id.base, (size_t)(t.namespace_.base + t.namespace_.len - t.id.base))
                                           : t.id;
    base_pool_t *pool = ex->pool;
    if (t.id.len == 0 || memchr(t.namespace_.base ? t.namespace_.base : "", '.', t.namespace_.len)) {
        char *msg = base_pool_printf(pool, "failed to invoke, id: %.*s, err: invalid app id %.*s", (int)t.id.len,
                                     t.id.base, (int)t.id.len, t.id.base);
        mw_reply_error(x, BASE_ERR_DIRECT_INVOKE, msg);
        return;
    }
    if (base_slice_starts_with(t.id, "http:") || base_slice_starts_with(t.id, "https:") ||
        base_slice_starts_with(t.id, "http%3A") || base_slice_starts_with(t.id, "https%3A")) {
        char *msg = base_pool_printf(pool, "failed to invoke, id: %.*s, err: invoking external HTTP endpoints is not supported by Remora",
                                     (int)t.id.len, t.id.base);
        mw_reply_error(x, BASE_ERR_DIRECT_INVOKE, msg);
        return;
    }
    base_slice_t method;
    const char *why = NULL;
    if (msg_method_normalize(pool, t.raw_method, 1, &method, &why) != 0) {
        char *msg = base_pool_printf(pool, "failed to invoke, id: %.*s, err: invalid method: %s", (int)t.id.len,
                                     t.id.base, why);
        mw_reply_error_status(x, 400, BASE_ERR_DIRECT_INVOKE, msg);
        return;
    }
    x->invoke_app = t.id; /* the span becomes CallLocal/<id>/<method> */
    x->invoke_method = method;
    invoke_t *inv = worker_invoke;
    if (!inv || api_get_state(api) == API_STARTING) {
        mw_reply_error(x, BASE_ERR_DIRECT_INVOKE, "failed to invoke, invoke API is not ready");
        return;
    }
    invoke_request_t req = {
        .app_id = t.id,
        .namespace_ = t.namespace_,
        .method = method,
        .verb = ex->req.method,
        .query = ex->req.query,
        .headers = &ex->req.headers,
        .peer = ex->req.peer,
        .content_length = ex->req.chunked ? -1 : (ex->req.content_length < 0 ? 0 : ex->req.content_length),
        .trace = x->traced ? &x->trace : NULL,
    };
    ex->on_writable = on_http_writable;
    ar->call = invoke_start(inv, &req, &invoke_cbs, x);
    if (!ar->call) {
        mw_reply_error(x, BASE_ERR_DIRECT_INVOKE, "failed to invoke: out of memory");
        return;
    }
    /* a request without a body ends here (no on_end comes before the answer is awaited) */
}

void api_invoke_body(mw_exchange_t *x, base_slice_t chunk)
{
    api_request_t *ar = x->handler_data;
    if (!ar->call)
        return;
    invoke_call_t *call = ar->call;
    if (invoke_call_write(call, chunk.base, chunk.len) != 0) {
        if (ar->call) { /* not already ended through on_done */
            invoke_call_cancel(call);
            ar->call = NULL;
        }
        if (!x->replied)
            mw_reply_error(x, BASE_ERR_DIRECT_INVOKE, "failed to invoke: cannot forward the request body");
        return;
    }
    /* the write may have ended the call (on_done clears ar->call) */
    if (ar->call && invoke_call_pending(ar->call) > INVOKE_HIGH_WATER)
        http_exchange_pause_body(x->http);
}

void api_invoke_end(mw_exchange_t *x)
{
    api_request_t *ar = x->handler_data;
    if (ar->call)
        invoke_call_end(ar->call);
}

void api_invoke_abort(mw_exchange_t *x)
{
    api_request_t *ar = x->handler_data;
    if (ar && ar->call) {
        invoke_call_cancel(ar->call);
        ar->call = NULL;
    }
}
