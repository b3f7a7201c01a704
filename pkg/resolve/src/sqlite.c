/*
 * sqlite.c - Dapr's SQLite name resolver (components-contrib nameresolution/sqlite), with the
 * same schema, migration bookkeeping and queries, so Remora and daprd share one file.
 *
 * Schema (migration 1 of sqlite_migrations.go, recorded as metadata key 'nr-migrations'):
 *   metadata(key text NOT NULL PRIMARY KEY, value text NOT NULL)
 *   hosts(registration_id TEXT NOT NULL PRIMARY KEY, address TEXT NOT NULL,
 *         app_id TEXT NOT NULL, namespace TEXT NOT NULL, last_update INTEGER NOT NULL)
 *   UNIQUE INDEX hosts_address_idx(address), INDEX hosts_last_update_idx(last_update)
 *
 * Connections: `db` on the main loop only (statements there are short: one row each, plus
 * the hourly cleanup), `lookup_db` in the threadpool only, one query at a time under
 * `lookup_mu`. A lookup takes tens of microseconds and each worker caches its answers for a
 * second, so one connection is not a bottleneck, and it keeps the prepared statement warm.
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/pool.h"
#include "resolve_internal.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
#define HEARTBEAT_MIN_MS 500

/* ---- configuration ---- */

static int duration_opt(const config_t *cfg, const char *name, const char *alias, int64_t *ns,
                        char *err, size_t errlen)
{
    const char *v = nr_conf(cfg, name, alias);
    if (!v)
        return 0;
    if (nr_parse_duration(v, ns) != 0) {
        nr_errf(err, errlen, "nameResolution sqlite: invalid value for '%s': \"%s\" is not a "
                "duration", name, v);
        return -1;
    }
    return 0;
}

static int table_opt(const config_t *cfg, const char *name, char *dst, size_t cap,
                     const char *what, char *err, size_t errlen)
{
    const char *v = nr_conf(cfg, name, NULL);
    if (!v)
        return 0;
    if (!nr_valid_identifier(v) || strlen(v) >= cap) {
        nr_errf(err, errlen, "nameResolution sqlite: invalid identifier for %s: %s", what, v);
        return -1;
    }
    snprintf(dst, cap, "%s", v);
    return 0;
}

static char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (!h || !*h) {
        struct passwd *pw = getpwuid(getuid());
        h = pw ? pw->pw_dir : NULL;
    }
    return h && *h ? nr_strdup(h) : NULL;
}

/* The Go driver's options daprd refuses in the connection string (common/authentication/
 * sqlite GetConnectionString): they have metadata keys of their own. */
static const char *forbidden_pragma(const char *cs)
{
    static const char *const bad[] = { "_pragma=busy_timeout", "_pragma=journal_mode",
                                       "_pragma=foreign_keys" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strcasestr(cs, bad[i]))
            return bad[i];
    return NULL;
}

static int set_names(nr_sqlite_opts_t *o, const char *open_name, const char *display, size_t dlen)
{
    o->open_name = nr_strdup(open_name);
    o->display = base_malloc(dlen + 1);
    if (!o->open_name || !o->display)
        return -1;
    memcpy(o->display, display, dlen);
    o->display[dlen] = '\0';
    return 0;
}

static int connection_string(resolve_t *r, const char *cs, char *err, size_t errlen)
{
    nr_sqlite_opts_t *o = &r->sq;
    char buf[4096];
    int rc;
    if (!cs) {
        /* Remora's extension: daprd requires connectionString. A shared default lets two
         * sidecars started without any Configuration find each other. */
        char *home = home_dir();
        if (!home) {
            nr_errf(err, errlen, "nameResolution sqlite: no connectionString and no home "
                    "directory for the default $HOME/.dapr/nr.db");
            return -1;
        }
        snprintf(buf, sizeof(buf), "%s/.dapr/nr.db", home);
        base_free(home);
        o->default_path = 1;
        rc = set_names(o, buf, buf, strlen(buf));
    } else if (forbidden_pragma(cs)) {
        nr_errf(err, errlen, "nameResolution sqlite: found forbidden option '%s' in the "
                "connection string", forbidden_pragma(cs));
        return -1;
    } else if (strncasecmp(cs, ":memory:", 8) == 0 || strncasecmp(cs, "file::memory:", 13) == 0) {
        /* one shared in-memory database per resolver, seen by both connections */
        snprintf(buf, sizeof(buf), "file:remora-nr-%p?mode=memory&cache=shared", (void *)r);
        o->uri = o->in_memory = 1;
        rc = set_names(o, buf, ":memory:", 8);
    } else if (strncasecmp(cs, "file:", 5) == 0) {
        o->uri = 1;
        rc = set_names(o, cs, cs + 5, strcspn(cs + 5, "?"));
    } else if (strchr(cs, '?')) {
        /* daprd turns "path?query" into "file:path?query" */
        snprintf(buf, sizeof(buf), "file:%s", cs);
        o->uri = 1;
        rc = set_names(o, buf, cs, strcspn(cs, "?"));
    } else {
        rc = set_names(o, cs, cs, strlen(cs));
    }
    if (rc != 0)
        nr_errf(err, errlen, "out of memory");
    return rc;
}

int nr_sqlite_configure(resolve_t *r, const config_t *cfg, char *err, size_t errlen)
{
    nr_sqlite_opts_t *o = &r->sq;
    /* components-contrib sqlite_metadata.go defaults */
    int64_t timeout = NS_PER_S, update = 5 * NS_PER_S, cleanup = 3600 * NS_PER_S,
            busy = 800 * NS_PER_MS;
    snprintf(o->table, sizeof(o->table), "hosts");
    snprintf(o->meta_table, sizeof(o->meta_table), "metadata");
    if (duration_opt(cfg, "timeout", "timeoutInSeconds", &timeout, err, errlen) != 0 ||
        duration_opt(cfg, "updateInterval", NULL, &update, err, errlen) != 0 ||
        duration_opt(cfg, "cleanupInterval", "cleanupIntervalInSeconds", &cleanup, err, errlen) != 0 ||
        duration_opt(cfg, "busyTimeout", NULL, &busy, err, errlen) != 0 ||
        table_opt(cfg, "tableName", o->table, sizeof(o->table), "table name", err, errlen) != 0 ||
        table_opt(cfg, "metadataTableName", o->meta_table, sizeof(o->meta_table),
                  "metadata table name", err, errlen) != 0)
        return -1;
    if (timeout < NS_PER_S) {
        nr_errf(err, errlen, "nameResolution sqlite: invalid value for 'timeout': must be "
                "greater than 1s");
        return -1;
    }
    if (update % NS_PER_S != 0) {
        nr_errf(err, errlen, "nameResolution sqlite: update interval must not contain "
                "fractions of seconds");
        return -1;
    }
    if (update - timeout < NS_PER_S) {
        nr_errf(err, errlen, "nameResolution sqlite: update interval must be at least 1s "
                "greater than timeout");
        return -1;
    }
    o->timeout_ms = timeout / NS_PER_MS;
    o->update_s = update / NS_PER_S;
    o->cleanup_ms = cleanup / NS_PER_MS;
    o->busy_ms = busy / NS_PER_MS;
    o->disable_wal = nr_truthy(nr_conf(cfg, "disableWAL", NULL));
    return connection_string(r, nr_conf(cfg, "connectionString", "url"), err, errlen);
}

/* ---- statements ---- */

/* Runs sql with text parameters; *changes gets sqlite3_changes(). Returns 0 or -1 with the
 * SQLite message in err. */
static int run(sqlite3 *db, const char *sql, const char *const *args, int nargs, int *changes,
               char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    for (int i = 0; rc == SQLITE_OK && i < nargs; i++)
        rc = sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
    }
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        if (changes)
            *changes = sqlite3_changes(db);
    } else {
        nr_errf(err, errlen, "%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

static int open_db(const resolve_t *r, sqlite3 **out, int create, char *err, size_t errlen)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0) |
                (r->sq.uri ? SQLITE_OPEN_URI : 0);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(r->sq.open_name, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        nr_errf(err, errlen, "failed to open %s: %s", r->sq.display,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    if (r->sq.busy_ms > 0)
        sqlite3_busy_timeout(db, (int)BASE_MIN(r->sq.busy_ms, (int64_t)INT32_MAX));
    *out = db;
    return 0;
}

/* Journal mode as daprd's connection string sets it: MEMORY for an in-memory database,
 * DELETE when disableWAL, WAL otherwise. WAL is persistent in the file; a failure (another
 * process holding a lock for longer than the busy timeout) is not fatal. */
static void set_journal(resolve_t *r)
{
    const char *mode = r->sq.in_memory ? "MEMORY" : r->sq.disable_wal ? "DELETE" : "WAL";
    char sql[64], err[256];
    snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", mode);
    if (run(r->db, sql, NULL, 0, NULL, err, sizeof(err)) != 0)
        LOG_WARN(NR_LOG_SCOPE, "could not set journal_mode=%s on %s: %s", mode, r->sq.display, err);
}

static int read_level(resolve_t *r, long *level, char *err, size_t errlen)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof(sql), "SELECT value FROM %s WHERE key = 'nr-migrations'",
             r->sq.meta_table);
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        char *end = NULL;
        *level = v ? strtol(v, &end, 10) : -1;
        if (!v || end == v || *end != '\0' || *level < 0) {
            nr_errf(err, errlen, "invalid migration level found in metadata table: %s", v ? v : "");
            rc = SQLITE_ERROR;
        } else {
            rc = SQLITE_DONE;
        }
    } else if (rc == SQLITE_DONE) {
        *level = 0;
    } else {
        nr_errf(err, errlen, "failed to read migration level: %s", sqlite3_errmsg(r->db));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Migration 1 of components-contrib nameresolution/sqlite/sqlite_migrations.go. */
static int create_hosts(resolve_t *r, char *err, size_t errlen)
{
    const char *t = r->sq.table;
    char sql[1024];
    LOG_INFO(NR_LOG_SCOPE, "Creating hosts table '%s'", t);
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %1$s (\n"
             "  registration_id TEXT NOT NULL PRIMARY KEY,\n"
             "  address TEXT NOT NULL,\n"
             "  app_id TEXT NOT NULL,\n"
             "  namespace TEXT NOT NULL,\n"
             "  last_update INTEGER NOT NULL\n"
             ");\n"
             "CREATE UNIQUE INDEX IF NOT EXISTS %1$s_address_idx ON %1$s (address);\n"
             "CREATE INDEX IF NOT EXISTS %1$s_last_update_idx ON %1$s (last_update);",
             t);
    char *msg = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        nr_errf(err, errlen, "failed to create hosts table: %s", msg ? msg : "");
        sqlite3_free(msg);
        return -1;
    }
    snprintf(sql, sizeof(sql), "REPLACE INTO %s (key, value) VALUES ('nr-migrations', ?)",
             r->sq.meta_table);
    const char *one = "1";
    return run(r->db, sql, &one, 1, NULL, err, errlen);
}

/* common/component/sql/migrations/sqlite: in one exclusive transaction, create the metadata
 * table if missing, read the level recorded under 'nr-migrations', run the missing
 * migrations and record the new level. A higher level (a newer daprd) is accepted as is.
 * Remora's CREATE statements say IF NOT EXISTS, so a hand-made or half-made schema is
 * completed rather than refused. */
static int migrate(resolve_t *r, char *err, size_t errlen)
{
    char sql[256];
    long level = 0;
    if (run(r->db, "BEGIN EXCLUSIVE TRANSACTION", NULL, 0, NULL, err, errlen) != 0)
        return -1;
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s (\n  key text NOT NULL PRIMARY KEY,\n"
             "  value text NOT NULL\n)", r->sq.meta_table);
    if (run(r->db, sql, NULL, 0, NULL, err, errlen) != 0 || read_level(r, &level, err, errlen) != 0 ||
        (level < 1 && create_hosts(r, err, errlen) != 0) ||
        run(r->db, "COMMIT TRANSACTION", NULL, 0, NULL, err, errlen) != 0) {
        sqlite3_exec(r->db, "ROLLBACK TRANSACTION", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* REPLACE: there is a unique index on address, so this takes over a stale registration of
 * the same address. Namespace is always "" (daprd: not namespaced yet, contrib#3179). */
static int register_host(resolve_t *r, char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "REPLACE INTO %s (registration_id, address, app_id, namespace, last_update) "
             "VALUES (?, ?, ?, ?, unixepoch(CURRENT_TIMESTAMP))", r->sq.table);
    const char *args[] = { r->reg_id, r->self_addr, r->app_id, "" };
    if (run(r->db, sql, args, 4, NULL, err, errlen) != 0)
        return -1;
    r->registered = 1;
    return 0;
}

/* ---- timers on the main loop ---- */

static void on_heartbeat(uv_timer_t *t)
{
    resolve_t *r = t->data;
    char sql[256], err[256];
    int changes = 0;
    snprintf(sql, sizeof(sql), "UPDATE %s SET last_update = unixepoch(CURRENT_TIMESTAMP) "
             "WHERE registration_id = ? AND address = ?", r->sq.table);
    const char *args[] = { r->reg_id, r->self_addr };
    if (run(r->db, sql, args, 2, &changes, err, sizeof(err)) != 0) {
        LOG_ERROR(NR_LOG_SCOPE, "Failed to update host registration: database error: %s", err);
        return;
    }
    if (changes > 0)
        return;
    /* daprd logs this as fatal and exits. The row is gone because another host took over the
     * address or a cleanup removed it; registering again is what a restart would do. */
    LOG_ERROR(NR_LOG_SCOPE, "Host registration lost; registering %s again", r->self_addr);
    if (register_host(r, err, sizeof(err)) != 0)
        LOG_ERROR(NR_LOG_SCOPE, "failed to register host: %s", err);
}

/* daprd's garbage collector (common/component/sql/cleanup.go): an atomic upsert of
 * 'nr-last-cleanup' decides which of the sidecars sharing the file cleans up this period;
 * the winner deletes expired hosts. Two daprd bugs are not reproduced: it passes the
 * interval in milliseconds where the query compares seconds, and its DELETE says
 * `now - last_update < updateInterval`, which removes the live rows instead of the expired
 * ones. Remora deletes rows not refreshed for max(cleanupInterval, updateInterval). */
static void on_cleanup(uv_timer_t *t)
{
    resolve_t *r = t->data;
    char sql[512], err[256];
    int changes = 0;
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (key, value) VALUES ('nr-last-cleanup', CURRENT_TIMESTAMP) "
             "ON CONFLICT (key) DO UPDATE SET value = CURRENT_TIMESTAMP "
             "WHERE unixepoch(CURRENT_TIMESTAMP) - unixepoch(value) > %.3f",
             r->sq.meta_table, (double)(r->sq.cleanup_ms - 100) / 1000.0);
    if (run(r->db, sql, NULL, 0, &changes, err, sizeof(err)) != 0) {
        LOG_ERROR(NR_LOG_SCOPE, "Error removing expired data: failed to read last cleanup "
                  "time from database: %s", err);
        return;
    }
    if (changes == 0) {
        LOG_DEBUG(NR_LOG_SCOPE, "Last cleanup was performed too recently");
        return;
    }
    long long age = BASE_MAX((r->sq.cleanup_ms + 999) / 1000, r->sq.update_s);
    snprintf(sql, sizeof(sql),
             "DELETE FROM %s WHERE unixepoch(CURRENT_TIMESTAMP) - last_update >= %lld",
             r->sq.table, age);
    if (run(r->db, sql, NULL, 0, &changes, err, sizeof(err)) != 0) {
        LOG_ERROR(NR_LOG_SCOPE, "Error removing expired data: failed to execute query: %s", err);
        return;
    }
    LOG_INFO(NR_LOG_SCOPE, "Removed %d expired rows", changes);
}

static void start_timers(resolve_t *r, uv_loop_t *loop)
{
    /* daprd refreshes every updateInterval - timeout (- 1ns in its code, 1s in its comment):
     * Remora keeps the 1 s so a row stays live across a late tick and the whole-second
     * timestamps. */
    uint64_t beat = (uint64_t)BASE_MAX(r->sq.update_s * 1000 - r->sq.timeout_ms - 1000,
                                       (int64_t)HEARTBEAT_MIN_MS);
    /* uv_timer_init cannot fail (libuv src/timer.c) */
    uv_timer_init(loop, &r->heartbeat);
    uv_timer_init(loop, &r->cleanup);
    r->timers = 1;
    r->heartbeat.data = r->cleanup.data = r;
    uv_unref((uv_handle_t *)&r->heartbeat);
    uv_unref((uv_handle_t *)&r->cleanup);
    if (r->registered)
        uv_timer_start(&r->heartbeat, on_heartbeat, beat, beat);
    if (r->sq.cleanup_ms > 0)
        uv_timer_start(&r->cleanup, on_cleanup, (uint64_t)r->sq.cleanup_ms,
                       (uint64_t)r->sq.cleanup_ms);
}

static int make_dir(resolve_t *r)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", r->sq.display);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        nr_errf(r->err, sizeof(r->err), "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int nr_sqlite_start(resolve_t *r, uv_loop_t *loop)
{
    char err[200];
    if (r->sq.in_memory)
        LOG_WARN(NR_LOG_SCOPE, "Configuring name resolution with an in-memory SQLite database. "
                 "Service invocation across different apps will not work.");
    else
        LOG_INFO(NR_LOG_SCOPE, "Configuring SQLite name resolution with path %s", r->sq.display);
    if (r->sq.default_path && make_dir(r) != 0)
        return RESOLVE_EDB;
    if (open_db(r, &r->db, 1, err, sizeof(err)) != 0) {
        nr_errf(r->err, sizeof(r->err), "name resolution sqlite: %s", err);
        return RESOLVE_EDB;
    }
    set_journal(r);
    if (migrate(r, err, sizeof(err)) != 0) {
        nr_errf(r->err, sizeof(r->err), "name resolution sqlite: failed to perform migrations: %s", err);
        goto fail;
    }
    if (r->app_id[0] == '\0') {
        /* daprd refuses to start ("name is missing"); a sidecar without an app id cannot be
         * invoked, but it can still invoke others. */
        LOG_WARN(NR_LOG_SCOPE, "no app id: this sidecar is not registered for name resolution");
    } else if (nr_uuid4(r->reg_id) != 0 || register_host(r, err, sizeof(err)) != 0) {
        nr_errf(r->err, sizeof(r->err), "name resolution sqlite: failed to register host: %s",
                r->reg_id[0] ? err : "no random bytes for the registration id");
        goto fail;
    }
    start_timers(r, loop);
    return 0;
fail:
    nr_sqlite_stop(r);
    return RESOLVE_EDB;
}

void nr_sqlite_stop(resolve_t *r)
{
    if (r->timers) {
        uv_timer_stop(&r->heartbeat);
        uv_timer_stop(&r->cleanup);
        uv_close((uv_handle_t *)&r->heartbeat, NULL);
        uv_close((uv_handle_t *)&r->cleanup, NULL);
        r->timers = 0;
    }
    if (r->registered) {
        char sql[256], err[256];
        int changes = 0;
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE registration_id = ? AND address = ?",
                 r->sq.table);
        const char *args[] = { r->reg_id, r->self_addr };
        if (run(r->db, sql, args, 2, &changes, err, sizeof(err)) != 0)
            LOG_ERROR(NR_LOG_SCOPE, "failed to unregister host: %s", err);
        else if (changes == 0)
            LOG_WARN(NR_LOG_SCOPE, "failed to unregister host: no row deleted");
        r->registered = 0;
    }
    if (r->db) {
        sqlite3_close_v2(r->db);
        r->db = NULL;
    }
}

/* ---- lookups, in the threadpool ---- */

static void lookup_close(resolve_t *r)
{
    sqlite3_finalize(r->lookup_stmt);
    sqlite3_close_v2(r->lookup_db);
    r->lookup_stmt = NULL;
    r->lookup_db = NULL;
}

static int lookup_open(resolve_t *r, char *err, size_t errlen)
{
    char sql[512];
    if (open_db(r, &r->lookup_db, 0, err, errlen) != 0) {
        r->lookup_db = NULL;
        return -1;
    }
    /* daprd picks one random live row in SQL (ORDER BY RANDOM() LIMIT 1); Remora reads them
     * all, caches them for a second and picks per call. */
    snprintf(sql, sizeof(sql),
             "SELECT address FROM %s WHERE app_id = ? AND "
             "unixepoch(CURRENT_TIMESTAMP) - last_update < %lld LIMIT %d",
             r->sq.table, (long long)r->sq.update_s, NR_MAX_ADDRS);
    if (sqlite3_prepare_v3(r->lookup_db, sql, -1, SQLITE_PREPARE_PERSISTENT, &r->lookup_stmt,
                           NULL) != SQLITE_OK) {
        nr_errf(err, errlen, "failed to look up address: %s", sqlite3_errmsg(r->lookup_db));
        lookup_close(r);
        return -1;
    }
    return 0;
}

static int collect(sqlite3_stmt *st, char ***v, size_t *n)
{
    char **list = base_calloc(NR_MAX_ADDRS, sizeof(*list));
    size_t count = 0;
    int rc;
    if (!list)
        return SQLITE_NOMEM;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0);
        if (!a || !*a || strlen(a) >= RESOLVE_ADDRESS_MAX || count == NR_MAX_ADDRS)
            continue;
        if (!(list[count] = nr_strdup(a))) {
            rc = SQLITE_NOMEM;
            break;
        }
        count++;
    }
    if (rc != SQLITE_DONE) {
        nr_addrs_free(list, count);
        return rc;
    }
    *v = list;
    *n = count;
    return SQLITE_OK;
}

int nr_sqlite_query(resolve_t *r, const char *app_id, char ***v, size_t *n, char *err,
                    size_t errlen)
{
    int status = 0;
    pthread_mutex_lock(&r->lookup_mu);
    if (!r->lookup_db && lookup_open(r, err, errlen) != 0) {
        pthread_mutex_unlock(&r->lookup_mu);
        return RESOLVE_EDB;
    }
    sqlite3_stmt *st = r->lookup_stmt;
    int rc = sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = collect(st, v, n);
    if (rc == SQLITE_NOMEM) {
        nr_errf(err, errlen, "failed to look up address: out of memory");
        status = RESOLVE_ENOMEM;
    } else if (rc != SQLITE_OK) {
        nr_errf(err, errlen, "failed to look up address: %s", sqlite3_errmsg(r->lookup_db));
        status = RESOLVE_EDB;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (status == RESOLVE_EDB)
        lookup_close(r); /* reopen next time: the file may have been replaced */
    pthread_mutex_unlock(&r->lookup_mu);
    return status;
}

void nr_sqlite_free(resolve_t *r)
{
    lookup_close(r);
    base_free(r->sq.open_name);
    base_free(r->sq.display);
}
