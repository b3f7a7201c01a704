#include "base/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

static struct {
    base_log_level_t level;
    int json;
    int fd;
    char app_id[256];
    char instance[256];
    char version[64];
} cfg = { BASE_LOG_INFO, 0, 1, "", "", "" };

static const char *const level_names[] = { "debug", "info", "warning", "error", "fatal" };

static void copy_field(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

void base_log_init(const base_log_options_t *o)
{
    cfg.level = o->level;
    cfg.json = o->json;
    cfg.fd = o->fd > 0 ? o->fd : 1;
    copy_field(cfg.app_id, sizeof(cfg.app_id), o->app_id);
    copy_field(cfg.version, sizeof(cfg.version), o->version);
    if (o->instance)
        copy_field(cfg.instance, sizeof(cfg.instance), o->instance);
    else if (gethostname(cfg.instance, sizeof(cfg.instance)) != 0)
        copy_field(cfg.instance, sizeof(cfg.instance), "localhost");
    cfg.instance[sizeof(cfg.instance) - 1] = '\0';
}

int base_log_level_parse(const char *s, base_log_level_t *out)
{
    static const struct { const char *name; base_log_level_t level; } names[] = {
        { "debug", BASE_LOG_DEBUG }, { "info", BASE_LOG_INFO }, { "warn", BASE_LOG_WARN },
        { "warning", BASE_LOG_WARN }, { "error", BASE_LOG_ERROR }, { "fatal", BASE_LOG_FATAL },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

int base_log_enabled(base_log_level_t level)
{
    return level >= cfg.level;
}

static void timestamp(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%09ldZ", ts.tv_nsec);
}

/* logrus's TextFormatter: a value is bare when every character is a letter, a digit or one of
 * -._/@^+ (so an empty value is bare too), else quoted as Go's %q quotes it. */
static int text_plain(const char *v)
{
    for (const char *p = v; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '_' || c == '/' || c == '@' || c == '^' || c == '+'))
            return 0;
    }
    return 1;
}

static void text_value(base_buf_t *b, const char *v)
{
    if (text_plain(v)) {
        base_buf_append_str(b, v);
        return;
    }
    base_buf_append(b, "\"", 1);
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            base_buf_append(b, esc, 2);
        } else if (c == '\n') {
            base_buf_append(b, "\\n", 2);
        } else if (c == '\r') {
            base_buf_append(b, "\\r", 2);
        } else if (c == '\t') {
            base_buf_append(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            base_buf_printf(b, "\\x%02x", c);
        } else {
            base_buf_append(b, p, 1);
        }
    }
    base_buf_append(b, "\"", 1);
}

static void text_pair(base_buf_t *b, const char *k, const char *v)
{
    base_buf_printf(b, " %s=", k);
    text_value(b, v);
}

/* Every field of a line but time, level and msg, sorted by name as logrus sorts them; an extra
 * field named like a fixed one replaces it (logrus's WithFields). Returns the count. */
static size_t collect(base_log_field_t *out, const char *scope, const base_log_field_t *extra,
                      size_t n)
{
    const base_log_field_t fixed[] = {
        { "app_id", cfg.app_id, 0 }, { "instance", cfg.instance, 0 }, { "scope", scope, 0 },
        { "type", "log", 0 },        { "ver", cfg.version, 0 },
    };
    size_t k = 0;
    if (n > BASE_LOG_MAX_FIELDS)
        n = BASE_LOG_MAX_FIELDS;
    for (size_t i = 0; i < n; i++)
        if (extra[i].key)
            out[k++] = extra[i];
    size_t nextra = k;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        size_t j = 0;
        while (j < nextra && strcmp(out[j].key, fixed[i].key) != 0)
            j++;
        if (j == nextra)
            out[k++] = fixed[i];
    }
    for (size_t i = 1; i < k; i++) {
        base_log_field_t f = out[i];
        size_t j = i;
        for (; j > 0 && strcmp(out[j - 1].key, f.key) > 0; j--)
            out[j] = out[j - 1];
        out[j] = f;
    }
    return k;
}

static void json_line(base_buf_t *b, const char *lvl, const char *msg, const char *ts,
                      const base_log_field_t *f, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    /* logrus encodes a map: every key sorted, time, level and msg included */
    const base_log_field_t head[] = { { "level", lvl, 0 }, { "msg", msg, 0 }, { "time", ts, 0 } };
    size_t h = 0;
    for (size_t i = 0; i <= n; i++) {
        while (h < 3 && (i == n || strcmp(head[h].key, f[i].key) < 0)) {
            cJSON_AddStringToObject(o, head[h].key, head[h].str);
            h++;
        }
        if (i == n)
            break;
        if (f[i].str)
            cJSON_AddStringToObject(o, f[i].key, f[i].str);
        else
            cJSON_AddNumberToObject(o, f[i].key, (double)f[i].num);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return;
    base_buf_append_str(b, s);
    cJSON_free(s);
}

static void emit(base_log_level_t level, const char *scope, const char *msg,
                 const base_log_field_t *extra, size_t nextra)
{
    char ts[64];
    timestamp(ts, sizeof(ts));
    base_buf_t b = BASE_BUF_INIT;
    const char *lvl = level_names[level];
    base_log_field_t f[BASE_LOG_MAX_FIELDS + 5];
    size_t n = collect(f, scope, extra, nextra);

    if (cfg.json) {
        json_line(&b, lvl, msg, ts, f, n);
        if (!b.base)
            return;
    } else {
        /* logrus's text order: time, level, msg, then the other fields by name. */
        base_buf_append_str(&b, "time=");
        text_value(&b, ts);
        text_pair(&b, "level", lvl);
        text_pair(&b, "msg", msg);
        for (size_t i = 0; i < n; i++) {
            if (f[i].str)
                text_pair(&b, f[i].key, f[i].str);
            else
                base_buf_printf(&b, " %s=%lld", f[i].key, f[i].num);
        }
    }
    base_buf_append(&b, "\n", 1);
    if (b.base) {
        ssize_t w = write(cfg.fd, b.base, b.len);
        (void)w; /* nowhere to report a failed log write */
    }
    base_buf_free(&b);
}

void base_log_fields(base_log_level_t level, const char *scope, const char *msg,
                     const base_log_field_t *fields, size_t count)
{
    emit(level, scope, msg, fields, count);
}

void base_log_kv(base_log_level_t level, const char *scope, const char *msg, ...)
{
    if (!base_log_enabled(level))
        return;
    base_log_field_t f[BASE_LOG_MAX_FIELDS];
    size_t n = 0;
    va_list ap;
    va_start(ap, msg);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (n < BASE_LOG_MAX_FIELDS)
            f[n++] = (base_log_field_t){ k, v ? v : "", 0 };
    }
    va_end(ap);
    emit(level, scope, msg, f, n);
}

void base_log(base_log_level_t level, const char *scope, const char *fmt, ...)
{
    if (!base_log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(level, scope, msg, NULL, 0);
}
