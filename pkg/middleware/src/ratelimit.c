/*
 * ratelimit.c - the middleware.http.ratelimit component.
 *
 * Dapr's component (components-contrib middleware/http/ratelimit) is tollbooth v7 with its
 * defaults: one token bucket per client IP, refilled at maxRequestsPerSecond with a burst of
 * max(1, maxRequestsPerSecond) (golang.org/x/time/rate), 429 when empty. tollbooth's first IP
 * lookup is RemoteAddr, which always yields an address, so X-Forwarded-For and X-Real-IP are
 * never consulted in practice: the key is the peer address, IPv6 reduced to its /64 prefix
 * (tollbooth's CanonicalizeIP). Remora answers the 429 with Dapr's JSON error.
 *
 * Threads: one filter serves every worker. The buckets sit in a fixed table behind one mutex.
 * Per-worker buckets would be lock-free but wrong: the kernel spreads one client's
 * connections over the workers (SO_REUSEPORT), so the client would get N times its rate. The
 * critical section is a short probe of at most RL_PROBE slots and a few arithmetic ops, far
 * below a request's cost, so contention stays low at the rates the targets are set for.
 *
 * Memory is bounded: RL_SLOTS buckets, open addressing with a window of RL_PROBE slots from a
 * keyed hash (the key is random per filter, so clients cannot aim at one window). A new
 * client takes a free slot in its window, else the slot of a bucket idle long enough to have
 * refilled completely (forgetting it changes nothing), else the least recently used one
 * (that client then starts again with a full bucket; only happens with more than RL_SLOTS
 * clients active within one refill period).
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/pool.h"

#define RL_SLOTS 4096u /* power of two */
#define RL_PROBE 8u

typedef struct rl_key {
    uint8_t addr[16];
} rl_key_t;

typedef struct rl_bucket {
    rl_key_t key;
    double tokens;
    uint64_t last_ns;
    int used;
} rl_bucket_t;

typedef struct ratelimit {
    mw_filter_t base;
    double rate;          /* tokens per second */
    double burst;         /* bucket size */
    uint64_t refill_ns;   /* time to refill an empty bucket */
    uint64_t seed[2];
    pthread_mutex_t lock;
    rl_bucket_t slots[RL_SLOTS];
} ratelimit_t;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t key_hash(const ratelimit_t *rl, const rl_key_t *k)
{
    uint64_t a, b;
    memcpy(&a, k->addr, 8);
    memcpy(&b, k->addr + 8, 8);
    return mix64(mix64(a ^ rl->seed[0]) ^ b ^ rl->seed[1]);
}

/*
 * "ip:port", "[ip6]:port" or "@" (Unix socket) → the bucket key. IPv4 keeps all four bytes
 * (stored IPv4-mapped), IPv6 its /64 prefix; anything else is hashed into the key so that
 * every non-IP peer shares one bucket per distinct string.
 */
static void peer_key(const char *peer, rl_key_t *k)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *p = peer ? peer : "";
    size_t n = strlen(p);
    const char *colon = strrchr(p, ':');

    memset(k, 0, sizeof *k);
    if (p[0] == '[') {
        const char *end = strchr(p, ']');
        n = end ? (size_t)(end - p - 1) : 0;
        p++;
    } else if (colon && strchr(p, ':') == colon) {
        n = (size_t)(colon - p); /* one colon: ipv4:port */
    } else if (colon && n < sizeof host) {
        /* Several colons without brackets: a bare IPv6 address, or one with ":port". */
        struct in6_addr tmp;
        memcpy(host, p, n + 1);
        if (inet_pton(AF_INET6, host, &tmp) != 1)
            n = (size_t)(colon - p);
    }
    if (n < sizeof host) {
        memcpy(host, p, n);
        host[n] = '\0';
        struct in_addr v4;
        struct in6_addr v6;
        if (inet_pton(AF_INET, host, &v4) == 1) {
            k->addr[10] = k->addr[11] = 0xff;
            memcpy(k->addr + 12, &v4, 4);
            return;
        }
        if (inet_pton(AF_INET6, host, &v6) == 1) {
            memcpy(k->addr, &v6, 16);
            if (!IN6_IS_ADDR_V4MAPPED(&v6))
                memset(k->addr + 8, 0, 8);
            return;
        }
    }
    /* Not an IP: FNV-1a of the whole peer string, tagged so it cannot equal an address. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *q = peer ? peer : ""; *q; q++)
        h = (h ^ (uint8_t)*q) * 0x100000001b3ull;
    k->addr[0] = 0xfe;
    k->addr[1] = 0x01;
    memcpy(k->addr + 8, &h, 8);
}

static rl_bucket_t *find_slot(ratelimit_t *rl, const rl_key_t *k, uint64_t now)
{
    size_t base = (size_t)key_hash(rl, k);
    rl_bucket_t *victim = NULL;
    int victim_rank = 3; /* 0 free, 1 refilled, 2 least recently used */
    for (size_t i = 0; i < RL_PROBE; i++) {
        rl_bucket_t *s = &rl->slots[(base + i) & (RL_SLOTS - 1)];
        if (!s->used) {
            if (victim_rank > 0) {
                victim = s;
                victim_rank = 0;
            }
            continue;
        }
        if (memcmp(&s->key, k, sizeof *k) == 0)
            return s;
        if (now - s->last_ns >= rl->refill_ns) {
            if (victim_rank > 1) {
                victim = s;
                victim_rank = 1;
            }
        } else if (victim_rank > 2 || (victim_rank == 2 && s->last_ns < victim->last_ns)) {
            victim = s;
            victim_rank = 2;
        }
    }
    victim->key = *k;
    victim->tokens = rl->burst;
    victim->last_ns = now;
    victim->used = 1;
    return victim;
}

static int take_token(ratelimit_t *rl, const rl_key_t *k)
{
    int allowed;
    pthread_mutex_lock(&rl->lock);
    uint64_t now = base_now_ns();
    rl_bucket_t *b = find_slot(rl, k, now);
    double refill = (double)(now - b->last_ns) * 1e-9 * rl->rate;
    b->tokens = fmin(rl->burst, b->tokens + refill);
    b->last_ns = now;
    allowed = b->tokens >= 1.0;
    if (allowed)
        b->tokens -= 1.0;
    pthread_mutex_unlock(&rl->lock);
    return allowed;
}

static mw_status_t on_request(mw_filter_t *f, mw_exchange_t *x)
{
    rl_key_t k;
    peer_key(x->http->req.peer, &k);
    if (take_token((ratelimit_t *)f, &k))
        return MW_CONTINUE;
    mw_reply_error(x, BASE_ERR_TOO_MANY_REQUESTS, NULL);
    return MW_STOP;
}

static void destroy(mw_filter_t *f)
{
    ratelimit_t *rl = (ratelimit_t *)f;
    pthread_mutex_destroy(&rl->lock);
    base_free(rl);
}

static const mw_filter_ops_t ops = {
    .name = "ratelimit",
    .on_request = on_request,
    .destroy = destroy,
};

/* components-contrib: default 100, "metadata property maxRequestsPerSecond must be a positive
 * value" otherwise. */
static int parse_rate(const char *s, double *out)
{
    if (!s) {
        *out = 100;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == s || *end || errno == ERANGE || !isfinite(v) || !(v > 0))
        return -1;
    *out = v;
    return 0;
}

mw_filter_t *mw_ratelimit_new(const config_component_t *c, char *err, size_t errlen)
{
    double rate;
    if (parse_rate(mw_component_meta(c, "maxRequestsPerSecond"), &rate) != 0) {
        snprintf(err, errlen, "middleware %s: metadata property maxRequestsPerSecond must be a positive value",
                 c && c->name ? c->name : "ratelimit");
        return NULL;
    }
    ratelimit_t *rl = base_calloc(1, sizeof *rl);
    if (!rl)
        goto fail_alloc;
    if (pthread_mutex_init(&rl->lock, NULL) != 0)
        goto fail_lock;
    rl->base.ops = &ops;
    rl->rate = rate;
    rl->burst = fmax(1.0, floor(rate));
    double refill = rl->burst / rate * 1e9;
    rl->refill_ns = refill >= 1e18 ? (uint64_t)1e18 : (uint64_t)refill + 1;
    diag_random_bytes((uint8_t *)rl->seed, sizeof rl->seed);
    return &rl->base;

fail_lock:
    base_free(rl);
fail_alloc:
    snprintf(err, errlen, "middleware ratelimit: out of memory");
    return NULL;
}
