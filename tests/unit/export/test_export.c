/*
 * test_export.c - the span exporter on a real loop against a loopback HTTP receiver (Remora's
 * own http_server_t recording every request): batches reach the Zipkin path (JSON) and
 * /v1/traces (protobuf) with the right content type and headers; a receiver that is down, silent or failing never
 * blocks the producers, raises the export_failed and queue_full counters and keeps memory
 * bounded; export resumes on its own once the receiver is back; stop flushes. A receiver that
 * holds its answers does not stop the rings from being drained into the second buffer, and a
 * stuck one does not stop the other exporter. Every test ends with no handle left on its loop.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/pool.h"
#include "diag/span.h"
#include "export/export.h"
#include "http/server.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#define WORKERS 2
#define MAX_REQS 256
#define MAX_HELD 16

/* ================================ the receiver ================================ */

typedef struct req_rec {
    char path[64];
    char content_type[64];
    char api_key[64];
    int spans; /* spans in the body, -1 when it is not the expected JSON or protobuf */
} req_rec_t;

typedef struct receiver {
    http_server_t *server;
    http_listener_shared_t shared;
    int status; /* answer; 200 by default */
    int hold;   /* 1: requests are recorded but not answered until rx_release() */
    http_exchange_t *held[MAX_HELD];
    int nheld;
    req_rec_t reqs[MAX_REQS];
    int nreqs;
    int idle;
} receiver_t;

/* An OTLP body: one ExportTraceServiceRequest with one ResourceSpans and one ScopeSpans. */
static int count_otlp_spans(const char *body, size_t len)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *r =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len,
                                                                                        (const uint8_t *)body);
    int n = -1;
    if (!r)
        return -1;
    if (r->n_resource_spans == 1 && r->resource_spans[0]->n_scope_spans == 1)
        n = (int)r->resource_spans[0]->scope_spans[0]->n_spans;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r, NULL);
    return n;
}

static int count_spans(const char *path, const char *body, size_t len)
{
    if (strcmp(path, "/v1/traces") == 0)
        return count_otlp_spans(body, len);
    cJSON *root = cJSON_Parse(body);
    int n = -1;
    if (root && strcmp(path, "/api/v2/spans") == 0 && cJSON_IsArray(root))
        n = cJSON_GetArraySize(root);
    cJSON_Delete(root);
    return n;
}

static void copy_header(const http_exchange_t *ex, const char *name, char *out, size_t cap)
{
    const base_slice_t *v = http_headers_get(&ex->req.headers, name);
    snprintf(out, cap, "%.*s", v ? (int)v->len : 0, v ? v->base : "");
}

static void free_buf(void *b)
{
    base_buf_free(b);
}

static void rx_data(http_exchange_t *ex, base_slice_t chunk)
{
    base_buf_append(ex->upper, chunk.base, chunk.len);
}

static receiver_t *rx_of(http_exchange_t *ex);

/* A held exchange whose connection died (the exporter cancelled, or the receiver closed). */
static void rx_on_abort(http_exchange_t *ex, http_abort_reason_t why)
{
    (void)why;
    receiver_t *rx = rx_of(ex);
    for (int i = 0; i < rx->nheld; i++)
        if (rx->held[i] == ex) {
            memmove(&rx->held[i], &rx->held[i + 1], (size_t)(rx->nheld - i - 1) * sizeof(rx->held[0]));
            rx->nheld--;
            return;
        }
}

static void rx_end(http_exchange_t *ex)
{
    receiver_t *rx = rx_of(ex);
    base_buf_t *b = ex->upper;
    size_t len = b->len;
    base_buf_append(b, "", 1); /* NUL for the JSON parser */
    if (rx->nreqs < MAX_REQS) {
        req_rec_t *r = &rx->reqs[rx->nreqs++];
        snprintf(r->path, sizeof r->path, "%.*s", (int)ex->req.path.len, ex->req.path.base);
        copy_header(ex, "content-type", r->content_type, sizeof r->content_type);
        copy_header(ex, "x-api-key", r->api_key, sizeof r->api_key);
        r->spans = count_spans(r->path, b->base, len);
    }
    if (rx->hold && rx->nheld < MAX_HELD) {
        ex->on_abort = rx_on_abort;
        rx->held[rx->nheld++] = ex;
        return;
    }
    http_exchange_respond(ex, rx->status, "text/plain", BASE_SLICE_LIT(""));
}

/* Answers every held request, oldest first. */
static void rx_release(receiver_t *rx)
{
    for (int i = 0; i < rx->nheld; i++) {
        rx->held[i]->on_abort = NULL;
        http_exchange_respond(rx->held[i], rx->status, "text/plain", BASE_SLICE_LIT(""));
    }
    rx->nheld = 0;
}

static const http_body_cbs_t rx_cbs = { rx_data, rx_end };

/* The exchange does not point back to the receiver: one receiver runs at a time. */
static receiver_t *current_rx;

static receiver_t *rx_of(http_exchange_t *ex)
{
    (void)ex;
    return current_rx;
}

static void rx_on_request(void *ctx, http_exchange_t *ex, http_listener_kind_t kind)
{
    (void)ctx;
    (void)kind;
    base_buf_t *b = base_pool_calloc(ex->pool, sizeof(*b));
    base_pool_cleanup_add(ex->pool, free_buf, b);
    ex->upper = b;
    ex->body_cbs = &rx_cbs;
}

static int bind_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static int fd_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* A port nobody listens on (bound, then released). */
static int free_port(void)
{
    int fd = bind_port(0);
    int port = fd_port(fd);
    close(fd);
    return port;
}

/* Listens on 127.0.0.1:port (0: any free port); returns the port. */
static int rx_start(receiver_t *rx, uv_loop_t *loop, int port)
{
    memset(rx, 0, sizeof(*rx));
    rx->status = 200;
    http_server_options_t so = {
        .limits = { .max_header_bytes = 64 * 1024, .max_header_count = 100, .max_request_line = 8192,
                    .max_body_bytes = 16u << 20 },
        .read_header_timeout_ms = 5000, .read_body_timeout_ms = 5000, .idle_timeout_ms = 5000,
        .write_timeout_ms = 5000, .linger_ms = 100,
    };
    http_handler_t h = { rx_on_request, rx };
    rx->server = http_server_new(loop, &so, &h);
    assert_non_null(rx->server);
    rx->shared.max_connections = 100;
    snprintf(rx->shared.name, sizeof rx->shared.name, "receiver");
    int fd = bind_port(port);
    assert_int_equal(listen(fd, 64), 0);
    port = fd_port(fd);
    assert_int_equal(http_server_listen_fd(rx->server, fd, 0, HTTP_LISTENER_API, &rx->shared), 0);
    current_rx = rx;
    return port;
}

static void rx_on_idle(http_server_t *s, void *arg)
{
    (void)s;
    ((receiver_t *)arg)->idle = 1;
}

static void rx_stop(receiver_t *rx)
{
    http_server_drain(rx->server, rx_on_idle, rx);
    http_server_close_all(rx->server);
}

static int rx_spans(const receiver_t *rx, const char *path)
{
    int n = 0;
    for (int i = 0; i < rx->nreqs; i++)
        if (strcmp(rx->reqs[i].path, path) == 0 && rx->reqs[i].spans > 0)
            n += rx->reqs[i].spans;
    return n;
}

/* ================================ the environment ================================ */

typedef struct env {
    uv_loop_t loop;
    uv_timer_t pacer; /* keeps the loop running while a test waits */
    config_t cfg;
    config_kv_t headers[2];
    export_t *exp;
    diag_span_ring_t *rings[WORKERS];
    int stopped;
    uint64_t seq;
} env_t;

static void on_pacer(uv_timer_t *t)
{
    (void)t;
}

static void env_init(env_t *e)
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(uv_loop_init(&e->loop), 0);
    uv_timer_init(&e->loop, &e->pacer);
    uv_timer_start(&e->pacer, on_pacer, 5, 5);
    e->cfg.app_id = "orders";
    e->cfg.spec.sampling_rate = 1;
    e->cfg.spec.otel_is_secure = 1;
}

static void set_zipkin(env_t *e, int port)
{
    static char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v2/spans", port);
    e->cfg.spec.zipkin_endpoint = url;
}

static void set_otlp(env_t *e, int port, int timeout_ms)
{
    static char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    e->cfg.spec.otel_endpoint = ep;
    e->cfg.spec.otel_protocol = "http";
    e->cfg.spec.otel_is_secure = 0;
    e->cfg.spec.otel_timeout_ms = timeout_ms;
    e->headers[0] = (config_kv_t){ "x-api-key", "secret" };
    e->headers[1] = (config_kv_t){ "Content-Type", "text/plain" }; /* ignored: the body is protobuf */
    e->cfg.spec.otel_headers = e->headers;
    e->cfg.spec.otel_header_count = 2;
}

static void env_start(env_t *e)
{
    e->exp = export_start(&e->loop, &e->cfg, WORKERS, e->rings);
    assert_non_null(e->exp);
    for (int i = 0; i < WORKERS; i++)
        assert_non_null(e->rings[i]);
}

/* Runs the loop until pred(arg) holds; fails after timeout_ms. Returns the ms it took. */
static uint64_t run_until(env_t *e, int (*pred)(void *), void *arg, uint64_t timeout_ms)
{
    uint64_t t0 = uv_now(&e->loop);
    while (!pred(arg)) {
        uv_run(&e->loop, UV_RUN_ONCE);
        if (uv_now(&e->loop) - t0 > timeout_ms)
            fail_msg("condition not met within %llu ms", (unsigned long long)timeout_ms);
    }
    return uv_now(&e->loop) - t0;
}

static void run_for(env_t *e, uint64_t ms)
{
    uint64_t t0 = uv_now(&e->loop);
    while (uv_now(&e->loop) - t0 < ms)
        uv_run(&e->loop, UV_RUN_ONCE);
}

static void on_stopped(void *arg)
{
    ((env_t *)arg)->stopped = 1;
}

static int is_stopped(void *arg)
{
    return ((env_t *)arg)->stopped;
}

/* Stops the exporter (and a receiver), then checks that no handle is left. */
static void env_finish(env_t *e, receiver_t *rx)
{
    if (e->exp) {
        export_stop(e->exp, on_stopped, e);
        run_until(e, is_stopped, e, 5000);
    }
    if (rx)
        rx_stop(rx);
    uv_close((uv_handle_t *)&e->pacer, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    if (rx) {
        assert_true(rx->idle);
        http_server_free(rx->server);
    }
    assert_int_equal(uv_loop_close(&e->loop), 0); /* no handle leaked */
}

/* Pushes n spans into ring r (as its worker would); returns how many were accepted. */
static int push(env_t *e, int r, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        diag_span_t *s = diag_span_ring_reserve(e->rings[r]);
        if (!s)
            continue;
        e->seq++;
        memcpy(s->trace_id, &e->seq, sizeof e->seq);
        s->trace_id[15] = 1;
        memcpy(s->span_id, &e->seq, sizeof e->seq);
        s->start_ns = 1700000000000000000ull + e->seq * 1000;
        s->end_ns = s->start_ns + 5000;
        char name[32];
        snprintf(name, sizeof name, "span-%llu", (unsigned long long)e->seq);
        diag_span_set_name(s, base_slice_cstr(name));
        diag_span_add_attr(s, BASE_SLICE_LIT("http.request.method"), BASE_SLICE_LIT("GET"));
        diag_span_ring_commit(e->rings[r], s);
        ok++;
    }
    return ok;
}

static diag_span_stats_t stats(void)
{
    diag_span_stats_t s;
    diag_span_stats(&s);
    return s;
}

/* ================================ tests ================================ */

typedef struct want {
    receiver_t *rx;
    int zipkin, otlp;
} want_t;

static int got_spans(void *arg)
{
    want_t *w = arg;
    return rx_spans(w->rx, "/api/v2/spans") >= w->zipkin && rx_spans(w->rx, "/v1/traces") >= w->otlp;
}


typedef struct counts {
    diag_span_stats_t before;
    uint64_t zipkin, otlp, failed, queue_full; /* at least this many more than before */
} counts_t;

static int counts_reached(void *arg)
{
    counts_t *c = arg;
    diag_span_stats_t now = stats();
    return now.exported_zipkin - c->before.exported_zipkin >= c->zipkin &&
           now.exported_otlp - c->before.exported_otlp >= c->otlp &&
           now.dropped_export_failed - c->before.dropped_export_failed >= c->failed &&
           now.dropped_queue_full - c->before.dropped_queue_full >= c->queue_full;
}

static void test_batches_reach_both_endpoints(void **state)
{
    (void)state;
    env_t e;
    receiver_t rx;
    env_init(&e);
    int port = rx_start(&rx, &e.loop, 0);
    set_zipkin(&e, port);
    set_otlp(&e, port, 0);
    env_start(&e);
    counts_t c = { stats(), 5, 5, 0, 0 };
    assert_int_equal(push(&e, 0, 3), 3);
    assert_int_equal(push(&e, 1, 2), 2);
    want_t w = { &rx, 5, 5 };
    uint64_t took = run_until(&e, got_spans, &w, 5000);
    assert_true(took <= EXPORT_INTERVAL_MS + 500);
    run_until(&e, counts_reached, &c, 2000);

    int zipkin = 0, otlp = 0;
    for (int i = 0; i < rx.nreqs; i++) {
        const req_rec_t *r = &rx.reqs[i];
        if (strcmp(r->path, "/api/v2/spans") == 0) {
            zipkin++;
            assert_string_equal(r->content_type, "application/json");
            assert_string_equal(r->api_key, ""); /* otel headers are OTLP's only */
        } else if (strcmp(r->path, "/v1/traces") == 0) {
            otlp++;
            assert_string_equal(r->content_type, "application/x-protobuf"); /* as daprd's otlptracehttp */
            assert_string_equal(r->api_key, "secret");
        } else {
            fail_msg("unexpected path %s", r->path);
        }
        assert_int_equal(r->spans, 5); /* one batch from both rings */
    }
    assert_int_equal(zipkin, 1);
    assert_int_equal(otlp, 1);
    diag_span_stats_t after = stats();
    assert_int_equal(after.exported_zipkin - c.before.exported_zipkin, 5);
    assert_int_equal(after.exported_otlp - c.before.exported_otlp, 5);
    assert_int_equal(after.dropped_export_failed, c.before.dropped_export_failed);

    /* a burst bigger than a batch goes out as several batches of at most 512 */
    counts_t c2 = { stats(), 1500, 1500, 0, 0 };
    assert_int_equal(push(&e, 0, 1000), 1000);
    assert_int_equal(push(&e, 1, 500), 500);
    run_until(&e, counts_reached, &c2, 10000);
    for (int i = 0; i < rx.nreqs; i++)
        assert_true(rx.reqs[i].spans > 0 && rx.reqs[i].spans <= EXPORT_BATCH_MAX_SPANS);
    assert_int_equal(rx_spans(&rx, "/api/v2/spans"), 1505);
    assert_int_equal(rx_spans(&rx, "/v1/traces"), 1505);
    env_finish(&e, &rx);
}

static void test_receiver_down_then_back(void **state)
{
    (void)state;
    env_t e;
    receiver_t rx;
    env_init(&e);
    int port = free_port();
    set_zipkin(&e, port);
    set_otlp(&e, port, 0);
    env_start(&e);
    diag_span_stats_t before = stats();
    /* two exporters, two batch buffers each */
    size_t fp0 = export_footprint(e.exp), bound = fp0 + 4 * (EXPORT_BATCH_MAX_BYTES + 256 * 1024);

    /* nobody listens: every batch fails fast; the producer never waits */
    for (int round = 0; round < 30; round++) {
        uint64_t t0 = uv_hrtime();
        push(&e, round % 2, 200);
        assert_true(uv_hrtime() - t0 < 100 * 1000000ull);
        run_for(&e, 50);
        assert_true(export_footprint(e.exp) <= bound);
    }
    /* a burst larger than a ring: the rest is dropped at once */
    assert_int_equal(push(&e, 0, 3 * DIAG_SPAN_RING_CAP) <= (int)DIAG_SPAN_RING_CAP, 1);
    counts_t down = { before, 0, 0, 1000, DIAG_SPAN_RING_CAP };
    run_until(&e, counts_reached, &down, 5000);
    diag_span_stats_t mid = stats();
    assert_int_equal(mid.exported_zipkin, before.exported_zipkin);
    assert_int_equal(mid.exported_otlp, before.exported_otlp);
    assert_true(export_footprint(e.exp) <= bound);

    /* the receiver comes back on the same port: export resumes by itself */
    rx_start(&rx, &e.loop, port);
    counts_t back = { stats(), 10, 10, 0, 0 };
    push(&e, 1, 10);
    run_until(&e, counts_reached, &back, 5000);
    assert_true(rx_spans(&rx, "/api/v2/spans") >= 10);
    assert_true(rx_spans(&rx, "/v1/traces") >= 10);
    env_finish(&e, &rx);
}

static void test_non_2xx_is_a_failure(void **state)
{
    (void)state;
    env_t e;
    receiver_t rx;
    env_init(&e);
    int port = rx_start(&rx, &e.loop, 0);
    rx.status = 503;
    set_zipkin(&e, port);
    env_start(&e);
    counts_t c = { stats(), 0, 0, 4, 0 };
    push(&e, 0, 4);
    run_until(&e, counts_reached, &c, 5000);
    assert_int_equal(stats().exported_zipkin, c.before.exported_zipkin);
    assert_int_equal(rx_spans(&rx, "/api/v2/spans"), 4); /* it did arrive */
    /* and the next batch is tried again */
    rx.status = 202;
    counts_t c2 = { stats(), 3, 0, 0, 0 };
    push(&e, 1, 3);
    run_until(&e, counts_reached, &c2, 5000);
    env_finish(&e, &rx);
}

/* A producer thread bound to its ring, as a worker is. */
#define PRODUCER_SPANS 100000

typedef struct producer {
    diag_span_ring_t *ring;
    int committed;
    uint64_t max_ns; /* the slowest reserve + commit */
    uint64_t total_ns;
} producer_t;

static void *producer_main(void *arg)
{
    producer_t *p = arg;
    if (diag_span_bind_thread(p->ring) != 0)
        return NULL;
    uint64_t t_start = uv_hrtime();
    for (int i = 0; i < PRODUCER_SPANS; i++) {
        uint64_t t0 = uv_hrtime();
        diag_span_t *s = diag_span_reserve();
        if (s) {
            s->start_ns = (uint64_t)i;
            s->end_ns = (uint64_t)i + 1;
            diag_span_set_name(s, BASE_SLICE_LIT("producer"));
            diag_span_commit(s);
            p->committed++;
        }
        uint64_t d = uv_hrtime() - t0;
        if (d > p->max_ns)
            p->max_ns = d;
    }
    p->total_ns = uv_hrtime() - t_start;
    diag_span_bind_thread(NULL);
    return NULL;
}

static void test_silent_receiver_times_out(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    /* a listener that never accepts: connections complete in the backlog, nothing answers */
    int bh = bind_port(0);
    assert_int_equal(listen(bh, 64), 0);
    set_otlp(&e, fd_port(bh), 300);
    env_start(&e);
    counts_t c = { stats(), 0, 0, 10, 0 };
    push(&e, 0, 10);
    uint64_t took = run_until(&e, counts_reached, &c, 5000);
    assert_true(took >= 300);                          /* the request's deadline */
    assert_true(took <= EXPORT_INTERVAL_MS + 300 + 1500); /* then dropped */

    /* a worker thread keeps producing meanwhile and never waits */
    producer_t p = { e.rings[1], 0, 0, 0 };
    diag_span_stats_t before = stats();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer_main, &p), 0);
    int done = 0;
    while (!done) {
        done = pthread_tryjoin_np(t, NULL) == 0;
        uv_run(&e.loop, UV_RUN_ONCE);
    }
    diag_span_stats_t after = stats();
    assert_int_equal((uint64_t)p.committed + (after.dropped_queue_full - before.dropped_queue_full),
                     PRODUCER_SPANS);
    assert_true(after.dropped_queue_full > before.dropped_queue_full); /* the ring filled up */
    assert_true(p.total_ns < 5000ull * 1000000ull);
    print_message("producer: %d spans in %.1f ms, slowest reserve+commit %.1f us\n", PRODUCER_SPANS,
                  (double)p.total_ns / 1e6, (double)p.max_ns / 1e3);

    /* stopping with a request stuck: bounded by the stop deadline */
    uint64_t t0 = uv_now(&e.loop);
    counts_t gone = { stats(), 0, 0, 1, 0 };
    export_stop(e.exp, on_stopped, &e);
    e.exp = NULL;
    run_until(&e, is_stopped, &e, EXPORT_STOP_DEADLINE_MS + 3000);
    assert_true(uv_now(&e.loop) - t0 <= EXPORT_STOP_DEADLINE_MS + 1000);
    assert_true(counts_reached(&gone));
    env_finish(&e, NULL);
    close(bh);
}

static void test_stop_flushes(void **state)
{
    (void)state;
    env_t e;
    receiver_t rx;
    env_init(&e);
    int port = rx_start(&rx, &e.loop, 0);
    set_zipkin(&e, port);
    env_start(&e);
    push(&e, 0, 7);
    push(&e, 1, 600);
    export_stop(e.exp, on_stopped, &e);
    e.exp = NULL;
    uint64_t took = run_until(&e, is_stopped, &e, 5000);
    assert_true(took < EXPORT_INTERVAL_MS); /* no waiting for the timer */
    assert_int_equal(rx_spans(&rx, "/api/v2/spans"), 607);
    for (int r = 0; r < WORKERS; r++)
        e.rings[r] = NULL; /* freed with the exporter */
    env_finish(&e, &rx);
}

typedef struct held_want {
    receiver_t *rx;
    int n;
} held_want_t;

static int got_held(void *arg)
{
    held_want_t *w = arg;
    return w->rx->nheld >= w->n;
}

typedef struct ring_want {
    diag_span_ring_t *ring;
    size_t at_most;
} ring_want_t;

/* The exporter took the ring's spans down to at_most. */
static int ring_drained(void *arg)
{
    ring_want_t *w = arg;
    return diag_span_ring_pending(w->ring) <= w->at_most;
}

/* An exporter to a Zipkin receiver that holds its answers, with a first batch of 10 spans
 * sent and its answer held. Returns the counters from before that batch. */
static diag_span_stats_t start_with_held_batch(env_t *e, receiver_t *rx)
{
    env_init(e);
    int port = rx_start(rx, &e->loop, 0);
    rx->hold = 1;
    set_zipkin(e, port);
    env_start(e);
    diag_span_stats_t before = stats();
    push(e, 0, 10);
    held_want_t first = { rx, 1 };
    run_until(e, got_held, &first, 2000);
    return before;
}

static void test_slow_receiver_does_not_stop_draining(void **state)
{
    (void)state;
    env_t e;
    receiver_t rx;
    /* the first batch goes out and its answer is held */
    diag_span_stats_t before = start_with_held_batch(&e, &rx);
    size_t fp_one = export_footprint(e.exp);

    /* spans keep coming: they are drained into the second buffer while it is in flight */
    assert_int_equal(push(&e, 0, 500), 500);
    ring_want_t drained = { e.rings[0], 0 };
    run_until(&e, ring_drained, &drained, 2000);
    assert_int_equal(rx.nreqs, 1); /* the new batch waits behind the one in flight */
    assert_int_equal(rx.nheld, 1);
    assert_true(export_footprint(e.exp) >= fp_one + 500 * 100); /* both buffers are counted */

    /* one in flight, one waiting: the ring is not drained, and nothing is dropped */
    assert_int_equal(push(&e, 0, 600), 600);
    run_for(&e, EXPORT_INTERVAL_MS + 100);
    assert_int_equal(diag_span_ring_pending(e.rings[0]), 600);
    assert_int_equal(rx.nreqs, 1);
    assert_int_equal(stats().dropped_queue_full, before.dropped_queue_full);

    /* the answer comes: the waiting batch goes at once, then the rest */
    rx.hold = 0;
    rx_release(&rx);
    counts_t all = { before, 1110, 0, 0, 0 };
    run_until(&e, counts_reached, &all, 5000);
    diag_span_stats_t after = stats();
    assert_int_equal(after.exported_zipkin - before.exported_zipkin, 1110);
    assert_int_equal(after.dropped_queue_full, before.dropped_queue_full);
    assert_int_equal(after.dropped_export_failed, before.dropped_export_failed);
    assert_int_equal(rx_spans(&rx, "/api/v2/spans"), 1110);
    assert_true(rx.nreqs >= 3);
    assert_int_equal(rx.reqs[0].spans, 10);
    assert_int_equal(rx.reqs[1].spans, 500);
    for (int i = 0; i < rx.nreqs; i++)
        assert_true(rx.reqs[i].spans > 0 && rx.reqs[i].spans <= EXPORT_BATCH_MAX_SPANS);
    env_finish(&e, &rx);
}

static void test_stuck_receiver_does_not_stop_the_other(void **state)
{
    (void)state;
    env_t e;
    receiver_t rx;
    env_init(&e);
    /* Zipkin: a listener that never accepts, so its request stays in flight (10 s timeout);
     * OTLP: a receiver that answers at once */
    int bh = bind_port(0);
    assert_int_equal(listen(bh, 64), 0);
    set_zipkin(&e, fd_port(bh));
    set_otlp(&e, rx_start(&rx, &e.loop, 0), 0);
    env_start(&e);
    diag_span_stats_t before = stats();

    /* four batches' worth: Zipkin takes the first (in flight) and the second (waiting), and
     * counts the rest as dropped_queue_full; OTLP gets them all */
    assert_int_equal(push(&e, 0, 1000), 1000);
    assert_int_equal(push(&e, 1, 1000), 1000);
    counts_t c = { before, 0, 2000, 0, 0 };
    run_until(&e, counts_reached, &c, 5000);
    assert_int_equal(rx_spans(&rx, "/v1/traces"), 2000);
    diag_span_stats_t mid = stats();
    assert_int_equal(mid.exported_zipkin, before.exported_zipkin);
    assert_int_equal(mid.dropped_queue_full - before.dropped_queue_full, 2000 - 2 * EXPORT_BATCH_MAX_SPANS);
    assert_int_equal(mid.dropped_export_failed, before.dropped_export_failed);

    /* and it goes on: every later batch reaches OTLP and is counted as dropped for Zipkin */
    for (int round = 1; round <= 2; round++) {
        assert_int_equal(push(&e, round % 2, 300), 300);
        counts_t more = { before, 0, 2000 + 300 * (uint64_t)round, 0, 0 };
        run_until(&e, counts_reached, &more, 5000);
    }
    diag_span_stats_t late = stats();
    assert_int_equal(rx_spans(&rx, "/v1/traces"), 2600);
    assert_int_equal(late.exported_otlp - before.exported_otlp, 2600);
    assert_int_equal(late.exported_zipkin, before.exported_zipkin);
    assert_int_equal(late.dropped_queue_full - before.dropped_queue_full, 2600 - 2 * EXPORT_BATCH_MAX_SPANS);

    /* stop: at the deadline Zipkin's request in flight and its waiting batch fail */
    uint64_t t0 = uv_now(&e.loop);
    export_stop(e.exp, on_stopped, &e);
    e.exp = NULL;
    run_until(&e, is_stopped, &e, EXPORT_STOP_DEADLINE_MS + 3000);
    uint64_t took = uv_now(&e.loop) - t0;
    assert_true(took >= EXPORT_STOP_DEADLINE_MS - 50 && took <= EXPORT_STOP_DEADLINE_MS + 1000);
    diag_span_stats_t end = stats();
    assert_int_equal(end.dropped_export_failed - before.dropped_export_failed, 2 * EXPORT_BATCH_MAX_SPANS);
    assert_int_equal(end.exported_otlp - before.exported_otlp, 2600);
    env_finish(&e, &rx);
    close(bh);
}

static void test_stop_sends_the_waiting_batch(void **state)
{
    (void)state;
    env_t e;
    receiver_t rx;
    diag_span_stats_t before = start_with_held_batch(&e, &rx);
    push(&e, 1, 300);
    ring_want_t drained = { e.rings[1], 0 };
    run_until(&e, ring_drained, &drained, 2000); /* a batch waits behind the held one */
    push(&e, 0, 200);                            /* and these stay in the ring */

    export_stop(e.exp, on_stopped, &e);
    e.exp = NULL;
    run_for(&e, 100);
    assert_false(e.stopped); /* waiting for the answer */
    rx.hold = 0;
    rx_release(&rx);
    uint64_t took = run_until(&e, is_stopped, &e, EXPORT_STOP_DEADLINE_MS + 3000);
    assert_true(took < EXPORT_STOP_DEADLINE_MS); /* done when the rings are, not at the deadline */
    diag_span_stats_t after = stats();
    assert_int_equal(rx_spans(&rx, "/api/v2/spans"), 510);
    assert_int_equal(after.exported_zipkin - before.exported_zipkin, 510);
    assert_int_equal(after.dropped_export_failed, before.dropped_export_failed);
    assert_int_equal(after.dropped_queue_full, before.dropped_queue_full);
    for (int r = 0; r < WORKERS; r++)
        e.rings[r] = NULL; /* freed with the exporter */
    env_finish(&e, &rx);
}

static void test_not_started(void **state)
{
    (void)state;
    static const struct {
        const char *zipkin, *otel, *protocol;
        int secure;
        double rate;
    } cases[] = {
        { NULL, NULL, NULL, 1, 1 },                              /* nothing configured */
        { "https://127.0.0.1:9411/api/v2/spans", NULL, NULL, 1, 1 }, /* needs TLS */
        { "ftp://127.0.0.1/x", NULL, NULL, 1, 1 },
        { "http://user:pw@127.0.0.1:9411/api/v2/spans", NULL, NULL, 1, 1 },
        { "http://127.0.0.1:99999/api/v2/spans", NULL, NULL, 1, 1 },
        { "http://127.0.0.1:9411/api/v2/spans", NULL, NULL, 1, 0 }, /* samplingRate 0 */
        { NULL, "127.0.0.1:4317", "grpc", 0, 1 },               /* gRPC not supported */
        { NULL, "127.0.0.1:4317", "udp", 0, 1 },                /* not a protocol */
        { NULL, "127.0.0.1:4318", "http", 1, 1 },               /* isSecure: TLS */
        { NULL, "127.0.0.1:4318", NULL, 0, 1 },                 /* no protocol (daprd: off) */
        { NULL, "https://127.0.0.1:4318", "http", 0, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_t e;
        env_init(&e);
        e.cfg.spec.zipkin_endpoint = (char *)cases[i].zipkin;
        e.cfg.spec.otel_endpoint = (char *)cases[i].otel;
        e.cfg.spec.otel_protocol = (char *)cases[i].protocol;
        e.cfg.spec.otel_is_secure = cases[i].secure;
        e.cfg.spec.sampling_rate = cases[i].rate;
        diag_span_ring_t *sentinel = (diag_span_ring_t *)&e;
        e.rings[0] = e.rings[1] = sentinel;
        assert_null(export_start(&e.loop, &e.cfg, WORKERS, e.rings));
        assert_ptr_equal(e.rings[0], sentinel);
        assert_int_equal(export_footprint(NULL), 0);
        export_stop(NULL, NULL, NULL);
        env_finish(&e, NULL);
    }
}

static void test_stdout(void **state)
{
    (void)state;
    char path[] = "/tmp/remora-export-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    base_log_options_t lo = { .level = BASE_LOG_INFO, .json = 1, .app_id = "orders", .fd = fd };
    base_log_init(&lo);

    env_t e;
    env_init(&e);
    e.cfg.spec.tracing_stdout = 1;
    env_start(&e);
    push(&e, 0, 2);
    diag_span_t *s = diag_span_ring_reserve(e.rings[1]);
    diag_span_set_name(s, BASE_SLICE_LIT("with \"quotes\"\n"));
    diag_span_ring_commit(e.rings[1], s);
    env_finish(&e, NULL); /* stop flushes */

    base_log_options_t back = { .level = BASE_LOG_INFO };
    base_log_init(&back);
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    buf[n] = '\0';
    int lines = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        const cJSON *scope = cJSON_GetObjectItemCaseSensitive(o, "scope");
        if (scope && strcmp(scope->valuestring, "dapr.runtime.trace") == 0) {
            cJSON *span = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(o, "msg")->valuestring);
            assert_non_null(span);
            assert_non_null(cJSON_GetObjectItemCaseSensitive(span, "traceId"));
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(span, "localEndpoint"),
                                                                 "serviceName")->valuestring,
                                "orders");
            cJSON_Delete(span);
            lines++;
        }
        cJSON_Delete(o);
    }
    assert_int_equal(lines, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_reach_both_endpoints),
        cmocka_unit_test(test_receiver_down_then_back),
        cmocka_unit_test(test_non_2xx_is_a_failure),
        cmocka_unit_test(test_silent_receiver_times_out),
        cmocka_unit_test(test_stop_flushes),
        cmocka_unit_test(test_slow_receiver_does_not_stop_draining),
        cmocka_unit_test(test_stuck_receiver_does_not_stop_the_other),
        cmocka_unit_test(test_stop_sends_the_waiting_batch),
        cmocka_unit_test(test_not_started),
        cmocka_unit_test(test_stdout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
