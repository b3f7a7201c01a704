/*
 * invoke.c - caller side of service invocation.
 *
 * Life of a remote call: resolve the target (resolve module) → CallLocalStream with the
 * leading InternalInvokeRequest then payload chunks (seq 0, 1, ...) as the HTTP body arrives
 * → the leading InternalInvokeResponseStream becomes the HTTP head, payload chunks the body.
 * UNIMPLEMENTED from an old callee → the request is re-sent with unary CallLocal; UNAVAILABLE
 * before any answer → up to 3 retries 1 s apart (daprd's built-in retries), both only while the
 * whole body is still kept (INVOKE_REPLAY_MAX).
 *
 * A call object outlives the user's interest in it while a lookup or an rpc call of its own is
 * still in flight (their callbacks must find it): `user_gone` stops user callbacks, and the
 * memory goes once nothing internal is pending (call_release).
 */
#include "invoke/invoke.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "dapr/proto/internals/v1/service_invocation.pb-c.h"
#include "diag/metrics.h"
#include "messaging/messaging.h"
#include "pb/pb.h"

#define SCOPE "dapr.runtime.direct_messaging"
#define MAX_RETRIES 3
#define RETRY_DELAY_MS 1000
#define PATH_STREAM "/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream"
#define PATH_UNARY "/dapr.proto.internals.v1.ServiceInvocation/CallLocal"

typedef Dapr__Proto__Internals__V1__InternalInvokeRequest ireq_t;
typedef Dapr__Proto__Internals__V1__InternalInvokeRequestStream ireq_stream_t;
typedef Dapr__Proto__Internals__V1__InternalInvokeResponse ires_t;
typedef Dapr__Proto__Internals__V1__InternalInvokeResponseStream ires_stream_t;
typedef Dapr__Proto__Common__V1__StreamPayload payload_t;

struct invoke {
    uv_loop_t *loop;
    const config_t *cfg;
    rpc_client_t *rpc;
    resolve_worker_t *resolver;
    appchannel_t *app;
    char hostname[256];
    char host_ip[64]; /* daprd's hostAddress (X-Forwarded-For, Forwarded) */
    char forwarded[400]; /* the Forwarded value this sidecar adds, the same for every call */
};

struct invoke_call {
    invoke_t *inv;
    base_pool_t *pool;
    invoke_cbs_t cbs;
    void *ud;
    char app_id[256];
    char namespace_[256];
    ireq_t req;            /* leading request (no data), in pool */
    base_slice_t trace_bin;
    /* body */
    base_buf_t replay;     /* the whole body while replayable */
    int replayable;
    base_buf_t early;      /* body that arrived before the rpc call existed (not replayable case) */
    int body_ended;
    uint64_t out_seq;
    /* remote */
    resolve_lookup_t lookup;
    int lookup_active;
    rpc_call_t *rpc;
    int unary;
    int attempts;
    uv_timer_t retry_timer;
    int timer_open;
    int paused;
    /* answer */
    int got_leading;
    uint64_t in_seq;
    int head_sent;
    http_headers_t head_headers;
    /* self */
    appchannel_call_t *app;
    /* lifetime */
    int user_gone;         /* done delivered or cancelled: no more user callbacks */
    /* observability: this attempt's start and gRPC message bytes */
    uint64_t attempt_ns;
    uint64_t bytes_out, bytes_in;
    int res_recorded;
    int rpc_recorded;      /* the gRPC client families of this attempt are recorded */
};

/* daprd's caller-side service invocation metrics (pkg/messaging/direct_messaging.go): the
 * response status is the InvokeResponse's (HTTP code for HTTP apps, gRPC code for gRPC apps),
 * or the call's gRPC code when it failed before one arrived. */
static void record_res_recv(invoke_call_t *c, int status)
{
    if (c->res_recorded || !diag_metrics_on())
        return;
    c->res_recorded = 1;
    char num[12];
    base_slice_t l[2] = { base_slice_cstr(c->app_id), diag_status_label(status, num) };
    diag_record(DIAG_SI_RES_RECV, l, diag_ms_since(c->attempt_ns, base_now_ns()));
}

/* The gRPC client families for the call to the other sidecar, when it closes. */
static void record_rpc_close(invoke_call_t *c, int status)
{
    if (!diag_metrics_on())
        return;
    diag_record_rpc(DIAG_RPC_CLIENT, c->unary ? PATH_UNARY : PATH_STREAM, status, diag_ms_since(c->attempt_ns, base_now_ns()),
                    (double)c->bytes_out, (double)c->bytes_in);
}

static void start_attempt(invoke_call_t *c);

/* ---- lifetime ------------------------------------------------------------------------ */

static void call_free(invoke_call_t *c)
{
    base_buf_free(&c->replay);
    base_buf_free(&c->early);
    base_pool_destroy(c->pool);
    base_free(c);
}

static void timer_closed(uv_handle_t *h)
{
    invoke_call_t *c = h->data;
    c->timer_open = 0;
    if (c->user_gone && !c->lookup_active && !c->rpc)
        call_free(c);
}

static void call_release(invoke_call_t *c)
{
    if (!c->user_gone || c->lookup_active || c->rpc)
        return;
    if (c->timer_open) {
        if (!uv_is_closing((uv_handle_t *)&c->retry_timer))
            uv_close((uv_handle_t *)&c->retry_timer, timer_closed);
        return;
    }
    call_free(c);
}

static void deliver_done(invoke_call_t *c, int status, const char *tag, const char *msg)
{
    if (c->user_gone)
        return;
    c->user_gone = 1;
    if (c->cbs.on_done)
        c->cbs.on_done(c, c->ud, status, tag, msg);
}

/* Ends the call with an error; releases c when nothing internal still holds it, so the caller
 * must not touch c afterwards. */
static void fail(invoke_call_t *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(invoke_call_t *c, int status, const char *fmt, ...)
{
    char err[768], msg[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, sizeof(err), fmt, ap);
    va_end(ap);
    if (c->head_sent) {
        deliver_done(c, 0, NULL, err);
    } else {
        snprintf(msg, sizeof(msg), "failed to invoke, id: %s, err: %s", c->app_id, err);
        LOG_DEBUG(SCOPE, "%s", msg);
        deliver_done(c, status, "ERR_DIRECT_INVOKE", msg);
    }
    if (c->rpc)
        rpc_call_cancel(c->rpc);
    if (c->app) {
        appchannel_call_cancel(c->app);
        c->app = NULL;
    }
    call_release(c);
}

/* ---- answer mapping ------------------------------------------------------------------ */

static int64_t content_length_of(const http_headers_t *h)
{
    const base_slice_t *cl = http_headers_get(h, "content-length");
    if (!cl || cl->len == 0 || cl->len > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < cl->len; i++) {
        if (cl->base[i] < '0' || cl->base[i] > '9')
            return -1;
        v = v * 10 + (cl->base[i] - '0');
    }
    return v;
}

/* daprd's gRPC metadata → HTTP header keys (ReservedGRPCMetadataToDaprPrefixHeader). */
static int add_grpc_md_as_header(invoke_call_t *c, base_slice_t k, base_slice_t v)
{
    if (k.len > 4 && memcmp(k.base + k.len - 4, "-bin", 4) == 0)
        return 0;
    if (base_slice_ieq_cstr(k, "content-type") || base_slice_ieq_cstr(k, "destination-app-id"))
        return 0;
    if ((k.len && k.base[0] == ':') || base_slice_starts_with(k, "grpc-")) {
        char *nk = base_pool_printf(c->pool, "dapr-%.*s", (int)(k.len - (k.base[0] == ':')), k.base + (k.base[0] == ':'));
        return nk ? http_headers_add(&c->head_headers, c->pool, base_slice_cstr(nk), v) : -1;
    }
    return http_headers_add(&c->head_headers, c->pool, k, v);
}

/* The answer's head from an InternalInvokeResponse. For a gRPC app error the whole answer is
 * the Status as JSON, returned in *json (the payload that follows is dropped). */
static int map_head(invoke_call_t *c, const ires_t *res, int *status, int64_t *clen, char **json)
{
    int code = res->status ? res->status->code : 0;
    const char *ctype = res->message && res->message->content_type ? res->message->content_type : "";
    http_headers_t raw = { 0 };
    if (msg_headers_from_map(c->pool, res->headers, res->n_headers, &raw) != 0)
        return -1;
    *json = NULL;
    *clen = -1;
    if (code >= 100) {
        /* an HTTP app: its status and headers as they came (multi-value kept) */
        *status = code;
        for (size_t i = 0; i < raw.len; i++)
            if (!msg_is_hop_by_hop(raw.items[i].name) && !base_slice_ieq_cstr(raw.items[i].name, "content-type"))
                http_headers_add(&c->head_headers, c->pool, raw.items[i].name, raw.items[i].value);
        *clen = content_length_of(&raw);
    } else {
        for (size_t i = 0; i < raw.len; i++)
            if (add_grpc_md_as_header(c, raw.items[i].name, raw.items[i].value) != 0)
                return -1;
        if (code == 0) {
            *status = 200;
            if (res->message && res->message->data && res->message->data->type_url &&
                res->message->data->type_url[0])
                ctype = "application/x-protobuf";
        } else {
            *status = msg_http_status_from_grpc(code);
            cJSON *o = cJSON_CreateObject();
            if (!o)
                return -1;
            cJSON_AddNumberToObject(o, "code", code);
            cJSON_AddStringToObject(o, "message", res->status && res->status->message ? res->status->message : "");
            cJSON *details = cJSON_AddArrayToObject(o, "details");
            for (size_t i = 0; details && res->status && i < res->status->n_details; i++) {
                cJSON *d = cJSON_CreateObject();
                if (!d)
                    break;
                cJSON_AddStringToObject(d, "@type", res->status->details[i]->type_url ? res->status->details[i]->type_url : "");
                cJSON_AddItemToArray(details, d);
            }
            *json = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            if (!*json)
                return -1;
            ctype = "application/json";
        }
    }
    if (ctype[0] && http_headers_set(&c->head_headers, c->pool, BASE_SLICE_LIT("Content-Type"),
                                     base_pool_slice_dup(c->pool, base_slice_cstr(ctype))) != 0)
        return -1;
    return 0;
}

static void deliver_head(invoke_call_t *c, int status, int64_t clen)
{
    c->head_sent = 1;
    if (!c->user_gone && c->cbs.on_head)
        c->cbs.on_head(c, c->ud, status, &c->head_headers, clen);
}

static void deliver_data(invoke_call_t *c, base_slice_t d)
{
    if (!c->user_gone && d.len && c->cbs.on_data)
        c->cbs.on_data(c, c->ud, d);
}

/* Handles a whole InternalInvokeResponse (leading stream message or a CallLocal answer). */
static int on_response(invoke_call_t *c, const ires_t *res, base_slice_t unary_body)
{
    int status;
    int64_t clen;
    char *json = NULL;
    if (map_head(c, res, &status, &clen, &json) != 0) {
        fail(c, 500, "out of memory");
        return -1;
    }
    if (!c->app)
        record_res_recv(c, res->status ? res->status->code : 0);
    if (json) {
        deliver_head(c, status, (int64_t)strlen(json));
        deliver_data(c, base_slice_cstr(json));
        cJSON_free(json);
        deliver_done(c, 0, NULL, NULL);
        if (c->rpc) {
            /* the answer is whole: the call is recorded as the callee ends it, not as the
             * cancellation that spares us its trailers */
            record_rpc_close(c, RPC_OK);
            c->rpc_recorded = 1;
            rpc_call_cancel(c->rpc);
        }
        return -1; /* the call is over for the user */
    }
    if (c->unary)
        clen = (int64_t)unary_body.len;
    deliver_head(c, status, clen);
    if (unary_body.len)
        deliver_data(c, unary_body);
    return 0;
}

/* ---- rpc callbacks ------------------------------------------------------------------- */

static void on_rpc_message(rpc_call_t *call, void *ud, base_slice_t msg)
{
    invoke_call_t *c = ud;
    (void)call;
    c->bytes_in += msg.len;
    if (c->user_gone)
        return;
    if (c->unary) {
        ProtobufCAllocator pa = pb_pool_allocator(c->pool);
        ires_t *res = dapr__proto__internals__v1__internal_invoke_response__unpack(&pa, msg.len, (const uint8_t *)msg.base);
        if (!res) {
            fail(c, 500, "failed to parse the InternalInvokeResponse");
            return;
        }
        c->got_leading = 1;
        base_slice_t body = BASE_SLICE_NULL;
        if (res->message && res->message->data)
            body = base_slice((const char *)res->message->data->value.data, res->message->data->value.len);
        on_response(c, res, body);
        return;
    }
    ires_stream_t *m = dapr__proto__internals__v1__internal_invoke_response_stream__unpack(NULL, msg.len, (const uint8_t *)msg.base);
    if (!m) {
        fail(c, 500, "failed to parse the InternalInvokeResponseStream");
        return;
    }
    if (!c->got_leading) {
        c->got_leading = 1;
        if (!m->response || !m->response->status) {
            fail(c, 500, "response does not contain the required fields in the leading chunk");
        } else if (on_response(c, m->response, BASE_SLICE_NULL) == 0 && m->payload) {
            goto payload;
        }
        dapr__proto__internals__v1__internal_invoke_response_stream__free_unpacked(m, NULL);
        return;
    }
    if (m->response) {
        fail(c, 500, "response metadata found in non-leading chunk");
        dapr__proto__internals__v1__internal_invoke_response_stream__free_unpacked(m, NULL);
        return;
    }
payload:
    if (m->payload) {
        if (m->payload->seq != c->in_seq) {
            fail(c, 500, "invalid sequence number received: %llu (expected: %llu)", (unsigned long long)m->payload->seq,
                 (unsigned long long)c->in_seq);
        } else {
            c->in_seq++;
            deliver_data(c, base_slice((const char *)m->payload->data.data, m->payload->data.len));
        }
    }
    dapr__proto__internals__v1__internal_invoke_response_stream__free_unpacked(m, NULL);
}

static void on_rpc_writable(rpc_call_t *call, void *ud)
{
    invoke_call_t *c = ud;
    (void)call;
    if (!c->user_gone && c->cbs.on_writable)
        c->cbs.on_writable(c, c->ud);
}

static void retry_fire(uv_timer_t *t)
{
    invoke_call_t *c = t->data;
    if (c->user_gone) {
        call_release(c);
        return;
    }
    start_attempt(c);
}

static void on_rpc_close(rpc_call_t *call, void *ud, int status, base_slice_t message, const http_headers_t *trailers)
{
    invoke_call_t *c = ud;
    (void)call;
    (void)trailers;
    c->rpc = NULL;
    if (!c->rpc_recorded)
        record_rpc_close(c, status);
    if (status != RPC_OK)
        record_res_recv(c, status);
    if (c->user_gone) {
        call_release(c);
        return;
    }
    if (status == RPC_OK) {
        if (!c->got_leading) {
            fail(c, 500, "the target sidecar closed the call without a response"); /* releases c */
            return;
        }
        deliver_done(c, 0, NULL, NULL);
        call_release(c);
        return;
    }
    if (!c->got_leading && c->replayable) {
        if (status == RPC_UNIMPLEMENTED && !c->unary) {
            c->unary = 1; /* an older callee: re-send with CallLocal once the body is complete */
            if (c->body_ended)
                start_attempt(c);
            return;
        }
        if (status == RPC_UNAVAILABLE && c->attempts <= MAX_RETRIES) {
            resolve_forget(c->inv->resolver, c->app_id, c->namespace_);
            LOG_DEBUG(SCOPE, "retrying the call to %s after: %.*s", c->app_id, (int)message.len, message.base);
            if (!c->timer_open) {
                uv_timer_init(c->inv->loop, &c->retry_timer);
                c->retry_timer.data = c;
                c->timer_open = 1;
            }
            uv_timer_start(&c->retry_timer, retry_fire, RETRY_DELAY_MS, 0);
            return;
        }
    }
    if (status == RPC_UNIMPLEMENTED && !c->unary && !c->got_leading) {
        fail(c, 500, "target app '%s' is running a version of Dapr that does not support streaming-based service invocation",
             c->app_id);
        return;
    }
    int http = status == RPC_PERMISSION_DENIED ? 403 : 500;
    if (status == RPC_UNAVAILABLE && c->attempts > 1)
        fail(c, http, "failed to invoke target %s after %d retries. Error: rpc error: code = %s desc = %.*s", c->app_id,
             c->attempts - 1, "Unavailable", (int)message.len, message.base);
    else
        fail(c, http, "rpc error: code = %s desc = %.*s", msg_grpc_code_name(status), (int)message.len, message.base);
}

static const rpc_call_cbs_t rpc_cbs = { NULL, on_rpc_message, on_rpc_writable, on_rpc_close };

/* ---- sending ------------------------------------------------------------------------- */

static int send_msg(invoke_call_t *c, const ProtobufCMessage *m)
{
    uint8_t stackbuf[4096];
    size_t len;
    uint8_t *buf = msg_pack(m, stackbuf, sizeof(stackbuf), &len);
    if (!buf)
        return -1;
    int r = rpc_call_send(c->rpc, buf, len);
    msg_pack_release(buf, stackbuf);
    c->bytes_out += len;
    return r;
}

static int send_payload(invoke_call_t *c, const void *data, size_t len)
{
    payload_t p = DAPR__PROTO__COMMON__V1__STREAM_PAYLOAD__INIT;
    ireq_stream_t m = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_REQUEST_STREAM__INIT;
    p.data.data = (uint8_t *)data;
    p.data.len = len;
    p.seq = c->out_seq++;
    m.payload = &p;
    return send_msg(c, &m.base);
}

static void on_resolved(resolve_lookup_t *req, int status, const char *address)
{
    invoke_call_t *c = req->data;
    c->lookup_active = 0;
    if (c->user_gone) {
        call_release(c);
        return;
    }
    if (status != 0) {
        fail(c, 500, "%s", resolve_lookup_error(req)); /* the resolver words it as daprd does */
        return;
    }
    http_headers_t md = { 0 };
    if (c->trace_bin.len)
        http_headers_add(&md, c->pool, BASE_SLICE_LIT("grpc-trace-bin"), c->trace_bin);
    c->attempt_ns = base_now_ns();
    c->bytes_in = c->bytes_out = 0;
    c->res_recorded = 0;
    c->rpc_recorded = 0;
    if (diag_metrics_on()) {
        base_slice_t l[2] = { base_slice_cstr(c->app_id), BASE_SLICE_LIT("unary") };
        diag_record(DIAG_SI_REQ_SENT, l, 0);
    }
    c->rpc = rpc_call_start(c->inv->rpc, address, c->unary ? PATH_UNARY : PATH_STREAM, &md, 0, &rpc_cbs, c);
    if (!c->rpc) {
        fail(c, 500, "out of memory");
        return;
    }
    c->out_seq = 0;
    if (c->unary) {
        Dapr__Proto__Common__V1__InvokeRequest msg = *c->req.message;
        Google__Protobuf__Any data = GOOGLE__PROTOBUF__ANY__INIT;
        data.value.data = (uint8_t *)c->replay.base;
        data.value.len = c->replay.len;
        msg.data = &data;
        ireq_t req_full = c->req;
        req_full.message = &msg;
        if (send_msg(c, &req_full.base) != 0)
            goto send_failed;
        rpc_call_close_send(c->rpc);
        return;
    }
    ireq_stream_t lead = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_REQUEST_STREAM__INIT;
    lead.request = &c->req;
    if (send_msg(c, &lead.base) != 0)
        goto send_failed;
    base_buf_t *pending = c->replayable ? &c->replay : &c->early;
    if (pending->len && send_payload(c, pending->base, pending->len) != 0)
        goto send_failed;
    if (!c->replayable)
        base_buf_free(&c->early);
    if (c->body_ended)
        rpc_call_close_send(c->rpc);
    if (c->paused)
        rpc_call_pause_recv(c->rpc);
    return;
send_failed:
    rpc_call_cancel(c->rpc); /* on_close reports it */
}

static void start_attempt(invoke_call_t *c)
{
    c->attempts++;
    c->got_leading = 0;
    c->in_seq = 0;
    c->lookup_active = 1;
    if (resolve_lookup(c->inv->resolver, &c->lookup, c->app_id, c->namespace_, on_resolved, c) != 0) {
        c->lookup_active = 0;
        fail(c, 500, "cannot start name resolution");
    }
}

/* ---- self-invocation ----------------------------------------------------------------- */

static void on_app_head(appchannel_call_t *call, void *ud, const appchannel_head_t *h)
{
    invoke_call_t *c = ud;
    (void)call;
    /* Same mapping as an answer that crossed the internal API. */
    ires_t res = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_RESPONSE__INIT;
    Dapr__Proto__Internals__V1__Status st = DAPR__PROTO__INTERNALS__V1__STATUS__INIT;
    Dapr__Proto__Common__V1__InvokeResponse msg = DAPR__PROTO__COMMON__V1__INVOKE_RESPONSE__INIT;
    Google__Protobuf__Any data = GOOGLE__PROTOBUF__ANY__INIT;
    st.code = h->status;
    st.message = base_pool_strndup(c->pool, h->message.base, h->message.len);
    msg.content_type = base_pool_strndup(c->pool, h->content_type.base, h->content_type.len);
    data.type_url = base_pool_strndup(c->pool, h->type_url.base, h->type_url.len);
    msg.data = &data;
    res.status = &st;
    res.message = &msg;
    if (!st.message || !msg.content_type || !data.type_url ||
        (h->headers && msg_map_from_headers(c->pool, h->headers, !h->grpc, (msg_hdr_entry_t ***)&res.headers,
                                            &res.n_headers) != 0)) {
        fail(c, 500, "out of memory");
        return;
    }
    c->got_leading = 1;
    if (on_response(c, &res, BASE_SLICE_NULL) != 0 && c->app) {
        appchannel_call_cancel(c->app);
        c->app = NULL;
    }
}

static void on_app_data(appchannel_call_t *call, void *ud, base_slice_t chunk)
{
    (void)call;
    deliver_data(ud, chunk);
}

static void on_app_writable(appchannel_call_t *call, void *ud)
{
    invoke_call_t *c = ud;
    (void)call;
    if (!c->user_gone && c->cbs.on_writable)
        c->cbs.on_writable(c, c->ud);
}

static void on_app_done(appchannel_call_t *call, void *ud, int err, const char *errmsg, const http_headers_t *trailers)
{
    invoke_call_t *c = ud;
    (void)call;
    (void)trailers;
    c->app = NULL;
    if (err) {
        fail(c, 500, "error invoking app channel: %s", errmsg ? errmsg : "unknown error"); /* releases c */
        return;
    }
    deliver_done(c, 0, NULL, NULL);
    call_release(c);
}

static const appchannel_cbs_t app_cbs = { on_app_head, on_app_data, on_app_writable, on_app_done };

/* ---- public -------------------------------------------------------------------------- */

static int skip_header(base_slice_t name)
{
    return base_slice_ieq_cstr(name, "dapr-app-id") || base_slice_ieq_cstr(name, "dapr-api-token") ||
           base_slice_ieq_cstr(name, "host") || msg_is_hop_by_hop(name);
}

/* The leading InternalInvokeRequest as daprd fills it (§1.3 of the behaviour notes). */
static int build_request(invoke_call_t *c, const invoke_request_t *r)
{
    base_pool_t *p = c->pool;
    ireq_t *q = &c->req;
    dapr__proto__internals__v1__internal_invoke_request__init(q);
    Dapr__Proto__Common__V1__InvokeRequest *m = base_pool_calloc(p, sizeof(*m));
    Dapr__Proto__Common__V1__HTTPExtension *ext = base_pool_calloc(p, sizeof(*ext));
    if (!m || !ext)
        return -1;
    dapr__proto__common__v1__invoke_request__init(m);
    dapr__proto__common__v1__httpextension__init(ext);
    q->ver = DAPR__PROTO__INTERNALS__V1__APIVERSION__V1;
    q->message = m;
    m->method = base_pool_strndup(p, r->method.base, r->method.len);
    const base_slice_t *ct = http_headers_get(r->headers, "content-type");
    m->content_type = ct ? base_pool_strndup(p, ct->base, ct->len) : (char *)"";
    ext->verb = (Dapr__Proto__Common__V1__HTTPExtension__Verb)msg_verb_from_name(r->verb);
    ext->querystring = base_pool_strndup(p, r->query.base, r->query.len);
    m->http_extension = ext;
    if (!m->method || !m->content_type || !ext->querystring)
        return -1;
    size_t md_cap = 0;
    if (msg_metadata_from_headers(p, r->headers, skip_header, (msg_md_entry_t ***)&q->metadata, &q->n_metadata,
                                  &md_cap) != 0)
        return -1;
    /* daprd's addForwardedHeadersToMetadata (this sidecar's host address and name, appended
     * to the client's values), addDestinationAppIDHeaderToMetadata and
     * addCallerAndCalleeAppIDHeaderToMetadata (set) */
    const char *ip = c->inv->host_ip;
    const char *fwd = c->inv->forwarded;
    msg_md_entry_t ***md = (msg_md_entry_t ***)&q->metadata;
    if ((*ip && msg_metadata_put(p, md, &q->n_metadata, &md_cap, "X-Forwarded-For", base_slice_cstr(ip), 1) != 0) ||
        msg_metadata_put(p, md, &q->n_metadata, &md_cap, "X-Forwarded-Host", base_slice_cstr(c->inv->hostname), 1) != 0 ||
        msg_metadata_put(p, md, &q->n_metadata, &md_cap, "Forwarded", base_slice_cstr(fwd), 1) != 0 ||
        msg_metadata_put(p, md, &q->n_metadata, &md_cap, "destination-app-id", base_slice_cstr(c->app_id), 0) != 0 ||
        msg_metadata_put(p, md, &q->n_metadata, &md_cap, "dapr-caller-app-id", base_slice_cstr(c->inv->cfg->app_id), 0) != 0 ||
        msg_metadata_put(p, md, &q->n_metadata, &md_cap, "dapr-callee-app-id", base_slice_cstr(c->app_id), 0) != 0)
        return -1;
    if (r->trace) {
        /* The client's traceparent stays in the metadata as it came (daprd copies r.Header);
         * this hop's span travels in grpc-trace-bin only: the OpenCensus binary span context
         * (daprd BinaryFromSpanContext), 29 bytes. */
        uint8_t *b = base_pool_alloc(p, 29);
        if (!b)
            return -1;
        b[0] = 0;
        b[1] = 0;
        memcpy(b + 2, r->trace->trace_id, 16);
        b[18] = 1;
        memcpy(b + 19, r->trace->span_id, 8);
        b[27] = 2;
        b[28] = r->trace->flags;
        c->trace_bin = base_slice((const char *)b, 29);
    }
    return 0;
}

invoke_t *invoke_new(uv_loop_t *loop, const config_t *cfg, rpc_client_t *rpc, resolve_worker_t *resolver,
                     appchannel_t *app)
{
    invoke_t *inv = base_calloc(1, sizeof(*inv));
    if (!inv)
        return NULL;
    inv->loop = loop;
    inv->cfg = cfg;
    inv->rpc = rpc;
    inv->resolver = resolver;
    inv->app = app;
    if (gethostname(inv->hostname, sizeof(inv->hostname)) != 0)
        snprintf(inv->hostname, sizeof(inv->hostname), "localhost");
    inv->hostname[sizeof(inv->hostname) - 1] = '\0';
    resolve_host_address(inv->host_ip, sizeof(inv->host_ip));
    if (inv->host_ip[0])
        snprintf(inv->forwarded, sizeof(inv->forwarded), "for=%s;by=%s;host=%s", inv->host_ip, inv->host_ip,
                 inv->hostname);
    else
        snprintf(inv->forwarded, sizeof(inv->forwarded), "host=%s", inv->hostname);
    return inv;
}

void invoke_free(invoke_t *inv)
{
    base_free(inv);
}

static int is_self(const invoke_t *inv, const invoke_request_t *r)
{
    return base_slice_eq(r->app_id, base_slice_cstr(inv->cfg->app_id)) &&
           (r->namespace_.len == 0 || base_slice_eq(r->namespace_, base_slice_cstr(inv->cfg->namespace_)));
}

invoke_call_t *invoke_start(invoke_t *inv, const invoke_request_t *r, const invoke_cbs_t *cbs, void *ud)
{
    invoke_call_t *c = base_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->pool = base_pool_create(4096);
    if (!c->pool) {
        base_free(c);
        return NULL;
    }
    c->inv = inv;
    c->cbs = *cbs;
    c->ud = ud;
    c->replayable = 1;
    snprintf(c->app_id, sizeof(c->app_id), "%.*s", (int)BASE_MIN(r->app_id.len, 255), r->app_id.base);
    snprintf(c->namespace_, sizeof(c->namespace_), "%.*s", (int)BASE_MIN(r->namespace_.len, 255), r->namespace_.base);
    if (build_request(c, r) != 0) {
        call_free(c);
        return NULL;
    }
    if (is_self(inv, r)) {
        appchannel_request_t ar = { 0 };
        ar.verb = r->verb;
        ar.verb_enum = msg_verb_from_name(r->verb);
        ar.method = r->method;
        ar.query = r->query;
        ar.content_type = base_slice_cstr(c->req.message->content_type);
        ar.content_length = r->content_length;
        ar.trace_bin = c->trace_bin;
        if (msg_headers_from_metadata(c->pool, c->req.metadata, c->req.n_metadata, &ar.headers) != 0 ||
            !inv->app || !(c->app = appchannel_call(inv->app, &ar, &app_cbs, c))) {
            call_free(c);
            return NULL;
        }
        return c;
    }
    start_attempt(c);
    return c;
}

int invoke_call_write(invoke_call_t *c, const void *data, size_t len)
{
    if (c->user_gone)
        return -1;
    if (c->app)
        return appchannel_call_write(c->app, data, len);
    if (c->replayable) {
        if (c->replay.len + len <= INVOKE_REPLAY_MAX && base_buf_append(&c->replay, data, len) == 0) {
            return c->rpc && !c->unary ? send_payload(c, data, len) : 0;
        }
        /* too large to keep: from here on the body only streams */
        c->replayable = 0;
        if (c->unary && !c->rpc) {
            /* a CallLocal fallback waits for the whole body, which can no longer be replayed */
            fail(c, 500, "target app '%s' is running a version of Dapr that does not support streaming-based service invocation",
                 c->app_id); /* reported through on_done */
            return 0;
        }
        if (!c->rpc && base_buf_append(&c->early, c->replay.base, c->replay.len) != 0)
            return -1;
        base_buf_free(&c->replay);
    }
    if (!c->rpc)
        return base_buf_append(&c->early, data, len);
    return send_payload(c, data, len);
}

int invoke_call_end(invoke_call_t *c)
{
    if (c->user_gone)
        return -1;
    c->body_ended = 1;
    if (c->app)
        return appchannel_call_end(c->app);
    if (c->unary && !c->rpc && !c->lookup_active && !c->timer_open && c->replayable) {
        start_attempt(c);
        return 0;
    }
    if (c->rpc && !c->unary)
        rpc_call_close_send(c->rpc);
    return 0;
}

size_t invoke_call_pending(const invoke_call_t *c)
{
    if (c->app)
        return appchannel_call_pending(c->app);
    if (c->rpc)
        return rpc_call_pending(c->rpc);
    return c->replayable ? 0 : c->early.len; /* a kept body is bounded by INVOKE_REPLAY_MAX */
}

void invoke_call_pause(invoke_call_t *c)
{
    c->paused = 1;
    if (c->app)
        appchannel_call_pause(c->app);
    else if (c->rpc)
        rpc_call_pause_recv(c->rpc);
}

void invoke_call_resume(invoke_call_t *c)
{
    c->paused = 0;
    if (c->app)
        appchannel_call_resume(c->app);
    else if (c->rpc)
        rpc_call_resume_recv(c->rpc);
}

void invoke_call_cancel(invoke_call_t *c)
{
    c->user_gone = 1;
    if (c->app) {
        appchannel_call_cancel(c->app);
        c->app = NULL;
    }
    if (c->rpc)
        rpc_call_cancel(c->rpc);
    if (c->lookup_active)
        resolve_cancel(&c->lookup);
    call_release(c);
}
