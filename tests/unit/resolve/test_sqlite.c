/* The SQLite resolver against real temporary database files and real libuv loops. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support.h"

typedef struct fixture {
    char *dir;
    char db[512];
    uv_loop_t loop;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->dir = tmp_dir();
    tmp_path(f->db, sizeof(f->db), f->dir, "nr.db");
    uv_loop_init(&f->loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    tmp_remove(f->dir);
    free(f);
    return 0;
}

/* A started sqlite resolver on f's file. */
static resolve_t *start_one(fixture_t *f, tcfg_t *t, const char *app_id, int port)
{
    char err[256] = "";
    assert_string_equal(t->cfg.app_id, app_id);
    assert_int_equal(t->cfg.internal_grpc_port, port);
    tcfg_set(t, "connectionString", f->db);
    resolve_t *r = resolve_new(&t->cfg, err, sizeof(err));
    if (!r)
        fail_msg("resolve_new: %s", err);
    if (resolve_start(r, &f->loop) != 0)
        fail_msg("resolve_start: %s", resolve_strerror(r));
    return r;
}

static void stop_one(fixture_t *f, resolve_t *r)
{
    resolve_stop(r);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    resolve_free(r);
}

static void lookup_wait(fixture_t *f, resolve_worker_t *w, rec_t *rec, const char *app_id)
{
    rec_lookup(w, rec, app_id, NULL);
    run_until(&f->loop, &rec->fired, 5000);
    assert_int_equal(rec->fired, 1);
    assert_false(rec->sync);
}

/* The row has daprd's columns and values; the schema is daprd's; stop deletes the row. */
static void test_registration_row(void **state)
{
    fixture_t *f = *state;
    tcfg_t t;
    tcfg_init(&t, "sqlite", "alpha", 50010);
    resolve_t *r = start_one(f, &t, "alpha", 50010);
    assert_string_equal(resolve_component(r), "sqlite");
    assert_string_equal(resolve_self_address(r), "127.0.0.1:50010");

    sqlite3 *db = db_open_test(f->db);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hosts"), 1);
    char id[64], addr[64], app[64], ns[64];
    db_text(db, "SELECT registration_id FROM hosts", id, sizeof(id));
    db_text(db, "SELECT address FROM hosts", addr, sizeof(addr));
    db_text(db, "SELECT app_id FROM hosts", app, sizeof(app));
    db_text(db, "SELECT namespace FROM hosts", ns, sizeof(ns));
    assert_int_equal(strlen(id), 36);
    assert_true(id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-');
    assert_int_equal(id[14], '4'); /* uuid.NewRandom: version 4 */
    assert_non_null(strchr("89ab", id[19]));
    assert_string_equal(addr, "127.0.0.1:50010");
    assert_string_equal(app, "alpha");
    assert_string_equal(ns, "");
    long long now = db_now(db);
    long long lu = db_int(db, "SELECT last_update FROM hosts");
    assert_true(lu <= now && lu >= now - 2);
    assert_int_equal(db_int(db, "SELECT typeof(last_update) = 'integer' FROM hosts"), 1);

    /* daprd's migration bookkeeping and schema */
    char v[16];
    db_text(db, "SELECT value FROM metadata WHERE key = 'nr-migrations'", v, sizeof(v));
    assert_string_equal(v, "1");
    assert_int_equal(db_int(db, "SELECT count(*) FROM pragma_table_info('hosts') WHERE "
                                "(name = 'registration_id' AND type = 'TEXT' AND \"notnull\" AND pk = 1) OR "
                                "(name = 'address' AND type = 'TEXT' AND \"notnull\" AND pk = 0) OR "
                                "(name = 'app_id' AND type = 'TEXT' AND \"notnull\") OR "
                                "(name = 'namespace' AND type = 'TEXT' AND \"notnull\") OR "
                                "(name = 'last_update' AND type = 'INTEGER' AND \"notnull\")"),
                     5);
    assert_int_equal(db_int(db, "SELECT count(*) FROM pragma_table_info('hosts')"), 5);
    assert_int_equal(db_int(db, "SELECT \"unique\" FROM pragma_index_list('hosts') "
                                "WHERE name = 'hosts_address_idx'"), 1);
    assert_int_equal(db_int(db, "SELECT \"unique\" FROM pragma_index_list('hosts') "
                                "WHERE name = 'hosts_last_update_idx'"), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM pragma_table_info('metadata') WHERE "
                                "(name = 'key' AND pk = 1 AND \"notnull\") OR "
                                "(name = 'value' AND \"notnull\")"), 2);
    db_text(db, "PRAGMA journal_mode", v, sizeof(v));
    assert_string_equal(v, "wal");

    stop_one(f, r);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hosts"), 0);
    sqlite3_close(db);
    loop_finish(&f->loop);
}

/* Two sidecars in one file find each other through real lookups; an unknown id fails with
 * daprd's message. */
static void test_two_resolvers_find_each_other(void **state)
{
    fixture_t *f = *state;
    tcfg_t ta, tb;
    tcfg_init(&ta, "sqlite", "alpha", 50010);
    tcfg_init(&tb, "sqlite", "beta", 50011);
    resolve_t *a = start_one(f, &ta, "alpha", 50010);
    resolve_t *b = start_one(f, &tb, "beta", 50011);
    resolve_worker_t *wa = resolve_worker_new(a, &f->loop);
    resolve_worker_t *wb = resolve_worker_new(b, &f->loop);
    assert_non_null(wa);
    assert_non_null(wb);

    rec_t r1, r2, r3;
    lookup_wait(f, wa, &r1, "beta");
    assert_int_equal(r1.status, 0);
    assert_string_equal(r1.address, "127.0.0.1:50011");
    lookup_wait(f, wb, &r2, "alpha");
    assert_int_equal(r2.status, 0);
    assert_string_equal(r2.address, "127.0.0.1:50010");
    lookup_wait(f, wa, &r3, "gamma");
    assert_int_equal(r3.status, RESOLVE_ENOHOST);
    assert_string_equal(r3.error, "no host found with the given ID");

    resolve_worker_free(wa);
    resolve_worker_free(wb);
    stop_one(f, a);
    stop_one(f, b);
    loop_finish(&f->loop);
}

/* Rows not refreshed within updateInterval are not answers. */
static void test_stale_rows_ignored(void **state)
{
    fixture_t *f = *state;
    tcfg_t t;
    tcfg_init(&t, "sqlite", "alpha", 50010);
    resolve_t *r = start_one(f, &t, "alpha", 50010);
    sqlite3 *db = db_open_test(f->db);
    db_exec(db, "INSERT INTO hosts VALUES ('s1', '10.0.0.1:1', 'stale', '', "
                "unixepoch(CURRENT_TIMESTAMP) - 10)");
    db_exec(db, "INSERT INTO hosts VALUES ('m1', '10.0.0.2:2', 'mixed', '', "
                "unixepoch(CURRENT_TIMESTAMP) - 5)");
    db_exec(db, "INSERT INTO hosts VALUES ('m2', '10.0.0.3:3', 'mixed', '', "
                "unixepoch(CURRENT_TIMESTAMP) - 2)");
    resolve_worker_t *w = resolve_worker_new(r, &f->loop);

    rec_t a, b;
    lookup_wait(f, w, &a, "stale");
    assert_int_equal(a.status, RESOLVE_ENOHOST);
    for (int i = 0; i < 8; i++) { /* only the live row, whatever the random pick */
        lookup_wait(f, w, &b, "mixed");
        assert_int_equal(b.status, 0);
        assert_string_equal(b.address, "10.0.0.3:3");
    }

    resolve_worker_free(w);
    stop_one(f, r);
    sqlite3_close(db);
    loop_finish(&f->loop);
}

/* The heartbeat refreshes last_update, and puts the row back when it disappeared. */
static void test_heartbeat(void **state)
{
    fixture_t *f = *state;
    tcfg_t t;
    tcfg_init(&t, "sqlite", "alpha", 50010);
    tcfg_set(&t, "updateInterval", "3s"); /* heartbeat every 3 - 1 - 1 = 1 s */
    resolve_t *r = start_one(f, &t, "alpha", 50010);
    sqlite3 *db = db_open_test(f->db);
    char id[64], id2[64];
    db_text(db, "SELECT registration_id FROM hosts", id, sizeof(id));

    db_exec(db, "UPDATE hosts SET last_update = last_update - 100");
    run_for(&f->loop, 1300);
    assert_true(db_int(db, "SELECT last_update FROM hosts") >= db_now(db) - 2);

    db_exec(db, "DELETE FROM hosts");
    run_for(&f->loop, 1100);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hosts"), 1);
    db_text(db, "SELECT registration_id FROM hosts WHERE address = '127.0.0.1:50010'", id2,
            sizeof(id2));
    assert_string_equal(id, id2);

    stop_one(f, r);
    sqlite3_close(db);
    loop_finish(&f->loop);
}

/* Tables made exactly as daprd's migrations make them are used as they are. */
static void test_daprd_schema_accepted(void **state)
{
    fixture_t *f = *state;
    sqlite3 *db = db_open_test(f->db);
    /* common/component/sql/migrations/sqlite createMetadataTable, then migration 1 of
     * nameresolution/sqlite/sqlite_migrations.go, then the level, then a daprd row */
    db_exec(db, "CREATE TABLE IF NOT EXISTS metadata (\n\t\t\tkey text NOT NULL PRIMARY KEY,\n"
                "\t\t\tvalue text NOT NULL\n\t\t)");
    db_exec(db, "CREATE TABLE hosts (\n"
                "\t\t\t\t\t\tregistration_id TEXT NOT NULL PRIMARY KEY,\n"
                "\t\t\t\t\t\taddress TEXT NOT NULL,\n"
                "\t\t\t\t\t\tapp_id TEXT NOT NULL,\n"
                "\t\t\t\t\t\tnamespace TEXT NOT NULL,\n"
                "\t\t\t\t\t\tlast_update INTEGER NOT NULL\n"
                "\t\t\t\t\t);\n"
                "\t\t\t\t\tCREATE UNIQUE INDEX hosts_address_idx ON hosts (address);\n"
                "\t\t\t\t\tCREATE INDEX hosts_last_update_idx ON hosts (last_update);");
    db_exec(db, "REPLACE INTO metadata (key, value) VALUES ('nr-migrations', '1')");
    db_exec(db, "PRAGMA journal_mode=WAL");
    db_exec(db, "REPLACE INTO hosts (registration_id, address, app_id, namespace, last_update) "
                "VALUES ('0b7d8e5e-6f1c-4b5e-9a43-2f4d1c9e8a77', '127.0.0.1:50099', 'godapr', '', "
                "unixepoch(CURRENT_TIMESTAMP))");

    tcfg_t t;
    tcfg_init(&t, "sqlite", "alpha", 50010);
    resolve_t *r = start_one(f, &t, "alpha", 50010);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hosts"), 2);
    char v[16];
    db_text(db, "SELECT value FROM metadata WHERE key = 'nr-migrations'", v, sizeof(v));
    assert_string_equal(v, "1");

    resolve_worker_t *w = resolve_worker_new(r, &f->loop);
    rec_t a;
    lookup_wait(f, w, &a, "godapr");
    assert_int_equal(a.status, 0);
    assert_string_equal(a.address, "127.0.0.1:50099");

    resolve_worker_free(w);
    stop_one(f, r);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hosts WHERE app_id = 'godapr'"), 1);
    sqlite3_close(db);
    loop_finish(&f->loop);
}

/* A migration level that is not a number is refused, as daprd does. */
static void test_bad_migration_level(void **state)
{
    fixture_t *f = *state;
    sqlite3 *db = db_open_test(f->db);
    db_exec(db, "CREATE TABLE metadata (key text NOT NULL PRIMARY KEY, value text NOT NULL)");
    db_exec(db, "INSERT INTO metadata VALUES ('nr-migrations', 'x')");
    sqlite3_close(db);
    tcfg_t t;
    char err[256];
    tcfg_init(&t, "sqlite", "alpha", 50010);
    tcfg_set(&t, "connectionString", f->db);
    resolve_t *r = resolve_new(&t.cfg, err, sizeof(err));
    assert_non_null(r);
    assert_int_not_equal(resolve_start(r, &f->loop), 0);
    assert_non_null(strstr(resolve_strerror(r), "invalid migration level"));
    resolve_free(r);
    loop_finish(&f->loop);
}

/* Cleanup removes rows older than the cleanup age (never live ones) and records
 * 'nr-last-cleanup' as daprd does. */
static void test_cleanup(void **state)
{
    fixture_t *f = *state;
    tcfg_t t;
    tcfg_init(&t, "sqlite", "alpha", 50010);
    tcfg_set(&t, "cleanupInterval", "1s");
    resolve_t *r = start_one(f, &t, "alpha", 50010);
    sqlite3 *db = db_open_test(f->db);
    db_exec(db, "INSERT INTO hosts VALUES ('g1', '10.0.0.9:9', 'ghost', '', "
                "unixepoch(CURRENT_TIMESTAMP) - 100)");
    db_exec(db, "INSERT INTO hosts VALUES ('l1', '10.0.0.8:8', 'late', '', "
                "unixepoch(CURRENT_TIMESTAMP) - 2)");
    run_for(&f->loop, 1300);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hosts WHERE app_id = 'ghost'"), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hosts WHERE app_id = 'late'"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hosts WHERE app_id = 'alpha'"), 1);
    assert_true(db_int(db, "SELECT unixepoch(value) FROM metadata WHERE key = 'nr-last-cleanup'") >=
                db_now(db) - 2);
    stop_one(f, r);
    sqlite3_close(db);
    loop_finish(&f->loop);
}

/* Concurrent lookups share one query; the next second's lookups are cache hits; forget
 * drops the entry. Callbacks never fire inside resolve_lookup(). */
static void test_cache_and_shared_query(void **state)
{
    fixture_t *f = *state;
    tcfg_t ta, tb;
    tcfg_init(&ta, "sqlite", "alpha", 50010);
    tcfg_init(&tb, "sqlite", "beta", 50011);
    resolve_t *a = start_one(f, &ta, "alpha", 50010);
    resolve_t *b = start_one(f, &tb, "beta", 50011);
    resolve_worker_t *w = resolve_worker_new(a, &f->loop);

    rec_t r[3];
    for (int i = 0; i < 3; i++)
        rec_lookup(w, &r[i], "beta", NULL);
    assert_int_equal(resolve_worker_queries(w), 1);
    run_until(&f->loop, &r[2].fired, 5000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].fired, 1);
        assert_false(r[i].sync);
        assert_int_equal(r[i].status, 0);
        assert_string_equal(r[i].address, "127.0.0.1:50011");
    }
    rec_t hit;
    rec_lookup(w, &hit, "beta", NULL);
    assert_int_equal(hit.fired, 0);
    run_until(&f->loop, &hit.fired, 5000);
    assert_false(hit.sync);
    assert_int_equal(hit.status, 0);
    assert_int_equal(resolve_worker_queries(w), 1);

    resolve_forget(w, "beta", NULL);
    lookup_wait(f, w, &hit, "beta");
    assert_int_equal(hit.status, 0);
    assert_int_equal(resolve_worker_queries(w), 2);

    resolve_worker_free(w);
    stop_one(f, a);
    stop_one(f, b);
    loop_finish(&f->loop);
}

/* Cancel: the callback fires once with the cancel status; an inactive request is refused. */
static void test_cancel(void **state)
{
    fixture_t *f = *state;
    tcfg_t t;
    tcfg_init(&t, "sqlite", "alpha", 50010);
    resolve_t *r = start_one(f, &t, "alpha", 50010);
    resolve_worker_t *w = resolve_worker_new(r, &f->loop);

    rec_t a, b;
    rec_lookup(w, &a, "alpha", NULL);
    rec_lookup(w, &b, "alpha", NULL);
    assert_int_equal(resolve_cancel(&a.req), 0);
    assert_int_equal(a.fired, 0);
    run_until(&f->loop, &b.fired, 5000);
    run_until(&f->loop, &a.fired, 5000);
    assert_int_equal(a.status, RESOLVE_ECANCELED);
    assert_int_equal(b.status, 0);
    assert_int_equal(resolve_cancel(&a.req), RESOLVE_EINVAL);

    /* a cache hit already queued is cancelled too */
    rec_lookup(w, &a, "alpha", NULL);
    assert_int_equal(resolve_cancel(&a.req), 0);
    run_until(&f->loop, &a.fired, 5000);
    assert_int_equal(a.fired, 1);
    assert_int_equal(a.status, RESOLVE_ECANCELED);

    resolve_worker_free(w);
    stop_one(f, r);
    loop_finish(&f->loop);
}

/* Freeing a worker with lookups pending: they complete with the cancel status, nothing
 * leaks, the loop closes. */
static void test_worker_free_pending(void **state)
{
    fixture_t *f = *state;
    tcfg_t t;
    tcfg_init(&t, "sqlite", "alpha", 50010);
    resolve_t *r = start_one(f, &t, "alpha", 50010);
    resolve_worker_t *w = resolve_worker_new(r, &f->loop);
    rec_t a, b;
    rec_lookup(w, &a, "alpha", NULL);
    rec_lookup(w, &b, "", NULL); /* invalid: its error is queued */
    resolve_worker_free(w);
    assert_int_equal(a.fired, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(a.fired, 1);
    assert_int_equal(a.status, RESOLVE_ECANCELED);
    assert_int_equal(b.fired, 1);
    assert_int_equal(b.status, RESOLVE_ECANCELED);
    stop_one(f, r);
    loop_finish(&f->loop);
}

/* Invalid input is reported through the callback, on a later turn. */
static void test_invalid_app_id(void **state)
{
    fixture_t *f = *state;
    tcfg_t t;
    tcfg_init(&t, "sqlite", "alpha", 50010);
    resolve_t *r = start_one(f, &t, "alpha", 50010);
    resolve_worker_t *w = resolve_worker_new(r, &f->loop);
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rec_t a, b;
    rec_lookup(w, &a, "", NULL);
    rec_lookup(w, &b, big, NULL);
    run_until(&f->loop, &b.fired, 5000);
    assert_int_equal(a.status, RESOLVE_EINVAL);
    assert_int_equal(b.status, RESOLVE_EINVAL);
    assert_false(a.sync);
    assert_int_equal(resolve_worker_queries(w), 0);
    resolve_worker_free(w);
    stop_one(f, r);
    loop_finish(&f->loop);
}

/* An in-memory database works within the process (both connections see it). */
static void test_in_memory(void **state)
{
    fixture_t *f = *state;
    tcfg_t t;
    char err[256];
    tcfg_init(&t, "sqlite", "alpha", 50010);
    tcfg_set(&t, "connectionString", ":memory:");
    resolve_t *r = resolve_new(&t.cfg, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(resolve_start(r, &f->loop), 0);
    resolve_worker_t *w = resolve_worker_new(r, &f->loop);
    rec_t a;
    lookup_wait(f, w, &a, "alpha");
    assert_int_equal(a.status, 0);
    assert_string_equal(a.address, "127.0.0.1:50010");
    resolve_worker_free(w);
    stop_one(f, r);
    loop_finish(&f->loop);
}

/* Without connectionString, Remora uses $HOME/.dapr/nr.db and creates the folder. */
static void test_default_path(void **state)
{
    fixture_t *f = *state;
    char *old = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", f->dir, 1);
    tcfg_t t;
    char err[256], path[600];
    tcfg_init(&t, "sqlite", "alpha", 50010);
    resolve_t *r = resolve_new(&t.cfg, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(resolve_start(r, &f->loop), 0);
    snprintf(path, sizeof(path), "%s/.dapr/nr.db", f->dir);
    sqlite3 *db = db_open_test(path);
    assert_int_equal(db_int(db, "SELECT count(*) FROM hosts WHERE app_id = 'alpha'"), 1);
    sqlite3_close(db);
    stop_one(f, r);
    if (old) {
        setenv("HOME", old, 1);
        free(old);
    }
    loop_finish(&f->loop);
}

typedef struct thread_arg {
    resolve_t *r;
    int ok;
} thread_arg_t;

static void on_thread_lookup(resolve_lookup_t *req, int status, const char *address)
{
    thread_arg_t *a = req->data;
    if (status == 0 && strcmp(address, "127.0.0.1:50010") == 0)
        a->ok++;
}

/* One worker thread: its own loop and worker, 40 lookups, each forced to query. No cmocka
 * assertion runs on this thread (they longjmp to the main thread's test). */
static void *worker_thread(void *p)
{
    thread_arg_t *a = p;
    uv_loop_t loop;
    uv_loop_init(&loop);
    resolve_worker_t *w = resolve_worker_new(a->r, &loop);
    resolve_lookup_t req;
    for (int i = 0; i < 40; i++) {
        if (resolve_lookup(w, &req, "alpha", NULL, on_thread_lookup, a) != 0)
            break;
        uv_run(&loop, UV_RUN_DEFAULT); /* the lookup is the only thing alive */
        resolve_forget(w, "alpha", NULL);
    }
    resolve_worker_free(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        a->ok = -1;
    return NULL;
}

/* Workers on several threads share the resolver (the lookup connection's mutex). */
static void test_workers_on_threads(void **state)
{
    fixture_t *f = *state;
    tcfg_t t;
    tcfg_init(&t, "sqlite", "alpha", 50010);
    resolve_t *r = start_one(f, &t, "alpha", 50010);
    pthread_t th[3];
    thread_arg_t args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (thread_arg_t){ r, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, worker_thread, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 40);
    }
    stop_one(f, r);
    loop_finish(&f->loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registration_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_resolvers_find_each_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_rows_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daprd_schema_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_migration_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_and_shared_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_free_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_app_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workers_on_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
