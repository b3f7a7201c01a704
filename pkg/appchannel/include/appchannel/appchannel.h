/*
 * appchannel.h - the callee sidecar's channel to its own app: `--app-protocol http` (an
 * HTTP/1.1 client with a keep-alive pool) or `grpc` (AppCallback/OnInvoke over our gRPC
 * client), behind one call interface.
 *
 * A call streams: the request body goes in with appchannel_call_write() / _end(), the answer
 * comes back as a head, body chunks and a final done. The HTTP channel streams both ways in
 * bounded chunks; the gRPC channel must gather the request body (OnInvoke carries it in one
 * InvokeRequest message) and delivers the app's one InvokeResponse as head + one chunk.
 *
 * One appchannel_t per worker loop; every call and callback on that loop. Callbacks never
 * fire inside the call that started them. `--app-max-concurrency` queues calls beyond the
 * limit (never rejects); health checks (when enabled) make calls fail fast with daprd's
 * "app is not in a healthy state".
 */
#ifndef APPCHANNEL_APPCHANNEL_H
#define APPCHANNEL_APPCHANNEL_H

#include <uv.h>

#include "base/base.h"
#include "base/pool.h"
#include "config/config.h"
#include "http/http.h"
#include "middleware/middleware.h"

typedef struct appchannel appchannel_t;
typedef struct appchannel_call appchannel_call_t;

typedef struct appchannel_request {
    base_slice_t verb;         /* "GET", "POST", ... (upper case) */
    int verb_enum;             /* dapr.proto.common.v1.HTTPExtension.Verb */
    base_slice_t method;       /* already normalised, no leading '/' */
    base_slice_t query;        /* raw query string, no '?' */
    base_slice_t content_type;
    http_headers_t headers;    /* metadata as headers: canonical keys, one entry per value */
    int64_t content_length;    /* -1: unknown */
    base_slice_t trace_bin;    /* grpc-trace-bin (29 bytes) for gRPC apps; may be empty */
} appchannel_request_t;

typedef struct appchannel_head {
    int status;                /* HTTP app: its HTTP status; gRPC app: the gRPC code */
    base_slice_t message;      /* gRPC app: grpc-message on error */
    const http_headers_t *headers; /* app response headers / gRPC initial metadata */
    base_slice_t content_type;
    base_slice_t type_url;     /* gRPC app: InvokeResponse.data.type_url */
    int grpc;                  /* 1 for a gRPC app */
    const http_headers_t *trailers; /* gRPC app trailing metadata (known at head time: OnInvoke is unary) */
} appchannel_head_t;

typedef struct appchannel_cbs {
    void (*on_head)(appchannel_call_t *call, void *ud, const appchannel_head_t *head);
    void (*on_data)(appchannel_call_t *call, void *ud, base_slice_t chunk);
    void (*on_writable)(appchannel_call_t *call, void *ud);
    /* Final, exactly once. err 0: the app answered (head came first); else the app could not
     * be reached or failed mid-answer, `errmsg` says why. trailers: gRPC app trailing metadata. */
    void (*on_done)(appchannel_call_t *call, void *ud, int err, const char *errmsg, const http_headers_t *trailers);
} appchannel_cbs_t;

struct app_health;

/* --app-max-concurrency for the whole sidecar: shared by every worker's channel. Slots are
 * taken with an atomic compare-and-swap; a freed slot wakes the other workers' queues through
 * their uv_async handles (only when the option is set: no cross-thread cost otherwise). */
typedef struct appchannel_limit appchannel_limit_t;
/* Main thread, before the workers start. NULL when cfg sets no limit. */
appchannel_limit_t *appchannel_limit_new(const config_t *cfg);
/* After every channel using it was closed. */
void appchannel_limit_free(appchannel_limit_t *l);

/* cfg outlives the channel. NULL on allocation failure. */
appchannel_t *appchannel_new(uv_loop_t *loop, const config_t *cfg);
/* Health checks (health.h): calls fail while the app is unhealthy. NULL = no checks. Set
 * before the channel is used. */
void appchannel_set_health(appchannel_t *ch, const struct app_health *health);
/* Shares the sidecar's concurrency limit (NULL: none). Set before the channel is used. Returns
 * 0 or -1. */
int appchannel_set_limit(appchannel_t *ch, appchannel_limit_t *limit);
struct mw_chain;
/* spec.appHttpPipeline: HTTP calls run through this chain (built with
 * appchannel_pipeline_handler() as its terminal handler) before reaching the app; a filter's
 * local answer (e.g. 429) is the call's answer. NULL or an empty chain: calls go straight to
 * the app. Set before the channel is used. */
void appchannel_set_pipeline(appchannel_t *ch, const struct mw_chain *chain);
/* The terminal handler of an app pipeline chain: forwards to the app. */
struct mw_handler appchannel_pipeline_handler(void);
/* 1 unless health checks say the app is unhealthy. */
int appchannel_healthy(const appchannel_t *ch);
void appchannel_close(appchannel_t *ch, void (*done_cb)(void *arg), void *arg);

/* Starts a call; the request (and everything it points to) is copied. NULL on allocation
 * failure. */
appchannel_call_t *appchannel_call(appchannel_t *ch, const appchannel_request_t *req, const appchannel_cbs_t *cbs,
                                   void *ud);
int appchannel_call_write(appchannel_call_t *call, const void *data, size_t len);
int appchannel_call_end(appchannel_call_t *call);
size_t appchannel_call_pending(const appchannel_call_t *call);
void appchannel_call_pause(appchannel_call_t *call);
void appchannel_call_resume(appchannel_call_t *call);
/* Gives up on the call: no callback of it fires afterwards (its user data may be freed right
 * after). Safe from inside the call's own callbacks. */
void appchannel_call_cancel(appchannel_call_t *call);

#endif
