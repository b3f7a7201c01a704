/*
 * span.h - finished trace spans: a fixed-size record, the per-thread rings that carry them
 * from the worker threads to the exporter on the main thread, and the span counters.
 *
 * A span is recorded once it is over: the worker reserves a slot in its own ring, fills the
 * whole record (ids, kind, times, name, attributes, status) and commits it, back to back, with
 * no lock and no allocation. The exporter (pkg/export) drains every ring on the main loop.
 * A full ring drops the span and counts it; the request never waits.
 *
 * Threads: each ring has exactly one producer (the thread it is bound to with
 * diag_span_bind_thread(), or whoever calls diag_span_ring_reserve()/_commit() on it) and one
 * consumer (the thread that calls diag_span_ring_pending()/_peek()/_release()). The two may
 * run at the same time: the ring is a single-producer single-consumer queue published with
 * acquire/release atomics. The counters are atomics, readable from any thread.
 */
#ifndef DIAG_SPAN_H
#define DIAG_SPAN_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "diag/trace.h"

#define DIAG_SPAN_MAX_ATTRS 16
/* Bytes for the name, the status message and every attribute key and value together. */
#define DIAG_SPAN_TEXT_MAX 1024
/* Slots per ring (a power of two): about 1.2 MiB per worker. */
#define DIAG_SPAN_RING_CAP 1024u

/* The values are OTLP's SpanKind numbers. Zipkin: SERVER, CLIENT; no kind for internal. */
typedef enum diag_span_kind {
    DIAG_SPAN_KIND_INTERNAL = 1,
    DIAG_SPAN_KIND_SERVER = 2,
    DIAG_SPAN_KIND_CLIENT = 3,
} diag_span_kind_t;

/* OTLP's Status.code numbers. */
typedef enum diag_span_status {
    DIAG_SPAN_STATUS_UNSET = 0,
    DIAG_SPAN_STATUS_ERROR = 2,
} diag_span_status_t;

/*
 * The attribute keys of the sidecar's own spans, daprd's names. A span stores such a key as its
 * number instead of copying its text (diag_span_add_attr_key()): the key of an attribute is
 * read with diag_span_attr_key(), never as a piece of the text.
 */
typedef enum diag_span_key {
    DIAG_SPAN_KEY_RPC_SERVICE = 0,     /* rpc.service */
    DIAG_SPAN_KEY_NET_PEER_NAME,       /* net.peer.name */
    DIAG_SPAN_KEY_DAPR_API,            /* dapr.api */
    DIAG_SPAN_KEY_DAPR_PROTOCOL,       /* dapr.protocol */
    DIAG_SPAN_KEY_DAPR_STATUS_CODE,    /* dapr.status_code */
    DIAG_SPAN_KEY_DAPR_INVOKE_METHOD,  /* dapr.invoke_method */
    DIAG_SPAN_KEY_HTTP_REQUEST_METHOD, /* http.request.method */
    DIAG_SPAN_KEY_URL_FULL,            /* url.full */
    DIAG_SPAN_KEY_SERVER_ADDRESS,      /* server.address */
    DIAG_SPAN_KEY_SERVER_PORT,         /* server.port */
    DIAG_SPAN_KEY_COUNT
} diag_span_key_t;

/* A piece of diag_span_t.text; for an attribute key given by number, off is
 * DIAG_SPAN_TEXT_MAX + the number and len the key's length. */
typedef struct diag_span_str {
    uint16_t off;
    uint16_t len;
} diag_span_str_t;

typedef struct diag_span_attr {
    diag_span_str_t key;
    diag_span_str_t value;
} diag_span_attr_t;

/*
 * One finished span. No pointers: a record can be copied, and lives in a ring slot until the
 * exporter releases it. The text fields are (offset, length) pieces of `text`; read them with
 * diag_span_text(). Fill the ids, kind and times directly (or with diag_span_set_context());
 * the text only through the builder functions below, which never write past `text`.
 */
typedef struct diag_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    uint8_t has_parent;   /* 0: a root span (no parentId / parentSpanId is written) */
    uint8_t kind;         /* diag_span_kind_t */
    uint8_t status;       /* diag_span_status_t */
    uint8_t attr_count;
    uint64_t start_ns;    /* Unix time in ns (diag_now_unix_ns()) */
    uint64_t end_ns;
    diag_span_str_t name;
    diag_span_str_t status_message; /* only with DIAG_SPAN_STATUS_ERROR */
    diag_span_attr_t attrs[DIAG_SPAN_MAX_ATTRS];
    uint16_t text_len;    /* bytes of `text` in use */
    char text[DIAG_SPAN_TEXT_MAX];
} diag_span_t;

static inline base_slice_t diag_span_text(const diag_span_t *s, diag_span_str_t str)
{
    return (base_slice_t){ s->text + str.off, str.len };
}

/* The key of diag_span_key_t k, NUL-terminated. */
const char *diag_span_key_name(diag_span_key_t k);

/* An attribute's key: its text, or the name of its number. */
static inline base_slice_t diag_span_attr_key(const diag_span_t *s, const diag_span_attr_t *a)
{
    if (a->key.off >= DIAG_SPAN_TEXT_MAX)
        return (base_slice_t){ diag_span_key_name((diag_span_key_t)(a->key.off - DIAG_SPAN_TEXT_MAX)), a->key.len };
    return diag_span_text(s, a->key);
}

/* Wall-clock time (CLOCK_REALTIME) in ns since the Unix epoch, for start_ns and end_ns. */
uint64_t diag_now_unix_ns(void);

/* ---- building a span (any thread; the caller owns the record until it commits it) ---- */

/* Empties the record: no ids, kind SERVER, times 0, no text, status unset.
 * diag_span_reserve() returns slots already reset. */
void diag_span_reset(diag_span_t *s);
/* Copies this hop's trace id, span id and, when the context has one, the parent span id. */
void diag_span_set_context(diag_span_t *s, const diag_trace_ctx_t *ctx);

/*
 * The text setters copy their bytes into the record's text buffer, first come first served:
 * set the name first so that long attribute values cannot crowd it out. A value that does
 * not fit is cut at a UTF-8 character boundary. Each returns 0 when stored whole, 1 when
 * stored cut, -1 when nothing was stored (no room at all, or for an attribute: the table is
 * full or its key does not fit whole).
 */
int diag_span_set_name(diag_span_t *s, base_slice_t name);
/* Adds a string attribute. A key already present gets the new value (keys stay unique, as
 * OTLP requires). */
int diag_span_add_attr(diag_span_t *s, base_slice_t key, base_slice_t value);
/* Adds a string attribute with one of the known keys, stored as its number (no copy, no search:
 * the caller adds each known key once). Returns as diag_span_add_attr(). */
int diag_span_add_attr_key(diag_span_t *s, diag_span_key_t key, base_slice_t value);
/* Status ERROR with a description (may be empty). */
int diag_span_set_error(diag_span_t *s, base_slice_t message);

/* ---- rings ---- */

typedef struct diag_span_ring diag_span_ring_t;

/* A ring of DIAG_SPAN_RING_CAP slots, unbound. NULL when out of memory. */
diag_span_ring_t *diag_span_ring_new(void);
/* Frees a ring; no thread may be bound to it any more. NULL is ignored. */
void diag_span_ring_free(diag_span_ring_t *r);

/* Producer side of one ring. reserve returns an empty slot (reset), or NULL when the ring is
 * full: the span is dropped and counted (DIAG_SPAN_DROPPED_QUEUE_FULL). commit publishes the
 * slot that the last reserve returned; a pointer that is not that slot is ignored. A slot
 * reserved and never committed is simply reused by the next reserve. */
diag_span_t *diag_span_ring_reserve(diag_span_ring_t *r);
void diag_span_ring_commit(diag_span_ring_t *r, diag_span_t *s);

/* Spans between two calls of a ring's notify function (a power of two). */
#define DIAG_SPAN_NOTIFY_EVERY 128u
/*
 * Has commit call fn(arg) on the producer's thread after every DIAG_SPAN_NOTIFY_EVERY spans
 * it publishes, so that the consumer, which otherwise drains on its own schedule, hears of a
 * burst before the ring overflows (the exporter wakes its loop with uv_async_send(), which
 * makes no syscall while a wake-up is already pending). Set before the producer starts; NULL
 * fn for none.
 */
void diag_span_ring_set_notify(diag_span_ring_t *r, void (*fn)(void *arg), void *arg);

/*
 * Binds `r` to the calling thread (a _Thread_local pointer), or unbinds it with NULL.
 * Returns 0, or -1 when `r` is already bound to another thread (a ring has one producer).
 * A worker binds its ring before it serves and unbinds it before it ends.
 */
int diag_span_bind_thread(diag_span_ring_t *r);
/* 1 when the calling thread has a ring, i.e. spans it records are exported. Cheap: callers
 * use it to skip building spans at all. */
int diag_tracing_export_on(void);
/* The calling thread's ring: diag_span_ring_reserve()/_commit() on it; reserve returns NULL
 * when no ring is bound (export off) or the ring is full. Lock-free, allocation-free. */
diag_span_t *diag_span_reserve(void);
void diag_span_commit(diag_span_t *s);

/* Consumer side of one ring: spans committed and not yet released, oldest first. */
size_t diag_span_ring_pending(diag_span_ring_t *r);
/* The i-th pending span (i < diag_span_ring_pending()); valid until released. */
const diag_span_t *diag_span_ring_peek(diag_span_ring_t *r, size_t i);
/* Gives the n oldest pending spans back to the producer. */
void diag_span_ring_release(diag_span_ring_t *r, size_t n);

/* ---- counters (process-wide, atomic; read by the metrics scrape) ---- */

typedef enum diag_span_counter {
    DIAG_SPAN_DROPPED_QUEUE_FULL = 0, /* a worker's ring was full */
    DIAG_SPAN_DROPPED_EXPORT_FAILED,  /* in a batch an exporter could not deliver */
    DIAG_SPAN_EXPORTED_ZIPKIN,        /* accepted by the Zipkin endpoint (2xx) */
    DIAG_SPAN_EXPORTED_OTLP,          /* accepted by the OTLP endpoint (2xx) */
    DIAG_SPAN_COUNTER_COUNT
} diag_span_counter_t;

typedef struct diag_span_stats {
    uint64_t dropped_queue_full;
    uint64_t dropped_export_failed;
    uint64_t exported_zipkin;
    uint64_t exported_otlp;
} diag_span_stats_t;

/* Adds n to a counter (the exporter counts its batches). Any thread. */
void diag_span_count(diag_span_counter_t c, uint64_t n);
/* A snapshot of the counters since the process started. Any thread. */
void diag_span_stats(diag_span_stats_t *out);

#endif
