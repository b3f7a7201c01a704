/*
 * internal.c - CallLocalStream and CallLocal (daprd pkg/api/grpc/daprinternal.go semantics).
 *
 * CallLocalStream: the leading message carries the request (metadata + message, no data),
 * later ones only payload chunks with seq 0, 1, ...; the body streams to the app as it comes
 * and the app's answer streams back: a leading InternalInvokeResponseStream with the response
 * (status, headers, content type), then payload chunks. Neither side holds a whole body.
 * CallLocal: the whole request in one message; the answer gathered into one (bounded by the
 * max body size).
 */
#include "internal/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "dapr/proto/internals/v1/service_invocation.pb-c.h"
#include "messaging/messaging.h"
#include "pb/pb.h"
#include "messaging/method.h"
#include "diag/metrics.h"
#include "diag/span.h"
#include "diag/trace.h"

typedef Dapr__Proto__Internals__V1__InternalInvokeRequest ireq_t;
typedef Dapr__Proto__Internals__V1__InternalInvokeRequestStream ireq_stream_t;
typedef Dapr__Proto__Internals__V1__InternalInvokeResponse ires_t;
typedef Dapr__Proto__Internals__V1__InternalInvokeResponseStream ires_stream_t;
typedef Dapr__Proto__Common__V1__InvokeResponse invoke_res_t;
typedef Dapr__Proto__Common__V1__StreamPayload payload_t;
typedef Dapr__Proto__Internals__V1__Status status_t;

#define SCOPE "dapr.runtime.grpc.internal"

struct internal {
    const config_t *cfg;
    appchannel_t *app;
};

typedef struct call_state {
    internal_t *in;
    rpc_server_call_t *rpc;
    appchannel_call_t *app;
    int unary;
    int got_leading;
    uint64_t next_seq;   /* expected payload seq from the caller */
    uint64_t body_in;    /* request body bytes received: --max-body-size holds on this side too */
    uint64_t out_seq;    /* seq of the next payload we send */
    int finished;        /* rpc call finished or cancelled: touch nothing of it */
    base_buf_t gathered; /* CallLocal: the app's body */
    int head_status;
    base_slice_t head_message;
    http_headers_t head_headers, head_trailers;
    base_slice_t head_ctype, head_type_url;
    int head_grpc;
    appchannel_request_t app_req; /* built from the leading message; the call starts lazily */
    base_slice_t trace_bin;       /* the caller's grpc-trace-bin, for a gRPC app */
    int app_pending;              /* app_req is ready but the app call is not started yet */
    /* observability */
    uint64_t start_ns;
    uint64_t bytes_in, bytes_out; /* gRPC messages received and sent */
    const char *caller;           /* dapr-caller-app-id of the leading message, in the pool */
    int recorded;
    /* this hop's span, continuing the caller's grpc-trace-bin (daprd's gRPC tracing
     * interceptor): the app is handed span_id as its parent */
    int traced;
    uint8_t trace_id[16], span_id[8], parent_id[8], trace_flags;
    uint64_t start_unix_ns;
    base_slice_t method;          /* the invoked method, for the span name */
} call_state_t;

static const char *const method_paths[2] = { INTERNAL_PATH_CALL_LOCAL_STREAM, INTERNAL_PATH_CALL_LOCAL };

/* daprd's callee-side metrics (pkg/api/grpc/daprinternal.go and the ocgrpc server handler):
 * res_sent with the app's status (HTTP code for HTTP apps, gRPC code for gRPC apps) or the
 * call's gRPC error code, and the gRPC server families. Once per call. */
static void record_span(call_state_t *st, int rpc_status, const char *message)
{
    diag_span_t *s = diag_span_reserve();
    if (!s)
        return;
    memcpy(s->trace_id, st->trace_id, 16);
    memcpy(s->span_id, st->span_id, 8);
    memcpy(s->parent_span_id, st->parent_id, 8);
    s->has_parent = 1;
    s->kind = DIAG_SPAN_KIND_SERVER;
    s->start_ns = st->start_unix_ns;
    s->end_ns = diag_now_unix_ns();
    char name[DIAG_SPAN_TEXT_MAX];
    base_slice_t parts[] = { BASE_SLICE_LIT("CallLocal/"), base_slice_cstr(st->in->cfg->app_id), BASE_SLICE_LIT("/"),
                             st->method };
    diag_span_set_name(s, base_slice_join(name, sizeof name, parts, 4));
    diag_span_add_attr_key(s, DIAG_SPAN_KEY_RPC_SERVICE, BASE_SLICE_LIT("ServiceInvocation"));
    diag_span_add_attr_key(s, DIAG_SPAN_KEY_DAPR_INVOKE_METHOD, st->method);
    diag_span_add_attr_key(s, DIAG_SPAN_KEY_DAPR_PROTOCOL, BASE_SLICE_LIT("grpc"));
    diag_span_add_attr_key(s, DIAG_SPAN_KEY_DAPR_API, base_slice_cstr(method_paths[st->unary ? 1 : 0]));
    if (rpc_status != RPC_OK)
        diag_span_set_error(s, base_slice_cstr(message ? message : diag_grpc_code_name(rpc_status)));
    diag_span_commit(s);
}

static void record_end(call_state_t *st, int rpc_status, const char *message)
{
    if (st->recorded)
        return;
    st->recorded = 1;
    if (st->traced && (st->trace_flags & 1) && diag_tracing_export_on())
        record_span(st, rpc_status, message);
    if (!diag_metrics_on())
        return;
    char num[12];
    if (st->caller) {
        int code = rpc_status == RPC_OK ? st->head_status : rpc_status;
        base_slice_t l[2] = { base_slice_cstr(st->caller), diag_status_label(code, num) };
        diag_record(DIAG_SI_RES_SENT, l, 0);
    }
    diag_record_rpc(DIAG_RPC_SERVER, method_paths[st->unary ? 1 : 0], rpc_status, diag_ms_since(st->start_ns, base_now_ns()),
                    (double)st->bytes_out, (double)st->bytes_in);
}

/* The caller's app id, from the leading message's metadata ("unknown" when absent, as daprd). */
static void record_request(call_state_t *st, const ireq_t *req)
{
    st->caller = "unknown";
    for (size_t i = 0; req && i < req->n_metadata; i++) {
        const Dapr__Proto__Internals__V1__InternalInvokeRequest__MetadataEntry *e = req->metadata[i];
        if (e && e->key && strcmp(e->key, "dapr-caller-app-id") == 0 && e->value && e->value->n_values > 0 &&
            e->value->values[0]) {
            st->caller = e->value->values[0];
            break;
        }
    }
    if (diag_metrics_on()) {
        base_slice_t l = base_slice_cstr(st->caller);
        diag_record(DIAG_SI_REQ_RECV, &l, 0);
    }
}

static void finish(call_state_t *st, int status, const char *msg)
{
    if (st->finished)
        return;
    st->finished = 1;
    record_end(st, status, msg);
    rpc_server_call_finish(st->rpc, status, msg, NULL);
}

static void fail_request(call_state_t *st, int status, const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
    if (st->app) {
        appchannel_call_cancel(st->app);
        st->app = NULL;
    }
    finish(st, status, msg);
}

/* ---- app → caller -------------------------------------------------------------------- */

static int send_packed(call_state_t *st, const ProtobufCMessage *m)
{
    uint8_t stackbuf[4096];
    size_t len;
    uint8_t *buf = msg_pack(m, stackbuf, sizeof(stackbuf), &len);
    if (!buf)
        return -1;
    int r = rpc_server_call_send(st->rpc, buf, len);
    msg_pack_release(buf, stackbuf);
    st->bytes_out += len;
    return r;
}

/* Builds the InternalInvokeResponse of the app's head (and, for CallLocal, its body). */
static int build_response(call_state_t *st, base_pool_t *pool, ires_t *res, status_t *status, invoke_res_t *msg,
                          Google__Protobuf__Any *data, base_slice_t body)
{
    dapr__proto__internals__v1__internal_invoke_response__init(res);
    dapr__proto__internals__v1__status__init(status);
    dapr__proto__common__v1__invoke_response__init(msg);
    google__protobuf__any__init(data);
    status->code = st->head_status;
    status->message = base_pool_strndup(pool, st->head_message.base, st->head_message.len);
    msg->content_type = base_pool_strndup(pool, st->head_ctype.base, st->head_ctype.len);
    data->type_url = base_pool_strndup(pool, st->head_type_url.base, st->head_type_url.len);
    data->value.data = (uint8_t *)body.base;
    data->value.len = body.len;
    msg->data = data;
    res->status = status;
    res->message = msg;
    if (!status->message || !msg->content_type || !data->type_url)
        return -1;
    /* HTTP apps' headers travel with canonical keys (daprd: Go's http.Header); gRPC metadata
     * keys stay lower case. */
    if (msg_map_from_headers(pool, &st->head_headers, !st->head_grpc, (msg_hdr_entry_t ***)&res->headers,
                             &res->n_headers) != 0)
        return -1;
    if (st->head_grpc && msg_map_from_headers(pool, &st->head_trailers, 0, (msg_hdr_entry_t ***)&res->trailers,
                                              &res->n_trailers) != 0)
        return -1;
    return 0;
}

static void on_app_head(appchannel_call_t *call, void *ud, const appchannel_head_t *h)
{
    call_state_t *st = ud;
    (void)call;
    if (st->finished)
        return;
    base_pool_t *pool = rpc_server_call_pool(st->rpc);
    st->head_status = h->status;
    st->head_message = base_pool_slice_dup(pool, h->message);
    st->head_ctype = base_pool_slice_dup(pool, h->content_type);
    st->head_type_url = base_pool_slice_dup(pool, h->type_url);
    st->head_grpc = h->grpc;
    for (size_t i = 0; h->headers && i < h->headers->len; i++)
        if (!msg_is_hop_by_hop(h->headers->items[i].name))
            http_headers_add_copy(&st->head_headers, pool, h->headers->items[i].name, h->headers->items[i].value);
    for (size_t i = 0; h->trailers && i < h->trailers->len; i++)
        http_headers_add_copy(&st->head_trailers, pool, h->trailers->items[i].name, h->trailers->items[i].value);
    if (st->unary)
        return; /* answered whole at the end */

    ires_t res;
    status_t status;
    invoke_res_t msg;
    Google__Protobuf__Any data;
    ires_stream_t out = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_RESPONSE_STREAM__INIT;
    if (build_response(st, pool, &res, &status, &msg, &data, BASE_SLICE_NULL) != 0) {
        fail_request(st, RPC_INTERNAL, "error invoking app channel: %s", "out of memory");
        return;
    }
    msg.data = NULL; /* the body follows in payload chunks */
    if (st->head_type_url.len)
        msg.data = &data;
    out.response = &res;
    if (send_packed(st, &out.base) != 0) {
        fail_request(st, RPC_INTERNAL, "error invoking app channel: %s", "cannot send the response");
        return;
    }
}

static void on_app_data(appchannel_call_t *call, void *ud, base_slice_t chunk)
{
    call_state_t *st = ud;
    if (st->finished)
        return;
    if (st->unary) {
        if ((int64_t)(st->gathered.len + chunk.len) > (st->in->cfg->max_body_size > 0 ? st->in->cfg->max_body_size : INT64_MAX) ||
            base_buf_append(&st->gathered, chunk.base, chunk.len) != 0)
            fail_request(st, RPC_RESOURCE_EXHAUSTED, "error invoking app channel: %s", "response larger than the maximum body size");
        return;
    }
    payload_t p = DAPR__PROTO__COMMON__V1__STREAM_PAYLOAD__INIT;
    ires_stream_t out = DAPR__PROTO__INTERNALS__V1__INTERNAL_INVOKE_RESPONSE_STREAM__INIT;
    p.data.data = (uint8_t *)chunk.base;
    p.data.len = chunk.len;
    p.seq = st->out_seq++;
    out.payload = &p;
    if (send_packed(st, &out.base) != 0) {
        fail_request(st, RPC_INTERNAL, "error invoking app channel: %s", "cannot send the response");
        return;
    }
    if (rpc_server_call_pending(st->rpc) > RPC_SEND_HIGH_WATER)
        appchannel_call_pause(call);
}

static void on_app_writable(appchannel_call_t *call, void *ud)
{
    call_state_t *st = ud;
    (void)call;
    if (!st->finished)
        rpc_server_call_resume_recv(st->rpc);
}

static void on_app_done(appchannel_call_t *call, void *ud, int err, const char *errmsg, const http_headers_t *trailers)
{
    call_state_t *st = ud;
    (void)call;
    (void)trailers;
    st->app = NULL;
    base_buf_t gathered = st->gathered;
    st->gathered = BASE_BUF_INIT;
    if (st->finished) {
        base_buf_free(&gathered);
        return;
    }
    if (err) {
        char msg[600];
        snprintf(msg, sizeof(msg), "error invoking app channel: %s", errmsg ? errmsg : "unknown error");
        LOG_DEBUG(SCOPE, "%s", msg);
        finish(st, RPC_INTERNAL, msg);
        base_buf_free(&gathered);
        return;
    }
    if (st->unary) {
        base_pool_t *pool = rpc_server_call_pool(st->rpc);
        ires_t res;
        status_t status;
        invoke_res_t msg;
        Google__Protobuf__Any data;
        if (build_response(st, pool, &res, &status, &msg, &data, base_buf_slice(&gathered)) != 0 ||
            send_packed(st, &res.base) != 0) {
            base_buf_free(&gathered);
            finish(st, RPC_INTERNAL, "error invoking app channel: cannot send the response");
            return;
        }
    }
    base_buf_free(&gathered);
    finish(st, RPC_OK, NULL);
}

static const appchannel_cbs_t app_cbs = { on_app_head, on_app_data, on_app_writable, on_app_done };

/* ---- caller → app -------------------------------------------------------------------- */


/* Starts the app call from the leading request (daprd's validation order and messages). */
static int start_app_call(call_state_t *st, ireq_t *req)
{
    internal_t *in = st->in;
    base_pool_t *pool = rpc_server_call_pool(st->rpc);
    record_request(st, req);
    if (!req || !req->message || req->n_metadata == 0) {
        fail_request(st, RPC_INVALID_ARGUMENT,
                     "parsing InternalInvokeRequest error: request does not contain the required fields in the leading chunk%s",
                     NULL);
        return -1;
    }
    if (!in->app) {
        fail_request(st, RPC_INTERNAL, "app channel is not initialized%s", NULL);
        return -1;
    }
    if (!appchannel_healthy(in->app)) {
        fail_request(st, RPC_INTERNAL, "app is not in a healthy state%s", NULL);
        return -1;
    }
    Dapr__Proto__Common__V1__InvokeRequest *m = req->message;
    appchannel_request_t ar = { 0 };
    const char *why = NULL;
    /* gRPC-origin method: percent sequences are literal (no decoding). */
    if (msg_method_normalize(pool, base_slice_cstr(m->method ? m->method : ""), 0, &ar.method, &why) != 0) {
        fail_request(st, RPC_INVALID_ARGUMENT, "invalid method: %s", why);
        return -1;
    }
    int verb = m->http_extension ? (int)m->http_extension->verb : 0;
    int http_app = in->cfg->app_protocol == CONFIG_APP_HTTP || in->cfg->app_protocol == CONFIG_APP_HTTPS ||
                   in->cfg->app_protocol == CONFIG_APP_H2C;
    /* The app channel's checks (http_channel.go / grpc_channel.go InvokeMethod); daprd wraps
     * their status errors as Internal "error invoking app channel: <error>". */
    if (http_app && !m->http_extension) {
        fail_request(st, RPC_INTERNAL, "error invoking app channel: rpc error: code = InvalidArgument desc = %s",
                     "missing HTTP extension field");
        return -1;
    }
    if (http_app && (verb == 0 || verb == 6)) {
        fail_request(st, RPC_INTERNAL, "error invoking app channel: rpc error: code = InvalidArgument desc = %s",
                     "invalid HTTP verb");
        return -1;
    }
    if (req->ver != DAPR__PROTO__INTERNALS__V1__APIVERSION__V1) {
        char v[16];
        snprintf(v, sizeof(v), "%d", (int)req->ver);
        fail_request(st, RPC_INTERNAL,
                     "error invoking app channel: rpc error: code = Unimplemented desc = Unsupported spec version: %s", v);
        return -1;
    }
    if (!msg_verb_name(verb))
        verb = 3; /* gRPC apps: the verb is not used */
    ar.verb = base_slice_cstr(msg_verb_name(verb));
    ar.verb_enum = verb;
    ar.query = base_slice_cstr(m->http_extension && m->http_extension->querystring ? m->http_extension->querystring : "");
    ar.content_type = base_slice_cstr(m->content_type ? m->content_type : "");
    if (msg_headers_from_metadata(pool, req->metadata, req->n_metadata, &ar.headers) != 0) {
        fail_request(st, RPC_INTERNAL, "error invoking app channel: %s", "out of memory");
        return -1;
    }
    const base_slice_t *cl = http_headers_get(&ar.headers, "content-length");
    ar.content_length = -1;
    if (cl) {
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)BASE_MIN(cl->len, 31), cl->base);
        char *end;
        long long v = strtoll(num, &end, 10);
        if (*end == '\0' && v >= 0)
            ar.content_length = v;
    }
    /* The app call starts with the first payload chunk or at the half-close: then a request
     * that carries no body (no Content-Length, no payload) goes to the app as such rather
     * than as an empty chunked body. */
    st->method = ar.method;
    if (st->traced) {
        /* the app continues this hop's span (daprd B hands its own span to the app) */
        uint8_t *b = base_pool_alloc(pool, 29);
        if (!b) {
            fail_request(st, RPC_INTERNAL, "error invoking app channel: %s", "out of memory");
            return -1;
        }
        memcpy(b, st->trace_bin.base, 29);
        memcpy(b + 19, st->span_id, 8);
        ar.trace_bin = base_slice((const char *)b, 29);
    }
    st->app_req = ar;
    st->app_pending = 1;
    return 0;
}

static int ensure_app_call(call_state_t *st, int at_end)
{
    if (!st->app_pending)
        return 0;
    st->app_pending = 0;
    if (at_end && st->app_req.content_length < 0)
        st->app_req.content_length = 0;
    st->app = appchannel_call(st->in->app, &st->app_req, &app_cbs, st);
    if (!st->app) {
        fail_request(st, RPC_INTERNAL, "error invoking app channel: %s", "out of memory");
        return -1;
    }
    return 0;
}

static int forward_payload(call_state_t *st, const payload_t *p)
{
    if (p->seq != st->next_seq) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%llu (expected: %llu)", (unsigned long long)p->seq,
                 (unsigned long long)st->next_seq);
        fail_request(st, RPC_INTERNAL, "error invoking app channel: invalid sequence number received: %s", msg);
        return -1;
    }
    st->next_seq++;
    st->body_in += p->data.len;
    if (st->in->cfg->max_body_size > 0 && st->body_in > (uint64_t)st->in->cfg->max_body_size) {
        char lim[64];
        snprintf(lim, sizeof(lim), "%lld bytes", (long long)st->in->cfg->max_body_size);
        fail_request(st, RPC_RESOURCE_EXHAUSTED, "request body larger than the maximum body size of %s", lim);
        return -1;
    }
    if (p->data.len && ensure_app_call(st, 0) != 0)
        return -1;
    if (p->data.len && st->app && appchannel_call_write(st->app, p->data.data, p->data.len) != 0) {
        fail_request(st, RPC_INTERNAL, "error invoking app channel: %s", "cannot write the request body");
        return -1;
    }
    if (st->app && appchannel_call_pending(st->app) > RPC_SEND_HIGH_WATER)
        rpc_server_call_pause_recv(st->rpc);
    return 0;
}

static void on_start(rpc_server_call_t *call, void *ctx, const http_headers_t *md, int unary)
{
    call_state_t *st = base_pool_calloc(rpc_server_call_pool(call), sizeof(*st));
    if (!st) {
        rpc_server_call_finish(call, RPC_INTERNAL, "out of memory", NULL);
        return;
    }
    const base_slice_t *tb = md ? http_headers_get(md, "grpc-trace-bin") : NULL;
    if (tb)
        st->trace_bin = base_pool_slice_dup(rpc_server_call_pool(call), *tb);
    /* OpenCensus binary context: version 0, field 0 trace id, field 1 span id, field 2 flags */
    const uint8_t *b = (const uint8_t *)st->trace_bin.base;
    if (st->trace_bin.len == 29 && b[0] == 0 && b[1] == 0 && b[18] == 1 && b[27] == 2) {
        st->traced = 1;
        memcpy(st->trace_id, b + 2, 16);
        memcpy(st->parent_id, b + 19, 8);
        st->trace_flags = b[28];
        diag_random_bytes(st->span_id, 8);
        if ((st->trace_flags & 1) && diag_tracing_export_on())
            st->start_unix_ns = diag_now_unix_ns(); /* only a recorded span needs it */
    }
    st->in = ctx;
    st->rpc = call;
    st->unary = unary;
    st->start_ns = base_now_ns();
    rpc_server_call_set_data(call, st);
}

static void on_start_stream(rpc_server_call_t *call, void *ctx, const http_headers_t *md)
{
    on_start(call, ctx, md, 0);
}

static void on_start_unary(rpc_server_call_t *call, void *ctx, const http_headers_t *md)
{
    on_start(call, ctx, md, 1);
}

static void on_stream_message(rpc_server_call_t *call, void *ctx, base_slice_t msg)
{
    (void)ctx;
    call_state_t *st = rpc_server_call_data(call);
    if (!st || st->finished)
        return;
    st->bytes_in += msg.len;
    /* Payload chunks are decoded with malloc and freed at once, so a long stream does not
     * grow the call's pool; the leading message lives in the pool (the app call keeps
     * pointers into it). */
    ProtobufCAllocator pa = pb_pool_allocator(rpc_server_call_pool(call));
    ireq_stream_t *m = dapr__proto__internals__v1__internal_invoke_request_stream__unpack(
        st->got_leading ? NULL : &pa, msg.len, (const uint8_t *)msg.base);
    if (!m) {
        fail_request(st, RPC_INVALID_ARGUMENT, "parsing InternalInvokeRequest error: %s", "malformed message");
        return;
    }
    if (!st->got_leading) {
        st->got_leading = 1;
        if (start_app_call(st, m->request) == 0 && m->payload)
            forward_payload(st, m->payload);
        return; /* pool-allocated */
    }
    if (m->request)
        fail_request(st, RPC_INTERNAL, "error invoking app channel: request metadata found in non-leading chunk%s", NULL);
    else if (m->payload)
        forward_payload(st, m->payload);
    dapr__proto__internals__v1__internal_invoke_request_stream__free_unpacked(m, NULL);
}

static void on_unary_message(rpc_server_call_t *call, void *ctx, base_slice_t msg)
{
    (void)ctx;
    call_state_t *st = rpc_server_call_data(call);
    if (!st || st->finished)
        return;
    st->bytes_in += msg.len;
    if (st->got_leading) {
        fail_request(st, RPC_INVALID_ARGUMENT, "parsing InternalInvokeRequest error: %s", "more than one message");
        return;
    }
    st->got_leading = 1;
    ProtobufCAllocator pa = pb_pool_allocator(rpc_server_call_pool(call));
    ireq_t *m = dapr__proto__internals__v1__internal_invoke_request__unpack(&pa, msg.len, (const uint8_t *)msg.base);
    if (!m) {
        fail_request(st, RPC_INVALID_ARGUMENT, "parsing InternalInvokeRequest error: %s", "malformed message");
        return;
    }
    if (start_app_call(st, m) != 0)
        return;
    Google__Protobuf__Any *d = m->message->data;
    if (st->app_req.content_length < 0)
        st->app_req.content_length = d ? (int64_t)d->value.len : 0; /* the whole body is here */
    if (ensure_app_call(st, 0) != 0)
        return;
    if (d && d->value.len && appchannel_call_write(st->app, d->value.data, d->value.len) != 0)
        fail_request(st, RPC_INTERNAL, "error invoking app channel: %s", "cannot write the request body");
}

static void on_half_close(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    call_state_t *st = rpc_server_call_data(call);
    if (!st || st->finished)
        return;
    if (!st->got_leading) {
        fail_request(st, RPC_INVALID_ARGUMENT,
                     "parsing InternalInvokeRequest error: request does not contain the required fields in the leading chunk%s",
                     NULL);
        return;
    }
    if (ensure_app_call(st, 1) != 0)
        return;
    if (st->app && appchannel_call_end(st->app) != 0)
        fail_request(st, RPC_INTERNAL, "error invoking app channel: %s", "cannot finish the request body");
}

static void on_writable(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    call_state_t *st = rpc_server_call_data(call);
    if (st && !st->finished && st->app)
        appchannel_call_resume(st->app);
}

static void on_cancel(rpc_server_call_t *call, void *ctx)
{
    (void)ctx;
    call_state_t *st = rpc_server_call_data(call);
    if (!st)
        return;
    if (!st->finished)
        record_end(st, RPC_CANCELLED, "the caller cancelled the call");
    st->finished = 1;
    base_buf_free(&st->gathered);
    if (st->app) {
        appchannel_call_cancel(st->app); /* its on_done sees finished and touches nothing */
        st->app = NULL;
    }
}

internal_t *internal_new(const config_t *cfg, appchannel_t *app)
{
    internal_t *in = base_calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->cfg = cfg;
    in->app = app;
    return in;
}

void internal_free(internal_t *in)
{
    base_free(in);
}

void internal_methods(internal_t *in, rpc_method_t out[INTERNAL_METHOD_COUNT])
{
    out[0] = (rpc_method_t){ INTERNAL_PATH_CALL_LOCAL_STREAM, on_start_stream, on_stream_message, on_half_close,
                             on_writable, on_cancel, in };
    out[1] = (rpc_method_t){ INTERNAL_PATH_CALL_LOCAL, on_start_unary, on_unary_message, on_half_close, on_writable,
                             on_cancel, in };
}
