/*
 * export.c - the span exporter on the main loop: a timer drains the workers' rings into one
 * batch, the batch is encoded once per exporter and POSTed with the HTTP/1.1 client.
 *
 * Double buffering: each exporter has two body buffers (flights), so it holds at most one
 * batch in flight and one encoded batch waiting behind it, which is sent the moment the
 * request in flight ends. Draining goes on while a request is in flight: a drain runs when
 * at least one exporter has a free buffer (nothing waiting); an exporter with both buffers
 * taken skips that batch and counts its spans as dropped_queue_full, so a slow collector
 * holds back neither the rings nor the other exporter. Only when no exporter can take a
 * batch are the rings left alone until a request ends (they fill, and a full ring drops).
 * Memory is therefore the rings plus two bounded batch buffers per exporter.
 *
 * Drain pace: the timer runs every EXPORT_INTERVAL_MS at most, and sooner when spans arrive
 * fast: after each drain the next one is planned for when the busiest ring, at the rate it
 * filled, would be a quarter full (PLAN_FILL), and at once while a ring still holds that. The rate is measured over at least RATE_MIN_MS: a drain that follows another at once
 * (the rest of a full ring, taken into the second buffer) sees next to nothing arrive, and
 * planning from that would wait a whole interval while the ring overflows. A quarter leaves
 * the main loop, which shares its core with the workers, three quarters of a ring of delay.
 * A burst faster than the plan is heard of too: every DIAG_SPAN_NOTIFY_EVERY spans a worker
 * wakes the main loop with uv_async_send() (no syscall while a wake-up is pending, so at most
 * one per that many spans), which drains at once unless a drain is already due. A ring
 * overflows only when the main loop cannot keep up (or no exporter can take a batch).
 */
#include "export/export.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/pool.h"
#include "diag/span_json.h"
#include "diag/span_otlp.h"
#include "export_internal.h"
#include "http/client.h"

#define LOG_SCOPE "dapr.runtime.diagnostics"
#define TRACE_LOG_SCOPE "dapr.runtime.trace" /* daprd's stdout exporter logger */
#define WARN_EVERY_MS 30000u
#define MAX_SINKS 2
#define MAX_HEADERS 32

/* What a sink sends: Zipkin v2 JSON, or OTLP/HTTP protobuf as daprd's otlptracehttp does. */
typedef enum sink_kind {
    SINK_ZIPKIN = 0,
    SINK_OTLP,
} sink_kind_t;

/* One batch of one sink, from its encoding until its request is over: the span count
 * travels with the body, so the request's outcome counts exactly the spans it carried. */
typedef struct flight {
    base_buf_t body;
    base_slice_t payload; /* what is POSTed, inside body: all of it for Zipkin, the request for OTLP */
    size_t spans;
} flight_t;

typedef struct sink {
    export_t *e;
    const char *name; /* for logs: "zipkin", "otlp" */
    sink_kind_t kind;
    diag_span_counter_t exported;
    export_target_t target;
    char url[320]; /* for logs (cut when longer) */
    http_header_t headers[MAX_HEADERS];
    size_t header_count;
    unsigned timeout_ms;
    flight_t flights[2];
    flight_t *sending;  /* the flight of req, or NULL */
    flight_t *waiting;  /* encoded, sent when req ends; only while req is set */
    flight_t *filling;  /* the batch being encoded; NULL when this sink skips it */
    /* One encoder per sink, whichever flight it fills: their memos live across batches. */
    diag_span_encoder_t zipkin;     /* for SINK_ZIPKIN */
    diag_span_otlp_encoder_t otlp;  /* for SINK_OTLP */
    int batch_ok;       /* the batch's opening was written */
    http_client_req_t *req; /* the request in flight */
    int status;             /* its response status; 0 before the head */
    int timed_out;
    uv_timer_t timer;       /* its deadline */
    /* rate-limited failure warnings */
    uint64_t last_warn_ms;
    uint64_t dropped_since_warn;
    int warned;
    int failing;
} sink_t;

typedef struct ring_slot {
    diag_span_ring_t *ring;
    size_t left;     /* pending after the previous drain */
    size_t arrived;  /* spans seen arriving since rate_since */
    uint64_t rate_since;
    double per_ms;   /* the arrival rate last measured, spans per ms */
} ring_slot_t;

/* The fill a drain is planned for, and the least time a rate is measured over. */
#define PLAN_FILL (DIAG_SPAN_RING_CAP / 4)
#define RATE_MIN_MS 10

struct export {
    uv_loop_t *loop;
    http_client_t *client; /* NULL when only stdout exports */
    uv_timer_t tick;
    uv_async_t wake;        /* a worker published DIAG_SPAN_NOTIFY_EVERY spans */
    sink_t sinks[MAX_SINKS];
    int sink_count;
    int to_stdout;
    base_buf_t line; /* one stdout span */
    char *service;
    ring_slot_t *rings;
    int ring_count;
    int next_ring;          /* the first ring drained by the next batch (fairness) */
    uint64_t next_delay_ms;
    int drain_wanted;       /* the timer fired while no sink could take a batch */
    int stopping;
    int stop_expired;
    int finished;
    uv_timer_t stop_timer;
    void (*done_cb)(void *arg);
    void *done_arg;
    int open_handles;
};

static void after_request(export_t *e);

/* ---- helpers ---- */

static int in_flight(const export_t *e)
{
    for (int i = 0; i < e->sink_count; i++)
        if (e->sinks[i].req)
            return 1;
    return 0;
}

/* The flight the next batch is encoded into: the one not in flight, or NULL when a batch
 * already waits behind the one in flight. */
static flight_t *free_flight(sink_t *k)
{
    if (k->waiting)
        return NULL;
    return k->sending == &k->flights[0] ? &k->flights[1] : &k->flights[0];
}

/* 1 when a drain would reach an exporter: a sink with a free flight, or the log when it is
 * the only exporter (next to sinks, the log follows their pace and sees every span drained). */
static int can_take(const export_t *e)
{
    for (int i = 0; i < e->sink_count; i++)
        if (!e->sinks[i].waiting)
            return 1;
    return e->sink_count == 0;
}

static size_t total_pending(export_t *e)
{
    size_t n = 0;
    for (int i = 0; i < e->ring_count; i++)
        n += diag_span_ring_pending(e->rings[i].ring);
    return n;
}

/* ---- batches ---- */

/* Plans the next drain after one that left `slot->left` spans in the ring (see the head
 * comment): at once while PLAN_FILL or more are left, else when the ring would hold that many
 * at its rate (EXPORT_INTERVAL_MS at most). */
static void plan_next(export_t *e, ring_slot_t *slot, size_t arrived, uint64_t now)
{
    slot->arrived += arrived;
    uint64_t over = now - slot->rate_since;
    if (over >= RATE_MIN_MS) {
        slot->per_ms = (double)slot->arrived / (double)over;
        slot->arrived = 0;
        slot->rate_since = now;
    }
    uint64_t d;
    if (slot->left >= PLAN_FILL)
        d = 0;
    else if (slot->per_ms > 0)
        d = (uint64_t)((double)(PLAN_FILL - slot->left) / slot->per_ms);
    else
        return;
    if (d < e->next_delay_ms)
        e->next_delay_ms = d;
}

static int batch_begin(sink_t *k, flight_t *f, base_slice_t service)
{
    f->body.len = 0;
    f->spans = 0;
    if (k->kind == SINK_OTLP)
        return diag_span_otlp_begin(&k->otlp, &f->body, service);
    return diag_span_encode_begin(&k->zipkin, &f->body, service);
}

static int batch_add(sink_t *k, const diag_span_t *s)
{
    return k->kind == SINK_OTLP ? diag_span_otlp_add(&k->otlp, s) : diag_span_encode_add(&k->zipkin, s);
}

static int batch_end(sink_t *k, flight_t *f)
{
    if (k->kind == SINK_OTLP)
        return diag_span_otlp_end(&k->otlp, &f->payload);
    if (diag_span_encode_end(&k->zipkin) != 0)
        return -1;
    f->payload = base_buf_slice(&f->body);
    return 0;
}

static void encode_one(export_t *e, const diag_span_t *s)
{
    base_slice_t service = base_slice_cstr(e->service);
    if (e->to_stdout && base_log_enabled(BASE_LOG_INFO)) {
        e->line.len = 0;
        if (diag_span_encode_zipkin_object(&e->line, s, service) == 0)
            base_log_kv(BASE_LOG_INFO, TRACE_LOG_SCOPE, e->line.base, NULL);
    }
    for (int i = 0; i < e->sink_count; i++) {
        sink_t *k = &e->sinks[i];
        if (!k->filling)
            continue; /* counted as a whole in run_batch() */
        if (k->batch_ok && batch_add(k, s) == 0)
            k->filling->spans++;
        else
            diag_span_count(DIAG_SPAN_DROPPED_EXPORT_FAILED, 1); /* out of memory */
    }
}

static int batch_full(const export_t *e, size_t n)
{
    if (n >= EXPORT_BATCH_MAX_SPANS)
        return 1;
    for (int i = 0; i < e->sink_count; i++)
        if (e->sinks[i].filling && e->sinks[i].filling->body.len >= EXPORT_BATCH_MAX_BYTES)
            return 1;
    return 0;
}

/* Moves up to one batch out of the rings, encoded into the free flight of each sink that has
 * one (and written to the log for stdout). Returns the number of spans taken. */
static size_t fill_batch(export_t *e)
{
    uint64_t now = uv_now(e->loop);
    e->next_delay_ms = EXPORT_INTERVAL_MS;
    base_slice_t service = base_slice_cstr(e->service);
    for (int i = 0; i < e->sink_count; i++) {
        sink_t *k = &e->sinks[i];
        k->filling = free_flight(k);
        if (k->filling)
            k->batch_ok = batch_begin(k, k->filling, service) == 0;
    }
    size_t n = 0, left = 0;
    for (int r = 0; r < e->ring_count; r++) {
        ring_slot_t *slot = &e->rings[(e->next_ring + r) % e->ring_count];
        size_t pending = diag_span_ring_pending(slot->ring), taken = 0;
        for (; taken < pending && !batch_full(e, n); taken++, n++)
            encode_one(e, diag_span_ring_peek(slot->ring, taken));
        diag_span_ring_release(slot->ring, taken);
        size_t arrived = pending > slot->left ? pending - slot->left : 0;
        slot->left = pending - taken;
        left += slot->left;
        plan_next(e, slot, arrived, now);
    }
    if (left >= EXPORT_BATCH_MAX_SPANS)
        e->next_delay_ms = 0; /* a whole batch is waiting */
    e->next_ring = (e->next_ring + 1) % e->ring_count;
    for (int i = 0; i < e->sink_count; i++) {
        sink_t *k = &e->sinks[i];
        flight_t *f = k->filling;
        if (f && f->spans && (!k->batch_ok || batch_end(k, f) != 0)) {
            diag_span_count(DIAG_SPAN_DROPPED_EXPORT_FAILED, f->spans);
            f->spans = 0;
        }
    }
    return n;
}

/* ---- requests ---- */

static void note_failure(sink_t *k, size_t spans, const char *why)
{
    export_t *e = k->e;
    diag_span_count(DIAG_SPAN_DROPPED_EXPORT_FAILED, spans);
    k->dropped_since_warn += spans;
    k->failing = 1;
    uint64_t now = uv_now(e->loop);
    if (k->warned && now - k->last_warn_ms < WARN_EVERY_MS)
        return;
    LOG_WARN(LOG_SCOPE, "%s exporter: cannot export spans to %s: %s; %llu span(s) dropped%s", k->name, k->url, why,
             (unsigned long long)k->dropped_since_warn, k->warned ? " since the last warning" : "");
    k->warned = 1;
    k->last_warn_ms = now;
    k->dropped_since_warn = 0;
}

/* A waiting batch given up at the stop deadline: an export failure, added to the spans the
 * warning for its cancelled request in flight reports. */
static void drop_waiting(sink_t *k)
{
    flight_t *f = k->waiting;
    k->waiting = NULL;
    diag_span_count(DIAG_SPAN_DROPPED_EXPORT_FAILED, f->spans);
    k->dropped_since_warn += f->spans;
    f->spans = 0;
}

static void send_flight(sink_t *k, flight_t *f);

static void on_req_head(http_client_req_t *req, void *ud, int status, const http_headers_t *headers)
{
    (void)req;
    (void)headers;
    ((sink_t *)ud)->status = status;
}

static void on_req_done(http_client_req_t *req, void *ud, int err, const char *errmsg)
{
    (void)req;
    sink_t *k = ud;
    export_t *e = k->e;
    uv_timer_stop(&k->timer);
    k->req = NULL;
    flight_t *f = k->sending;
    k->sending = NULL;
    size_t spans = f->spans;
    f->spans = 0;
    char why[160];
    if (err == 0 && k->status >= 200 && k->status < 300) {
        diag_span_count(k->exported, spans);
        if (k->failing)
            LOG_INFO(LOG_SCOPE, "%s exporter: exporting spans to %s again", k->name, k->url);
        k->failing = 0;
    } else {
        if (k->timed_out)
            snprintf(why, sizeof why, "no answer within %u ms", k->timeout_ms);
        else if (err != 0)
            snprintf(why, sizeof why, "%s", errmsg ? errmsg : uv_strerror(err));
        else
            snprintf(why, sizeof why, "HTTP status %d", k->status);
        note_failure(k, spans, why);
    }
    if (k->waiting) {
        /* the next batch is ready: no waiting for the timer */
        flight_t *next = k->waiting;
        k->waiting = NULL;
        send_flight(k, next);
    }
    after_request(e);
}

static void on_req_timeout(uv_timer_t *t)
{
    sink_t *k = t->data;
    if (k->req) {
        k->timed_out = 1;
        http_client_req_cancel(k->req);
    }
}

/* POSTs f; the sink has no request in flight. */
static void send_flight(sink_t *k, flight_t *f)
{
    static const http_client_cbs_t cbs = { .on_head = on_req_head, .on_done = on_req_done };
    export_t *e = k->e;
    http_headers_t headers = { k->headers, k->header_count, k->header_count };
    k->status = 0;
    k->timed_out = 0;
    k->req = http_client_request(e->client, k->target.host, k->target.port, BASE_SLICE_LIT("POST"),
                                 base_slice_cstr(k->target.target), &headers, (int64_t)f->payload.len, &cbs, k);
    if (!k->req) {
        size_t spans = f->spans;
        f->spans = 0;
        note_failure(k, spans, "out of memory");
        return;
    }
    k->sending = f;
    /* The payload is lent to the client, not copied: f stays untouched until on_req_done is
     * called, since free_flight() never hands out k->sending, on_req_done clears k->sending
     * before a batch can be encoded into f again, and the buffers are freed only once the
     * client has closed (every on_done has run). */
    if (http_client_req_write_ref(k->req, f->payload.base, f->payload.len) != 0 || http_client_req_end(k->req) != 0) {
        http_client_req_cancel(k->req); /* on_done counts the batch */
        return;
    }
    uv_timer_start(&k->timer, on_req_timeout, k->timeout_ms, 0);
}

/* One batch out of the rings: sent at once by a sink with nothing in flight, left waiting by
 * a sink with a request in flight, and counted as dropped_queue_full by a sink that already
 * has a batch waiting. Returns the spans taken. */
static size_t run_batch(export_t *e)
{
    size_t n = fill_batch(e);
    for (int i = 0; i < e->sink_count; i++) {
        sink_t *k = &e->sinks[i];
        flight_t *f = k->filling;
        k->filling = NULL;
        if (!f) {
            if (n)
                diag_span_count(DIAG_SPAN_DROPPED_QUEUE_FULL, n);
        } else if (f->spans == 0) {
            continue; /* nothing to send: the flight stays free */
        } else if (k->req) {
            k->waiting = f;
        } else {
            send_flight(k, f);
        }
    }
    return n;
}

/* ---- the timer ---- */

static void on_tick(uv_timer_t *t)
{
    export_t *e = t->data;
    if (!can_take(e)) {
        e->drain_wanted = 1; /* after_request() drains */
        return;
    }
    run_batch(e);
    uv_timer_start(&e->tick, on_tick, e->next_delay_ms, 0);
}

/* A worker published another DIAG_SPAN_NOTIFY_EVERY spans: drain now if a ring holds
 * PLAN_FILL or more (a burst the plan did not see coming), unless a drain is due anyway. */
static void on_wake(uv_async_t *a)
{
    export_t *e = a->data;
    if (e->stopping)
        return;
    size_t most = 0;
    for (int i = 0; i < e->ring_count; i++)
        most = BASE_MAX(most, diag_span_ring_pending(e->rings[i].ring));
    if (most < PLAN_FILL)
        return;
    if (!can_take(e)) {
        e->drain_wanted = 1;
        return;
    }
    if (uv_is_active((uv_handle_t *)&e->tick) && uv_timer_get_due_in(&e->tick) == 0)
        return; /* due this turn anyway */
    uv_timer_start(&e->tick, on_tick, 0, 0);
}

/* Runs on a worker (diag_span_ring_set_notify()): uv_async_send() is the one libuv call that
 * may come from another thread. */
static void notify_main(void *arg)
{
    uv_async_send(&((export_t *)arg)->wake);
}

/* ---- stop ---- */

/* Every handle's close ends here; the last one frees the exporter. */
static void handle_gone(export_t *e)
{
    if (--e->open_handles > 0)
        return;
    if (e->done_cb)
        e->done_cb(e->done_arg);
    for (int i = 0; i < e->ring_count; i++)
        diag_span_ring_free(e->rings[i].ring);
    base_free(e->rings);
    for (int i = 0; i < e->sink_count; i++) {
        sink_t *k = &e->sinks[i];
        export_target_free(&k->target);
        base_buf_free(&k->flights[0].body);
        base_buf_free(&k->flights[1].body);
        diag_span_encode_free(&k->zipkin);
        diag_span_otlp_free(&k->otlp);
        for (size_t j = 0; j < k->header_count; j++) {
            base_free((char *)k->headers[j].name.base);
            base_free((char *)k->headers[j].value.base);
        }
    }
    base_buf_free(&e->line);
    base_free(e->service);
    base_free(e);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

static void on_sink_timer_closed(uv_handle_t *h)
{
    handle_gone(((sink_t *)h->data)->e);
}

static void on_client_closed(void *arg)
{
    export_t *e = arg;
    e->client = NULL;
    handle_gone(e);
}

static void close_all(export_t *e)
{
    uv_close((uv_handle_t *)&e->wake, on_timer_closed); /* data is e, as for the timers */
    uv_close((uv_handle_t *)&e->tick, on_timer_closed);
    uv_close((uv_handle_t *)&e->stop_timer, on_timer_closed);
    for (int i = 0; i < e->sink_count; i++)
        uv_close((uv_handle_t *)&e->sinks[i].timer, on_sink_timer_closed);
    if (e->client)
        http_client_close(e->client, on_client_closed, e);
}

static void finish(export_t *e)
{
    if (e->finished)
        return;
    e->finished = 1;
    size_t left = total_pending(e);
    if (left)
        diag_span_count(DIAG_SPAN_DROPPED_EXPORT_FAILED, left);
    close_all(e);
}

/* Stopping: batch after batch, as long as a sink can take one, until the rings are empty
 * and every request is over, or the deadline passed. on_req_done comes back here. */
static void stop_continue(export_t *e)
{
    while (!e->stop_expired && can_take(e) && run_batch(e) > 0)
        ;
    if (!in_flight(e) && (e->stop_expired || total_pending(e) == 0))
        finish(e);
}

static void on_stop_deadline(uv_timer_t *t)
{
    export_t *e = t->data;
    e->stop_expired = 1;
    for (int i = 0; i < e->sink_count; i++) {
        sink_t *k = &e->sinks[i];
        if (k->waiting)
            drop_waiting(k);
        if (k->req)
            http_client_req_cancel(k->req);
    }
    if (!in_flight(e))
        finish(e);
}

/* A sink's request is over (and its waiting batch, if any, sent): it can take a batch. */
static void after_request(export_t *e)
{
    if (e->stopping) {
        stop_continue(e);
    } else if (e->drain_wanted) {
        e->drain_wanted = 0;
        uv_timer_start(&e->tick, on_tick, 0, 0);
    }
}

void export_stop(export_t *e, void (*done_cb)(void *arg), void *arg)
{
    if (!e || e->stopping)
        return;
    e->stopping = 1;
    e->done_cb = done_cb;
    e->done_arg = arg;
    uv_timer_stop(&e->tick);
    uv_timer_start(&e->stop_timer, on_stop_deadline, EXPORT_STOP_DEADLINE_MS, 0);
    stop_continue(e);
}

/* ---- start ---- */

static int add_header(sink_t *k, const char *name, const char *value)
{
    /* The last of several with the same name wins, as daprd's header map does. */
    size_t i = 0;
    while (i < k->header_count && !base_slice_ieq_cstr(k->headers[i].name, name))
        i++;
    if (i == MAX_HEADERS)
        return 0;
    char *n = base_strndup(name, strlen(name)), *v = base_strndup(value, strlen(value));
    if (!n || !v) {
        base_free(n);
        base_free(v);
        return -1;
    }
    if (i < k->header_count) {
        base_free((char *)k->headers[i].name.base);
        base_free((char *)k->headers[i].value.base);
    } else {
        k->header_count++;
    }
    k->headers[i].name = base_slice_cstr(n);
    k->headers[i].value = base_slice_cstr(v);
    return 0;
}

static sink_t *add_sink(export_t *e, const char *name, sink_kind_t kind, diag_span_counter_t counter,
                        const char *url, unsigned timeout_ms)
{
    sink_t *k = &e->sinks[e->sink_count];
    k->e = e;
    k->name = name;
    k->kind = kind;
    k->exported = counter;
    k->timeout_ms = timeout_ms;
    snprintf(k->url, sizeof k->url, "%s", url);
    const char *type = kind == SINK_OTLP ? DIAG_SPAN_OTLP_CONTENT_TYPE : "application/json";
    if (add_header(k, "Content-Type", type) != 0)
        return NULL;
    e->sink_count++;
    return k;
}

static int setup_zipkin(export_t *e, const config_t *cfg)
{
    const char *url = cfg->spec.zipkin_endpoint;
    if (!url || !*url)
        return 0;
    export_target_t t;
    char why[128];
    if (export_target_from_url(url, &t, why, sizeof why) != 0) {
        LOG_ERROR(LOG_SCOPE, "zipkin exporter off: endpointAddress %s: %s", url, why);
        return 0;
    }
    sink_t *k = add_sink(e, "zipkin", SINK_ZIPKIN, DIAG_SPAN_EXPORTED_ZIPKIN, url, EXPORT_TIMEOUT_MS);
    if (!k) {
        export_target_free(&t);
        return -1;
    }
    k->target = t;
    LOG_INFO(LOG_SCOPE, "exporting trace spans to Zipkin at %s", url);
    return 0;
}

static int setup_otlp(export_t *e, const config_t *cfg)
{
    const config_spec_t *s = &cfg->spec;
    if (!s->otel_endpoint || !*s->otel_endpoint)
        return 0;
    if (!s->otel_protocol || !*s->otel_protocol) {
        /* daprd needs both and silently skips the exporter without a protocol */
        LOG_WARN(LOG_SCOPE, "otel exporter off: spec.tracing.otel.endpointAddress is set but not protocol");
        return 0;
    }
    if (strcmp(s->otel_protocol, "http") != 0 && strcmp(s->otel_protocol, "grpc") != 0) {
        /* daprd refuses to start on this; an exporter is not worth refusing to serve */
        LOG_ERROR(LOG_SCOPE, "otel exporter off: invalid protocol %s provided for Otel endpoint (http or grpc)",
                  s->otel_protocol);
        return 0;
    }
    if (strcmp(s->otel_protocol, "grpc") == 0) {
        LOG_WARN(LOG_SCOPE, "otel exporter off: OTLP over gRPC is not supported; use protocol: http "
                            "(OTLP/HTTP, port 4318) and isSecure: false");
        return 0;
    }
    if (s->otel_is_secure) {
        LOG_ERROR(LOG_SCOPE, "otel exporter off: isSecure is true (the default) and exporting over TLS is "
                             "not supported; set spec.tracing.otel.isSecure: false (or OTEL_EXPORTER_OTLP_INSECURE=true)");
        return 0;
    }
    export_target_t t;
    char why[128], url[300];
    if (export_target_from_otlp(s->otel_endpoint, &t, why, sizeof why) != 0) {
        LOG_ERROR(LOG_SCOPE, "otel exporter off: endpointAddress %s: %s", s->otel_endpoint, why);
        return 0;
    }
    snprintf(url, sizeof url, "http://%s:%d%s", t.host, t.port, t.target);
    sink_t *k = add_sink(e, "otel", SINK_OTLP, DIAG_SPAN_EXPORTED_OTLP, url,
                         s->otel_timeout_ms > 0 ? (unsigned)s->otel_timeout_ms : EXPORT_TIMEOUT_MS);
    if (!k) {
        export_target_free(&t);
        return -1;
    }
    k->target = t;
    for (size_t i = 0; i < s->otel_header_count; i++) {
        const config_kv_t *h = &s->otel_headers[i];
        /* the client writes Host and Content-Length; the body is protobuf whatever is asked */
        if (!strcasecmp(h->name, "Content-Type") || !strcasecmp(h->name, "Content-Length") ||
            !strcasecmp(h->name, "Host"))
            continue;
        if (add_header(k, h->name, h->value) != 0)
            return -1;
    }
    LOG_INFO(LOG_SCOPE, "exporting trace spans to OpenTelemetry (OTLP/HTTP protobuf) at %s", url);
    return 0;
}

static void free_unstarted(export_t *e)
{
    /* nothing was initialised on the loop yet */
    for (int i = 0; i < e->sink_count; i++) {
        export_target_free(&e->sinks[i].target);
        for (size_t j = 0; j < e->sinks[i].header_count; j++) {
            base_free((char *)e->sinks[i].headers[j].name.base);
            base_free((char *)e->sinks[i].headers[j].value.base);
        }
    }
    for (int i = 0; i < e->ring_count; i++)
        diag_span_ring_free(e->rings[i].ring);
    base_free(e->rings);
    base_free(e->service);
    base_free(e);
}

export_t *export_start(uv_loop_t *main_loop, const config_t *cfg, int worker_count, diag_span_ring_t **rings_out)
{
    if (worker_count <= 0 || cfg->spec.sampling_rate <= 0)
        return NULL; /* samplingRate 0: daprd records no span at all */
    export_t *e = base_calloc(1, sizeof(*e));
    if (!e)
        goto fail_oom;
    e->loop = main_loop;
    e->to_stdout = cfg->spec.tracing_stdout;
    const char *id = cfg->app_id ? cfg->app_id : "";
    if (!(e->service = base_strndup(id, strlen(id))))
        goto fail_oom;
    if (setup_zipkin(e, cfg) != 0 || setup_otlp(e, cfg) != 0)
        goto fail_oom;
    if (e->sink_count == 0 && !e->to_stdout) {
        free_unstarted(e);
        return NULL;
    }
    if (!(e->rings = base_calloc((size_t)worker_count, sizeof(*e->rings))))
        goto fail_oom;
    for (; e->ring_count < worker_count; e->ring_count++)
        if (!(e->rings[e->ring_count].ring = diag_span_ring_new()))
            goto fail_oom;
    if (e->sink_count) {
        unsigned connect_ms = 0;
        for (int i = 0; i < e->sink_count; i++)
            connect_ms = BASE_MAX(connect_ms, e->sinks[i].timeout_ms);
        http_client_options_t o = { .connect_timeout_ms = connect_ms };
        if (!(e->client = http_client_new(main_loop, &o)))
            goto fail_oom;
    }
    /* From here on, handles exist: teardown goes through close_all(). */
    uv_timer_init(main_loop, &e->tick);
    uv_async_init(main_loop, &e->wake, on_wake);
    e->wake.data = e;
    uv_unref((uv_handle_t *)&e->wake);
    uv_timer_init(main_loop, &e->stop_timer);
    e->tick.data = e->stop_timer.data = e;
    e->open_handles = 3 + e->sink_count + (e->client ? 1 : 0);
    for (int i = 0; i < e->sink_count; i++) {
        uv_timer_init(main_loop, &e->sinks[i].timer);
        e->sinks[i].timer.data = &e->sinks[i];
    }
    for (int i = 0; i < e->ring_count; i++)
        e->rings[i].rate_since = uv_now(main_loop);
    uv_timer_start(&e->tick, on_tick, EXPORT_INTERVAL_MS, 0);
    uv_unref((uv_handle_t *)&e->tick);
    if (e->to_stdout)
        LOG_INFO(LOG_SCOPE, "writing trace spans to the log (scope %s)", TRACE_LOG_SCOPE);
    for (int i = 0; i < worker_count; i++)
        rings_out[i] = e->rings[i].ring;
    for (int i = 0; i < worker_count; i++)
        diag_span_ring_set_notify(e->rings[i].ring, notify_main, e);
    return e;

fail_oom:
    LOG_ERROR(LOG_SCOPE, "trace export off: out of memory");
    if (e)
        free_unstarted(e);
    return NULL;
}

size_t export_footprint(const export_t *e)
{
    if (!e)
        return 0;
    size_t n = sizeof(*e) + e->line.cap + (size_t)e->ring_count * (sizeof(ring_slot_t) + sizeof(diag_span_t) * DIAG_SPAN_RING_CAP);
    for (int i = 0; i < e->sink_count; i++)
        n += e->sinks[i].flights[0].body.cap + e->sinks[i].flights[1].body.cap;
    return n;
}
