/* Shared between the runtime's files; not part of its interface. */
#ifndef RUNTIME_INTERNAL_H
#define RUNTIME_INTERNAL_H

#include <pthread.h>
#include <uv.h>

#include "api/api.h"
#include "appchannel/appchannel.h"
#include "appchannel/health.h"
#include "diag/metrics.h"
#include "diag/span.h"
#include "export/export.h"
#include "http/server.h"
#include "internal/internal.h"
#include "invoke/invoke.h"
#include "resolve/resolve.h"
#include "rpc/rpc.h"
#include "loop/mailbox.h"
#include "middleware/middleware.h"
#include "runtime/runtime.h"

#define RT_MAX_WORKERS 64
#define RT_MAX_LISTENERS 16

/* One address served by every worker: TCP sockets bound with SO_REUSEPORT (one per worker),
 * or a Unix socket whose fd each worker gets a dup of. */
typedef struct rt_listener {
    http_listener_kind_t kind;
    int is_pipe;
    int is_rpc;                     /* the internal gRPC API (served by rpc_server_t) */
    char path[108];                 /* Unix socket path, removed at exit */
    int fds[RT_MAX_WORKERS];        /* handed to the workers, which own them afterwards */
    http_listener_shared_t shared;
} rt_listener_t;

typedef struct runtime runtime_t;

typedef struct rt_worker {
    runtime_t *rt;
    int index;
    pthread_t thread;
    uv_loop_t loop;
    loop_mailbox_t mailbox;
    http_server_t *server;
    rpc_server_t *rpc_server;       /* internal gRPC API */
    rpc_client_t *rpc_client;       /* to other sidecars */
    appchannel_t *app;
    resolve_worker_t *resolver;
    invoke_t *invoke;
    internal_t *internal;
    int http_idle, rpc_idle;        /* drained */
    int closing_parts;              /* client and app channel still closing */
} rt_worker_t;

struct runtime {
    const config_t *cfg;
    uv_loop_t *loop; /* main thread: signals, grace timer, control mail */
    loop_mailbox_t mailbox;
    uv_signal_t sigterm, sigint;
    uv_timer_t grace;
    uv_timer_t trim; /* gives freed heap memory back to the system, once a second */
    api_t *api;
    resolve_t *resolver;
    app_health_t *health;
    appchannel_limit_t *app_limit; /* --app-max-concurrency, shared by the workers */
    mw_chain_t api_chain;
    mw_chain_t public_chain;
    mw_chain_t app_chain;   /* spec.appHttpPipeline: wraps the HTTP app channel */
    http_server_options_t server_opts;
    rt_listener_t listeners[RT_MAX_LISTENERS];
    size_t listener_count;
    rt_worker_t workers[RT_MAX_WORKERS];
    int worker_count;
    int workers_started;
    int workers_stopped;
    int shutting_down;
    int start_failed;
    uint64_t start_ns;
    diag_metrics_t *metrics;          /* NULL when metrics are off */
    http_server_t *metrics_server;    /* --metrics-port, on the main loop */
    http_listener_shared_t metrics_shared;
    export_t *exporter;               /* span export; NULL when no exporter is configured */
    diag_span_ring_t *rings[RT_MAX_WORKERS]; /* one per worker, owned by the exporter */
};

/* listen.c: opens every listener of the configuration. Returns 0, or -1 when none of the API
 * addresses could be bound (each failure is logged). */
int rt_listeners_open(runtime_t *rt);
void rt_listeners_cleanup(runtime_t *rt);

/* metrics.c: the registry and the Prometheus endpoint on the main loop. start returns 0 (also
 * when metrics are off) or -1 (logged); close starts closing the server; free after the loop
 * has ended. */
int rt_metrics_start(runtime_t *rt);
void rt_metrics_close(runtime_t *rt);
/* Adds the span exporter's counters to the scrape (when both exist). */
void rt_metrics_add_span_counters(runtime_t *rt);
void rt_metrics_free(runtime_t *rt);

/* worker.c */
int rt_worker_start(rt_worker_t *w);
void rt_worker_post_drain(rt_worker_t *w);
void rt_worker_post_close_all(rt_worker_t *w);
/* Called on the main loop (through the mailbox) by each worker. */
void rt_on_worker_started(void *rt);
void rt_on_worker_stopped(void *rt);
/* The HTTP server's upward hand-off: dispatches to the API or public chain. */
void rt_on_http_request(void *rt, http_exchange_t *ex, http_listener_kind_t kind);

#endif
