/*
 * metrics.c - the Prometheus endpoint: the registry every thread records into, and a small
 * HTTP server on the main loop that answers every GET with the merged text (daprd serves its
 * registry on any path of --metrics-port, so `/` and `/metrics` both work).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "diag/process.h"
#include "diag/span.h"
#include "internal.h"

static void on_scrape(void *arg, http_exchange_t *ex, http_listener_kind_t kind)
{
    runtime_t *rt = arg;
    (void)kind;
    base_slice_t m = ex->req.method;
    int head = base_slice_eq(m, BASE_SLICE_LIT("HEAD"));
    if (!head && !base_slice_eq(m, BASE_SLICE_LIT("GET"))) {
        (void)http_headers_add(&ex->res.headers, ex->pool, BASE_SLICE_LIT("Allow"), BASE_SLICE_LIT("GET, HEAD"));
        http_exchange_respond(ex, 405, "text/plain; charset=utf-8", BASE_SLICE_LIT("method not allowed\n"));
        return;
    }
    base_buf_t out = BASE_BUF_INIT;
    if (diag_metrics_scrape(rt->metrics, &out) != 0) {
        base_buf_free(&out);
        http_exchange_respond(ex, 500, "text/plain; charset=utf-8", BASE_SLICE_LIT("out of memory\n"));
        return;
    }
    http_exchange_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8",
                          head ? BASE_SLICE_NULL : base_buf_slice(&out));
    base_buf_free(&out);
}

/* The span exporter's counters (Remora's own families: daprd has none for its exporter). */
static void span_collector(base_buf_t *o, void *arg)
{
    runtime_t *rt = arg;
    diag_span_stats_t st;
    diag_span_stats(&st);
    const char *app = rt->cfg->app_id;
    base_buf_printf(o,
                    "# HELP remora_trace_spans_dropped_total Spans not exported: the worker's queue was full, or the "
                    "collector did not accept the batch.\n"
                    "# TYPE remora_trace_spans_dropped_total counter\n"
                    "remora_trace_spans_dropped_total{app_id=\"%s\",reason=\"queue_full\"} %llu\n"
                    "remora_trace_spans_dropped_total{app_id=\"%s\",reason=\"export_failed\"} %llu\n"
                    "# HELP remora_trace_spans_exported_total Spans accepted by a collector.\n"
                    "# TYPE remora_trace_spans_exported_total counter\n"
                    "remora_trace_spans_exported_total{app_id=\"%s\",exporter=\"zipkin\"} %llu\n"
                    "remora_trace_spans_exported_total{app_id=\"%s\",exporter=\"otlp\"} %llu\n",
                    app, (unsigned long long)st.dropped_queue_full, app, (unsigned long long)st.dropped_export_failed,
                    app, (unsigned long long)st.exported_zipkin, app, (unsigned long long)st.exported_otlp);
}

static int open_socket(const char *host, int port, char *name, size_t namelen)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    char portstr[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof portstr, "%d", port);
    if (getaddrinfo(host && host[0] ? host : NULL, portstr, &hints, &res) != 0 || !res) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "failed to start the metrics server on %s:%d: cannot resolve the address",
                  host, port);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "failed to start the metrics server on %s:%d: %s", host, port,
                  strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    snprintf(name, namelen, res->ai_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host && host[0] ? host : "0.0.0.0",
             port);
    freeaddrinfo(res);
    return fd;
}

int rt_metrics_start(runtime_t *rt)
{
    const config_t *cfg = rt->cfg;
    if (!cfg->enable_metrics || !cfg->spec.metrics_enabled) {
        LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "metrics are disabled");
        return 0;
    }
    diag_metrics_options_t o = {
        .app_id = cfg->app_id,
        .latency_buckets = cfg->spec.latency_buckets,
        .latency_bucket_count = cfg->spec.latency_bucket_count,
        .increased_cardinality = cfg->spec.metrics_increased_cardinality,
        .path_matching = (const char *const *)cfg->spec.metrics_path_matching,
        .path_matching_count = cfg->spec.metrics_path_matching_count,
        .exclude_verbs = cfg->spec.metrics_exclude_verbs,
        .max_threads = rt->worker_count + 1,
    };
    rt->metrics = diag_metrics_new(&o);
    if (!rt->metrics || diag_metrics_bind_thread(rt->metrics) != 0) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "cannot set up metrics: out of memory");
        return -1;
    }
    diag_metrics_add_collector(rt->metrics, diag_process_collector, NULL);
    int fd = open_socket(cfg->metrics_listen_address, cfg->metrics_port, rt->metrics_shared.name,
                         sizeof rt->metrics_shared.name);
    if (fd < 0)
        return -1;
    http_server_options_t so = rt->server_opts;
    so.limits.max_body_bytes = 0;
    http_handler_t h = { on_scrape, rt };
    rt->metrics_server = http_server_new(rt->loop, &so, &h);
    atomic_init(&rt->metrics_shared.connections, 0);
    atomic_init(&rt->metrics_shared.rejected, 0);
    rt->metrics_shared.max_connections = 64;
    int r = rt->metrics_server ? http_server_listen_fd(rt->metrics_server, fd, 0, HTTP_LISTENER_API, &rt->metrics_shared)
                               : UV_ENOMEM;
    if (r != 0) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "failed to start the metrics server on %s: %s", rt->metrics_shared.name,
                  uv_strerror(r));
        close(fd);
        return -1;
    }
    for (size_t i = 0; i < cfg->component_count; i++)
        diag_record(DIAG_COMPONENT_LOADED, NULL, 0);
    LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "metrics server started on %s/", rt->metrics_shared.name);
    return 0;
}

void rt_metrics_add_span_counters(runtime_t *rt)
{
    if (rt->metrics && rt->exporter)
        diag_metrics_add_collector(rt->metrics, span_collector, rt);
}

static void metrics_idle(http_server_t *s, void *arg)
{
    (void)s;
    (void)arg;
}

void rt_metrics_close(runtime_t *rt)
{
    if (rt->metrics_server) {
        http_server_drain(rt->metrics_server, metrics_idle, rt);
        http_server_close_all(rt->metrics_server);
    }
}

void rt_metrics_free(runtime_t *rt)
{
    http_server_free(rt->metrics_server);
    rt->metrics_server = NULL;
    diag_metrics_bind_thread(NULL);
    diag_metrics_free(rt->metrics);
    rt->metrics = NULL;
}
