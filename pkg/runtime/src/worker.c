/*
 * worker.c - one worker thread: its own libuv loop and HTTP server, fed by its own listening
 * sockets. The main thread talks to it only through its mailbox (start, drain, close all).
 */
#include <string.h>

#include "base/log.h"
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

static void on_server_idle(http_server_t *s, void *arg)
{
    rt_worker_t *w = arg;
    (void)s;
    /* Nothing is left on this loop but the mailbox: closing it lets uv_run return. */
    loop_mailbox_close(&w->mailbox, mailbox_closed);
}

static void do_drain(void *arg)
{
    rt_worker_t *w = arg;
    http_server_drain(w->server, on_server_idle, w);
}

static void do_close_all(void *arg)
{
    rt_worker_t *w = arg;
    http_server_close_all(w->server);
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
    for (size_t i = 0; i < rt->listener_count; i++) {
        rt_listener_t *l = &rt->listeners[i];
        int r = http_server_listen_fd(w->server, l->fds[w->index], l->is_pipe, l->kind, &l->shared);
        if (r != 0)
            LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "worker %d cannot serve %s: %s", w->index, l->shared.name, uv_strerror(r));
    }
    loop_mailbox_post(&rt->mailbox, rt_on_worker_started, rt);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    http_server_free(w->server);
    w->server = NULL;
    uv_loop_close(&w->loop);
    loop_mailbox_post(&rt->mailbox, rt_on_worker_stopped, rt);
    return NULL;
}

int rt_worker_start(rt_worker_t *w)
{
    runtime_t *rt = w->rt;
    if (uv_loop_init(&w->loop) != 0)
        return -1;
    http_handler_t handler = { rt_on_http_request, rt };
    w->server = http_server_new(&w->loop, &rt->server_opts, &handler);
    if (!w->server || loop_mailbox_init(&w->loop, &w->mailbox) != 0) {
        http_server_free(w->server);
        uv_loop_close(&w->loop);
        return -1;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        loop_mailbox_close(&w->mailbox, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        http_server_free(w->server);
        uv_loop_close(&w->loop);
        return -1;
    }
    return 0;
}
