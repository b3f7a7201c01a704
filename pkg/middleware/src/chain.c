/*
 * chain.c - runs a request forward through the filters and every response back through the
 * filters that saw it (Envoy's filter manager, reduced to synchronous filters).
 *
 * Lifetime rule that shapes this file: once a response's last byte is queued the http layer
 * may free the exchange, so after any hook or reply that may have finished the response the
 * chain returns without touching x or ex again.
 */
#include "middleware/middleware.h"

#include <cjson/cJSON.h>

#include "base/log.h"
#include "diag/metrics.h"

static void on_data(http_exchange_t *ex, base_slice_t chunk);
static void on_end(http_exchange_t *ex);
static void on_abort(http_exchange_t *ex, http_abort_reason_t why);

static const http_body_cbs_t body_cbs = { on_data, on_end };

static const char oom_body[] = "{\"errorCode\":\"ERR_INTERNAL\",\"message\":\"out of memory\"}";

void mw_chain_on_request(void *chain_ptr, http_exchange_t *ex, http_listener_kind_t kind)
{
    const mw_chain_t *chain = chain_ptr;
    mw_exchange_t *x = base_pool_calloc(ex->pool, sizeof *x);
    if (!x) {
        http_exchange_respond(ex, 500, "application/json", base_slice(oom_body, sizeof oom_body - 1));
        return;
    }
    x->http = ex;
    x->chain = chain;
    x->listener = kind;
    ex->upper = x;
    ex->body_cbs = &body_cbs;
    ex->on_abort = on_abort;

    for (size_t i = 0; i < chain->count; i++) {
        mw_filter_t *f = chain->filters[i];
        /* Counted before the call: a filter that answers locally saw the request and gets
         * on_response like the others. */
        x->reached = i + 1;
        if (!f->ops->on_request)
            continue;
        x->in_filter = 1;
        if (f->ops->on_request(f, x) == MW_STOP)
            return; /* the filter replied; x may be gone */
        x->in_filter = 0;
    }
    x->in_handler = 1;
    chain->handler.on_request(chain->handler.ctx, x);
}

static void on_data(http_exchange_t *ex, base_slice_t chunk)
{
    mw_exchange_t *x = ex->upper;
    /* Not in the handler: a filter answered (or cut the handler off), so the rest of the body
     * has nobody to go to. */
    if (!x->in_handler)
        return;
    for (size_t i = 0; i < x->reached; i++) {
        mw_filter_t *f = x->chain->filters[i];
        if (!f->ops->on_body)
            continue;
        x->in_filter = 1;
        if (f->ops->on_body(f, x, chunk) == MW_STOP)
            return;
        x->in_filter = 0;
    }
    const mw_handler_t *h = &x->chain->handler;
    if (h->on_body)
        h->on_body(h->ctx, x, chunk);
}

static void on_end(http_exchange_t *ex)
{
    mw_exchange_t *x = ex->upper;
    if (!x->in_handler)
        return;
    const mw_handler_t *h = &x->chain->handler;
    if (h->on_end)
        h->on_end(h->ctx, x);
}

static void on_abort(http_exchange_t *ex, http_abort_reason_t why)
{
    mw_exchange_t *x = ex->upper;
    if (!x->in_handler)
        return;
    x->in_handler = 0;
    const mw_handler_t *h = &x->chain->handler;
    if (h->on_abort)
        h->on_abort(h->ctx, x);
}

void mw_chain_destroy(mw_chain_t *chain)
{
    for (size_t i = 0; i < chain->count; i++) {
        mw_filter_t *f = chain->filters[i];
        if (f && f->ops->destroy)
            f->ops->destroy(f);
        chain->filters[i] = NULL;
    }
    chain->count = 0;
}

int mw_chain_add(mw_chain_t *chain, mw_filter_t *f)
{
    if (chain->count >= MW_MAX_FILTERS)
        return -1;
    chain->filters[chain->count++] = f;
    return 0;
}

void **mw_filter_data(mw_exchange_t *x, const mw_filter_t *f)
{
    for (size_t i = 0; i < x->chain->count; i++)
        if (x->chain->filters[i] == f)
            return &x->filter_data[i];
    return NULL;
}

/* daprd's HTTP server metrics (its HTTPMiddleware), when the last byte of the response is
 * queued: the API listeners only; a request whose client went away first is not counted. The
 * request size is its Content-Length, as daprd reads it. */
static void record_response(mw_exchange_t *x)
{
    if (x->recorded || x->listener != HTTP_LISTENER_API || !diag_metrics_on())
        return;
    x->recorded = 1;
    const http_request_t *req = &x->http->req;
    char path[512], status[12];
    base_slice_t l[3] = { diag_http_method_label(req->method), diag_http_path_label(req->path, path, sizeof path),
                          diag_status_label(x->http->res.status, status) };
    diag_record(DIAG_HTTP_SERVER, l, diag_ms_since(req->start_ns, base_now_ns()));
    diag_record(DIAG_HTTP_SERVER_REQ_BYTES, NULL, req->content_length > 0 ? (double)req->content_length : 0);
    diag_record(DIAG_HTTP_SERVER_RES_BYTES, NULL, (double)x->res_bytes);
}

/*
 * Common start of every reply: refuses a second reply, cuts the handler off when a filter
 * answers in its place, then lets the filters that saw the request edit the head.
 */
static int reply_begin(mw_exchange_t *x, int status)
{
    if (x->replied) {
        LOG_DEBUG(BASE_LOG_SCOPE_HTTP, "middleware: second reply (status %d) ignored", status);
        return -1;
    }
    x->replied = 1;
    if (x->in_filter && x->in_handler) {
        const mw_handler_t *h = &x->chain->handler;
        x->in_handler = 0;
        if (h->on_abort)
            h->on_abort(h->ctx, x);
    }
    x->http->res.status = status;
    for (size_t i = x->reached; i-- > 0;) {
        mw_filter_t *f = x->chain->filters[i];
        if (f->ops->on_response)
            f->ops->on_response(f, x);
    }
    return 0;
}

int mw_reply(mw_exchange_t *x, int status, const char *content_type, base_slice_t body)
{
    http_exchange_t *ex = x->http;
    if (x->replied) {
        LOG_DEBUG(BASE_LOG_SCOPE_HTTP, "middleware: second reply (status %d) ignored", status);
        return -1;
    }
    if (content_type &&
        http_headers_set(&ex->res.headers, ex->pool, BASE_SLICE_LIT("Content-Type"), base_slice_cstr(content_type)) != 0)
        return -1;
    ex->res.content_length = (int64_t)body.len;
    if (reply_begin(x, status) != 0)
        return -1;
    if (http_exchange_send_head(ex) != 0)
        return -1;
    x->res_bytes += body.len;
    record_response(x);
    return http_exchange_send_body(ex, body.base, body.len, 1);
}

int mw_reply_head(mw_exchange_t *x, int status)
{
    if (reply_begin(x, status) != 0)
        return -1;
    return http_exchange_send_head(x->http);
}

int mw_send_body(mw_exchange_t *x, const void *data, size_t len, int last)
{
    if (!x->replied) {
        LOG_DEBUG(BASE_LOG_SCOPE_HTTP, "middleware: body sent before the head");
        return -1;
    }
    x->res_bytes += len;
    if (last)
        record_response(x);
    return http_exchange_send_body(x->http, data, len, last);
}

int mw_reply_error(mw_exchange_t *x, base_err_t err, const char *message)
{
    return mw_reply_error_status(x, base_err_http_status(err), err, message);
}

int mw_reply_error_status(mw_exchange_t *x, int status, base_err_t err, const char *message)
{
    if (x->replied) {
        LOG_DEBUG(BASE_LOG_SCOPE_HTTP, "middleware: second reply (status %d) ignored", status);
        return -1;
    }
    cJSON *obj = cJSON_CreateObject();
    char *text = NULL;
    if (obj && cJSON_AddStringToObject(obj, "errorCode", base_err_tag(err)) &&
        cJSON_AddStringToObject(obj, "message", message ? message : base_err_message(err)))
        text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    /* Without memory for the JSON, still answer with the right status. */
    base_slice_t body = text ? base_slice_cstr(text) : base_slice(oom_body, sizeof oom_body - 1);
    int rc = mw_reply(x, status, "application/json", body);
    cJSON_free(text);
    return rc;
}
