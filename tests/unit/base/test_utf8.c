/* base_utf8_seq_len and base_utf8_repair against Go's unicode/utf8 rules: valid sequences of
 * every length, overlongs, surrogates, code points past U+10FFFF, sequences cut at the end,
 * NUL, and the word-at-a-time copy with one bad byte at every position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/utf8.h"

#define FFFD BASE_UTF8_REPLACEMENT

static size_t seq_len(const char *s, size_t n)
{
    return base_utf8_seq_len((const unsigned char *)s, n);
}

/* Repairs n bytes into a buffer with a guard past the documented maximum, checks that nothing
 * was written beyond 3 * n and returns the result NUL-terminated. */
static const char *repair(const char *in, size_t n, size_t *len)
{
    static char out[1024];
    assert_true(BASE_UTF8_REPAIR_MAX * n + 16 <= sizeof out);
    memset(out, 'G', sizeof out);
    *len = base_utf8_repair(out, in, n);
    assert_true(*len <= BASE_UTF8_REPAIR_MAX * n);
    for (size_t i = BASE_UTF8_REPAIR_MAX * n; i < BASE_UTF8_REPAIR_MAX * n + 16; i++)
        assert_int_equal(out[i], 'G');
    out[*len] = '\0';
    return out;
}

static void expect_repair(const char *in, size_t n, const char *want)
{
    size_t len;
    const char *got = repair(in, n, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
}

static void test_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        { "\x00", 1 },             { "a", 1 },                { "\x7f", 1 },
        { "\xc2\x80", 2 },         { "\xc3\xa9", 2 },         { "\xdf\xbf", 2 },         /* U+0080, é, U+07FF */
        { "\xe0\xa0\x80", 3 },     { "\xe2\x82\xac", 3 },     { "\xed\x9f\xbf", 3 },     /* U+0800, €, U+D7FF */
        { "\xee\x80\x80", 3 },     { "\xef\xbf\xbd", 3 },     { "\xef\xbf\xbf", 3 },     /* U+E000, U+FFFD, U+FFFF */
        { "\xf0\x90\x80\x80", 4 }, { "\xf0\x9f\x98\x80", 4 }, { "\xf4\x8f\xbf\xbf", 4 }, /* U+10000, 😀, U+10FFFF */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cases[i].len;
        assert_int_equal(seq_len(cases[i].s, n), n);
        assert_int_equal(seq_len(cases[i].s, n + 4), n); /* followed by more bytes */
        if (cases[i].s[0] != '\0')
            expect_repair(cases[i].s, n, cases[i].s);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "\x80", "\xbf",                                    /* continuation bytes */
        "\xc0\x80", "\xc1\xbf",                            /* overlong 2-byte leads */
        "\xe0\x80\x80", "\xe0\x9f\xbf",                    /* overlong 3-byte forms */
        "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",            /* overlong 4-byte forms */
        "\xed\xa0\x80", "\xed\xbf\xbf",                    /* surrogates U+D800, U+DFFF */
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff",    /* above U+10FFFF, f5..ff leads */
        "\xc3\x41", "\xe2\x82\x41", "\xf0\x9f\x98\x41",    /* a continuation that is not one */
        "\xe2\xc3\xa9",                                    /* a lead instead of a continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(seq_len(cases[i], strlen(cases[i])), 0);

    /* each byte that does not start a valid sequence is one U+FFFD; what follows is read anew */
    expect_repair("\xc0\xaf", 2, FFFD FFFD);
    expect_repair("\xed\xa0\x80", 3, FFFD FFFD FFFD);
    expect_repair("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    expect_repair("\xc3\x41", 2, FFFD "A");
    expect_repair("\xe2\xc3\xa9", 3, FFFD "\xc3\xa9");
    expect_repair("a\xffz", 3, "a" FFFD "z");
}

/* A sequence valid but for its length: cut by `avail`, or by the end of the input. */
static void test_truncated(void **state)
{
    (void)state;
    static const char *const full[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
    for (size_t i = 0; i < sizeof full / sizeof full[0]; i++) {
        size_t n = strlen(full[i]);
        for (size_t cut = 1; cut < n; cut++) {
            assert_int_equal(seq_len(full[i], cut), 0);
            char in[8] = "ab";
            memcpy(in + 2, full[i], cut);
            char want[32] = "ab";
            for (size_t k = 0; k < cut; k++)
                strcat(want, FFFD);
            expect_repair(in, 2 + cut, want);
        }
    }
    expect_repair("", 0, "");
}

static void test_nul(void **state)
{
    (void)state;
    assert_int_equal(seq_len("\0", 1), 1); /* valid UTF-8: only the repair replaces it */
    expect_repair("\0", 1, FFFD);
    expect_repair("ab\0cd\0\0efghijklmnop\0", 20, "ab" FFFD "cd" FFFD FFFD "efghijklmnop" FFFD);
}

/* The word-at-a-time paths (8-byte words, the overlapping last word, 4-byte halves, single
 * bytes): ASCII of every length 0..40 with a bad byte, a NUL or a valid sequence at every
 * position, or none. */
static void test_every_length_and_position(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t len;
    } specials[] = {
        { "\xff", FFFD, 1 }, { "\x80", FFFD, 1 }, { "\0", FFFD, 1 }, { "\xc3\xa9", "\xc3\xa9", 2 },
        { "\xe2\x82", FFFD FFFD, 2 }, { "\x7f", "\x7f", 1 }, { "\x01", "\x01", 1 },
    };
    for (size_t len = 0; len <= 40; len++) {
        for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
            for (size_t pos = 0; pos <= len; pos++) { /* pos == len: none */
                char in[64], want[128];
                size_t ni = 0, nw = 0;
                for (size_t i = 0; i < len; i++) {
                    if (i == pos) {
                        memcpy(in + ni, specials[k].in, specials[k].len);
                        ni += specials[k].len;
                        memcpy(want + nw, specials[k].out, strlen(specials[k].out));
                        nw += strlen(specials[k].out);
                    } else {
                        in[ni++] = want[nw++] = (char)('a' + i % 26);
                    }
                }
                size_t got_len;
                const char *got = repair(in, ni, &got_len);
                if (got_len != nw || memcmp(got, want, nw) != 0)
                    fail_msg("len %zu special %zu pos %zu: got %zu bytes, want %zu", len, k, pos, got_len, nw);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_every_length_and_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
