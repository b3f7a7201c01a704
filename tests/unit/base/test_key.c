/* test_key.c - packed byte-string sequences as hash keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/key.h"

static uint64_t hash_of(const base_slice_t *v, size_t n)
{
    return base_key_hash(BASE_KEY_SEED, v, n);
}

static void test_pack_and_compare(void **state)
{
    (void)state;
    const base_slice_t v[] = { BASE_SLICE_LIT("service"), BASE_SLICE_LIT(""), BASE_SLICE_LIT("a longer value, past eight") };
    size_t size = base_key_size(v, 3);
    assert_int_equal(size, 2 + 7 + 2 + 0 + 2 + 26);
    char key[64];
    base_key_pack(key, v, 3);
    assert_true(base_key_equal(key, size, v, 3));
    /* fewer pieces, more pieces, a shorter key, one byte changed */
    assert_false(base_key_equal(key, size, v, 2));
    const base_slice_t more[] = { v[0], v[1], v[2], BASE_SLICE_LIT("") };
    assert_false(base_key_equal(key, size, more, 4));
    assert_false(base_key_equal(key, size - 1, v, 3));
    key[size - 1] ^= 1;
    assert_false(base_key_equal(key, size, v, 3));
}

/* The lengths are part of the key and of the hash: ("ab", "c") is not ("a", "bc"). */
static void test_boundaries_count(void **state)
{
    (void)state;
    const base_slice_t x[] = { BASE_SLICE_LIT("ab"), BASE_SLICE_LIT("c") };
    const base_slice_t y[] = { BASE_SLICE_LIT("a"), BASE_SLICE_LIT("bc") };
    char key[16];
    base_key_pack(key, x, 2);
    assert_false(base_key_equal(key, base_key_size(x, 2), y, 2));
    assert_int_not_equal(hash_of(x, 2), hash_of(y, 2));
    /* a trailing empty piece changes the hash too */
    const base_slice_t z[] = { BASE_SLICE_LIT("ab"), BASE_SLICE_LIT("c"), BASE_SLICE_LIT("") };
    assert_int_not_equal(hash_of(x, 2), hash_of(z, 3));
    /* equal pieces at other addresses hash alike */
    char copy[] = "ab";
    const base_slice_t w[] = { base_slice(copy, 2), BASE_SLICE_LIT("c") };
    assert_int_equal(hash_of(x, 2), hash_of(w, 2));
}

/* Every length around the 8-byte steps, and bytes past a piece never read into the hash. */
static void test_every_length(void **state)
{
    (void)state;
    char a[40], b[40];
    for (size_t len = 0; len <= 32; len++) {
        memset(a, 'x', sizeof a);
        memset(b, 'y', sizeof b);
        memset(b, 'x', len);
        base_slice_t va = base_slice(a, len), vb = base_slice(b, len);
        assert_int_equal(hash_of(&va, 1), hash_of(&vb, 1));
        if (len) {
            b[len - 1] = 'z';
            assert_int_not_equal(hash_of(&va, 1), hash_of(&vb, 1));
        }
    }
}

/* Every length around the word steps, a difference at every position. */
static void test_equal_every_length(void **state)
{
    (void)state;
    char key[64], b[40];
    for (size_t len = 0; len <= 33; len++) {
        for (size_t i = 0; i < len; i++)
            b[i] = (char)('a' + (i % 26));
        base_slice_t v = base_slice(b, len);
        base_key_pack(key, &v, 1);
        assert_true(base_key_equal(key, base_key_size(&v, 1), &v, 1));
        for (size_t at = 0; at < len; at++) {
            b[at] ^= 0x20;
            assert_false(base_key_equal(key, base_key_size(&v, 1), &v, 1));
            b[at] ^= 0x20;
        }
    }
}

static void test_too_long(void **state)
{
    (void)state;
    char *big = calloc(1, BASE_KEY_PIECE_MAX + 1);
    assert_non_null(big);
    base_slice_t v[] = { BASE_SLICE_LIT("k"), base_slice(big, BASE_KEY_PIECE_MAX) };
    assert_int_equal(base_key_size(v, 2), 2 + 1 + 2 + BASE_KEY_PIECE_MAX);
    v[1].len++;
    assert_int_equal(base_key_size(v, 2), SIZE_MAX);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_and_compare),
        cmocka_unit_test(test_boundaries_count),
        cmocka_unit_test(test_every_length),
        cmocka_unit_test(test_equal_every_length),
        cmocka_unit_test(test_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
