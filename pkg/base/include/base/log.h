/*
 * log.h - Dapr-shaped structured logs.
 *
 * Every line carries Dapr's fields: time, level, type ("log"), msg, scope, instance, app_id,
 * ver; text (logfmt) by default, one JSON object per line with base_log_init(.json = 1). Field
 * order is logrus's: sorted by name (in text after time, level and msg), extra fields included.
 * Lines are written with one write(2) each, so lines from several threads never interleave.
 * base_log_init() runs once at start-up, before threads exist; logging is thread-safe after.
 */
#ifndef BASE_LOG_H
#define BASE_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum base_log_level {
    BASE_LOG_DEBUG = 0,
    BASE_LOG_INFO,
    BASE_LOG_WARN,
    BASE_LOG_ERROR,
    BASE_LOG_FATAL,
} base_log_level_t;

typedef struct base_log_options {
    base_log_level_t level;
    int json;
    const char *app_id;   /* copied */
    const char *instance; /* copied; NULL → host name */
    const char *version;  /* copied */
    int fd;               /* 0 → stdout */
} base_log_options_t;

void base_log_init(const base_log_options_t *opts);
/* Parses "debug", "info", "warn", "error", "fatal". Returns 0 or -1. */
int base_log_level_parse(const char *s, base_log_level_t *out);
int base_log_enabled(base_log_level_t level);

/* Extra key/value fields: pass pairs of (const char *key, const char *value) then NULL. */
void base_log_kv(base_log_level_t level, const char *scope, const char *msg, ...);

/* A typed extra field for base_log_fields(): the string `str`, or the integer `num` when str
 * is NULL (a JSON number, as logrus writes a Go int). */
typedef struct base_log_field {
    const char *key;
    const char *str;
    long long num;
} base_log_field_t;

/* One line with typed extra fields (at most BASE_LOG_MAX_FIELDS are written). Written whatever
 * the configured level: the caller decides, with base_log_enabled() when it should (daprd's
 * API-log logger is pinned at info, so its lines survive --log-level warn). */
#define BASE_LOG_MAX_FIELDS 16
void base_log_fields(base_log_level_t level, const char *scope, const char *msg,
                     const base_log_field_t *fields, size_t count);
void base_log(base_log_level_t level, const char *scope, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define BASE_LOG_SCOPE_RUNTIME "dapr.runtime"
#define BASE_LOG_SCOPE_HTTP "dapr.runtime.http"
#define BASE_LOG_SCOPE_HTTP_INFO "dapr.runtime.http-info"
#define BASE_LOG_SCOPE_CONFIG "dapr.runtime.config"

#define LOG_DEBUG(scope, ...) do { if (base_log_enabled(BASE_LOG_DEBUG)) base_log(BASE_LOG_DEBUG, scope, __VA_ARGS__); } while (0)
#define LOG_INFO(scope, ...) base_log(BASE_LOG_INFO, scope, __VA_ARGS__)
#define LOG_WARN(scope, ...) base_log(BASE_LOG_WARN, scope, __VA_ARGS__)
#define LOG_ERROR(scope, ...) base_log(BASE_LOG_ERROR, scope, __VA_ARGS__)

#endif
