/*
 * resolve.h - name resolution: app id → "host:port" of the target sidecar's internal gRPC API.
 *
 * Two resolvers, chosen by spec.nameResolution.component of the Configuration:
 *  - "sqlite" (default in standalone mode): Dapr's SQLite resolver. Every sidecar registers
 *    "<host>:<internal port>" in a shared database file and refreshes it; a lookup reads the
 *    live rows of the app id. Same schema and bookkeeping as components-contrib
 *    nameresolution/sqlite, so Remora and daprd sidecars can share one file.
 *  - "kubernetes" (default in kubernetes mode): DNS A/AAAA lookup of
 *    "<app-id>-dapr.<namespace>.svc.<clusterDomain>" (or the `template` key), every address.
 * Anything else ("mdns", "consul", ...) is refused by resolve_new().
 *
 * Objects and threads
 *  - resolve_t: one per process, built and started on the main thread. After resolve_new()
 *    it is read-only for the workers, except for the SQLite lookup connection, which only the
 *    libuv threadpool touches, under a mutex inside resolve_t.
 *  - resolve_worker_t: one per worker loop; it holds that worker's cache and is used only on
 *    its loop's thread. Lookups never block the loop: SQLite queries run in the libuv
 *    threadpool (uv_queue_work), DNS in uv_getaddrinfo (also the threadpool).
 *  - resolve_lookup_t: caller-owned request (libuv style). It must stay valid from
 *    resolve_lookup() until its callback has run.
 *
 * Order of life: resolve_new → resolve_start → resolve_worker_new (per worker) → lookups →
 * resolve_worker_free (per worker; run that loop until it ends) → resolve_stop (run the main
 * loop until it ends) → resolve_free.
 */
#ifndef RESOLVE_RESOLVE_H
#define RESOLVE_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"

typedef struct resolve resolve_t;
typedef struct resolve_worker resolve_worker_t;
typedef struct resolve_lookup resolve_lookup_t;

/* Status of a lookup: 0 or one of these (negative). */
#define RESOLVE_ENOHOST (-30001)   /* no live host for the app id (SQLite) */
#define RESOLVE_EDNS (-30002)      /* the DNS lookup failed (kubernetes) */
#define RESOLVE_EDB (-30003)       /* the SQLite query failed */
#define RESOLVE_EINVAL UV_EINVAL   /* empty or oversized app id */
#define RESOLVE_ENOMEM UV_ENOMEM
#define RESOLVE_ECANCELED UV_ECANCELED /* resolve_cancel() or resolve_worker_free() */

/* Longest address a lookup can return: a DNS name (253) in brackets, ':' and a port. */
#define RESOLVE_ADDRESS_MAX 264
#define RESOLVE_ERROR_MAX 384

/* Runs on the worker's loop thread, never inside resolve_lookup(). status is 0 with address
 * ("10.0.0.7:50002", "[fd00::7]:50002", or a SQLite row's text) or a RESOLVE_E* with
 * address NULL and a message in resolve_lookup_error(req). address points into req and stays
 * valid until req is used again. The callback may free or reuse req. */
typedef void (*resolve_cb)(resolve_lookup_t *req, int status, const char *address);

struct resolve_lookup {
    void *data; /* the `ud` given to resolve_lookup() */
    /* private */
    resolve_worker_t *worker;
    void *entry; /* cache entry it waits on; NULL when its result is queued */
    resolve_lookup_t *next, *prev;
    resolve_cb cb;
    int status;
    int active;
    char address[RESOLVE_ADDRESS_MAX];
    char error[RESOLVE_ERROR_MAX];
};

/*
 * Main thread, at start-up. Reads cfg->spec.nr_component/nr_version/nr_configuration, the
 * mode, app id, namespace, internal port and internal listen address (everything is copied:
 * cfg may be freed afterwards). Returns NULL with a one-line reason in err when the component
 * is not supported by Remora or a configuration value is invalid. Opens nothing yet.
 *
 * sqlite keys (daprd's names, defaults and checks): connectionString (alias url; Remora's
 * default when absent: "$HOME/.dapr/nr.db"), timeout (1s, >= 1s), updateInterval (5s, whole
 * seconds, >= timeout + 1s), cleanupInterval (1h; <= 0 disables), busyTimeout (800ms),
 * disableWAL (false), tableName (hosts), metadataTableName (metadata). Durations are Go
 * durations ("5s", "1m30s") or integers of seconds.
 * kubernetes keys: clusterDomain (cluster.local), template ({{.ID}}, {{.Namespace}},
 * {{.Port}}, {{.Data.x}}; the template wins over clusterDomain).
 */
resolve_t *resolve_new(const config_t *cfg, char *err, size_t errlen);

/*
 * Main thread. sqlite: opens the database (creating the file and, for the default path, the
 * directory), runs daprd's migrations, registers this sidecar and arms the heartbeat and
 * cleanup timers on main_loop (unreferenced: they never keep the loop alive on their own).
 * kubernetes: nothing to do. Returns 0, or a negative code with resolve_strerror() set (and
 * logged); then call resolve_free() (resolve_stop() is harmless).
 */
int resolve_start(resolve_t *r, uv_loop_t *main_loop);

/* Main thread. Stops the timers and deletes this sidecar's row (sqlite). Idempotent. The
 * timers close asynchronously: run main_loop until their close callbacks have run (e.g. until
 * uv_run returns) before resolve_free(). Lookups keep working after resolve_stop(). */
void resolve_stop(resolve_t *r);

/* Main thread, after resolve_stop() has completed and every worker has been freed and its
 * loop run to the end. NULL is fine. */
void resolve_free(resolve_t *r);

/* The message of the last resolve_start() failure ("" when none). Main thread. */
const char *resolve_strerror(const resolve_t *r);

/* "sqlite" or "kubernetes". */
const char *resolve_component(const resolve_t *r);

/* The address this sidecar registers (sqlite), e.g. "127.0.0.1:47321"; "" for kubernetes. */
const char *resolve_self_address(const resolve_t *r);

/* daprd's utils.GetHostAddress(): $DAPR_HOST_IP, else the outbound IPv4 address, else the first
 * non-loopback IPv4 address; "" when there is none. */
void resolve_host_address(char *out, size_t cap);

/* On the worker's loop thread. r must outlive the worker. NULL when out of memory. */
resolve_worker_t *resolve_worker_new(resolve_t *r, uv_loop_t *loop);

/*
 * On the worker's loop thread. Every lookup still pending completes with RESOLVE_ECANCELED
 * on a later turn; the worker's memory is released once those callbacks have run and every
 * query in flight has returned. Run the loop until uv_run returns before uv_loop_close().
 * NULL is fine.
 */
void resolve_worker_free(resolve_worker_t *w);

/*
 * On the worker's loop thread. Resolves app_id (in namespace_, NULL or "" = this sidecar's
 * namespace; sqlite ignores namespaces as daprd does) and calls cb(req, status, address) on
 * a later loop turn, exactly once. req must not be active (its previous callback has run);
 * resolve_lookup() initialises it. Returns 0, or RESOLVE_ECANCELED when the worker is being
 * freed (then cb is not called). Invalid input (empty app id) is reported through cb.
 *
 * Caching (per worker, no locks): kubernetes keeps every address of a name for 20 s, as
 * daprd's resolverCacheTTL; sqlite keeps the live addresses of an app id for 1 s. Each call
 * picks one cached address at random. Lookups of a key while its query is in flight wait for
 * that query instead of starting another. Failures are not cached.
 */
int resolve_lookup(resolve_worker_t *w, resolve_lookup_t *req, const char *app_id,
                   const char *namespace_, resolve_cb cb, void *ud);

/* On the worker's loop thread. When req is active, its callback fires exactly once, on a
 * later turn, with RESOLVE_ECANCELED (whatever the result would have been) and 0 is
 * returned; otherwise returns RESOLVE_EINVAL. A query in flight still completes and fills
 * the cache for later lookups. */
int resolve_cancel(resolve_lookup_t *req);

/* The message of a failed lookup (valid in the callback, until req is reused): for sqlite
 * "no host found with the given ID" (daprd's ErrNoHost text); for DNS
 * "failed to resolve address for '<host>': <reason>" (daprd's wording). */
const char *resolve_lookup_error(const resolve_lookup_t *req);

/* On the worker's loop thread: drops the cached addresses of app_id (e.g. after a remote
 * call failed with UNAVAILABLE, as daprd evicts its resolver cache entry). */
void resolve_forget(resolve_worker_t *w, const char *app_id, const char *namespace_);

/* Queries (SQLite selects or DNS lookups) this worker has started; for tests and metrics. */
uint64_t resolve_worker_queries(const resolve_worker_t *w);

/*
 * The kubernetes target daprd's ResolveID returns, "<host>:<port>", built from clusterDomain
 * or the template with port = this sidecar's internal gRPC port; data/data_count fill
 * {{.Data.x}} (absent keys → ""). Any thread. Returns the length, or -1 when r is not a
 * kubernetes resolver or out is too small.
 */
int resolve_kubernetes_target(const resolve_t *r, const char *app_id, const char *namespace_,
                              const config_kv_t *data, size_t data_count, char *out,
                              size_t outlen);

#endif
