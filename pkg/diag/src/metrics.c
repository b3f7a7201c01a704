/*
 * metrics.c - per-thread shards of series, merged into Prometheus text on scrape.
 *
 * A series is one label combination of one instrument on one thread: a count, a sum (a double
 * kept as its bits) and, for histograms, one counter per bucket (not cumulative; the scrape
 * accumulates). Only the owning thread writes a series, so an update is a relaxed load and a
 * relaxed store of each word: on x86-64 that is a plain add, and the scraper still never sees
 * a torn value. The owner finds its series through a private hash table; the scraper walks the
 * per-instrument lists, published with release stores.
 */
#include "diag/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/key.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/utf8.h"

#define MAX_COLLECTORS 4
#define MAX_BUCKETS 64

typedef enum inst_kind { K_COUNTER, K_LATENCY, K_SIZE } inst_kind_t;

typedef struct inst_def {
    inst_kind_t kind;
    uint8_t nlabels;
    const char *labels[DIAG_MAX_LABELS];
} inst_def_t;

static const inst_def_t insts[DIAG_INST_COUNT] = {
    [DIAG_HTTP_SERVER] = { K_LATENCY, 3, { "method", "path", "status" } },
    [DIAG_HTTP_SERVER_REQ_BYTES] = { K_SIZE, 0, { 0 } },
    [DIAG_HTTP_SERVER_RES_BYTES] = { K_SIZE, 0, { 0 } },
    [DIAG_HTTP_CLIENT] = { K_LATENCY, 3, { "method", "path", "status" } },
    [DIAG_HTTP_CLIENT_SENT_BYTES] = { K_SIZE, 2, { "method", "path" } },
    [DIAG_HTTP_CLIENT_RECV_BYTES] = { K_SIZE, 0, { 0 } },
    [DIAG_HTTP_HEALTH] = { K_LATENCY, 1, { "status" } },
    [DIAG_GRPC_SERVER] = { K_LATENCY, 2, { "grpc_server_method", "grpc_server_status" } },
    [DIAG_GRPC_SERVER_RECV_BYTES] = { K_SIZE, 1, { "grpc_server_method" } },
    [DIAG_GRPC_SERVER_SENT_BYTES] = { K_SIZE, 1, { "grpc_server_method" } },
    [DIAG_GRPC_CLIENT] = { K_LATENCY, 2, { "grpc_client_method", "grpc_client_status" } },
    [DIAG_GRPC_CLIENT_SENT_BYTES] = { K_SIZE, 1, { "grpc_client_method" } },
    [DIAG_GRPC_CLIENT_RECV_BYTES] = { K_SIZE, 1, { "grpc_client_method" } },
    [DIAG_GRPC_HEALTH] = { K_LATENCY, 1, { "grpc_client_status" } },
    [DIAG_SI_REQ_SENT] = { K_COUNTER, 2, { "dst_app_id", "type" } },
    [DIAG_SI_RES_RECV] = { K_LATENCY, 2, { "src_app_id", "status" } },
    [DIAG_SI_REQ_RECV] = { K_COUNTER, 1, { "src_app_id" } },
    [DIAG_SI_RES_SENT] = { K_COUNTER, 2, { "dst_app_id", "status" } },
    [DIAG_COMPONENT_LOADED] = { K_COUNTER, 0, { 0 } },
};

/* A family as daprd exposes it: the count or the histogram of an instrument. */
typedef enum view_kind { V_COUNT, V_HIST } view_kind_t;

typedef struct view_def {
    const char *name;
    const char *help;
    diag_inst_t inst;
    view_kind_t kind;
    const char *extra_label; /* a constant label appended to every series, or NULL */
    int increased_cardinality_only;
} view_def_t;

/* Names, help texts and label sets of daprd's pkg/diagnostics (namespace "dapr", "/" and "."
 * turned into "_" by the OpenCensus Prometheus exporter). */
static const view_def_t views[] = {
    { "dapr_http_server_request_count", "Count of HTTP requests processed by the server.", DIAG_HTTP_SERVER, V_COUNT,
      NULL, 0 },
    { "dapr_http_server_latency", "HTTP request end-to-end latency in server.", DIAG_HTTP_SERVER, V_HIST, NULL, 0 },
    { "dapr_http_server_response_count", "The number of HTTP responses", DIAG_HTTP_SERVER, V_COUNT, NULL, 1 },
    { "dapr_http_server_request_bytes", "HTTP request body size if set as ContentLength (uncompressed) in server.",
      DIAG_HTTP_SERVER_REQ_BYTES, V_HIST, NULL, 0 },
    { "dapr_http_server_response_bytes", "HTTP response body size (uncompressed) in server.",
      DIAG_HTTP_SERVER_RES_BYTES, V_HIST, NULL, 0 },
    { "dapr_http_client_completed_count", "Count of completed requests", DIAG_HTTP_CLIENT, V_COUNT, NULL, 0 },
    { "dapr_http_client_roundtrip_latency",
      "Time between first byte of request headers sent to last byte of response received, or terminal error",
      DIAG_HTTP_CLIENT, V_HIST, NULL, 0 },
    { "dapr_http_client_sent_bytes", "Total bytes sent in request body (not including headers)",
      DIAG_HTTP_CLIENT_SENT_BYTES, V_HIST, NULL, 0 },
    { "dapr_http_client_received_bytes",
      "Total bytes received in response bodies (not including headers but including error responses with bodies)",
      DIAG_HTTP_CLIENT_RECV_BYTES, V_HIST, NULL, 0 },
    { "dapr_http_healthprobes_completed_count", "Count of completed health probes", DIAG_HTTP_HEALTH, V_COUNT, NULL,
      0 },
    { "dapr_http_healthprobes_roundtrip_latency",
      "Time between first byte of health probes headers sent to last byte of response received, or terminal error",
      DIAG_HTTP_HEALTH, V_HIST, NULL, 0 },
    { "dapr_grpc_io_server_completed_rpcs", "Distribution of bytes sent per RPC, by method.", DIAG_GRPC_SERVER,
      V_COUNT, NULL, 0 },
    { "dapr_grpc_io_server_server_latency",
      "Time between first byte of request received to last byte of response sent, or terminal error.",
      DIAG_GRPC_SERVER, V_HIST, NULL, 0 },
    { "dapr_grpc_io_server_received_bytes_per_rpc", "Total bytes received across all messages per RPC.",
      DIAG_GRPC_SERVER_RECV_BYTES, V_HIST, NULL, 0 },
    { "dapr_grpc_io_server_sent_bytes_per_rpc", "Total bytes sent in across all response messages per RPC.",
      DIAG_GRPC_SERVER_SENT_BYTES, V_HIST, NULL, 0 },
    { "dapr_grpc_io_client_completed_rpcs", "Count of RPCs by method and status.", DIAG_GRPC_CLIENT, V_COUNT, NULL,
      0 },
    { "dapr_grpc_io_client_roundtrip_latency",
      "Time between first byte of request sent to last byte of response received, or terminal error.",
      DIAG_GRPC_CLIENT, V_HIST, NULL, 0 },
    { "dapr_grpc_io_client_sent_bytes_per_rpc", "Total bytes sent across all request messages per RPC.",
      DIAG_GRPC_CLIENT_SENT_BYTES, V_HIST, NULL, 0 },
    { "dapr_grpc_io_client_received_bytes_per_rpc", "Total bytes received across all response messages per RPC.",
      DIAG_GRPC_CLIENT_RECV_BYTES, V_HIST, NULL, 0 },
    { "dapr_grpc_io_healthprobes_completed_count", "Count of completed health probes", DIAG_GRPC_HEALTH, V_COUNT,
      NULL, 0 },
    { "dapr_grpc_io_healthprobes_roundtrip_latency",
      "Time between first byte of health probes sent to last byte of response received, or terminal error",
      DIAG_GRPC_HEALTH, V_HIST, NULL, 0 },
    { "dapr_runtime_service_invocation_req_sent_total", "The number of requests sent via service invocation.",
      DIAG_SI_REQ_SENT, V_COUNT, NULL, 0 },
    { "dapr_runtime_service_invocation_req_recv_total", "The number of requests received via service invocation.",
      DIAG_SI_REQ_RECV, V_COUNT, NULL, 0 },
    { "dapr_runtime_service_invocation_res_sent_total", "The number of responses sent via service invocation.",
      DIAG_SI_RES_SENT, V_COUNT, NULL, 0 },
    { "dapr_runtime_service_invocation_res_recv_total", "The number of responses received via service invocation.",
      DIAG_SI_RES_RECV, V_COUNT, "type=\"unary\"", 0 },
    { "dapr_runtime_service_invocation_res_recv_latency_ms",
      "The latency of service invocation response.", DIAG_SI_RES_RECV, V_HIST, NULL, 0 },
    { "dapr_runtime_component_loaded", "The number of successfully loaded components.", DIAG_COMPONENT_LOADED,
      V_COUNT, NULL, 0 },
};

/* daprd's default latency buckets (ms) and its size distribution (bytes). */
static const double default_latency[] = { 1,   2,   3,   4,   5,   6,    8,    10,   13,    16,    20,    25,
                                          30,  40,  50,  65,  80,  100,  130,  160,  200,   250,   300,   400,
                                          500, 650, 800, 1000, 2000, 5000, 10000, 20000, 50000, 100000 };
static const double size_buckets[] = { 1024.0,      2048.0,      4096.0,       16384.0,      65536.0,
                                       262144.0,    1048576.0,   4194304.0,    16777216.0,   67108864.0,
                                       268435456.0, 1073741824.0, 4294967296.0 };

typedef struct series series_t;
struct series {
    _Atomic(series_t *) next; /* this shard's list for the instrument (scraper's view) */
    series_t *hnext;          /* owner's hash chain */
    uint64_t hash;
    uint16_t inst;
    uint16_t labels_len;      /* packed: per label a 2-byte length then the bytes */
    _Atomic uint64_t count;
    _Atomic uint64_t sum;     /* double bits */
    _Atomic uint64_t *buckets;
    char labels[];            /* then, aligned, the bucket counters */
};

/* The series of diag_record_rpc()'s last call on one side. */
typedef struct rpc_last {
    const char *method;
    int code;
    series_t *series[3]; /* calls and latency, sent, received */
} rpc_last_t;

typedef struct shard {
    _Atomic(series_t *) heads[DIAG_INST_COUNT];
    unsigned counts[DIAG_INST_COUNT];
    series_t *nolabel[DIAG_INST_COUNT]; /* the one series of a label-less instrument */
    series_t *last[DIAG_INST_COUNT];    /* the series each instrument used last: requests
                                           repeat their labels, so most look-ups end here */
    rpc_last_t rpc_last[2];             /* diag_record_rpc()'s last call per side */
    series_t **table;
    size_t table_size; /* power of two */
    size_t table_used;
} shard_t;

struct diag_metrics {
    char *app_id;
    double latency[MAX_BUCKETS];
    size_t latency_count;
    int increased_cardinality;
    int exclude_verbs;
    char **paths; /* pathMatching, normalised, with the invoke variants added */
    size_t path_count;
    int path_root;  /* "/" among the patterns */
    shard_t *shards;
    int max_shards;
    _Atomic int used_shards;
    _Atomic uint64_t overflow;
    _Atomic int overflow_logged[DIAG_INST_COUNT];
    struct { diag_collector_fn fn; void *ctx; } collectors[MAX_COLLECTORS];
    int collector_count;
};

static _Thread_local shard_t *tls_shard;
static diag_metrics_t *g_metrics; /* the process's registry: the label rules */

/* ---- helpers ------------------------------------------------------------------------------ */

static inline uint64_t load(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline void bump(_Atomic uint64_t *p, uint64_t n)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static inline uint64_t double_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static size_t bucket_count(const diag_metrics_t *m, inst_kind_t k)
{
    return k == K_LATENCY ? m->latency_count : k == K_SIZE ? BASE_ARRAY_SIZE(size_buckets) : 0;
}

static const double *bucket_bounds(const diag_metrics_t *m, inst_kind_t k)
{
    return k == K_LATENCY ? m->latency : size_buckets;
}

/* The labels are hashed on every observation that misses the last-series cache. */
static uint64_t hash_labels(unsigned inst, const base_slice_t *labels, unsigned n)
{
    return base_key_hash(BASE_KEY_SEED ^ inst, labels, n);
}

static int labels_equal(const series_t *s, const base_slice_t *labels, unsigned n)
{
    return base_key_equal(s->labels, s->labels_len, labels, n);
}

/* ---- registry ----------------------------------------------------------------------------- */


/* Merges repeated slashes and makes sure of a leading one (daprd's NormalizeHTTPPath). */
static size_t normalize_path(const char *in, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return 0;
    if ((n == 0 || in[0] != '/') && outlen > 1)
        out[o++] = '/';
    for (size_t i = 0; i < n && o + 1 < outlen; i++) {
        if (in[i] == '/' && o > 0 && out[o - 1] == '/')
            continue;
        out[o++] = in[i];
    }
    out[o] = '\0';
    return o;
}

static int add_pattern(diag_metrics_t *m, const char *p, size_t n)
{
    for (size_t i = 0; i < m->path_count; i++)
        if (strlen(m->paths[i]) == n && memcmp(m->paths[i], p, n) == 0)
            return 0;
    char *d = base_strndup(p, n);
    if (!d)
        return -1;
    m->paths[m->path_count++] = d;
    return 0;
}

static int build_patterns(diag_metrics_t *m, const char *const *paths, size_t count)
{
    if (count == 0)
        return 0;
    m->paths = base_calloc(count * 2, sizeof(char *));
    if (!m->paths)
        return -1;
    for (size_t i = 0; i < count; i++) {
        char buf[1024];
        size_t n = normalize_path(paths[i], strlen(paths[i]), buf, sizeof buf);
        if (add_pattern(m, buf, n) != 0)
            return -1;
        if (n == 1)
            m->path_root = 1;
        /* daprd registers the service-invocation form of every pattern too */
        static const char invoke[] = "/v1.0/invoke/";
        if (strncmp(buf, invoke, sizeof invoke - 1) != 0) {
            char inv[1100];
            int k = snprintf(inv, sizeof inv, "/v1.0/invoke/{app_id}/method%s", buf);
            if (k > 0 && (size_t)k < sizeof inv && add_pattern(m, inv, (size_t)k) != 0)
                return -1;
        }
    }
    return 0;
}

diag_metrics_t *diag_metrics_new(const diag_metrics_options_t *o)
{
    diag_metrics_t *m = base_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->app_id = base_strndup(o->app_id ? o->app_id : "", o->app_id ? strlen(o->app_id) : 0);
    const double *lb = o->latency_buckets ? o->latency_buckets : default_latency;
    size_t ln = o->latency_buckets ? o->latency_bucket_count : BASE_ARRAY_SIZE(default_latency);
    for (size_t i = 0; i < ln && m->latency_count < MAX_BUCKETS; i++)
        if (m->latency_count == 0 || lb[i] > m->latency[m->latency_count - 1])
            m->latency[m->latency_count++] = lb[i];
    m->increased_cardinality = o->increased_cardinality;
    m->exclude_verbs = o->exclude_verbs;
    m->max_shards = o->max_threads > 0 ? o->max_threads : 1;
    m->shards = base_calloc((size_t)m->max_shards, sizeof(shard_t));
    if (!m->app_id || !m->shards || build_patterns(m, o->path_matching, o->path_matching_count) != 0) {
        diag_metrics_free(m);
        return NULL;
    }
    g_metrics = m;
    return m;
}

void diag_metrics_free(diag_metrics_t *m)
{
    if (!m)
        return;
    if (g_metrics == m)
        g_metrics = NULL;
    for (int i = 0; m->shards && i < m->max_shards; i++) {
        shard_t *sh = &m->shards[i];
        for (int k = 0; k < DIAG_INST_COUNT; k++) {
            series_t *s = atomic_load_explicit(&sh->heads[k], memory_order_acquire);
            while (s) {
                series_t *n = atomic_load_explicit(&s->next, memory_order_relaxed);
                base_free(s);
                s = n;
            }
        }
        base_free(sh->table);
    }
    for (size_t i = 0; i < m->path_count; i++)
        base_free(m->paths[i]);
    base_free(m->paths);
    base_free(m->shards);
    base_free(m->app_id);
    base_free(m);
}

int diag_metrics_bind_thread(diag_metrics_t *m)
{
    if (!m) {
        tls_shard = NULL;
        return 0;
    }
    int i = atomic_fetch_add(&m->used_shards, 1);
    if (i >= m->max_shards) {
        atomic_fetch_sub(&m->used_shards, 1);
        return -1;
    }
    tls_shard = &m->shards[i];
    return 0;
}

int diag_metrics_add_collector(diag_metrics_t *m, diag_collector_fn fn, void *ctx)
{
    if (m->collector_count >= MAX_COLLECTORS)
        return -1;
    m->collectors[m->collector_count].fn = fn;
    m->collectors[m->collector_count].ctx = ctx;
    m->collector_count++;
    return 0;
}

int diag_metrics_on(void)
{
    return tls_shard != NULL;
}

/* ---- recording ---------------------------------------------------------------------------- */

static int table_grow(shard_t *sh)
{
    size_t n = sh->table_size ? sh->table_size * 2 : 64;
    series_t **t = base_calloc(n, sizeof(series_t *));
    if (!t)
        return -1;
    for (size_t i = 0; i < sh->table_size; i++) {
        series_t *s = sh->table[i];
        while (s) {
            series_t *next = s->hnext;
            size_t b = s->hash & (n - 1);
            s->hnext = t[b];
            t[b] = s;
            s = next;
        }
    }
    base_free(sh->table);
    sh->table = t;
    sh->table_size = n;
    return 0;
}

static series_t *series_new(diag_metrics_t *m, shard_t *sh, unsigned inst, const base_slice_t *labels, unsigned n,
                            uint64_t hash)
{
    const inst_def_t *d = &insts[inst];
    if (sh->counts[inst] >= DIAG_MAX_SERIES) {
        atomic_fetch_add(&m->overflow, 1);
        if (!atomic_exchange(&m->overflow_logged[inst], 1))
            LOG_WARN("dapr.runtime.diagnostics",
                     "more than %d label combinations for one metric (%s): new ones are not recorded",
                     DIAG_MAX_SERIES, d->nlabels ? d->labels[0] : "no labels");
        return NULL;
    }
    size_t llen = base_key_size(labels, n);
    if (llen > UINT16_MAX)
        return NULL;
    size_t off = (sizeof(series_t) + llen + 7) & ~(size_t)7;
    size_t nb = bucket_count(m, d->kind);
    series_t *s = base_calloc(1, off + (nb + 1) * sizeof(uint64_t));
    if (!s)
        return NULL;
    base_key_pack(s->labels, labels, n);
    s->labels_len = (uint16_t)llen;
    s->inst = (uint16_t)inst;
    s->hash = hash;
    s->buckets = nb ? (_Atomic uint64_t *)((char *)s + off) : NULL;
    if ((sh->table_used + 1) * 4 > sh->table_size * 3 && table_grow(sh) != 0) {
        base_free(s);
        return NULL;
    }
    size_t b = hash & (sh->table_size - 1);
    s->hnext = sh->table[b];
    sh->table[b] = s;
    sh->table_used++;
    sh->counts[inst]++;
    /* publish: everything above is visible to a scraper that loads the head with acquire */
    atomic_store_explicit(&s->next, atomic_load_explicit(&sh->heads[inst], memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&sh->heads[inst], s, memory_order_release);
    return s;
}

static series_t *find_series(shard_t *sh, unsigned inst, const base_slice_t *labels)
{
    unsigned n = insts[inst].nlabels;
    if (n == 0 && sh->nolabel[inst])
        return sh->nolabel[inst];
    series_t *last = sh->last[inst];
    if (last && labels_equal(last, labels, n))
        return last;
    uint64_t h = hash_labels(inst, labels, n);
    if (sh->table_size) {
        for (series_t *s = sh->table[h & (sh->table_size - 1)]; s; s = s->hnext)
            if (s->hash == h && s->inst == inst && labels_equal(s, labels, n))
                return sh->last[inst] = s;
    }
    series_t *s = series_new(g_metrics, sh, inst, labels, n, h);
    if (s && n == 0)
        sh->nolabel[inst] = s;
    if (s)
        sh->last[inst] = s;
    return s;
}

static void observe(series_t *s, const inst_def_t *d, double value)
{
    bump(&s->count, 1);
    if (d->kind == K_COUNTER)
        return;
    atomic_store_explicit(&s->sum, double_to_bits(bits_to_double(load(&s->sum)) + value), memory_order_relaxed);
    const double *bounds = bucket_bounds(g_metrics, d->kind);
    size_t nb = bucket_count(g_metrics, d->kind);
    /* The first bound >= value; past the last: the +Inf counter at nb. Most values are small
     * (a few ms, a few KiB): the first bounds are tried in order, the rest by bisection. */
    size_t lo = 0, hi = nb;
    for (size_t linear = BASE_MIN(nb, (size_t)4); lo < linear && value > bounds[lo]; lo++)
        ;
    if (lo < BASE_MIN(nb, (size_t)4))
        hi = lo;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (value <= bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    bump(&s->buckets[lo], 1);
}

void diag_record(diag_inst_t inst, const base_slice_t *labels, double value)
{
    shard_t *sh = tls_shard;
    if (!sh || !g_metrics)
        return;
    series_t *s = find_series(sh, inst, labels);
    if (s)
        observe(s, &insts[inst], value);
}

void diag_record_rpc(diag_rpc_side_t side, const char *method, int code, double ms, double sent, double recv)
{
    static const diag_inst_t families[2][3] = {
        [DIAG_RPC_SERVER] = { DIAG_GRPC_SERVER, DIAG_GRPC_SERVER_SENT_BYTES, DIAG_GRPC_SERVER_RECV_BYTES },
        [DIAG_RPC_CLIENT] = { DIAG_GRPC_CLIENT, DIAG_GRPC_CLIENT_SENT_BYTES, DIAG_GRPC_CLIENT_RECV_BYTES },
    };
    shard_t *sh = tls_shard;
    if (!sh || !g_metrics || (unsigned)side > DIAG_RPC_CLIENT)
        return;
    const diag_inst_t *f = families[side];
    rpc_last_t *last = &sh->rpc_last[side];
    if (last->method != method || last->code != code || !last->series[0]) {
        /* The code's name is looked up only here: for a code past the known ones it is text
         * that changes, which the address of `method` and the number of the code do not. */
        base_slice_t l[2] = { base_slice_cstr(method), base_slice_cstr(diag_grpc_code_name(code)) };
        for (int i = 0; i < 3; i++)
            last->series[i] = find_series(sh, f[i], l);
        last->method = method;
        last->code = code;
        if (!last->series[0] || !last->series[1] || !last->series[2]) {
            last->method = NULL; /* out of memory or series: try again next time */
            for (int i = 0; i < 3; i++)
                if (last->series[i])
                    observe(last->series[i], &insts[f[i]], i == 0 ? ms : i == 1 ? sent : recv);
            return;
        }
    }
    observe(last->series[0], &insts[f[0]], ms);
    observe(last->series[1], &insts[f[1]], sent);
    observe(last->series[2], &insts[f[2]], recv);
}

/* ---- label helpers ------------------------------------------------------------------------ */

static const char *const verbs[] = { "GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE" };

base_slice_t diag_http_method_label(base_slice_t method)
{
    if (g_metrics && g_metrics->exclude_verbs)
        return BASE_SLICE_LIT("");
    for (size_t i = 0; i < BASE_ARRAY_SIZE(verbs); i++)
        if (base_slice_eq(method, base_slice_cstr(verbs[i])))
            return method;
    return BASE_SLICE_LIT("UNKNOWN");
}

/* One segment of a pattern against one of the path: "{name}" matches any non-empty segment. */
static int is_wildcard(const char *seg, size_t n)
{
    return n >= 2 && seg[0] == '{' && seg[n - 1] == '}';
}

static int is_rest_wildcard(const char *seg, size_t n)
{
    return is_wildcard(seg, n) && n >= 5 && memcmp(seg + n - 4, "...}", 4) == 0;
}

static const char *seg_end(const char *s)
{
    while (*s && *s != '/')
        s++;
    return s;
}

/* Matches path against a net/http ServeMux pattern (Go 1.22 form without method or host):
 * literal segments, {name} for one segment, {name...} for the rest, and a trailing slash for
 * a subtree. Both start with '/'. Returns a specificity score (higher wins) or -1. */
static int pattern_match(const char *pat, const char *path)
{
    int score = 0;
    const char *p = pat + 1, *q = path + 1;
    for (;;) {
        if (*p == '\0') {
            if (*q == '\0')
                return score + 1000; /* exact */
            return p[-1] == '/' ? score : -1; /* "…/" is a subtree */
        }
        const char *pe = seg_end(p), *qe = seg_end(q);
        size_t pn = (size_t)(pe - p), qn = (size_t)(qe - q);
        if (is_rest_wildcard(p, pn))
            return score + 1;
        if (is_wildcard(p, pn)) {
            if (qn == 0)
                return -1;
            score += 2;
        } else {
            if (pn != qn || memcmp(p, q, pn) != 0)
                return -1;
            score += 4;
        }
        p = pe;
        q = qe;
        if (*p == '\0')
            return *q == '\0' ? score + 1000 : -1;
        if (*q != '/')
            return -1;
        p++;
        q++;
    }
}

static const char *match_patterns(const diag_metrics_t *m, const char *path)
{
    const char *best = NULL;
    int best_score = -1;
    for (size_t i = 0; i < m->path_count; i++) {
        int s = pattern_match(m->paths[i], path);
        if (s > best_score) {
            best_score = s;
            best = m->paths[i];
        }
    }
    return best;
}

static int has_double_slash(base_slice_t p)
{
    /* Eight positions at a time: a byte of (w ^ slashes) | (next ^ slashes) is zero where a
     * '/' follows a '/'; the usual zero-byte test finds one without a false positive. */
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull, slashes = ones * '/';
    size_t i = 0;
    for (; i + 9 <= p.len; i += 8) {
        uint64_t w, next;
        memcpy(&w, p.base + i, 8);
        memcpy(&next, p.base + i + 1, 8);
        uint64_t v = (w ^ slashes) | (next ^ slashes);
        if ((v - ones) & ~v & highs)
            return 1;
    }
    for (i = i ? i : 1; i < p.len; i++)
        if (p.base[i] == '/' && p.base[i - 1] == '/')
            return 1;
    return 0;
}

#define STATIC_PATH(p) { p, sizeof(p) - 1 }
static const base_slice_t static_paths[] = { STATIC_PATH("/dapr/config"), STATIC_PATH("/dapr/metrics"),
                                             STATIC_PATH("/dapr/subscribe"), STATIC_PATH("/healthz") };
#undef STATIC_PATH

base_slice_t diag_http_path_label(base_slice_t path, char *out, size_t outlen)
{
    const diag_metrics_t *m = g_metrics;
    if (!m || outlen == 0)
        return BASE_SLICE_LIT("");
    for (size_t i = 0; i < BASE_ARRAY_SIZE(static_paths); i++)
        if (base_slice_eq(path, static_paths[i]))
            return path;
    if (m->path_count) {
        char norm[1024];
        normalize_path(path.base ? path.base : "", path.len, norm, sizeof norm);
        const char *pat = match_patterns(m, norm);
        if (pat && !(pat[0] == '/' && pat[1] == '\0' && !m->path_root)) {
            size_t n = BASE_MIN(strlen(pat), outlen - 1);
            memcpy(out, pat, n);
            out[n] = '\0';
            return base_slice(out, n);
        }
    }
    if (!m->increased_cardinality)
        return BASE_SLICE_LIT("");
    /* the common case: already normalised, used as it is */
    if (path.len && path.len < outlen && path.base[0] == '/' && !has_double_slash(path))
        return path;
    /* daprd's legacy label: the normalised path (its per-API shortening touches state,
     * secrets, actors and workflows, none of which this sidecar serves) */
    size_t n = normalize_path(path.base ? path.base : "", path.len, out, outlen);
    return base_slice(out, n);
}

static const char *const grpc_codes[] = { "OK",         "Canceled",          "Unknown",          "InvalidArgument",
                                          "DeadlineExceeded", "NotFound",    "AlreadyExists",    "PermissionDenied",
                                          "ResourceExhausted", "FailedPrecondition", "Aborted",  "OutOfRange",
                                          "Unimplemented", "Internal",       "Unavailable",      "DataLoss",
                                          "Unauthenticated" };

const char *diag_grpc_code_name(int code)
{
    if (code >= 0 && (size_t)code < BASE_ARRAY_SIZE(grpc_codes))
        return grpc_codes[code];
    /* Go's codes.Code.String() for a code it does not know */
    static _Thread_local char other[24];
    snprintf(other, sizeof other, "Code(%d)", code);
    return other;
}

base_slice_t diag_status_label(int status, char *out)
{
    if (status >= 100 && status <= 999) { /* every HTTP status: three digits */
        out[0] = (char)('0' + status / 100);
        out[1] = (char)('0' + status / 10 % 10);
        out[2] = (char)('0' + status % 10);
        out[3] = '\0';
        return base_slice(out, 3);
    }
    char tmp[12];
    size_t n = 0;
    unsigned v = status < 0 ? (unsigned)(-(long)status) : (unsigned)status;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof tmp);
    size_t o = 0;
    if (status < 0)
        out[o++] = '-';
    while (n)
        out[o++] = tmp[--n];
    out[o] = '\0';
    return base_slice(out, o);
}

/* ---- scrape ------------------------------------------------------------------------------- */

/* One merged series during a scrape. */
typedef struct merged {
    const series_t *first; /* labels come from here */
    uint64_t count;
    double sum;
    uint64_t *buckets;
} merged_t;

static int same_labels(const series_t *a, const series_t *b)
{
    return a->hash == b->hash && a->labels_len == b->labels_len && memcmp(a->labels, b->labels, a->labels_len) == 0;
}

static int cmp_series(const void *a, const void *b)
{
    const series_t *x = *(const series_t *const *)a, *y = *(const series_t *const *)b;
    size_t n = BASE_MIN(x->labels_len, y->labels_len);
    int c = memcmp(x->labels, y->labels, n);
    if (c)
        return c;
    return (int)x->labels_len - (int)y->labels_len;
}

/* Merges every shard's series of one instrument, in label order; *out is an array the caller
 * frees (with each element's buckets). */
static int merge_inst(diag_metrics_t *m, unsigned inst, merged_t **out, size_t *count)
{
    size_t nb = bucket_count(m, insts[inst].kind);
    size_t total = 0, n = 0;
    int shards = BASE_MIN(atomic_load(&m->used_shards), m->max_shards);
    const series_t **all = NULL;
    merged_t *arr = NULL;
    *out = NULL;
    *count = 0;
    /* Lists only grow at their heads: walking from heads read once sees a fixed set. */
    const series_t *heads[shards > 0 ? shards : 1];
    for (int i = 0; i < shards; i++) {
        heads[i] = atomic_load_explicit(&m->shards[i].heads[inst], memory_order_acquire);
        for (const series_t *s = heads[i]; s; s = atomic_load_explicit(&s->next, memory_order_acquire))
            total++;
    }
    if (total == 0)
        return 0;
    if (!(all = base_malloc(total * sizeof *all)))
        return -1;
    size_t k = 0;
    for (int i = 0; i < shards; i++)
        for (const series_t *s = heads[i]; s; s = atomic_load_explicit(&s->next, memory_order_acquire))
            all[k++] = s;
    qsort(all, total, sizeof *all, cmp_series);
    if (!(arr = base_calloc(total, sizeof *arr)))
        goto fail;
    for (size_t i = 0; i < total; i++) {
        const series_t *s = all[i];
        if (n == 0 || !same_labels(arr[n - 1].first, s)) {
            arr[n].first = s;
            if (nb && !(arr[n].buckets = base_calloc(nb + 1, sizeof(uint64_t))))
                goto fail;
            n++;
        }
        merged_t *g = &arr[n - 1];
        g->sum += bits_to_double(load(&s->sum));
        uint64_t in_buckets = 0;
        for (size_t b = 0; nb && b <= nb; b++) {
            uint64_t v = load(&s->buckets[b]);
            g->buckets[b] += v;
            in_buckets += v;
        }
        /* A histogram's count is its buckets' total: the owner stores count and bucket one
         * after the other, so a scrape between the two would otherwise show +Inf != _count. */
        g->count += nb ? in_buckets : load(&s->count);
    }
    base_free(all);
    *out = arr;
    *count = n;
    return 0;
fail:
    for (size_t j = 0; arr && j < n; j++)
        base_free(arr[j].buckets);
    base_free(arr);
    base_free(all);
    return -1;
}

/* The scrape's output: an append that fails (out of memory) fails the whole scrape, rather
 * than serving text with series missing. */
typedef struct sout {
    base_buf_t *b;
    int err;
} sout_t;

static void out_append(sout_t *o, const char *p, size_t n)
{
    if (base_buf_append(o->b, p, n) != 0)
        o->err = 1;
}

static void out_str(sout_t *o, const char *s)
{
    out_append(o, s, strlen(s));
}

static void out_printf(sout_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(sout_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (base_buf_vprintf(o->b, fmt, ap) < 0)
        o->err = 1;
    va_end(ap);
}

/* A label value: the text format's three escapes, and U+FFFD for each byte that is not valid
 * UTF-8 (a raw byte of a request path), since Prometheus rejects the whole scrape for one
 * invalid label value. */
static void put_escaped(sout_t *o, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        size_t k = base_utf8_seq_len((const unsigned char *)s + i, n - i);
        const char *rep = k == 0 ? BASE_UTF8_REPLACEMENT
                          : s[i] == '\\' ? "\\\\"
                          : s[i] == '"'  ? "\\\""
                          : s[i] == '\n' ? "\\n"
                                         : NULL;
        if (rep) {
            out_append(o, s + start, i - start);
            out_str(o, rep);
            start = i + 1; /* an escape or a replacement stands for one byte */
        }
        i += k ? k : 1;
    }
    out_append(o, s + start, n - start);
}

/* {app_id="…",label="…",…[,extra][,le="…"]}; labels with an empty value are left out, as the
 * OpenCensus exporter does with unset tags. */
static void put_labels(sout_t *o, const diag_metrics_t *m, const series_t *s, const char *extra, const char *le)
{
    const inst_def_t *d = &insts[s->inst];
    out_str(o, "{app_id=\"");
    put_escaped(o, m->app_id, strlen(m->app_id));
    out_str(o, "\"");
    const char *p = s->labels;
    for (unsigned i = 0; i < d->nlabels; i++) {
        uint16_t len;
        memcpy(&len, p, 2);
        p += 2;
        if (len) {
            out_str(o, ",");
            out_str(o, d->labels[i]);
            out_str(o, "=\"");
            put_escaped(o, p, len);
            out_str(o, "\"");
        }
        p += len;
    }
    if (extra) {
        out_str(o, ",");
        out_str(o, extra);
    }
    if (le) {
        out_str(o, ",le=\"");
        out_str(o, le);
        out_str(o, "\"");
    }
    out_str(o, "}");
}

/* Shortest text that reads back as the same double ("1", "0.25", "4294967296"). */
static void fmt_double(char *buf, size_t n, double v)
{
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void write_view(sout_t *o, diag_metrics_t *m, const view_def_t *v, const merged_t *arr, size_t n)
{
    if (n == 0)
        return; /* as the OpenCensus exporter: a family appears with its first observation */
    out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", v->name, v->help, v->name,
                    v->kind == V_COUNT ? "counter" : "histogram");
    const inst_def_t *d = &insts[v->inst];
    const double *bounds = bucket_bounds(m, d->kind);
    size_t nb = bucket_count(m, d->kind);
    char num[40];
    for (size_t i = 0; i < n; i++) {
        const merged_t *s = &arr[i];
        if (v->kind == V_COUNT) {
            out_str(o, v->name);
            put_labels(o, m, s->first, v->extra_label, NULL);
            out_printf(o, " %llu\n", (unsigned long long)s->count);
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; b <= nb; b++) {
            cum += s->buckets[b];
            if (b < nb)
                fmt_double(num, sizeof num, bounds[b]);
            else
                snprintf(num, sizeof num, "+Inf");
            out_printf(o, "%s_bucket", v->name);
            put_labels(o, m, s->first, v->extra_label, num);
            out_printf(o, " %llu\n", (unsigned long long)cum);
        }
        out_printf(o, "%s_sum", v->name);
        put_labels(o, m, s->first, v->extra_label, NULL);
        fmt_double(num, sizeof num, s->sum);
        out_printf(o, " %s\n", num);
        out_printf(o, "%s_count", v->name);
        put_labels(o, m, s->first, v->extra_label, NULL);
        out_printf(o, " %llu\n", (unsigned long long)s->count);
    }
}

int diag_metrics_scrape(diag_metrics_t *m, base_buf_t *out)
{
    merged_t *merged[DIAG_INST_COUNT] = { 0 };
    size_t counts[DIAG_INST_COUNT] = { 0 };
    sout_t so = { out, 0 };
    int rc = 0;
    for (unsigned i = 0; i < DIAG_INST_COUNT && rc == 0; i++)
        rc = merge_inst(m, i, &merged[i], &counts[i]);
    for (size_t v = 0; v < BASE_ARRAY_SIZE(views) && rc == 0; v++) {
        if (views[v].increased_cardinality_only && !m->increased_cardinality)
            continue;
        write_view(&so, m, &views[v], merged[views[v].inst], counts[views[v].inst]);
    }
    if (rc == 0) {
        out_printf(&so,
                   "# HELP remora_metrics_series_overflow_total Observations not recorded because a metric "
                   "had too many label combinations on a thread.\n"
                   "# TYPE remora_metrics_series_overflow_total counter\n"
                   "remora_metrics_series_overflow_total %llu\n",
                   (unsigned long long)atomic_load(&m->overflow));
        for (int c = 0; c < m->collector_count; c++)
            m->collectors[c].fn(out, m->collectors[c].ctx);
        if (so.err)
            rc = -1;
    }
    for (unsigned i = 0; i < DIAG_INST_COUNT; i++) {
        for (size_t j = 0; j < counts[i]; j++)
            base_free(merged[i][j].buckets);
        base_free(merged[i]);
    }
    return rc;
}
