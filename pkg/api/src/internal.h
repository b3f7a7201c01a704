/* Shared between the api module's files; not part of its interface. */
#ifndef API_INTERNAL_H
#define API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "api/api.h"
#include "base/buf.h"
#include "router/router.h"

#define API_METADATA_MAX_VALUE (64u * 1024u) /* a PUT /v1.0/metadata value */
#define API_METADATA_MAX_KEYS 256u

typedef struct api_kv {
    char *key;
    char *value;
} api_kv_t;

struct api {
    const config_t *cfg;
    api_hooks_t hooks;
    atomic_int state;
    pthread_mutex_t lock;   /* guards extended */
    api_kv_t *extended;     /* PUT /v1.0/metadata values, sorted by key */
    size_t extended_count;
};

/* Per-request state of a handler that reads the body. */
typedef struct api_request {
    int route;
    struct invoke_call *call;   /* an invocation in flight */
    router_params_t params;
    base_slice_t key;       /* PUT /v1.0/metadata/{key}: the key, percent-decoded */
    base_buf_t body;        /* freed by a pool cleanup */
    int too_large;
} api_request_t;

void api_healthz(api_t *api, mw_exchange_t *x);
void api_healthz_outbound(api_t *api, mw_exchange_t *x);
void api_metadata_get(api_t *api, mw_exchange_t *x);
/* Stores the body of PUT /v1.0/metadata/{key} (the key already percent-decoded). */
void api_metadata_put(api_t *api, mw_exchange_t *x, base_slice_t key, base_slice_t value);
void api_shutdown(api_t *api, mw_exchange_t *x);
/* Everything no route matched: invocation by header/URL, else 404 ERR_DIRECT_INVOKE. */
void api_fallback(api_t *api, mw_exchange_t *x);
/* The request body, end and abort of an invocation started by api_fallback. */
void api_invoke_body(mw_exchange_t *x, base_slice_t chunk);
void api_invoke_end(mw_exchange_t *x);
void api_invoke_abort(mw_exchange_t *x);

#endif
