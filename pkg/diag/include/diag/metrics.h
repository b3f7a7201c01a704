/*
 * metrics.h - daprd's Prometheus metrics, recorded per thread without locks, merged on scrape.
 *
 * What the request path records are "instruments": one histogram (or counter) per instrument
 * with a fixed list of labels. daprd's metric families are views of them: its request counts
 * are the count of the matching latency histogram (OpenCensus records one measurement into
 * both), so one observation feeds both families.
 *
 * Threads: every thread that records binds a shard once (diag_metrics_bind_thread). A shard
 * is written only by its thread: counters are single-writer atomics (a plain load and store,
 * no locked instruction), and a new series is published with a release store into the
 * shard's list. The scrape (diag_metrics_scrape, any thread) reads every shard with acquire
 * loads and merges series with equal labels. Series are allocated once, the first time a
 * label combination is seen on a thread, and live until diag_metrics_free.
 *
 * Recording on a thread with no shard (metrics disabled) does nothing.
 */
#ifndef DIAG_METRICS_H
#define DIAG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "base/buf.h"

typedef enum diag_inst {
    /* HTTP API server: method, path, status; latency in ms */
    DIAG_HTTP_SERVER = 0,
    DIAG_HTTP_SERVER_REQ_BYTES,   /* no labels; bytes */
    DIAG_HTTP_SERVER_RES_BYTES,   /* no labels; bytes */
    /* HTTP app channel: method, path, status; round trip in ms */
    DIAG_HTTP_CLIENT,
    DIAG_HTTP_CLIENT_SENT_BYTES,  /* method, path; bytes */
    DIAG_HTTP_CLIENT_RECV_BYTES,  /* no labels; bytes */
    DIAG_HTTP_HEALTH,             /* status; ms */
    /* gRPC server (internal API): method, status; ms */
    DIAG_GRPC_SERVER,
    DIAG_GRPC_SERVER_RECV_BYTES,  /* method; bytes */
    DIAG_GRPC_SERVER_SENT_BYTES,  /* method; bytes */
    /* gRPC client (internal calls to other sidecars, gRPC app channel): method, status; ms */
    DIAG_GRPC_CLIENT,
    DIAG_GRPC_CLIENT_SENT_BYTES,  /* method; bytes */
    DIAG_GRPC_CLIENT_RECV_BYTES,  /* method; bytes */
    DIAG_GRPC_HEALTH,             /* status; ms */
    /* service invocation */
    DIAG_SI_REQ_SENT,             /* dst_app_id, type; counter */
    DIAG_SI_RES_RECV,             /* src_app_id, status; ms */
    DIAG_SI_REQ_RECV,             /* src_app_id; counter */
    DIAG_SI_RES_SENT,             /* dst_app_id, status; counter */
    DIAG_COMPONENT_LOADED,        /* no labels; counter */
    DIAG_INST_COUNT
} diag_inst_t;

#define DIAG_MAX_LABELS 3
/* Series per instrument per thread; past it new label combinations are not recorded (counted
 * in remora_metrics_series_overflow_total and logged once per instrument). */
#define DIAG_MAX_SERIES 2000

typedef struct diag_metrics diag_metrics_t;

typedef struct diag_metrics_options {
    const char *app_id;
    const double *latency_buckets; /* ms, ascending; NULL → daprd's default buckets */
    size_t latency_bucket_count;
    int increased_cardinality;     /* spec.metric.http.increasedCardinality (daprd default 1) */
    const char *const *path_matching; /* spec.metric.http.pathMatching */
    size_t path_matching_count;
    int exclude_verbs;             /* spec.metric.http.excludeVerbs */
    int max_threads;               /* shards to make room for */
} diag_metrics_options_t;

/* Extra text appended at scrape time (process_*, exporter counters). Runs on the scraping
 * thread; appends complete families to out. */
typedef void (*diag_collector_fn)(base_buf_t *out, void *ctx);

diag_metrics_t *diag_metrics_new(const diag_metrics_options_t *opts);
/* After every recording thread has stopped. */
void diag_metrics_free(diag_metrics_t *m);
/* Gives the calling thread its own shard. Returns 0, or -1 when all shards are taken or out of
 * memory (the thread then records nothing). NULL m unbinds. */
int diag_metrics_bind_thread(diag_metrics_t *m);
/* At most 4 collectors; set up before the first scrape. */
int diag_metrics_add_collector(diag_metrics_t *m, diag_collector_fn fn, void *ctx);
/* Appends the Prometheus text exposition (format 0.0.4) of every family. Returns 0 or -1. */
int diag_metrics_scrape(diag_metrics_t *m, base_buf_t *out);

/* 1 when the calling thread records (cheap: a thread-local load). */
int diag_metrics_on(void);
/* Records a value (ms or bytes) into a histogram instrument, or adds 1 to a counter one
 * (value ignored). labels: the instrument's labels in the order listed above, app_id excluded. */
void diag_record(diag_inst_t inst, const base_slice_t *labels, double value);

typedef enum diag_rpc_side {
    DIAG_RPC_SERVER = 0, /* DIAG_GRPC_SERVER, _RECV_BYTES, _SENT_BYTES */
    DIAG_RPC_CLIENT,     /* DIAG_GRPC_CLIENT, _SENT_BYTES, _RECV_BYTES */
} diag_rpc_side_t;

/*
 * One finished gRPC call into its side's three families: completed calls and latency (labels
 * method and the status's name), bytes sent and bytes received (label method). The same as the
 * three diag_record() calls, for less: `method` must be a string that never changes while the
 * process runs (a literal), and each thread remembers the series of its last method and code
 * by address, so that a call like the last one compares no label at all.
 */
void diag_record_rpc(diag_rpc_side_t side, const char *method, int code, double ms, double sent, double recv);

/* The path label of the HTTP families under the configuration's cardinality rules (daprd's
 * getMetricsPath): the full normalised path with increasedCardinality, else the matching
 * pathMatching pattern, else "". The result is `path` itself when it is already normalised
 * and shorter than outlen, else written into out (NUL-terminated, cut to outlen - 1). */
base_slice_t diag_http_path_label(base_slice_t path, char *out, size_t outlen);
/* The method label: the verb, "UNKNOWN" for a non-standard one, "" with excludeVerbs. */
base_slice_t diag_http_method_label(base_slice_t method);
/* gRPC status code names as Go's codes.Code.String() writes them ("OK", "Unavailable"...). */
const char *diag_grpc_code_name(int code);
/* Writes a decimal status into out (at least 12 bytes) and returns its slice. */
base_slice_t diag_status_label(int status, char *out);

/* Milliseconds between two base_now_ns() readings. */
static inline double diag_ms_since(uint64_t start_ns, uint64_t now_ns)
{
    return now_ns > start_ns ? (double)(now_ns - start_ns) / 1e6 : 0.0;
}

#endif
