/*
 * middleware.h - the HTTP middleware chain (after Envoy's filter manager and nginx's phases).
 *
 * A chain is an ordered list of filters plus a terminal handler. A request runs forward
 * through each filter's on_request; a filter may answer locally (mw_reply*) and return
 * MW_STOP, and then the later filters and the handler never see the request. Any response,
 * local or from the handler, runs back through on_response of every filter that saw the
 * request, in reverse order, before the head is written: CORS and traceparent headers land
 * on a 401 or 413 too. Body chunks pass forward through on_body the same way (the body limit
 * answers 413 there before the handler sees more).
 *
 * Chains are built once at start-up from the immutable configuration and shared read-only by
 * every worker; per-request state lives in mw_exchange_t (allocated in the request pool).
 * Everything runs on the worker loop that owns the request.
 */
#ifndef MIDDLEWARE_MIDDLEWARE_H
#define MIDDLEWARE_MIDDLEWARE_H

#include "base/base.h"
#include "base/err.h"
#include "config/config.h"
#include "diag/trace.h"
#include "http/http.h"

#define MW_MAX_FILTERS 32

typedef enum mw_status {
    MW_CONTINUE = 0, /* pass to the next filter / the handler */
    MW_STOP,         /* the filter answered (mw_reply*); go no further */
} mw_status_t;

typedef struct mw_filter mw_filter_t;
typedef struct mw_exchange mw_exchange_t;

/* A filter's behaviour. Every hook is optional (NULL = pass). */
typedef struct mw_filter_ops {
    const char *name;
    mw_status_t (*on_request)(mw_filter_t *f, mw_exchange_t *x);
    mw_status_t (*on_body)(mw_filter_t *f, mw_exchange_t *x, base_slice_t chunk);
    /* Edit x->http->res before the head goes out. Must not reply. */
    void (*on_response)(mw_filter_t *f, mw_exchange_t *x);
    void (*destroy)(mw_filter_t *f);
} mw_filter_ops_t;

/* Embedded as the first member of each filter's own struct. Filters are shared by all
 * workers: any mutable state a filter keeps must be per-thread or atomic. */
struct mw_filter {
    const mw_filter_ops_t *ops;
};

/* The terminal handler (router + API). on_request must eventually reply. on_body/on_end
 * deliver the request body (chunk valid only during the call). on_abort: the client went away
 * or the server is shutting down; the exchange is freed right after. */
typedef struct mw_handler {
    void (*on_request)(void *ctx, mw_exchange_t *x);
    void (*on_body)(void *ctx, mw_exchange_t *x, base_slice_t chunk);
    void (*on_end)(void *ctx, mw_exchange_t *x);
    void (*on_abort)(void *ctx, mw_exchange_t *x);
    void *ctx;
} mw_handler_t;

typedef struct mw_chain {
    mw_filter_t *filters[MW_MAX_FILTERS];
    size_t count;
    mw_handler_t handler;
} mw_chain_t;

struct mw_exchange {
    http_exchange_t *http;
    const mw_chain_t *chain;
    http_listener_kind_t listener;
    size_t reached;           /* filters whose on_request ran (they get on_response) */
    diag_trace_ctx_t trace;   /* set by the tracing filter; zero when tracing is off */
    unsigned traced : 1;      /* the tracing filter ran and trace is valid */
    unsigned replied : 1;     /* a response head is on its way */
    unsigned in_handler : 1;  /* the request reached the handler (cleared when a filter cuts it off) */
    unsigned in_filter : 1;   /* a filter hook is running (private to the chain) */
    unsigned recorded : 1;    /* the HTTP server metrics of this exchange are recorded */
    uint64_t res_bytes;       /* response body bytes sent so far */
    base_slice_t invoke_app;  /* service invocation: the target app id and the method, set by */
    base_slice_t invoke_method; /* the handler (they name the request's span, as daprd does) */
    void *handler_data;       /* the handler's per-request state */
    void *filter_data[MW_MAX_FILTERS]; /* per filter, indexed by position in the chain */
    /* What the handler reports about the request for the filters that log it, set in its
     * on_request (daprd's EndpointCtxData): the endpoint name ("GetMetadata", "InvokeService"
     * ...; NULL until set), the target app id of an invocation as addressed (empty
     * otherwise), and whether the endpoint is a health check. */
    const char *endpoint;
    base_slice_t endpoint_app_id;
    unsigned endpoint_health : 1;
};

/* Entry point from the HTTP server: allocates the mw_exchange_t in ex->pool and runs the
 * chain. Wire it as the http_handler_t's on_request with ctx = the chain. */
void mw_chain_on_request(void *chain, http_exchange_t *ex, http_listener_kind_t kind);
/* Destroys every filter (at shutdown, after the workers stopped). */
void mw_chain_destroy(mw_chain_t *chain);
/* Appends a filter; returns 0, or -1 when the chain is full. */
int mw_chain_add(mw_chain_t *chain, mw_filter_t *f);
/* The per-exchange slot of filter f (x->filter_data[its position]); for filters, which do not
 * know where they sit in a chain. NULL when f is not in x's chain. */
void **mw_filter_data(mw_exchange_t *x, const mw_filter_t *f);

/*
 * Replying, from a filter's on_request/on_body or from the handler. These run on_response of
 * the filters that saw the request (reverse order), then write the head. mw_reply sends a whole
 * body; mw_reply_head starts a streamed one continued with mw_send_body. mw_reply_error sends
 * Dapr's JSON {"errorCode","message"} with the table's status; `message` NULL → the table's
 * text. Each returns 0, or -1 when the client is gone.
 */
int mw_reply(mw_exchange_t *x, int status, const char *content_type, base_slice_t body);
int mw_reply_head(mw_exchange_t *x, int status);
int mw_send_body(mw_exchange_t *x, const void *data, size_t len, int last);
int mw_reply_error(mw_exchange_t *x, base_err_t err, const char *message);
/* Same, with an explicit status (for errors whose status varies, e.g. 403 invoke). */
int mw_reply_error_status(mw_exchange_t *x, int status, base_err_t err, const char *message);
/*
 * Replying twice returns -1 (logged at debug) and sends nothing. A filter that answers from
 * on_body after the request reached the handler cuts the handler off: the chain calls
 * handler.on_abort first (the handler must drop its work and not touch x again), then sends
 * the filter's response. After mw_reply, or mw_send_body with `last`, the exchange may be
 * freed: the caller must not touch x again, and a filter that replied returns MW_STOP at once.
 */

/* The built-in filters. Each returns NULL when it has nothing to do for this configuration
 * (e.g. CORS with --allowed-origins "", API token without DAPR_API_TOKEN, tracing with
 * samplingRate 0) and then sets errno to 0, or on allocation failure and then sets errno to
 * ENOMEM. Called on the main thread at start-up; the filter copies what it keeps from cfg. */
mw_filter_t *mw_tracing_new(const config_t *cfg);
mw_filter_t *mw_apitoken_new(const config_t *cfg);
mw_filter_t *mw_cors_new(const config_t *cfg);
mw_filter_t *mw_bodylimit_new(const config_t *cfg);
/* The API log (daprd's "HTTP API Called", scope dapr.runtime.http-info), when API logging is
 * on: --enable-api-logging when given, else spec.logging.apiLogging.enabled. One line per
 * request that reached it, written when the exchange ends (status, body size, duration). */
mw_filter_t *mw_apilog_new(const config_t *cfg);
/* Builds the filter for one spec.httpPipeline handler from its component (e.g. ratelimit).
 * Returns NULL and writes a one-line reason into err for an unknown type or bad metadata. */
mw_filter_t *mw_component_new(const config_handler_t *h, char *err, size_t errlen);

/*
 * Builds the API server chain in daprd's order: tracing → API token → CORS → body limit →
 * spec.httpPipeline components → API log → handler. Returns 0, or -1 with a reason in err.
 */
int mw_chain_build_api(mw_chain_t *chain, const config_t *cfg, mw_handler_t handler, char *err, size_t errlen);
/* Builds the app channel chain from spec.appHttpPipeline (components only). */
int mw_chain_build_app(mw_chain_t *chain, const config_t *cfg, mw_handler_t handler, char *err, size_t errlen);

#endif
