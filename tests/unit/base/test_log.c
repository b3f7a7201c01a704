/* test_log.c - the log line formats: logrus's field order and quoting, typed fields, levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"

static char path[64];
static int fd = -1;

static void start(int json, base_log_level_t level)
{
    strcpy(path, "/tmp/remora-log-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    base_log_options_t o = { .level = level, .json = json, .fd = fd, .app_id = "app", .instance = "box",
                             .version = "1.15.0" };
    base_log_init(&o);
}

/* Everything written since start(), the timestamp replaced by "T". */
static const char *written(void)
{
    static char buf[8192], out[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    const char *p = buf;
    size_t o = 0;
    while (*p && o < sizeof out - 2) {
        const char *t = strstr(p, "20");
        const char *z = t ? strchr(t, 'Z') : NULL;
        if (!t || !z || z - t != 29) { /* 2026-01-02T03:04:05.123456789Z */
            size_t k = strlen(p);
            memcpy(out + o, p, k < sizeof out - 1 - o ? k : sizeof out - 1 - o);
            o += k < sizeof out - 1 - o ? k : sizeof out - 1 - o;
            break;
        }
        memcpy(out + o, p, (size_t)(t - p));
        o += (size_t)(t - p);
        out[o++] = 'T';
        p = z + 1;
    }
    out[o] = '\0';
    return out;
}

static int teardown(void **state)
{
    (void)state;
    base_log_options_t o = { .level = BASE_LOG_INFO, .fd = 1, .instance = "test" };
    base_log_init(&o);
    close(fd);
    unlink(path);
    return 0;
}

static void test_text_order_and_quoting(void **state)
{
    (void)state;
    start(0, BASE_LOG_INFO);
    LOG_INFO("dapr.runtime", "plain %s", "words");
    base_log_kv(BASE_LOG_WARN, "dapr.runtime.http", "x", "zz", "a b", "method", "GET", "empty", "", NULL);
    assert_string_equal(written(),
                        "time=\"T\" level=info msg=\"plain words\" app_id=app instance=box scope=dapr.runtime "
                        "type=log ver=1.15.0\n"
                        "time=\"T\" level=warning msg=x app_id=app empty= instance=box method=GET "
                        "scope=dapr.runtime.http type=log ver=1.15.0 zz=\"a b\"\n");
}

static void test_text_escapes(void **state)
{
    (void)state;
    start(0, BASE_LOG_INFO);
    base_log_kv(BASE_LOG_INFO, "s", "m", "k", "a\"b\\c\nd\te\rf\x01g", "u", "Go-http-client/1.1", "c", "a:b", NULL);
    assert_string_equal(written(), "time=\"T\" level=info msg=m app_id=app c=\"a:b\" instance=box "
                                   "k=\"a\\\"b\\\\c\\nd\\te\\rf\\x01g\" scope=s type=log u=Go-http-client/1.1 ver=1.15.0\n");
}

static void test_typed_fields(void **state)
{
    (void)state;
    start(0, BASE_LOG_INFO);
    const base_log_field_t f[] = { { "size", NULL, 12 }, { "code", NULL, -1 }, { "method", "GET /x", 0 } };
    base_log_fields(BASE_LOG_INFO, "s", "HTTP API Called", f, 3);
    assert_string_equal(written(), "time=\"T\" level=info msg=\"HTTP API Called\" app_id=app code=-1 instance=box "
                                   "method=\"GET /x\" scope=s size=12 type=log ver=1.15.0\n");
    teardown(state);
    start(1, BASE_LOG_INFO);
    base_log_fields(BASE_LOG_INFO, "s", "HTTP API Called", f, 3);
    assert_string_equal(written(), "{\"app_id\":\"app\",\"code\":-1,\"instance\":\"box\",\"level\":\"info\","
                                   "\"method\":\"GET /x\",\"msg\":\"HTTP API Called\",\"scope\":\"s\",\"size\":12,"
                                   "\"time\":\"T\",\"type\":\"log\",\"ver\":\"1.15.0\"}\n");
}

static void test_extra_replaces_fixed(void **state)
{
    (void)state;
    start(1, BASE_LOG_INFO);
    const base_log_field_t f[] = { { "instance", "pod-1", 0 } };
    base_log_fields(BASE_LOG_INFO, "s", "m", f, 1);
    assert_string_equal(written(), "{\"app_id\":\"app\",\"instance\":\"pod-1\",\"level\":\"info\",\"msg\":\"m\","
                                   "\"scope\":\"s\",\"time\":\"T\",\"type\":\"log\",\"ver\":\"1.15.0\"}\n");
}

static void test_levels(void **state)
{
    (void)state;
    start(0, BASE_LOG_WARN);
    LOG_INFO("s", "hidden");
    base_log_kv(BASE_LOG_INFO, "s", "hidden too", NULL);
    const base_log_field_t f[] = { { "k", "v", 0 } };
    base_log_fields(BASE_LOG_INFO, "s", "shown", f, 1); /* the caller decides */
    assert_string_equal(written(), "time=\"T\" level=info msg=shown app_id=app instance=box k=v scope=s type=log "
                                   "ver=1.15.0\n");
}

#define T(fn) cmocka_unit_test_teardown(fn, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_text_order_and_quoting), T(test_text_escapes), T(test_typed_fields),
        T(test_extra_replaces_fixed),   T(test_levels),
    };
    return cmocka_run_group_tests_name("base_log", tests, NULL, NULL);
}
