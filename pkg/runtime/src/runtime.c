/*
 * runtime.c - start-up, readiness and graceful shutdown.
 *
 * Shutdown (SIGTERM, SIGINT, POST /v1.0/shutdown): health turns 500 at once, every worker
 * stops accepting and closes its idle connections, requests in flight finish; when the grace
 * period (--dapr-graceful-shutdown-seconds) ends first, what is left is closed. Exit 0.
 */
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "internal.h"

static void begin_shutdown(runtime_t *rt, const char *why);

static void on_signal(uv_signal_t *s, int signum)
{
    runtime_t *rt = s->data;
    if (rt->shutting_down) {
        /* a second signal: stop waiting for requests in flight */
        LOG_WARN(BASE_LOG_SCOPE_RUNTIME, "received signal %d again: closing all connections now", signum);
        for (int i = 0; i < rt->worker_count; i++)
            rt_worker_post_close_all(&rt->workers[i]);
        return;
    }
    begin_shutdown(rt, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_grace_over(uv_timer_t *t)
{
    runtime_t *rt = t->data;
    LOG_WARN(BASE_LOG_SCOPE_RUNTIME, "graceful shutdown period of %d s is over: closing the remaining connections",
             rt->cfg->graceful_shutdown_seconds);
    for (int i = 0; i < rt->worker_count; i++)
        rt_worker_post_close_all(&rt->workers[i]);
}

static void begin_shutdown(runtime_t *rt, const char *why)
{
    if (rt->shutting_down)
        return;
    rt->shutting_down = 1;
    LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "Received %s: shutting down gracefully (up to %d s)", why,
             rt->cfg->graceful_shutdown_seconds);
    api_set_state(rt->api, API_DRAINING);
    /* Deregister first, so other sidecars stop routing calls here while we drain. */
    if (rt->resolver)
        resolve_stop(rt->resolver);
    for (int i = 0; i < rt->worker_count; i++)
        rt_worker_post_drain(&rt->workers[i]);
    uv_timer_start(&rt->grace, on_grace_over, (uint64_t)rt->cfg->graceful_shutdown_seconds * 1000u, 0);
}

static void on_shutdown_mail(void *arg)
{
    begin_shutdown(arg, "a shutdown request");
}

/* api hook: runs on a worker thread */
static void request_shutdown(void *arg)
{
    runtime_t *rt = arg;
    loop_mailbox_post(&rt->mailbox, on_shutdown_mail, rt);
}

void rt_on_worker_started(void *arg)
{
    runtime_t *rt = arg;
    if (++rt->workers_started < rt->worker_count || rt->shutting_down)
        return; /* a shutdown that began during start-up keeps health at 500 */
    api_set_state(rt->api, API_READY);
    LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "dapr initialized. Status: Running. Init Elapsed %.0fms",
             (double)(base_now_ns() - rt->start_ns) / 1e6);
}

static void noop_close(uv_handle_t *h)
{
    (void)h;
}

/* After a burst of large bodies the workers' malloc arenas keep the freed memory, and the RSS
 * stays at the burst's peak. Trimming returns whole free pages to the system (glibc's
 * malloc_trim also releases free pages inside the heaps, not only at their top). It runs on
 * the main thread, off the request path; when nothing is free it costs a walk of the free
 * lists, microseconds. */
#define TRIM_PERIOD_MS 1000

static void on_trim(uv_timer_t *t)
{
    (void)t;
    malloc_trim(0);
}

void rt_on_worker_stopped(void *arg)
{
    runtime_t *rt = arg;
    if (++rt->workers_stopped < rt->worker_count)
        return;
    /* every worker is gone: release the main loop */
    uv_close((uv_handle_t *)&rt->sigterm, noop_close);
    uv_close((uv_handle_t *)&rt->sigint, noop_close);
    uv_close((uv_handle_t *)&rt->grace, noop_close);
    uv_close((uv_handle_t *)&rt->trim, noop_close);
    loop_mailbox_close(&rt->mailbox, noop_close);
    rt_metrics_close(rt);
    export_stop(rt->exporter, NULL, NULL); /* flushes what the workers queued, then frees itself */
    rt->exporter = NULL;
    app_health_stop(rt->health, NULL, NULL); /* the workers no longer read it */
    rt->health = NULL;
}

static int worker_count(const config_t *cfg)
{
    long n = cfg->worker_threads > 0 ? cfg->worker_threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > RT_MAX_WORKERS) {
        LOG_WARN(BASE_LOG_SCOPE_RUNTIME, "%ld worker threads requested: using the maximum of %d", n, RT_MAX_WORKERS);
        n = RT_MAX_WORKERS;
    }
    return (int)n;
}

static int build_chains(runtime_t *rt)
{
    char err[256] = "";
    if (mw_chain_build_api(&rt->api_chain, rt->cfg, api_handler(rt->api), err, sizeof(err)) != 0) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "cannot build the HTTP pipeline: %s", err);
        return -1;
    }
    /* spec.appHttpPipeline: its terminal handler forwards to the HTTP app; each worker's app
     * channel runs its calls through it. */
    if (mw_chain_build_app(&rt->app_chain, rt->cfg, appchannel_pipeline_handler(), err, sizeof(err)) != 0) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "cannot build the app HTTP pipeline: %s", err);
        return -1;
    }
    /* The public port serves probes only: no CORS, token or pipeline components (daprd). */
    memset(&rt->public_chain, 0, sizeof(rt->public_chain));
    rt->public_chain.handler = api_public_handler(rt->api);
    return 0;
}

static void close_unadopted_fds(runtime_t *rt)
{
    for (size_t i = 0; i < rt->listener_count; i++)
        for (int w = 0; w < rt->worker_count; w++)
            if (rt->listeners[i].fds[w] > 0) {
                close(rt->listeners[i].fds[w]);
                rt->listeners[i].fds[w] = -1;
            }
}

int runtime_run(const config_t *cfg)
{
    static runtime_t rt_storage; /* the one runtime of the process */
    runtime_t *rt = &rt_storage;
    memset(rt, 0, sizeof(*rt));
    rt->cfg = cfg;
    rt->start_ns = base_now_ns();
    rt->loop = uv_default_loop();
    rt->worker_count = worker_count(cfg);
    rt->server_opts = (http_server_options_t){
        .limits = { .max_header_bytes = (size_t)cfg->read_buffer_size, .max_header_count = 100,
                    .max_request_line = 8192,
                    .max_body_bytes = cfg->max_body_size > 0 ? (uint64_t)cfg->max_body_size : 0 },
        .read_header_timeout_ms = (unsigned)cfg->read_header_timeout_ms,
        .read_body_timeout_ms = (unsigned)cfg->read_body_timeout_ms,
        .idle_timeout_ms = (unsigned)cfg->idle_timeout_ms,
        .write_timeout_ms = 60000,
        .linger_ms = 2000,
    };
    LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "starting Dapr Runtime -- version %s -- Remora %s", REMORA_DAPR_COMPAT_VERSION,
             REMORA_VERSION);
    LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "app id: %s, mode: %s, %d worker thread(s)", cfg->app_id,
             cfg->mode == CONFIG_MODE_KUBERNETES ? "kubernetes" : "standalone", rt->worker_count);

    api_hooks_t hooks = { request_shutdown, rt };
    rt->api = api_new(cfg, &hooks);
    int status = 1;
    if (!rt->api)
        goto fail_api;
    if (build_chains(rt) != 0) {
        status = 2; /* the configuration asks for what cannot be built: a usage error */
        goto fail_api;
    }
    char err[256] = "";
    rt->resolver = resolve_new(cfg, err, sizeof(err));
    if (!rt->resolver) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "cannot set up name resolution: %s", err);
        status = 2;
        goto fail_api;
    }
    if (rt_listeners_open(rt) != 0)
        goto fail_listeners;
    if (rt_metrics_start(rt) != 0)
        goto fail_metrics;
    if (resolve_start(rt->resolver, rt->loop) != 0)
        goto fail_listeners; /* logged by the resolver */
    LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "name resolution: %s", resolve_component(rt->resolver));
    rt->health = app_health_start(rt->loop, cfg); /* NULL when health checks are off */
    rt->app_limit = appchannel_limit_new(cfg);    /* NULL without --app-max-concurrency */

    loop_mailbox_init(rt->loop, &rt->mailbox);
    uv_signal_init(rt->loop, &rt->sigterm);
    uv_signal_init(rt->loop, &rt->sigint);
    rt->sigterm.data = rt->sigint.data = rt;
    uv_signal_start(&rt->sigterm, on_signal, SIGTERM);
    uv_signal_start(&rt->sigint, on_signal, SIGINT);
    uv_timer_init(rt->loop, &rt->grace);
    rt->grace.data = rt;
    uv_timer_init(rt->loop, &rt->trim);
    uv_timer_start(&rt->trim, on_trim, TRIM_PERIOD_MS, TRIM_PERIOD_MS);
    uv_unref((uv_handle_t *)&rt->trim);

    rt->exporter = export_start(rt->loop, cfg, rt->worker_count, rt->rings);
    rt_metrics_add_span_counters(rt);
    for (int i = 0; i < rt->worker_count; i++) {
        rt->workers[i].rt = rt;
        rt->workers[i].index = i;
        if (rt_worker_start(&rt->workers[i]) != 0) {
            LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "cannot start worker thread %d", i);
            /* the workers already running drain; the rest of the fds are closed below */
            for (size_t l = 0; l < rt->listener_count; l++)
                for (int w = i; w < rt->worker_count; w++) {
                    close(rt->listeners[l].fds[w]);
                    rt->listeners[l].fds[w] = -1;
                }
            rt->worker_count = i;
            rt->start_failed = 1;
            begin_shutdown(rt, "a start-up failure");
            break;
        }
    }
    if (rt->worker_count > 0) {
        uv_run(rt->loop, UV_RUN_DEFAULT);
        for (int i = 0; i < rt->worker_count; i++)
            pthread_join(rt->workers[i].thread, NULL);
        status = rt->start_failed ? 1 : 0;
    }
    export_stop(rt->exporter, NULL, NULL); /* when no worker ever ran */
    rt->exporter = NULL;
    resolve_stop(rt->resolver);
    uv_run(rt->loop, UV_RUN_DEFAULT); /* let the resolver's timers close */
    uv_loop_close(rt->loop);
    rt_metrics_free(rt);
    LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "Dapr shutdown completed");
    rt_listeners_cleanup(rt);
    resolve_free(rt->resolver);
    appchannel_limit_free(rt->app_limit);
    mw_chain_destroy(&rt->api_chain);
    mw_chain_destroy(&rt->app_chain);
    api_free(rt->api);
    return status;

fail_metrics:
    rt_metrics_close(rt);
fail_listeners:
    close_unadopted_fds(rt);
    rt_listeners_cleanup(rt);
    resolve_stop(rt->resolver);
    uv_run(rt->loop, UV_RUN_DEFAULT);
    rt_metrics_free(rt);
    resolve_free(rt->resolver);
fail_api:
    mw_chain_destroy(&rt->api_chain);
    mw_chain_destroy(&rt->app_chain);
    api_free(rt->api);
    return status;
}
