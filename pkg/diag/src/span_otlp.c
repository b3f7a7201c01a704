/*
 * span_otlp.c - OTLP/HTTP protobuf for finished spans: one ExportTraceServiceRequest per
 * batch, each span packed by protobuf-c straight into the caller's buffer.
 *
 * The request nests every span three messages deep (request > ResourceSpans > ScopeSpans >
 * Span), and a length-delimited field needs its length in front of it. Rather than keep the
 * protobuf-c structs of a whole batch alive (512 spans with their attributes and text copies,
 * about 2.4 MiB) to pack them at the end, the batch is framed by hand around spans packed one at
 * a time:
 *
 *   begin: [6 free][0a len Resource][6 free][0a len InstrumentationScope]
 *   add:   [12 len Span] per span, packed in pieces (below)
 *   end:   [..][0a len(ResourceSpans)][0a len Resource][12 len(ScopeSpans)][scope][spans]
 *
 * Each 6 free bytes hold a tag and the longest varint length. End writes the real ones right
 * before what follows them and moves the resource field (a few dozen bytes) next to them,
 * so the request begins up to 8 bytes into the room and the spans never move. The bytes are
 * those protobuf-c would pack from the whole tree (fields in number order, minimal varints);
 * the unit tests compare them.
 *
 * A span is the concatenation of its pieces in field-number order: the ids (fields 1, 2, 4),
 * the name and kind (5, 6), the times (7, 8), the attributes (9), and the status (15) when it
 * is an error. Protobuf reads concatenated messages of a type as one, so these are the bytes
 * of the whole Span. Everything with text is packed by protobuf-c, from a Span with only those
 * fields set; the ids and times, fixed-width and new in every span, are framed here like the
 * envelope (below). The name, kind and attributes mostly repeat: the encoder's memo
 * (span_memo.h) keeps protobuf-c's bytes for them per distinct set, so only a new set is
 * packed.
 *
 * Per span nothing is allocated but a memo entry for a set seen twice: the Span, its Status,
 * KeyValues and AnyValues are structs on the stack (DIAG_SPAN_MAX_ATTRS of each), the ids point
 * into the record, and the text is copied with a NUL into a stack scratch (protobuf-c takes
 * strings as C strings), made valid UTF-8 on the way. Figures in docs/internals/diag.md.
 */
#include "diag/span_otlp.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "base/utf8.h"
#include "span_memo.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Trace__V1__Span otlp_span_t;
typedef Opentelemetry__Proto__Trace__V1__Status otlp_status_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue otlp_kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue otlp_value_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope otlp_scope_t;
typedef Opentelemetry__Proto__Resource__V1__Resource otlp_resource_t;

/* Tags (field number << 3 | 2, length-delimited) of the fields framed by hand. */
#define TAG_REQUEST_RESOURCE_SPANS 0x0a /* ExportTraceServiceRequest.resource_spans = 1 */
#define TAG_RESOURCE_SPANS_RESOURCE 0x0a /* ResourceSpans.resource = 1 */
#define TAG_RESOURCE_SPANS_SCOPE_SPANS 0x12 /* ResourceSpans.scope_spans = 2 */
#define TAG_SCOPE_SPANS_SCOPE 0x0a /* ScopeSpans.scope = 1 */
#define TAG_SCOPE_SPANS_SPANS 0x12 /* ScopeSpans.spans = 2 */

#define VARINT32_MAX 5
#define FRAME_MAX (1 + VARINT32_MAX) /* a tag and a length up to 2^32 - 1 */
/* Protobuf's limit on a message; every length here fits a 5-byte varint with room. */
#define MESSAGE_MAX 0x7fffffffu
/* Stack scratch for a span's text: every byte tripled at worst, plus the NULs of the name, the
 * status message and each key and value. */
#define SPAN_SCRATCH_MAX (BASE_UTF8_REPAIR_MAX * DIAG_SPAN_TEXT_MAX + 2 + 2 * DIAG_SPAN_MAX_ATTRS)

/* ---- varints ---- */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* ---- text as C strings of valid UTF-8 ---- */

/* Copies n bytes to *scratch as a NUL-terminated string of valid UTF-8 and moves *scratch past
 * it; returns the string. At most BASE_UTF8_REPAIR_MAX * n + 1 bytes. */
static char *put_text(char **scratch, const char *s, size_t n)
{
    char *start = *scratch, *o = start + base_utf8_repair(start, s, n);
    *o++ = '\0';
    *scratch = o;
    return start;
}

/* ---- one span ---- */

/* Everything protobuf-c packs a piece of a span from, on the caller's stack. */
typedef struct span_msg {
    otlp_span_t span;
    otlp_status_t status;
    otlp_kv_t *attr_ptrs[DIAG_SPAN_MAX_ATTRS];
    otlp_kv_t attrs[DIAG_SPAN_MAX_ATTRS];
    otlp_value_t values[DIAG_SPAN_MAX_ATTRS];
    char scratch[SPAN_SCRATCH_MAX];
} span_msg_t;

static const otlp_span_t span_init = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;

static char *put_piece(char **scratch, const diag_span_t *s, diag_span_str_t str)
{
    return put_text(scratch, s->text + str.off, str.len);
}

/*
 * A span is packed in pieces, each a Span message with some of the fields set: protobuf reads
 * the concatenation of two messages of a type as one message with the fields of both (a
 * repeated field's elements appended), so the pieces in field-number order are byte for byte
 * what protobuf-c packs from the whole span. Each returns the bytes it wrote at p.
 */

/*
 * The ids and the times are fixed-width fields, which change with every span: a tag, for the
 * ids a one-byte length, then the raw bytes (the times little-endian), as protobuf-c writes
 * them (the tests compare with its packing of the whole Span). They are written here because
 * protobuf-c's packer walks a message's field descriptors and switches on each field's type,
 * about 90 instructions per field: a third of what a span the memo knows costs in all.
 */
#define TAG_SPAN_TRACE_ID 0x0a  /* Span.trace_id = 1, length-delimited */
#define TAG_SPAN_SPAN_ID 0x12   /* Span.span_id = 2 */
#define TAG_SPAN_PARENT_ID 0x22 /* Span.parent_span_id = 4 */
#define TAG_SPAN_START 0x39     /* Span.start_time_unix_nano = 7, fixed64 */
#define TAG_SPAN_END 0x41       /* Span.end_time_unix_nano = 8, fixed64 */

static uint8_t *put_id(uint8_t *o, uint8_t tag, const uint8_t *id, uint8_t len)
{
    o[0] = tag;
    o[1] = len;
    memcpy(o + 2, id, len);
    return o + 2 + len;
}

static uint8_t *put_fixed64(uint8_t *o, uint8_t tag, uint64_t v)
{
    *o++ = tag;
    for (int i = 0; i < 8; i++)
        o[i] = (uint8_t)(v >> (8 * i));
    return o + 8;
}

/* Fields 1, 2 and 4; proto3 writes no empty parent_span_id, as for a root span. */
static size_t put_ids(const diag_span_t *s, uint8_t *p)
{
    uint8_t *o = put_id(p, TAG_SPAN_TRACE_ID, s->trace_id, sizeof s->trace_id);
    o = put_id(o, TAG_SPAN_SPAN_ID, s->span_id, sizeof s->span_id);
    if (s->has_parent)
        o = put_id(o, TAG_SPAN_PARENT_ID, s->parent_span_id, sizeof s->parent_span_id);
    return (size_t)(o - p);
}

/* Fields 7 and 8; proto3 writes no zero. */
static size_t put_times(const diag_span_t *s, uint8_t *p)
{
    uint8_t *o = p;
    if (s->start_ns)
        o = put_fixed64(o, TAG_SPAN_START, s->start_ns);
    if (s->end_ns)
        o = put_fixed64(o, TAG_SPAN_END, s->end_ns);
    return (size_t)(o - p);
}

/* The name and kind (fields 5 and 6). */
static size_t pack_name_kind(span_msg_t *m, const diag_span_t *s, uint8_t *p)
{
    char *scratch = m->scratch;
    otlp_span_t *o = &m->span;
    *o = span_init;
    o->name = put_piece(&scratch, s, s->name);
    o->kind = s->kind <= OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CONSUMER
                  ? (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind
                  : OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_UNSPECIFIED;
    return opentelemetry__proto__trace__v1__span__pack(o, p);
}

/* The attributes (field 9), as string values. */
static size_t pack_attrs(span_msg_t *m, const diag_span_t *s, uint8_t *p)
{
    static const otlp_kv_t kv_init = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    static const otlp_value_t value_init = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    char *scratch = m->scratch;
    otlp_span_t *o = &m->span;
    *o = span_init;
    unsigned n = s->attr_count <= DIAG_SPAN_MAX_ATTRS ? s->attr_count : DIAG_SPAN_MAX_ATTRS;
    for (unsigned i = 0; i < n; i++) {
        otlp_kv_t *kv = &m->attrs[i];
        otlp_value_t *v = &m->values[i];
        *kv = kv_init;
        *v = value_init;
        const diag_span_attr_t *a = &s->attrs[i];
        /* protobuf-c only reads a constant key */
        kv->key = a->key.off >= DIAG_SPAN_TEXT_MAX ? (char *)diag_span_attr_key(s, a).base : put_piece(&scratch, s, a->key);
        /* a oneof member is written even when empty: an empty value stays a string value */
        v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        v->string_value = put_piece(&scratch, s, s->attrs[i].value);
        kv->value = v;
        m->attr_ptrs[i] = kv;
    }
    o->n_attributes = n;
    o->attributes = m->attr_ptrs;
    assert(scratch <= m->scratch + sizeof m->scratch);
    return opentelemetry__proto__trace__v1__span__pack(o, p);
}

/* The error status (field 15). */
static size_t pack_status(span_msg_t *m, const diag_span_t *s, uint8_t *p)
{
    static const otlp_status_t status_init = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    char *scratch = m->scratch;
    otlp_span_t *o = &m->span;
    *o = span_init;
    m->status = status_init;
    m->status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    m->status.message = put_piece(&scratch, s, s->status_message);
    o->status = &m->status;
    return opentelemetry__proto__trace__v1__span__pack(o, p);
}

/*
 * The most a packed Span can take, given the bytes of its strings: tags and lengths (3 bytes
 * each: no length in a span reaches 2^21) around them, ids, kind and times. Per span: trace_id
 * 18, span_id 10, parent_span_id 10, name's tag and length 4, kind 2, times 18, status 10
 * (tag, length, message's tag and length, code); per attribute 16 (KeyValue's tag and length,
 * key's, value's, AnyValue.string_value's).
 */
static size_t span_packed_max(unsigned attrs, size_t text)
{
    return 72 + 16 * (size_t)attrs + text;
}

/* ---- the batch ---- */

/* Bytes of the resource and scope fields besides the repaired service name (58 at most: tags,
 * lengths, "service.name", the scope name). */
#define HEAD_FIXED_MAX 96

int diag_span_otlp_begin(diag_span_otlp_encoder_t *e, base_buf_t *out, base_slice_t service_name)
{
    e->out = out;
    e->start = out->len;
    e->res_len = e->count = 0;
    /* the repaired service name goes to the far end of the reservation, past the bytes the
     * resource and scope fields can take */
    size_t service_max = BASE_UTF8_REPAIR_MAX * service_name.len + 1;
    size_t head_max = 2 * FRAME_MAX + HEAD_FIXED_MAX + service_max;
    if (service_name.len > MESSAGE_MAX / (2 * BASE_UTF8_REPAIR_MAX) ||
        base_buf_reserve(out, head_max + service_max) != 0)
        return -1;
    char *scratch = out->base + out->len + head_max;
    char *service = put_text(&scratch, service_name.base, service_name.len);

    otlp_value_t value = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    value.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    value.string_value = service;
    otlp_kv_t kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    kv.key = "service.name";
    kv.value = &value;
    otlp_kv_t *attrs[] = { &kv };
    otlp_resource_t resource = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    resource.n_attributes = 1;
    resource.attributes = attrs;
    otlp_scope_t scope = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = DIAG_SPAN_SCOPE_NAME;

    uint8_t *start = (uint8_t *)out->base + out->len, *p = start + FRAME_MAX;
    size_t n = opentelemetry__proto__resource__v1__resource__get_packed_size(&resource);
    *p++ = TAG_RESOURCE_SPANS_RESOURCE;
    p += varint_put(p, n);
    p += opentelemetry__proto__resource__v1__resource__pack(&resource, p);
    e->res_len = (size_t)(p - start) - FRAME_MAX;
    p += FRAME_MAX;
    n = opentelemetry__proto__common__v1__instrumentation_scope__get_packed_size(&scope);
    *p++ = TAG_SCOPE_SPANS_SCOPE;
    p += varint_put(p, n);
    p += opentelemetry__proto__common__v1__instrumentation_scope__pack(&scope, p);
    assert((char *)p <= out->base + out->len + head_max);
    out->len += (size_t)(p - start);
    return 0;
}

/*
 * Fields 5, 6 and 9 (the name, the kind, the attributes) of a span whose name, kind and
 * attributes an earlier span had come from the memo, around the times packed in between; else
 * they are packed, and kept when their key was missed twice in a row. What the memo keeps:
 * the length of the name and kind's bytes (2 bytes, host order), those bytes, the attributes'.
 */
static size_t put_body(diag_span_otlp_encoder_t *e, span_msg_t *m, const diag_span_t *s, uint8_t *p)
{
    span_memo_key_t k;
    base_slice_t kept;
    int rc = -1;
    if (!e->memo && !e->memo_off && !(e->memo = span_memo_new()))
        e->memo_off = 1;
    if (!e->memo_off) {
        span_memo_key(&k, s, base_slice("", 0), SPAN_MEMO_NAME | SPAN_MEMO_KIND);
        rc = span_memo_get(e->memo, &k, &kept);
    }
    uint8_t *q = p;
    if (rc == 1) {
        uint16_t split;
        memcpy(&split, kept.base, 2);
        memcpy(q, kept.base + 2, split);
        q += split;
        q += put_times(s, q);
        memcpy(q, kept.base + 2 + split, kept.len - 2 - split);
        return (size_t)(q - p) + kept.len - 2 - split;
    }
    uint8_t *named = q;
    q += pack_name_kind(m, s, q);
    uint16_t split = (uint16_t)(q - named);
    q += put_times(s, q);
    uint8_t *attrs = q;
    q += pack_attrs(m, s, q);
    if (rc == 0) {
        const base_slice_t parts[] = { base_slice((const char *)&split, 2), base_slice((const char *)named, split),
                                       base_slice((const char *)attrs, (size_t)(q - attrs)) };
        (void)span_memo_put(e->memo, &k, parts, 3);
    }
    return (size_t)(q - p);
}

int diag_span_otlp_add(diag_span_otlp_encoder_t *e, const diag_span_t *s)
{
    unsigned attrs = s->attr_count <= DIAG_SPAN_MAX_ATTRS ? s->attr_count : DIAG_SPAN_MAX_ATTRS;
    /* the text as the scratch could hold it: every byte tripled, and the NULs */
    size_t max = span_packed_max(attrs, BASE_UTF8_REPAIR_MAX * (size_t)s->text_len + 2 + 2 * (size_t)attrs);
    base_buf_t *out = e->out;
    if (base_buf_reserve(out, 1 + VARINT32_MAX + max) != 0)
        return -1;
    /* Packed after room for the longest length it can have, then moved to close the gap in the
     * rare case that its length takes fewer bytes: cheaper than sizing it first with
     * span__get_packed_size(), which walks the whole tree once more. */
    uint8_t *p = (uint8_t *)out->base + out->len;
    size_t lead = 1 + varint_size(max);
    span_msg_t m;
    uint8_t *body = p + lead, *q = body;
    q += put_ids(s, q);
    q += put_body(e, &m, s, q);
    if (s->status == DIAG_SPAN_STATUS_ERROR)
        q += pack_status(&m, s, q);
    size_t n = (size_t)(q - body);
    assert(n <= max);
    p[0] = TAG_SCOPE_SPANS_SPANS;
    size_t len_bytes = varint_put(p + 1, n);
    if (1 + len_bytes < lead)
        memmove(p + 1 + len_bytes, body, n);
    out->len += 1 + len_bytes + n;
    e->count++;
    return 0;
}

int diag_span_otlp_end(diag_span_otlp_encoder_t *e, base_slice_t *request)
{
    base_buf_t *out = e->out;
    /* where begin left the pieces: [free][resource][free][scope, spans...] */
    uint8_t *res_at = (uint8_t *)out->base + e->start + FRAME_MAX;
    uint8_t *tail_at = res_at + e->res_len + FRAME_MAX;
    uint64_t scope_spans_len = out->len - (size_t)((char *)tail_at - out->base);
    uint64_t resource_spans_len = e->res_len + 1 + varint_size(scope_spans_len) + scope_spans_len;
    if (resource_spans_len > MESSAGE_MAX - FRAME_MAX)
        return -1;
    uint8_t *p = tail_at - 1 - varint_size(scope_spans_len);
    p[0] = TAG_RESOURCE_SPANS_SCOPE_SPANS;
    varint_put(p + 1, scope_spans_len);
    p -= e->res_len;
    memmove(p, res_at, e->res_len);
    p -= 1 + varint_size(resource_spans_len);
    p[0] = TAG_REQUEST_RESOURCE_SPANS;
    varint_put(p + 1, resource_spans_len);
    *request = (base_slice_t){ (char *)p, (size_t)((out->base + out->len) - (char *)p) };
    return 0;
}

void diag_span_otlp_free(diag_span_otlp_encoder_t *e)
{
    span_memo_free(e->memo);
    e->memo = NULL;
}

void diag_span_otlp_memo_off(diag_span_otlp_encoder_t *e)
{
    diag_span_otlp_free(e);
    e->memo_off = 1;
}
