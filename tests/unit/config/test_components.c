/* test_components.c - --resources-path Component documents and pipeline matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/pool.h"
#include "config/config.h"
#include "support.h"

#define ERRLEN 512

/* Writes `text` as dir/name. */
static void put(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char upper_v1[] =
    "apiVersion: dapr.io/v1alpha1\n"
    "kind: Component\n"
    "metadata:\n"
    "  name: upper\n"
    "spec:\n"
    "  type: middleware.http.uppercase\n";

static const char multi[] =
    "apiVersion: dapr.io/v1alpha1\n"
    "kind: Component\n"
    "metadata:\n"
    "  name: limiter\n"
    "spec:\n"
    "  type: middleware.http.ratelimit\n"
    "  version: v2\n"
    "  metadata:\n"
    "  - name: maxRequestsPerSecond\n"
    "    value: 10\n"
    "  - name: enabled\n"
    "    value: true\n"
    "  - name: label\n"
    "    value: \"hello world\"\n"
    "  - name: empty\n"
    "  - name: nullish\n"
    "    value: ~\n"
    "  - name: password\n"
    "    secretKeyRef:\n"
    "      name: s\n"
    "      key: k\n"
    "  - name: structured\n"
    "    value: {a: 1}\n"
    "---\n"
    "apiVersion: dapr.io/v1alpha1\n"
    "kind: Subscription\n"
    "metadata:\n"
    "  name: sub\n"
    "spec:\n"
    "  topic: t\n"
    "---\n"
    "apiVersion: dapr.io/v1alpha1\n"
    "kind: Component\n"
    "metadata:\n"
    "  name: limiter1\n"
    "spec:\n"
    "  type: middleware.http.ratelimit\n"
    "  version: v1\n"
    "---\n"
    "kind: Resiliency\n"
    "---\n";

static const char pipeline_config[] =
    "kind: Configuration\n"
    "spec:\n"
    "  httpPipeline:\n"
    "    handlers:\n"
    "    - name: limiter\n"
    "      type: middleware.http.ratelimit\n"
    "      version: v2\n"
    "    - name: upper\n"
    "      type: middleware.http.uppercase\n"
    "  appHttpPipeline:\n"
    "    handlers:\n"
    "    - name: limiter1\n"
    "      type: middleware.http.ratelimit\n";

static int load_dir(config_t *c, const char *dir, const char *config_text, char *err)
{
    char *cfgpath = config_text ? tmp_write(NULL, ".yaml", config_text) : NULL;
    int rc = cfgpath ? load_args(c, err, ERRLEN, "--app-id", "myapp", "--resources-path", dir,
                                 "--config", cfgpath, NULL)
                     : load_args(c, err, ERRLEN, "--app-id", "myapp", "--resources-path", dir, NULL);
    if (cfgpath)
        tmp_file_remove(cfgpath);
    return rc;
}

static void test_directory_and_pipelines(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    put(dir, "b-multi.yaml", multi);
    put(dir, "a-upper.yml", upper_v1);
    put(dir, "notes.txt", "kind: Component\nthis is not: [yaml\n");
    put(dir, "c-other.YAML", "garbage: [\n"); /* the extension match is case-sensitive */
    char sub[1024];
    snprintf(sub, sizeof(sub), "%s/sub.yaml", dir);
    mkdir(sub, 0700); /* a directory named *.yaml is not read */
    config_t c;
    char err[ERRLEN] = "";
    log_capture_start();
    if (load_dir(&c, dir, pipeline_config, err) != CONFIG_EXIT_OK)
        fail_msg("load failed: %s", err);
    assert_true(log_capture_contains("secretKeyRef"));
    assert_int_equal(c.component_count, 3);
    /* files in name order, documents in file order */
    const config_component_t *up = &c.components[0], *l2 = &c.components[1], *l1 = &c.components[2];
    assert_string_equal(up->name, "upper");
    assert_string_equal(up->type, "middleware.http.uppercase");
    assert_string_equal(up->version, "v1");
    assert_int_equal(up->metadata_count, 0);
    assert_non_null(strstr(up->file, "a-upper.yml"));
    assert_string_equal(l2->name, "limiter");
    assert_string_equal(l2->version, "v2");
    assert_non_null(strstr(l2->file, "b-multi.yaml"));
    assert_string_equal(l1->name, "limiter1");
    assert_string_equal(l1->version, "v1");
    assert_int_equal(l2->metadata_count, 7);
    assert_string_equal(config_component_meta(l2, "maxRequestsPerSecond"), "10");
    assert_string_equal(config_component_meta(l2, "enabled"), "true");
    assert_string_equal(config_component_meta(l2, "label"), "hello world");
    assert_string_equal(config_component_meta(l2, "empty"), "");
    assert_string_equal(config_component_meta(l2, "nullish"), "");
    assert_null(config_component_meta(l2, "password"));
    assert_string_equal(l2->metadata[5].name, "password");
    assert_null(config_component_meta(l2, "structured"));
    assert_null(config_component_meta(l2, "absent"));
    assert_null(config_component_meta(NULL, "absent"));
    /* pipelines: name, type and version all match */
    assert_int_equal(c.spec.http_pipeline.count, 2);
    assert_ptr_equal(c.spec.http_pipeline.handlers[0].component, l2);
    assert_string_equal(c.spec.http_pipeline.handlers[0].version, "v2");
    assert_ptr_equal(c.spec.http_pipeline.handlers[1].component, up);
    assert_string_equal(c.spec.http_pipeline.handlers[1].version, "v1");
    assert_int_equal(c.spec.app_http_pipeline.count, 1);
    assert_ptr_equal(c.spec.app_http_pipeline.handlers[0].component, l1);
    config_free(&c);
    tmp_dir_remove(dir);
}

static void expect_pipeline_error(const char *dir_text, const char *config_text, const char *want)
{
    char *dir = tmp_dir();
    put(dir, "c.yaml", dir_text);
    config_t c;
    char err[ERRLEN] = "";
    assert_int_equal(load_dir(&c, dir, config_text, err), CONFIG_EXIT_USAGE);
    if (strcmp(err, want) != 0)
        fail_msg("error \"%s\", want \"%s\"", err, want);
    tmp_dir_remove(dir);
}

static void test_pipeline_mismatches(void **state)
{
    (void)state;
    /* missing entirely */
    expect_pipeline_error(upper_v1,
                          "spec:\n  httpPipeline:\n    handlers:\n    - name: nope\n"
                          "      type: middleware.http.uppercase\n",
                          "httpPipeline handler nope (middleware.http.uppercase) has no matching "
                          "component in --resources-path");
    /* right name, wrong type */
    expect_pipeline_error(upper_v1,
                          "spec:\n  httpPipeline:\n    handlers:\n    - name: upper\n"
                          "      type: middleware.http.ratelimit\n",
                          "httpPipeline handler upper (middleware.http.ratelimit) has no matching "
                          "component in --resources-path");
    /* right name and type, wrong version */
    expect_pipeline_error(upper_v1,
                          "spec:\n  appHttpPipeline:\n    handlers:\n    - name: upper\n"
                          "      type: middleware.http.uppercase\n      version: v2\n",
                          "appHttpPipeline handler upper (middleware.http.uppercase) has no "
                          "matching component in --resources-path");
    /* no --resources-path at all */
    char *cfgpath = tmp_write(NULL, ".yaml", "spec:\n  httpPipeline:\n    handlers:\n"
                                             "    - {name: upper, type: middleware.http.uppercase}\n");
    config_t c;
    char err[ERRLEN];
    assert_int_equal(load_args(&c, err, ERRLEN, "--config", cfgpath, NULL), CONFIG_EXIT_USAGE);
    assert_string_equal(err, "httpPipeline handler upper (middleware.http.uppercase) has no "
                             "matching component in --resources-path");
    tmp_file_remove(cfgpath);
}

static void test_single_file_path(void **state)
{
    (void)state;
    char *path = tmp_write(NULL, ".yaml", multi);
    config_t c;
    char err[ERRLEN];
    assert_int_equal(load_args(&c, err, ERRLEN, "--resources-path", path, NULL), CONFIG_EXIT_OK);
    assert_int_equal(c.component_count, 2);
    assert_string_equal(c.components[0].file, path);
    config_free(&c);
    tmp_file_remove(path);
}

/* Expects loading a resources dir holding `text` to fail with "<file>:<where>: <what>". */
static void expect_component_error(const char *text, const char *where, const char *what)
{
    char *dir = tmp_dir();
    put(dir, "bad.yaml", text);
    config_t c;
    char err[ERRLEN] = "", want[1200];
    assert_int_equal(load_dir(&c, dir, NULL, err), CONFIG_EXIT_USAGE);
    snprintf(want, sizeof(want), "%s/bad.yaml:%s: %s", dir, where, what);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error \"%s\", want it to start with \"%s\"", err, want);
    tmp_dir_remove(dir);
}

static void test_component_errors(void **state)
{
    (void)state;
    expect_component_error("kind: Component\nspec:\n  type: middleware.http.uppercase\n", "1:1",
                           "component without metadata.name");
    expect_component_error("kind: Component\nmetadata:\n  name: x\n", "1:1",
                           "component x has no spec.type");
    expect_component_error("---\nkind: Resiliency\n---\nkind: Component\nmetadata:\n  name: [x]\n",
                           "6:9", "metadata.name: expected a scalar, got a list");
    expect_component_error("kind: Component\nmetadata:\n  name: x\nspec:\n  type: t\n"
                           "  metadata:\n    name: a\n", "7:5",
                           "spec.metadata: expected a list, got a mapping");
    expect_component_error("kind: Component\nmetadata:\n  name: x\nspec:\n  type: t\n"
                           "  metadata:\n  - value: a\n", "7:5",
                           "spec.metadata[0]: a metadata item needs a name");
    expect_component_error("kind: Component\nmetadata:\n  name: x\n spec: {}\n", "4:2",
                           "did not find expected key");
    /* the same name and type twice, even across documents */
    expect_component_error("kind: Component\nmetadata:\n  name: x\nspec:\n  type: t\n---\n"
                           "kind: Component\nmetadata:\n  name: x\nspec:\n  type: t\n  version: v2\n",
                           "7:1", "component x (t) is defined twice");
}

static void test_duplicates_across_files_and_types(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    put(dir, "1.yaml", upper_v1);
    put(dir, "2.yaml", "kind: Component\nmetadata:\n  name: upper\nspec:\n  type: state.redis\n");
    config_t c;
    char err[ERRLEN] = "";
    /* same name, another type: both load */
    assert_int_equal(load_dir(&c, dir, NULL, err), CONFIG_EXIT_OK);
    assert_int_equal(c.component_count, 2);
    config_free(&c);
    put(dir, "3.yaml", upper_v1);
    assert_int_equal(load_dir(&c, dir, NULL, err), CONFIG_EXIT_USAGE);
    assert_non_null(strstr(err, "3.yaml:1:1: component upper (middleware.http.uppercase) is "
                                "defined twice (first in "));
    assert_non_null(strstr(err, "1.yaml)"));
    tmp_dir_remove(dir);
}

static void test_scopes_and_namespace(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    put(dir, "a.yaml", "kind: Component\nmetadata:\n  name: mine\nspec:\n  type: t\n"
                       "scopes: [other, myapp]\n---\n"
                       "kind: Component\nmetadata:\n  name: theirs\nspec:\n  type: t\n"
                       "scopes:\n- other\n---\n"
                       "kind: Component\nmetadata:\n  name: elsewhere\n  namespace: prod\n"
                       "spec:\n  type: t\n---\n"
                       "kind: Component\nmetadata:\n  name: here\n  namespace: dev\n"
                       "spec:\n  type: t\n");
    setenv("NAMESPACE", "dev", 1);
    config_t c;
    char err[ERRLEN] = "";
    assert_int_equal(load_dir(&c, dir, NULL, err), CONFIG_EXIT_OK);
    assert_int_equal(c.component_count, 2);
    assert_string_equal(c.components[0].name, "mine");
    assert_string_equal(c.components[1].name, "here");
    config_free(&c);
    unsetenv("NAMESPACE");
    /* without NAMESPACE in the environment the component namespace is not a filter */
    assert_int_equal(load_dir(&c, dir, NULL, err), CONFIG_EXIT_OK);
    assert_int_equal(c.component_count, 3);
    config_free(&c);
    tmp_dir_remove(dir);
}

static void test_empty_directory(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    config_t c;
    char err[ERRLEN] = "";
    assert_int_equal(load_dir(&c, dir, NULL, err), CONFIG_EXIT_OK);
    assert_int_equal(c.component_count, 0);
    assert_null(c.components);
    config_free(&c);
    put(dir, "empty.yaml", "");
    put(dir, "dashes.yaml", "---\n---\n");
    assert_int_equal(load_dir(&c, dir, NULL, err), CONFIG_EXIT_OK);
    assert_int_equal(c.component_count, 0);
    config_free(&c);
    tmp_dir_remove(dir);
}

/* ---- every allocation failure is an error without leak ---- */

static long fail_after = -1;

static void *failing_malloc(size_t n)
{
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    return malloc(n);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    put(dir, "b-multi.yaml", multi);
    put(dir, "a-upper.yml", upper_v1);
    char *cfgpath = tmp_write(NULL, ".yaml", pipeline_config);
    char *full = tmp_write(NULL, ".yaml",
                           "spec:\n  tracing: {samplingRate: '1', zipkin: {endpointAddress: z}}\n"
                           "  metric: {http: {pathMatching: [a, b]}, latencyDistributionBuckets: [1]}\n"
                           "  nameResolution: {component: c, configuration: {a: 1, b: {c: 2}}}\n"
                           "  accessControl: {defaultAction: deny, policies: [{appId: a, "
                           "trustDomain: t, namespace: n, operations: [{name: /x, httpVerb: [GET], "
                           "action: allow}]}]}\n"
                           "  api: {allowed: [{name: invoke, version: v1.0}], denied: [{name: x}]}\n");
    base_allocator_t a = { failing_malloc, free };
    int ok = 0;
    for (long n = 0; n < 5000 && !ok; n++) {
        config_t c;
        char err[ERRLEN] = "";
        fail_after = n;
        base_set_allocator(&a);
        int rc = load_args(&c, err, ERRLEN, "--app-id", "myapp", "--dapr-listen-addresses",
                           "[::1],127.0.0.1,0.0.0.0", "--resources-path", dir, "--config", cfgpath,
                           "--config", full, NULL);
        base_set_allocator(NULL);
        if (rc == CONFIG_EXIT_OK) {
            assert_int_equal(c.component_count, 3);
            assert_int_equal(c.spec.acl_policy_count, 1);
            config_free(&c);
            ok = 1;
        } else if (rc != CONFIG_EXIT_USAGE) {
            fail_msg("rc %d after %ld allocations", rc, n);
        } else if (!strstr(err, "out of memory")) {
            fail_msg("after %ld allocations: unexpected error \"%s\"", n, err);
        }
    }
    assert_true(ok);
    tmp_file_remove(cfgpath);
    tmp_file_remove(full);
    tmp_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directory_and_pipelines),
        cmocka_unit_test(test_pipeline_mismatches),
        cmocka_unit_test(test_single_file_path),
        cmocka_unit_test(test_component_errors),
        cmocka_unit_test(test_duplicates_across_files_and_types),
        cmocka_unit_test(test_scopes_and_namespace),
        cmocka_unit_test(test_empty_directory),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
