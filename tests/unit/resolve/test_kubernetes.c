/* The kubernetes resolver: target names as daprd builds them, and real DNS lookups through
 * uv_getaddrinfo of names that resolve without a DNS server ("localhost"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "support.h"

static resolve_t *k8s_new(tcfg_t *t)
{
    char err[256] = "";
    resolve_t *r = resolve_new(&t->cfg, err, sizeof(err));
    if (!r)
        fail_msg("resolve_new: %s", err);
    assert_string_equal(resolve_component(r), "kubernetes");
    return r;
}

static void expect_target(resolve_t *r, const char *id, const char *ns, const config_kv_t *data,
                          size_t n, const char *want)
{
    char out[300];
    int len = resolve_kubernetes_target(r, id, ns, data, n, out, sizeof(out));
    assert_int_equal(len, (int)strlen(want));
    assert_string_equal(out, want);
}

/* components-contrib kubernetes_test.go cases. */
static void test_targets(void **state)
{
    (void)state;
    tcfg_t t;
    tcfg_init(&t, "kubernetes", "self", 1234);
    resolve_t *r = k8s_new(&t);
    expect_target(r, "myid", "abc", NULL, 0, "myid-dapr.abc.svc.cluster.local:1234");
    expect_target(r, "myid", NULL, NULL, 0, "myid-dapr.default.svc.cluster.local:1234");
    char small[8];
    assert_int_equal(resolve_kubernetes_target(r, "myid", "abc", NULL, 0, small, sizeof(small)), -1);
    resolve_free(r);

    tcfg_init(&t, "kubernetes", "self", 1234);
    tcfg_set(&t, "clusterDomain", "mydomain.com");
    r = k8s_new(&t);
    expect_target(r, "myid", "abc", NULL, 0, "myid-dapr.abc.svc.mydomain.com:1234");
    resolve_free(r);

    tcfg_init(&t, "kubernetes", "self", 1234);
    tcfg_set(&t, "clusterDomain", "mydomain.com"); /* the template wins */
    tcfg_set(&t, "template", "{{.ID}}-{{.Namespace}}.internal:{{.Port}}");
    r = k8s_new(&t);
    expect_target(r, "myid", "abc", NULL, 0, "myid-abc.internal:1234");
    resolve_free(r);

    tcfg_init(&t, "kubernetes", "self", 1234);
    tcfg_set(&t, "template", "{{ .ID }}-{{.Data.region}}.internal:{{.Port}}");
    r = k8s_new(&t);
    config_kv_t data[] = { { "region", "myland" } };
    expect_target(r, "myid", "abc", data, 1, "myid-myland.internal:1234");
    expect_target(r, "myid", "abc", NULL, 0, "myid-.internal:1234");
    resolve_free(r);

    /* kubernetes mode defaults to kubernetes, port 50002 unless the flag says otherwise */
    tcfg_init(&t, NULL, "self", 0);
    t.cfg.mode = CONFIG_MODE_KUBERNETES;
    t.cfg.namespace_ = "prod";
    r = k8s_new(&t);
    expect_target(r, "orders", NULL, NULL, 0, "orders-dapr.prod.svc.cluster.local:50002");
    resolve_free(r);
}

static void expect_bad_template(const char *tmpl, const char *needle)
{
    tcfg_t t;
    char err[256] = "";
    tcfg_init(&t, "kubernetes", "self", 1234);
    tcfg_set(&t, "template", tmpl);
    assert_null(resolve_new(&t.cfg, err, sizeof(err)));
    if (!strstr(err, needle) || !strstr(err, "not supported by Remora"))
        fail_msg("template %s: %s", tmpl, err);
}

static void test_bad_templates(void **state)
{
    (void)state;
    expect_bad_template("{{.Foo}}.svc", "{{.Foo}}");
    expect_bad_template("{{if .ID}}x{{end}}", "{{if .ID}}");
    expect_bad_template("{{.ID", "{{.ID");
    expect_bad_template("{{.Data.a-b}}", "{{.Data.a-b}}");
}

typedef struct fixture {
    uv_loop_t loop;
} fixture_t;

static resolve_worker_t *worker_for(fixture_t *f, resolve_t *r)
{
    uv_loop_init(&f->loop);
    resolve_worker_t *w = resolve_worker_new(r, &f->loop);
    assert_non_null(w);
    return w;
}

/* A name that resolves gives one of its addresses with the internal port; the next lookup
 * is a cache hit (no new query). */
static void test_lookup_localhost(void **state)
{
    (void)state;
    fixture_t f;
    tcfg_t t;
    tcfg_init(&t, "kubernetes", "self", 1234);
    tcfg_set(&t, "template", "localhost");
    resolve_t *r = k8s_new(&t);
    resolve_worker_t *w = worker_for(&f, r);

    rec_t a, b;
    rec_lookup(w, &a, "orders", NULL);
    run_until(&f.loop, &a.fired, 10000);
    assert_false(a.sync);
    if (a.status != 0)
        fail_msg("localhost: %s", a.error);
    if (strcmp(a.address, "127.0.0.1:1234") != 0 && strcmp(a.address, "[::1]:1234") != 0)
        fail_msg("unexpected address %s", a.address);
    assert_int_equal(resolve_worker_queries(w), 1);

    rec_lookup(w, &b, "orders", NULL);
    run_until(&f.loop, &b.fired, 10000);
    assert_false(b.sync);
    assert_int_equal(b.status, 0);
    assert_int_equal(resolve_worker_queries(w), 1);

    /* another namespace is another name: a new query */
    rec_lookup(w, &b, "orders", "other");
    run_until(&f.loop, &b.fired, 10000);
    assert_int_equal(b.status, 0);
    assert_int_equal(resolve_worker_queries(w), 2);

    resolve_worker_free(w);
    loop_finish(&f.loop);
    resolve_free(r);
}

/* The template's own port wins over the internal port. */
static void test_lookup_template_port(void **state)
{
    (void)state;
    fixture_t f;
    tcfg_t t;
    tcfg_init(&t, "kubernetes", "self", 1234);
    tcfg_set(&t, "template", "127.0.0.1:{{.Port}}0");
    resolve_t *r = k8s_new(&t);
    resolve_worker_t *w = worker_for(&f, r);
    rec_t a;
    rec_lookup(w, &a, "orders", NULL);
    run_until(&f.loop, &a.fired, 10000);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.address, "127.0.0.1:12340");
    resolve_worker_free(w);
    loop_finish(&f.loop);
    resolve_free(r);
}

/* An unknown name fails with a message naming it, and is not cached. */
static void test_lookup_unknown(void **state)
{
    (void)state;
    fixture_t f;
    tcfg_t t;
    tcfg_init(&t, "kubernetes", "self", 1234);
    tcfg_set(&t, "template", "{{.ID}}.remora-unit-test.invalid");
    resolve_t *r = k8s_new(&t);
    resolve_worker_t *w = worker_for(&f, r);
    rec_t a;
    rec_lookup(w, &a, "nobody", NULL);
    run_until(&f.loop, &a.fired, 30000);
    assert_int_equal(a.status, RESOLVE_EDNS);
    if (!strstr(a.error, "failed to resolve address for 'nobody.remora-unit-test.invalid'"))
        fail_msg("message: %s", a.error);
    rec_lookup(w, &a, "nobody", NULL);
    run_until(&f.loop, &a.fired, 30000);
    assert_int_equal(a.status, RESOLVE_EDNS);
    assert_int_equal(resolve_worker_queries(w), 2);
    resolve_worker_free(w);
    loop_finish(&f.loop);
    resolve_free(r);
}

/* Freeing the worker while a DNS query runs: cancel status, no leak. */
static void test_free_during_dns(void **state)
{
    (void)state;
    fixture_t f;
    tcfg_t t;
    tcfg_init(&t, "kubernetes", "self", 1234);
    tcfg_set(&t, "template", "localhost");
    resolve_t *r = k8s_new(&t);
    resolve_worker_t *w = worker_for(&f, r);
    rec_t a;
    rec_lookup(w, &a, "orders", NULL);
    resolve_worker_free(w);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(a.fired, 1);
    assert_int_equal(a.status, RESOLVE_ECANCELED);
    loop_finish(&f.loop);
    resolve_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_bad_templates),
        cmocka_unit_test(test_lookup_localhost),
        cmocka_unit_test(test_lookup_template_port),
        cmocka_unit_test(test_lookup_unknown),
        cmocka_unit_test(test_free_during_dns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
