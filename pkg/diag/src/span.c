/*
 * span.c - the span record's builders, the per-thread single-producer single-consumer rings,
 * and the span counters.
 *
 * Ring protocol: `head` counts slots published by the producer, `tail` slots released by the
 * consumer; both run freely over uint32_t and are reduced modulo the (power of two) capacity.
 * The producer writes a slot, then stores head with release; the consumer loads head with
 * acquire before it reads slots, and stores tail with release after it read them; the
 * producer loads tail with acquire before it overwrites a slot. Each side keeps a cached copy
 * of the other's index, so the shared cache line is only read again when the cached view says
 * "full" (producer) or "empty" (consumer, through diag_span_ring_pending()).
 */
#include "diag/span.h"

#include <stdatomic.h>
#include <time.h>

#include "base/pool.h"

#define RING_MASK (DIAG_SPAN_RING_CAP - 1u)
_Static_assert((DIAG_SPAN_RING_CAP & RING_MASK) == 0, "ring capacity must be a power of two");
_Static_assert((DIAG_SPAN_NOTIFY_EVERY & (DIAG_SPAN_NOTIFY_EVERY - 1)) == 0, "notify period must be a power of two");
_Static_assert(DIAG_SPAN_TEXT_MAX + DIAG_SPAN_KEY_COUNT <= UINT16_MAX, "text offsets and key numbers are 16-bit");

/* Keeps the producer's and the consumer's fields on different cache lines. */
#define CACHE_LINE 64

struct diag_span_ring {
    /* producer */
    _Atomic uint32_t head;
    uint32_t tail_seen;
    char pad0[CACHE_LINE - 2 * sizeof(uint32_t)];
    /* consumer */
    _Atomic uint32_t tail;
    char pad1[CACHE_LINE - sizeof(uint32_t)];
    /* set while a thread is bound (one producer per ring) */
    _Atomic int bound;
    /* read by the producer only, set before it starts */
    void (*notify)(void *arg);
    void *notify_arg;
    char pad2[CACHE_LINE - sizeof(int) - 2 * sizeof(void *)];
    diag_span_t slots[DIAG_SPAN_RING_CAP];
};

static _Thread_local diag_span_ring_t *tl_ring;

/* Dropped spans are counted by every worker, the rest by the main thread: own lines. */
static struct {
    _Atomic uint64_t value;
    char pad[CACHE_LINE - sizeof(uint64_t)];
} counters[DIAG_SPAN_COUNTER_COUNT];

uint64_t diag_now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the record ---- */

void diag_span_reset(diag_span_t *s)
{
    /* Everything but the text buffer, which is only read up to text_len. */
    memset(s, 0, offsetof(diag_span_t, text));
    s->kind = DIAG_SPAN_KIND_SERVER;
}

void diag_span_set_context(diag_span_t *s, const diag_trace_ctx_t *ctx)
{
    memcpy(s->trace_id, ctx->trace_id, sizeof s->trace_id);
    memcpy(s->span_id, ctx->span_id, sizeof s->span_id);
    if (ctx->has_parent) {
        memcpy(s->parent_span_id, ctx->parent_span_id, sizeof s->parent_span_id);
        s->has_parent = 1;
    } else {
        memset(s->parent_span_id, 0, sizeof s->parent_span_id);
        s->has_parent = 0;
    }
}

/* The longest prefix of v, at most `room` bytes, that does not end inside a UTF-8 sequence.
 * Only continuation bytes (10xxxxxx) are stepped back over, at most three. */
static size_t cut_utf8(base_slice_t v, size_t room)
{
    if (v.len <= room)
        return v.len;
    size_t cut = room;
    for (int back = 0; back < 3 && cut > 0 && ((unsigned char)v.base[cut] & 0xc0) == 0x80; back++)
        cut--;
    return cut;
}

/*
 * Stores v into *dst: over the old bytes of *dst when it fits there (a replaced value does
 * not waste the buffer), else appended. With may_cut == 0 the value is stored whole or not at
 * all. Returns 0 (whole), 1 (cut), -1 (nothing stored; *dst unchanged).
 */
/* Appends n bytes that fit to the text and points *dst at them. */
static inline void append_text(diag_span_t *s, diag_span_str_t *dst, const char *p, size_t n)
{
    if (n)
        memcpy(s->text + s->text_len, p, n);
    dst->off = s->text_len;
    dst->len = (uint16_t)n;
    s->text_len = (uint16_t)(s->text_len + n);
}

static int put_text(diag_span_t *s, diag_span_str_t *dst, base_slice_t v, int may_cut)
{
    if (v.len > 0 && !v.base)
        return -1;
    if (v.len <= dst->len) {
        if (v.len)
            memmove(s->text + dst->off, v.base, v.len);
        dst->len = (uint16_t)v.len;
        return 0;
    }
    size_t room = DIAG_SPAN_TEXT_MAX - s->text_len;
    size_t n = cut_utf8(v, room);
    if (n < v.len && (!may_cut || n == 0))
        return -1;
    append_text(s, dst, v.base, n);
    return n < v.len ? 1 : 0;
}

int diag_span_set_name(diag_span_t *s, base_slice_t name)
{
    return put_text(s, &s->name, name, 1);
}

/* The known keys' names, with their lengths so that adding one costs no strlen(). */
#define KEY(k, name) [k] = { name, sizeof(name) - 1 }
static const struct {
    const char *name;
    uint8_t len;
} known_keys[DIAG_SPAN_KEY_COUNT] = {
    KEY(DIAG_SPAN_KEY_RPC_SERVICE, "rpc.service"),
    KEY(DIAG_SPAN_KEY_NET_PEER_NAME, "net.peer.name"),
    KEY(DIAG_SPAN_KEY_DAPR_API, "dapr.api"),
    KEY(DIAG_SPAN_KEY_DAPR_PROTOCOL, "dapr.protocol"),
    KEY(DIAG_SPAN_KEY_DAPR_STATUS_CODE, "dapr.status_code"),
    KEY(DIAG_SPAN_KEY_DAPR_INVOKE_METHOD, "dapr.invoke_method"),
    KEY(DIAG_SPAN_KEY_HTTP_REQUEST_METHOD, "http.request.method"),
    KEY(DIAG_SPAN_KEY_URL_FULL, "url.full"),
    KEY(DIAG_SPAN_KEY_SERVER_ADDRESS, "server.address"),
    KEY(DIAG_SPAN_KEY_SERVER_PORT, "server.port"),
};
#undef KEY

const char *diag_span_key_name(diag_span_key_t k)
{
    return (unsigned)k < DIAG_SPAN_KEY_COUNT ? known_keys[k].name : "";
}

int diag_span_add_attr_key(diag_span_t *s, diag_span_key_t key, base_slice_t value)
{
    if (s->attr_count >= DIAG_SPAN_MAX_ATTRS || (unsigned)key >= DIAG_SPAN_KEY_COUNT)
        return -1;
    diag_span_attr_t *a = &s->attrs[s->attr_count];
    a->key = (diag_span_str_t){ (uint16_t)(DIAG_SPAN_TEXT_MAX + key), known_keys[key].len };
    if (value.len <= (size_t)(DIAG_SPAN_TEXT_MAX - s->text_len) && (value.base || !value.len)) {
        append_text(s, &a->value, value.base, value.len); /* the common case: whole */
        s->attr_count++;
        return 0;
    }
    a->value = (diag_span_str_t){ 0, 0 };
    int rc = put_text(s, &a->value, value, 1);
    if (rc < 0)
        return -1;
    s->attr_count++;
    return rc;
}

int diag_span_add_attr(diag_span_t *s, base_slice_t key, base_slice_t value)
{
    for (unsigned i = 0; i < s->attr_count; i++)
        if (base_slice_eq(diag_span_attr_key(s, &s->attrs[i]), key))
            return put_text(s, &s->attrs[i].value, value, 1);
    if (s->attr_count >= DIAG_SPAN_MAX_ATTRS || key.len == 0)
        return -1;
    diag_span_attr_t *a = &s->attrs[s->attr_count];
    uint16_t saved = s->text_len;
    a->key = (diag_span_str_t){ 0, 0 };
    a->value = (diag_span_str_t){ 0, 0 };
    if (put_text(s, &a->key, key, 0) != 0)
        return -1;
    int rc = put_text(s, &a->value, value, 1);
    if (rc < 0) {
        s->text_len = saved; /* a key without any of its value is worth nothing */
        return -1;
    }
    s->attr_count++;
    return rc;
}

int diag_span_set_error(diag_span_t *s, base_slice_t message)
{
    s->status = DIAG_SPAN_STATUS_ERROR;
    return put_text(s, &s->status_message, message, 1);
}

/* ---- rings ---- */

diag_span_ring_t *diag_span_ring_new(void)
{
    /* calloc: a large zeroed block comes straight from the kernel, so pages are only touched
     * (and resident) once the ring has gone round that far. */
    return base_calloc(1, sizeof(diag_span_ring_t));
}

void diag_span_ring_free(diag_span_ring_t *r)
{
    base_free(r);
}

diag_span_t *diag_span_ring_reserve(diag_span_ring_t *r)
{
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (head - r->tail_seen >= DIAG_SPAN_RING_CAP) {
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - r->tail_seen >= DIAG_SPAN_RING_CAP) {
            diag_span_count(DIAG_SPAN_DROPPED_QUEUE_FULL, 1);
            return NULL;
        }
    }
    diag_span_t *s = &r->slots[head & RING_MASK];
    diag_span_reset(s);
    return s;
}

void diag_span_ring_commit(diag_span_ring_t *r, diag_span_t *s)
{
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (!s || s != &r->slots[head & RING_MASK] || head - r->tail_seen >= DIAG_SPAN_RING_CAP)
        return;
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    if (((head + 1) & (DIAG_SPAN_NOTIFY_EVERY - 1)) == 0 && r->notify)
        r->notify(r->notify_arg);
}

void diag_span_ring_set_notify(diag_span_ring_t *r, void (*fn)(void *arg), void *arg)
{
    r->notify = fn;
    r->notify_arg = arg;
}

int diag_span_bind_thread(diag_span_ring_t *r)
{
    if (r == tl_ring)
        return 0;
    if (r) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&r->bound, &expected, 1))
            return -1;
    }
    if (tl_ring)
        atomic_store(&tl_ring->bound, 0);
    tl_ring = r;
    return 0;
}

int diag_tracing_export_on(void)
{
    return tl_ring != NULL;
}

diag_span_t *diag_span_reserve(void)
{
    diag_span_ring_t *r = tl_ring;
    return r ? diag_span_ring_reserve(r) : NULL;
}

void diag_span_commit(diag_span_t *s)
{
    diag_span_ring_t *r = tl_ring;
    if (r)
        diag_span_ring_commit(r, s);
}

size_t diag_span_ring_pending(diag_span_ring_t *r)
{
    uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    return head - tail;
}

const diag_span_t *diag_span_ring_peek(diag_span_ring_t *r, size_t i)
{
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    return &r->slots[(tail + (uint32_t)i) & RING_MASK];
}

void diag_span_ring_release(diag_span_ring_t *r, size_t n)
{
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    atomic_store_explicit(&r->tail, tail + (uint32_t)n, memory_order_release);
}

/* ---- counters ---- */

void diag_span_count(diag_span_counter_t c, uint64_t n)
{
    if ((unsigned)c < DIAG_SPAN_COUNTER_COUNT)
        atomic_fetch_add_explicit(&counters[c].value, n, memory_order_relaxed);
}

void diag_span_stats(diag_span_stats_t *out)
{
    out->dropped_queue_full = atomic_load_explicit(&counters[DIAG_SPAN_DROPPED_QUEUE_FULL].value, memory_order_relaxed);
    out->dropped_export_failed =
        atomic_load_explicit(&counters[DIAG_SPAN_DROPPED_EXPORT_FAILED].value, memory_order_relaxed);
    out->exported_zipkin = atomic_load_explicit(&counters[DIAG_SPAN_EXPORTED_ZIPKIN].value, memory_order_relaxed);
    out->exported_otlp = atomic_load_explicit(&counters[DIAG_SPAN_EXPORTED_OTLP].value, memory_order_relaxed);
}
