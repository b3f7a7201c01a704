/*
 * trace.c - W3C Trace Context parsing and formatting, and the per-thread id source.
 *
 * Ids come from a splitmix64 generator kept per thread (no lock, no shared state), seeded
 * once per thread from getrandom(2), or /dev/urandom when that fails. Trace ids only need to
 * be unique, not secret, so a fast non-cryptographic generator is what OpenTelemetry SDKs use
 * too.
 */
#include "diag/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Thread_local uint64_t rng_state;
static _Thread_local int rng_seeded;

static int seed_from_kernel(uint64_t *out)
{
    ssize_t n;
    do {
        n = getrandom(out, sizeof *out, GRND_NONBLOCK);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof *out)
        return 0;

    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, out, sizeof *out);
    close(fd);
    return n == (ssize_t)sizeof *out ? 0 : -1;
}

static void rng_seed(void)
{
    uint64_t seed = 0;
    if (seed_from_kernel(&seed) != 0) {
        /* Last resort: time and the address of this thread's state differ per thread. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&rng_state;
    }
    rng_state = seed;
    rng_seeded = 1;
}

/* splitmix64 (Steele, Lea, Flood 2014): every 64-bit state gives a well-mixed output. */
static uint64_t rng_next(void)
{
    if (BASE_UNLIKELY(!rng_seeded))
        rng_seed();
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

void diag_random_bytes(uint8_t *out, size_t n)
{
    if (n == 0)
        return;
    /* An all-zero trace or span id is invalid (W3C §3.2.2.3); redraw in that case. */
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = rng_next();
            size_t k = BASE_MIN(n - i, (size_t)8);
            memcpy(out + i, &r, k);
        }
    } while (all_zero(out, n));
}

/* Uniform in [0, 1). */
static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * 0x1.0p-53;
}

/* Lower-case hex only: the spec makes upper case invalid (W3C §3.2.2). */
static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int parse_hex(const char *s, uint8_t *out, size_t nbytes)
{
    for (size_t i = 0; i < nbytes; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int diag_traceparent_parse(base_slice_t value, uint8_t trace_id[16], uint8_t span_id[8], uint8_t *flags)
{
    const char *s = value.base;
    uint8_t version, tid[16], sid[8], fl;

    if (!s || value.len < DIAG_TRACEPARENT_LEN)
        return -1;
    if (parse_hex(s, &version, 1) != 0 || version == 0xff)
        return -1;
    /* Version 00 is exactly 55 chars; a later version may append fields after a '-'
     * (W3C §3.2.4: parse the known prefix of a higher version). */
    if (version == 0 && value.len != DIAG_TRACEPARENT_LEN)
        return -1;
    if (version != 0 && value.len > DIAG_TRACEPARENT_LEN && s[DIAG_TRACEPARENT_LEN] != '-')
        return -1;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return -1;
    if (parse_hex(s + 3, tid, 16) != 0 || parse_hex(s + 36, sid, 8) != 0 || parse_hex(s + 53, &fl, 1) != 0)
        return -1;
    if (all_zero(tid, 16) || all_zero(sid, 8))
        return -1;
    memcpy(trace_id, tid, 16);
    memcpy(span_id, sid, 8);
    *flags = fl;
    return 0;
}

static char *put_hex(char *o, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        *o++ = digits[p[i] >> 4];
        *o++ = digits[p[i] & 0xf];
    }
    return o;
}

void diag_traceparent_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags, char *out)
{
    char *o = out;
    *o++ = '0';
    *o++ = '0';
    *o++ = '-';
    o = put_hex(o, trace_id, 16);
    *o++ = '-';
    o = put_hex(o, span_id, 8);
    *o++ = '-';
    o = put_hex(o, &flags, 1);
    *o = '\0';
}

void diag_trace_start(diag_trace_ctx_t *ctx, const base_slice_t *traceparent, const base_slice_t *tracestate,
                      double sampling_rate)
{
    uint8_t flags = 0;

    memset(ctx, 0, sizeof *ctx);
    if (traceparent && diag_traceparent_parse(*traceparent, ctx->trace_id, ctx->parent_span_id, &flags) == 0) {
        /* Continue the caller's trace and keep its sampling decision (only the sampled bit
         * is defined for version 00). */
        ctx->flags = flags & 0x01;
        ctx->has_parent = 1;
        /* tracestate belongs to a valid traceparent only (W3C §3.3); over 512 chars it may
         * be dropped, which daprd does. */
        if (tracestate && tracestate->base && tracestate->len <= DIAG_TRACESTATE_MAX) {
            memcpy(ctx->tracestate, tracestate->base, tracestate->len);
            ctx->tracestate[tracestate->len] = '\0';
        }
    } else {
        diag_random_bytes(ctx->trace_id, sizeof ctx->trace_id);
        ctx->flags = (sampling_rate >= 1.0 || rng_unit() < sampling_rate) ? 0x01 : 0x00;
    }
    diag_random_bytes(ctx->span_id, sizeof ctx->span_id);
}
