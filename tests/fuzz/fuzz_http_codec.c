/*
 * Fuzz target for the HTTP/1.x codec: arbitrary bytes, fed in pieces whose sizes come from the
 * input itself, to a codec whose handler answers some requests at once, some at the end of
 * their body and some later, streams some bodies and aborts others. The codec must never
 * crash, leak or read out of bounds, and must stop producing requests once it decided to close.
 *
 * Built two ways: with libFuzzer (clang -fsanitize=fuzzer) as a fuzzer, and with the replay
 * driver in replay_main.c, which runs the seed corpus under the normal sanitizer build.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http/codec.h"

typedef struct fuzz_state {
    http_exchange_t *pending;
    unsigned n;
} fuzz_state_t;

static fuzz_state_t st;

static void answer(http_exchange_t *ex, int streamed)
{
    if (streamed) {
        ex->res.status = 200;
        if (http_exchange_send_head(ex) == 0 && http_exchange_send_body(ex, "ab", 2, 0) == 0)
            http_exchange_send_body(ex, "c", 1, 1);
    } else {
        http_exchange_respond(ex, 204, NULL, BASE_SLICE_NULL);
    }
}

static void on_data(http_exchange_t *ex, base_slice_t chunk)
{
    (void)ex;
    volatile char sink = chunk.len ? chunk.base[chunk.len - 1] : 0; /* touch the bytes */
    (void)sink;
}

static void on_end(http_exchange_t *ex)
{
    switch (st.n++ % 4) {
    case 0: answer(ex, 0); break;
    case 1: answer(ex, 1); break;
    case 2: st.pending = ex; break;         /* answered after the next feed */
    default: http_exchange_abort(ex); break;
    }
}

static void on_abort(http_exchange_t *ex, http_abort_reason_t why)
{
    (void)why;
    if (st.pending == ex)
        st.pending = NULL;
}

static const http_body_cbs_t cbs = { on_data, on_end };

static void on_request(void *ctx, http_exchange_t *ex, http_listener_kind_t kind)
{
    (void)ctx;
    (void)kind;
    ex->body_cbs = &cbs;
    ex->on_abort = on_abort;
    if (ex->req.path.len > 2 && ex->req.path.base[1] == 'x')
        answer(ex, 0); /* answered before the body */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&st, 0, sizeof(st));
    http_codec_limits_t limits = { .max_header_bytes = 1024, .max_header_count = 20, .max_request_line = 512,
                                   .max_body_bytes = 4096 };
    http_handler_t h = { on_request, NULL };
    http_codec_t *c = http_codec_new(&limits, &h, HTTP_LISTENER_API, NULL, "fuzz");
    if (!c)
        return 0;
    size_t i = 0;
    while (i < size && !http_codec_should_close(c)) {
        size_t piece = 1 + data[i] % 64;
        i++;
        if (piece > size - i)
            piece = size - i;
        http_codec_feed(c, (const char *)data + i, piece);
        i += piece;
        if (st.pending) {
            http_exchange_t *ex = st.pending;
            st.pending = NULL;
            answer(ex, 1);
            http_codec_resume(c);
        }
        base_buf_t *out = http_codec_output(c);
        base_buf_consume(out, out->len);
        if (i % 3 == 0 && http_codec_state(c) == HTTP_CODEC_READING_BODY)
            http_codec_timeout(c);
    }
    if (size && data[0] & 1)
        http_codec_eof(c);
    http_codec_free(c, HTTP_ABORT_CLOSED);
    return 0;
}
