/* util.c - strings, arrays, files and environment expansion for the config module. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/pool.h"
#include "config_internal.h"

char *cfg_strndup(const char *s, size_t len)
{
    char *p = base_malloc(len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *cfg_strdup(const char *s)
{
    return s ? cfg_strndup(s, strlen(s)) : NULL;
}

int cfg_set_str(char **dst, const char *s)
{
    char *copy = NULL;
    if (s && !(copy = cfg_strdup(s)))
        return -1;
    base_free(*dst);
    *dst = copy;
    return 0;
}

/* Capacity is implied by the count: 0, then 4, 8, 16…, so no field is needed for it. */
static size_t capacity_for(size_t count)
{
    if (count == 0)
        return 0;
    size_t cap = 4;
    while (cap < count)
        cap *= 2;
    return cap;
}

void *cfg_push(void *arrp, size_t *count, size_t elem_size)
{
    char *arr;
    memcpy(&arr, arrp, sizeof(arr));
    size_t n = *count;
    if (n == capacity_for(n)) {
        size_t cap = n ? n * 2 : 4;
        if (cap > SIZE_MAX / elem_size)
            return NULL;
        /* base_realloc() refuses injected allocators, so grow by copy. */
        char *grown = base_malloc(cap * elem_size);
        if (!grown)
            return NULL;
        if (n)
            memcpy(grown, arr, n * elem_size);
        base_free(arr);
        arr = grown;
        memcpy(arrp, &arr, sizeof(arr));
    }
    char *slot = arr + n * elem_size;
    memset(slot, 0, elem_size);
    *count = n + 1;
    return slot;
}

void cfg_free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        base_free(v[i]);
    base_free(v);
}

void cfg_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* One line: a path or a YAML scalar may carry a newline. */
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

int cfg_read_file(const char *path, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (e) {
        close(fd);
        errno = e;
        return -1;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 2 : 4096, n = 0;
    char *buf = base_malloc(cap);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > CFG_MAX_FILE_SIZE) {
                base_free(buf);
                close(fd);
                errno = EFBIG;
                return -1;
            }
            char *grown = base_malloc(cap * 2);
            if (!grown) {
                base_free(buf);
                close(fd);
                errno = ENOMEM;
                return -1;
            }
            memcpy(grown, buf, n);
            base_free(buf);
            buf = grown;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            base_free(buf);
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

/* ---- os.ExpandEnv (Go's os.Expand with os.Getenv) ---- */

static int shell_special(char c)
{
    return strchr("*#$@!?-0123456789", c) != NULL && c != '\0';
}

static int alnum_(char c)
{
    return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Go's getShellName: the variable name after '$' and how many bytes the reference spans.
 * name_len 0 with width > 0 is bad syntax whose bytes are dropped; both 0 keeps the '$'. */
static void shell_name(const char *s, size_t len, const char **name, size_t *name_len, size_t *width)
{
    *name = s;
    *name_len = 0;
    *width = 0;
    if (s[0] == '{') {
        if (len > 2 && shell_special(s[1]) && s[2] == '}') {
            *name = s + 1;
            *name_len = 1;
            *width = 3;
            return;
        }
        for (size_t i = 1; i < len; i++) {
            if (s[i] == '}') {
                if (i == 1) {
                    *width = 2; /* "${}" */
                    return;
                }
                *name = s + 1;
                *name_len = i - 1;
                *width = i + 1;
                return;
            }
        }
        *width = 1; /* "${" without "}" */
        return;
    }
    if (shell_special(s[0])) {
        *name_len = 1;
        *width = 1;
        return;
    }
    size_t i = 0;
    while (i < len && alnum_(s[i]))
        i++;
    *name_len = i;
    *width = i;
}

char *cfg_expand_env(const char *s, size_t len, size_t *out_len)
{
    base_buf_t b = BASE_BUF_INIT;
    int ok = base_buf_reserve(&b, len + 1) == 0;
    size_t i = 0;
    for (size_t j = 0; ok && j < len; j++) {
        if (s[j] != '$' || j + 1 >= len)
            continue;
        ok = base_buf_append(&b, s + i, j - i) == 0;
        const char *name;
        size_t name_len, width;
        shell_name(s + j + 1, len - j - 1, &name, &name_len, &width);
        if (name_len == 0 && width == 0) {
            ok = ok && base_buf_append(&b, "$", 1) == 0;
        } else if (name_len > 0) {
            char *key = cfg_strndup(name, name_len);
            const char *val = key ? getenv(key) : NULL;
            ok = ok && key && (!val || base_buf_append_str(&b, val) == 0);
            base_free(key);
        }
        j += width;
        i = j + 1;
    }
    if (ok && i < len)
        ok = base_buf_append(&b, s + i, len - i) == 0;
    if (ok)
        ok = base_buf_append(&b, "", 1) == 0;
    if (!ok) {
        base_buf_free(&b);
        return NULL;
    }
    *out_len = b.len - 1;
    return b.base;
}
