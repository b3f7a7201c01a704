/*
 * invoke.h - the caller side of service invocation (daprd pkg/messaging/direct_messaging.go):
 * an HTTP API request for app X becomes an InternalInvokeRequest sent with CallLocalStream
 * to X's sidecar (found by the resolver), or, when X is this sidecar's own app, a call on the
 * local app channel with no network hop. The answer is mapped back to HTTP as daprd does.
 *
 * One invoke_t per worker loop; every call and callback on that loop; callbacks never fire
 * inside invoke_start(). The request body streams: the caller writes chunks as they arrive
 * and pauses while invoke_call_pending() is over INVOKE_HIGH_WATER (on_writable resumes).
 */
#ifndef INVOKE_INVOKE_H
#define INVOKE_INVOKE_H

#include <uv.h>

#include "appchannel/appchannel.h"
#include "config/config.h"
#include "diag/trace.h"
#include "http/http.h"
#include "resolve/resolve.h"
#include "rpc/rpc.h"

#define INVOKE_HIGH_WATER (256u * 1024u)
/* A request body up to this size is kept so the call can be retried (UNAVAILABLE) or re-sent
 * with CallLocal (callee without CallLocalStream); a larger one streams without a copy. */
#define INVOKE_REPLAY_MAX (1u << 20)

typedef struct invoke invoke_t;
typedef struct invoke_call invoke_call_t;

typedef struct invoke_request {
    base_slice_t app_id;
    base_slice_t namespace_;   /* empty: own namespace */
    base_slice_t method;       /* normalised */
    base_slice_t verb;         /* HTTP method of the request */
    base_slice_t query;        /* raw query string */
    const http_headers_t *headers; /* request headers (dapr-api-token already removed) */
    const char *peer;          /* caller's address "ip:port" */
    int64_t content_length;    /* -1 unknown */
    const diag_trace_ctx_t *trace; /* NULL when tracing is off */
} invoke_request_t;

typedef struct invoke_cbs {
    /* The answer's head: HTTP status, headers (valid until on_done returns), body length
     * (-1 unknown). */
    void (*on_head)(invoke_call_t *call, void *ud, int status, const http_headers_t *headers, int64_t content_length);
    void (*on_data)(invoke_call_t *call, void *ud, base_slice_t chunk);
    /* Request-body pressure is off again. */
    void (*on_writable)(invoke_call_t *call, void *ud);
    /* Final. When the call failed before a head: status and the daprd error (tag, message)
     * to answer; after a head, err_message says why the body was cut (NULL: complete). */
    void (*on_done)(invoke_call_t *call, void *ud, int status, const char *err_tag, const char *err_message);
} invoke_cbs_t;

invoke_t *invoke_new(uv_loop_t *loop, const config_t *cfg, rpc_client_t *rpc, resolve_worker_t *resolver,
                     appchannel_t *app);
void invoke_free(invoke_t *inv);

invoke_call_t *invoke_start(invoke_t *inv, const invoke_request_t *req, const invoke_cbs_t *cbs, void *ud);
int invoke_call_write(invoke_call_t *call, const void *data, size_t len);
int invoke_call_end(invoke_call_t *call);
size_t invoke_call_pending(const invoke_call_t *call);
/* Response flow control (the HTTP client reads slowly). */
void invoke_call_pause(invoke_call_t *call);
void invoke_call_resume(invoke_call_t *call);
/* No callback fires afterwards. */
void invoke_call_cancel(invoke_call_t *call);

#endif
