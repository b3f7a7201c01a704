/*
 * client_parser.h - the HTTP/1.x response parser of one client connection, without I/O
 * (private to the http module; client.c drives it from libuv, the unit tests from strings).
 *
 * Bytes in, callbacks out: on_head once per response with the final status and the fields
 * (interim 1xx responses are skipped), on_data for each piece of the decoded body. A callback
 * returning nonzero stops the parser right after it (flow control, cancel); the next execute
 * continues where it stopped, and may be called with no bytes to let a stopped response
 * complete. The parser is started once per response and handles one response only: a
 * pipelined or unsolicited byte after it is left unconsumed for the owner to judge.
 */
#ifndef HTTP_CLIENT_PARSER_H
#define HTTP_CLIENT_PARSER_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/pool.h"
#include "http/http.h"

typedef struct http_rparser_cbs {
    /* `headers` live in the pool given to http_rparser_start(). */
    int (*on_head)(void *ud, int status, const http_headers_t *headers);
    /* `chunk` is valid during the call only; never empty. */
    int (*on_data)(void *ud, base_slice_t chunk);
} http_rparser_cbs_t;

typedef enum http_rparser_result {
    HTTP_RPARSER_MORE = 0, /* all bytes consumed, the response is not complete */
    HTTP_RPARSER_PAUSED,   /* a callback stopped the parser; *consumed bytes were used */
    HTTP_RPARSER_DONE,     /* the response is complete; bytes past *consumed are not part of it */
    HTTP_RPARSER_ERROR,    /* malformed or over a limit; http_rparser_error() says why */
} http_rparser_result_t;

typedef struct http_rparser {
    llhttp_t parser;
    const http_rparser_cbs_t *cbs;
    void *ud;
    size_t max_header_bytes;
    size_t max_header_count;

    base_pool_t *pool;
    http_headers_t headers;
    base_buf_t field;
    base_buf_t value;
    size_t header_bytes;
    size_t header_count;
    unsigned interim;        /* 1xx responses seen before the final one */
    int status;
    int64_t content_length;  /* of the final response, -1 when none */
    char tail[2];            /* the last two bytes llhttp consumed (chunk terminator check) */
    char error[160];

    unsigned head_request : 1;
    unsigned started : 1;    /* a byte of this response arrived */
    unsigned head_done : 1;  /* on_head was called */
    unsigned complete : 1;
    unsigned keep_alive : 1; /* valid once complete */
    unsigned failed : 1;
    unsigned too_large : 1;  /* the error is a limit, not malformed input */
    unsigned stop : 1;
    unsigned check_crlf : 1;
    unsigned last_chunk : 1;
} http_rparser_t;

void http_rparser_init(http_rparser_t *rp, size_t max_header_bytes, size_t max_header_count,
                       const http_rparser_cbs_t *cbs, void *ud);
/* Frees the parser's own buffers (not the pool). */
void http_rparser_free(http_rparser_t *rp);
/* Gets ready for the response to one request; its headers go to `pool`. A response to HEAD
 * has no body whatever its framing headers say. */
void http_rparser_start(http_rparser_t *rp, base_pool_t *pool, int head_request);
http_rparser_result_t http_rparser_execute(http_rparser_t *rp, const char *data, size_t len, size_t *consumed);
/* The server closed the connection: DONE when that ends a close-delimited body, else ERROR. */
http_rparser_result_t http_rparser_eof(http_rparser_t *rp);
const char *http_rparser_error(const http_rparser_t *rp);

#endif
