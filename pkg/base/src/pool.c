#include "base/pool.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define ALIGN 16u
#define ALIGN_UP(n) (((n) + (ALIGN - 1)) & ~(size_t)(ALIGN - 1))

typedef struct block {
    struct block *next;
    size_t size;
    size_t used;
    _Alignas(16) char data[];
} block_t;

typedef struct large {
    struct large *next;
} large_t;

typedef struct cleanup {
    struct cleanup *next;
    base_pool_cleanup_cb cb;
    void *data;
} cleanup_t;

struct base_pool {
    block_t *head;    /* first block, kept across reset; allocated with the pool */
    block_t *current; /* where allocation is attempted */
    large_t *large;
    cleanup_t *cleanups;
    size_t block_size;
    size_t footprint;
};

static base_allocator_t allocator = { malloc, free };

void base_set_allocator(const base_allocator_t *a)
{
    allocator = a ? *a : (base_allocator_t){ malloc, free };
}

void *base_malloc(size_t size)
{
    return allocator.malloc_fn(size);
}

void *base_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = allocator.malloc_fn(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *base_realloc(void *ptr, size_t size)
{
    /* realloc cannot be routed through an injected malloc; tests that inject failures go
     * through base_malloc, and growth paths here handle NULL the same way. */
    if (allocator.malloc_fn != malloc)
        return NULL;
    return realloc(ptr, size);
}

void base_free(void *ptr)
{
    if (ptr)
        allocator.free_fn(ptr);
}

static block_t *block_new(size_t size)
{
    block_t *b = base_malloc(sizeof(block_t) + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

/* Pools of the default size, kept per thread for reuse: a request creates several (one per
 * layer it crosses) and a block of this size is beyond malloc's per-thread cache, so each
 * create and destroy would otherwise go through malloc's slow path. Not under AddressSanitizer,
 * which must see every pool's memory freed; not when a test injects its own allocator. */
#define CACHE_BLOCK 4096
#define CACHE_MAX 64
#if defined(__SANITIZE_ADDRESS__)
#define POOL_CACHE 0
#else
#define POOL_CACHE 1
#endif
static _Thread_local base_pool_t *cache[CACHE_MAX];
static _Thread_local unsigned cached;

base_pool_t *base_pool_create(size_t block_size)
{
    if (block_size == 0)
        block_size = CACHE_BLOCK;
    if (POOL_CACHE && block_size == CACHE_BLOCK && cached && allocator.malloc_fn == malloc)
        return cache[--cached];
    /* the pool and its first block in one allocation */
    base_pool_t *p = base_malloc(ALIGN_UP(sizeof(*p)) + sizeof(block_t) + block_size);
    if (!p)
        return NULL;
    p->head = (block_t *)(void *)((char *)p + ALIGN_UP(sizeof(*p)));
    p->head->next = NULL;
    p->head->size = block_size;
    p->head->used = 0;
    p->current = p->head;
    p->large = NULL;
    p->cleanups = NULL;
    p->block_size = block_size;
    p->footprint = sizeof(*p) + sizeof(block_t) + block_size;
    return p;
}

/* Back to one empty first block: cleanups run, larger allocations and further blocks freed. */
static void release(base_pool_t *p)
{
    /* Cleanups run first, newest first, while the memory they may touch is still valid. */
    cleanup_t *c = p->cleanups;
    p->cleanups = NULL;
    for (; c; c = c->next)
        c->cb(c->data);
    for (large_t *l = p->large, *next; l; l = next) {
        next = l->next;
        base_free(l);
    }
    p->large = NULL;
    for (block_t *b = p->head->next, *next; b; b = next) {
        next = b->next;
        base_free(b);
    }
    p->head->next = NULL;
    p->head->used = 0;
    p->current = p->head;
    p->footprint = sizeof(*p) + sizeof(block_t) + p->block_size;
}

void base_pool_reset(base_pool_t *pool)
{
    release(pool);
}

void base_pool_cache_release(void)
{
    while (cached)
        base_free(cache[--cached]);
}

void base_pool_destroy(base_pool_t *pool)
{
    if (!pool)
        return;
    release(pool);
    if (POOL_CACHE && pool->block_size == CACHE_BLOCK && cached < CACHE_MAX && allocator.malloc_fn == malloc) {
        cache[cached++] = pool;
        return;
    }
    base_free(pool);
}

void *base_pool_alloc(base_pool_t *p, size_t size)
{
    size_t need = ALIGN_UP(size ? size : 1);
    if (need > p->block_size / 4) {
        if (need > SIZE_MAX - sizeof(large_t) - ALIGN)
            return NULL;
        large_t *l = base_malloc(ALIGN_UP(sizeof(large_t)) + need);
        if (!l)
            return NULL;
        l->next = p->large;
        p->large = l;
        p->footprint += ALIGN_UP(sizeof(large_t)) + need;
        return (char *)l + ALIGN_UP(sizeof(large_t));
    }
    for (block_t *b = p->current; b; b = b->next) {
        if (b->size - b->used >= need) {
            void *r = b->data + b->used;
            b->used += need;
            return r;
        }
    }
    block_t *b = block_new(p->block_size);
    if (!b)
        return NULL;
    p->footprint += sizeof(block_t) + p->block_size;
    /* New blocks go at the end of the chain starting from current; older, nearly full
     * blocks are skipped from now on. */
    block_t *tail = p->current;
    while (tail->next)
        tail = tail->next;
    tail->next = b;
    if (p->current->size - p->current->used < 64)
        p->current = b;
    b->used = need;
    return b->data;
}

void *base_pool_calloc(base_pool_t *pool, size_t size)
{
    void *p = base_pool_alloc(pool, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *base_pool_strndup(base_pool_t *pool, const char *s, size_t len)
{
    char *d = base_pool_alloc(pool, len + 1);
    if (!d)
        return NULL;
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

base_slice_t base_pool_slice_dup(base_pool_t *pool, base_slice_t s)
{
    char *d = base_pool_strndup(pool, s.base, s.len);
    return d ? base_slice(d, s.len) : BASE_SLICE_NULL;
}

char *base_pool_printf(base_pool_t *pool, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *d = NULL;
    if (n >= 0 && (d = base_pool_alloc(pool, (size_t)n + 1)) != NULL)
        vsnprintf(d, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return d;
}

int base_pool_cleanup_add(base_pool_t *pool, base_pool_cleanup_cb cb, void *data)
{
    cleanup_t *c = base_pool_alloc(pool, sizeof(*c));
    if (!c)
        return -1;
    c->cb = cb;
    c->data = data;
    c->next = pool->cleanups;
    pool->cleanups = c;
    return 0;
}

size_t base_pool_footprint(const base_pool_t *pool)
{
    return pool->footprint;
}

char *base_strndup(const char *s, size_t n)
{
    char *d = base_malloc(n + 1);
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}
