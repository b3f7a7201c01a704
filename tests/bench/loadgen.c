/*
 * loadgen: a constant-rate (open-loop) HTTP/1.1 load generator for latency benchmarks.
 *
 * A closed-loop generator (each connection sends its next request when the previous response
 * arrives) slows down exactly when the server does, so it never sees the queueing a real client
 * population would cause ("coordinated omission"). Here the schedule is global and fixed:
 * request k is due at t0 + k/R whatever happened before. A due request is written on an idle
 * keep-alive connection (one request at a time per connection, no pipelining) or waits in a FIFO
 * until a connection frees up. Each response yields two latencies:
 *   uncorrected  request written -> end of response: what the wire saw;
 *   corrected    request due     -> end of response: also the wait for a free connection,
 *                i.e. what a client arriving on schedule would have experienced.
 * Both go into log-linear histograms (<= 1 % relative error, fixed arrays).
 *
 * libuv timers tick in whole milliseconds, far too coarse for thousands of requests per second,
 * so the schedule is driven by a timerfd armed with the absolute due time of the next request
 * (nanosecond resolution) and watched by a uv_poll_t: each expiry sends everything that is due
 * and re-arms it. All clocks are CLOCK_MONOTONIC.
 *
 * A run is: connect, warm-up (same schedule, nothing recorded), the measured window, then a
 * drain of at most --timeout-ms while outstanding responses arrive. Whether a request counts is
 * decided by its due time, so warm-up responses arriving late never leak into the results.
 * Every request due in the window ends up exactly once as a response (2xx or not) or as an
 * error: its connection broke (socket), it waited in the FIFO or on the wire longer than
 * --timeout-ms (timeout; the connection is then replaced), or the FIFO was full (overflow).
 * Failed connection attempts are counted apart: they are not requests.
 * The request (head + body) is built once and shared; the steady state allocates nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>
#include <uv.h>

#define NS 1000000000ULL
#define MS 1000000ULL
#define RBUF (64 * 1024)
#define FIFO_CAP (1u << 20) /* power of two: ring index by mask */
#define HK_MS 5             /* housekeeping period: timeouts and reconnects */
#define BACKOFF_MIN (5 * MS)
#define BACKOFF_MAX (200 * MS)

/* ---- histogram: HdrHistogram-style, in nanoseconds ----
 * Values below SUB are exact; above, each power of two [2^e, 2^(e+1)) is split into SUB linear
 * buckets, so a bucket is at most 1/SUB (0.8 %) of its values wide. 2^36 <= HMAX < 2^37 fixes
 * the array size. */
#define SUB_BITS 7
#define SUB (1u << SUB_BITS)
#define HMAX (100 * NS)
#define HMAX_LOG2 36
#define NB ((HMAX_LOG2 - SUB_BITS + 2) * SUB)
_Static_assert((1ULL << HMAX_LOG2) <= HMAX && HMAX < (1ULL << (HMAX_LOG2 + 1)), "HMAX_LOG2");

struct hist {
  uint64_t n, max;
  double sum;
  uint64_t b[NB];
};

static unsigned h_idx(uint64_t v) {
  if (v < SUB)
    return (unsigned)v;
  unsigned sh = (unsigned)(63 - __builtin_clzll(v)) - SUB_BITS;
  return sh * SUB + (unsigned)(v >> sh);
}

static uint64_t h_upper(unsigned i) {
  if (i < SUB)
    return i;
  unsigned sh = i / SUB - 1;
  uint64_t sub = i - sh * SUB;
  return ((sub + 1) << sh) - 1;
}

static void h_add(struct hist *h, uint64_t v) {
  if (v > h->max)
    h->max = v;
  h->sum += (double)v;
  h->n++;
  h->b[h_idx(v < HMAX ? v : HMAX)]++;
}

/* percentile p (0..100) in microseconds */
static double h_pct(const struct hist *h, double p) {
  if (!h->n)
    return 0;
  uint64_t rank = (uint64_t)(p / 100.0 * (double)h->n + 0.5), cum = 0;
  if (!rank)
    rank = 1;
  for (unsigned i = 0; i < NB; i++) {
    cum += h->b[i];
    if (cum >= rank) {
      uint64_t v = h_upper(i);
      return (double)(v < h->max ? v : h->max) / 1e3;
    }
  }
  return (double)h->max / 1e3;
}

/* ---- state ---- */

enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY, C_CLOSING };
enum { P_CONNECT, P_RUN, P_DRAIN, P_DONE };

struct conn {
  uv_tcp_t tcp;
  uv_connect_t cr;
  uv_write_t wr;
  llhttp_t p;
  int st;
  int in_idle; /* has an entry on the idle stack (possibly stale, see take_idle) */
  int tried;   /* first connect attempt settled */
  int writing; /* a uv_write of the rest of the request is pending */
  int done, ka, status; /* set by on_complete during llhttp_execute */
  uint64_t due, sent, opened, retry_at, backoff;
  char rb[RBUF];
};

static struct {
  struct sockaddr_storage addr;
  const char *url, *method, *json;
  const char **hdrs;
  int nhdrs, conns;
  size_t body;
  double rate, dur, warm;
  uint64_t tmo; /* ns */
} o;

static char *req;
static size_t reqlen;
static int head_only;
static FILE *jf;

static uv_loop_t lp;
static uv_poll_t tick;
static uv_timer_t hk;
static int tfd = -1;
static llhttp_settings_t ps;

static struct conn *cs;
static int *idle, nidle;
static uint64_t *fifo; /* due times, oldest first */
static size_t fh, fn;

static int phase, init_left, init_ok, last_err, exit_code;
static uint64_t t0, rec0, rec1, drain_end, last_done, k;

static struct hist hu, hc;
static struct {
  uint64_t done, ok, non2xx, sock, tmo, ovf, conn; /* conn: failed connects, not requests */
} cnt;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t due_at(uint64_t i) {
  return t0 + (uint64_t)((long double)i * NS / o.rate);
}

static int measured(uint64_t due) { return due >= rec0; }

static void arm(uint64_t t) {
  struct itimerspec its = {0};
  its.it_value.tv_sec = (time_t)(t / NS);
  its.it_value.tv_nsec = (long)(t % NS);
  timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* ---- connections ---- */

static void conn_open(struct conn *c);
static void conn_ready(struct conn *c);
static void check_drain(void);
static void finish(void);

static void on_closed(uv_handle_t *h) {
  struct conn *c = h->data;
  c->st = C_CLOSED;
  if (phase != P_DONE && now_ns() >= c->retry_at)
    conn_open(c);
}

static void conn_close(struct conn *c, uint64_t delay) {
  if (c->st == C_CLOSED || c->st == C_CLOSING)
    return;
  c->st = C_CLOSING;
  c->retry_at = now_ns() + delay;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* the connection broke: the request on it, if any, is lost */
static void conn_fail(struct conn *c) {
  if (c->st == C_BUSY && measured(c->due))
    cnt.sock++;
  conn_close(c, 0);
}

static void check_init(void) {
  if (phase != P_CONNECT || init_left)
    return;
  if (!init_ok) {
    fprintf(stderr, "loadgen: cannot connect to %s: %s\n", o.url, uv_strerror(last_err));
    exit_code = 2;
    finish();
    return;
  }
  phase = P_RUN;
  t0 = now_ns();
  rec0 = t0 + (uint64_t)(o.warm * NS);
  rec1 = rec0 + (uint64_t)(o.dur * NS);
  k = 0;
  arm(t0);
}

static void connect_failed(struct conn *c, int err) {
  last_err = err;
  if (phase == P_RUN || phase == P_DRAIN) {
    if (now_ns() >= rec0)
      cnt.conn++;
  }
  /* back off so a dead server is not hammered with connects */
  c->backoff = c->backoff ? c->backoff * 2 : BACKOFF_MIN;
  if (c->backoff > BACKOFF_MAX)
    c->backoff = BACKOFF_MAX;
  conn_close(c, c->backoff);
  if (!c->tried) {
    c->tried = 1;
    init_left--;
    check_init();
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct conn *c = h->data;
  *buf = uv_buf_init(c->rb, RBUF);
}

static void finish_req(struct conn *c) {
  uint64_t t = now_ns();
  if (c->st != C_BUSY) { /* a response nobody asked for: the stream is out of step */
    conn_close(c, 0);
    return;
  }
  if (measured(c->due)) {
    cnt.done++;
    if (c->status >= 200 && c->status < 300)
      cnt.ok++;
    else
      cnt.non2xx++;
    h_add(&hu, t - c->sent);
    h_add(&hc, t - c->due);
    last_done = t;
  }
  c->st = C_IDLE;
  /* an early answer (e.g. 413) while the body is still being written leaves the stream unusable */
  if (!c->ka || c->writing)
    conn_close(c, 0);
  else
    conn_ready(c);
  if (phase == P_DRAIN)
    check_drain();
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = s->data;
  if (nread == 0)
    return;
  if (nread < 0) {
    /* a response delimited by the end of the connection completes here */
    c->done = 0;
    if (nread == UV_EOF && c->st == C_BUSY && llhttp_finish(&c->p) == HPE_OK && c->done) {
      c->ka = 0;
      finish_req(c);
    } else {
      conn_fail(c);
    }
    return;
  }
  c->done = 0;
  llhttp_errno_t e = llhttp_execute(&c->p, buf->base, (size_t)nread);
  if (c->done) {
    if (e != HPE_OK)
      c->ka = 0;
    finish_req(c);
  } else if (e != HPE_OK) {
    conn_fail(c);
  }
}

static int on_headers(llhttp_t *p) { return head_only; }

static int on_complete(llhttp_t *p) {
  struct conn *c = p->data;
  int s = p->status_code;
  if (s >= 100 && s < 200 && s != 101) /* interim response: the real one follows */
    return 0;
  c->done = 1;
  c->status = s;
  c->ka = llhttp_should_keep_alive(p);
  return 0;
}

static void on_connect(uv_connect_t *cr, int status) {
  struct conn *c = cr->handle->data;
  if (c->st != C_CONNECTING) /* closed meanwhile (timeout, end of run) */
    return;
  if (status < 0) {
    connect_failed(c, status);
    return;
  }
  c->backoff = 0;
  llhttp_init(&c->p, HTTP_RESPONSE, &ps);
  c->p.data = c;
  if ((status = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) < 0) {
    connect_failed(c, status);
    return;
  }
  c->st = C_IDLE;
  if (!c->tried) {
    c->tried = 1;
    init_ok++;
    init_left--;
  }
  conn_ready(c);
  check_init();
}

static void conn_open(struct conn *c) {
  int r;
  uv_tcp_init(&lp, &c->tcp);
  c->tcp.data = c;
  c->st = C_CONNECTING;
  c->opened = now_ns();
  uv_tcp_nodelay(&c->tcp, 1);
  if ((r = uv_tcp_connect(&c->cr, &c->tcp, (struct sockaddr *)&o.addr, on_connect)) < 0)
    connect_failed(c, r);
}

static void on_written(uv_write_t *wr, int status) {
  struct conn *c = wr->handle->data;
  c->writing = 0;
  if (status < 0 && c->st == C_BUSY)
    conn_fail(c);
}

static void send_on(struct conn *c, uint64_t due) {
  uv_buf_t b = uv_buf_init(req, (unsigned)reqlen);
  int r;
  c->st = C_BUSY;
  c->due = due;
  c->sent = now_ns();
  r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == (int)reqlen)
    return;
  if (r < 0 && r != UV_EAGAIN) {
    conn_fail(c);
    return;
  }
  /* the socket buffer is full (large body): queue the rest */
  if (r < 0)
    r = 0;
  b = uv_buf_init(req + r, (unsigned)(reqlen - (size_t)r));
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
    conn_fail(c);
    return;
  }
  c->writing = 1;
}

/* ---- scheduling ---- */

static struct conn *take_idle(void) {
  while (nidle) {
    struct conn *c = &cs[idle[--nidle]];
    c->in_idle = 0;
    /* the connection may have closed (and reopened) since it was pushed */
    if (c->st == C_IDLE)
      return c;
  }
  return NULL;
}

/* queued requests older than the timeout are given up: a real client would have too */
static void fifo_expire(uint64_t now) {
  while (fn && now - fifo[fh] >= o.tmo) {
    if (measured(fifo[fh]))
      cnt.tmo++;
    fh = (fh + 1) & (FIFO_CAP - 1);
    fn--;
  }
}

static int fifo_pop(uint64_t now, uint64_t *due) {
  fifo_expire(now);
  if (!fn)
    return 0;
  *due = fifo[fh];
  fh = (fh + 1) & (FIFO_CAP - 1);
  fn--;
  return 1;
}

static void conn_ready(struct conn *c) {
  uint64_t due;
  if ((phase == P_RUN || phase == P_DRAIN) && fifo_pop(now_ns(), &due)) {
    send_on(c, due);
  } else if (!c->in_idle) {
    c->in_idle = 1;
    idle[nidle++] = (int)(c - cs);
  }
}

static void dispatch(uint64_t due) {
  struct conn *c = take_idle();
  if (c)
    send_on(c, due);
  else if (fn == FIFO_CAP) {
    if (measured(due))
      cnt.ovf++;
  } else
    fifo[(fh + fn++) & (FIFO_CAP - 1)] = due;
}

static void on_tick(uv_poll_t *h, int status, int events) {
  uint64_t x, now = now_ns();
  if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN)
    perror("loadgen: timerfd");
  if (phase != P_RUN)
    return;
  for (;;) {
    uint64_t d = due_at(k);
    if (d >= rec1) {
      uv_poll_stop(&tick);
      phase = P_DRAIN;
      drain_end = now_ns() + o.tmo;
      check_drain();
      return;
    }
    if (d > now && d > (now = now_ns())) {
      arm(d);
      return;
    }
    k++;
    dispatch(d);
  }
}

static void check_drain(void) {
  if (phase != P_DRAIN || fn)
    return;
  for (int i = 0; i < o.conns; i++)
    if (cs[i].st == C_BUSY)
      return;
  finish();
}

static void on_hk(uv_timer_t *h) {
  uint64_t now = now_ns();
  for (int i = 0; i < o.conns; i++) {
    struct conn *c = &cs[i];
    if (c->st == C_BUSY && now - c->sent >= o.tmo) {
      if (measured(c->due))
        cnt.tmo++;
      conn_close(c, 0);
    } else if (c->st == C_CONNECTING && now - c->opened >= o.tmo) {
      connect_failed(c, UV_ETIMEDOUT);
    } else if (c->st == C_CLOSED && phase != P_DONE && now >= c->retry_at) {
      conn_open(c);
    }
  }
  /* even when no connection frees up to notice */
  fifo_expire(now);
  if (phase == P_DRAIN) {
    if (now >= drain_end)
      finish();
    else
      check_drain();
  }
}

/* stop everything; whatever is still outstanding timed out */
static void finish(void) {
  int was = phase;
  if (phase == P_DONE)
    return;
  phase = P_DONE;
  for (int i = 0; i < o.conns; i++) {
    struct conn *c = &cs[i];
    if (c->st == C_BUSY && measured(c->due) && was != P_CONNECT)
      cnt.tmo++;
    conn_close(c, 0);
  }
  for (; fn; fn--, fh = (fh + 1) & (FIFO_CAP - 1))
    if (measured(fifo[fh]))
      cnt.tmo++;
  uv_close((uv_handle_t *)&tick, NULL);
  uv_close((uv_handle_t *)&hk, NULL);
}

/* ---- setup ---- */

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --url http://HOST:PORT/PATH [--method M] [--body-size N]\n"
          "               [--header 'Name: value']... [--connections C] [--rate R]\n"
          "               [--duration S] [--warmup S] [--json FILE] [--timeout-ms N]\n"
          "HOST is an IPv4 or [IPv6] literal or localhost. Defaults: GET (POST with a body),\n"
          "16 connections, 1000 requests/s, 10 s measured after 2 s of warm-up, 5000 ms timeout.\n");
}

static int num(const char *s, double lo, double hi, double *out) {
  char *e;
  errno = 0;
  double v = strtod(s, &e);
  if (errno || e == s || *e || !(v >= lo && v <= hi))
    return -1;
  *out = v;
  return 0;
}

static int inum(const char *s, unsigned long long lo, unsigned long long hi,
                unsigned long long *out) {
  char *e;
  errno = 0;
  unsigned long long v = strtoull(s, &e, 10);
  if (errno || e == s || *e || *s == '-' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

/* http://HOST[:PORT][/PATH]: fills o.addr; *auth is the Host header value, *path the target */
static int parse_url(const char *u, char **auth, const char **path) {
  char host[64];
  const char *a, *end, *h, *he, *pp = NULL;
  unsigned long long port = 80;
  if (strncasecmp(u, "http://", 7))
    return -1;
  a = u + 7;
  end = a + strcspn(a, "/?");
  *path = *end == '/' ? end : "/";
  if (end == a)
    return -1;
  if (*a == '[') {
    h = a + 1;
    he = memchr(h, ']', (size_t)(end - h));
    if (!he || (he + 1 != end && he[1] != ':'))
      return -1;
    if (he + 1 != end)
      pp = he + 2;
  } else {
    h = a;
    he = memchr(a, ':', (size_t)(end - a));
    if (he)
      pp = he + 1;
    else
      he = end;
  }
  if (pp) {
    char pbuf[8];
    if (end - pp < 1 || end - pp > 5)
      return -1;
    memcpy(pbuf, pp, (size_t)(end - pp));
    pbuf[end - pp] = 0;
    if (inum(pbuf, 1, 65535, &port))
      return -1;
  }
  if (he - h < 1 || (size_t)(he - h) >= sizeof host)
    return -1;
  memcpy(host, h, (size_t)(he - h));
  host[he - h] = 0;
  if (!strcasecmp(host, "localhost"))
    strcpy(host, "127.0.0.1");
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&o.addr) &&
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&o.addr))
    return -1;
  *auth = strndup(a, (size_t)(end - a));
  return *auth ? 0 : -1;
}

static int has_hdr(const char *name) {
  size_t l = strlen(name);
  for (int i = 0; i < o.nhdrs; i++)
    if (!strncasecmp(o.hdrs[i], name, l) && o.hdrs[i][l] == ':')
      return 1;
  return 0;
}

static int build_req(const char *auth, const char *path) {
  size_t cap = strlen(o.method) + strlen(path) + strlen(auth) + 160 + o.body, len = 0;
  int clen = o.body > 0 || (strcmp(o.method, "GET") && strcmp(o.method, "HEAD"));
  for (int i = 0; i < o.nhdrs; i++)
    cap += strlen(o.hdrs[i]) + 2;
  if (!(req = malloc(cap)))
    return -1;
  len += (size_t)sprintf(req + len, "%s %s HTTP/1.1\r\n", o.method, path);
  if (!has_hdr("host"))
    len += (size_t)sprintf(req + len, "Host: %s\r\n", auth);
  for (int i = 0; i < o.nhdrs; i++)
    len += (size_t)sprintf(req + len, "%s\r\n", o.hdrs[i]);
  if (clen && !has_hdr("content-length"))
    len += (size_t)sprintf(req + len, "Content-Length: %zu\r\n", o.body);
  if (o.body && !has_hdr("content-type"))
    len += (size_t)sprintf(req + len, "Content-Type: application/octet-stream\r\n");
  len += (size_t)sprintf(req + len, "\r\n");
  memset(req + len, 'x', o.body);
  reqlen = len + o.body;
  return 0;
}

static int parse_args(int argc, char **argv, char **auth, const char **path) {
  static const struct option opts[] = {
      {"url", required_argument, NULL, 'u'},         {"method", required_argument, NULL, 'm'},
      {"body-size", required_argument, NULL, 'b'},   {"header", required_argument, NULL, 'H'},
      {"connections", required_argument, NULL, 'c'}, {"rate", required_argument, NULL, 'r'},
      {"duration", required_argument, NULL, 'd'},    {"warmup", required_argument, NULL, 'w'},
      {"json", required_argument, NULL, 'j'},        {"timeout-ms", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
  unsigned long long u;
  int ch;
  o.conns = 16;
  o.rate = 1000;
  o.dur = 10;
  o.warm = 2;
  o.tmo = 5000 * MS;
  if (!(o.hdrs = calloc((size_t)argc, sizeof *o.hdrs)))
    return -1;
  while ((ch = getopt_long(argc, argv, "u:m:b:H:c:r:d:w:j:t:h", opts, NULL)) != -1) {
    switch (ch) {
    case 'u': o.url = optarg; break;
    case 'm': o.method = optarg; break;
    case 'b':
      if (inum(optarg, 0, 1ULL << 30, &u))
        goto bad;
      o.body = (size_t)u;
      break;
    case 'H':
      if (!strchr(optarg, ':') || *optarg == ':')
        goto bad;
      o.hdrs[o.nhdrs++] = optarg;
      break;
    case 'c':
      if (inum(optarg, 1, 100000, &u))
        goto bad;
      o.conns = (int)u;
      break;
    case 'r':
      if (num(optarg, 1e-3, 1e8, &o.rate))
        goto bad;
      break;
    case 'd':
      if (num(optarg, 1e-3, 1e6, &o.dur))
        goto bad;
      break;
    case 'w':
      if (num(optarg, 0, 1e6, &o.warm))
        goto bad;
      break;
    case 'j': o.json = optarg; break;
    case 't':
      if (inum(optarg, 1, 3600000, &u))
        goto bad;
      o.tmo = u * MS;
      break;
    default: usage(); return -1;
    }
  }
  if (optind != argc || !o.url) {
    usage();
    return -1;
  }
  if (parse_url(o.url, auth, path)) {
    fprintf(stderr, "loadgen: bad --url %s (want http://HOST:PORT/PATH, HOST an IP literal)\n",
            o.url);
    return -1;
  }
  if (!o.method)
    o.method = o.body ? "POST" : "GET";
  head_only = !strcmp(o.method, "HEAD");
  if (o.json && !(jf = fopen(o.json, "w"))) {
    fprintf(stderr, "loadgen: %s: %s\n", o.json, strerror(errno));
    return -1;
  }
  return 0;
bad:
  fprintf(stderr, "loadgen: bad value for --%s: %s\n",
          ch == 'H' ? "header" : ch == 'b' ? "body-size" : ch == 'c' ? "connections"
          : ch == 'r' ? "rate" : ch == 'd' ? "duration" : ch == 'w' ? "warmup" : "timeout-ms",
          optarg);
  return -1;
}

static void report(void) {
  uint64_t end = last_done > rec1 ? last_done : rec1;
  double span = (double)(end - rec0) / NS;
  double ach = span > 0 ? (double)cnt.done / span : 0;
  uint64_t errs = cnt.non2xx + cnt.sock + cnt.tmo + cnt.ovf;
  const struct hist *hs[2] = {&hu, &hc};
  const char *names[2] = {"uncorrected", "corrected"};

  printf("rate %.10g/s achieved %.1f/s requests %" PRIu64 " errors %" PRIu64
         " (non2xx %" PRIu64 " socket %" PRIu64 " timeout %" PRIu64 " overflow %" PRIu64
         ") connect-errors %" PRIu64,
         o.rate, ach, cnt.done, errs, cnt.non2xx, cnt.sock, cnt.tmo, cnt.ovf, cnt.conn);
  for (int i = 0; i < 2; i++)
    printf(" %s p50 %.0fus p90 %.0fus p99 %.0fus p99.9 %.0fus max %.0fus mean %.0fus", names[i],
           h_pct(hs[i], 50), h_pct(hs[i], 90), h_pct(hs[i], 99), h_pct(hs[i], 99.9),
           (double)hs[i]->max / 1e3, hs[i]->n ? hs[i]->sum / (double)hs[i]->n / 1e3 : 0);
  printf("\n");
  fflush(stdout);

  if (!jf)
    return;
  fprintf(jf,
          "{\"target_rate\":%.10g,\"achieved_rate\":%.3f,\"duration_s\":%.10g,\"connections\":%d,"
          "\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"non2xx\":%" PRIu64 ",\"errors\":%" PRIu64
          ",\"socket_errors\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"overflow\":%" PRIu64
          ",\"connect_errors\":%" PRIu64,
          o.rate, ach, o.dur, o.conns, cnt.done, cnt.ok, cnt.non2xx, errs, cnt.sock, cnt.tmo,
          cnt.ovf, cnt.conn);
  for (int i = 0; i < 2; i++)
    fprintf(jf,
            ",\"%s\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,"
            "\"mean\":%.1f}",
            names[i], h_pct(hs[i], 50), h_pct(hs[i], 90), h_pct(hs[i], 99), h_pct(hs[i], 99.9),
            (double)hs[i]->max / 1e3, hs[i]->n ? hs[i]->sum / (double)hs[i]->n / 1e3 : 0);
  fprintf(jf, "}\n");
}

int main(int argc, char **argv) {
  char *auth = NULL;
  const char *path = NULL;
  int r;

  /* a server closing mid-write must surface as EPIPE, not kill us */
  signal(SIGPIPE, SIG_IGN);
  if (parse_args(argc, argv, &auth, &path) || build_req(auth, path)) {
    exit_code = 2;
    goto out;
  }
  cs = calloc((size_t)o.conns, sizeof *cs);
  idle = calloc((size_t)o.conns, sizeof *idle);
  fifo = malloc(FIFO_CAP * sizeof *fifo);
  if (!cs || !idle || !fifo) {
    fprintf(stderr, "loadgen: out of memory\n");
    exit_code = 2;
    goto out;
  }
  llhttp_settings_init(&ps);
  ps.on_headers_complete = on_headers;
  ps.on_message_complete = on_complete;

  if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
    perror("loadgen: timerfd_create");
    exit_code = 2;
    goto out;
  }
  if ((r = uv_loop_init(&lp)) < 0 || (r = uv_poll_init(&lp, &tick, tfd)) < 0 ||
      (r = uv_poll_start(&tick, UV_READABLE, on_tick)) < 0 || (r = uv_timer_init(&lp, &hk)) < 0 ||
      (r = uv_timer_start(&hk, on_hk, HK_MS, HK_MS)) < 0) {
    fprintf(stderr, "loadgen: libuv: %s\n", uv_strerror(r));
    exit_code = 2;
    goto out;
  }

  phase = P_CONNECT;
  init_left = o.conns;
  for (int i = 0; i < o.conns && phase == P_CONNECT; i++)
    conn_open(&cs[i]);
  uv_run(&lp, UV_RUN_DEFAULT);
  uv_loop_close(&lp);
  if (!exit_code)
    report();

out:
  if (jf && fclose(jf)) {
    perror("loadgen: writing --json");
    if (!exit_code)
      exit_code = 1;
  }
  if (tfd >= 0)
    close(tfd);
  free(fifo);
  free(idle);
  free(cs);
  free(req);
  free(auth);
  free(o.hdrs);
  return exit_code;
}
