/*
 * server.h - the HTTP/1.x server of one worker loop.
 *
 * A worker owns one http_server_t on its own libuv loop. The composition root gives it
 * listening sockets (already bound; TCP ones with SO_REUSEPORT so every worker has its own),
 * and the server accepts, reads, drives one codec per connection, writes, and enforces the
 * timeouts and the per-listener connection cap. Everything runs on the worker's loop thread.
 */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include <stdatomic.h>
#include <uv.h>

#include "http/codec.h"
#include "http/http.h"

typedef struct http_server_options {
    http_codec_limits_t limits;
    /* Each timeout: 0 = none. */
    unsigned read_header_timeout_ms; /* whole request head: 408 and close */
    unsigned read_body_timeout_ms;   /* between body reads: 408 and close */
    unsigned idle_timeout_ms;        /* keep-alive idle: close */
    unsigned write_timeout_ms;       /* no write progress: close */
    unsigned linger_ms;              /* discard unread input after an early answer */
} http_server_options_t;

typedef struct http_server http_server_t;

/* Shared between the workers serving one address: the connection cap counts them all. */
typedef struct http_listener_shared {
    atomic_int connections;
    int max_connections; /* <= 0: no cap */
    atomic_int rejected;
    char name[128]; /* for logs, e.g. "127.0.0.1:3500" */
} http_listener_shared_t;

/* Called on the loop when the server has no listener and no connection left after a drain or
 * a close_all. */
typedef void (*http_server_idle_cb)(http_server_t *s, void *arg);

http_server_t *http_server_new(uv_loop_t *loop, const http_server_options_t *opts, const http_handler_t *handler);
/* Takes ownership of a listening socket fd (TCP when !is_pipe, else a Unix socket).
 * Returns 0 or a negative libuv error. */
int http_server_listen_fd(http_server_t *s, int fd, int is_pipe, http_listener_kind_t kind,
                          http_listener_shared_t *shared);
/* Stops accepting, closes idle connections, lets in-flight exchanges finish and then closes
 * their connections. idle_cb fires once nothing is left. */
void http_server_drain(http_server_t *s, http_server_idle_cb idle_cb, void *arg);
/* Closes every connection now, aborting exchanges in flight. */
void http_server_close_all(http_server_t *s);
size_t http_server_connection_count(const http_server_t *s);
/* Frees the server; only after idle_cb fired (all handles closed). */
void http_server_free(http_server_t *s);

#endif
