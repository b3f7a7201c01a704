/*
 * key.h - a sequence of byte strings as one hash-table key.
 *
 * A key is stored packed: for each piece a 2-byte length (host order) and then its bytes, so
 * ("ab", "c") and ("a", "bc") differ. Lookups hash and compare the pieces where they lie,
 * without packing them first; only a key that is stored gets packed. Used by the metrics'
 * series (one piece per label value) and the span encoders' memos (the attributes).
 */
#ifndef BASE_KEY_H
#define BASE_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define BASE_KEY_PIECE_MAX UINT16_MAX
#define BASE_KEY_SEED 0xcbf29ce484222325ull

/* One step of the hash: mixes 8 bytes into h (a rotation, a xor and a multiplication, as
 * FxHash does; base_key_hash() spreads the result over all 64 bits at the end). */
static inline uint64_t base_hash_mix(uint64_t h, uint64_t v)
{
    return (((h << 5) | (h >> 59)) ^ v) * 0x517cc1b727220a95ull;
}

/* Mixes the pieces, each with its length, into h (eight bytes at a time), then spreads the
 * result so that any of its bits may pick a bucket. Start from BASE_KEY_SEED, or from it mixed
 * with anything that tells tables apart. */
uint64_t base_key_hash(uint64_t h, const base_slice_t *pieces, size_t n);

/* The packed size of the pieces, or SIZE_MAX when one is longer than BASE_KEY_PIECE_MAX. */
size_t base_key_size(const base_slice_t *pieces, size_t n);

/* Packs the pieces at dst (base_key_size() bytes, none longer than BASE_KEY_PIECE_MAX). */
void base_key_pack(char *dst, const base_slice_t *pieces, size_t n);

/* 1 when the packed key of key_len bytes holds exactly these pieces. */
int base_key_equal(const char *key, size_t key_len, const base_slice_t *pieces, size_t n);

#endif
