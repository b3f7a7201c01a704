/*
 * write.h - write a connection's queued output: straight to the socket when it takes it all,
 * through uv_write for the rest.
 *
 * A write that completes inside uv_try_write() needs no write request and no callback, and
 * libuv does not re-arm the descriptor in epoll, which it does after every completed
 * uv_write() (one epoll_ctl per write). Used by every connection that batches its output
 * per loop turn (the HTTP server, the gRPC connections). On the stream's loop thread.
 */
#ifndef LOOP_WRITE_H
#define LOOP_WRITE_H

#include <uv.h>

#include "base/buf.h"

/*
 * Writes `out`. Returns:
 *   0  everything was written; `out` is emptied (its memory kept for reuse);
 *   1  the socket took part (or none): `out` and `writing` were swapped, so the caller keeps
 *      appending to a fresh `out`, and the rest of `writing` is queued with uv_write(req, cb);
 *      `writing` must stay untouched until cb runs, and *queued is the byte count queued;
 *   <0 a libuv error; nothing is queued.
 * `writing` must be empty (no write pending) when called.
 */
int loop_write(uv_stream_t *stream, uv_write_t *req, base_buf_t *out, base_buf_t *writing, uv_write_cb cb,
               size_t *queued);

#endif
