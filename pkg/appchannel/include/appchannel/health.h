/*
 * health.h - app health checks (daprd pkg/apphealth): with --enable-app-health-check, the app
 * is probed every --app-health-probe-interval seconds (HTTP: GET --app-health-check-path,
 * healthy on 2xx; gRPC: AppCallbackHealthCheck/HealthCheck OK), each probe bounded by
 * --app-health-probe-timeout. It starts unhealthy; --app-health-threshold consecutive failures
 * make it unhealthy, one success healthy. While unhealthy, app channel calls fail with
 * daprd's "app is not in a healthy state".
 *
 * One prober for the sidecar, on the main loop; its state is one atomic read by every
 * worker's app channel.
 */
#ifndef APPCHANNEL_HEALTH_H
#define APPCHANNEL_HEALTH_H

#include <uv.h>

#include "config/config.h"

typedef struct app_health app_health_t;

/* Main thread. NULL when health checks are off (or out of memory). */
app_health_t *app_health_start(uv_loop_t *main_loop, const config_t *cfg);
/* Main thread: stops probing; done_cb when every handle is closed, after which it is freed. */
void app_health_stop(app_health_t *h, void (*done_cb)(void *arg), void *arg);
/* Any thread. 1 when healthy (or when h is NULL: no health checks). */
int app_health_ok(const app_health_t *h);

#endif
