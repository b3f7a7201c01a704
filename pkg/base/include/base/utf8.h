/*
 * utf8.h - UTF-8 validation and repair with Go's rules (unicode/utf8, RFC 3629): no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
 *
 * Every consumer of Remora's text that rejects invalid UTF-8 gets it repaired the way Go
 * writes it (encoding/json, protobuf's string fields): each byte that does not start a valid
 * sequence becomes U+FFFD, one replacement per byte. Prometheus label values, the metadata
 * API's values and span text all go through here.
 *
 * Pure functions: no allocation, no state, any thread.
 */
#ifndef BASE_UTF8_H
#define BASE_UTF8_H

#include <stddef.h>

/* The bytes of U+FFFD, the replacement character. */
#define BASE_UTF8_REPLACEMENT "\xef\xbf\xbd"
/* The most base_utf8_repair() writes per input byte. */
#define BASE_UTF8_REPAIR_MAX 3

/* Length (1 to 4) of the valid sequence at p, reading at most `avail` bytes (at least 1), or
 * 0 when the bytes there are not one: a continuation byte, 0xc0, 0xc1, 0xf5..0xff, an
 * overlong form, a surrogate, a code point above U+10FFFF or a sequence cut short by
 * `avail`. Any ASCII byte, NUL included, is 1. */
size_t base_utf8_seq_len(const unsigned char *p, size_t avail);

/* Writes to `out` the n bytes at `in` as valid UTF-8 that a C string can carry: every NUL and
 * every byte that does not start a valid sequence becomes U+FFFD, the rest is copied. Returns
 * the bytes written, without a NUL terminator; `out` must have room for
 * BASE_UTF8_REPAIR_MAX * n bytes and must not overlap `in`. Text without NUL and non-ASCII
 * bytes, the common case, is copied a word at a time. */
size_t base_utf8_repair(char *out, const char *in, size_t n);

#endif
