/*
 * worker.c - per-worker lookups: a small cache, one query in flight per key, callbacks on a
 * later loop turn.
 *
 * Each worker owns a list of entries (most recently used first). An entry is one key (app id,
 * plus the namespace for kubernetes) with its cached addresses and expiry, its waiting
 * lookups and, while a query runs, the uv_work_t / uv_getaddrinfo_t of that query. Lookups
 * that find a fresh cache answer at once (queued for the idle phase); the others join the
 * entry's waiters, and only the first starts a query (no thundering herd). Results and
 * cancellations go to a "done" queue drained by a uv_idle_t, so a callback never runs inside
 * resolve_lookup() or resolve_cancel().
 *
 * The worker is freed when three things are over: resolve_worker_free() was called, the idle
 * handle is closed (its close callback fires the last callbacks), and no query is in flight.
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "base/pool.h"
#include "resolve_internal.h"

typedef struct entry entry_t;

struct entry {
    entry_t *next, *prev;
    resolve_worker_t *w;
    char *app_id;
    char *ns;                 /* "" for sqlite (not namespaced, as daprd) */
    char **addrs;             /* cached answer, naddrs > 0 when present */
    size_t naddrs;
    uint64_t expires;         /* uv_now() ms */
    resolve_lookup_t *wait_head, *wait_tail;
    int in_flight;
    union {
        uv_work_t work;
        uv_getaddrinfo_t gai;
    } op;
    /* query result, written by the threadpool (sqlite) before the after-callback */
    int q_status;
    char **q_addrs;
    size_t q_n;
    char q_err[RESOLVE_ERROR_MAX];
    char host[RESOLVE_ADDRESS_MAX]; /* kubernetes: the name looked up */
    char port[8];
};

struct resolve_worker {
    resolve_t *r;
    uv_loop_t *loop;
    uv_idle_t idle;
    entry_t *head, *tail;
    size_t count;
    resolve_lookup_t *done_head, *done_tail;
    uint64_t queries;
    uint64_t rng;
    size_t flights;
    int closing;
    int idle_closed;
};

/* ---- lists ---- */

static void req_append(resolve_lookup_t **head, resolve_lookup_t **tail, resolve_lookup_t *q)
{
    q->next = NULL;
    q->prev = *tail;
    if (*tail)
        (*tail)->next = q;
    else
        *head = q;
    *tail = q;
}

static void req_unlink(resolve_lookup_t **head, resolve_lookup_t **tail, resolve_lookup_t *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        *head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        *tail = q->prev;
    q->next = q->prev = NULL;
}

static void entry_unlink(resolve_worker_t *w, entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        w->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        w->tail = e->prev;
    e->next = e->prev = NULL;
    w->count--;
}

static void entry_push_front(resolve_worker_t *w, entry_t *e)
{
    e->prev = NULL;
    e->next = w->head;
    if (w->head)
        w->head->prev = e;
    else
        w->tail = e;
    w->head = e;
    w->count++;
}

static void entry_free(entry_t *e)
{
    nr_addrs_free(e->addrs, e->naddrs);
    nr_addrs_free(e->q_addrs, e->q_n);
    base_free(e);
}

/* ---- completion ---- */

static uint64_t rng_next(resolve_worker_t *w)
{
    /* xorshift64*: per worker, no shared state; only spreads calls over equal peers */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 2685821657736338717ull;
}

static void on_idle(uv_idle_t *h);

static void finish(resolve_worker_t *w, resolve_lookup_t *q, int status, const char *text)
{
    q->entry = NULL;
    q->status = status;
    if (status == 0) {
        snprintf(q->address, sizeof(q->address), "%s", text);
        q->error[0] = '\0';
    } else {
        snprintf(q->error, sizeof(q->error), "%s", text);
        q->address[0] = '\0';
    }
    req_append(&w->done_head, &w->done_tail, q);
    if (!w->idle_closed && !uv_is_closing((uv_handle_t *)&w->idle))
        uv_idle_start(&w->idle, on_idle);
}

static void fire(resolve_lookup_t *q)
{
    q->active = 0;
    if (q->status == RESOLVE_ECANCELED)
        snprintf(q->error, sizeof(q->error), "name resolution canceled");
    q->cb(q, q->status, q->status == 0 ? q->address : NULL);
}

static void fire_all(resolve_worker_t *w)
{
    resolve_lookup_t *list = w->done_head;
    w->done_head = w->done_tail = NULL;
    while (list) {
        resolve_lookup_t *q = list;
        list = q->next;
        q->next = q->prev = NULL;
        fire(q);
    }
}

static void on_idle(uv_idle_t *h)
{
    resolve_worker_t *w = h->data;
    uv_idle_stop(h); /* lookups made by the callbacks restart it: they fire next turn */
    fire_all(w);
}

static void maybe_release(resolve_worker_t *w)
{
    if (w->closing && w->idle_closed && w->flights == 0)
        base_free(w);
}

/* ---- results ---- */

static void deliver(entry_t *e, int status, char **addrs, size_t n, const char *msg)
{
    resolve_worker_t *w = e->w;
    if (status == 0 && n == 0) {
        status = RESOLVE_ENOHOST;
        msg = "no host found with the given ID"; /* components-contrib sqlite ErrNoHost */
    }
    if (status == 0) {
        nr_addrs_free(e->addrs, e->naddrs);
        e->addrs = addrs;
        e->naddrs = n;
        e->expires = uv_now(w->loop) +
                     (w->r->kind == NR_KUBERNETES ? NR_K8S_TTL_MS : NR_SQLITE_TTL_MS);
    } else {
        nr_addrs_free(addrs, n);
    }
    while (e->wait_head) {
        resolve_lookup_t *q = e->wait_head;
        req_unlink(&e->wait_head, &e->wait_tail, q);
        if (status == 0)
            finish(w, q, 0, e->addrs[rng_next(w) % e->naddrs]);
        else
            finish(w, q, status, msg);
    }
    if (status != 0) { /* failures are not cached (daprd caches only address lists) */
        entry_unlink(w, e);
        entry_free(e);
    }
}

/* A query has returned to the loop: account for it and hand the result over. */
static void landed(entry_t *e, int status, char **addrs, size_t n, const char *msg)
{
    resolve_worker_t *w = e->w;
    e->in_flight = 0;
    w->flights--;
    if (w->closing) { /* the entry was detached by resolve_worker_free() */
        nr_addrs_free(addrs, n);
        entry_free(e);
        maybe_release(w);
        return;
    }
    deliver(e, status, addrs, n, msg);
}

static void sqlite_work(uv_work_t *req)
{
    entry_t *e = req->data;
    e->q_addrs = NULL;
    e->q_n = 0;
    e->q_status = nr_sqlite_query(e->w->r, e->app_id, &e->q_addrs, &e->q_n, e->q_err,
                                  sizeof(e->q_err));
}

static void sqlite_after(uv_work_t *req, int status)
{
    entry_t *e = req->data;
    char **v = e->q_addrs;
    size_t n = e->q_n;
    e->q_addrs = NULL;
    e->q_n = 0;
    if (status != 0) /* cancelled before it ran */
        landed(e, RESOLVE_ECANCELED, NULL, 0, "name resolution canceled");
    else
        landed(e, e->q_status, v, n, e->q_err);
}

static int format_addr(const struct sockaddr *sa, const char *port, char *out, size_t cap)
{
    char ip[64];
    if (sa->sa_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)(const void *)sa, ip, sizeof(ip));
    else if (sa->sa_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)(const void *)sa, ip, sizeof(ip));
    else
        return -1;
    int n = strchr(ip, ':') ? snprintf(out, cap, "[%s]:%s", ip, port)
                            : snprintf(out, cap, "%s:%s", ip, port);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Every distinct A/AAAA address, as daprd's net.LookupIP + JoinHostPort gives them. */
static int dns_addrs(entry_t *e, const struct addrinfo *res, char ***out, size_t *count)
{
    char **v = base_calloc(NR_MAX_ADDRS, sizeof(*v));
    size_t n = 0;
    if (!v)
        return RESOLVE_ENOMEM;
    for (const struct addrinfo *ai = res; ai && n < NR_MAX_ADDRS; ai = ai->ai_next) {
        char a[RESOLVE_ADDRESS_MAX];
        if (format_addr(ai->ai_addr, e->port, a, sizeof(a)) != 0)
            continue;
        size_t i;
        for (i = 0; i < n && strcmp(v[i], a) != 0; i++)
            ;
        if (i < n)
            continue;
        if (!(v[n] = nr_strdup(a))) {
            nr_addrs_free(v, n);
            return RESOLVE_ENOMEM;
        }
        n++;
    }
    *out = v;
    *count = n;
    return 0;
}

static void dns_done(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    entry_t *e = req->data;
    char **v = NULL;
    size_t n = 0;
    char msg[2 * RESOLVE_ADDRESS_MAX + 128]; /* truncated to RESOLVE_ERROR_MAX by finish() */
    int code = status;
    if (status == UV_EAI_CANCELED) {
        landed(e, RESOLVE_ECANCELED, NULL, 0, "name resolution canceled");
        return;
    }
    if (status == 0)
        status = dns_addrs(e, res, &v, &n);
    else
        status = RESOLVE_EDNS;
    uv_freeaddrinfo(res);
    if (status == 0 && n == 0) {
        status = RESOLVE_EDNS;
        code = UV_EAI_NODATA;
    }
    if (status == RESOLVE_ENOMEM)
        snprintf(msg, sizeof(msg), "failed to resolve address for '%s': out of memory", e->host);
    else if (status != 0)
        snprintf(msg, sizeof(msg), "failed to resolve address for '%s': lookup %s: %s", e->host,
                 e->host, uv_strerror(code));
    landed(e, status, v, n, status == 0 ? "" : msg);
}

/* Starts the query of e. Returns 0, or a status with the message in e->q_err. */
static int start_query(entry_t *e)
{
    resolve_worker_t *w = e->w;
    int rc;
    if (w->r->kind == NR_SQLITE) {
        e->op.work.data = e;
        rc = uv_queue_work(w->loop, &e->op.work, sqlite_work, sqlite_after);
    } else {
        char target[RESOLVE_ADDRESS_MAX + 32];
        if (resolve_kubernetes_target(w->r, e->app_id, e->ns, NULL, 0, target, sizeof(target)) < 0 ||
            nr_k8s_split(w->r, target, e->host, sizeof(e->host), e->port, sizeof(e->port)) != 0) {
            snprintf(e->q_err, sizeof(e->q_err), "name too long to resolve for app id '%s'",
                     e->app_id);
            return RESOLVE_EINVAL;
        }
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        e->op.gai.data = e;
        rc = uv_getaddrinfo(w->loop, &e->op.gai, dns_done, e->host, NULL, &hints);
    }
    if (rc != 0) {
        snprintf(e->q_err, sizeof(e->q_err), "name resolution could not start: %s",
                 uv_strerror(rc));
        if (rc == UV_ENOMEM)
            return RESOLVE_ENOMEM;
        return w->r->kind == NR_SQLITE ? RESOLVE_EDB : RESOLVE_EDNS;
    }
    e->in_flight = 1;
    w->flights++;
    w->queries++;
    return 0;
}

/* ---- cache ---- */

static entry_t *entry_find(resolve_worker_t *w, const char *app_id, const char *ns)
{
    for (entry_t *e = w->head; e; e = e->next)
        if (strcmp(e->app_id, app_id) == 0 && strcmp(e->ns, ns) == 0)
            return e;
    return NULL;
}

/* Drops the least recently used idle entries beyond NR_CACHE_MAX - 1. */
static void cache_trim(resolve_worker_t *w)
{
    entry_t *e = w->tail;
    while (e && w->count >= NR_CACHE_MAX) {
        entry_t *prev = e->prev;
        if (!e->in_flight && !e->wait_head) {
            entry_unlink(w, e);
            entry_free(e);
        }
        e = prev;
    }
}

static entry_t *entry_new(resolve_worker_t *w, const char *app_id, const char *ns)
{
    size_t la = strlen(app_id) + 1, ln = strlen(ns) + 1;
    entry_t *e = base_calloc(1, sizeof(*e) + la + ln);
    if (!e)
        return NULL;
    e->w = w;
    e->app_id = (char *)(e + 1);
    e->ns = e->app_id + la;
    memcpy(e->app_id, app_id, la);
    memcpy(e->ns, ns, ln);
    cache_trim(w);
    entry_push_front(w, e);
    return e;
}

/* ---- public ---- */

resolve_worker_t *resolve_worker_new(resolve_t *r, uv_loop_t *loop)
{
    resolve_worker_t *w = base_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->r = r;
    w->loop = loop;
    w->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)w) | 1;
    uv_idle_init(loop, &w->idle);
    w->idle.data = w;
    return w;
}

static void on_idle_closed(uv_handle_t *h)
{
    resolve_worker_t *w = h->data;
    w->idle_closed = 1;
    fire_all(w);
    maybe_release(w);
}

void resolve_worker_free(resolve_worker_t *w)
{
    if (!w || w->closing)
        return;
    w->closing = 1;
    for (resolve_lookup_t *q = w->done_head; q; q = q->next)
        q->status = RESOLVE_ECANCELED;
    while (w->head) {
        entry_t *e = w->head;
        while (e->wait_head) {
            resolve_lookup_t *q = e->wait_head;
            req_unlink(&e->wait_head, &e->wait_tail, q);
            finish(w, q, RESOLVE_ECANCELED, "");
        }
        entry_unlink(w, e);
        if (e->in_flight) /* freed when the query returns (landed) */
            uv_cancel(w->r->kind == NR_SQLITE ? (uv_req_t *)&e->op.work : (uv_req_t *)&e->op.gai);
        else
            entry_free(e);
    }
    uv_close((uv_handle_t *)&w->idle, on_idle_closed);
}

static int fail_now(resolve_worker_t *w, resolve_lookup_t *q, int status, const char *msg)
{
    finish(w, q, status, msg);
    return 0;
}

int resolve_lookup(resolve_worker_t *w, resolve_lookup_t *req, const char *app_id,
                   const char *namespace_, resolve_cb cb, void *ud)
{
    if (w->closing)
        return RESOLVE_ECANCELED;
    memset(req, 0, sizeof(*req));
    req->data = ud;
    req->worker = w;
    req->cb = cb;
    req->active = 1;
    if (!app_id || !*app_id)
        return fail_now(w, req, RESOLVE_EINVAL, "app id is empty");
    const char *ns = "";
    if (w->r->kind == NR_KUBERNETES)
        ns = namespace_ && *namespace_ ? namespace_ : w->r->namespace_;
    if (strlen(app_id) > NR_ID_MAX || strlen(ns) > NR_ID_MAX)
        return fail_now(w, req, RESOLVE_EINVAL, "app id or namespace too long");

    entry_t *e = entry_find(w, app_id, ns);
    if (e && e != w->head) { /* most recently used first */
        entry_unlink(w, e);
        entry_push_front(w, e);
    }
    if (e && e->naddrs > 0 && uv_now(w->loop) < e->expires)
        return fail_now(w, req, 0, e->addrs[rng_next(w) % e->naddrs]);
    if (!e && !(e = entry_new(w, app_id, ns)))
        return fail_now(w, req, RESOLVE_ENOMEM, "out of memory");
    req->entry = e;
    req_append(&e->wait_head, &e->wait_tail, req);
    if (e->in_flight)
        return 0;
    int rc = start_query(e);
    if (rc != 0) {
        char msg[RESOLVE_ERROR_MAX];
        snprintf(msg, sizeof(msg), "%s", e->q_err);
        deliver(e, rc, NULL, 0, msg);
    }
    return 0;
}

int resolve_cancel(resolve_lookup_t *req)
{
    if (!req || !req->active)
        return RESOLVE_EINVAL;
    resolve_worker_t *w = req->worker;
    entry_t *e = req->entry;
    if (e) {
        req_unlink(&e->wait_head, &e->wait_tail, req);
        finish(w, req, RESOLVE_ECANCELED, "");
    } else {
        req->status = RESOLVE_ECANCELED; /* already queued: it fires with the cancel status */
    }
    return 0;
}

const char *resolve_lookup_error(const resolve_lookup_t *req)
{
    return req->error;
}

void resolve_forget(resolve_worker_t *w, const char *app_id, const char *namespace_)
{
    const char *ns = "";
    if (w->r->kind == NR_KUBERNETES)
        ns = namespace_ && *namespace_ ? namespace_ : w->r->namespace_;
    entry_t *e = app_id ? entry_find(w, app_id, ns) : NULL;
    if (!e)
        return;
    nr_addrs_free(e->addrs, e->naddrs);
    e->addrs = NULL;
    e->naddrs = 0;
    if (!e->in_flight && !e->wait_head) {
        entry_unlink(w, e);
        entry_free(e);
    }
}

uint64_t resolve_worker_queries(const resolve_worker_t *w)
{
    return w->queries;
}
