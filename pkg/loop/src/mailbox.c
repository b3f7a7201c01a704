#include "loop/mailbox.h"

#include "base/pool.h"

static void on_async(uv_async_t *a)
{
    loop_mailbox_t *mb = a->data;
    pthread_mutex_lock(&mb->lock);
    loop_mail_t *m = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    while (m) {
        loop_mail_t *next = m->next;
        m->fn(m->arg);
        base_free(m);
        m = next;
    }
}

int loop_mailbox_init(uv_loop_t *loop, loop_mailbox_t *mb)
{
    mb->head = mb->tail = NULL;
    mb->closed = 0;
    pthread_mutex_init(&mb->lock, NULL);
    mb->async.data = mb;
    return uv_async_init(loop, &mb->async, on_async);
}

int loop_mailbox_post(loop_mailbox_t *mb, loop_mail_fn fn, void *arg)
{
    loop_mail_t *m = base_malloc(sizeof(*m));
    if (!m)
        return -1;
    m->next = NULL;
    m->fn = fn;
    m->arg = arg;
    pthread_mutex_lock(&mb->lock);
    if (mb->closed) {
        pthread_mutex_unlock(&mb->lock);
        base_free(m);
        return -1;
    }
    if (mb->tail)
        mb->tail->next = m;
    else
        mb->head = m;
    mb->tail = m;
    pthread_mutex_unlock(&mb->lock);
    uv_async_send(&mb->async);
    return 0;
}

void loop_mailbox_close(loop_mailbox_t *mb, uv_close_cb close_cb)
{
    pthread_mutex_lock(&mb->lock);
    mb->closed = 1;
    loop_mail_t *m = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    while (m) {
        loop_mail_t *next = m->next;
        base_free(m);
        m = next;
    }
    uv_close((uv_handle_t *)&mb->async, close_cb);
}
