/*
 * span_memo.c - the encoders' memo of attribute sets (see span_memo.h).
 */
#include "span_memo.h"

#include <string.h>

#include "base/key.h"
#include "base/pool.h"

typedef struct entry {
    uint64_t hash;
    size_t key_len;
    size_t out_len;
    char data[]; /* the packed key, then the output and a NUL */
} entry_t;

#define WAYS SPAN_MEMO_WAYS
#define SETS (SPAN_MEMO_SLOTS / WAYS)

/* Two ways per set: two sets of attributes that hash alike both stay. */
typedef struct set {
    entry_t *way[WAYS];
    uint64_t seen; /* the hash of the set's last miss */
    unsigned mru;  /* the way used last */
} set_t;

struct span_memo {
    set_t set[SETS];
    size_t bytes;
    size_t entries;
    uint64_t hits, misses, stored;
};

_Static_assert((SETS & (SETS - 1)) == 0 && SETS * WAYS == SPAN_MEMO_SLOTS, "sets must be a power of two");

static size_t entry_size(const entry_t *e)
{
    return sizeof *e + e->key_len + e->out_len + 1;
}

span_memo_t *span_memo_new(void)
{
    return base_calloc(1, sizeof(span_memo_t));
}

void span_memo_free(span_memo_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < SETS; i++)
        for (unsigned w = 0; w < WAYS; w++)
            base_free(m->set[i].way[w]);
    base_free(m);
}

void span_memo_key(span_memo_key_t *k, const diag_span_t *s, base_slice_t extra, unsigned flags)
{
    unsigned count = s->attr_count <= DIAG_SPAN_MAX_ATTRS ? s->attr_count : DIAG_SPAN_MAX_ATTRS;
    /* Every attribute's text lies at or after the first one's: the builders append, and a
     * replaced value is written over its own old bytes or appended. The text ends with the
     * last byte any attribute uses (a status message set afterwards is not part of it). A key
     * given by number is no text: its number is in the table. */
    size_t lo = DIAG_SPAN_TEXT_MAX, hi = 0;
    if (count) {
        const diag_span_attr_t *a = &s->attrs[0];
        lo = a->key.off < DIAG_SPAN_TEXT_MAX ? a->key.off : a->value.off;
    }
    for (unsigned i = 0; i < count; i++) {
        const diag_span_attr_t *a = &s->attrs[i];
        size_t end = (size_t)a->value.off + a->value.len;
        if (a->key.off < DIAG_SPAN_TEXT_MAX)
            end = BASE_MAX(end, (size_t)a->key.off + a->key.len);
        hi = BASE_MAX(hi, end);
    }
    hi = BASE_MIN(hi, (size_t)s->text_len);
    lo = BASE_MIN(lo, hi);
    size_t n = 0;
    k->pieces[n++] = base_slice(s->text + lo, hi - lo);
    k->pieces[n++] = base_slice((const char *)s->attrs, count * sizeof s->attrs[0]);
    k->pieces[n++] = extra;
    if (flags & SPAN_MEMO_NAME)
        k->pieces[n++] = diag_span_text(s, s->name);
    if (flags & SPAN_MEMO_KIND)
        k->pieces[n++] = base_slice((const char *)&s->kind, 1);
    if (flags & SPAN_MEMO_STATUS) {
        k->pieces[n++] = base_slice((const char *)&s->status, 1);
        k->pieces[n++] = s->status == DIAG_SPAN_STATUS_ERROR ? diag_span_text(s, s->status_message)
                                                               : base_slice("", 0);
    }
    k->n = n;
    /* Only the text is hashed (with the piece and attribute counts): the table is compared on a
     * hit but rarely tells two keys apart whose text is the same. */
    k->hash = base_key_hash(base_hash_mix(BASE_KEY_SEED, flags << 16 | n << 8 | count), k->pieces, 1);
    k->hash = base_key_hash(k->hash, k->pieces + 2, n - 2);
}

int span_memo_get(span_memo_t *m, const span_memo_key_t *k, base_slice_t *out)
{
    set_t *set = &m->set[k->hash & (SETS - 1)];
    for (unsigned w = 0; w < WAYS; w++) {
        entry_t *e = set->way[w];
        if (e && e->hash == k->hash && base_key_equal(e->data, e->key_len, k->pieces, k->n)) {
            m->hits++;
            set->mru = w;
            *out = base_slice(e->data + e->key_len, e->out_len);
            return 1;
        }
    }
    m->misses++;
    if (set->seen == k->hash)
        return 0;
    set->seen = k->hash;
    return -1;
}

int span_memo_put(span_memo_t *m, const span_memo_key_t *k, const base_slice_t *out, size_t n)
{
    size_t out_len = 0;
    for (size_t i = 0; i < n; i++)
        out_len += out[i].len;
    size_t key_len = base_key_size(k->pieces, k->n);
    if (key_len == SIZE_MAX)
        return -1;
    set_t *set = &m->set[k->hash & (SETS - 1)];
    /* an empty way, else the one not used last */
    unsigned w = 0;
    while (w < WAYS && set->way[w])
        w++;
    if (w == WAYS)
        w = (set->mru + 1) % WAYS;
    entry_t *old = set->way[w];
    size_t held = m->bytes - (old ? entry_size(old) : 0);
    size_t size = sizeof(entry_t) + key_len + out_len + 1;
    if (size > SPAN_MEMO_BUDGET - held)
        return -1;
    entry_t *e = base_malloc(size);
    if (!e)
        return -1;
    e->hash = k->hash;
    e->key_len = key_len;
    e->out_len = out_len;
    base_key_pack(e->data, k->pieces, k->n);
    char *o = e->data + key_len;
    for (size_t i = 0; i < n; i++) {
        if (out[i].len)
            memcpy(o, out[i].base, out[i].len);
        o += out[i].len;
    }
    *o = '\0';
    base_free(old);
    set->way[w] = e;
    set->mru = w;
    set->seen = 0;
    m->bytes = held + size;
    m->entries += old ? 0 : 1;
    m->stored++;
    return 0;
}

void span_memo_stats(const span_memo_t *m, span_memo_stats_t *out)
{
    *out = (span_memo_stats_t){ m->hits, m->misses, m->stored, m->entries, m->bytes };
}
