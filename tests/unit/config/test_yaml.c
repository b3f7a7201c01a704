/* test_yaml.c - --config: Dapr Configuration YAML into config_spec_t. */
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

/* Loads one --config file holding `text`; returns the rc, err filled. */
static int load_text(config_t *c, const char *text, char *err, char **path_out)
{
    char *path = tmp_write(NULL, ".yaml", text);
    assert_non_null(path);
    int rc = load_args(c, err, ERRLEN, "--app-id", "me", "--config", path, NULL);
    if (path_out)
        *path_out = path;
    else
        tmp_file_remove(path);
    return rc;
}

static void load_ok(config_t *c, const char *text)
{
    char err[ERRLEN] = "";
    if (load_text(c, text, err, NULL) != CONFIG_EXIT_OK)
        fail_msg("load failed: %s", err);
}

/* Expects a usage error "<file>:<where>: <what...>" (where = "line:col" or NULL). */
static void load_fails(const char *text, const char *where, const char *what)
{
    config_t c;
    char err[ERRLEN] = "", *path;
    int rc = load_text(&c, text, err, &path);
    char want[600];
    snprintf(want, sizeof(want), "%s:%s: ", path, where);
    if (rc != CONFIG_EXIT_USAGE)
        fail_msg("expected failure \"%s\", got rc %d", what, rc);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, want);
    if (!strstr(err, what))
        fail_msg("error \"%s\" does not contain \"%s\"", err, what);
    assert_null(strchr(err, '\n'));
    tmp_file_remove(path);
}

static const char full_config[] =
    "apiVersion: dapr.io/v1alpha1\n"
    "kind: Configuration\n"
    "metadata:\n"
    "  name: full\n"
    "spec:\n"
    "  tracing:\n"
    "    samplingRate: \"0.5\"\n"
    "    stdout: true\n"
    "    zipkin:\n"
    "      endpointAddress: \"http://zipkin:9411/api/v2/spans\"\n"
    "    otel:\n"
    "      endpointAddress: otel:4317\n"
    "      protocol: grpc\n"
    "      isSecure: false\n"
    "  metric:\n"
    "    enabled: false\n"
    "    http:\n"
    "      increasedCardinality: false\n"
    "      pathMatching:\n"
    "      - /orders/{id}\n"
    "      - /users/{id}\n"
    "    latencyDistributionBuckets: [1, 2.5, 10]\n"
    "  nameResolution:\n"
    "    component: sqlite\n"
    "    version: v1\n"
    "    configuration:\n"
    "      connectionString: /tmp/nr.db\n"
    "      updateInterval: 5s\n"
    "      timeout: 1\n"
    "      client:\n"
    "        address: consul:8500\n"
    "      tags: [a, b]\n"
    "  accessControl:\n"
    "    defaultAction: deny\n"
    "    trustDomain: cluster.local\n"
    "    policies:\n"
    "    - appId: caller\n"
    "      defaultAction: allow\n"
    "      trustDomain: public\n"
    "      namespace: default\n"
    "      operations:\n"
    "      - name: /op1\n"
    "        httpVerb: ['POST', 'GET']\n"
    "        action: deny\n"
    "      - name: /admin/**\n"
    "        httpVerb: [\"*\"]\n"
    "        action: Allow\n"
    "    - appId: other\n"
    "      trustDomain: td\n"
    "      namespace: ns2\n"
    "  api:\n"
    "    allowed:\n"
    "    - name: invoke\n"
    "      version: v1.0\n"
    "    - name: state\n"
    "      version: v1.0\n"
    "      protocol: GRPC\n"
    "    denied:\n"
    "    - name: metadata\n"
    "      version: v1.0\n"
    "      protocol: http\n"
    "  logging:\n"
    "    apiLogging:\n"
    "      enabled: true\n"
    "      obfuscateURLs: yes\n"
    "      omitHealthChecks: on\n"
    "  features:\n"
    "  - name: Whatever\n"
    "    enabled: true\n"
    "  unknownKey: {a: [1, 2]}\n"
    "  mtls:\n"
    "    enabled: true\n";

static void test_full_configuration(void **state)
{
    (void)state;
    config_t c;
    load_ok(&c, full_config);
    const config_spec_t *s = &c.spec;
    assert_true(s->sampling_rate == 0.5);
    assert_int_equal(s->tracing_stdout, 1);
    assert_string_equal(s->zipkin_endpoint, "http://zipkin:9411/api/v2/spans");
    assert_string_equal(s->otel_endpoint, "otel:4317");
    assert_string_equal(s->otel_protocol, "grpc");
    assert_int_equal(s->otel_is_secure, 0);
    assert_int_equal(s->metrics_enabled, 0);
    assert_int_equal(s->metrics_increased_cardinality, 0);
    assert_int_equal(s->metrics_path_matching_count, 2);
    assert_string_equal(s->metrics_path_matching[0], "/orders/{id}");
    assert_string_equal(s->metrics_path_matching[1], "/users/{id}");
    assert_int_equal(s->latency_bucket_count, 3);
    assert_true(s->latency_buckets[0] == 1 && s->latency_buckets[1] == 2.5 &&
                s->latency_buckets[2] == 10);
    assert_string_equal(s->nr_component, "sqlite");
    assert_string_equal(s->nr_version, "v1");
    assert_int_equal(s->nr_configuration_count, 4); /* the list "tags" is not a scalar */
    assert_string_equal(s->nr_configuration[0].name, "connectionString");
    assert_string_equal(s->nr_configuration[0].value, "/tmp/nr.db");
    assert_string_equal(s->nr_configuration[1].name, "updateInterval");
    assert_string_equal(s->nr_configuration[1].value, "5s");
    assert_string_equal(s->nr_configuration[2].name, "timeout");
    assert_string_equal(s->nr_configuration[2].value, "1");
    assert_string_equal(s->nr_configuration[3].name, "client.address");
    assert_string_equal(s->nr_configuration[3].value, "consul:8500");
    assert_int_equal(s->acl_present, 1);
    assert_int_equal(s->acl_default_allow, 0);
    assert_string_equal(s->acl_trust_domain, "cluster.local");
    assert_int_equal(s->acl_policy_count, 2);
    const config_acl_policy_t *p = &s->acl_policies[0];
    assert_string_equal(p->app_id, "caller");
    assert_int_equal(p->default_allow, 1);
    assert_string_equal(p->trust_domain, "public");
    assert_string_equal(p->namespace_, "default");
    assert_int_equal(p->operation_count, 2);
    assert_string_equal(p->operations[0].name, "/op1");
    assert_int_equal(p->operations[0].http_verb_count, 2);
    assert_string_equal(p->operations[0].http_verbs[0], "POST");
    assert_string_equal(p->operations[0].http_verbs[1], "GET");
    assert_int_equal(p->operations[0].allow, 0);
    assert_string_equal(p->operations[1].name, "/admin/**");
    assert_int_equal(p->operations[1].http_verb_count, 1);
    assert_string_equal(p->operations[1].http_verbs[0], "*");
    assert_int_equal(p->operations[1].allow, 1); /* "Allow": case-insensitive */
    assert_string_equal(s->acl_policies[1].app_id, "other");
    assert_int_equal(s->acl_policies[1].default_allow, -1);
    assert_int_equal(s->acl_policies[1].operation_count, 0);
    assert_int_equal(s->api_allowed_count, 2);
    assert_string_equal(s->api_allowed[0].name, "invoke");
    assert_string_equal(s->api_allowed[0].version, "v1.0");
    assert_string_equal(s->api_allowed[0].protocol, "http");
    assert_string_equal(s->api_allowed[1].name, "state");
    assert_string_equal(s->api_allowed[1].protocol, "grpc");
    assert_int_equal(s->api_denied_count, 1);
    assert_string_equal(s->api_denied[0].name, "metadata");
    assert_string_equal(s->api_denied[0].protocol, "http");
    assert_int_equal(s->api_logging_enabled, 1);
    assert_int_equal(s->api_logging_obfuscate_urls, 1);
    assert_int_equal(s->api_logging_omit_health_checks, 1);
    assert_int_equal(s->http_pipeline.count, 0);
    assert_int_equal(s->app_http_pipeline.count, 0);
    assert_int_equal(c.enable_api_logging, -1); /* the flag stays unset; the spec has the value */
    config_free(&c);
}

static void test_empty_and_minimal(void **state)
{
    (void)state;
    config_t c;
    load_ok(&c, "");
    assert_true(c.spec.sampling_rate == 1e-4);
    assert_int_equal(c.spec.metrics_enabled, 1);
    assert_int_equal(c.spec.acl_present, 0);
    config_free(&c);
    load_ok(&c, "# only a comment\n");
    assert_int_equal(c.spec.otel_is_secure, 1);
    config_free(&c);
    load_ok(&c, "kind: Configuration\nspec:\n  tracing:\n    stdout: false\n");
    assert_true(c.spec.sampling_rate == 1e-4); /* tracing without samplingRate: default */
    assert_null(c.spec.zipkin_endpoint);
    config_free(&c);
    /* spec: null, tracing: ~ and zipkin: (empty) are all "absent" */
    load_ok(&c, "spec:\n");
    config_free(&c);
    load_ok(&c, "spec:\n  tracing: ~\n  metric: null\n");
    config_free(&c);
    load_ok(&c, "spec:\n  tracing:\n    zipkin:\n");
    assert_null(c.spec.zipkin_endpoint);
    config_free(&c);
}

static void test_sampling_rates(void **state)
{
    (void)state;
    static const struct { const char *text; double want; } cases[] = {
        { "\"0\"", 0 },   { "0", 0 },        { "1", 1 },         { "\"1e-2\"", 0.01 },
        { "abc", 1e-4 },  { "\"\"", 1e-4 },  { "\"-1\"", 1e-4 }, { "2", 1 },
        { "0.25", 0.25 }, { "nan", 1e-4 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "spec:\n  tracing:\n    samplingRate: %s\n", cases[i].text);
        config_t c;
        load_ok(&c, text);
        if (c.spec.sampling_rate != cases[i].want)
            fail_msg("samplingRate %s → %g, want %g", cases[i].text, c.spec.sampling_rate,
                     cases[i].want);
        config_free(&c);
    }
}

static void test_env_expansion(void **state)
{
    (void)state;
    setenv("REMORA_T_HOST", "zipkin.local", 1);
    setenv("REMORA_T_RATE", "0.75", 1);
    unsetenv("REMORA_T_UNSET");
    config_t c;
    load_ok(&c, "spec:\n"
                "  tracing:\n"
                "    samplingRate: $REMORA_T_RATE\n"
                "    zipkin:\n"
                "      endpointAddress: \"http://${REMORA_T_HOST}:9411/$REMORA_T_UNSET${REMORA_T_UNSET}x\"\n"
                "    otel:\n"
                "      endpointAddress: \"a$ b${}c${UNCLOSED\"\n"
                "      protocol: \"p$\"\n");
    assert_true(c.spec.sampling_rate == 0.75);
    assert_string_equal(c.spec.zipkin_endpoint, "http://zipkin.local:9411/x");
    /* Go's os.Expand: "$ " keeps the dollar, "${}" and "${" are dropped, a final "$" stays */
    assert_string_equal(c.spec.otel_endpoint, "a$ bcUNCLOSED");
    assert_string_equal(c.spec.otel_protocol, "p$");
    config_free(&c);
    /* expansion happens before parsing: a variable can carry YAML */
    setenv("REMORA_T_BLOCK", "{enabled: false}", 1);
    load_ok(&c, "spec:\n  metric: $REMORA_T_BLOCK\n");
    assert_int_equal(c.spec.metrics_enabled, 0);
    config_free(&c);
    unsetenv("REMORA_T_HOST");
    unsetenv("REMORA_T_RATE");
    unsetenv("REMORA_T_BLOCK");
}

static void test_malformed_yaml(void **state)
{
    (void)state;
    load_fails("spec:\n  tracing:\n    stdout: true\n   zipkin: x\n", "4:4",
               "did not find expected key");
    load_fails("spec:\n  tracing: {a: 1\n", "3:1", "did not find expected ',' or '}'");
    load_fails("spec:\n  tracing:\n    stdout: \"a\n", "4:1", "unexpected end of stream");
    load_fails("spec:\n\ttracing: 1\n", "2:1", "found character that cannot start any token");
    load_fails("a: *nope\n", "1:4", "found undefined alias");
}

static void test_wrong_types(void **state)
{
    (void)state;
    load_fails("spec:\n  httpPipeline:\n    handlers:\n      name: x\n", "4:7",
               "spec.httpPipeline.handlers: expected a list, got a mapping");
    load_fails("spec:\n  tracing:\n    stdout: maybe\n", "3:13",
               "spec.tracing.stdout: expected a boolean, got \"maybe\"");
    load_fails("spec:\n  tracing:\n    otel:\n      isSecure: 2\n", "4:17",
               "spec.tracing.otel.isSecure: expected a boolean");
    load_fails("spec: [1, 2]\n", "1:7", "spec: expected a mapping, got a list");
    load_fails("- a\n- b\n", "1:1", "document: expected a mapping, got a list");
    load_fails("spec:\n  tracing: yes\n", "2:12", "spec.tracing: expected a mapping, got a scalar");
    load_fails("spec:\n  tracing:\n    zipkin:\n      endpointAddress: [a]\n", "4:24",
               "spec.tracing.zipkin.endpointAddress: expected a scalar, got a list");
    load_fails("spec:\n  metric:\n    latencyDistributionBuckets: [1, x]\n", "3:37",
               "spec.metric.latencyDistributionBuckets[1]: expected a number");
    load_fails("spec:\n  metrics:\n    http:\n      pathMatching: /a\n", "4:21",
               "spec.metrics.http.pathMatching: expected a list, got a scalar");
    load_fails("spec:\n  metric:\n    http:\n      pathMatching: [{a: 1}]\n", "4:22",
               "spec.metric.http.pathMatching[0]: expected a scalar, got a mapping");
    load_fails("spec:\n  nameResolution:\n    configuration: [a]\n", "3:20",
               "spec.nameResolution.configuration: expected a mapping, got a list");
    load_fails("spec:\n  accessControl:\n    policies:\n    - appId: a\n      trustDomain: t\n", "4:7",
               "spec.accessControl.policies[0]: invalid access control policy: missing namespace");
    load_fails("spec:\n  accessControl:\n    policies:\n    - namespace: n\n", "4:7",
               "missing appId");
    load_fails("spec:\n  accessControl:\n    policies:\n    - x\n", "4:7",
               "spec.accessControl.policies[0]: expected a mapping, got a scalar");
    load_fails("spec:\n  accessControl:\n    policies:\n    - appId: a\n      trustDomain: t\n"
               "      namespace: n\n      operations:\n      - httpVerb: [GET]\n", "8:9",
               "spec.accessControl.policies[0].operations[0]: an operation needs a name");
    load_fails("spec:\n  api:\n    allowed:\n    - name: invoke\n      protocol: tcp\n", "4:7",
               "protocol must be http or grpc");
    load_fails("spec:\n  api:\n    denied: {name: x}\n", "3:13",
               "spec.api.denied: expected a list, got a mapping");
    load_fails("spec:\n  httpPipeline:\n    handlers:\n    - name: x\n", "4:7",
               "spec.httpPipeline.handlers[0]: a handler needs a name and a type");
    load_fails("spec:\n  logging:\n    apiLogging:\n      enabled: \"sometimes\"\n", "4:16",
               "spec.logging.apiLogging.enabled: expected a boolean, got \"sometimes\"");
}

static void test_keys_case_and_unknown(void **state)
{
    (void)state;
    config_t c;
    /* encoding/json matches field names without regard to case; unknown keys are ignored */
    load_ok(&c, "Spec:\n  Tracing:\n    SAMPLINGRATE: \"0.3\"\n    whatever: [1]\n  nope: 1\n");
    assert_true(c.spec.sampling_rate == 0.3);
    config_free(&c);
    /* the last duplicate wins */
    load_ok(&c, "spec:\n  tracing:\n    samplingRate: \"0.1\"\n    samplingRate: \"0.2\"\n");
    assert_true(c.spec.sampling_rate == 0.2);
    config_free(&c);
}

static void test_metrics_alias_and_acl_presence(void **state)
{
    (void)state;
    config_t c;
    load_ok(&c, "spec:\n  metrics:\n    enabled: false\n    http:\n      increasedCardinality: false\n");
    assert_int_equal(c.spec.metrics_enabled, 0);
    assert_int_equal(c.spec.metrics_increased_cardinality, 0);
    config_free(&c);
    /* an accessControl with nothing in it is no ACL at all (acl.ParseAccessControlSpec) */
    load_ok(&c, "spec:\n  accessControl:\n    trustDomain: \"\"\n");
    assert_int_equal(c.spec.acl_present, 0);
    assert_string_equal(c.spec.acl_trust_domain, "public");
    config_free(&c);
    load_ok(&c, "spec:\n  accessControl:\n    trustDomain: mine\n");
    assert_int_equal(c.spec.acl_present, 1);
    assert_int_equal(c.spec.acl_default_allow, -1);
    assert_string_equal(c.spec.acl_trust_domain, "mine");
    config_free(&c);
    load_ok(&c, "spec:\n  accessControl:\n    defaultAction: allow\n");
    assert_int_equal(c.spec.acl_present, 1);
    assert_int_equal(c.spec.acl_default_allow, 1);
    config_free(&c);
}

static void test_several_config_files(void **state)
{
    (void)state;
    char *a = tmp_write(NULL, ".yaml",
                        "spec:\n  tracing:\n    samplingRate: \"0.5\"\n    stdout: true\n"
                        "  api:\n    allowed:\n    - name: invoke\n      version: v1.0\n");
    char *b = tmp_write(NULL, ".yaml",
                        "spec:\n  tracing:\n    samplingRate: \"1\"\n"
                        "  api:\n    allowed:\n    - name: state\n      version: v1.0\n"
                        "    - name: metadata\n      version: v1.0\n");
    config_t c;
    char err[ERRLEN];
    assert_int_equal(load_args(&c, err, sizeof(err), "--config", a, "--config", b, NULL),
                     CONFIG_EXIT_OK);
    /* later files override what they set and keep the rest, as repeated yaml.Unmarshal does */
    assert_true(c.spec.sampling_rate == 1);
    assert_int_equal(c.spec.tracing_stdout, 1);
    assert_int_equal(c.spec.api_allowed_count, 2); /* a list is replaced, not appended */
    assert_string_equal(c.spec.api_allowed[0].name, "state");
    config_free(&c);
    tmp_file_remove(a);
    tmp_file_remove(b);
}

static void test_only_first_document(void **state)
{
    (void)state;
    config_t c;
    load_ok(&c, "spec:\n  tracing:\n    stdout: true\n---\nspec:\n  tracing:\n    stdout: false\n");
    assert_int_equal(c.spec.tracing_stdout, 1);
    config_free(&c);
}

static void test_hostile_documents(void **state)
{
    (void)state;
    /* a "billion laughs" through aliases: 10^6 leaves from a few hundred bytes */
    static const char bomb[] =
        "spec:\n  nameResolution:\n    configuration:\n"
        "      l0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n"
        "      l1: &l1 {a: *l0, b: *l0, c: *l0, d: *l0, e: *l0, f: *l0, g: *l0, h: *l0, i: *l0, j: *l0}\n"
        "      l2: &l2 {a: *l1, b: *l1, c: *l1, d: *l1, e: *l1, f: *l1, g: *l1, h: *l1, i: *l1, j: *l1}\n"
        "      l3: &l3 {a: *l2, b: *l2, c: *l2, d: *l2, e: *l2, f: *l2, g: *l2, h: *l2, i: *l2, j: *l2}\n"
        "      l4: &l4 {a: *l3, b: *l3, c: *l3, d: *l3, e: *l3, f: *l3, g: *l3, h: *l3, i: *l3, j: *l3}\n"
        "      l5: {a: *l4, b: *l4, c: *l4, d: *l4, e: *l4, f: *l4, g: *l4, h: *l4, i: *l4, j: *l4}\n";
    config_t c;
    char err[ERRLEN];
    assert_int_equal(load_text(&c, bomb, err, NULL), CONFIG_EXIT_USAGE);
    assert_non_null(strstr(err, "too many nodes"));
    /* a mapping that contains itself */
    assert_int_equal(load_text(&c, "spec:\n  nameResolution:\n    configuration: &c\n      a: *c\n",
                               err, NULL),
                     CONFIG_EXIT_USAGE);
    assert_non_null(strstr(err, "nested too deeply"));
    /* invalid UTF-8, odd-length UTF-16: reader errors carry a byte offset */
    assert_int_equal(load_text(&c, "a: \xc3\x28\n", err, NULL), CONFIG_EXIT_USAGE);
    assert_non_null(strstr(err, "invalid trailing UTF-8 octet at byte 4"));
    assert_int_equal(load_text(&c, "\xff\xfe\x41", err, NULL), CONFIG_EXIT_USAGE);
    assert_non_null(strstr(err, "incomplete UTF-16 character"));
}

static void test_kind_mismatch_still_loads(void **state)
{
    (void)state;
    config_t c;
    log_capture_start();
    load_ok(&c, "kind: Component\nspec:\n  tracing:\n    stdout: true\n");
    assert_true(log_capture_contains("expected Configuration"));
    assert_int_equal(c.spec.tracing_stdout, 1);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_configuration),
        cmocka_unit_test(test_empty_and_minimal),
        cmocka_unit_test(test_sampling_rates),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_malformed_yaml),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_keys_case_and_unknown),
        cmocka_unit_test(test_metrics_alias_and_acl_presence),
        cmocka_unit_test(test_several_config_files),
        cmocka_unit_test(test_only_first_document),
        cmocka_unit_test(test_hostile_documents),
        cmocka_unit_test(test_kind_mismatch_still_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
