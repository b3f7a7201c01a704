/* test_target.c - the exporters' endpoint settings into host, port and request target. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "export_internal.h"

static void url_ok(const char *url, const char *host, int port, const char *target)
{
    export_target_t t;
    char err[128] = "";
    if (export_target_from_url(url, &t, err, sizeof err) != 0)
        fail_msg("%s: %s", url, err);
    assert_string_equal(t.host, host);
    assert_int_equal(t.port, port);
    assert_string_equal(t.target, target);
    export_target_free(&t);
}

static void url_bad(const char *url, const char *why)
{
    export_target_t t;
    char err[128] = "";
    assert_int_equal(export_target_from_url(url, &t, err, sizeof err), -1);
    if (!strstr(err, why))
        fail_msg("%s: \"%s\" does not say \"%s\"", url, err, why);
    assert_null(t.host);
    assert_null(t.target);
}

static void otlp_ok(const char *ep, const char *host, int port, const char *target)
{
    export_target_t t;
    char err[128] = "";
    if (export_target_from_otlp(ep, &t, err, sizeof err) != 0)
        fail_msg("%s: %s", ep, err);
    assert_string_equal(t.host, host);
    assert_int_equal(t.port, port);
    assert_string_equal(t.target, target);
    export_target_free(&t);
}

static void test_zipkin_urls(void **state)
{
    (void)state;
    url_ok("http://127.0.0.1:9411/api/v2/spans", "127.0.0.1", 9411, "/api/v2/spans");
    url_ok("HTTP://zipkin/api/v2/spans", "zipkin", 80, "/api/v2/spans");
    url_ok("http://zipkin.tracing.svc:9411", "zipkin.tracing.svc", 9411, "/");
    url_ok("http://[::1]:9411/api/v2/spans?x=1#frag", "[::1]", 9411, "/api/v2/spans?x=1");
    url_ok("http://[::1]/p", "[::1]", 80, "/p");
    url_bad("https://zipkin:9411/api/v2/spans", "TLS");
    url_bad("zipkin:9411/api/v2/spans", "not an http:// URL");
    url_bad("http://user:pw@zipkin:9411/", "credentials");
    url_bad("http://:9411/x", "no host");
    url_bad("http://[]:9411/x", "no host");
    url_bad("http://[::1:9411/x", "IPv6");
    url_bad("http://[::1]x/x", "after the IPv6");
    url_bad("http://zipkin:/x", "port");
    url_bad("http://zipkin:0/x", "port");
    url_bad("http://zipkin:65536/x", "port");
    url_bad("http://zipkin:94a1/x", "port");
    url_bad("http://zipkin:9411/a b", "space");
    url_bad("http://zipkin:9411/a\r\nX: y", "control");
    url_bad("http://zip kin:9411/x", "invalid host");
}

static void test_otlp_endpoints(void **state)
{
    (void)state;
    otlp_ok("collector:4318", "collector", 4318, "/v1/traces");
    otlp_ok("collector:4318/", "collector", 4318, "/v1/traces");
    otlp_ok("http://collector:4318", "collector", 4318, "/v1/traces");
    otlp_ok("collector:4318/custom/traces", "collector", 4318, "/custom/traces");
    otlp_ok("collector", "collector", 80, "/v1/traces");
    otlp_ok("[::1]:4318", "[::1]", 4318, "/v1/traces");
    export_target_t t;
    char err[128];
    assert_int_equal(export_target_from_otlp("https://collector:4318", &t, err, sizeof err), -1);
    assert_int_equal(export_target_from_otlp(":4318", &t, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zipkin_urls),
        cmocka_unit_test(test_otlp_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
