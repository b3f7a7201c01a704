/* support.h - helpers shared by the resolve unit tests: a hand-built config_t, temporary
 * database folders, a lookup recorder and loop runners. */
#ifndef RESOLVE_TEST_SUPPORT_H
#define RESOLVE_TEST_SUPPORT_H

#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "resolve/resolve.h"

#define TCFG_MAX_KV 16

typedef struct tcfg {
    config_t cfg;
    config_kv_t kv[TCFG_MAX_KV];
} tcfg_t;

/* A standalone config with app id, internal port (fixed), listen address 127.0.0.1 and the
 * given component (NULL = mode default). */
void tcfg_init(tcfg_t *t, const char *component, const char *app_id, int port);
/* Adds one nameResolution.configuration key. */
void tcfg_set(tcfg_t *t, const char *name, const char *value);

/* A new temporary folder (malloc'd path); tmp_remove() deletes its files and itself. */
char *tmp_dir(void);
void tmp_remove(char *dir);
/* dir + "/" + name, in a static buffer per call site (caller copies if needed). */
const char *tmp_path(char *buf, size_t cap, const char *dir, const char *name);

/* Opens the database file for checks. */
sqlite3 *db_open_test(const char *path);
/* Runs SQL (asserting success). */
void db_exec(sqlite3 *db, const char *sql);
/* The first column of the first row as an integer (-1 when no row). */
long long db_int(sqlite3 *db, const char *sql);
/* The first column of the first row as text into out ("" when no row). */
void db_text(sqlite3 *db, const char *sql, char *out, size_t cap);
/* Seconds since the epoch, as SQLite's unixepoch(CURRENT_TIMESTAMP) gives it. */
long long db_now(sqlite3 *db);

/* Records what a lookup callback received. */
typedef struct rec {
    resolve_lookup_t req;
    int fired;
    int status;
    int returned; /* set by the test after resolve_lookup() returned */
    int sync;     /* 1 when the callback fired before resolve_lookup() returned */
    char address[RESOLVE_ADDRESS_MAX];
    char error[RESOLVE_ERROR_MAX];
} rec_t;

/* resolve_lookup() with the recorder; asserts it returned 0. */
void rec_lookup(resolve_worker_t *w, rec_t *r, const char *app_id, const char *ns);

/* Runs the loop until *flag is non-zero (or the timeout in ms: the test fails). */
void run_until(uv_loop_t *loop, const int *flag, uint64_t timeout_ms);
/* Runs the loop for ms milliseconds of wall time. */
void run_for(uv_loop_t *loop, uint64_t ms);
/* Runs the loop until nothing is left, then asserts uv_loop_close() == 0. */
void loop_finish(uv_loop_t *loop);

#endif
