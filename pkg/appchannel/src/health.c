/*
 * health.c - the app health prober (daprd pkg/apphealth/health.go semantics).
 */
#include "appchannel/health.h"
#include "address.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/pool.h"
#include "diag/metrics.h"
#include "http/client.h"
#include "rpc/rpc.h"

#define SCOPE "dapr.runtime.apphealth"
#define HEALTH_PATH "/dapr.proto.runtime.v1.AppCallbackHealthCheck/HealthCheck"

struct app_health {
    const config_t *cfg;
    uv_loop_t *loop;
    uv_timer_t timer;
    atomic_int healthy;
    int failures;
    int probing;     /* a probe is in flight */
    int probe_status; /* HTTP status of the probe in flight */
    uint64_t probe_ns; /* when it started */
    int stopping;
    http_client_t *http;
    rpc_client_t *rpc;
    char address[300];
    void (*done_cb)(void *arg);
    void *done_arg;
    int closing_parts;
};

static void record(app_health_t *h, int ok, const char *why)
{
    h->probing = 0;
    if (ok) {
        h->failures = 0;
        if (!atomic_exchange(&h->healthy, 1))
            LOG_INFO(SCOPE, "App entered healthy status");
        return;
    }
    if (h->failures < h->cfg->app_health_threshold)
        h->failures++;
    if (h->failures >= h->cfg->app_health_threshold && atomic_exchange(&h->healthy, 0))
        LOG_WARN(SCOPE, "App entered un-healthy status: %s", why);
}

/* ---- HTTP probe: GET <path>, healthy on 2xx ---------------------------------------- */

static void on_http_head(http_client_req_t *req, void *ud, int status, const http_headers_t *headers)
{
    app_health_t *h = ud;
    (void)req;
    (void)headers;
    h->probe_status = status;
}

static void on_http_done(http_client_req_t *req, void *ud, int err, const char *errmsg)
{
    app_health_t *h = ud;
    (void)req;
    if (h->stopping)
        return;
    char why[300];
    if (err)
        snprintf(why, sizeof(why), "%s", errmsg ? errmsg : "probe failed");
    else
        snprintf(why, sizeof(why), "health check returned HTTP %d", h->probe_status);
    if (h->probe_status && diag_metrics_on()) {
        char num[12];
        base_slice_t l = diag_status_label(h->probe_status, num);
        diag_record(DIAG_HTTP_HEALTH, &l, diag_ms_since(h->probe_ns, base_now_ns()));
    }
    record(h, !err && h->probe_status >= 200 && h->probe_status < 300, why);
}

static const http_client_cbs_t http_cbs = { on_http_head, NULL, NULL, on_http_done };

/* ---- gRPC probe: AppCallbackHealthCheck/HealthCheck -------------------------------- */

static void on_rpc_close(rpc_call_t *call, void *ud, int status, base_slice_t message, const http_headers_t *trailers)
{
    app_health_t *h = ud;
    (void)call;
    (void)trailers;
    if (h->stopping)
        return;
    char why[300];
    snprintf(why, sizeof(why), "health check returned %s: %.*s", rpc_status_name(status), (int)message.len,
             message.base);
    if (diag_metrics_on()) {
        base_slice_t l = base_slice_cstr(diag_grpc_code_name(status));
        diag_record(DIAG_GRPC_HEALTH, &l, diag_ms_since(h->probe_ns, base_now_ns()));
    }
    record(h, status == RPC_OK, why);
}

static const rpc_call_cbs_t rpc_cbs = { NULL, NULL, NULL, on_rpc_close };

static void probe(uv_timer_t *t)
{
    app_health_t *h = t->data;
    if (h->probing || h->stopping)
        return;
    h->probing = 1;
    h->probe_status = 0;
    h->probe_ns = base_now_ns();
    const config_t *cfg = h->cfg;
    if (h->rpc) {
        static const uint8_t empty[1];
        rpc_call_t *c = rpc_call_start(h->rpc, h->address, HEALTH_PATH, NULL, (uint64_t)cfg->app_health_probe_timeout_ms,
                                       &rpc_cbs, h);
        if (!c) {
            record(h, 0, "out of memory");
            return;
        }
        rpc_call_send(c, empty, 0); /* google.protobuf.Empty */
        rpc_call_close_send(c);
    } else {
        http_client_req_t *r = http_client_request(h->http, cfg->app_channel_address, cfg->app_port,
                                                   BASE_SLICE_LIT("GET"), base_slice_cstr(cfg->app_health_check_path),
                                                   NULL, 0, &http_cbs, h);
        if (!r)
            record(h, 0, "out of memory");
    }
}

app_health_t *app_health_start(uv_loop_t *main_loop, const config_t *cfg)
{
    if (!cfg->app_health_check_enabled)
        return NULL;
    app_health_t *h = base_calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->cfg = cfg;
    h->loop = main_loop;
    atomic_init(&h->healthy, 0); /* daprd starts unhealthy until the first success */
    h->failures = cfg->app_health_threshold;
    int grpc = cfg->app_protocol == CONFIG_APP_GRPC || cfg->app_protocol == CONFIG_APP_GRPCS;
    appchannel_app_address(cfg, h->address, sizeof(h->address));
    if (grpc) {
        rpc_client_options_t o = { .connect_timeout_ms = (unsigned)cfg->app_health_probe_timeout_ms };
        h->rpc = rpc_client_new(main_loop, &o);
    } else {
        /* the probe's own timeout covers connect and the answer's head */
        http_client_options_t o = { .connect_timeout_ms = (unsigned)cfg->app_health_probe_timeout_ms,
                                    .response_header_timeout_ms = (unsigned)cfg->app_health_probe_timeout_ms };
        h->http = http_client_new(main_loop, &o);
    }
    if (!h->rpc && !h->http) {
        base_free(h);
        return NULL;
    }
    uv_timer_init(main_loop, &h->timer);
    h->timer.data = h;
    uv_unref((uv_handle_t *)&h->timer); /* never keeps the main loop alive by itself */
    uint64_t every = (uint64_t)cfg->app_health_probe_interval_s * 1000u;
    uv_timer_start(&h->timer, probe, 0, every ? every : 5000);
    LOG_INFO(SCOPE, "app health checks on: every %ds, timeout %dms, threshold %d", cfg->app_health_probe_interval_s,
             cfg->app_health_probe_timeout_ms, cfg->app_health_threshold);
    return h;
}

static void part_closed(void *arg)
{
    app_health_t *h = arg;
    if (--h->closing_parts > 0)
        return;
    void (*cb)(void *) = h->done_cb;
    void *cb_arg = h->done_arg;
    base_free(h);
    if (cb)
        cb(cb_arg);
}

static void timer_closed(uv_handle_t *handle)
{
    part_closed(handle->data);
}

void app_health_stop(app_health_t *h, void (*done_cb)(void *arg), void *arg)
{
    if (!h) {
        if (done_cb)
            done_cb(arg);
        return;
    }
    h->stopping = 1;
    h->done_cb = done_cb;
    h->done_arg = arg;
    h->closing_parts = 2;
    uv_close((uv_handle_t *)&h->timer, timer_closed);
    if (h->rpc)
        rpc_client_close(h->rpc, part_closed, h);
    else
        http_client_close(h->http, part_closed, h);
}

int app_health_ok(const app_health_t *h)
{
    return !h || atomic_load(&((app_health_t *)h)->healthy);
}
