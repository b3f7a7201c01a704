/*
 * harness.h - drives a middleware chain through the real HTTP/1.1 codec: raw request bytes
 * in, raw response bytes out, plus a recording terminal handler.
 */
#ifndef TEST_MW_HARNESS_H
#define TEST_MW_HARNESS_H

#include <stddef.h>

#include "middleware/middleware.h"

/* What the terminal handler saw. Reset with rec_reset(). */
typedef struct rec {
    int requests, bodies, ends, aborts;
    char body[8192];
    size_t body_len;
    int saw_token_header;      /* dapr-api-token still present at the handler */
    int traced;
    diag_trace_ctx_t trace;
    char log[512];             /* "A.req B.req H.req ..." from the test filters too */
    /* behaviour */
    int reply_in_request;      /* reply in on_request instead of on_end */
    int reply_twice;           /* reply a second time; result stored in second_rc */
    int second_rc;
    const char *extra_header;  /* "Name: value" put on the handler's response */
    int stream;                /* answer with mw_reply_head + mw_send_body chunks */
} rec_t;

extern rec_t rec;
void rec_reset(void);
void rec_log(const char *what);

mw_handler_t rec_handler(void);

/* Feeds `raw` to a fresh codec wired to `chain`, as from `peer` ("ip:port"); returns the
 * whole output (malloc'd, NUL-terminated). When `keep` is NULL the codec is freed before
 * returning; else it is handed back for more feeding/aborting (free with http_codec_free). */
char *run_chain(mw_chain_t *chain, const char *peer, const char *raw);
char *run_chain_keep(mw_chain_t *chain, const char *peer, const char *raw, void **keep);

/* Response inspection. */
int resp_status(const char *out);
/* n-th (0-based) value of header `name` in the first response head, copied into a static
 * buffer; NULL when absent. */
const char *resp_header(const char *out, const char *name, int n);
int resp_header_count(const char *out, const char *name);
const char *resp_body(const char *out);

#endif
