/*
 * resolve_internal.h - what the resolve module's source files share; not part of the API.
 *
 * Threads: resolve_t is written only on the main thread (new, start, stop, free). Workers
 * read its configuration fields without locks. The SQLite connections are split by thread:
 * `db` is used only on the main loop (migrations, registration, heartbeat, cleanup,
 * deregistration); `lookup_db` only from the libuv threadpool, under `lookup_mu`.
 */
#ifndef RESOLVE_INTERNAL_H
#define RESOLVE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "config/config.h"
#include "resolve/resolve.h"

/* daprd's component loggers use this scope (dapr/dapr cmd/daprd/components). */
#define NR_LOG_SCOPE "dapr.contrib"

/* At most this many addresses are kept per app id: rows and DNS answers come from outside. */
#define NR_MAX_ADDRS 64
/* Cache entries per worker (app ids come from request URLs: the cache must stay bounded). */
#define NR_CACHE_MAX 256
/* Longest app id / namespace accepted by a lookup (a DNS name is at most 253). */
#define NR_ID_MAX 253

#define NR_K8S_TTL_MS 20000 /* daprd resolverCacheTTL (pkg/messaging/direct_messaging.go) */
#define NR_SQLITE_TTL_MS 1000

typedef enum nr_kind { NR_SQLITE = 0, NR_KUBERNETES } nr_kind_t;

typedef struct nr_sqlite_opts {
    char *open_name;        /* what sqlite3_open_v2 gets */
    char *display;          /* the path for messages */
    int uri;                /* open_name is a "file:" URI */
    int in_memory;
    int default_path;       /* Remora's default $HOME/.dapr/nr.db: create the directory */
    int64_t timeout_ms;
    int64_t update_s;
    int64_t cleanup_ms;     /* <= 0: no cleanup */
    int64_t busy_ms;        /* <= 0: no busy timeout */
    int disable_wal;
    char table[128];
    char meta_table[128];
} nr_sqlite_opts_t;

struct resolve {
    nr_kind_t kind;
    char *app_id;
    char *namespace_;
    int port;                           /* this sidecar's internal gRPC port */
    char self_addr[RESOLVE_ADDRESS_MAX]; /* sqlite: "<host>:<port>" registered */
    char err[256];
    /* sqlite */
    nr_sqlite_opts_t sq;
    sqlite3 *db;            /* main loop only */
    uv_timer_t heartbeat;
    uv_timer_t cleanup;
    int timers;             /* 1 while the timers are initialised and not closed */
    int registered;
    char reg_id[40];
    pthread_mutex_t lookup_mu;
    sqlite3 *lookup_db;     /* threadpool only, under lookup_mu; opened on first use */
    sqlite3_stmt *lookup_stmt;
    /* kubernetes */
    char *cluster_domain;
    char *tmpl;             /* NULL: "<id>-dapr.<ns>.svc.<clusterDomain>:<port>" */
};

/* ---- options.c ---- */
/* Value of a resolver configuration key (case-insensitive, as mapstructure matches), or of
 * its alias; NULL when absent or empty. */
const char *nr_conf(const config_t *cfg, const char *name, const char *alias);
/* Go duration ("1m30s", "800ms", "-1s") or an integer of seconds, into nanoseconds.
 * Returns 0 or -1. */
int nr_parse_duration(const char *s, int64_t *ns);
/* dapr/kit utils.IsTruthy: y, yes, true, t, on, 1 (any case) → 1; anything else → 0. */
int nr_truthy(const char *s);
/* components-contrib sqlite.ValidIdentifier: [A-Za-z0-9_]+. */
int nr_valid_identifier(const char *s);
/* Writes one line into err (never overflows). */
void nr_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "host:port", with brackets when host is an IPv6 literal. Returns 0, or -1 when too long. */
int nr_join_host_port(char *out, size_t cap, const char *host, int port);
/* base_malloc'd copy (free with base_free); NULL when out of memory. */
char *nr_strdup(const char *s);
/* Frees an address list from the queries. */
void nr_addrs_free(char **v, size_t n);

/* ---- sqlite.c ---- */
int nr_sqlite_configure(resolve_t *r, const config_t *cfg, char *err, size_t errlen);
int nr_sqlite_start(resolve_t *r, uv_loop_t *loop);
void nr_sqlite_stop(resolve_t *r);
void nr_sqlite_free(resolve_t *r);
/* Threadpool: the live addresses of app_id (at most NR_MAX_ADDRS). Returns 0 with *v and *n set
 * (*n may be 0), or RESOLVE_EDB / RESOLVE_ENOMEM with a message in err. */
int nr_sqlite_query(resolve_t *r, const char *app_id, char ***v, size_t *n, char *err,
                    size_t errlen);

/* ---- host.c ---- */
/* The host part daprd registers: the internal listen address when it is loopback, else
 * $DAPR_HOST_IP, else the outbound IPv4 address, else the first non-loopback IPv4, else
 * 127.0.0.1 (dapr/dapr utils.GetHostAddress). */
void nr_self_host(const char *listen_address, char *out, size_t cap);
/* An RFC 4122 version-4 UUID in text form (37 bytes with the NUL). Returns 0 or -1. */
int nr_uuid4(char out[37]);

/* ---- k8s.c ---- */
int nr_k8s_configure(resolve_t *r, const config_t *cfg, char *err, size_t errlen);
/* Splits the target into the name to look up and the port text (daprd: after the last ':';
 * Remora: the sidecar's internal port when the target has none). Brackets are removed from
 * an IPv6 literal. Returns 0 or -1 when it does not fit. */
int nr_k8s_split(const resolve_t *r, const char *target, char *host, size_t hostcap,
                 char *port, size_t portcap);

#endif
