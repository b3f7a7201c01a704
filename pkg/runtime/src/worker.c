/*
 * worker.c - one worker thread: its own libuv loop with the HTTP API server, the internal
 * gRPC server, and everything a request needs on the way (rpc client to other sidecars, app
 * channel, resolver cache, invoke and internal services). The main thread talks to it only
 * through its mailbox (drain, close all).
 *
 * Teardown order: both servers drain (or are closed); then the app channel and the rpc
 * client close and the resolver cache is released; when those have closed their handles, the
 * mailbox closes and uv_run returns.
 */
#include <string.h>

#include "base/log.h"
#include "base/pool.h"
#include "internal.h"

void rt_on_http_request(void *arg, http_exchange_t *ex, http_listener_kind_t kind)
{
    runtime_t *rt = arg;
    mw_chain_on_request(kind == HTTP_LISTENER_PUBLIC ? &rt->public_chain : &rt->api_chain, ex, kind);
}

static void mailbox_closed(uv_handle_t *h)
{
    (void)h;
}

static void part_closed(void *arg)
{
    rt_worker_t *w = arg;
    if (--w->closing_parts > 0)
        return;
    /* Nothing is left on this loop but the mailbox: closing it lets uv_run return. */
    loop_mailbox_close(&w->mailbox, mailbox_closed);
}

/* Both servers are empty: release the client side. */
static void teardown(rt_worker_t *w)
{
    api_bind_worker(NULL);
    invoke_free(w->invoke);
    w->invoke = NULL;
    resolve_worker_free(w->resolver);
    w->resolver = NULL;
    w->closing_parts = 1; /* held until both closes are started */
    if (w->app) {
        w->closing_parts++;
        appchannel_close(w->app, part_closed, w);
        w->app = NULL;
    }
    if (w->rpc_client) {
        w->closing_parts++;
        rpc_client_close(w->rpc_client, part_closed, w);
        w->rpc_client = NULL;
    }
    part_closed(w);
}

static void check_drained(rt_worker_t *w)
{
    if (w->http_idle && w->rpc_idle)
        teardown(w);
}

static void on_http_idle(http_server_t *s, void *arg)
{
    rt_worker_t *w = arg;
    (void)s;
    w->http_idle = 1;
    check_drained(w);
}

static void on_rpc_idle(void *arg)
{
    rt_worker_t *w = arg;
    w->rpc_idle = 1;
    check_drained(w);
}

static void do_drain(void *arg)
{
    rt_worker_t *w = arg;
    http_server_drain(w->server, on_http_idle, w);
    rpc_server_drain(w->rpc_server, on_rpc_idle, w);
}

static void do_close_all(void *arg)
{
    rt_worker_t *w = arg;
    http_server_close_all(w->server);
    rpc_server_close_all(w->rpc_server);
}

void rt_worker_post_drain(rt_worker_t *w)
{
    loop_mailbox_post(&w->mailbox, do_drain, w);
}

void rt_worker_post_close_all(rt_worker_t *w)
{
    loop_mailbox_post(&w->mailbox, do_close_all, w);
}

static void *worker_main(void *arg)
{
    rt_worker_t *w = arg;
    runtime_t *rt = w->rt;
    api_bind_worker(w->invoke);
    if (rt->metrics && diag_metrics_bind_thread(rt->metrics) != 0)
        LOG_WARN(BASE_LOG_SCOPE_RUNTIME, "worker %d records no metrics: no room in the registry", w->index);
    if (rt->exporter)
        diag_span_bind_thread(rt->rings[w->index]);
    for (size_t i = 0; i < rt->listener_count; i++) {
        rt_listener_t *l = &rt->listeners[i];
        int r = l->is_rpc ? rpc_server_listen_fd(w->rpc_server, l->fds[w->index])
                          : http_server_listen_fd(w->server, l->fds[w->index], l->is_pipe, l->kind, &l->shared);
        if (r != 0)
            LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "worker %d cannot serve %s: %s", w->index, l->shared.name, uv_strerror(r));
        l->fds[w->index] = -1; /* owned by the server now */
    }
    loop_mailbox_post(&rt->mailbox, rt_on_worker_started, rt);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    http_server_free(w->server);
    w->server = NULL;
    rpc_server_free(w->rpc_server);
    w->rpc_server = NULL;
    internal_free(w->internal);
    w->internal = NULL;
    uv_loop_close(&w->loop);
    base_pool_cache_release();
    diag_metrics_bind_thread(NULL);
    diag_span_bind_thread(NULL);
    loop_mailbox_post(&rt->mailbox, rt_on_worker_stopped, rt);
    return NULL;
}

/* Builds the worker's services on its loop (before its thread runs). Returns 0 or -1. */
static int build_services(rt_worker_t *w)
{
    runtime_t *rt = w->rt;
    const config_t *cfg = rt->cfg;
    size_t max_msg = cfg->max_body_size > 0 ? (size_t)cfg->max_body_size : (size_t)INT32_MAX;
    /* daprd's dial and server settings (dapr-behaviour §1.7) */
    rpc_client_options_t co = {
        .max_message_size = max_msg,
        .max_streams_per_conn = 100,
        .keepalive_time_ms = 10000,
        .keepalive_timeout_ms = 5000,
        .connect_timeout_ms = 30000,
        .idle_conn_timeout_ms = 180000,
    };
    rpc_server_options_t so = {
        .max_message_size = max_msg,
        .max_concurrent_streams = 1000,
        .keepalive_time_ms = 10000,
        .keepalive_timeout_ms = 5000,
        .idle_conn_timeout_ms = 180000,
        .max_header_list_size = (size_t)cfg->read_buffer_size << 10,
    };
    w->rpc_client = rpc_client_new(&w->loop, &co);
    w->app = appchannel_new(&w->loop, cfg);
    if (w->app) {
        appchannel_set_health(w->app, rt->health);
        appchannel_set_pipeline(w->app, &rt->app_chain);
        if (appchannel_set_limit(w->app, rt->app_limit) != 0)
            return -1;
    }
    w->resolver = resolve_worker_new(rt->resolver, &w->loop);
    if (!w->rpc_client || !w->app || !w->resolver)
        return -1;
    w->invoke = invoke_new(&w->loop, cfg, w->rpc_client, w->resolver, w->app);
    w->internal = internal_new(cfg, w->app);
    if (!w->invoke || !w->internal)
        return -1;
    rpc_method_t methods[INTERNAL_METHOD_COUNT];
    internal_methods(w->internal, methods);
    w->rpc_server = rpc_server_new(&w->loop, &so, methods, INTERNAL_METHOD_COUNT);
    return w->rpc_server ? 0 : -1;
}

int rt_worker_start(rt_worker_t *w)
{
    runtime_t *rt = w->rt;
    if (uv_loop_init(&w->loop) != 0)
        return -1;
    http_handler_t handler = { rt_on_http_request, rt };
    w->server = http_server_new(&w->loop, &rt->server_opts, &handler);
    if (!w->server || build_services(w) != 0 || loop_mailbox_init(&w->loop, &w->mailbox) != 0)
        goto fail;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        loop_mailbox_close(&w->mailbox, NULL);
        goto fail;
    }
    return 0;
fail:
    /* Release what was built, on this loop, before it is closed. */
    w->http_idle = w->rpc_idle = 1;
    invoke_free(w->invoke);
    resolve_worker_free(w->resolver);
    if (w->app)
        appchannel_close(w->app, NULL, NULL);
    if (w->rpc_client)
        rpc_client_close(w->rpc_client, NULL, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    http_server_free(w->server);
    rpc_server_free(w->rpc_server);
    internal_free(w->internal);
    uv_loop_close(&w->loop);
    memset(w, 0, sizeof(*w));
    return -1;
}
