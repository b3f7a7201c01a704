/*
 * later.c - deferred work per loop turn (see later.h).
 */
#include "loop/later.h"

#include <stddef.h>

#define LATER_BUDGET 4096 /* items per pass: a callback that keeps posting cannot starve I/O */

static void later_run(loop_later_t *l)
{
    /* Work posted while running joins the same list and runs in this pass, up to the budget. */
    for (unsigned budget = LATER_BUDGET; budget && l->head.next != &l->head; budget--) {
        loop_later_item_t *it = l->head.next;
        loop_later_cancel(it);
        it->cb(it);
    }
    if (l->head.next == &l->head && l->active) {
        l->active = 0;
        uv_idle_stop(&l->idle);
        uv_prepare_stop(&l->prepare);
        uv_check_stop(&l->check);
    }
}

static void on_idle(uv_idle_t *h)
{
    later_run((loop_later_t *)((char *)h - offsetof(loop_later_t, idle)));
}

/* Still queued just before the poll: posted outside the poll phase. Keep the poll from
 * blocking (an active idle handle makes its timeout 0). */
static void on_prepare(uv_prepare_t *h)
{
    loop_later_t *l = (loop_later_t *)((char *)h - offsetof(loop_later_t, prepare));
    if (l->head.next != &l->head)
        uv_idle_start(&l->idle, on_idle);
}

static void on_check(uv_check_t *h)
{
    later_run((loop_later_t *)((char *)h - offsetof(loop_later_t, check)));
}

void loop_later_init(loop_later_t *l, uv_loop_t *loop, void *data)
{
    uv_idle_init(loop, &l->idle);
    uv_prepare_init(loop, &l->prepare);
    uv_check_init(loop, &l->check);
    l->idle.data = data;
    l->prepare.data = data;
    l->check.data = data;
    l->head.prev = l->head.next = &l->head;
    l->active = 0;
}

void loop_later_post(loop_later_t *l, loop_later_item_t *it, void (*cb)(loop_later_item_t *it))
{
    it->cb = cb;
    if (it->next)
        return;
    it->prev = l->head.prev;
    it->next = &l->head;
    l->head.prev->next = it;
    l->head.prev = it;
    if (!l->active) {
        l->active = 1;
        uv_prepare_start(&l->prepare, on_prepare);
        uv_check_start(&l->check, on_check);
    }
}

void loop_later_cancel(loop_later_item_t *it)
{
    if (!it->next)
        return;
    it->prev->next = it->next;
    it->next->prev = it->prev;
    it->prev = it->next = NULL;
}

void loop_later_close(loop_later_t *l, uv_close_cb close_cb)
{
    uv_close((uv_handle_t *)&l->idle, close_cb);
    uv_close((uv_handle_t *)&l->prepare, close_cb);
    uv_close((uv_handle_t *)&l->check, close_cb);
}
