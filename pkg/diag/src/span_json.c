/*
 * span_json.c - Zipkin v2 JSON for finished spans, built and printed with cJSON, as every JSON
 * the sidecar writes.
 *
 * The exporter encodes every span of a busy sidecar on the main thread, so this is the hot loop
 * of tracing. A plain cJSON tree costs a malloc and a free per value (about 30 per span) and
 * prints numbers with "%1.15g" checked by sscanf, which also loses digits of a 19-digit time
 * in ns. Here a span's tree allocates nothing and copies no string:
 *
 * - its nodes are an array on the stack, each set up as cJSON_CreateObject() or
 *   cJSON_CreateStringReference() sets up its node, without the allocation, and linked with
 *   cJSON_AddItemToObjectCS() (keys not copied: constants or text in the scratch). The tree
 *   is printed and dropped with the stack frame: it never reaches cJSON_Delete(), so nothing
 *   goes through cJSON's allocation hooks. (An arena behind
 *   cJSON_InitHooks() would replace process-wide hooks that other threads' cJSON calls, the
 *   JSON log lines, go through at the same time.)
 * - every value is a reference into a scratch area: the span's text pieces copied there with a
 *   NUL (the record's text is not NUL-terminated) and made valid UTF-8, the service name, the
 *   hex ids and the decimal times. Values already in JSON form are cJSON_Raw nodes, printed
 *   as they are: the numbers' decimal digits, the ids' hex digits in quotes (no hex digit is
 *   ever escaped), and what cJSON printed for an earlier span.
 * - with a batch encoder, the tags object is printed once per distinct set of tags and kept in
 *   the encoder's memo (span_memo.h), and the localEndpoint once per service name; later
 *   spans with the same ones get cJSON's earlier print as a Raw node. Most of a span's bytes
 *   are its tags, and cJSON's printer costs about 9 instructions per byte.
 * - cJSON_PrintPreallocated() prints the tree straight into the caller's buffer. The scratch
 *   is the same buffer, past the room reserved for the print, so it outlives the print and a
 *   span needs no memory but the buffer it is appended to.
 *
 * A pre-built tree with its leaves repointed would save the linking (about 6 % of a span), but
 * the members that come and go (parent, kind, each attribute, status) would have to be
 * detached and put back per span. The framing between spans ("[", ",", "]") is appended here:
 * printing the whole batch as one tree costs the same per span (measured) but keeps the nodes
 * and scratch of 512 spans alive until the end.
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

#include "base/pool.h"
#include "base/utf8.h"
#include "span_memo.h"

/* Printed bytes of one span besides its text and service name: keys, ids, times, punctuation. */
#define SPAN_FIXED_MAX 640
#define ATTR_FIXED_MAX 48
#define PRINTED_MAX 6 /* cJSON's "\u00XX" for a control byte */
/* Scratch besides the text: the NULs of up to 2 + 2 * 16 strings and the service name, three
 * hex ids and two decimal numbers, with their NULs. */
#define SCRATCH_FIXED_MAX 192

/* Nodes of a span: the object, its 9 members at most, localEndpoint's serviceName, 4 tags of
 * ours and one per attribute; 31 in all. */
#define SPAN_NODES_MAX (15 + DIAG_SPAN_MAX_ATTRS)

typedef struct tree {
    cJSON node[SPAN_NODES_MAX];
    unsigned used;
    char *scratch;     /* where the next value is copied */
    char *scratch_end; /* the end of the reservation (checked in debug builds) */
    char *room;        /* where the span is printed, free until then */
    size_t room_len;
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
    cJSON_AddItemToObjectCS(parent, key, n);
    return n;
}

static cJSON *add_object(tree_t *t, cJSON *parent, const char *key)
{
    return add_node(t, parent, key, cJSON_Object, NULL);
}

/* A string cJSON prints (escaping it) but does not own. */
static void add_string(tree_t *t, cJSON *parent, const char *key, const char *value)
{
    add_node(t, parent, key, cJSON_String | cJSON_IsReference, value);
}

/* A value already in its JSON form, printed as it is: a number's decimal digits, an id's
 * quoted hex digits, or what cJSON printed for an earlier span. */
static void add_raw(tree_t *t, cJSON *parent, const char *key, const char *json)
{
    add_node(t, parent, key, cJSON_Raw | cJSON_IsReference, json);
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

/* An id as a JSON string of lowercase hex digits, quotes included: printed as it is (a Raw
 * node), since no hex digit is ever escaped. */
static const char *scratch_hex(tree_t *t, const uint8_t *p, size_t n)
{
    char *start = t->scratch, *o = start;
    *o++ = '"';
    for (size_t i = 0; i < n; i++, o += 2)
        memcpy(o, hex_pairs[p[i]], 2);
    *o++ = '"';
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

/*
 * Copies text into the scratch as a C string cJSON can print. cJSON escapes controls, '"' and
 * '\\' (RFC 8259) but copies other bytes as they are, and a collector rejects a whole batch
 * over one invalid UTF-8 sequence; so here bytes that are not valid UTF-8 become U+FFFD, and so
 * does a NUL byte, which a C string cannot carry.
 */
static const char *scratch_text(tree_t *t, const char *s, size_t n)
{
    char *start = t->scratch, *o = start + base_utf8_repair(start, s, n);
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
    return SCRATCH_FIXED_MAX + BASE_UTF8_REPAIR_MAX * ((size_t)s->text_len + service.len);
}

/* ---- Zipkin v2 ---- */

static int key_is(const diag_span_t *s, const diag_span_attr_t *a, const char *lit, size_t len)
{
    return a->key.len == len && memcmp(diag_span_attr_key(s, a).base, lit, len) == 0;
}
#define KEY_IS(s, k, lit) key_is((s), (k), (lit), sizeof(lit) - 1)

/* An attribute that OpenTelemetry's exporter replaces by its own tag: the resource's
 * service.name and the scope name always win; otel.status_code when a status is set; "error"
 * is written for an error status and removed otherwise. */
static int zipkin_tag_shadowed(const diag_span_t *s, const diag_span_attr_t *key)
{
    return KEY_IS(s, key, "service.name") || KEY_IS(s, key, "otel.library.name") || KEY_IS(s, key, "error") ||
           (s->status != DIAG_SPAN_STATUS_UNSET && KEY_IS(s, key, "otel.status_code"));
}

static cJSON *add_tags(tree_t *t, cJSON *o, const diag_span_t *s, const char *service)
{
    cJSON *tags = add_object(t, o, "tags");
    for (unsigned i = 0; i < s->attr_count; i++) {
        const diag_span_attr_t *a = &s->attrs[i];
        if (zipkin_tag_shadowed(s, a))
            continue;
        /* the key is a constant, or a reference into the scratch, valid as long */
        const char *key = a->key.off >= DIAG_SPAN_TEXT_MAX ? diag_span_attr_key(s, a).base : scratch_piece(t, s, a->key);
        add_string(t, tags, key, scratch_piece(t, s, a->value));
    }
    add_string(t, tags, "otel.library.name", DIAG_SPAN_SCOPE_NAME);
    add_string(t, tags, "service.name", service);
    if (s->status == DIAG_SPAN_STATUS_ERROR) {
        add_string(t, tags, "otel.status_code", "ERROR");
        add_string(t, tags, "error", scratch_piece(t, s, s->status_message));
    }
    return tags;
}

/* Keeps what cJSON printed for the localEndpoint of the encoder's service, printed alone where
 * the span will be printed. Without memory, the next span builds it again. */
static void keep_endpoint(tree_t *t, diag_span_encoder_t *e, base_slice_t service, cJSON *endpoint)
{
    base_free(e->endpoint);
    base_free(e->endpoint_for);
    e->endpoint = e->endpoint_for = NULL;
    if (!cJSON_PrintPreallocated(endpoint, t->room, (int)t->room_len, 0))
        return;
    e->endpoint = base_strndup(t->room, strlen(t->room));
    e->endpoint_for = base_strndup(service.base, service.len);
    e->endpoint_for_len = service.len;
    if (!e->endpoint || !e->endpoint_for) {
        base_free(e->endpoint);
        base_free(e->endpoint_for);
        e->endpoint = e->endpoint_for = NULL;
    }
}

/* The span's tree. With an encoder, its localEndpoint is printed once per service name and its
 * tags once per distinct set (see span_memo.h); both are copied into every span after that. */
static cJSON *zipkin_tree(tree_t *t, const diag_span_t *s, base_slice_t service_name, diag_span_encoder_t *e)
{
    span_memo_t *memo = e && !e->memo_off ? e->memo : NULL;
    cJSON *o = node_new(t, cJSON_Object, NULL);
    add_raw(t, o, "traceId", scratch_hex(t, s->trace_id, sizeof s->trace_id));
    add_raw(t, o, "id", scratch_hex(t, s->span_id, sizeof s->span_id));
    if (s->has_parent)
        add_raw(t, o, "parentId", scratch_hex(t, s->parent_span_id, sizeof s->parent_span_id));
    add_string(t, o, "name", scratch_piece(t, s, s->name));
    if (s->kind == DIAG_SPAN_KIND_SERVER)
        add_string(t, o, "kind", "SERVER");
    else if (s->kind == DIAG_SPAN_KIND_CLIENT)
        add_string(t, o, "kind", "CLIENT");
    /* zipkin-go: timestamp rounded to the µs, duration truncated; 0 would be omitted there,
     * and Zipkin reads a missing duration as "unfinished", so it is at least 1. */
    uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
    add_raw(t, o, "timestamp", scratch_u64(t, (s->start_ns + 500) / 1000));
    add_raw(t, o, "duration", scratch_u64(t, dur ? dur : 1));
    /* the service name is copied (and repaired) only when something is built from it */
    const char *service = NULL;
    if (e && e->endpoint && base_slice_eq(base_slice(e->endpoint_for, e->endpoint_for_len), service_name)) {
        add_raw(t, o, "localEndpoint", e->endpoint); /* printed by cJSON for an earlier span */
    } else {
        service = scratch_text(t, service_name.base, service_name.len);
        cJSON *endpoint = add_object(t, o, "localEndpoint");
        add_string(t, endpoint, "serviceName", service);
        if (e)
            keep_endpoint(t, e, service_name, endpoint);
    }
    span_memo_key_t k;
    base_slice_t kept;
    int rc = -1;
    if (memo) {
        span_memo_key(&k, s, service_name, SPAN_MEMO_STATUS);
        rc = span_memo_get(memo, &k, &kept);
    }
    if (rc == 1) {
        add_raw(t, o, "tags", kept.base); /* printed by cJSON for an earlier span */
        return o;
    }
    if (!service)
        service = scratch_text(t, service_name.base, service_name.len);
    cJSON *tags = add_tags(t, o, s, service);
    /* Missed twice in a row: printed alone where the span will be printed (the room holds the
     * whole span, so it holds its tags), and kept. */
    if (rc == 0 && cJSON_PrintPreallocated(tags, t->room, (int)t->room_len, 0)) {
        base_slice_t printed = base_slice_cstr(t->room);
        (void)span_memo_put(memo, &k, &printed, 1);
    }
    return o;
}

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
    t->room = out->base + out->len + lead;
    t->room_len = room;
    t->scratch = out->base + out->len + lead + room;
    t->scratch_end = t->scratch + scratch;
    return 0;
}

int diag_span_encode_begin(diag_span_encoder_t *e, base_buf_t *out, base_slice_t service_name)
{
    e->out = out;
    e->service = service_name;
    e->count = 0;
    return base_buf_append(out, "[", 1);
}

int diag_span_encode_add(diag_span_encoder_t *e, const diag_span_t *s)
{
    base_buf_t *out = e->out;
    size_t lead = e->count ? 1 : 0, room = span_printed_max(s, e->service);
    tree_t t;
    if (tree_reserve(out, &t, lead, room, span_scratch_max(s, e->service)) != 0)
        return -1;
    if (!e->memo && !e->memo_off && !(e->memo = span_memo_new()))
        e->memo_off = 1;
    cJSON *tree = zipkin_tree(&t, s, e->service, e);
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
    return base_buf_append(e->out, "]", 1);
}

int diag_span_encode_zipkin_object(base_buf_t *out, const diag_span_t *s, base_slice_t service_name)
{
    size_t room = span_printed_max(s, service_name);
    tree_t t;
    if (tree_reserve(out, &t, 0, room, span_scratch_max(s, service_name)) != 0)
        return -1;
    cJSON *tree = zipkin_tree(&t, s, service_name, NULL);
    return print_tree(out, &t, tree, room);
}

void diag_span_encode_free(diag_span_encoder_t *e)
{
    span_memo_free(e->memo);
    base_free(e->endpoint);
    base_free(e->endpoint_for);
    e->memo = NULL;
    e->endpoint = e->endpoint_for = NULL;
}

void diag_span_encode_memo_off(diag_span_encoder_t *e)
{
    diag_span_encode_free(e);
    e->memo_off = 1;
}
