/*
 * api.h - Dapr's HTTP endpoints: /v1.0/healthz, /v1.0/healthz/outbound, /v1.0/metadata (GET,
 * PUT key), /v1.0/shutdown, and the fallback that every unmatched path reaches (invocation by
 * dapr-app-id header or /v1.0/invoke URL; 404 ERR_DIRECT_INVOKE without a target app).
 *
 * One api_t is shared by every worker: its state is atomic or under its own mutex. Handlers
 * run on the worker loop that owns the request.
 */
#ifndef API_API_H
#define API_API_H

#include "config/config.h"
#include "middleware/middleware.h"

typedef enum api_state {
    API_STARTING = 0, /* healthz 500 */
    API_READY,        /* healthz 204 */
    API_DRAINING,     /* healthz 500 */
} api_state_t;

typedef struct api api_t;

typedef struct api_hooks {
    /* POST /v1.0/shutdown: called on a worker thread after the 204 was queued. Must be
     * thread-safe (the runtime posts to its own loop). */
    void (*request_shutdown)(void *arg);
    void *arg;
} api_hooks_t;

/* cfg must outlive the api. Returns NULL on allocation failure. */
api_t *api_new(const config_t *cfg, const api_hooks_t *hooks);
void api_free(api_t *api);
void api_set_state(api_t *api, api_state_t state);
api_state_t api_get_state(const api_t *api);

/* The terminal handler of the Dapr API chain (every endpoint), and of the public port's chain
 * (health and metadata only; anything else 404). */
mw_handler_t api_handler(api_t *api);

struct invoke;
/* Worker start-up: the invoke_t of this worker thread, used by the invocation endpoints of
 * every request this thread serves (NULL: invocation answers 500 "not ready"). */
void api_bind_worker(struct invoke *inv);
mw_handler_t api_public_handler(api_t *api);

#endif
