/* test_features.c - spec.features and the enabled-feature list daprd 1.15 derives from it;
 * a component's spec.version left out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "support.h"

#define ERRLEN 512

static int load_text(config_t *c, const char *text, char *err)
{
    char *path = tmp_write(NULL, ".yaml", text);
    assert_non_null(path);
    int rc = load_args(c, err, ERRLEN, "--app-id", "me", "--config", path, NULL);
    tmp_file_remove(path);
    return rc;
}

/* Loads text and compares the enabled features with a "|"-joined list. */
static void expect_features(const char *text, const char *want)
{
    config_t c;
    char err[ERRLEN] = "";
    if (load_text(&c, text, err) != CONFIG_EXIT_OK)
        fail_msg("load failed: %s", err);
    char got[512] = "";
    for (size_t i = 0; i < c.spec.enabled_feature_count; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "|" : "", c.spec.enabled_features[i]);
    config_free(&c);
    if (strcmp(got, want) != 0)
        fail_msg("features \"%s\", want \"%s\"", got, want);
}

static void test_default_feature(void **state)
{
    (void)state;
    /* daprd 1.15 enables SchedulerReminders unless the Configuration names it */
    config_t c;
    char err[ERRLEN];
    assert_int_equal(load_args(&c, err, sizeof err, "--app-id", "me", NULL), CONFIG_EXIT_OK);
    assert_int_equal(c.spec.enabled_feature_count, 1);
    assert_string_equal(c.spec.enabled_features[0], "SchedulerReminders");
    assert_int_equal(c.spec.feature_count, 0);
    config_free(&c);
    expect_features("spec: {}\n", "SchedulerReminders");
    expect_features("spec:\n  features:\n  - name: SchedulerReminders\n    enabled: false\n", "");
    expect_features("spec:\n  features:\n  - name: SchedulerReminders\n", "");
    expect_features("spec:\n  features:\n  - name: SchedulerReminders\n    enabled: true\n", "SchedulerReminders");
}

static void test_listed_features(void **state)
{
    (void)state;
    expect_features("spec:\n  features:\n"
                    "  - name: HotReload\n    enabled: true\n"
                    "  - name: Off\n    enabled: false\n"
                    "  - name: ActorStateTTL\n    enabled: yes\n"
                    "  - name: HotReload\n    enabled: true\n",
                    "HotReload|ActorStateTTL|SchedulerReminders");
    /* a later disabled entry removes an earlier enabled one; the order of entries matters */
    expect_features("spec:\n  features:\n"
                    "  - name: A\n    enabled: true\n"
                    "  - name: A\n    enabled: false\n"
                    "  - name: B\n    enabled: false\n"
                    "  - name: B\n    enabled: true\n",
                    "B|SchedulerReminders");
    /* nameless entries are ignored; names are case-sensitive */
    expect_features("spec:\n  features:\n  - enabled: true\n  - name: \"\"\n    enabled: true\n"
                    "  - name: hotreload\n    enabled: true\n",
                    "hotreload|SchedulerReminders");
    expect_features("spec:\n  features: []\n", "SchedulerReminders");
    expect_features("spec:\n  features: ~\n", "SchedulerReminders");
}

static void test_later_file_replaces_list(void **state)
{
    (void)state;
    char *a = tmp_write(NULL, ".yaml", "spec:\n  features:\n  - name: A\n    enabled: true\n");
    char *b = tmp_write(NULL, ".yaml", "spec:\n  features:\n  - name: B\n    enabled: true\n");
    char *n = tmp_write(NULL, ".yaml", "spec:\n  tracing:\n    stdout: true\n");
    config_t c;
    char err[ERRLEN];
    assert_int_equal(load_args(&c, err, sizeof err, "--config", a, "--config", b, "--config", n, NULL),
                     CONFIG_EXIT_OK);
    assert_int_equal(c.spec.feature_count, 1);
    assert_string_equal(c.spec.features[0].name, "B");
    assert_int_equal(c.spec.enabled_feature_count, 2);
    assert_string_equal(c.spec.enabled_features[0], "B");
    config_free(&c);
    tmp_file_remove(a);
    tmp_file_remove(b);
    tmp_file_remove(n);
}

static void test_wrong_shapes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "spec:\n  features: HotReload\n",
        "spec:\n  features:\n  - HotReload\n",
        "spec:\n  features:\n  - name: X\n    enabled: maybe\n",
        "spec:\n  features:\n  - name: [X]\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_t c;
        char err[ERRLEN] = "";
        assert_int_equal(load_text(&c, bad[i], err), CONFIG_EXIT_USAGE);
        assert_non_null(strstr(err, "spec.features"));
    }
}

static void test_component_version_default(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    char *f = tmp_write(dir, ".yaml",
                        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n"
                        "spec:\n  type: middleware.http.ratelimit\n---\n"
                        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: b\n"
                        "spec:\n  type: middleware.http.ratelimit\n  version: v1\n");
    free(f);
    config_t c;
    char err[ERRLEN];
    assert_int_equal(load_args(&c, err, sizeof err, "--resources-path", dir, NULL), CONFIG_EXIT_OK);
    assert_int_equal(c.component_count, 2);
    assert_string_equal(c.components[0].version, "v1"); /* matched as v1 by pipelines */
    assert_int_equal(c.components[0].version_default, 1);
    assert_int_equal(c.components[1].version_default, 0);
    config_free(&c);
    tmp_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_feature),
        cmocka_unit_test(test_listed_features),
        cmocka_unit_test(test_later_file_replaces_list),
        cmocka_unit_test(test_wrong_shapes),
        cmocka_unit_test(test_component_version_default),
    };
    return cmocka_run_group_tests_name("config_features", tests, NULL, NULL);
}
