/*
 * pb_wire.c - converts between protobuf bytes and JSON with remora_pb's generated descriptors,
 * so tests/integration/pb_wire.test.mjs can check our generated code against the upstream
 * Dapr .proto files loaded by protobufjs ("encode with one, decode with the other").
 *
 *   pb_wire decode <full.message.Name>   stdin: encoded bytes  → stdout: canonical JSON
 *   pb_wire encode <full.message.Name>   stdin: JSON           → stdout: encoded bytes
 *   pb_wire schema                       stdout: every message, enum and service we generate
 *
 * Canonical JSON is what protobufjs's Type.toObject() gives with { keepCase, longs: String,
 * enums: Number, bytes: String, defaults: true, arrays: true, objects: true }: every field is
 * present under its .proto name, an absent message field is null, 64-bit integers are decimal
 * strings, bytes are base64, repeated fields are arrays and maps are objects. `encode` also
 * accepts a partial object (missing fields keep their defaults) but rejects unknown names.
 *
 * Everything is done reflectively through ProtobufCMessageDescriptor, i.e. through exactly
 * the field numbers, types and struct offsets that protoc-c generated from proto/. Decoding and
 * building go through pb_unpack()/pb_pool_allocator, so the pool path is exercised as well.
 * Exit status: 0 done, 1 invalid input (reason on stderr), 2 usage.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dapr/proto/internals/v1/service_invocation.pb-c.h"
#include "dapr/proto/runtime/v1/appcallback.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "pb/pb.h"

static const ProtobufCMessageDescriptor *const MESSAGES[] = {
    &dapr__proto__common__v1__httpextension__descriptor,
    &dapr__proto__common__v1__invoke_request__descriptor,
    &dapr__proto__common__v1__invoke_response__descriptor,
    &dapr__proto__common__v1__stream_payload__descriptor,
    &dapr__proto__internals__v1__status__descriptor,
    &dapr__proto__internals__v1__reminder__descriptor,
    &dapr__proto__internals__v1__actor__descriptor,
    &dapr__proto__internals__v1__internal_invoke_request__descriptor,
    &dapr__proto__internals__v1__internal_invoke_response__descriptor,
    &dapr__proto__internals__v1__internal_invoke_request_stream__descriptor,
    &dapr__proto__internals__v1__internal_invoke_response_stream__descriptor,
    &dapr__proto__internals__v1__list_string_value__descriptor,
    &dapr__proto__runtime__v1__health_check_response__descriptor,
    &google__protobuf__any__descriptor,
    &google__protobuf__empty__descriptor,
    &google__protobuf__timestamp__descriptor,
};

static const ProtobufCEnumDescriptor *const ENUMS[] = {
    &dapr__proto__common__v1__httpextension__verb__descriptor,
    &dapr__proto__internals__v1__apiversion__descriptor,
};

static const ProtobufCServiceDescriptor *const SERVICES[] = {
    &dapr__proto__internals__v1__service_invocation__descriptor,
    &dapr__proto__runtime__v1__app_callback__descriptor,
    &dapr__proto__runtime__v1__app_callback_health_check__descriptor,
};

static const char *error; /* first reason an input was rejected */

static void *fail(const char *why)
{
    if (!error)
        error = why;
    return NULL;
}

static int reject(const char *why)
{
    fail(why);
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* base64 (RFC 4648 §4, with padding), as protobufjs writes bytes */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = B64[v >> 18 & 63];
        *o++ = B64[v >> 12 & 63];
        *o++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *o = 0;
    return out;
}

static int b64_value(char c)
{
    const char *at = c ? strchr(B64, c) : NULL;
    return at ? (int)(at - B64) : -1;
}

/* Decodes into pool memory; returns -1 on a malformed string. */
static int b64_decode(const char *s, base_pool_t *pool, ProtobufCBinaryData *out)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '=')
        n--;
    uint8_t *buf = base_pool_alloc(pool, n * 3 / 4 + 1);
    if (!buf)
        return -1;
    size_t len = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            buf[len++] = (uint8_t)(acc >> 16);
            buf[len++] = (uint8_t)(acc >> 8);
            buf[len++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (n % 4 == 1)
        return -1;
    if (n % 4 == 2)
        buf[len++] = (uint8_t)(acc >> 4);
    if (n % 4 == 3) {
        buf[len++] = (uint8_t)(acc >> 10);
        buf[len++] = (uint8_t)(acc >> 2);
    }
    out->data = buf;
    out->len = len;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* field layout helpers */

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default: /* 32-bit integers, float, enum */
        return 4;
    }
}

/* A map<K, V> field is a repeated message "…Entry" with fields key = 1 and value = 2. */
static int is_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t nl = strlen(d->name);
    return d->n_fields == 2 && nl > 5 && strcmp(d->name + nl - 5, "Entry") == 0 &&
           strcmp(d->fields[0].name, "key") == 0 && d->fields[0].id == 1 &&
           strcmp(d->fields[1].name, "value") == 0 && d->fields[1].id == 2;
}

static void *member_at(const void *msg, unsigned offset)
{
    return (char *)msg + offset;
}

/* ------------------------------------------------------------------------------------------ */
/* message → canonical JSON */

static cJSON *message_to_json(const ProtobufCMessage *m);

static cJSON *string_of_u64(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRIu64, v);
    return cJSON_CreateString(s);
}

static cJSON *string_of_i64(int64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRId64, v);
    return cJSON_CreateString(s);
}

static cJSON *value_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        return cJSON_CreateNumber(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        return cJSON_CreateNumber(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_ENUM:
        return cJSON_CreateNumber(*(const int *)p);
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        return string_of_i64(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return string_of_u64(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return cJSON_CreateNumber(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return cJSON_CreateNumber(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return cJSON_CreateBool(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return cJSON_CreateString(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *s = b64_encode(b->data, b->len);
        cJSON *j = s ? cJSON_CreateString(s) : NULL;
        free(s);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        return sub ? message_to_json(sub) : cJSON_CreateNull();
    }
    }
    return NULL;
}

static cJSON *map_to_json(const ProtobufCFieldDescriptor *f, ProtobufCMessage *const *entries, size_t n)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    if (kf->type != PROTOBUF_C_TYPE_STRING)
        return fail("only string map keys are supported");
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < n; i++) {
        const char *key = *(char *const *)member_at(entries[i], kf->offset);
        /* A key seen twice is printed twice, in wire order (protobuf-c keeps both entries);
         * JSON.parse then keeps the last, as Go's and protobufjs's maps do. */
        cJSON_AddItemToObject(o, key ? key : "", value_to_json(vf, member_at(entries[i], vf->offset)));
    }
    return o;
}

static cJSON *repeated_to_json(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
    size_t n = *(const size_t *)member_at(m, f->quantifier_offset);
    const char *arr = *(char *const *)member_at(m, f->offset);
    if (is_map(f))
        return map_to_json(f, (ProtobufCMessage *const *)(const void *)arr, n);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, value_to_json(f, arr + i * elem_size(f->type)));
    return a;
}

static cJSON *message_to_json(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    cJSON *o = cJSON_CreateObject();
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        cJSON *v = f->label == PROTOBUF_C_LABEL_REPEATED ? repeated_to_json(f, m)
                                                        : value_to_json(f, member_at(m, f->offset));
        if (!v) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObject(o, f->name, v);
    }
    return o;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON → message, all memory from the pool */

static ProtobufCMessage *message_from_json(const ProtobufCMessageDescriptor *d, const cJSON *j,
                                           base_pool_t *pool);

static int int_from_json(const cJSON *j, double lo, double hi, int64_t *out)
{
    if (cJSON_IsString(j)) {
        char *end;
        errno = 0;
        long long v = strtoll(j->valuestring, &end, 10);
        if (errno || *end || end == j->valuestring || (double)v < lo || (double)v > hi)
            return -1;
        *out = v;
        return 0;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble) || j->valuedouble < lo ||
        j->valuedouble > hi)
        return -1;
    *out = (int64_t)j->valuedouble;
    return 0;
}

static int u64_from_json(const cJSON *j, uint64_t *out)
{
    if (cJSON_IsNumber(j) && j->valuedouble >= 0 && j->valuedouble < 9007199254740992.0 &&
        j->valuedouble == floor(j->valuedouble)) {
        *out = (uint64_t)j->valuedouble;
        return 0;
    }
    if (!cJSON_IsString(j) || j->valuestring[0] == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(j->valuestring, &end, 10);
    if (errno || *end || end == j->valuestring)
        return -1;
    *out = v;
    return 0;
}

static int value_from_json(const ProtobufCFieldDescriptor *f, const cJSON *j, void *p, base_pool_t *pool)
{
    int64_t i;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        if (int_from_json(j, INT32_MIN, INT32_MAX, &i))
            return -1;
        if (f->type == PROTOBUF_C_TYPE_ENUM)
            *(int *)p = (int)i;
        else
            *(int32_t *)p = (int32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        if (int_from_json(j, 0, UINT32_MAX, &i))
            return -1;
        *(uint32_t *)p = (uint32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        return int_from_json(j, -9.3e18, 9.3e18, (int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return u64_from_json(j, (uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        if (!cJSON_IsNumber(j))
            return -1;
        *(float *)p = (float)j->valuedouble;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!cJSON_IsNumber(j))
            return -1;
        *(double *)p = j->valuedouble;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!cJSON_IsBool(j))
            return -1;
        *(protobuf_c_boolean *)p = cJSON_IsTrue(j);
        return 0;
    case PROTOBUF_C_TYPE_STRING:
        if (!cJSON_IsString(j))
            return -1;
        *(char **)p = base_pool_strndup(pool, j->valuestring, strlen(j->valuestring));
        return *(char **)p ? 0 : -1;
    case PROTOBUF_C_TYPE_BYTES:
        return cJSON_IsString(j) ? b64_decode(j->valuestring, pool, p) : -1;
    case PROTOBUF_C_TYPE_MESSAGE:
        if (cJSON_IsNull(j)) {
            *(ProtobufCMessage **)p = NULL;
            return 0;
        }
        *(ProtobufCMessage **)p = message_from_json(f->descriptor, j, pool);
        return *(ProtobufCMessage **)p ? 0 : -1;
    }
    return -1;
}

static int map_from_json(const ProtobufCFieldDescriptor *f, const cJSON *j, ProtobufCMessage *m,
                         base_pool_t *pool)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    if (!cJSON_IsObject(j) || ed->fields[0].type != PROTOBUF_C_TYPE_STRING)
        return -1;
    size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
    ProtobufCMessage **entries = base_pool_calloc(pool, (n ? n : 1) * sizeof(*entries));
    if (!entries)
        return -1;
    for (const cJSON *kv = j->child; kv; kv = kv->next, i++) {
        ProtobufCMessage *e = base_pool_alloc(pool, ed->sizeof_message);
        if (!e)
            return -1;
        ed->message_init(e);
        char **key = member_at(e, ed->fields[0].offset);
        *key = base_pool_strndup(pool, kv->string, strlen(kv->string));
        if (!*key || value_from_json(&ed->fields[1], kv, member_at(e, ed->fields[1].offset), pool))
            return -1;
        entries[i] = e;
    }
    *(size_t *)member_at(m, f->quantifier_offset) = n;
    *(ProtobufCMessage ***)member_at(m, f->offset) = entries;
    return 0;
}

static int repeated_from_json(const ProtobufCFieldDescriptor *f, const cJSON *j, ProtobufCMessage *m,
                              base_pool_t *pool)
{
    if (is_map(f))
        return map_from_json(f, j, m, pool);
    if (!cJSON_IsArray(j))
        return -1;
    size_t n = (size_t)cJSON_GetArraySize(j), es = elem_size(f->type), i = 0;
    char *arr = base_pool_calloc(pool, (n ? n : 1) * es);
    if (!arr)
        return -1;
    for (const cJSON *e = j->child; e; e = e->next, i++)
        if (value_from_json(f, e, arr + i * es, pool))
            return -1;
    *(size_t *)member_at(m, f->quantifier_offset) = n;
    *(char **)member_at(m, f->offset) = arr;
    return 0;
}

/* proto2-style presence: a has_ flag for optional scalars, the case for a oneof member. */
static void mark_present(const ProtobufCFieldDescriptor *f, ProtobufCMessage *m)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)member_at(m, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)member_at(m, f->quantifier_offset) = 1;
}

static ProtobufCMessage *message_from_json(const ProtobufCMessageDescriptor *d, const cJSON *j,
                                           base_pool_t *pool)
{
    if (!cJSON_IsObject(j))
        return fail("expected a JSON object for a message");
    ProtobufCMessage *m = base_pool_alloc(pool, d->sizeof_message);
    if (!m)
        return fail("out of memory");
    d->message_init(m);
    for (const cJSON *kv = j->child; kv; kv = kv->next) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, kv->string);
        if (!f)
            return fail("unknown field name");
        int rc = f->label == PROTOBUF_C_LABEL_REPEATED
                     ? repeated_from_json(f, kv, m, pool)
                     : value_from_json(f, kv, member_at(m, f->offset), pool);
        if (rc)
            return fail("field value of the wrong JSON type or out of range");
        if (!cJSON_IsNull(kv))
            mark_present(f, m);
    }
    return m;
}

/* ------------------------------------------------------------------------------------------ */
/* schema: what protoc-c generated, for comparison with the upstream .proto reflection */

static const char *TYPE_NAMES[] = {
    [PROTOBUF_C_TYPE_INT32] = "int32", [PROTOBUF_C_TYPE_SINT32] = "sint32",
    [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
    [PROTOBUF_C_TYPE_SINT64] = "sint64", [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
    [PROTOBUF_C_TYPE_UINT32] = "uint32", [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
    [PROTOBUF_C_TYPE_UINT64] = "uint64", [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
    [PROTOBUF_C_TYPE_FLOAT] = "float", [PROTOBUF_C_TYPE_DOUBLE] = "double",
    [PROTOBUF_C_TYPE_BOOL] = "bool", [PROTOBUF_C_TYPE_ENUM] = "enum",
    [PROTOBUF_C_TYPE_STRING] = "string", [PROTOBUF_C_TYPE_BYTES] = "bytes",
    [PROTOBUF_C_TYPE_MESSAGE] = "message",
};

/* "string", "uint64", or the full name of the message or enum type */
static const char *type_name(const ProtobufCFieldDescriptor *f)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
    if (f->type == PROTOBUF_C_TYPE_ENUM)
        return ((const ProtobufCEnumDescriptor *)f->descriptor)->name;
    return TYPE_NAMES[f->type];
}

static cJSON *field_schema(const ProtobufCFieldDescriptor *f)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", f->id);
    if (is_map(f)) {
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        cJSON_AddStringToObject(o, "keyType", type_name(&ed->fields[0]));
        cJSON_AddStringToObject(o, "type", type_name(&ed->fields[1]));
        cJSON_AddBoolToObject(o, "map", 1);
        cJSON_AddBoolToObject(o, "repeated", 0);
    } else {
        cJSON_AddStringToObject(o, "type", type_name(f));
        cJSON_AddBoolToObject(o, "map", 0);
        cJSON_AddBoolToObject(o, "repeated", f->label == PROTOBUF_C_LABEL_REPEATED);
    }
    return o;
}

static cJSON *schema(void)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *msgs = cJSON_AddObjectToObject(root, "messages");
    for (size_t i = 0; i < BASE_ARRAY_SIZE(MESSAGES); i++) {
        cJSON *fields = cJSON_AddObjectToObject(msgs, MESSAGES[i]->name);
        for (unsigned k = 0; k < MESSAGES[i]->n_fields; k++)
            cJSON_AddItemToObject(fields, MESSAGES[i]->fields[k].name, field_schema(&MESSAGES[i]->fields[k]));
    }
    cJSON *enums = cJSON_AddObjectToObject(root, "enums");
    for (size_t i = 0; i < BASE_ARRAY_SIZE(ENUMS); i++) {
        cJSON *values = cJSON_AddObjectToObject(enums, ENUMS[i]->name);
        for (unsigned k = 0; k < ENUMS[i]->n_values; k++)
            cJSON_AddNumberToObject(values, ENUMS[i]->values[k].name, ENUMS[i]->values[k].value);
    }
    cJSON *services = cJSON_AddObjectToObject(root, "services");
    for (size_t i = 0; i < BASE_ARRAY_SIZE(SERVICES); i++) {
        cJSON *methods = cJSON_AddObjectToObject(services, SERVICES[i]->name);
        for (unsigned k = 0; k < SERVICES[i]->n_methods; k++) {
            const ProtobufCMethodDescriptor *md = &SERVICES[i]->methods[k];
            cJSON *o = cJSON_AddObjectToObject(methods, md->name);
            cJSON_AddStringToObject(o, "requestType", md->input->name);
            cJSON_AddStringToObject(o, "responseType", md->output->name);
        }
    }
    return root;
}

/* ------------------------------------------------------------------------------------------ */

static const ProtobufCMessageDescriptor *find_message(const char *name)
{
    for (size_t i = 0; i < BASE_ARRAY_SIZE(MESSAGES); i++)
        if (strcmp(MESSAGES[i]->name, name) == 0)
            return MESSAGES[i];
    return NULL;
}

static uint8_t *read_all(FILE *in, size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, in);
        if (n < cap)
            break;
        uint8_t *bigger = realloc(buf, cap *= 2);
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    *len = n;
    return buf;
}

static int print_json(cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s)
        return reject("cannot print JSON");
    puts(s);
    free(s);
    return 0;
}

static int decode(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len, base_pool_t *pool)
{
    ProtobufCMessage *m = pb_unpack(d, pool, in, len);
    if (!m)
        return reject("not a valid encoding of this message");
    return print_json(message_to_json(m));
}

static int encode(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len, base_pool_t *pool)
{
    cJSON *j = cJSON_ParseWithLength((const char *)in, len);
    if (!j)
        return reject("stdin is not JSON");
    ProtobufCMessage *m = message_from_json(d, j, pool);
    cJSON_Delete(j);
    if (!m)
        return 1;
    if (!protobuf_c_message_check(m))
        return reject("protobuf_c_message_check rejected the built message");
    size_t n = 0;
    uint8_t *out = pb_pack(m, pool, 0, &n);
    if (!out)
        return reject("out of memory");
    return fwrite(out, 1, n, stdout) == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "schema") == 0)
        return print_json(schema());
    const ProtobufCMessageDescriptor *d = argc == 3 ? find_message(argv[2]) : NULL;
    int dec = argc == 3 && strcmp(argv[1], "decode") == 0;
    if (!d || (!dec && strcmp(argv[1], "encode") != 0)) {
        fprintf(stderr, "usage: pb_wire decode|encode <full.message.Name> | pb_wire schema\n");
        return 2;
    }
    size_t len;
    uint8_t *in = read_all(stdin, &len);
    base_pool_t *pool = base_pool_create(0);
    int rc = 1;
    if (in && pool)
        rc = dec ? decode(d, in, len, pool) : encode(d, in, len, pool);
    base_pool_destroy(pool);
    free(in);
    if (rc)
        fprintf(stderr, "pb_wire: %s\n", error ? error : "out of memory");
    return rc;
}
