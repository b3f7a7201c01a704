#include "messaging/messaging.h"

#include <stdlib.h>
#include <string.h>

typedef Dapr__Proto__Internals__V1__ListStringValue list_t;

static int is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

base_slice_t msg_canonical_key(base_pool_t *pool, base_slice_t key)
{
    for (size_t i = 0; i < key.len; i++)
        if (!is_token_char((unsigned char)key.base[i]))
            return key;
    char *d = base_pool_alloc(pool, key.len + 1);
    if (!d)
        return BASE_SLICE_NULL;
    int upper = 1;
    for (size_t i = 0; i < key.len; i++) {
        char c = key.base[i];
        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        else if (!upper && c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        d[i] = c;
        upper = c == '-';
    }
    d[key.len] = '\0';
    return base_slice(d, key.len);
}

int msg_is_hop_by_hop(base_slice_t n)
{
    static const char *const names[] = { "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                                         "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade" };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(names); i++)
        if (base_slice_ieq_cstr(n, names[i]))
            return 1;
    return 0;
}

uint8_t *msg_pack(const ProtobufCMessage *m, uint8_t *stackbuf, size_t cap, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = *len <= cap ? stackbuf : malloc(*len);
    if (buf)
        protobuf_c_message_pack(m, buf);
    return buf;
}

void msg_pack_release(uint8_t *buf, const uint8_t *stackbuf)
{
    if (buf != stackbuf)
        free(buf);
}

static const char *const verb_names[] = { "", "GET", "HEAD", "POST", "PUT", "DELETE",
                                           "CONNECT", "OPTIONS", "TRACE", "PATCH" };

int msg_verb_from_name(base_slice_t method)
{
    for (int i = 1; i < (int)BASE_ARRAY_SIZE(verb_names); i++)
        if (base_slice_eq(method, base_slice_cstr(verb_names[i])))
            return i;
    return 3; /* POST */
}

const char *msg_verb_name(int verb)
{
    return verb > 0 && verb < (int)BASE_ARRAY_SIZE(verb_names) ? verb_names[verb] : NULL;
}

const char *msg_grpc_code_name(int code)
{
    static const char *const names[] = { "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
                                         "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
                                         "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal",
                                         "Unavailable", "DataLoss", "Unauthenticated" };
    return code >= 0 && code < (int)BASE_ARRAY_SIZE(names) ? names[code] : "Unknown";
}

int msg_http_status_from_grpc(int code)
{
    static const int table[] = { 200, 408, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401 };
    return code >= 0 && code < (int)BASE_ARRAY_SIZE(table) ? table[code] : 500;
}

/* The metadata and header map entries share one layout (key + ListStringValue). */
typedef struct kv_entry {
    ProtobufCMessage base;
    char *key;
    list_t *value;
} kv_entry_t;

_Static_assert(sizeof(kv_entry_t) == sizeof(msg_md_entry_t), "metadata entry layout");
_Static_assert(sizeof(kv_entry_t) == sizeof(msg_hdr_entry_t), "header entry layout");

static int put(base_pool_t *pool, kv_entry_t ***entries, size_t *n, size_t *cap, base_slice_t key, base_slice_t value,
               int append, const ProtobufCMessageDescriptor *entry_desc)
{
    kv_entry_t *e = NULL;
    for (size_t i = 0; i < *n; i++)
        if (base_slice_eq(base_slice_cstr((*entries)[i]->key), key)) {
            e = (*entries)[i];
            break;
        }
    if (!e) {
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            kv_entry_t **grown = base_pool_alloc(pool, nc * sizeof(*grown));
            if (!grown)
                return -1;
            if (*n)
                memcpy(grown, *entries, *n * sizeof(*grown));
            *entries = grown;
            *cap = nc;
        }
        e = base_pool_calloc(pool, sizeof(*e));
        list_t *l = base_pool_calloc(pool, sizeof(*l));
        char *k = base_pool_strndup(pool, key.base, key.len);
        if (!e || !l || !k)
            return -1;
        protobuf_c_message_init(entry_desc, e);
        dapr__proto__internals__v1__list_string_value__init(l);
        e->key = k;
        e->value = l;
        (*entries)[(*n)++] = e;
    } else if (!append) {
        e->value->n_values = 0;
    }
    list_t *l = e->value;
    char **vals = base_pool_alloc(pool, (l->n_values + 1) * sizeof(char *));
    char *v = base_pool_strndup(pool, value.base, value.len);
    if (!vals || !v)
        return -1;
    if (l->n_values)
        memcpy(vals, l->values, l->n_values * sizeof(char *));
    vals[l->n_values++] = v;
    l->values = vals;
    return 0;
}

int msg_metadata_from_headers(base_pool_t *pool, const http_headers_t *h, int (*skip)(base_slice_t name),
                              msg_md_entry_t ***out, size_t *n, size_t *cap_out)
{
    kv_entry_t **entries = NULL;
    size_t count = 0, cap = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (skip && skip(h->items[i].name))
            continue;
        base_slice_t k = msg_canonical_key(pool, h->items[i].name);
        if (!k.base || put(pool, &entries, &count, &cap, k, h->items[i].value, 1,
                           &dapr__proto__internals__v1__internal_invoke_request__metadata_entry__descriptor) != 0)
            return -1;
    }
    *out = (msg_md_entry_t **)entries;
    *n = count;
    *cap_out = cap;
    return 0;
}

int msg_metadata_put(base_pool_t *pool, msg_md_entry_t ***entries, size_t *n, size_t *cap, const char *key,
                     base_slice_t value, int append)
{
    return put(pool, (kv_entry_t ***)entries, n, cap, base_slice_cstr(key), value, append,
               &dapr__proto__internals__v1__internal_invoke_request__metadata_entry__descriptor);
}

static int headers_from(base_pool_t *pool, kv_entry_t *const *md, size_t n, http_headers_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!md[i] || !md[i]->key || !md[i]->value)
            continue;
        int later = 0; /* a later entry with the same key wins */
        for (size_t j = i + 1; j < n && !later; j++)
            later = md[j] && md[j]->key && strcmp(md[j]->key, md[i]->key) == 0;
        if (later)
            continue;
        base_slice_t k = base_slice_cstr(md[i]->key);
        for (size_t j = 0; j < md[i]->value->n_values; j++)
            if (http_headers_add(out, pool, k, base_slice_cstr(md[i]->value->values[j])) != 0)
                return -1;
    }
    return 0;
}

int msg_headers_from_metadata(base_pool_t *pool, msg_md_entry_t *const *md, size_t n, http_headers_t *out)
{
    return headers_from(pool, (kv_entry_t *const *)md, n, out);
}

int msg_headers_from_map(base_pool_t *pool, msg_hdr_entry_t *const *md, size_t n, http_headers_t *out)
{
    return headers_from(pool, (kv_entry_t *const *)md, n, out);
}

int msg_map_from_headers(base_pool_t *pool, const http_headers_t *h, int canonical, msg_hdr_entry_t ***out,
                         size_t *n)
{
    kv_entry_t **entries = NULL;
    size_t count = 0, cap = 0;
    for (size_t i = 0; i < h->len; i++) {
        base_slice_t k = canonical ? msg_canonical_key(pool, h->items[i].name) : h->items[i].name;
        if (!k.base || put(pool, &entries, &count, &cap, k, h->items[i].value, 1,
                           &dapr__proto__internals__v1__internal_invoke_response__headers_entry__descriptor) != 0)
            return -1;
    }
    *out = (msg_hdr_entry_t **)entries;
    *n = count;
    return 0;
}
