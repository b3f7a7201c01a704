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

/* logfmt value: bare when it is a plain token, quoted with \" \\ \n escapes otherwise. */
static void text_value(base_buf_t *b, const char *v)
{
    int plain = *v != '\0';
    for (const char *p = v; *p && plain; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p >= 0x7f)
            plain = 0;
    if (plain) {
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

static void emit(base_log_level_t level, const char *scope, const char *msg, va_list *kv)
{
    char ts[64];
    timestamp(ts, sizeof(ts));
    base_buf_t b = BASE_BUF_INIT;
    const char *lvl = level_names[level];

    if (cfg.json) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddStringToObject(o, "app_id", cfg.app_id);
        cJSON_AddStringToObject(o, "instance", cfg.instance);
        cJSON_AddStringToObject(o, "level", lvl);
        cJSON_AddStringToObject(o, "msg", msg);
        cJSON_AddStringToObject(o, "scope", scope);
        cJSON_AddStringToObject(o, "time", ts);
        cJSON_AddStringToObject(o, "type", "log");
        cJSON_AddStringToObject(o, "ver", cfg.version);
        if (kv) {
            const char *k;
            while ((k = va_arg(*kv, const char *)) != NULL) {
                const char *v = va_arg(*kv, const char *);
                cJSON_AddStringToObject(o, k, v ? v : "");
            }
        }
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!s)
            return;
        base_buf_append_str(&b, s);
        cJSON_free(s);
    } else {
        /* Dapr's text order: time, level, msg, then the other fields by name. */
        base_buf_append_str(&b, "time=");
        text_value(&b, ts);
        text_pair(&b, "level", lvl);
        text_pair(&b, "msg", msg);
        if (kv) {
            const char *k;
            while ((k = va_arg(*kv, const char *)) != NULL) {
                const char *v = va_arg(*kv, const char *);
                text_pair(&b, k, v ? v : "");
            }
        }
        text_pair(&b, "app_id", cfg.app_id);
        text_pair(&b, "instance", cfg.instance);
        text_pair(&b, "scope", scope);
        text_pair(&b, "type", "log");
        text_pair(&b, "ver", cfg.version);
    }
    base_buf_append(&b, "\n", 1);
    if (b.base) {
        ssize_t w = write(cfg.fd, b.base, b.len);
        (void)w; /* nowhere to report a failed log write */
    }
    base_buf_free(&b);
}

void base_log_kv(base_log_level_t level, const char *scope, const char *msg, ...)
{
    if (!base_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, msg);
    emit(level, scope, msg, &ap);
    va_end(ap);
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
    emit(level, scope, msg, NULL);
}
