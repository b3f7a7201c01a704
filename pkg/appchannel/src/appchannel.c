/*
 * appchannel.c - the call interface over the two app protocols.
 *
 * HTTP (daprd pkg/channel/http/http_channel.go): `VERB /<method>?<query>` to
 * --app-channel-address:--app-port with the metadata as headers, Content-Type from the
 * request, `dapr-api-token: $APP_API_TOKEN` when set; the body streams both ways.
 * gRPC (pkg/channel/grpc/grpc_channel.go): AppCallback/OnInvoke with an InvokeRequest that
 * holds the whole body (the protocol is unary), metadata lower-cased with daprd's
 * prefixing, the answer's InvokeResponse data delivered as one chunk.
 * Both: --app-max-concurrency calls at a time, the rest wait in FIFO order.
 */
#include "appchannel/appchannel.h"
#include "appchannel/health.h"
#include "address.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/log.h"
#include "dapr/proto/common/v1/common.pb-c.h"
#include "diag/metrics.h"
#include "http/client.h"
#include "messaging/messaging.h"
#include "pb/pb.h"
#include "rpc/rpc.h"

#define ONINVOKE_PATH "/dapr.proto.runtime.v1.AppCallback/OnInvoke"

typedef Dapr__Proto__Common__V1__InvokeRequest invoke_req_t;
typedef Dapr__Proto__Common__V1__InvokeResponse invoke_res_t;

#define LIMIT_MAX_CHANNELS 64

struct appchannel_limit {
    int max;
    atomic_int active;
    pthread_mutex_t lock; /* guards wakers */
    uv_async_t *wakers[LIMIT_MAX_CHANNELS];
    size_t nwakers;
};

struct appchannel {
    uv_loop_t *loop;
    const config_t *cfg;
    int grpc;
    http_client_t *http;
    rpc_client_t *rpc;
    char address[300]; /* "host:port" */
    int active;
    appchannel_call_t *queue_head, *queue_tail; /* waiting for a concurrency slot */
    const app_health_t *health;
    uv_timer_t fail_timer;     /* answers calls refused at start on a later turn */
    appchannel_call_t *failing;
    int closing_parts;
    struct close_ctx *close_ctx;
    appchannel_limit_t *limit;
    const mw_chain_t *pipeline; /* spec.appHttpPipeline, NULL when empty */
    uv_async_t wake;          /* a slot was freed somewhere: try the queue again */
    int wake_open;
};

struct appchannel_call {
    appchannel_t *ch;
    base_pool_t *pool;
    appchannel_cbs_t cbs;
    void *ud;
    appchannel_request_t req;
    int queued;
    int failing;            /* refused or finished inside the pipeline: ended by fail_timer */
    int fail_err;           /* the error fail_timer ends it with (0: a pipeline answer) */
    const char *fail_msg;
    http_exchange_t *pex;   /* the pipeline's exchange (in pool), NULL without a pipeline */
    int started;
    int cancelled;
    int ended;
    int done;
    int in_cb;              /* inside one of our callbacks to the user: defer the free */
    int counted;            /* holds a concurrency slot */
    base_buf_t body;        /* gRPC: the gathered body; HTTP: body written while queued */
    http_client_req_t *hreq;
    rpc_call_t *rcall;
    http_headers_t head_md; /* gRPC: initial metadata */
    appchannel_call_t *next;
    /* observability: the call to the app */
    uint64_t obs_start_ns;
    uint64_t obs_sent, obs_recv; /* body bytes (HTTP) or message bytes (gRPC) */
    int obs_status;              /* HTTP status of the app's answer, 0 before it */
};

static void start_call(appchannel_call_t *call);
static void finish(appchannel_call_t *call, int err, const char *errmsg, const http_headers_t *trailers);

static void flush_failing(uv_timer_t *t)
{
    appchannel_t *ch = t->data;
    while (ch->failing) {
        appchannel_call_t *call = ch->failing;
        ch->failing = call->next;
        call->failing = 0;
        finish(call, call->fail_err, call->fail_msg, NULL);
    }
}

/* Ends the call on a later loop turn (never inside the call or the chain that is running). */
static void end_later(appchannel_call_t *call, int err, const char *msg)
{
    appchannel_t *ch = call->ch;
    if (call->failing)
        return;
    call->failing = 1;
    call->fail_err = err;
    call->fail_msg = msg;
    call->next = ch->failing;
    ch->failing = call;
    uv_timer_start(&ch->fail_timer, flush_failing, 0, 0);
}

void appchannel_set_health(appchannel_t *ch, const app_health_t *health)
{
    ch->health = health;
}

int appchannel_healthy(const appchannel_t *ch)
{
    return app_health_ok(ch->health);
}

/* ---- lifetime ------------------------------------------------------------------------ */

static void call_free(appchannel_call_t *call)
{
    base_buf_free(&call->body);
    base_pool_destroy(call->pool);
    base_free(call);
}

/* ---- the sidecar-wide concurrency limit ----------------------------------------------- */

appchannel_limit_t *appchannel_limit_new(const config_t *cfg)
{
    if (cfg->app_max_concurrency <= 0)
        return NULL;
    appchannel_limit_t *l = base_calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->max = cfg->app_max_concurrency;
    atomic_init(&l->active, 0);
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void appchannel_limit_free(appchannel_limit_t *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    base_free(l);
}

static int slot_take(appchannel_t *ch)
{
    if (!ch->limit)
        return 1;
    int cur = atomic_load(&ch->limit->active);
    while (cur < ch->limit->max)
        if (atomic_compare_exchange_weak(&ch->limit->active, &cur, cur + 1))
            return 1;
    return 0;
}

static void slot_give(appchannel_t *ch)
{
    appchannel_limit_t *l = ch->limit;
    if (!l)
        return;
    atomic_fetch_sub(&l->active, 1);
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->nwakers; i++)
        uv_async_send(l->wakers[i]);
    pthread_mutex_unlock(&l->lock);
}

static void run_queue(appchannel_t *ch)
{
    while (ch->queue_head && slot_take(ch)) {
        appchannel_call_t *next = ch->queue_head;
        ch->queue_head = next->next;
        if (!ch->queue_head)
            ch->queue_tail = NULL;
        next->queued = 0;
        start_call(next);
    }
}

static void on_wake(uv_async_t *a)
{
    run_queue(a->data);
}

int appchannel_set_limit(appchannel_t *ch, appchannel_limit_t *l)
{
    if (!l)
        return 0;
    if (uv_async_init(ch->loop, &ch->wake, on_wake) != 0)
        return -1;
    ch->wake.data = ch;
    ch->wake_open = 1;
    pthread_mutex_lock(&l->lock);
    int ok = l->nwakers < LIMIT_MAX_CHANNELS;
    if (ok)
        l->wakers[l->nwakers++] = &ch->wake;
    pthread_mutex_unlock(&l->lock);
    ch->limit = l;
    return ok ? 0 : -1;
}

static void limit_unregister(appchannel_t *ch)
{
    appchannel_limit_t *l = ch->limit;
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->nwakers; i++)
        if (l->wakers[i] == &ch->wake) {
            l->wakers[i] = l->wakers[--l->nwakers];
            break;
        }
    pthread_mutex_unlock(&l->lock);
}

static void release_slot(appchannel_call_t *call)
{
    appchannel_t *ch = call->ch;
    if (!call->counted)
        return;
    call->counted = 0;
    ch->active--;
    slot_give(ch);
    run_queue(ch);
}

/* The final callback (unless cancelled), then the slot goes to the next waiting call. */
static void finish(appchannel_call_t *call, int err, const char *errmsg, const http_headers_t *trailers)
{
    if (call->done)
        return;
    call->done = 1;
    release_slot(call);
    if (!call->cancelled && call->cbs.on_done)
        call->cbs.on_done(call, call->ud, err, errmsg, trailers);
    call_free(call);
}

/* ---- HTTP app ------------------------------------------------------------------------ */

static void on_http_head(http_client_req_t *req, void *ud, int status, const http_headers_t *headers)
{
    appchannel_call_t *call = ud;
    call->obs_status = status;
    if (call->cancelled)
        return;
    const base_slice_t *ct = http_headers_get(headers, "content-type");
    /* The client keeps the framing to itself; the answer's length travels on as its
     * Content-Length so the caller's sidecar can announce it too. */
    http_headers_t with_len = *headers;
    int64_t len = http_client_req_response_length(req);
    char *lenstr = len >= 0 && !http_headers_get(headers, "content-length")
                       ? base_pool_printf(call->pool, "%lld", (long long)len)
                       : NULL;
    if (lenstr) {
        with_len = (http_headers_t){ 0 };
        for (size_t i = 0; i < headers->len; i++)
            http_headers_add(&with_len, call->pool, headers->items[i].name, headers->items[i].value);
        http_headers_add(&with_len, call->pool, BASE_SLICE_LIT("Content-Length"), base_slice_cstr(lenstr));
    }
    appchannel_head_t h = { .status = status, .headers = &with_len, .content_type = ct ? *ct : BASE_SLICE_NULL };
    call->cbs.on_head(call, call->ud, &h);
}

static void on_http_data(http_client_req_t *req, void *ud, base_slice_t chunk)
{
    appchannel_call_t *call = ud;
    (void)req;
    call->obs_recv += chunk.len;
    if (!call->cancelled && call->cbs.on_data)
        call->cbs.on_data(call, call->ud, chunk);
}

static void on_http_writable(http_client_req_t *req, void *ud)
{
    appchannel_call_t *call = ud;
    (void)req;
    if (!call->cancelled && call->cbs.on_writable)
        call->cbs.on_writable(call, call->ud);
}

/* daprd's HTTP client families (pkg/channel/http/http_channel.go): recorded for calls the
 * app answered; the path label is "/" + the invoked method. */
static void record_http_call(appchannel_call_t *call)
{
    if (!call->obs_status || !diag_metrics_on())
        return;
    char raw[512], path[512], status[12];
    int n = snprintf(raw, sizeof raw, "/%.*s", (int)call->req.method.len, call->req.method.base);
    base_slice_t p = diag_http_path_label(base_slice(raw, (size_t)BASE_MIN(n, (int)sizeof raw - 1)), path, sizeof path);
    base_slice_t m = diag_http_method_label(call->req.verb);
    base_slice_t l[3] = { m, p, diag_status_label(call->obs_status, status) };
    diag_record(DIAG_HTTP_CLIENT, l, diag_ms_since(call->obs_start_ns, base_now_ns()));
    diag_record(DIAG_HTTP_CLIENT_SENT_BYTES, l, (double)call->obs_sent);
    diag_record(DIAG_HTTP_CLIENT_RECV_BYTES, NULL, (double)call->obs_recv);
}

static void on_http_done(http_client_req_t *req, void *ud, int err, const char *errmsg)
{
    appchannel_call_t *call = ud;
    (void)req;
    call->hreq = NULL;
    record_http_call(call);
    finish(call, err, errmsg, NULL);
}

static const http_client_cbs_t http_cbs = { on_http_head, on_http_data, on_http_writable, on_http_done };

static int header_for_app(base_slice_t name)
{
    /* internal metadata that is not an HTTP header of the original request */
    return !base_slice_ieq_cstr(name, "destination-app-id") && !base_slice_ieq_cstr(name, "content-length") &&
           !base_slice_ieq_cstr(name, "content-type") && !msg_is_hop_by_hop(name);
}

/* ---- HTTP app through spec.appHttpPipeline ------------------------------------------- */

static void pipe_http_head(http_client_req_t *req, void *ud, int status, const http_headers_t *headers)
{
    appchannel_call_t *call = ud;
    http_exchange_t *ex = call->pex;
    mw_exchange_t *x = ex->upper;
    for (size_t i = 0; i < headers->len; i++)
        http_headers_add_copy(&ex->res.headers, call->pool, headers->items[i].name, headers->items[i].value);
    ex->res.content_length = http_client_req_response_length(req);
    mw_reply_head(x, status); /* back through the filters, then pipe_send_head */
}

static void pipe_http_data(http_client_req_t *req, void *ud, base_slice_t chunk)
{
    appchannel_call_t *call = ud;
    (void)req;
    mw_send_body(call->pex->upper, chunk.base, chunk.len, 0);
}

static void pipe_http_done(http_client_req_t *req, void *ud, int err, const char *errmsg)
{
    appchannel_call_t *call = ud;
    (void)req;
    call->hreq = NULL;
    if (err || call->cancelled) {
        finish(call, err ? err : UV_ECANCELED, errmsg, NULL);
        return;
    }
    mw_send_body(call->pex->upper, NULL, 0, 1); /* pipe_send_body(last) ends the call later */
}

static const http_client_cbs_t pipe_http_cbs = { pipe_http_head, pipe_http_data, on_http_writable, pipe_http_done };

/* The chain's terminal handler: the request passed every filter; send it to the app. */
static void pipe_on_request(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    http_exchange_t *ex = x->http;
    appchannel_call_t *call = ex->sink_ctx;
    const config_t *cfg = call->ch->cfg;
    call->hreq = http_client_request(call->ch->http, cfg->app_channel_address, cfg->app_port, ex->req.method,
                                     ex->req.target, &ex->req.headers, ex->req.content_length, &pipe_http_cbs, call);
    if (!call->hreq)
        mw_reply_error(x, BASE_ERR_INTERNAL, "out of memory");
}

static void pipe_on_body(void *ctx, mw_exchange_t *x, base_slice_t chunk)
{
    (void)ctx;
    appchannel_call_t *call = x->http->sink_ctx;
    if (call->hreq)
        http_client_req_write(call->hreq, chunk.base, chunk.len);
}

static void pipe_on_end(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    appchannel_call_t *call = x->http->sink_ctx;
    if (call->hreq)
        http_client_req_end(call->hreq);
}

static void pipe_on_abort(void *ctx, mw_exchange_t *x)
{
    (void)ctx;
    appchannel_call_t *call = x->http->sink_ctx;
    if (call->hreq)
        http_client_req_cancel(call->hreq);
}

mw_handler_t appchannel_pipeline_handler(void)
{
    return (mw_handler_t){ pipe_on_request, pipe_on_body, pipe_on_end, pipe_on_abort, NULL };
}

void appchannel_set_pipeline(appchannel_t *ch, const mw_chain_t *chain)
{
    ch->pipeline = chain && chain->count ? chain : NULL;
}

/* The sink: what the chain answers (a filter's reply or the app's answer) goes to the user. */
static int pipe_send_head(http_exchange_t *ex)
{
    appchannel_call_t *call = ex->sink_ctx;
    if (call->cancelled)
        return 0;
    http_headers_t *h = &ex->res.headers;
    if (ex->res.content_length >= 0 && !http_headers_get(h, "content-length")) {
        char *len = base_pool_printf(call->pool, "%lld", (long long)ex->res.content_length);
        if (len)
            http_headers_add(h, call->pool, BASE_SLICE_LIT("Content-Length"), base_slice_cstr(len));
    }
    const base_slice_t *ct = http_headers_get(h, "content-type");
    appchannel_head_t head = { .status = ex->res.status ? ex->res.status : 200, .headers = h,
                               .content_type = ct ? *ct : BASE_SLICE_NULL };
    call->cbs.on_head(call, call->ud, &head);
    return 0;
}

static int pipe_send_body(http_exchange_t *ex, const void *data, size_t len, int last)
{
    appchannel_call_t *call = ex->sink_ctx;
    if (!call->cancelled && len && call->cbs.on_data)
        call->cbs.on_data(call, call->ud, base_slice(data, len));
    if (last)
        end_later(call, 0, NULL); /* the chain may still be on the stack */
    return 0;
}

static void pipe_abort(http_exchange_t *ex)
{
    appchannel_call_t *call = ex->sink_ctx;
    end_later(call, UV_ECONNABORTED, "the app pipeline gave up on the call");
}

static const http_exchange_sink_t pipe_sink = { pipe_send_head, pipe_send_body, NULL, NULL, pipe_abort };

static void start_pipeline(appchannel_call_t *call, const http_headers_t *headers)
{
    appchannel_request_t *r = &call->req;
    http_exchange_t *ex = base_pool_calloc(call->pool, sizeof(*ex));
    char *target = base_pool_printf(call->pool, "/%.*s%s%.*s", (int)r->method.len, r->method.base,
                                    r->query.len ? "?" : "", (int)r->query.len, r->query.base);
    if (!ex || !target) {
        end_later(call, UV_ENOMEM, "out of memory");
        return;
    }
    ex->pool = call->pool;
    ex->sink = &pipe_sink;
    ex->sink_ctx = call;
    http_request_t *q = &ex->req;
    q->method = r->verb;
    q->method_id = http_method_from_slice(r->verb);
    q->target = base_slice_cstr(target);
    q->path = base_slice(target, 1 + r->method.len);
    q->query = r->query;
    q->version_minor = 1;
    q->headers = *headers;
    q->content_length = r->content_length;
    q->keep_alive = 1;
    /* the original caller, for filters keyed by client (ratelimit) */
    const base_slice_t *xff = http_headers_get(headers, "x-forwarded-for");
    q->peer = xff ? base_pool_strndup(call->pool, xff->base, xff->len) : "";
    q->start_ns = base_now_ns();
    ex->res.content_length = -1;
    call->pex = ex;
    mw_chain_on_request((void *)call->ch->pipeline, ex, HTTP_LISTENER_API);
    /* body written while the call waited for a slot */
    if (call->body.len && ex->body_cbs && !ex->done)
        ex->body_cbs->on_data(ex, base_buf_slice(&call->body));
    base_buf_free(&call->body);
    if (call->ended && ex->body_cbs && !ex->done)
        ex->body_cbs->on_end(ex);
}

static void start_http(appchannel_call_t *call)
{
    appchannel_t *ch = call->ch;
    const config_t *cfg = ch->cfg;
    appchannel_request_t *r = &call->req;
    http_headers_t h = { 0 };
    for (size_t i = 0; i < r->headers.len; i++)
        if (header_for_app(r->headers.items[i].name))
            http_headers_add(&h, call->pool, r->headers.items[i].name, r->headers.items[i].value);
    if (r->content_type.len)
        http_headers_add(&h, call->pool, BASE_SLICE_LIT("Content-Type"), r->content_type);
    if (r->trace_bin.len == 29) {
        /* daprd http_channel.go constructRequest: traceparent = the span of this hop, set over
         * the one in the metadata */
        const uint8_t *b = (const uint8_t *)r->trace_bin.base;
        char *tp = base_pool_alloc(call->pool, 56);
        if (tp) {
            static const char hex[] = "0123456789abcdef";
            size_t n = 0;
            tp[n++] = '0';
            tp[n++] = '0';
            tp[n++] = '-';
            for (int i = 2; i < 18; i++) {
                tp[n++] = hex[b[i] >> 4];
                tp[n++] = hex[b[i] & 15];
            }
            tp[n++] = '-';
            for (int i = 19; i < 27; i++) {
                tp[n++] = hex[b[i] >> 4];
                tp[n++] = hex[b[i] & 15];
            }
            tp[n++] = '-';
            tp[n++] = hex[b[28] >> 4];
            tp[n++] = hex[b[28] & 15];
            http_headers_set(&h, call->pool, BASE_SLICE_LIT("traceparent"), base_slice(tp, n));
        }
    }
    if (cfg->app_api_token)
        http_headers_set(&h, call->pool, BASE_SLICE_LIT("dapr-api-token"), base_slice_cstr(cfg->app_api_token));
    if (ch->pipeline) {
        start_pipeline(call, &h);
        return;
    }
    char *target = base_pool_printf(call->pool, "/%.*s%s%.*s", (int)r->method.len, r->method.base,
                                    r->query.len ? "?" : "", (int)r->query.len, r->query.base);
    if (!target) {
        finish(call, UV_ENOMEM, "out of memory", NULL);
        return;
    }
    call->obs_start_ns = base_now_ns();
    call->hreq = http_client_request(ch->http, cfg->app_channel_address, cfg->app_port, r->verb,
                                     base_slice_cstr(target), &h, r->content_length, &http_cbs, call);
    if (!call->hreq) {
        finish(call, UV_ENOMEM, "out of memory", NULL);
        return;
    }
    call->obs_sent += call->body.len;
    if (call->body.len)
        http_client_req_write(call->hreq, call->body.base, call->body.len);
    base_buf_free(&call->body);
    if (call->ended)
        http_client_req_end(call->hreq);
}

/* ---- gRPC app ------------------------------------------------------------------------ */

static void on_rpc_headers(rpc_call_t *rc, void *ud, const http_headers_t *md)
{
    appchannel_call_t *call = ud;
    (void)rc;
    for (size_t i = 0; md && i < md->len; i++)
        http_headers_add_copy(&call->head_md, call->pool, md->items[i].name, md->items[i].value);
}

static void on_rpc_message(rpc_call_t *rc, void *ud, base_slice_t msg)
{
    appchannel_call_t *call = ud;
    (void)rc;
    call->obs_recv += msg.len;
    base_buf_free(&call->body);
    base_buf_append(&call->body, msg.base, msg.len); /* the one InvokeResponse */
}

static void on_rpc_close(rpc_call_t *rc, void *ud, int status, base_slice_t message, const http_headers_t *trailers)
{
    appchannel_call_t *call = ud;
    (void)rc;
    call->rcall = NULL;
    if (diag_metrics_on()) {
        /* the ocgrpc client families of daprd's connection to the app */
        diag_record_rpc(DIAG_RPC_CLIENT, ONINVOKE_PATH, status, diag_ms_since(call->obs_start_ns, base_now_ns()),
                        (double)call->obs_sent, (double)call->obs_recv);
    }
    if (call->cancelled) {
        finish(call, 0, NULL, NULL);
        return;
    }
    if (status == RPC_UNAVAILABLE && !trailers) {
        /* no status from the app itself (no trailers): it is not reachable, a channel error
         * as daprd reports it; an app that answers UNAVAILABLE has its answer mapped */
        char err[512];
        snprintf(err, sizeof(err), "rpc error: code = Unavailable desc = %.*s", (int)message.len, message.base);
        finish(call, UV_ECONNREFUSED, err, trailers);
        return;
    }
    ProtobufCAllocator pa = pb_pool_allocator(call->pool);
    invoke_res_t *res = NULL;
    if (status == RPC_OK) {
        res = dapr__proto__common__v1__invoke_response__unpack(&pa, call->body.len, (const uint8_t *)call->body.base);
        if (!res) {
            finish(call, UV_EPROTO, "the app's InvokeResponse could not be parsed", trailers);
            return;
        }
    }
    appchannel_head_t h = {
        .status = status,
        .message = message,
        .headers = &call->head_md,
        .trailers = trailers,
        .grpc = 1,
    };
    if (res) {
        h.content_type = base_slice_cstr(res->content_type ? res->content_type : "");
        if (res->data)
            h.type_url = base_slice_cstr(res->data->type_url ? res->data->type_url : "");
    }
    call->in_cb = 1; /* a cancel from the user's callbacks only marks the call */
    call->cbs.on_head(call, call->ud, &h);
    if (!call->cancelled && res && res->data && res->data->value.len && call->cbs.on_data)
        call->cbs.on_data(call, call->ud, base_slice((const char *)res->data->value.data, res->data->value.len));
    call->in_cb = 0;
    finish(call, 0, NULL, trailers);
}

static const rpc_call_cbs_t rpc_cbs = { on_rpc_headers, on_rpc_message, NULL, on_rpc_close };

/* IANA permanent HTTP headers that daprd renames with a dapr- prefix for gRPC apps
 * (InternalMetadataToGrpcMetadata with httpHeaderConversion): matched on the canonical form,
 * so only HTTP-origin metadata is renamed. */
static int iana_permanent(base_slice_t k)
{
#define N(s) { s, sizeof(s) - 1 }
    static const base_slice_t names[] = {
        N("Accept"), N("Accept-Charset"), N("Accept-Language"), N("Accept-Ranges"), N("Connection"),
        N("Keep-Alive"), N("Proxy-Connection"), N("Transfer-Encoding"), N("Upgrade"), N("Cache-Control"),
        N("Content-Type"), N("Content-Length"), N("Cookie"), N("Date"), N("Expect"), N("From"), N("Host"),
        N("Max-Forwards"), N("Origin"), N("Pragma"), N("Referer"), N("Via"), N("Warning"),
    };
#undef N
    if (base_slice_starts_with(k, "If-"))
        return 1;
    for (size_t i = 0; i < BASE_ARRAY_SIZE(names); i++)
        if (base_slice_eq(k, names[i]))
            return 1;
    return 0;
}

/* daprd's metadata for gRPC apps: keys lower-cased, the IANA permanent headers prefixed with
 * dapr-, destination-app-id dropped; -bin values stay binary (the rpc layer encodes them). */
static int add_grpc_md(appchannel_call_t *call, http_headers_t *md, base_slice_t k, base_slice_t v)
{
    if (base_slice_ieq_cstr(k, "destination-app-id"))
        return 0;
    size_t prefix = iana_permanent(k) ? 5 : 0;
    char *lk = base_pool_alloc(call->pool, prefix + k.len);
    if (!lk)
        return -1;
    memcpy(lk, "dapr-", prefix);
    for (size_t i = 0; i < k.len; i++)
        lk[prefix + i] = (char)base_lower((unsigned char)k.base[i]);
    return http_headers_add(md, call->pool, base_slice(lk, prefix + k.len), v);
}

static void start_grpc(appchannel_call_t *call)
{
    appchannel_t *ch = call->ch;
    appchannel_request_t *r = &call->req;
    http_headers_t md = { 0 };
    for (size_t i = 0; i < r->headers.len; i++)
        if (add_grpc_md(call, &md, r->headers.items[i].name, r->headers.items[i].value) != 0) {
            finish(call, UV_ENOMEM, "out of memory", NULL);
            return;
        }
    if (r->trace_bin.len)
        http_headers_set(&md, call->pool, BASE_SLICE_LIT("grpc-trace-bin"), r->trace_bin);
    if (ch->cfg->app_api_token)
        http_headers_set(&md, call->pool, BASE_SLICE_LIT("dapr-api-token"), base_slice_cstr(ch->cfg->app_api_token));

    invoke_req_t m = DAPR__PROTO__COMMON__V1__INVOKE_REQUEST__INIT;
    Dapr__Proto__Common__V1__HTTPExtension ext = DAPR__PROTO__COMMON__V1__HTTPEXTENSION__INIT;
    Google__Protobuf__Any data = GOOGLE__PROTOBUF__ANY__INIT;
    m.method = base_pool_strndup(call->pool, r->method.base, r->method.len);
    m.content_type = base_pool_strndup(call->pool, r->content_type.base, r->content_type.len);
    ext.verb = (Dapr__Proto__Common__V1__HTTPExtension__Verb)r->verb_enum;
    ext.querystring = base_pool_strndup(call->pool, r->query.base, r->query.len);
    data.value.data = (uint8_t *)call->body.base;
    data.value.len = call->body.len;
    m.data = &data;
    m.http_extension = &ext;
    if (!m.method || !m.content_type || !ext.querystring) {
        finish(call, UV_ENOMEM, "out of memory", NULL);
        return;
    }
    size_t len = dapr__proto__common__v1__invoke_request__get_packed_size(&m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        finish(call, UV_ENOMEM, "out of memory", NULL);
        return;
    }
    dapr__proto__common__v1__invoke_request__pack(&m, buf);
    base_buf_free(&call->body);
    call->obs_start_ns = base_now_ns();
    call->obs_sent = len;
    call->rcall = rpc_call_start(ch->rpc, ch->address, ONINVOKE_PATH, &md, 0, &rpc_cbs, call);
    if (!call->rcall) {
        free(buf);
        finish(call, UV_ENOMEM, "out of memory", NULL);
        return;
    }
    rpc_call_send(call->rcall, buf, len);
    rpc_call_close_send(call->rcall);
    free(buf);
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* The caller holds a slot of the limit (slot_take) when there is one. */
static void start_call(appchannel_call_t *call)
{
    appchannel_t *ch = call->ch;
    call->counted = 1;
    ch->active++;
    call->started = 1;
    if (!ch->grpc)
        start_http(call);
    else if (call->ended)
        start_grpc(call); /* OnInvoke needs the whole body */
}

appchannel_t *appchannel_new(uv_loop_t *loop, const config_t *cfg)
{
    appchannel_t *ch = base_calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    ch->loop = loop;
    ch->cfg = cfg;
    ch->grpc = cfg->app_protocol == CONFIG_APP_GRPC || cfg->app_protocol == CONFIG_APP_GRPCS;
    appchannel_app_address(cfg, ch->address, sizeof(ch->address));
    if (ch->grpc) {
        rpc_client_options_t o = {
            .max_message_size = cfg->max_body_size > 0 ? (size_t)cfg->max_body_size : (size_t)INT32_MAX,
            .max_streams_per_conn = 100,
            .keepalive_time_ms = 10000,
            .keepalive_timeout_ms = 5000,
            .connect_timeout_ms = 30000,
            .idle_conn_timeout_ms = 180000,
        };
        ch->rpc = rpc_client_new(loop, &o);
    } else {
        http_client_options_t o = { 0 }; /* the client's defaults: Go's transport, as daprd's app channel */
        ch->http = http_client_new(loop, &o);
    }
    if (!ch->rpc && !ch->http) {
        base_free(ch);
        return NULL;
    }
    uv_timer_init(loop, &ch->fail_timer);
    ch->fail_timer.data = ch;
    return ch;
}

typedef struct close_ctx {
    appchannel_t *ch;
    void (*done_cb)(void *arg);
    void *arg;
} close_ctx_t;

static void closed(void *arg)
{
    close_ctx_t *cc = arg;
    if (--cc->ch->closing_parts > 0)
        return;
    void (*cb)(void *) = cc->done_cb;
    void *cb_arg = cc->arg;
    base_free(cc->ch);
    base_free(cc);
    if (cb)
        cb(cb_arg);
}

static void handle_closed(uv_handle_t *h)
{
    appchannel_t *ch = h->data;
    closed(ch->close_ctx);
}

void appchannel_close(appchannel_t *ch, void (*done_cb)(void *arg), void *arg)
{
    while (ch->queue_head) {
        appchannel_call_t *c = ch->queue_head;
        ch->queue_head = c->next;
        c->queued = 0;
        finish(c, UV_ECANCELED, "the sidecar is shutting down", NULL);
    }
    ch->queue_tail = NULL;
    flush_failing(&ch->fail_timer);
    close_ctx_t *cc = base_malloc(sizeof(*cc));
    if (!cc)
        abort(); /* cannot happen in practice; nothing sensible is left to do at shutdown */
    *cc = (close_ctx_t){ ch, done_cb, arg };
    ch->close_ctx = cc;
    ch->closing_parts = 2;
    if (ch->wake_open) {
        limit_unregister(ch);
        ch->closing_parts++;
        uv_close((uv_handle_t *)&ch->wake, handle_closed);
    }
    uv_close((uv_handle_t *)&ch->fail_timer, handle_closed);
    if (ch->rpc)
        rpc_client_close(ch->rpc, closed, cc);
    else
        http_client_close(ch->http, closed, cc);
}

appchannel_call_t *appchannel_call(appchannel_t *ch, const appchannel_request_t *req, const appchannel_cbs_t *cbs,
                                   void *ud)
{
    appchannel_call_t *call = base_calloc(1, sizeof(*call));
    if (!call)
        return NULL;
    call->pool = base_pool_create(4096);
    if (!call->pool) {
        base_free(call);
        return NULL;
    }
    call->ch = ch;
    call->cbs = *cbs;
    call->ud = ud;
    appchannel_request_t *r = &call->req;
    *r = *req;
    r->verb = base_pool_slice_dup(call->pool, req->verb);
    r->method = base_pool_slice_dup(call->pool, req->method);
    r->query = base_pool_slice_dup(call->pool, req->query);
    r->content_type = base_pool_slice_dup(call->pool, req->content_type);
    r->trace_bin = base_pool_slice_dup(call->pool, req->trace_bin);
    r->headers = (http_headers_t){ 0 };
    for (size_t i = 0; i < req->headers.len; i++)
        if (http_headers_add_copy(&r->headers, call->pool, req->headers.items[i].name, req->headers.items[i].value) != 0) {
            call_free(call);
            return NULL;
        }
    if (!app_health_ok(ch->health)) {
        end_later(call, UV_EAI_AGAIN, "app is not in a healthy state");
        return call;
    }
    if (!slot_take(ch)) {
        call->queued = 1;
        if (ch->queue_tail)
            ch->queue_tail->next = call;
        else
            ch->queue_head = call;
        ch->queue_tail = call;
        return call;
    }
    start_call(call);
    return call;
}

int appchannel_call_write(appchannel_call_t *call, const void *data, size_t len)
{
    if (call->done || call->ended)
        return -1;
    if (call->pex) {
        http_exchange_t *ex = call->pex;
        if (!ex->done && ex->body_cbs && ex->body_cbs->on_data)
            ex->body_cbs->on_data(ex, base_slice(data, len));
        return 0;
    }
    if (call->hreq) {
        call->obs_sent += len;
        return http_client_req_write(call->hreq, data, len);
    }
    /* gRPC (whole body needed) or still queued: keep it; the caller is bounded by the body
     * limit and by appchannel_call_pending() */
    if (call->ch->grpc && call->ch->cfg->max_body_size > 0 &&
        (int64_t)(call->body.len + len) > call->ch->cfg->max_body_size)
        return -1;
    return base_buf_append(&call->body, data, len);
}

int appchannel_call_end(appchannel_call_t *call)
{
    if (call->done || call->ended)
        return -1;
    call->ended = 1;
    if (call->pex) {
        http_exchange_t *ex = call->pex;
        if (!ex->done && ex->body_cbs && ex->body_cbs->on_end)
            ex->body_cbs->on_end(ex);
        return 0;
    }
    if (call->hreq)
        return http_client_req_end(call->hreq);
    if (call->started && call->ch->grpc && !call->rcall)
        start_grpc(call);
    return 0;
}

size_t appchannel_call_pending(const appchannel_call_t *call)
{
    if (call->hreq)
        return http_client_req_pending(call->hreq);
    /* gathering for gRPC is not pressure: it is bounded by the body limit */
    return call->ch->grpc ? 0 : call->body.len;
}

void appchannel_call_pause(appchannel_call_t *call)
{
    if (call->hreq)
        http_client_req_pause(call->hreq);
}

void appchannel_call_resume(appchannel_call_t *call)
{
    if (call->hreq)
        http_client_req_resume(call->hreq);
}

void appchannel_call_cancel(appchannel_call_t *call)
{
    if (call->done || call->cancelled)
        return;
    call->cancelled = 1;
    if (call->in_cb)
        return; /* the callback that is running finishes the call */
    if (call->failing) {
        appchannel_call_t **pp = &call->ch->failing;
        while (*pp && *pp != call)
            pp = &(*pp)->next;
        if (*pp)
            *pp = call->next;
        call->failing = 0;
        finish(call, UV_ECANCELED, NULL, NULL);
        return;
    }
    if (call->queued) {
        appchannel_t *ch = call->ch;
        appchannel_call_t **pp = &ch->queue_head, *prev = NULL;
        while (*pp && *pp != call) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp)
            *pp = call->next;
        if (ch->queue_tail == call)
            ch->queue_tail = prev;
        call->queued = 0;
        finish(call, UV_ECANCELED, NULL, NULL);
        return;
    }
    if (call->hreq)
        http_client_req_cancel(call->hreq); /* on_http_done frees */
    else if (call->rcall)
        rpc_call_cancel(call->rcall); /* on_rpc_close frees */
    else
        finish(call, UV_ECANCELED, NULL, NULL);
}
