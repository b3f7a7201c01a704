#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "support.h"

void tcfg_init(tcfg_t *t, const char *component, const char *app_id, int port)
{
    memset(t, 0, sizeof(*t));
    t->cfg.app_id = (char *)app_id;
    t->cfg.mode = CONFIG_MODE_STANDALONE;
    t->cfg.namespace_ = "default";
    t->cfg.internal_grpc_port = port;
    t->cfg.internal_grpc_listen_address = "127.0.0.1";
    t->cfg.spec.nr_component = (char *)component;
    t->cfg.spec.nr_configuration = t->kv;
}

void tcfg_set(tcfg_t *t, const char *name, const char *value)
{
    assert_true(t->cfg.spec.nr_configuration_count < TCFG_MAX_KV);
    config_kv_t *kv = &t->kv[t->cfg.spec.nr_configuration_count++];
    kv->name = (char *)name;
    kv->value = (char *)value;
}

char *tmp_dir(void)
{
    char *d = strdup("/tmp/remora-resolve-XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR)
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

void tmp_remove(char *dir)
{
    remove_tree(dir);
    free(dir);
}

const char *tmp_path(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

sqlite3 *db_open_test(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    return db;
}

void db_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

long long db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

void db_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

long long db_now(sqlite3 *db)
{
    return db_int(db, "SELECT unixepoch(CURRENT_TIMESTAMP)");
}

static void on_rec(resolve_lookup_t *req, int status, const char *address)
{
    rec_t *r = req->data;
    assert_ptr_equal(&r->req, req);
    r->fired++;
    r->sync = !r->returned;
    r->status = status;
    snprintf(r->address, sizeof(r->address), "%s", address ? address : "");
    snprintf(r->error, sizeof(r->error), "%s", status ? resolve_lookup_error(req) : "");
    if (status == 0)
        assert_non_null(address);
    else
        assert_null(address);
}

void rec_lookup(resolve_worker_t *w, rec_t *r, const char *app_id, const char *ns)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(resolve_lookup(w, &r->req, app_id, ns, on_rec, r), 0);
    r->returned = 1;
}

static void on_deadline(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

void run_until(uv_loop_t *loop, const int *flag, uint64_t timeout_ms)
{
    uv_timer_t t;
    int expired = 0;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_deadline, timeout_ms, 0);
    while (!*flag && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    if (!*flag)
        fail_msg("timed out after %llu ms", (unsigned long long)timeout_ms);
}

void run_for(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t t;
    int expired = 0;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_deadline, ms, 0);
    while (!expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

void loop_finish(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}
