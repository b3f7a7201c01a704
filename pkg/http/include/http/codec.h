/*
 * codec.h - the HTTP/1.x server codec of one connection, without I/O (after nghttp2's
 * sans-I/O session): bytes in through http_codec_feed(), callbacks out, response bytes
 * collected in an output buffer that the owner writes to the socket. Unit tests drive it with
 * byte strings; the server (server.c) drives it from libuv.
 *
 * Requests are handled one at a time: after a request head the codec delivers its body, then
 * stops parsing until the response has been fully queued, so pipelined requests are answered
 * in order and a slow handler applies back-pressure (http_codec_wants_input() turns false and
 * the owner stops reading). Framing errors, limits and timeouts produce the error response
 * themselves (400/408/413/414/431, Dapr JSON body) and mark the connection to close.
 *
 * Expect: 100-continue: when on_request returns without having answered, the codec sends the
 * interim `100 Continue` itself (the chain accepted the request and wants its body); an early
 * final answer (401, 413) goes out without it and the connection closes after.
 *
 * Single thread: all calls on the owning loop.
 */
#ifndef HTTP_CODEC_H
#define HTTP_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "http/http.h"

typedef struct http_codec_limits {
    size_t max_header_bytes;   /* header fields (excluding request line); over → 431 */
    size_t max_header_count;   /* over → 431 (100) */
    size_t max_request_line;   /* over → 414 (8 KiB) */
    uint64_t max_body_bytes;   /* chunk sizes announcing more → 413 at once; 0 = no limit
                                  (the body-limit middleware counts the bytes themselves) */
} http_codec_limits_t;

typedef enum http_codec_state {
    HTTP_CODEC_IDLE = 0,      /* between requests (keep-alive) */
    HTTP_CODEC_READING_HEAD,  /* some bytes of a request head arrived */
    HTTP_CODEC_READING_BODY,  /* head done, body arriving */
    HTTP_CODEC_RESPONDING,    /* request read, response not finished */
    HTTP_CODEC_CLOSING,       /* no more requests will be parsed */
} http_codec_state_t;

typedef struct http_codec http_codec_t;

typedef struct http_codec_owner {
    /* Output was appended: write it when convenient (owner may batch per loop turn). */
    void (*on_output)(void *owner);
    /* An exchange finished (last byte queued, or aborted); owner may re-arm timers. */
    void (*on_exchange_done)(void *owner);
    void *owner;
} http_codec_owner_t;

/* Creates a codec; NULL on allocation failure. `peer` is copied. */
http_codec_t *http_codec_new(const http_codec_limits_t *limits, const http_handler_t *handler,
                             http_listener_kind_t kind, const http_codec_owner_t *owner, const char *peer);
/* Aborts any exchange in flight (its on_abort runs) and frees the codec. */
void http_codec_free(http_codec_t *c, http_abort_reason_t why);

/* Input. http_codec_feed() copies data into the codec's input buffer and parses what it can.
 * Returns 0, or -1 when the connection must close now (without writing anything more). */
int http_codec_feed(http_codec_t *c, const char *data, size_t len);
/* Zero-copy input: a place to read into (at least 1 byte), then how many bytes landed. */
void http_codec_read_buffer(http_codec_t *c, char **base, size_t *len);
int http_codec_commit_read(http_codec_t *c, size_t n);
/* The peer closed its side. */
void http_codec_eof(http_codec_t *c);
/* Continues parsing buffered input (after a response finished or body delivery resumed). */
int http_codec_resume(http_codec_t *c);

/* A read timeout fired: writes 408 when a request was partly read, then marks CLOSING. */
void http_codec_timeout(http_codec_t *c);
/* Graceful shutdown: finish the current exchange, then close (Connection: close). */
void http_codec_drain(http_codec_t *c);

/* Output waiting to be written; the owner consumes it with base_buf_consume() (or takes the
 * buffer whole) and reports what is being written with http_codec_writing(), then
 * http_codec_written() once the write completed (this may call the exchange's on_writable). */
base_buf_t *http_codec_output(http_codec_t *c);
void http_codec_writing(http_codec_t *c, size_t bytes);
void http_codec_written(http_codec_t *c);

http_codec_state_t http_codec_state(const http_codec_t *c);
/* 1 while the codec can accept more input (not paused, not closing). */
int http_codec_wants_input(const http_codec_t *c);
/* 1 while an exchange is in progress (its response not finished): do not close yet. */
int http_codec_busy(const http_codec_t *c);
/* 1 once the connection should be closed when the output is flushed. */
int http_codec_should_close(const http_codec_t *c);
/* 1 when unread request bytes may still be on the wire (close gracefully: lingering close). */
int http_codec_unread_input(const http_codec_t *c);
/* The request counter of this connection (for tests and logs). */
uint64_t http_codec_request_count(const http_codec_t *c);

#endif
