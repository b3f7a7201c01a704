/*
 * http.h - HTTP request/response types and the exchange that carries one request.
 *
 * Threading: an exchange lives on the worker loop that accepted its connection and is touched
 * only from that thread. Memory: everything hanging off an exchange (header slices, strings)
 * lives in ex->pool, destroyed when the exchange completes (response written, or aborted).
 */
#ifndef HTTP_HTTP_H
#define HTTP_HTTP_H

#include <stdint.h>

#include "base/base.h"
#include "base/pool.h"

typedef struct http_header {
    base_slice_t name;
    base_slice_t value;
} http_header_t;

typedef struct http_headers {
    http_header_t *items;
    size_t len;
    size_t cap;
} http_headers_t;

/* Appends a header; name and value must outlive the pool (use http_headers_add_copy else).
 * Returns 0, or -1 on allocation failure. */
int http_headers_add(http_headers_t *h, base_pool_t *pool, base_slice_t name, base_slice_t value);
int http_headers_add_copy(http_headers_t *h, base_pool_t *pool, base_slice_t name, base_slice_t value);
/* Replaces every header of that name with one (name compared case-insensitively). */
int http_headers_set(http_headers_t *h, base_pool_t *pool, base_slice_t name, base_slice_t value);
/* First value of a header (case-insensitive name), or NULL. */
const base_slice_t *http_headers_get(const http_headers_t *h, const char *name);
/* Number of headers with that name. */
size_t http_headers_count(const http_headers_t *h, const char *name);
/* Removes every header of that name. Returns how many were removed. */
size_t http_headers_remove(http_headers_t *h, const char *name);

typedef enum http_method {
    HTTP_METHOD_OTHER = 0,
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_PATCH,
    HTTP_METHOD_OPTIONS,
    HTTP_METHOD_CONNECT,
    HTTP_METHOD_TRACE,
} http_method_t;

typedef struct http_request {
    base_slice_t method;     /* as sent, e.g. "GET" */
    http_method_t method_id;
    base_slice_t target;     /* raw request-target */
    base_slice_t path;       /* target up to '?' (or the path of an absolute-form target) */
    base_slice_t query;      /* after '?', without it; empty when none */
    int version_minor;       /* 0 or 1 (HTTP/1.x) */
    http_headers_t headers;
    int64_t content_length;  /* -1 when absent */
    unsigned chunked : 1;
    unsigned expect_continue : 1;
    unsigned keep_alive : 1; /* what the client asked for */
    base_slice_t host;
    const char *peer;        /* "ip:port" of the client, "@" for a Unix socket */
    uint64_t start_ns;       /* monotonic time the request started */
} http_request_t;

typedef struct http_response {
    int status;
    http_headers_t headers;
    int64_t content_length; /* -1: unknown, sent chunked (HTTP/1.1) or close-delimited (1.0) */
} http_response_t;

typedef struct http_exchange http_exchange_t;

/* An exchange that is not tied to a client connection (e.g. the app channel's call run
 * through spec.appHttpPipeline) sends its response to a sink instead. The send functions
 * below then forward to it; the sink owns the exchange's lifetime. */
typedef struct http_exchange_sink {
    int (*send_head)(http_exchange_t *ex);
    int (*send_body)(http_exchange_t *ex, const void *data, size_t len, int last);
    void (*pause_body)(http_exchange_t *ex, int paused);
    size_t (*pending)(const http_exchange_t *ex);
    void (*abort)(http_exchange_t *ex);
} http_exchange_sink_t;

/* What the layer above the server sets on an exchange to receive the request body. Each
 * callback runs on the exchange's loop. `chunk` is valid only during the call. */
typedef struct http_body_cbs {
    void (*on_data)(http_exchange_t *ex, base_slice_t chunk);
    void (*on_end)(http_exchange_t *ex);
} http_body_cbs_t;

typedef enum http_abort_reason {
    HTTP_ABORT_CLOSED = 1, /* peer closed or the socket failed */
    HTTP_ABORT_TIMEOUT,    /* read timeout while the body was arriving */
    HTTP_ABORT_SHUTDOWN,   /* grace period over */
} http_abort_reason_t;

struct http_exchange {
    base_pool_t *pool;
    http_request_t req;
    http_response_t res;
    const http_body_cbs_t *body_cbs; /* set by the upper layer in its on_request */
    /* Called once if the exchange dies before its response completed; after it the exchange
     * is freed and must not be touched. Optional. */
    void (*on_abort)(http_exchange_t *ex, http_abort_reason_t why);
    /* Optional: output that was over HTTP_SEND_HIGH_WATER fell under half of it (a streamed
     * response may send more). Runs on the loop, never inside a send call. */
    void (*on_writable)(http_exchange_t *ex);
    void *upper;     /* the upper layer's per-request state */
    void *conn;      /* owning connection; private to the server (NULL with a sink) */
    const http_exchange_sink_t *sink; /* set instead of conn for connection-less exchanges */
    void *sink_ctx;
    unsigned head_sent : 1;
    unsigned done : 1;
};

/*
 * Responding. http_exchange_send_head() sends the status line and ex->res.headers (Date,
 * Content-Length or Transfer-Encoding and Connection are added by the server). Then
 * http_exchange_send_body() any number of times; `last` finishes the response. Data is copied
 * into the connection's output, so the caller's buffer may be reused at once. After the last
 * chunk the exchange is freed at a later loop turn: do not touch it after that call returns.
 * Each returns 0, or -1 when the connection is gone or out of memory: the exchange may then
 * already be freed, so the caller must not touch it after a -1.
 */
int http_exchange_send_head(http_exchange_t *ex);
int http_exchange_send_body(http_exchange_t *ex, const void *data, size_t len, int last);
/* Convenience: status + content type + whole body, Content-Length set. */
int http_exchange_respond(http_exchange_t *ex, int status, const char *content_type, base_slice_t body);
/* Sends `100 Continue` if the client asked for it and nothing was sent yet. */
void http_exchange_continue(http_exchange_t *ex);
/* Gives up on the exchange from the upper layer: before the head, a 500 is sent; after it,
 * the connection is closed once the queued output is written. The exchange is freed later
 * (as after the last chunk); on_abort is not called. */
void http_exchange_abort(http_exchange_t *ex);
/* Output back-pressure: response bytes queued on the connection and not yet written. A
 * streaming sender stops above HTTP_SEND_HIGH_WATER and waits for on_writable. */
#define HTTP_SEND_HIGH_WATER (256u * 1024u)
size_t http_exchange_pending(const http_exchange_t *ex);
/* Flow control: stop / restart delivering request body data to on_data. */
void http_exchange_pause_body(http_exchange_t *ex);
void http_exchange_resume_body(http_exchange_t *ex);

/* Canonical reason phrase for a status code ("OK", "Not Found", ...). */
const char *http_status_reason(int status);
http_method_t http_method_from_slice(base_slice_t m);

/* Which listener accepted a request: the public port serves only health and metadata. */
typedef enum http_listener_kind { HTTP_LISTENER_API = 0, HTTP_LISTENER_PUBLIC } http_listener_kind_t;

/* The server's upward hand-off, wired by the composition root. on_request runs on the worker
 * loop once a request head is complete and valid; the callee must eventually respond (or the
 * exchange is aborted). */
typedef struct http_handler {
    void (*on_request)(void *ctx, http_exchange_t *ex, http_listener_kind_t kind);
    void *ctx;
} http_handler_t;

#endif
