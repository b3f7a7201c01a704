/*
 * client.c - the HTTP/1.1 client on libuv: a keep-alive pool per host:port, dialling
 * (getaddrinfo, each address in turn), request serialisation and body streaming, response
 * parsing through client_parser.c, flow control both ways, one retry, timeouts.
 *
 * Lifetimes follow libuv's rules, as in server.c: a connection is freed in the close callback
 * of its last handle, and only after its getaddrinfo came back. The bytes handed to uv_write
 * are the request's output chunks, copied or borrowed from the caller
 * (http_client_req_write_ref()); libuv reads them until the write callback, until it reports
 * them all written (uv_stream_get_write_queue_size() == 0), or until the stream is closed
 * (uv_close closes the descriptor at once and libuv never reads them again). Every path to
 * on_done passes through one of the last two first (req_finish() closes the connection,
 * response_done() pools it only once everything is written), so borrowed bytes are never read
 * from the moment on_done is called, and owned chunks can be freed right after it.
 *
 * No callback runs inside an API call: every path that ends a request goes through
 * req_finish(), which hands on_done to the idle handle while an API call is on the stack
 * (api_depth); resume() defers its parsing the same way. Output is corked per loop turn:
 * writes only queue bytes and mark the connection, and the prepare handle flushes every marked
 * connection with one writev before the loop blocks, so a head and a small body leave in one
 * segment.
 */
#include "http/client.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "client_parser.h"

#define READ_BUF_SIZE (64u * 1024u) /* one per client: parsing never keeps a reference to it */
#define CHUNK_MIN (8u * 1024u)      /* output chunk size for small writes (and a head) */
#define CHUNK_MAX (1024u * 1024u)   /* larger writes are split, borrowed ones too */
#define FRAME_CAP 32u               /* owned chunk after borrowed bytes: CRLF, then the next size line */
#define MAX_WRITE_BUFS 64           /* chunks per writev */
#define POOL_BLOCK 4096u
#define KEEPALIVE_DELAY_S 15        /* TCP keep-alive, Go's net.Dialer default */
#define RETAIN_MAX HTTP_CLIENT_SEND_HIGH_WATER /* written bytes kept for a retry */

#define DEFAULT_CONNECT_TIMEOUT_MS 30000u
#define DEFAULT_IDLE_TIMEOUT_MS 90000u
#define DEFAULT_MAX_IDLE_PER_HOST 64
#define DEFAULT_MAX_HEADER_BYTES (64u * 1024u)
#define DEFAULT_MAX_HEADER_COUNT 100u

/* ---- intrusive circular lists (a node linked to itself is in no list) -------------------- */

typedef struct link {
    struct link *prev, *next;
} link_t;

static void link_init(link_t *l)
{
    l->prev = l->next = l;
}

static int link_empty(const link_t *l)
{
    return l->next == l;
}

static void link_insert_tail(link_t *head, link_t *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void link_insert_head(link_t *head, link_t *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void link_remove(link_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

#define LINK_ENTRY(ptr, type, member) BASE_CONTAINER_OF(ptr, type, member)

/* ---- types ------------------------------------------------------------------------------- */

enum chunk_stage { CH_QUEUED = 0, CH_WRITING, CH_WRITTEN };

/* A piece of request output: bytes the request owns (data[]), or bytes borrowed from the
 * caller (ref, from http_client_req_write_ref(); cap == len, so it never grows). Chunks run in
 * order: written ones kept for a retry, the ones in the current write, then queued ones; only
 * the last may still grow. */
typedef struct out_chunk {
    struct out_chunk *next;
    const char *ref; /* the caller's bytes, or NULL: they are in data[] */
    size_t len;
    size_t cap;
    enum chunk_stage stage;
    char data[];
} out_chunk_t;

typedef struct host_pool {
    struct host_pool *next;
    link_t idle; /* conn_t.idle_link, most recently used first (as Go) */
    size_t idle_count;
    int port;
    int numeric; /* addr holds the parsed IP address: no name resolution */
    struct sockaddr_storage addr;
    char host[256];       /* as given, without brackets */
    char authority[280];  /* "host:port" or "[v6]:port": the Host header and messages */
} host_pool_t;

typedef enum conn_state { CS_DIALING = 0, CS_ACTIVE, CS_IDLE, CS_CLOSING } conn_state_t;
typedef enum timer_kind { TK_NONE = 0, TK_CONNECT, TK_HEADER, TK_IDLE } timer_kind_t;

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    uv_getaddrinfo_t gai;
    uv_write_t write_req;
    http_client_t *client;
    host_pool_t *host;
    http_client_req_t *req; /* the request on it, NULL when idle */
    http_rparser_t rp;
    struct addrinfo *addrs; /* getaddrinfo's answer, for the fallback */
    struct addrinfo *next_addr;
    base_buf_t held;        /* response bytes read and not parsed while paused */
    size_t held_pos;
    conn_state_t state;
    timer_kind_t timer_kind;
    int handles_open;       /* tcp + timer */
    int write_err;          /* a write failed: the read side tells what happened */
    unsigned requests;      /* requests attached so far */
    unsigned gai_pending : 1;
    unsigned write_pending : 1;
    unsigned write_stale : 1; /* the write in flight belongs to a finished request */
    unsigned reading : 1;
    unsigned stopped : 1;     /* the parser stopped inside a callback (pause) */
    link_t link;              /* client->conns */
    link_t idle_link;         /* host->idle */
    link_t dirty_link;        /* client->dirty: output to flush this turn */
} conn_t;

struct http_client_req {
    http_client_t *client;
    base_pool_t *pool; /* holds this struct too */
    host_pool_t *host;
    conn_t *conn;
    http_client_cbs_t cbs;
    void *ud;
    int64_t content_length; /* announced; -1: chunked */
    uint64_t body_written;
    int64_t res_length;
    out_chunk_t *out_head, *out_tail;
    out_chunk_t *out_next;  /* first queued chunk */
    out_chunk_t *out_fill;  /* where out_append() writes after out_reserve() */
    size_t queued_bytes;    /* not handed to the socket yet */
    size_t writing_bytes;   /* in the write in flight */
    size_t held_bytes;      /* written and kept for a retry */
    size_t held_cost;       /* the memory that keeping them takes (see req_written()) */
    int err;
    unsigned defer_turn;
    char errmsg[224];
    unsigned head_request : 1;
    unsigned ended : 1;       /* the whole body is queued */
    unsigned sent : 1;        /* ... and written */
    unsigned head_seen : 1;
    unsigned reused : 1;
    unsigned replayable : 1;  /* every byte written so far is still held */
    unsigned retried : 1;
    unsigned paused : 1;
    unsigned resume_pending : 1;
    unsigned want_writable : 1;
    unsigned finishing : 1;   /* on_done scheduled or running: the API turns to no-ops */
    link_t link;              /* client->reqs */
    link_t defer_link;        /* client->deferred */
};

struct http_client {
    uv_loop_t *loop;
    http_client_options_t opts;
    uv_idle_t defer;      /* deferred on_done and resume */
    uv_prepare_t flusher; /* writes marked connections before the loop blocks */
    char *rbuf;
    host_pool_t *hosts;
    link_t conns;
    link_t reqs;
    link_t deferred;
    link_t dirty;
    size_t idle_total;
    unsigned defer_turn;
    int api_depth;        /* > 0 while a public function is on the stack */
    int closing;
    int handles_open;
    int handles_closing;
    void (*done_cb)(void *arg);
    void *done_arg;
};

static void conn_close(conn_t *c);
static void conn_fail(conn_t *c, int err, const char *msg, int retryable);
static void conn_flush(conn_t *c);
static void conn_resume(conn_t *c);
static void req_finish(http_client_req_t *req, int err, const char *msg);
static void chunks_free(out_chunk_t *ch);

/* ---- client-level deferral, corking, close ----------------------------------------------- */

static void client_maybe_done(http_client_t *c);

static void req_free(http_client_req_t *req)
{
    http_client_t *c = req->client;
    link_remove(&req->link);
    link_remove(&req->defer_link);
    chunks_free(req->out_head);
    base_pool_destroy(req->pool);
    client_maybe_done(c);
}

static void deliver_done(http_client_req_t *req)
{
    link_remove(&req->defer_link);
    req->cbs.on_done(req, req->ud, req->err, req->err ? req->errmsg : NULL);
    req_free(req);
}

/* Runs the work queued before this turn; work queued meanwhile waits for the next one, so a
 * caller that retries from on_done cannot starve the loop. */
static void on_defer(uv_idle_t *h)
{
    http_client_t *c = h->data;
    unsigned turn = c->defer_turn++;
    while (!link_empty(&c->deferred)) {
        http_client_req_t *req = LINK_ENTRY(c->deferred.next, http_client_req_t, defer_link);
        if (req->defer_turn != turn)
            break;
        link_remove(&req->defer_link);
        if (req->finishing) {
            deliver_done(req);
        } else if (req->resume_pending) {
            req->resume_pending = 0;
            if (req->conn)
                conn_resume(req->conn);
        }
    }
    if (link_empty(&c->deferred))
        uv_idle_stop(h);
}

static void defer_push(http_client_req_t *req)
{
    http_client_t *c = req->client;
    if (!link_empty(&req->defer_link))
        return;
    req->defer_turn = c->defer_turn;
    link_insert_tail(&c->deferred, &req->defer_link);
    uv_idle_start(&c->defer, on_defer);
}

static void on_flush(uv_prepare_t *h)
{
    http_client_t *c = h->data;
    while (!link_empty(&c->dirty)) {
        conn_t *cn = LINK_ENTRY(c->dirty.next, conn_t, dirty_link);
        link_remove(&cn->dirty_link);
        conn_flush(cn);
    }
    uv_prepare_stop(h);
}

static void conn_mark_dirty(conn_t *c)
{
    if (!link_empty(&c->dirty_link))
        return;
    link_insert_tail(&c->client->dirty, &c->dirty_link);
    uv_prepare_start(&c->client->flusher, on_flush);
}

static void on_client_handle_closed(uv_handle_t *h)
{
    http_client_t *c = h->data;
    if (--c->handles_open > 0)
        return;
    for (host_pool_t *hp = c->hosts, *next; hp; hp = next) {
        next = hp->next;
        base_free(hp);
    }
    base_free(c->rbuf);
    void (*cb)(void *) = c->done_cb;
    void *arg = c->done_arg;
    base_free(c);
    if (cb)
        cb(arg);
}

static void client_maybe_done(http_client_t *c)
{
    if (!c->closing || c->handles_closing || !link_empty(&c->reqs) || !link_empty(&c->conns))
        return;
    c->handles_closing = 1;
    uv_close((uv_handle_t *)&c->defer, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->flusher, on_client_handle_closed);
}

/* ---- request output queue ---------------------------------------------------------------- */

static size_t req_pending(const http_client_req_t *req)
{
    return req->queued_bytes + req->writing_bytes;
}

static out_chunk_t *chunk_new(size_t cap)
{
    out_chunk_t *ch = base_malloc(sizeof(*ch) + cap);
    if (ch)
        *ch = (out_chunk_t){ .cap = cap, .stage = CH_QUEUED };
    return ch;
}

static void chunks_free(out_chunk_t *ch)
{
    while (ch) {
        out_chunk_t *next = ch->next;
        base_free(ch);
        ch = next;
    }
}

/* Borrowed chunks for `len` bytes at `p`, split at CHUNK_MAX as copied bytes are (so each
 * fits a uv_buf_t's unsigned length); NULL when out of memory. */
static out_chunk_t *chunks_borrow(const char *p, size_t len)
{
    out_chunk_t *first = NULL, **at = &first;
    for (size_t off = 0; off < len;) {
        size_t n = BASE_MIN(len - off, (size_t)CHUNK_MAX);
        if (!(*at = chunk_new(0))) {
            chunks_free(first);
            return NULL;
        }
        (*at)->ref = p + off;
        (*at)->len = (*at)->cap = n;
        at = &(*at)->next;
        off += n;
    }
    return first;
}

/* Appends a list of new chunks to the queue; the bytes they already hold count as queued. */
static void out_link(http_client_req_t *req, out_chunk_t *first)
{
    out_chunk_t *last = first;
    req->queued_bytes += last->len;
    while (last->next) {
        last = last->next;
        req->queued_bytes += last->len;
    }
    if (req->out_tail)
        req->out_tail->next = first;
    else
        req->out_head = first;
    req->out_tail = last;
    if (!req->out_next)
        req->out_next = first;
}

/* Makes room for `need` more bytes at the end of the queue, in new chunks of at least
 * `min_cap` (CHUNK_MIN amortises small writes). Every chunk is allocated before anything is
 * written, so a failure leaves the request as it was. */
static int out_reserve(http_client_req_t *req, size_t need, size_t min_cap)
{
    out_chunk_t *t = req->out_tail;
    size_t room = t && t->stage == CH_QUEUED ? t->cap - t->len : 0;
    req->out_fill = room > 0 ? t : NULL;
    if (room >= need)
        return 0;
    out_chunk_t *first = NULL, **at = &first;
    for (size_t rest = need - room; rest > 0;) {
        size_t cap = BASE_MIN(BASE_MAX(rest, min_cap), (size_t)CHUNK_MAX);
        if (!(*at = chunk_new(cap))) {
            chunks_free(first);
            return -1;
        }
        at = &(*at)->next;
        rest -= BASE_MIN(rest, cap);
    }
    out_link(req, first);
    if (!req->out_fill)
        req->out_fill = first;
    return 0;
}

/* Copies into the space out_reserve() made. */
static void out_append(http_client_req_t *req, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        out_chunk_t *ch = req->out_fill;
        size_t n = BASE_MIN(len, ch->cap - ch->len);
        memcpy(ch->data + ch->len, p, n);
        ch->len += n;
        req->queued_bytes += n;
        p += n;
        len -= n;
        if (ch->len == ch->cap && ch->next)
            req->out_fill = ch->next;
    }
}

/* Drops the written chunks kept for a retry: from here the request cannot be replayed. */
static void out_release(http_client_req_t *req)
{
    while (req->out_head && req->out_head->stage == CH_WRITTEN) {
        out_chunk_t *ch = req->out_head;
        req->out_head = ch->next;
        base_free(ch);
    }
    if (!req->out_head)
        req->out_tail = NULL;
    req->held_bytes = 0;
    req->held_cost = 0;
    req->replayable = 0;
}

/* Everything is queued again, for a retry on a new connection. */
static void out_rewind(http_client_req_t *req)
{
    for (out_chunk_t *ch = req->out_head; ch; ch = ch->next)
        ch->stage = CH_QUEUED;
    req->out_next = req->out_head;
    req->queued_bytes += req->writing_bytes + req->held_bytes;
    req->writing_bytes = 0;
    req->held_bytes = 0;
    req->held_cost = 0;
}

/* ---- host pools -------------------------------------------------------------------------- */

static host_pool_t *host_get(http_client_t *c, const char *host, int port)
{
    char name[256];
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    snprintf(name, sizeof(name), "%.*s", (int)len, host);
    for (host_pool_t *hp = c->hosts; hp; hp = hp->next)
        if (hp->port == port && strcmp(hp->host, name) == 0)
            return hp;
    host_pool_t *hp = base_calloc(1, sizeof(*hp));
    if (!hp)
        return NULL;
    link_init(&hp->idle);
    hp->port = port;
    snprintf(hp->host, sizeof(hp->host), "%s", name);
    int v6 = strchr(name, ':') != NULL;
    snprintf(hp->authority, sizeof(hp->authority), v6 ? "[%s]:%d" : "%s:%d", name, port);
    if (uv_ip4_addr(name, port, (struct sockaddr_in *)&hp->addr) == 0 ||
        uv_ip6_addr(name, port, (struct sockaddr_in6 *)&hp->addr) == 0)
        hp->numeric = 1;
    hp->next = c->hosts;
    c->hosts = hp;
    return hp;
}

static void pool_remove(conn_t *c)
{
    link_remove(&c->idle_link);
    c->host->idle_count--;
    c->client->idle_total--;
}

static conn_t *pool_take(host_pool_t *hp)
{
    if (link_empty(&hp->idle))
        return NULL;
    conn_t *c = LINK_ENTRY(hp->idle.next, conn_t, idle_link);
    pool_remove(c);
    return c;
}

/* ---- connections ------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void conn_arm(conn_t *c, timer_kind_t k, unsigned ms)
{
    c->timer_kind = k;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void conn_disarm(conn_t *c)
{
    if (c->timer_kind != TK_NONE) {
        uv_timer_stop(&c->timer);
        c->timer_kind = TK_NONE;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    *buf = uv_buf_init(c->client->rbuf, READ_BUF_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_read(conn_t *c, int on)
{
    if (on && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = 1;
    } else if (!on && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void held_reset(conn_t *c)
{
    base_buf_free(&c->held);
    c->held_pos = 0;
}

static void conn_maybe_free(conn_t *c)
{
    if (c->handles_open > 0 || c->gai_pending)
        return;
    http_client_t *cl = c->client;
    link_remove(&c->link);
    http_rparser_free(&c->rp);
    if (c->addrs)
        uv_freeaddrinfo(c->addrs);
    base_free(c);
    client_maybe_done(cl);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    c->handles_open--;
    conn_maybe_free(c);
}

/* Closes the connection (never reused); the request on it, if any, is detached and left to
 * the caller. */
static void conn_close(conn_t *c)
{
    if (c->state == CS_CLOSING)
        return;
    if (c->state == CS_IDLE)
        pool_remove(c);
    c->state = CS_CLOSING;
    link_remove(&c->dirty_link);
    if (c->req) {
        c->req->conn = NULL;
        c->req = NULL;
    }
    if (c->gai_pending)
        uv_cancel((uv_req_t *)&c->gai);
    conn_disarm(c);
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    held_reset(c);
}

static void pool_put(conn_t *c)
{
    http_client_t *cl = c->client;
    host_pool_t *hp = c->host;
    int max = cl->opts.max_idle_per_host;
    if (cl->closing || max < 0 || hp->idle_count >= (size_t)max) {
        conn_close(c);
        return;
    }
    c->state = CS_IDLE;
    link_insert_head(&hp->idle, &c->idle_link);
    hp->idle_count++;
    cl->idle_total++;
    held_reset(c);
    conn_arm(c, TK_IDLE, cl->opts.idle_conn_timeout_ms);
    conn_read(c, 1); /* only to notice the app closing it */
}

static const http_rparser_cbs_t rp_cbs;

static conn_t *conn_new(http_client_t *cl, host_pool_t *hp)
{
    conn_t *c = base_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (uv_tcp_init(cl->loop, &c->tcp) != 0) {
        base_free(c);
        return NULL;
    }
    uv_timer_init(cl->loop, &c->timer);
    c->client = cl;
    c->host = hp;
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    link_init(&c->idle_link);
    link_init(&c->dirty_link);
    link_insert_tail(&cl->conns, &c->link);
    http_rparser_init(&c->rp, cl->opts.max_response_header_bytes, cl->opts.max_response_header_count, &rp_cbs, c);
    return c;
}

static void conn_attach(conn_t *c, http_client_req_t *req)
{
    c->req = req;
    req->conn = c;
    req->reused = c->requests++ > 0;
    req->replayable = req->reused && !req->retried;
    http_rparser_start(&c->rp, req->pool, req->head_request);
    held_reset(c);
    c->stopped = 0;
    c->write_err = 0;
    if (c->state == CS_IDLE) {
        c->state = CS_ACTIVE;
        conn_disarm(c);
        conn_read(c, !req->paused);
        conn_mark_dirty(c);
    }
}

/* ---- dialling ---------------------------------------------------------------------------- */

static void on_connect(uv_connect_t *cr, int status);

static struct addrinfo *take_addr(conn_t *c)
{
    while (c->next_addr) {
        struct addrinfo *ai = c->next_addr;
        c->next_addr = ai->ai_next;
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
            return ai;
    }
    return NULL;
}

static int more_addrs(const conn_t *c)
{
    for (const struct addrinfo *ai = c->next_addr; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
            return 1;
    return 0;
}

static void dial_failed(conn_t *c, int err);

static void connect_to(conn_t *c, const struct sockaddr *sa)
{
    c->connect_req.data = c;
    int r = uv_tcp_connect(&c->connect_req, &c->tcp, sa, on_connect);
    if (r < 0)
        dial_failed(c, r);
}

/* A failed connect leaves the socket unusable (and the next address may be of the other
 * family): the handle is closed and initialised afresh for the next address. */
static void on_tcp_recycled(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (c->state == CS_CLOSING) {
        on_handle_closed(h);
        return;
    }
    if (uv_tcp_init(c->client->loop, &c->tcp) != 0) {
        c->handles_open--;
        conn_fail(c, UV_ENOMEM, "out of memory", 0);
        return;
    }
    c->tcp.data = c;
    connect_to(c, take_addr(c)->ai_addr);
}

static void dial_failed(conn_t *c, int err)
{
    if (more_addrs(c)) {
        uv_close((uv_handle_t *)&c->tcp, on_tcp_recycled);
        return;
    }
    char msg[384];
    snprintf(msg, sizeof(msg), "dial tcp %s: connect: %s", c->host->authority, uv_strerror(err));
    conn_fail(c, err, msg, 0);
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    conn_t *c = gai->data;
    c->gai_pending = 0;
    if (c->state == CS_CLOSING) {
        if (res)
            uv_freeaddrinfo(res);
        conn_maybe_free(c);
        return;
    }
    c->addrs = res;
    c->next_addr = res;
    struct addrinfo *ai = status == 0 ? take_addr(c) : NULL;
    if (!ai) {
        char msg[384];
        snprintf(msg, sizeof(msg), "dial tcp: lookup %s: %s", c->host->host,
                 status < 0 ? uv_strerror(status) : "no such host");
        conn_fail(c, status < 0 ? status : UV_EAI_NONAME, msg, 0);
        return;
    }
    connect_to(c, ai->ai_addr);
}

static void conn_dial(conn_t *c)
{
    http_client_t *cl = c->client;
    conn_arm(c, TK_CONNECT, cl->opts.connect_timeout_ms);
    if (c->host->numeric) {
        connect_to(c, (const struct sockaddr *)&c->host->addr);
        return;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    char port[16];
    snprintf(port, sizeof(port), "%d", c->host->port);
    c->gai.data = c;
    int r = uv_getaddrinfo(cl->loop, &c->gai, on_resolved, c->host->host, port, &hints);
    if (r < 0) {
        char msg[384];
        snprintf(msg, sizeof(msg), "dial tcp: lookup %s: %s", c->host->host, uv_strerror(r));
        conn_fail(c, r, msg, 0);
        return;
    }
    c->gai_pending = 1;
}

static void on_connect(uv_connect_t *cr, int status)
{
    conn_t *c = cr->data;
    if (c->state == CS_CLOSING)
        return;
    if (status < 0) {
        dial_failed(c, status);
        return;
    }
    conn_disarm(c);
    c->state = CS_ACTIVE;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_DELAY_S);
    conn_read(c, !c->req->paused);
    conn_flush(c);
}

/* ---- failure, retry, success ------------------------------------------------------------- */

static int can_retry(const http_client_req_t *req, const conn_t *c)
{
    return req->reused && req->replayable && !req->retried && !c->rp.started && !req->client->closing;
}

/* Go's Transport retries a request whose reused connection turned out dead before any answer
 * (the app closed it while it sat in the pool): once, on a new connection. */
static void req_retry(http_client_req_t *req)
{
    http_client_t *cl = req->client;
    req->retried = 1;
    req->replayable = 0;
    req->sent = 0;
    out_rewind(req);
    conn_t *c = conn_new(cl, req->host);
    if (!c) {
        req_finish(req, UV_ENOMEM, "out of memory");
        return;
    }
    conn_attach(c, req);
    conn_dial(c);
}

/* The connection failed: it is closed, and its request retried or failed. `retryable`: the
 * failure may be a pooled connection the app had closed (EOF, reset, broken pipe). */
static void conn_fail(conn_t *c, int err, const char *msg, int retryable)
{
    http_client_req_t *req = c->req;
    int retry = retryable && req && can_retry(req, c);
    conn_close(c);
    if (!req || req->finishing)
        return;
    if (retry) {
        LOG_DEBUG(BASE_LOG_SCOPE_HTTP, "retrying request to %s on a new connection: %s", req->host->authority, msg);
        req_retry(req);
        return;
    }
    req_finish(req, err, msg);
}

/* Ends a request: on_done now, or on a later turn when an API call is on the stack. Any
 * connection still attached is closed. */
static void req_finish(http_client_req_t *req, int err, const char *msg)
{
    if (req->finishing)
        return;
    req->finishing = 1;
    req->err = err;
    if (err)
        snprintf(req->errmsg, sizeof(req->errmsg), "%s", msg ? msg : uv_strerror(err));
    if (req->conn)
        conn_close(req->conn);
    if (req->client->api_depth > 0) {
        defer_push(req);
        return;
    }
    deliver_done(req);
}

static int req_fully_sent(const http_client_req_t *req, conn_t *c)
{
    return req->ended && req->queued_bytes == 0 &&
           (req->writing_bytes == 0 || uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0);
}

/* The response is complete. The connection goes back to the pool only when the request was
 * fully sent, the response allowed keep-alive and nothing followed it on the wire. */
static void response_done(conn_t *c, size_t extra)
{
    http_client_req_t *req = c->req;
    int reuse = c->rp.keep_alive && extra == 0 && !c->write_err && req_fully_sent(req, c);
    c->req = NULL;
    req->conn = NULL;
    c->stopped = 0;
    if (c->write_pending)
        c->write_stale = 1;
    if (reuse)
        pool_put(c);
    else
        conn_close(c);
    req_finish(req, 0, NULL);
}

/* ---- reading ----------------------------------------------------------------------------- */

static int should_stop(const conn_t *c, const http_client_req_t *req)
{
    return c->req != req || req->finishing || req->paused;
}

static int rp_on_head(void *ud, int status, const http_headers_t *headers)
{
    conn_t *c = ud;
    http_client_req_t *req = c->req;
    req->head_seen = 1;
    req->res_length = c->rp.content_length;
    if (c->timer_kind == TK_HEADER)
        conn_disarm(c);
    if (req->cbs.on_head)
        req->cbs.on_head(req, req->ud, status, headers);
    return should_stop(c, req);
}

static int rp_on_data(void *ud, base_slice_t chunk)
{
    conn_t *c = ud;
    http_client_req_t *req = c->req;
    if (req->cbs.on_data)
        req->cbs.on_data(req, req->ud, chunk);
    return should_stop(c, req);
}

static const http_rparser_cbs_t rp_cbs = { rp_on_head, rp_on_data };

/* Parses response bytes, from the socket or (from_held) from what a pause left unparsed. */
static void conn_feed(conn_t *c, const char *data, size_t len, int from_held)
{
    http_client_req_t *req = c->req;
    size_t used = 0;
    if (len > 0 && req->replayable)
        out_release(req); /* the app answered: never replayed from here */
    http_rparser_result_t r = http_rparser_execute(&c->rp, data, len, &used);
    if (c->req != req || req->finishing)
        return; /* cancelled or closed from a callback */
    if (from_held)
        c->held_pos += used;
    size_t rest = from_held ? c->held.len - c->held_pos : len - used;
    switch (r) {
    case HTTP_RPARSER_MORE:
        if (from_held)
            held_reset(c);
        return;
    case HTTP_RPARSER_ERROR:
        conn_fail(c, c->rp.too_large ? UV_E2BIG : UV_EPROTO, http_rparser_error(&c->rp), 0);
        return;
    case HTTP_RPARSER_DONE:
        if (!req->paused) {
            response_done(c, rest);
            return;
        }
        break;
    case HTTP_RPARSER_PAUSED:
        break;
    }
    /* Paused: keep the unparsed bytes and stop reading until resume. */
    c->stopped = 1;
    if (!from_held && rest > 0 && base_buf_append(&c->held, data + used, rest) != 0) {
        conn_fail(c, UV_ENOMEM, "out of memory", 0);
        return;
    }
    conn_read(c, 0);
    if (!req->paused) {
        req->resume_pending = 1;
        defer_push(req);
    }
}

static void conn_resume(conn_t *c)
{
    static const char empty[1];
    http_client_req_t *req = c->req;
    if (!req || req->paused || req->finishing || c->state != CS_ACTIVE)
        return;
    if (c->stopped || c->held_pos < c->held.len) {
        c->stopped = 0;
        const char *p = c->held.base ? c->held.base + c->held_pos : empty;
        conn_feed(c, p, c->held.len - c->held_pos, 1);
        if (c->req != req || req->finishing || req->paused)
            return;
    }
    conn_read(c, 1);
}

static void conn_read_failed(conn_t *c, int err)
{
    char msg[384];
    if (err == UV_EOF && http_rparser_eof(&c->rp) == HTTP_RPARSER_DONE) {
        response_done(c, 0); /* the close ended the body */
        return;
    }
    if (c->write_err && !c->rp.started) {
        err = c->write_err;
        snprintf(msg, sizeof(msg), "write tcp %s: %s", c->host->authority, uv_strerror(err));
    } else if (err == UV_EOF) {
        snprintf(msg, sizeof(msg), "read tcp %s: %s", c->host->authority, http_rparser_error(&c->rp));
    } else {
        snprintf(msg, sizeof(msg), "read tcp %s: %s", c->host->authority, uv_strerror(err));
    }
    conn_fail(c, err, msg, 1);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (c->state == CS_CLOSING || nread == 0)
        return;
    if (c->state != CS_ACTIVE || !c->req) {
        /* EOF, an error or unsolicited bytes on a pooled connection: it is of no further use. */
        if (nread > 0)
            LOG_DEBUG(BASE_LOG_SCOPE_HTTP, "unsolicited response on an idle connection to %s", c->host->authority);
        conn_close(c);
        return;
    }
    if (nread < 0) {
        conn_read_failed(c, (int)nread);
        return;
    }
    conn_feed(c, buf->base, (size_t)nread, 0);
}

/* ---- writing ----------------------------------------------------------------------------- */

static void on_write(uv_write_t *wr, int status);

static void write_failed(conn_t *c, int err)
{
    if (!c->req) {
        conn_close(c);
        return;
    }
    /* The app may have answered early and closed: the response, or the read error that
     * follows, decides (conn_read_failed() reports this write error if nothing came). */
    c->write_err = err;
    if (!c->req->paused)
        conn_read(c, 1);
}

static void conn_flush(conn_t *c)
{
    http_client_req_t *req = c->req;
    if (c->state != CS_ACTIVE || !req || c->write_pending || c->write_err || !req->out_next)
        return;
    uv_buf_t bufs[MAX_WRITE_BUFS];
    unsigned n = 0;
    size_t bytes = 0;
    out_chunk_t *ch = req->out_next;
    for (; ch && n < MAX_WRITE_BUFS; ch = ch->next) {
        ch->stage = CH_WRITING;
        /* libuv only reads a write's bytes: a borrowed chunk's const is safe to drop */
        bufs[n++] = uv_buf_init(ch->ref ? (char *)ch->ref : ch->data, (unsigned)ch->len);
        bytes += ch->len;
    }
    req->out_next = ch;
    req->queued_bytes -= bytes;
    req->writing_bytes += bytes;
    c->write_req.data = c;
    int r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs, n, on_write);
    if (r < 0) {
        write_failed(c, r);
        return;
    }
    c->write_pending = 1;
}

/* The write in flight completed: its chunks are released (or kept for a retry), the response
 * header timer starts once the whole request is out, and a full request hears it may write.
 * The retry budget (RETAIN_MAX) counts the memory the kept chunks take: an owned chunk its
 * bytes, a borrowed one only its descriptor, since the caller keeps its bytes until on_done
 * anyway; so a large body written by reference stays replayable. */
static void req_written(http_client_req_t *req, conn_t *c)
{
    const http_client_options_t *o = &req->client->opts;
    for (out_chunk_t *ch = req->out_head; ch && ch->stage != CH_QUEUED; ch = ch->next) {
        if (ch->stage == CH_WRITING)
            req->held_cost += ch->ref ? sizeof(*ch) : ch->len;
        ch->stage = CH_WRITTEN;
    }
    req->held_bytes += req->writing_bytes;
    req->writing_bytes = 0;
    if (!req->replayable || req->held_cost > RETAIN_MAX)
        out_release(req);
    if (req->ended && req->queued_bytes == 0 && !req->sent) {
        req->sent = 1;
        if (o->response_header_timeout_ms && !req->head_seen)
            conn_arm(c, TK_HEADER, o->response_header_timeout_ms);
    }
    if (req->want_writable && req_pending(req) < HTTP_CLIENT_SEND_HIGH_WATER / 2) {
        req->want_writable = 0;
        if (req->cbs.on_writable)
            req->cbs.on_writable(req, req->ud);
    }
}

static void on_write(uv_write_t *wr, int status)
{
    conn_t *c = wr->data;
    c->write_pending = 0;
    if (c->state == CS_CLOSING)
        return;
    if (status < 0) {
        write_failed(c, status);
        return;
    }
    if (c->write_stale) {
        c->write_stale = 0;
    } else if (c->req) {
        http_client_req_t *req = c->req;
        req_written(req, c);
        if (c->req != req || req->finishing)
            return;
    }
    conn_flush(c);
}

/* Bytes were queued on the request: flush them this turn, note back-pressure. */
static void req_queued(http_client_req_t *req)
{
    if (req_pending(req) >= HTTP_CLIENT_SEND_HIGH_WATER)
        req->want_writable = 1;
    conn_t *c = req->conn;
    if (c && c->state == CS_ACTIVE && !c->write_pending)
        conn_mark_dirty(c);
}

/* ---- timers ------------------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    timer_kind_t k = c->timer_kind;
    char msg[384];
    c->timer_kind = TK_NONE;
    switch (k) {
    case TK_CONNECT:
        snprintf(msg, sizeof(msg), "dial tcp %s: i/o timeout", c->host->authority);
        conn_fail(c, UV_ETIMEDOUT, msg, 0);
        break;
    case TK_HEADER:
        conn_fail(c, UV_ETIMEDOUT, "net/http: timeout awaiting response headers", 0);
        break;
    case TK_IDLE:
        conn_close(c);
        break;
    case TK_NONE:
        break;
    }
}

/* ---- request head ------------------------------------------------------------------------ */

static int is_tchar(unsigned char ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int is_token(base_slice_t s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.base[i]))
            return 0;
    return 1;
}

/* RFC 9110 §5.5: no CR, LF, NUL or other control byte but HTAB in a field value (Go's
 * httpguts.ValidHeaderFieldValue). */
static int value_valid(base_slice_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.base[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 0;
    }
    return 1;
}

static int target_valid(base_slice_t t)
{
    if (t.len == 0 || (t.base[0] != '/' && !(t.len == 1 && t.base[0] == '*')))
        return 0;
    for (size_t i = 0; i < t.len; i++) {
        unsigned char ch = (unsigned char)t.base[i];
        if (ch <= 0x20 || ch == 0x7f)
            return 0;
    }
    return 1;
}

static int host_valid(const char *h)
{
    size_t len = strlen(h);
    if (len == 0 || len > 255)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (!(isalnum(ch) || strchr("-._~%:[]", ch)))
            return 0;
    }
    return 1;
}

static int list_has(base_slice_t list, base_slice_t tok)
{
    size_t start = 0;
    for (size_t i = 0; i <= list.len; i++) {
        if (i == list.len || list.base[i] == ',') {
            if (base_slice_ieq(base_slice_trim(base_slice(list.base + start, i - start)), tok))
                return 1;
            start = i + 1;
        }
    }
    return 0;
}

/* Hop-by-hop fields (RFC 9110 §7.6.1) and the ones the client writes itself are not copied;
 * neither is a field the Connection header names. */
static int field_copied(const http_headers_t *h, base_slice_t name, int has_connection)
{
    static const char *const dropped[] = { "connection", "keep-alive", "proxy-connection", "te", "trailer",
                                           "transfer-encoding", "upgrade", "host", "content-length" };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(dropped); i++)
        if (base_slice_ieq_cstr(name, dropped[i]))
            return 0;
    if (has_connection)
        for (size_t i = 0; i < h->len; i++)
            if (base_slice_ieq_cstr(h->items[i].name, "connection") && list_has(h->items[i].value, name))
                return 0;
    return 1;
}

/* Returns NULL, or why the request cannot be sent (in Go's words), written into `buf`. */
static const char *request_invalid(const char *host, int port, base_slice_t method, base_slice_t target,
                                   const http_headers_t *h, char *buf, size_t cap)
{
    if (!host || !host_valid(host) || port <= 0 || port > 65535) {
        snprintf(buf, cap, "http: invalid host \"%.64s:%d\"", host ? host : "", port);
        return buf;
    }
    if (!is_token(method)) {
        snprintf(buf, cap, "net/http: invalid method \"%.*s\"", (int)BASE_MIN(method.len, (size_t)64), method.base);
        return buf;
    }
    if (!target_valid(target)) {
        snprintf(buf, cap, "net/http: invalid request target \"%.*s\"", (int)BASE_MIN(target.len, (size_t)64),
                 target.base);
        return buf;
    }
    for (size_t i = 0; h && i < h->len; i++) {
        base_slice_t n = h->items[i].name;
        if (!is_token(n)) {
            snprintf(buf, cap, "net/http: invalid header field name \"%.*s\"", (int)BASE_MIN(n.len, (size_t)64), n.base);
            return buf;
        }
        if (!value_valid(h->items[i].value)) {
            snprintf(buf, cap, "net/http: invalid header field value for \"%.*s\"", (int)BASE_MIN(n.len, (size_t)64),
                     n.base);
            return buf;
        }
    }
    return NULL;
}

/* Go sends Content-Length: 0 only where a body is expected. */
static int length_zero_sent(base_slice_t method)
{
    return base_slice_eq(method, BASE_SLICE_LIT("POST")) || base_slice_eq(method, BASE_SLICE_LIT("PUT")) ||
           base_slice_eq(method, BASE_SLICE_LIT("PATCH"));
}

/* Serialises the head straight into the output queue (sized first, one copy). */
static int write_head(http_client_req_t *req, base_slice_t method, base_slice_t target, const http_headers_t *h)
{
    static const http_headers_t none = { 0 };
    if (!h)
        h = &none;
    int has_connection = http_headers_get(h, "connection") != NULL;
    char framing[64] = "";
    if (req->content_length < 0)
        snprintf(framing, sizeof(framing), "Transfer-Encoding: chunked\r\n");
    else if (req->content_length > 0 || length_zero_sent(method))
        snprintf(framing, sizeof(framing), "Content-Length: %lld\r\n", (long long)req->content_length);
    const char *authority = req->host->authority;
    size_t need = method.len + 1 + target.len + 11 + 6 + strlen(authority) + 2 + strlen(framing) + 2;
    for (size_t i = 0; i < h->len; i++)
        if (field_copied(h, h->items[i].name, has_connection))
            need += h->items[i].name.len + 2 + h->items[i].value.len + 2;
    if (out_reserve(req, need, CHUNK_MIN) != 0)
        return -1;
    out_append(req, method.base, method.len);
    out_append(req, " ", 1);
    out_append(req, target.base, target.len);
    out_append(req, " HTTP/1.1\r\nHost: ", 17);
    out_append(req, authority, strlen(authority));
    out_append(req, "\r\n", 2);
    for (size_t i = 0; i < h->len; i++) {
        const http_header_t *f = &h->items[i];
        if (!field_copied(h, f->name, has_connection))
            continue;
        out_append(req, f->name.base, f->name.len);
        out_append(req, ": ", 2);
        out_append(req, f->value.base, f->value.len);
        out_append(req, "\r\n", 2);
    }
    out_append(req, framing, strlen(framing));
    out_append(req, "\r\n", 2);
    return 0;
}

/* ---- public API -------------------------------------------------------------------------- */

http_client_t *http_client_new(uv_loop_t *loop, const http_client_options_t *opts)
{
    http_client_t *c = base_calloc(1, sizeof(*c));
    if (!c)
        goto fail_client;
    c->rbuf = base_malloc(READ_BUF_SIZE);
    if (!c->rbuf)
        goto fail_rbuf;
    c->loop = loop;
    if (opts)
        c->opts = *opts;
    http_client_options_t *o = &c->opts;
    if (!o->connect_timeout_ms)
        o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (!o->idle_conn_timeout_ms)
        o->idle_conn_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    if (!o->max_idle_per_host)
        o->max_idle_per_host = DEFAULT_MAX_IDLE_PER_HOST;
    if (!o->max_response_header_bytes)
        o->max_response_header_bytes = DEFAULT_MAX_HEADER_BYTES;
    if (!o->max_response_header_count)
        o->max_response_header_count = DEFAULT_MAX_HEADER_COUNT;
    link_init(&c->conns);
    link_init(&c->reqs);
    link_init(&c->deferred);
    link_init(&c->dirty);
    uv_idle_init(loop, &c->defer);
    uv_prepare_init(loop, &c->flusher);
    c->defer.data = c;
    c->flusher.data = c;
    c->handles_open = 2;
    return c;

fail_rbuf:
    base_free(c);
fail_client:
    return NULL;
}

void http_client_close(http_client_t *c, void (*done_cb)(void *arg), void *arg)
{
    c->done_cb = done_cb;
    c->done_arg = arg;
    if (c->closing)
        return;
    c->closing = 1;
    c->api_depth++;
    for (link_t *l = c->reqs.next; l != &c->reqs; l = l->next) {
        http_client_req_t *req = LINK_ENTRY(l, http_client_req_t, link);
        req_finish(req, UV_ECANCELED, "request canceled");
    }
    for (link_t *l = c->conns.next; l != &c->conns; l = l->next)
        conn_close(LINK_ENTRY(l, conn_t, link));
    c->api_depth--;
    client_maybe_done(c);
}

static void req_start(http_client_req_t *req)
{
    http_client_t *cl = req->client;
    conn_t *c = pool_take(req->host);
    if (c) {
        conn_attach(c, req);
        return;
    }
    c = conn_new(cl, req->host);
    if (!c) {
        req_finish(req, UV_ENOMEM, "out of memory");
        return;
    }
    conn_attach(c, req);
    conn_dial(c);
}

http_client_req_t *http_client_request(http_client_t *c, const char *host, int port, base_slice_t method,
                                       base_slice_t target, const http_headers_t *headers, int64_t content_length,
                                       const http_client_cbs_t *cbs, void *ud)
{
    if (!c || c->closing || !cbs || !cbs->on_done)
        return NULL;
    base_pool_t *pool = base_pool_create(POOL_BLOCK);
    if (!pool)
        return NULL;
    http_client_req_t *req = base_pool_calloc(pool, sizeof(*req));
    if (!req) {
        base_pool_destroy(pool);
        return NULL;
    }
    req->client = c;
    req->pool = pool;
    req->cbs = *cbs;
    req->ud = ud;
    req->content_length = content_length < 0 ? -1 : content_length;
    req->res_length = -1;
    req->head_request = base_slice_eq(method, BASE_SLICE_LIT("HEAD"));
    req->ended = content_length == 0;
    link_init(&req->link);
    link_init(&req->defer_link);

    char why[224];
    const char *bad = request_invalid(host, port, method, target, headers, why, sizeof(why));
    if (!bad) {
        req->host = host_get(c, host, port);
        if (!req->host || write_head(req, method, target, headers) != 0) {
            req_free(req);
            return NULL;
        }
    }
    link_insert_tail(&c->reqs, &req->link);
    c->api_depth++;
    if (bad)
        req_finish(req, UV_EINVAL, bad);
    else
        req_start(req);
    c->api_depth--;
    return req;
}

/* What every body write checks first: 0, or the error it returns. */
static int body_check(const http_client_req_t *req, size_t len)
{
    if (req->finishing)
        return UV_ECANCELED;
    if (req->ended)
        return UV_EINVAL;
    if (req->content_length >= 0 && len > (uint64_t)req->content_length - req->body_written)
        return UV_EINVAL;
    return 0;
}

/* `len` body bytes were queued. */
static void body_queued(http_client_req_t *req, size_t len)
{
    req->body_written += len;
    if (req->content_length >= 0 && req->body_written == (uint64_t)req->content_length)
        req->ended = 1;
    req_queued(req);
}

/* RFC 9112 §7.1: a chunk is its size in hex, CRLF, the data, CRLF. Returns the size line's
 * length. */
static size_t chunk_size_line(char line[24], size_t len)
{
    return (size_t)snprintf(line, 24, "%zx\r\n", len);
}

int http_client_req_write(http_client_req_t *req, const void *data, size_t len)
{
    int r = body_check(req, len);
    if (r != 0 || len == 0)
        return r; /* a zero-size chunk would end a chunked body */
    int chunked = req->content_length < 0;
    char frame[24];
    size_t flen = chunked ? chunk_size_line(frame, len) : 0;
    if (out_reserve(req, flen + len + (chunked ? 2 : 0), CHUNK_MIN) != 0)
        return UV_ENOMEM;
    out_append(req, frame, flen);
    out_append(req, data, len);
    if (chunked)
        out_append(req, "\r\n", 2);
    body_queued(req, len);
    return 0;
}

/* The bytes are queued as borrowed chunks between the copied framing: the size line goes into
 * the owned tail (or a small new chunk), the CRLF after the data into a FRAME_CAP chunk that
 * the next size line or the last chunk fills too. Everything is allocated before the queue
 * changes, so a failure leaves the request as it was. */
int http_client_req_write_ref(http_client_req_t *req, const void *data, size_t len)
{
    int r = body_check(req, len);
    if (r != 0 || len == 0)
        return r;
    int chunked = req->content_length < 0;
    char frame[24];
    size_t flen = chunked ? chunk_size_line(frame, len) : 0;
    out_chunk_t *refs = chunks_borrow(data, len);
    out_chunk_t *crlf = chunked ? chunk_new(FRAME_CAP) : NULL;
    if (!refs || (chunked && !crlf) || out_reserve(req, flen, FRAME_CAP) != 0) {
        chunks_free(refs);
        base_free(crlf);
        return UV_ENOMEM;
    }
    out_append(req, frame, flen);
    out_link(req, refs);
    if (crlf) {
        memcpy(crlf->data, "\r\n", 2);
        crlf->len = 2;
        out_link(req, crlf);
    }
    body_queued(req, len);
    return 0;
}

int http_client_req_end(http_client_req_t *req)
{
    if (req->finishing)
        return UV_ECANCELED;
    if (req->ended)
        return 0;
    if (req->content_length >= 0) {
        /* Fewer bytes than announced: the app would wait for the rest forever. */
        char msg[128];
        snprintf(msg, sizeof(msg), "http: ContentLength=%lld with Body length %llu", (long long)req->content_length,
                 (unsigned long long)req->body_written);
        req->client->api_depth++;
        req_finish(req, UV_EINVAL, msg);
        req->client->api_depth--;
        return UV_EINVAL;
    }
    if (out_reserve(req, 5, FRAME_CAP) != 0)
        return UV_ENOMEM;
    out_append(req, "0\r\n\r\n", 5);
    req->ended = 1;
    req_queued(req);
    return 0;
}

size_t http_client_req_pending(const http_client_req_t *req)
{
    return req_pending(req);
}

void http_client_req_pause(http_client_req_t *req)
{
    if (req->finishing || req->paused)
        return;
    req->paused = 1;
    if (req->conn)
        conn_read(req->conn, 0);
}

void http_client_req_resume(http_client_req_t *req)
{
    if (req->finishing || !req->paused)
        return;
    req->paused = 0;
    req->resume_pending = 1;
    defer_push(req);
}

void http_client_req_cancel(http_client_req_t *req)
{
    if (req->finishing)
        return;
    http_client_t *c = req->client;
    c->api_depth++;
    req_finish(req, UV_ECANCELED, "request canceled");
    c->api_depth--;
}

base_pool_t *http_client_req_pool(http_client_req_t *req)
{
    return req->pool;
}

int64_t http_client_req_response_length(const http_client_req_t *req)
{
    return req->res_length;
}

int http_client_req_reused(const http_client_req_t *req)
{
    return req->reused;
}

size_t http_client_idle_count(const http_client_t *c)
{
    return c->idle_total;
}
