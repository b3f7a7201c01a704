/*
 * write.c - try the socket first, then queue the rest (see write.h).
 */
#include "loop/write.h"

int loop_write(uv_stream_t *stream, uv_write_t *req, base_buf_t *out, base_buf_t *writing, uv_write_cb cb,
               size_t *queued)
{
    uv_buf_t b = uv_buf_init(out->base, (unsigned)out->len);
    int n = uv_try_write(stream, &b, 1);
    if (n == (int)out->len) {
        out->len = 0;
        return 0;
    }
    if (n < 0 && n != UV_EAGAIN)
        return n;
    if (n < 0)
        n = 0;
    base_buf_t tmp = *writing;
    *writing = *out;
    *out = tmp;
    out->len = 0;
    b = uv_buf_init(writing->base + n, (unsigned)(writing->len - (size_t)n));
    int r = uv_write(req, stream, &b, 1, cb);
    if (r < 0)
        return r;
    *queued = b.len;
    return 1;
}
