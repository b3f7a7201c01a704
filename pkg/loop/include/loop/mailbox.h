/*
 * mailbox.h - post work to a libuv loop from any thread.
 *
 * A mailbox is a mutex-protected queue plus a uv_async_t on the receiving loop. Posts from
 * any thread; each posted function runs once on the loop thread, in posting order, on a later
 * loop turn. Not for the request path (a cross-thread wake-up costs tens of microseconds):
 * it carries control messages such as "drain" and "stopped".
 */
#ifndef LOOP_MAILBOX_H
#define LOOP_MAILBOX_H

#include <pthread.h>
#include <uv.h>

typedef void (*loop_mail_fn)(void *arg);

typedef struct loop_mail {
    struct loop_mail *next;
    loop_mail_fn fn;
    void *arg;
} loop_mail_t;

typedef struct loop_mailbox {
    uv_async_t async;
    pthread_mutex_t lock;
    loop_mail_t *head, *tail;
    int closed;
} loop_mailbox_t;

/* On the loop's thread. Returns 0 or a negative libuv error. */
int loop_mailbox_init(uv_loop_t *loop, loop_mailbox_t *mb);
/* Any thread. Returns 0, or -1 when out of memory or the mailbox is closed. */
int loop_mailbox_post(loop_mailbox_t *mb, loop_mail_fn fn, void *arg);
/* On the loop's thread: drops pending mail, closes the async handle; close_cb (may be NULL)
 * runs when the handle is closed. The mailbox memory must stay valid until then. */
void loop_mailbox_close(loop_mailbox_t *mb, uv_close_cb close_cb);

#endif
