/*
 * later.h - run work on the same loop after the current callback returns, batched per turn.
 *
 * Work posted here runs after the callback that posted it has returned (libuv's rule that a
 * callback never fires inside the call that started it), together with everything else posted
 * in the same loop turn: a check handle runs the queue right after the poll phase. So every
 * write that a batch of reads produces leaves in one write per connection, after all of those
 * reads. Work posted outside the poll phase (from a timer, or from the check phase itself)
 * would wait for the next event: a prepare handle, which runs just before the loop computes
 * its poll timeout, then starts an idle handle so that the poll does not block. Work posted
 * from I/O callbacks (the common case) costs no extra poll.
 *
 * Single-threaded: every function runs on the loop's thread. The owner embeds the items; an
 * item is queued at most once (posting a queued item only replaces its callback).
 */
#ifndef LOOP_LATER_H
#define LOOP_LATER_H

#include <uv.h>

typedef struct loop_later_item {
    struct loop_later_item *prev, *next; /* NULL when not queued */
    void (*cb)(struct loop_later_item *it);
} loop_later_item_t;

typedef struct loop_later {
    uv_idle_t idle;
    uv_prepare_t prepare;
    uv_check_t check;
    loop_later_item_t head; /* circular list sentinel */
    int active;
} loop_later_t;

/* `data` lands in the handles' data field (for the close callback). */
void loop_later_init(loop_later_t *l, uv_loop_t *loop, void *data);
/* Queues `it` to run `cb` in this turn's check phase (or the next turn's when posted from
 * inside that phase, after a non-blocking poll). */
void loop_later_post(loop_later_t *l, loop_later_item_t *it, void (*cb)(loop_later_item_t *it));
/* Unqueues `it` if queued; safe on an item never posted (zeroed). */
void loop_later_cancel(loop_later_item_t *it);
/* Closes the handles; close_cb runs LOOP_LATER_HANDLES times. Pending items are dropped. */
#define LOOP_LATER_HANDLES 3
void loop_later_close(loop_later_t *l, uv_close_cb close_cb);

#endif
