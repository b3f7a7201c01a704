/*
 * pool.h - per-request memory pool with cleanup handlers (after nginx's ngx_pool_t).
 *
 * Allocations are bump-pointer from chained blocks and are never freed one by one: the whole
 * pool goes at once in base_pool_destroy(), which first runs the cleanup handlers in reverse
 * order of registration. Large allocations (over a quarter block) get their own malloc and are
 * freed with the pool. A pool belongs to one thread at a time. Every function that can fail
 * returns NULL on allocation failure; the pool stays valid.
 */
#ifndef BASE_POOL_H
#define BASE_POOL_H

#include <stddef.h>
#include "base/base.h"

typedef struct base_pool base_pool_t;
typedef void (*base_pool_cleanup_cb)(void *data);

/* block_size: bytes per block (0 → 4 KiB). Returns NULL when out of memory. Pools of the
 * default 4 KiB come from a small per-thread cache of destroyed ones when it has any. */
base_pool_t *base_pool_create(size_t block_size);
void base_pool_destroy(base_pool_t *pool);
/* Frees the calling thread's cache of destroyed pools (a thread calls it before it ends). */
void base_pool_cache_release(void);
/* Frees every allocation and runs the cleanups, keeping the first block for reuse. */
void base_pool_reset(base_pool_t *pool);

void *base_pool_alloc(base_pool_t *pool, size_t size);   /* aligned to 16 */
void *base_pool_calloc(base_pool_t *pool, size_t size);
char *base_pool_strndup(base_pool_t *pool, const char *s, size_t len); /* NUL-terminated */
base_slice_t base_pool_slice_dup(base_pool_t *pool, base_slice_t s);
/* Printf into the pool; NULL on allocation failure. */
char *base_pool_printf(base_pool_t *pool, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Registers cb(data) to run at destroy/reset. Returns 0, or -1 on allocation failure. */
int base_pool_cleanup_add(base_pool_t *pool, base_pool_cleanup_cb cb, void *data);
/* Bytes currently allocated from the system for this pool (for tests and metrics). */
size_t base_pool_footprint(const base_pool_t *pool);

/* Injectable allocator (for tests that make malloc fail). NULL restores malloc/free. */
typedef struct base_allocator {
    void *(*malloc_fn)(size_t size);
    void (*free_fn)(void *ptr);
} base_allocator_t;
void base_set_allocator(const base_allocator_t *a);
void *base_malloc(size_t size);
void *base_calloc(size_t n, size_t size);
void *base_realloc(void *ptr, size_t size);
void base_free(void *ptr);
/* A NUL-terminated heap copy of n bytes of s (base_free it), or NULL. */
char *base_strndup(const char *s, size_t n);

#endif
