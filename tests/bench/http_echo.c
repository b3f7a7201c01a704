/*
 * http_echo - the HTTP/1.1 app of the performance benchmark: answers every request with 200
 * and the request body echoed back (its Content-Type too, else application/octet-stream), or
 * "ok" (text/plain) when the body is empty.
 *
 *   http_echo <port>
 *
 * Listens on 127.0.0.1:<port>, prints "listening <port>" once it does, stops on SIGTERM/SIGINT.
 * Keep-alive, pipelining, Content-Length and chunked bodies; a body over 16 MiB gets 413, a
 * malformed request 400, and either closes the connection.
 *
 * It shares a core with the load generator, so it must cost as little as possible per request:
 * one thread on libuv, one allocation per connection (its read buffer) plus a body buffer that
 * grows once and is reused, and one write per response with the head and the body as two
 * buffers (uv_try_write first, uv_write only for what the socket would not take). A body that
 * arrived in a single read is sent straight from the read buffer. While a response is being
 * written the parser is paused and reading stopped, so the buffers it points into stay put;
 * pipelined requests behind it are parsed when the write completes.
 */
#include <llhttp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define RBUF (64 * 1024)
#define BODY_MAX (16u * 1024 * 1024)

enum { H_OTHER, H_CT, H_EXPECT };

typedef struct conn {
    uv_tcp_t tcp;
    uv_write_t wr;
    uv_write_t cw; /* 100 Continue, independent of the response write */
    uv_shutdown_t sd;
    llhttp_t hp;
    size_t roff, rlen; /* unparsed part of rbuf, kept while a write is pending */
    char *body;        /* owned copy of the body when it spans reads or chunks */
    size_t blen, bcap;
    const char *bref; /* body still in rbuf, not copied yet */
    size_t breflen;
    char fld[16];
    size_t fldlen;
    char ct[256];
    size_t ctlen;
    char expect[16];
    size_t explen;
    int hdr;        /* which header the current value belongs to */
    int ka;         /* keep-alive, decided at the end of the headers */
    int status;     /* error status to answer when the parser fails */
    int reading, writing, closing, closed;
    char head[384];
    char rbuf[RBUF];
} conn_t;

static uv_loop_t *loop;
static uv_tcp_t srv;
static uv_signal_t sigs[2];
static llhttp_settings_t hs;

static void on_close(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (c) {
        free(c->body);
        free(c);
    }
}

static void drop(conn_t *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    conn_t *c = h->data;
    /* reading only runs once rbuf has been parsed to the end */
    *b = uv_buf_init(c->rbuf, RBUF);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void on_shutdown(uv_shutdown_t *r, int st) {}

/* Ends a connection after its last response: send FIN, then read and discard until the peer
 * closes, since closing with unread input would reset the connection and could destroy that
 * response before the peer read it. */
static void finish(conn_t *c)
{
    c->closing = 1;
    if (uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        drop(c);
        return;
    }
    if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

static void process(conn_t *c);

static void on_write(uv_write_t *w, int st)
{
    conn_t *c = w->data;
    c->writing = 0;
    if (st < 0 || c->closed) {
        drop(c);
        return;
    }
    if (c->closing) {
        finish(c);
        return;
    }
    llhttp_resume(&c->hp);
    process(c);
}

/* Sends head+body; returns 0 when all went out at once, 1 when a write is pending, -1 when the
 * connection was dropped. */
static int send2(conn_t *c, const char *h, size_t hl, const char *b, size_t bl)
{
    uv_buf_t v[2] = { uv_buf_init((char *)h, (unsigned)hl), uv_buf_init((char *)b, (unsigned)bl) };
    unsigned nv = bl ? 2 : 1;
    int n = uv_try_write((uv_stream_t *)&c->tcp, v, nv);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0) {
        drop(c);
        return -1;
    }
    size_t left = (size_t)n;
    uv_buf_t *p = v;
    while (nv && left >= p->len) {
        left -= p->len;
        p++;
        nv--;
    }
    if (!nv)
        return 0;
    p->base += left;
    p->len -= left;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, p, nv, on_write) != 0) {
        drop(c);
        return -1;
    }
    c->writing = 1;
    return 1;
}

static const char *reason(int st)
{
    switch (st) {
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Bad Request";
    }
}

/* Answers an unusable request and closes. */
static void fail(conn_t *c, int st)
{
    int hl = snprintf(c->head, sizeof(c->head),
                      "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", st, reason(st));
    c->closing = 1;
    if (send2(c, c->head, (size_t)hl, NULL, 0) == 0)
        finish(c);
}

/* Moves the part of the body still in rbuf into the body buffer. */
static int keep(conn_t *c, const char *p, size_t n)
{
    if (c->blen + n > c->bcap) {
        size_t cap = c->bcap ? c->bcap : RBUF;
        while (cap < c->blen + n)
            cap *= 2;
        char *nb = realloc(c->body, cap);
        if (!nb)
            return -1;
        c->body = nb;
        c->bcap = cap;
    }
    memcpy(c->body + c->blen, p, n);
    c->blen += n;
    return 0;
}

static int flush_ref(conn_t *c)
{
    if (!c->bref)
        return 0;
    const char *p = c->bref;
    c->bref = NULL;
    return keep(c, p, c->breflen);
}

/* Returns 0 when the response went out at once, else as send2. */
static int respond(conn_t *c)
{
    const char *b, *ct;
    size_t bl, ctl;
    if (c->bref && !c->blen) {
        b = c->bref;
        bl = c->breflen;
    } else {
        b = c->body;
        bl = c->blen;
    }
    if (bl) {
        ct = c->ctlen ? c->ct : "application/octet-stream";
        ctl = c->ctlen ? c->ctlen : 24;
    } else {
        b = "ok";
        bl = 2;
        ct = "text/plain";
        ctl = 10;
    }
    const char *conn = "";
    if (!c->ka)
        conn = "Connection: close\r\n";
    else if (c->hp.http_major == 1 && c->hp.http_minor == 0)
        conn = "Connection: keep-alive\r\n";
    int hl = snprintf(c->head, sizeof(c->head), "HTTP/1.1 200 OK\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n%s\r\n",
                      (int)ctl, ct, bl, conn);
    if (c->hp.method == HTTP_HEAD)
        bl = 0;
    c->closing = !c->ka;
    c->bref = NULL;
    c->breflen = 0;
    c->blen = 0;
    int r = send2(c, c->head, (size_t)hl, b, bl);
    if (r == 0 && c->closing) {
        finish(c);
        return 1;
    }
    return r;
}

/* Parses rbuf[roff..rlen], answering each complete request; stops at a pending write. */
static void process(conn_t *c)
{
    while (c->roff < c->rlen) {
        const char *p = c->rbuf + c->roff;
        llhttp_errno_t e = llhttp_execute(&c->hp, p, c->rlen - c->roff);
        if (e == HPE_OK) {
            c->roff = c->rlen;
            if (flush_ref(c) != 0) {
                fail(c, 413);
                return;
            }
            break;
        }
        if (e != HPE_PAUSED) {
            fail(c, c->status ? c->status : 400);
            return;
        }
        c->roff = (size_t)(llhttp_get_error_pos(&c->hp) - c->rbuf);
        if (respond(c) != 0)
            return;
        llhttp_resume(&c->hp);
    }
    c->roff = c->rlen = 0;
    if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    conn_t *c = s->data;
    if (n < 0) {
        drop(c);
        return;
    }
    if (n == 0 || c->closing)
        return;
    c->roff = 0;
    c->rlen = (size_t)n;
    process(c);
}

static int on_begin(llhttp_t *hp)
{
    conn_t *c = hp->data;
    c->fldlen = c->ctlen = c->explen = 0;
    c->hdr = H_OTHER;
    c->blen = 0;
    c->bref = NULL;
    c->breflen = 0;
    return 0;
}

static int on_field(llhttp_t *hp, const char *at, size_t n)
{
    conn_t *c = hp->data;
    /* only short names matter; a longer one just never matches */
    if (c->fldlen + n <= sizeof(c->fld))
        memcpy(c->fld + c->fldlen, at, n);
    c->fldlen += n;
    return 0;
}

static int on_field_done(llhttp_t *hp)
{
    conn_t *c = hp->data;
    c->hdr = H_OTHER;
    if (c->fldlen == 12 && strncasecmp(c->fld, "content-type", 12) == 0) {
        c->hdr = H_CT;
        c->ctlen = 0;
    } else if (c->fldlen == 6 && strncasecmp(c->fld, "expect", 6) == 0) {
        c->hdr = H_EXPECT;
        c->explen = 0;
    }
    c->fldlen = 0;
    return 0;
}

static int on_value(llhttp_t *hp, const char *at, size_t n)
{
    conn_t *c = hp->data;
    if (c->hdr == H_CT) {
        if (c->ctlen + n > sizeof(c->ct)) {
            c->status = 431;
            return -1;
        }
        memcpy(c->ct + c->ctlen, at, n);
        c->ctlen += n;
    } else if (c->hdr == H_EXPECT) {
        if (c->explen + n <= sizeof(c->expect))
            memcpy(c->expect + c->explen, at, n);
        c->explen += n;
    }
    return 0;
}

static int on_value_done(llhttp_t *hp)
{
    ((conn_t *)hp->data)->hdr = H_OTHER;
    return 0;
}

static void on_continue(uv_write_t *w, int st) {}

static int on_headers(llhttp_t *hp)
{
    conn_t *c = hp->data;
    c->ka = llhttp_should_keep_alive(hp) && !hp->upgrade;
    int cl = (hp->flags & F_CONTENT_LENGTH) != 0;
    if (cl && hp->content_length > BODY_MAX) {
        c->status = 413;
        return -1;
    }
    /* a client waiting for 100 Continue would otherwise stall before sending the body */
    if (c->explen == 12 && strncasecmp(c->expect, "100-continue", 12) == 0 && hp->http_minor >= 1 &&
        ((cl && hp->content_length) || (hp->flags & F_CHUNKED))) {
        static char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t v = uv_buf_init(msg, sizeof(msg) - 1);
        if (uv_write(&c->cw, (uv_stream_t *)&c->tcp, &v, 1, on_continue) != 0)
            return -1;
    }
    return 0;
}

static int on_body(llhttp_t *hp, const char *at, size_t n)
{
    conn_t *c = hp->data;
    if (c->blen + c->breflen + n > BODY_MAX) {
        c->status = 413;
        return -1;
    }
    if (!c->blen && (!c->bref || at == c->bref + c->breflen)) {
        if (!c->bref)
            c->bref = at;
        c->breflen += n;
        return 0;
    }
    if (flush_ref(c) != 0 || keep(c, at, n) != 0) {
        c->status = 413;
        return -1;
    }
    return 0;
}

static int on_done(llhttp_t *hp)
{
    /* stop here so the response goes out before the next pipelined request is parsed */
    return HPE_PAUSED;
}

static void on_conn(uv_stream_t *s, int st)
{
    if (st < 0)
        return;
    conn_t *c = malloc(sizeof(*c));
    if (!c)
        return;
    memset(c, 0, offsetof(conn_t, head));
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(s, (uv_stream_t *)&c->tcp) != 0) {
        drop(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->hp, HTTP_REQUEST, &hs);
    c->hp.data = c;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
    else
        drop(c);
}

static void close_one(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        return;
    conn_t *c = h->data;
    if (c && h == (uv_handle_t *)&c->tcp)
        drop(c);
    else
        uv_close(h, NULL);
}

static void on_signal(uv_signal_t *s, int sig)
{
    uv_walk(loop, close_one, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: http_echo <port>\n");
        return 2;
    }
    int port = atoi(argv[1]);
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();

    hs.on_message_begin = on_begin;
    hs.on_header_field = on_field;
    hs.on_header_field_complete = on_field_done;
    hs.on_header_value = on_value;
    hs.on_header_value_complete = on_value_done;
    hs.on_headers_complete = on_headers;
    hs.on_body = on_body;
    hs.on_message_complete = on_done;

    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    uv_tcp_init(loop, &srv);
    int r = uv_tcp_bind(&srv, (const struct sockaddr *)&sa, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&srv, 1024, on_conn);
    if (r != 0) {
        fprintf(stderr, "http_echo: cannot listen on 127.0.0.1:%d: %s\n", port, uv_strerror(r));
        return 1;
    }
    uv_signal_init(loop, &sigs[0]);
    uv_signal_start(&sigs[0], on_signal, SIGTERM);
    uv_signal_init(loop, &sigs[1]);
    uv_signal_start(&sigs[1], on_signal, SIGINT);

    printf("listening %d\n", port);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
