/*
 * client.h - the HTTP/1.1 client of one worker loop: the callee sidecar's channel to its local
 * app (`--app-protocol http`), after Go's net/http Transport that daprd uses there.
 *
 * One http_client_t per worker loop. It keeps a pool of keep-alive connections per
 * "host:port" and streams bodies both ways in bounded chunks: the request body is copied into
 * the request's output queue as the caller writes it, or queued by reference to the caller's
 * memory (http_client_req_write_ref()), with a high-water mark for back-pressure; the response
 * body is handed to on_data as it is read (and reading stops while the caller has paused the
 * request). Nothing here holds a whole body.
 *
 * Threads: a client and its requests belong to the loop given to http_client_new(); every
 * function must be called, and every callback runs, on that loop's thread.
 *
 * Callback timing (libuv's rules): no callback ever runs inside http_client_request(),
 * http_client_req_write(), _write_ref(), _end(), _pause(), _resume() or _cancel(). on_head, on_data,
 * on_writable and on_done run from the loop. A callback may call any function of this header,
 * including http_client_req_cancel() on its own request and http_client_close().
 *
 * Memory: a request lives until its on_done returns, then it is freed with its pool; the caller
 * must not touch it afterwards. Header slices given to on_head live in the request's pool.
 * Bytes given to http_client_req_write() are copied, so the caller may reuse its buffer at once;
 * bytes given to http_client_req_write_ref() are borrowed until on_done is called.
 *
 * Errors are negative libuv codes (uv_err_name() / uv_strerror() work on them), each with a
 * message in Go's words for logs and error bodies:
 *   UV_ECONNREFUSED, UV_ENETUNREACH, ...  dial failed  "dial tcp 127.0.0.1:3000: connect: connection refused"
 *   UV_ETIMEDOUT   connect or response-header timeout  "dial tcp 127.0.0.1:3000: i/o timeout"
 *   UV_ECONNRESET, UV_EOF, UV_EPIPE  connection lost  "read tcp 127.0.0.1:3000: unexpected EOF"
 *   UV_EPROTO      malformed response                 "malformed HTTP response: ..."
 *   UV_E2BIG       response head over a limit         "server response headers exceeded 4096 bytes; aborted"
 *   UV_ECANCELED   http_client_req_cancel() or http_client_close()  "request canceled"
 *   UV_EINVAL      invalid request (method, target, header value, body length)
 *   UV_EAI_*       name resolution failed             "dial tcp: lookup app: ..."
 */
#ifndef HTTP_CLIENT_H
#define HTTP_CLIENT_H

#include <stdint.h>
#include <uv.h>

#include "base/base.h"
#include "base/pool.h"
#include "http/http.h"

/* Output back-pressure: a request whose queued-but-unwritten bytes reach this is "full"; its
 * on_writable fires once they fall under half of it. */
#define HTTP_CLIENT_SEND_HIGH_WATER (256u * 1024u)

typedef struct http_client_options {
    /* Name resolution plus TCP connect, for all the addresses of a name (30 s when 0, Go's
     * net.Dialer in daprd). */
    unsigned connect_timeout_ms;
    /* From the last request byte written to the response head; 0 = none (daprd has none on
     * the app channel). */
    unsigned response_header_timeout_ms;
    /* A pooled connection unused this long is closed (90 s when 0, Go's IdleConnTimeout). */
    unsigned idle_conn_timeout_ms;
    /* Idle connections kept per host:port (64 when 0, as daprd's app channel; < 0: none, every
     * connection closes after its response). */
    int max_idle_per_host;
    /* Response head limits (status line and fields; trailers count separately): over either
     * the request fails with UV_E2BIG and the connection is closed. 0 → 64 KiB / 100.
     * daprd sets its MaxResponseHeaderBytes to --read-buffer-size. */
    size_t max_response_header_bytes;
    size_t max_response_header_count;
} http_client_options_t;

typedef struct http_client http_client_t;
typedef struct http_client_req http_client_req_t;

typedef struct http_client_cbs {
    /* The final response head (interim 1xx responses are skipped). `headers` holds every field
     * as received, in order, repeated names as separate entries (two Set-Cookie stay two);
     * it lives in the request's pool until on_done returns. Optional. */
    void (*on_head)(http_client_req_t *req, void *ud, int status, const http_headers_t *headers);
    /* A piece of the decoded response body (chunked framing removed); `chunk` is valid only
     * during the call. Never called while the request is paused. Optional. */
    void (*on_data)(http_client_req_t *req, void *ud, base_slice_t chunk);
    /* Queued request output that had reached HTTP_CLIENT_SEND_HIGH_WATER fell under half of
     * it: the caller may write more. Optional. */
    void (*on_writable)(http_client_req_t *req, void *ud);
    /* The request is over: err 0 (errmsg NULL) when the whole response was received, else a
     * negative code and a message (valid during the call). Called exactly once, on a later loop turn than
     * http_client_request(). The response may complete before the request body was fully
     * sent (an app answering early, e.g. 413): on_done(0) then comes first and the caller
     * stops writing. A successful response is not delivered while the request is paused.
     * After it returns the request is freed. Required. */
    void (*on_done)(http_client_req_t *req, void *ud, int err, const char *errmsg);
} http_client_cbs_t;

/* Returns the client, or NULL when out of memory. `opts` is copied; NULL means defaults. */
http_client_t *http_client_new(uv_loop_t *loop, const http_client_options_t *opts);

/* Cancels every request (their on_done run with UV_ECANCELED on a later turn) and closes every
 * connection. done_cb(arg) runs once every handle is closed; the client is freed after it
 * returns. No request may be started after this call. */
void http_client_close(http_client_t *c, void (*done_cb)(void *arg), void *arg);

/*
 * Starts a request to host:port: host is an IP address ("127.0.0.1", "::1" or "[::1]") or a
 * name resolved with getaddrinfo (each address tried in turn). `method` and `target`
 * ("/path?query", origin-form) are copied. `headers` (may be NULL) are copied, except
 * the hop-by-hop fields (Connection and the fields it names, Keep-Alive, Proxy-Connection,
 * TE, Trailer, Transfer-Encoding, Upgrade) and Host and Content-Length, which the client
 * writes itself: Host is "host:port"; content_length >= 0 is sent as Content-Length (0 only
 * for POST, PUT and PATCH, as Go does), -1 (unknown) as Transfer-Encoding: chunked. With 0
 * the request is complete at once; otherwise the body follows with http_client_req_write()
 * and http_client_req_end().
 *
 * A pooled connection is used when one is idle, else a new one is dialled. If a request on a
 * reused connection fails before any response byte arrived (the app closed it meanwhile) and
 * every body byte written so far is still held (copied bytes up to HTTP_CLIENT_SEND_HIGH_WATER;
 * borrowed ones cost the client nothing to hold), it is retried once on a new connection, as
 * Go's Transport does.
 *
 * Returns the request, or NULL when out of memory or the client is closing (no callback runs
 * then). Every other failure, including an invalid method, target or header value, is
 * reported through on_done on a later turn.
 */
http_client_req_t *http_client_request(http_client_t *c, const char *host, int port, base_slice_t method,
                                       base_slice_t target, const http_headers_t *headers, int64_t content_length,
                                       const http_client_cbs_t *cbs, void *ud);

/* Queues request body bytes (copied; chunk-framed when the length is unknown). Returns 0; or
 * UV_EINVAL after end or past the announced Content-Length, UV_ECANCELED once the request is
 * finishing, UV_ENOMEM (the request is unchanged). The caller should stop while
 * http_client_req_pending() >= HTTP_CLIENT_SEND_HIGH_WATER and wait for on_writable. */
int http_client_req_write(http_client_req_t *req, const void *data, size_t len);
/* Queues request body bytes without copying them: the socket is written straight from `data`
 * (only the chunk framing, when the length is unknown, is copied). Same rules, errors and
 * accounting as http_client_req_write() (Content-Length, end, http_client_req_pending() and
 * on_writable), and the two may be mixed: the body goes out in call order.
 *
 * On 0, the request borrows the `len` bytes at `data`: the caller keeps them valid and
 * unchanged from this call until on_done is called, whatever ends the request (response,
 * failure, cancel, http_client_close()). Until then the client may read them at any time,
 * and more than once: a request retried on a new connection sends them again. From the moment
 * on_done is called it never reads them again, so on_done itself may free or refill the
 * buffer. On an error return nothing is borrowed. */
int http_client_req_write_ref(http_client_req_t *req, const void *data, size_t len);
/* No more body. With a Content-Length, fewer bytes than announced fail the request (UV_EINVAL
 * through on_done, connection closed). Returns 0 or a negative code as above. */
int http_client_req_end(http_client_req_t *req);
/* Request bytes queued and not yet written to the socket (copied and borrowed alike). */
size_t http_client_req_pending(const http_client_req_t *req);

/* Response flow control: stop reading the response (no on_data, the socket is not read, so
 * the app is held back by TCP) / start again. resume delivers buffered data on a later turn. */
void http_client_req_pause(http_client_req_t *req);
void http_client_req_resume(http_client_req_t *req);

/* Gives up: the connection is closed (never reused) and on_done runs with UV_ECANCELED on a
 * later turn. No effect once on_done is running or scheduled. */
void http_client_req_cancel(http_client_req_t *req);

/* The request's pool: lives until on_done returns (for the caller's per-request data). */
base_pool_t *http_client_req_pool(http_client_req_t *req);
/* After on_head: the response's Content-Length, or -1 when it has none (chunked, or delimited
 * by the connection close). For a HEAD request it is the length the app announced. */
int64_t http_client_req_response_length(const http_client_req_t *req);
/* 1 when the request runs on a connection that served an earlier request (for tests, logs). */
int http_client_req_reused(const http_client_req_t *req);

/* Idle pooled connections, all hosts (for tests and metrics). */
size_t http_client_idle_count(const http_client_t *c);

#endif
