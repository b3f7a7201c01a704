/*
 * span_memo.h - what a span encoder wrote for an attribute set, kept to be written again.
 *
 * A service's spans repeat themselves: the same routes, methods and peers give the same
 * attributes span after span, and encoding them is most of an encoder's work (cJSON prints
 * every byte of every key and value through its escaper; protobuf-c walks a KeyValue and an
 * AnyValue per attribute). The memo keeps the encoder's own output for an attribute set (with
 * whatever else that output depends on: the name, kind, status, service), keyed by those
 * bytes, and hands it back for the next span with the same ones: the output is still what the
 * library wrote, only not written again.
 *
 * Bounded: SPAN_MEMO_SLOTS entries, two ways per set chosen by hash (the one used less
 * recently goes), and SPAN_MEMO_BUDGET bytes of keys and outputs in all; an output that would
 * pass the budget is not kept. A key is kept on its second miss in a row in its set, so spans
 * whose attributes never repeat (an id in every URL) cost a hash and a compare, not an
 * allocation each. One memo per encoder, used by one thread.
 */
#ifndef DIAG_SPAN_MEMO_H
#define DIAG_SPAN_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "diag/span.h"

#define SPAN_MEMO_SLOTS 256u
#define SPAN_MEMO_WAYS 2u /* a key goes to set (hash % (SLOTS / WAYS)) */
#define SPAN_MEMO_BUDGET ((size_t)128 * 1024)
/* Pieces of a key: the text the attributes point into, the attribute table, one more, and
 * with the flags below the name, the kind, the status and its message. */
#define SPAN_MEMO_PIECES_MAX 7

/* What a key holds besides the attributes: what the encoder's kept output depends on. */
#define SPAN_MEMO_NAME 1u   /* the span's name */
#define SPAN_MEMO_KIND 2u   /* its kind */
#define SPAN_MEMO_STATUS 4u /* its status and status message */

typedef struct span_memo span_memo_t;

typedef struct span_memo_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t stored;
    size_t entries;
    size_t bytes; /* keys, outputs and entry headers held */
} span_memo_stats_t;

/*
 * A memo key: the span's text from its first attribute's key to its end, its attribute table
 * as it is (absolute offsets into that text), and the rest as pieces. Two spans with equal keys
 * have equal attributes, key for key and value for value; spans with equal attributes but text
 * laid out differently (another name length before them, a longer value replaced) only miss.
 * The pieces point into the span: a key is good as long as its span.
 */
typedef struct span_memo_key {
    base_slice_t pieces[SPAN_MEMO_PIECES_MAX];
    size_t n;
    uint64_t hash;
} span_memo_key_t;

/* An empty memo, or NULL when out of memory (the encoder then encodes every span). */
span_memo_t *span_memo_new(void);
void span_memo_free(span_memo_t *m);

/* The key of s's attributes (in order), with `extra` as one more piece (the Zipkin encoder's
 * service name; empty for none) and what `flags` (SPAN_MEMO_*) add. */
void span_memo_key(span_memo_key_t *k, const diag_span_t *s, base_slice_t extra, unsigned flags);

/*
 * Looks the key up. 1: *out is the output kept for it (valid until the next span_memo_put()),
 * NUL-terminated after out->len bytes. 0: not kept, and this is its set's second miss in a
 * row on this key: keep the output with span_memo_put(). -1: not kept; encode and move on.
 */
int span_memo_get(span_memo_t *m, const span_memo_key_t *k, base_slice_t *out);

/* Keeps a copy of the n parts of out one after the other (and a NUL after them) for the key,
 * in an empty way of its set or in place of the way used less recently. Returns 0, or -1 when
 * it would pass the budget or memory ran out (nothing changes). */
int span_memo_put(span_memo_t *m, const span_memo_key_t *k, const base_slice_t *out, size_t n);

void span_memo_stats(const span_memo_t *m, span_memo_stats_t *out);

#endif
