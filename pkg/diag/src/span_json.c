/*
 * span_json.c - Zipkin v2 and OTLP/HTTP JSON for finished spans, built and printed with cJSON,
 * as every JSON the sidecar writes.
 *
 * The exporter encodes every span of a busy sidecar on the main thread, so this is the hot loop
 * of tracing. A plain cJSON tree costs a malloc and a free per value (about 30 per span) and
 * prints numbers with "%1.15g" checked by sscanf, which also loses digits of a 19-digit time
 * in ns. Here a span's tree allocates nothing and copies no string:
 *
 * - its nodes are an array on the stack, each set up as cJSON_CreateObject(),
 *   cJSON_CreateArray() or cJSON_CreateStringReference() sets up its node, without the
 *   allocation, and linked with cJSON_AddItemToObjectCS() (constant keys, not copied) and
 *   cJSON_AddItemToArray(). The tree is printed and dropped with the stack frame: it never
 *   reaches cJSON_Delete(), so nothing goes through cJSON's allocation hooks. (An arena behind
 *   cJSON_InitHooks() would replace process-wide hooks that other threads' cJSON calls, the
 *   JSON log lines, go through at the same time.)
 * - every value is a reference into a scratch area: the span's text pieces copied there with a
 *   NUL (the record's text is not NUL-terminated) and made valid UTF-8, the service name, the
 *   hex ids and the decimal times. Numbers are cJSON_Raw nodes holding their decimal text.
 * - cJSON_PrintPreallocated() prints the tree straight into the caller's buffer. The scratch
 *   is the same buffer, past the room reserved for the print, so it outlives the print and a
 *   span needs no memory but the buffer it is appended to.
 *
 * A pre-built tree per format with its leaves repointed would save the linking (about 6 % of a
 * span), but the members that come and go (parent, kind, each attribute, status) would have
 * to be detached and put back per span. The framing between spans ("[", ",", "]", the end of
 * the OTLP envelope) is appended here: printing the whole batch as one tree costs the same per
 * span (measured) but keeps the nodes and scratch of 512 spans alive until the end.
 * Figures in docs/internals/diag.md.
 *
 * Each span first reserves its worst case (every text byte printed as six), so a print cannot
 * run out of room and a failed reservation leaves the buffer as it was.
 */
#include "diag/span_json.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <string.h>

/* Printed bytes of one span besides its text and service name: keys, ids, times, punctuation. */
#define SPAN_FIXED_MAX 640
#define ATTR_FIXED_MAX 48
#define PRINTED_MAX 6 /* cJSON's "\u00XX" for a control byte */
#define SANITIZED_MAX 3 /* U+FFFD for an invalid byte */
/* Scratch besides the text: the NULs of up to 2 + 2 * 16 strings and the service name, three
 * hex ids and two decimal numbers, with their NULs. */
#define SCRATCH_FIXED_MAX 192

/* A Zipkin span takes 31 nodes at most, an OTLP span 76, the OTLP envelope 14. */
#define SPAN_NODES_MAX (12 + 4 * DIAG_SPAN_MAX_ATTRS)

typedef struct tree {
    cJSON node[SPAN_NODES_MAX];
    unsigned used;
    char *scratch;     /* where the next value is copied */
    char *scratch_end; /* the end of the reservation (checked in debug builds) */
} tree_t;

/* ---- nodes ---- */

static cJSON *node_new(tree_t *t, int type, const char *value)
{
    assert(t->used < SPAN_NODES_MAX);
    cJSON *n = &t->node[t->used++];
    *n = (cJSON){ .type = type, .valuestring = (char *)value };
    return n;
}

static cJSON *add_node(tree_t *t, cJSON *parent, const char *key, int type, const char *value)
{
    cJSON *n = node_new(t, type, value);
    if (key)
        cJSON_AddItemToObjectCS(parent, key, n);
    else
        cJSON_AddItemToArray(parent, n);
    return n;
}

static cJSON *add_object(tree_t *t, cJSON *parent, const char *key)
{
    return add_node(t, parent, key, cJSON_Object, NULL);
}

static cJSON *add_array(tree_t *t, cJSON *parent, const char *key)
{
    return add_node(t, parent, key, cJSON_Array, NULL);
}

/* A string cJSON prints (escaping it) but does not own. */
static void add_string(tree_t *t, cJSON *parent, const char *key, const char *value)
{
    add_node(t, parent, key, cJSON_String | cJSON_IsReference, value);
}

/* A number as its decimal text, printed as is. */
static void add_number(tree_t *t, cJSON *parent, const char *key, const char *digits)
{
    add_node(t, parent, key, cJSON_Raw | cJSON_IsReference, digits);
}

/* ---- values in the scratch ---- */

/* "00".."ff": two output characters per table load. */
static const char hex_pairs[256][2] = {
#define HEX_DIGIT(d) ((d) < 10 ? '0' + (d) : 'a' + (d) - 10)
#define H4(i) { HEX_DIGIT((i) >> 4), HEX_DIGIT((i) & 15) }
#define HEX_ROW(r) H4(r + 0), H4(r + 1), H4(r + 2), H4(r + 3), H4(r + 4), H4(r + 5), H4(r + 6), H4(r + 7), \
                   H4(r + 8), H4(r + 9), H4(r + 10), H4(r + 11), H4(r + 12), H4(r + 13), H4(r + 14), H4(r + 15)
    HEX_ROW(0x00), HEX_ROW(0x10), HEX_ROW(0x20), HEX_ROW(0x30), HEX_ROW(0x40), HEX_ROW(0x50), HEX_ROW(0x60),
    HEX_ROW(0x70), HEX_ROW(0x80), HEX_ROW(0x90), HEX_ROW(0xa0), HEX_ROW(0xb0), HEX_ROW(0xc0), HEX_ROW(0xd0),
    HEX_ROW(0xe0), HEX_ROW(0xf0),
#undef HEX_ROW
#undef H4
#undef HEX_DIGIT
};

static const char dec_pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";

static const char *scratch_hex(tree_t *t, const uint8_t *p, size_t n)
{
    char *start = t->scratch, *o = start;
    for (size_t i = 0; i < n; i++, o += 2)
        memcpy(o, hex_pairs[p[i]], 2);
    *o++ = '\0';
    t->scratch = o;
    return start;
}

static const char *scratch_u64(tree_t *t, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    while (v >= 100) {
        n += 2;
        memcpy(tmp + sizeof tmp - n, dec_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        n += 2;
        memcpy(tmp + sizeof tmp - n, dec_pairs + 2 * v, 2);
    } else {
        tmp[sizeof tmp - ++n] = (char)('0' + v);
    }
    char *start = t->scratch;
    memcpy(start, tmp + sizeof tmp - n, n);
    start[n] = '\0';
    t->scratch = start + n + 1;
    return start;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* A word needs a closer look when one of its bytes is 0 or 0x80 and above. Without a high byte,
 * w - ONES borrows into a byte's top bit only at a zero byte, so this never misses one. */
#define ONES64 0x0101010101010101ull
#define HIGHS64 0x8080808080808080ull
#define ONES32 0x01010101u
#define HIGHS32 0x80808080u

static inline int word_plain(uint64_t w)
{
    return (((w - ONES64) | w) & HIGHS64) == 0;
}

static inline int word32_plain(uint32_t w)
{
    return (((w - ONES32) | w) & HIGHS32) == 0;
}

/* The bytes around a zero or non-ASCII byte, one at a time. Out of line so that the fast path
 * stays small. */
__attribute__((noinline)) static char *sanitize_slow(char *o, const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t w;
        if (n - i >= 8 && (memcpy(&w, p + i, 8), word_plain(w))) {
            memcpy(o, &w, 8);
            o += 8;
            i += 8;
            continue;
        }
        unsigned char c = p[i];
        if (c != 0 && c < 0x80) {
            *o++ = (char)c;
            i++;
            continue;
        }
        size_t len = c ? utf8_len(p + i, n - i) : 0;
        if (len) {
            memcpy(o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

/*
 * Copies text into the scratch as a C string cJSON can print. cJSON escapes controls, '"' and
 * '\\' (RFC 8259) but copies other bytes as they are, and a collector rejects a whole batch
 * over one invalid UTF-8 sequence; so here bytes that are not valid UTF-8 become U+FFFD, and so
 * does a NUL byte, which a C string cannot carry. Plain ASCII is copied in whole words, the
 * last one overlapping the one before.
 */
static const char *scratch_text(tree_t *t, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    char *start = t->scratch, *o = start;
    if (n >= 8) {
        uint64_t w;
        size_t i = 0;
        for (; n - i >= 8; i += 8) {
            memcpy(&w, p + i, 8);
            if (!word_plain(w))
                goto slow;
            memcpy(o + i, &w, 8);
        }
        memcpy(&w, p + n - 8, 8);
        if (!word_plain(w))
            goto slow;
        memcpy(o + n - 8, &w, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        if (!word32_plain(a) || !word32_plain(b))
            goto slow;
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (p[i] == 0 || p[i] >= 0x80)
                goto slow;
            o[i] = (char)p[i];
        }
    }
    o += n;
    goto done;
slow:
    o = sanitize_slow(start, p, n);
done:
    *o++ = '\0';
    t->scratch = o;
    return start;
}

static const char *scratch_piece(tree_t *t, const diag_span_t *s, diag_span_str_t str)
{
    return scratch_text(t, s->text + str.off, str.len);
}

/* ---- sizes ---- */

static size_t span_printed_max(const diag_span_t *s, base_slice_t service)
{
    return SPAN_FIXED_MAX + (size_t)s->attr_count * ATTR_FIXED_MAX + PRINTED_MAX * (size_t)s->text_len +
           2 * PRINTED_MAX * service.len;
}

static size_t span_scratch_max(const diag_span_t *s, base_slice_t service)
{
    return SCRATCH_FIXED_MAX + SANITIZED_MAX * ((size_t)s->text_len + service.len);
}

/* ---- Zipkin v2 ---- */

static int key_is(const diag_span_t *s, diag_span_str_t key, const char *lit, size_t len)
{
    return key.len == len && memcmp(s->text + key.off, lit, len) == 0;
}
#define KEY_IS(s, k, lit) key_is((s), (k), (lit), sizeof(lit) - 1)

/* An attribute that OpenTelemetry's exporter replaces by its own tag: the resource's
 * service.name and the scope name always win; otel.status_code when a status is set; "error"
 * is written for an error status and removed otherwise. */
static int zipkin_tag_shadowed(const diag_span_t *s, diag_span_str_t key)
{
    return KEY_IS(s, key, "service.name") || KEY_IS(s, key, "otel.library.name") || KEY_IS(s, key, "error") ||
           (s->status != DIAG_SPAN_STATUS_UNSET && KEY_IS(s, key, "otel.status_code"));
}

static cJSON *zipkin_tree(tree_t *t, const diag_span_t *s, base_slice_t service_name)
{
    cJSON *o = node_new(t, cJSON_Object, NULL);
    add_string(t, o, "traceId", scratch_hex(t, s->trace_id, sizeof s->trace_id));
    add_string(t, o, "id", scratch_hex(t, s->span_id, sizeof s->span_id));
    if (s->has_parent)
        add_string(t, o, "parentId", scratch_hex(t, s->parent_span_id, sizeof s->parent_span_id));
    add_string(t, o, "name", scratch_piece(t, s, s->name));
    if (s->kind == DIAG_SPAN_KIND_SERVER)
        add_string(t, o, "kind", "SERVER");
    else if (s->kind == DIAG_SPAN_KIND_CLIENT)
        add_string(t, o, "kind", "CLIENT");
    /* zipkin-go: timestamp rounded to the µs, duration truncated; 0 would be omitted there,
     * and Zipkin reads a missing duration as "unfinished", so it is at least 1. */
    uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
    add_number(t, o, "timestamp", scratch_u64(t, (s->start_ns + 500) / 1000));
    add_number(t, o, "duration", scratch_u64(t, dur ? dur : 1));
    const char *service = scratch_text(t, service_name.base, service_name.len);
    add_string(t, add_object(t, o, "localEndpoint"), "serviceName", service);
    cJSON *tags = add_object(t, o, "tags");
    for (unsigned i = 0; i < s->attr_count; i++) {
        const diag_span_attr_t *a = &s->attrs[i];
        if (zipkin_tag_shadowed(s, a->key))
            continue;
        /* the key is a reference into the scratch, valid as long as a constant one */
        const char *key = scratch_piece(t, s, a->key);
        add_string(t, tags, key, scratch_piece(t, s, a->value));
    }
    add_string(t, tags, "otel.library.name", DIAG_SPAN_SCOPE_NAME);
    add_string(t, tags, "service.name", service);
    if (s->status == DIAG_SPAN_STATUS_ERROR) {
        add_string(t, tags, "otel.status_code", "ERROR");
        add_string(t, tags, "error", scratch_piece(t, s, s->status_message));
    }
    return o;
}

/* ---- OTLP/HTTP JSON ---- */

/* OTLP's enums are JSON numbers; these are the only ones a span carries. */
static const char *const small_numbers[] = { "0", "1", "2", "3", "4", "5" };

static cJSON *otlp_tree(tree_t *t, const diag_span_t *s)
{
    cJSON *o = node_new(t, cJSON_Object, NULL);
    add_string(t, o, "traceId", scratch_hex(t, s->trace_id, sizeof s->trace_id));
    add_string(t, o, "spanId", scratch_hex(t, s->span_id, sizeof s->span_id));
    if (s->has_parent)
        add_string(t, o, "parentSpanId", scratch_hex(t, s->parent_span_id, sizeof s->parent_span_id));
    add_string(t, o, "name", scratch_piece(t, s, s->name));
    add_number(t, o, "kind", small_numbers[s->kind <= 5 ? s->kind : 0]);
    add_string(t, o, "startTimeUnixNano", scratch_u64(t, s->start_ns));
    add_string(t, o, "endTimeUnixNano", scratch_u64(t, s->end_ns));
    if (s->attr_count) {
        cJSON *attrs = add_array(t, o, "attributes");
        for (unsigned i = 0; i < s->attr_count; i++) {
            cJSON *a = add_object(t, attrs, NULL);
            add_string(t, a, "key", scratch_piece(t, s, s->attrs[i].key));
            add_string(t, add_object(t, a, "value"), "stringValue", scratch_piece(t, s, s->attrs[i].value));
        }
    }
    if (s->status == DIAG_SPAN_STATUS_ERROR) {
        cJSON *st = add_object(t, o, "status");
        add_number(t, st, "code", small_numbers[DIAG_SPAN_STATUS_ERROR]);
        if (s->status_message.len)
            add_string(t, st, "message", scratch_piece(t, s, s->status_message));
    }
    return o;
}

/* The request around the spans, with an empty "spans" array, which is its last member: printed,
 * it ends in "[" followed by otlp_tail. */
static cJSON *otlp_envelope(tree_t *t, base_slice_t service_name)
{
    cJSON *req = node_new(t, cJSON_Object, NULL);
    cJSON *rs = add_object(t, add_array(t, req, "resourceSpans"), NULL);
    cJSON *attr = add_object(t, add_array(t, add_object(t, rs, "resource"), "attributes"), NULL);
    add_string(t, attr, "key", "service.name");
    add_string(t, add_object(t, attr, "value"), "stringValue",
               scratch_text(t, service_name.base, service_name.len));
    cJSON *ss = add_object(t, add_array(t, rs, "scopeSpans"), NULL);
    add_string(t, add_object(t, ss, "scope"), "name", DIAG_SPAN_SCOPE_NAME);
    add_array(t, ss, "spans");
    return req;
}

static const char otlp_tail[] = "]}]}]}";

/* ---- printing ---- */

/* Prints a tree at out->len, within `room` bytes, and moves out->len past it. */
static int print_tree(base_buf_t *out, const tree_t *t, cJSON *tree, size_t room)
{
    assert(t->scratch <= t->scratch_end);
    char *o = out->base + out->len;
    if (!cJSON_PrintPreallocated(tree, o, (int)room, 0))
        return -1; /* cannot happen: room is the worst case */
    out->len += strlen(o);
    return 0;
}

/* Reserves `room` bytes for a print after `lead` bytes, then `scratch` bytes for the values,
 * and points the tree's scratch there. cJSON takes the room as an int. */
static int tree_reserve(base_buf_t *out, tree_t *t, size_t lead, size_t room, size_t scratch)
{
    if (room > INT_MAX || base_buf_reserve(out, lead + room + scratch) != 0)
        return -1;
    t->used = 0;
    t->scratch = out->base + out->len + lead + room;
    t->scratch_end = t->scratch + scratch;
    return 0;
}

int diag_span_encode_begin(diag_span_encoder_t *e, diag_span_format_t format, base_buf_t *out,
                           base_slice_t service_name)
{
    e->format = format;
    e->out = out;
    e->service = service_name;
    e->count = 0;
    if (format == DIAG_SPAN_FORMAT_ZIPKIN)
        return base_buf_append(out, "[", 1);
    tree_t t;
    size_t room = SPAN_FIXED_MAX + PRINTED_MAX * service_name.len;
    if (tree_reserve(out, &t, 0, room, SCRATCH_FIXED_MAX + SANITIZED_MAX * service_name.len) != 0)
        return -1;
    if (print_tree(out, &t, otlp_envelope(&t, service_name), room) != 0)
        return -1;
    out->len -= sizeof otlp_tail - 1; /* keep the "[" that opens "spans" */
    return 0;
}

int diag_span_encode_add(diag_span_encoder_t *e, const diag_span_t *s)
{
    base_buf_t *out = e->out;
    size_t lead = e->count ? 1 : 0, room = span_printed_max(s, e->service);
    tree_t t;
    if (tree_reserve(out, &t, lead, room, span_scratch_max(s, e->service)) != 0)
        return -1;
    cJSON *tree = e->format == DIAG_SPAN_FORMAT_ZIPKIN ? zipkin_tree(&t, s, e->service) : otlp_tree(&t, s);
    size_t len = out->len;
    if (lead)
        out->base[out->len++] = ',';
    if (print_tree(out, &t, tree, room) != 0) {
        out->len = len;
        return -1;
    }
    e->count++;
    return 0;
}

int diag_span_encode_end(diag_span_encoder_t *e)
{
    if (e->format == DIAG_SPAN_FORMAT_ZIPKIN)
        return base_buf_append(e->out, "]", 1);
    return base_buf_append(e->out, otlp_tail, sizeof otlp_tail - 1);
}

int diag_span_encode_zipkin_object(base_buf_t *out, const diag_span_t *s, base_slice_t service_name)
{
    size_t room = span_printed_max(s, service_name);
    tree_t t;
    if (tree_reserve(out, &t, 0, room, span_scratch_max(s, service_name)) != 0)
        return -1;
    cJSON *tree = zipkin_tree(&t, s, service_name);
    return print_tree(out, &t, tree, room);
}
