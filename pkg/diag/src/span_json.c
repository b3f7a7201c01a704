/*
 * span_json.c - Zipkin v2 and OTLP/HTTP JSON writers for finished spans.
 *
 * Written directly into a reserved buffer rather than through a cJSON tree: a tree costs one
 * allocation per value (about 30 per span) and cJSON prints integers through printf and a
 * sscanf round trip, which together made it several times slower than this writer (figures in
 * docs/internals/diag.md). The exporter encodes every span of a busy sidecar, on the main
 * thread, so this is the hot loop of tracing. The output is checked by parsing it back with
 * cJSON in tests/unit/diag/test_span_json.c.
 *
 * Each span first reserves its worst case (every text byte escaped to six characters), then is
 * written with no further bounds checks, so a failed reservation leaves the buffer unchanged.
 */
#include "diag/span_json.h"

#include <string.h>

/* Bytes of JSON one span can take besides its escaped text and service name. */
#define SPAN_FIXED_MAX 640
#define ATTR_FIXED_MAX 48
#define ESCAPED_MAX 6 /* "\u00XX" or "\ufffd" per input byte */

/* 0: copied as is; 1: escaped (control, '"', '\\'); 2: start of a multi-byte sequence. */
static const unsigned char char_class[256] = {
    [0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 2,
};

static const char hex_digits[] = "0123456789abcdef";

#define PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

/* "00".."ff" and "00".."99": two output characters per table load. */
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

static char *put_hex(char *o, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++, o += 2)
        memcpy(o, hex_pairs[p[i]], 2);
    return o;
}

static char *put_u64(char *o, uint64_t v)
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
    memcpy(o, tmp + sizeof tmp - n, n);
    return o + n;
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

static char *put_escape(char *o, unsigned char c)
{
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\n': *o++ = 'n'; break;
    case '\r': *o++ = 'r'; break;
    case '\t': *o++ = 't'; break;
    case '\b': *o++ = 'b'; break;
    case '\f': *o++ = 'f'; break;
    default:
        o = PUT_LIT(o, "u00");
        *o++ = hex_digits[c >> 4];
        *o++ = hex_digits[c & 0xf];
    }
    return o;
}

/* Words at a time: a word is copied as is when none of its bytes needs attention, i.e. none
 * is below 0x20, '"', '\\' or 0x80 and above (the classic "has a byte less than n" and "has a
 * zero byte" bit tricks, which never miss one). Most span text is plain ASCII, so the byte loop
 * only runs around the bytes that need it. */
#define ONES64 0x0101010101010101ull
#define HIGHS64 0x8080808080808080ull
#define ONES32 0x01010101u
#define HIGHS32 0x80808080u

static inline uint64_t care64(uint64_t w)
{
    uint64_t q = w ^ (ONES64 * '"'), b = w ^ (ONES64 * '\\');
    return ((w - ONES64 * 0x20) & ~w & HIGHS64) | ((q - ONES64) & ~q & HIGHS64) | ((b - ONES64) & ~b & HIGHS64) |
           (w & HIGHS64);
}

static inline uint32_t care32(uint32_t w)
{
    uint32_t q = w ^ (ONES32 * '"'), b = w ^ (ONES32 * '\\');
    return ((w - ONES32 * 0x20) & ~w & HIGHS32) | ((q - ONES32) & ~q & HIGHS32) | ((b - ONES32) & ~b & HIGHS32) |
           (w & HIGHS32);
}

/* The general case: byte by byte where needed, words in between. Kept out of line so that the
 * fast path stays small. */
__attribute__((noinline)) static char *put_str_slow(char *o, const unsigned char *p, size_t i, size_t n)
{
    while (i < n) {
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (care64(w))
                break;
            memcpy(o, &w, 8);
            o += 8;
            i += 8;
        }
        size_t stop = BASE_MIN(n, i + 8);
        while (i < stop && char_class[p[i]] == 0)
            *o++ = (char)p[i++];
        if (i == stop)
            continue; /* that stretch was plain after all, or the string is over */
        if (char_class[p[i]] == 1) {
            o = put_escape(o, p[i++]);
            continue;
        }
        size_t len = utf8_len(p + i, n - i);
        if (len) {
            memcpy(o, p + i, len);
            o += len;
            i += len;
        } else {
            o = PUT_LIT(o, "\\ufffd");
            i++;
        }
    }
    return o;
}

/* A JSON string with its quotes. Needs at most 2 + 6 * n bytes. Plain strings are copied in
 * whole words, the last one overlapping the one before (bytes already known plain). */
static char *put_str(char *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    *o++ = '"';
    if (n >= 8) {
        uint64_t w;
        for (; n - i >= 8; i += 8, o += 8) {
            memcpy(&w, p + i, 8);
            if (care64(w))
                goto slow;
            memcpy(o, &w, 8);
        }
        if (i < n) {
            memcpy(&w, p + n - 8, 8);
            if (care64(w))
                goto slow;
            memcpy(o + (n - i) - 8, &w, 8);
            o += n - i;
        }
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        if (care32(a) | care32(b))
            goto slow;
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
        o += n;
    } else {
        goto slow;
    }
    *o++ = '"';
    return o;
slow:
    o = put_str_slow(o, p, i, n);
    *o++ = '"';
    return o;
}

static char *put_text(char *o, const diag_span_t *s, diag_span_str_t str)
{
    return put_str(o, s->text + str.off, str.len);
}

static size_t span_max(const diag_span_t *s, base_slice_t service)
{
    return SPAN_FIXED_MAX + (size_t)s->attr_count * ATTR_FIXED_MAX + ESCAPED_MAX * (size_t)s->text_len +
           2 * ESCAPED_MAX * service.len;
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

static char *put_zipkin(char *o, const diag_span_t *s, base_slice_t service)
{
    o = PUT_LIT(o, "{\"traceId\":\"");
    o = put_hex(o, s->trace_id, sizeof s->trace_id);
    o = PUT_LIT(o, "\",\"id\":\"");
    o = put_hex(o, s->span_id, sizeof s->span_id);
    if (s->has_parent) {
        o = PUT_LIT(o, "\",\"parentId\":\"");
        o = put_hex(o, s->parent_span_id, sizeof s->parent_span_id);
    }
    o = PUT_LIT(o, "\",\"name\":");
    o = put_text(o, s, s->name);
    if (s->kind == DIAG_SPAN_KIND_SERVER)
        o = PUT_LIT(o, ",\"kind\":\"SERVER\"");
    else if (s->kind == DIAG_SPAN_KIND_CLIENT)
        o = PUT_LIT(o, ",\"kind\":\"CLIENT\"");
    /* zipkin-go: timestamp rounded to the µs, duration truncated; 0 would be omitted there,
     * and Zipkin reads a missing duration as "unfinished", so it is at least 1. */
    uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
    o = PUT_LIT(o, ",\"timestamp\":");
    o = put_u64(o, (s->start_ns + 500) / 1000);
    o = PUT_LIT(o, ",\"duration\":");
    o = put_u64(o, dur ? dur : 1);
    o = PUT_LIT(o, ",\"localEndpoint\":{\"serviceName\":");
    o = put_str(o, service.base, service.len);
    o = PUT_LIT(o, "},\"tags\":{");
    for (unsigned i = 0; i < s->attr_count; i++) {
        const diag_span_attr_t *a = &s->attrs[i];
        if (zipkin_tag_shadowed(s, a->key))
            continue;
        o = put_text(o, s, a->key);
        *o++ = ':';
        o = put_text(o, s, a->value);
        *o++ = ',';
    }
    o = PUT_LIT(o, "\"otel.library.name\":\"" DIAG_SPAN_SCOPE_NAME "\",\"service.name\":");
    o = put_str(o, service.base, service.len);
    if (s->status == DIAG_SPAN_STATUS_ERROR) {
        o = PUT_LIT(o, ",\"otel.status_code\":\"ERROR\",\"error\":");
        o = put_text(o, s, s->status_message);
    }
    return PUT_LIT(o, "}}");
}

/* ---- OTLP/HTTP JSON ---- */

static char *put_otlp(char *o, const diag_span_t *s)
{
    o = PUT_LIT(o, "{\"traceId\":\"");
    o = put_hex(o, s->trace_id, sizeof s->trace_id);
    o = PUT_LIT(o, "\",\"spanId\":\"");
    o = put_hex(o, s->span_id, sizeof s->span_id);
    if (s->has_parent) {
        o = PUT_LIT(o, "\",\"parentSpanId\":\"");
        o = put_hex(o, s->parent_span_id, sizeof s->parent_span_id);
    }
    o = PUT_LIT(o, "\",\"name\":");
    o = put_text(o, s, s->name);
    o = PUT_LIT(o, ",\"kind\":");
    *o++ = (char)('0' + (s->kind <= 5 ? s->kind : 0));
    o = PUT_LIT(o, ",\"startTimeUnixNano\":\"");
    o = put_u64(o, s->start_ns);
    o = PUT_LIT(o, "\",\"endTimeUnixNano\":\"");
    o = put_u64(o, s->end_ns);
    *o++ = '"';
    if (s->attr_count) {
        o = PUT_LIT(o, ",\"attributes\":[");
        for (unsigned i = 0; i < s->attr_count; i++) {
            if (i)
                *o++ = ',';
            o = PUT_LIT(o, "{\"key\":");
            o = put_text(o, s, s->attrs[i].key);
            o = PUT_LIT(o, ",\"value\":{\"stringValue\":");
            o = put_text(o, s, s->attrs[i].value);
            o = PUT_LIT(o, "}}");
        }
        *o++ = ']';
    }
    if (s->status == DIAG_SPAN_STATUS_ERROR) {
        o = PUT_LIT(o, ",\"status\":{\"code\":2");
        if (s->status_message.len) {
            o = PUT_LIT(o, ",\"message\":");
            o = put_text(o, s, s->status_message);
        }
        *o++ = '}';
    }
    *o++ = '}';
    return o;
}

/* ---- batches ---- */

static const char otlp_head[] = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                                "\"value\":{\"stringValue\":";
static const char otlp_scope[] = "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"" DIAG_SPAN_SCOPE_NAME
                                 "\"},\"spans\":[";
static const char otlp_tail[] = "]}]}]}";

int diag_span_encode_begin(diag_span_encoder_t *e, diag_span_format_t format, base_buf_t *out,
                           base_slice_t service_name)
{
    e->format = format;
    e->out = out;
    e->service = service_name;
    e->count = 0;
    if (format == DIAG_SPAN_FORMAT_ZIPKIN)
        return base_buf_append(out, "[", 1);
    if (base_buf_reserve(out, sizeof otlp_head + sizeof otlp_scope + 2 + ESCAPED_MAX * service_name.len) != 0)
        return -1;
    char *o = out->base + out->len;
    o = PUT_LIT(o, otlp_head);
    o = put_str(o, service_name.base, service_name.len);
    o = PUT_LIT(o, otlp_scope);
    out->len = (size_t)(o - out->base);
    return 0;
}

int diag_span_encode_add(diag_span_encoder_t *e, const diag_span_t *s)
{
    base_buf_t *out = e->out;
    if (base_buf_reserve(out, 1 + span_max(s, e->service)) != 0)
        return -1;
    char *o = out->base + out->len;
    if (e->count)
        *o++ = ',';
    o = e->format == DIAG_SPAN_FORMAT_ZIPKIN ? put_zipkin(o, s, e->service) : put_otlp(o, s);
    out->len = (size_t)(o - out->base);
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
    if (base_buf_reserve(out, 1 + span_max(s, service_name)) != 0)
        return -1;
    char *o = put_zipkin(out->base + out->len, s, service_name);
    *o = '\0';
    out->len = (size_t)(o - out->base);
    return 0;
}
