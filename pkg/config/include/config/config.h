/*
 * config.h - daprd's command line, environment, Configuration and Component YAML, as one
 * immutable struct.
 *
 * config_load() is called once on the main thread before any worker starts. It fills a
 * config_t whose memory belongs to the config (every string is owned by it) and that is never
 * written again; workers read it without locks. config_free() releases it after every worker
 * has stopped.
 *
 * Errors: any invalid flag value, unreadable file or malformed YAML makes config_load()
 * return CONFIG_EXIT_USAGE (2) with one line in `err` that names the flag, or the file with
 * line and column. --help and --version return CONFIG_EXIT_DONE after printing to stdout.
 */
#ifndef CONFIG_CONFIG_H
#define CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_EXIT_OK 0
#define CONFIG_EXIT_DONE 1  /* --help / --version printed: exit 0 */
#define CONFIG_EXIT_USAGE 2 /* invalid input: exit 2 */

#define REMORA_VERSION "1.15.0-remora.0.1.0"
#define REMORA_DAPR_COMPAT_VERSION "1.15.0"

typedef enum config_mode { CONFIG_MODE_STANDALONE = 0, CONFIG_MODE_KUBERNETES } config_mode_t;

typedef enum config_app_protocol {
    CONFIG_APP_GRPC = 0,
    CONFIG_APP_GRPCS,
    CONFIG_APP_HTTP,
    CONFIG_APP_HTTPS,
    CONFIG_APP_H2C,
} config_app_protocol_t;

/* A name/value pair from spec.metadata of a Component or a resolver's configuration.
 * Numbers and booleans keep their YAML text ("10", "true"); a missing or null value is "".
 * value is NULL for a `secretKeyRef` entry (not resolved yet) or a structured value; both are
 * logged as warnings at load. Resolver configuration: nested mappings are flattened with dots
 * ("client.address"); lists are left out. */
typedef struct config_kv {
    char *name;
    char *value;
} config_kv_t;

/* One `kind: Component` document from --resources-path (every *.yaml / *.yml file of each
 * directory, in name order, every `---` document of each file; a path to a file works too).
 * Documents of other kinds are skipped; components whose `scopes` list does not contain the
 * app id, or whose metadata.namespace differs from a set $NAMESPACE, are skipped. Two
 * components with the same name and type are an error. */
typedef struct config_component {
    char *name;    /* metadata.name */
    char *type;    /* spec.type, e.g. "middleware.http.ratelimit" */
    char *version; /* spec.version, default "v1" */
    int version_default; /* 1 when spec.version was absent or empty (daprd keeps it empty) */
    char *file;    /* the file it came from, for messages */
    config_kv_t *metadata;
    size_t metadata_count;
} config_component_t;

/* One entry of spec.httpPipeline.handlers / spec.appHttpPipeline.handlers, already matched to
 * its component (by name, type and version); start-up fails when no component matches. */
typedef struct config_handler {
    char *name;
    char *type;
    char *version;
    const config_component_t *component; /* points into config_t.components */
} config_handler_t;

typedef struct config_pipeline {
    config_handler_t *handlers;
    size_t count;
} config_pipeline_t;

typedef struct config_api_rule {
    char *name;     /* e.g. "invoke", "state" */
    char *version;  /* e.g. "v1.0" */
    char *protocol; /* "http" or "grpc" (default "http") */
} config_api_rule_t;

/* One entry of spec.features. */
typedef struct config_feature {
    char *name;  /* "" when absent */
    int enabled;
} config_feature_t;

typedef struct config_acl_operation {
    char *name;        /* path pattern with * and ** */
    char **http_verbs; /* "*" allowed */
    size_t http_verb_count;
    int allow; /* action: 1 allow, 0 deny */
} config_acl_operation_t;

typedef struct config_acl_policy {
    char *app_id;
    char *namespace_;
    char *trust_domain;
    int default_allow; /* -1 unset, 0 deny, 1 allow */
    config_acl_operation_t *operations;
    size_t operation_count;
} config_acl_policy_t;

/* What the --config files say. Files are applied in order, each overriding the keys it sets
 * (a list is replaced as a whole), as daprd's repeated yaml.Unmarshal into one struct does.
 * Defaults are daprd's LoadDefaultConfiguration. */
typedef struct config_spec {
    /* spec.tracing, then the OTEL_EXPORTER_OTLP_* environment variables when no file set
     * otel.endpointAddress (daprd's SetTracingSpecFromEnv; see docs/configuration.md) */
    double sampling_rate;    /* default 1e-4 when absent or unparsable (1 when the OTLP
                                endpoint came from the environment); 0 disables tracing */
    int sampling_rate_set;   /* 1 when a file set samplingRate */
    int tracing_stdout;
    char *zipkin_endpoint;   /* full URL; NULL when absent */
    char *otel_endpoint;     /* "host:port" (an optional path follows); NULL when absent */
    char *otel_protocol;     /* "http" or "grpc" (anything else is refused at load when an
                                endpoint is set); NULL when absent */
    int otel_is_secure;      /* default 1 */
    config_kv_t *otel_headers; /* extra request headers, in order; names are HTTP tokens and
                                  values have no control characters (checked at load) */
    size_t otel_header_count;
    int otel_timeout_ms;     /* per export request; 0 → the default, 10 s */
    /* spec.metric (alias spec.metrics) */
    int metrics_enabled;     /* default 1 */
    int metrics_increased_cardinality; /* default 1 */
    int metrics_exclude_verbs;         /* spec.metric.http.excludeVerbs: no method label */
    char **metrics_path_matching;
    size_t metrics_path_matching_count;
    double *latency_buckets; /* NULL → Dapr's default buckets */
    size_t latency_bucket_count;
    /* spec.nameResolution */
    char *nr_component;      /* NULL → mode default */
    char *nr_version;
    config_kv_t *nr_configuration; /* flattened scalar keys of configuration: */
    size_t nr_configuration_count;
    /* spec.accessControl */
    int acl_present;         /* 1 when accessControl sets a trustDomain, a defaultAction or
                                policies (daprd: otherwise there is no ACL at all) */
    int acl_default_allow;   /* -1 unset (daprd then denies when policies exist), 0, 1 */
    char *acl_trust_domain;  /* default "public" */
    config_acl_policy_t *acl_policies;
    size_t acl_policy_count;
    /* spec.api */
    config_api_rule_t *api_allowed;
    size_t api_allowed_count;
    config_api_rule_t *api_denied;
    size_t api_denied_count;
    /* spec.logging.apiLogging */
    int api_logging_enabled; /* -1 unset */
    int api_logging_obfuscate_urls;
    int api_logging_omit_health_checks;
    /* spec.features, as written (a later file's list replaces an earlier one's) */
    config_feature_t *features;
    size_t feature_count;
    /* The features in effect, by daprd's rules (config.SetDefaultFeatures + LoadFeatures),
     * computed by config_load() after every file: daprd 1.15's default SchedulerReminders is
     * appended unless listed; then entries in order, an enabled one added once, a disabled one
     * removing an earlier enabled one, nameless ones ignored. */
    char **enabled_features;
    size_t enabled_feature_count;
    /* pipelines */
    config_pipeline_t http_pipeline;
    config_pipeline_t app_http_pipeline;
} config_spec_t;

typedef struct config {
    /* identity */
    char *app_id;            /* "" allowed */
    config_mode_t mode;
    char *namespace_;        /* $NAMESPACE, default "default" */
    /* ports and addresses; a port of 0 means "not served" unless noted */
    int http_port;           /* --dapr-http-port, 3500 */
    int grpc_port;           /* --dapr-grpc-port, 50001 (public gRPC API, not served yet) */
    int internal_grpc_port;  /* --dapr-internal-grpc-port; 0 → derived (see config_internal_port) */
    char *internal_grpc_listen_address; /* "" = all */
    char **listen_addresses; /* --dapr-listen-addresses, split, brackets removed from IPv6 */
    size_t listen_address_count;
    int public_port;         /* --dapr-public-port, 0 = off */
    char *public_listen_address; /* "" = all */
    char *unix_domain_socket;    /* directory, NULL = none */
    /* app channel */
    int app_port;            /* --app-port, 50001 */
    int app_port_set;        /* 1 when given on the command line */
    config_app_protocol_t app_protocol;
    char *app_channel_address; /* "127.0.0.1" */
    int app_max_concurrency;   /* -1 = unlimited */
    int app_health_check_enabled;
    char *app_health_check_path;     /* "/healthz" */
    int app_health_probe_interval_s; /* 5 */
    int app_health_probe_timeout_ms; /* 500 */
    int app_health_threshold;        /* 3 */
    /* limits */
    int64_t max_body_size;   /* bytes, 4Mi; <= 0 disables the limit */
    int64_t read_buffer_size;/* bytes, 4Ki: header block limit */
    char *allowed_origins;   /* "*" default; "" disables CORS */
    /* metrics */
    int enable_metrics;      /* true */
    int metrics_port;        /* 9090 */
    char *metrics_listen_address; /* "0.0.0.0" */
    /* logs */
    int log_level;           /* base_log_level_t */
    int log_as_json;
    char *log_file;          /* --log-file: append logs there; NULL = stdout */
    int enable_api_logging;  /* -1 unset → spec.logging.apiLogging.enabled */
    /* shutdown */
    int graceful_shutdown_seconds; /* 5 */
    /* secrets from the environment, NULL when unset or empty */
    char *dapr_api_token;
    char *app_api_token;
    /* files */
    char **config_files;     /* --config, repeatable */
    size_t config_file_count;
    char **resources_paths;  /* --resources-path / --components-path, repeatable */
    size_t resources_path_count;
    /* Remora extensions (documented in docs/configuration.md) */
    int worker_threads;           /* --worker-threads, 0 → number of cores (CPUs this process
                                     may run on); after config_load() always >= 1 */
    int read_header_timeout_ms;   /* --http-read-header-timeout, 10 s; 0 = none. Go duration
                                     ("10s", "500ms", "1m") or plain seconds */
    int read_body_timeout_ms;     /* --http-read-body-timeout, 60 s; 0 = none */
    int idle_timeout_ms;          /* --http-idle-timeout, 60 s; 0 = none */
    int max_connections;          /* --http-max-connections per listener, 10000; 0 = no cap */
    int stable_internal_port;     /* daprd's stable port for app_id, computed by config_load()
                                     (see config_stable_port); used by config_internal_port() */
    /* what the files said */
    config_spec_t spec;
    config_component_t *components;
    size_t component_count;
} config_t;

/*
 * Parses argv and the environment, then the --config file(s) and --resources-path folders.
 * On success returns CONFIG_EXIT_OK with *out filled. On --help/--version returns
 * CONFIG_EXIT_DONE. On error returns CONFIG_EXIT_USAGE with a one-line message in err
 * (NUL-terminated, truncated to errlen). Warnings (deprecated aliases, accepted-but-unused
 * flags) are logged through base/log.h. *out needs config_free() only on CONFIG_EXIT_OK.
 */
int config_load(config_t *out, int argc, char **argv, char *err, size_t errlen);
void config_free(config_t *cfg);

/* Parses a Kubernetes resource quantity ("4Mi", "4M", "512Ki", "1k", "100") into bytes.
 * Returns 0, or -1 when the text is not a quantity or overflows. */
int config_parse_quantity(const char *s, int64_t *out);

/* The internal gRPC port in effect: the flag when set; 50002 in kubernetes mode; otherwise
 * daprd's stable port derived from the app id. */
int config_internal_port(const config_t *cfg);

/* daprd's "stable random" port (dapr/kit ports.GetStablePort, deterministic part): SHA-256 of
 * "<app_id>|<cwd>|<uid>|<hostname>", first 11 bits (h[0] + (h[1] >> 5) * 256) added to start.
 * daprd passes start = 47300, so the port is in 47300..49347. NULL strings count as "". */
int config_stable_port(int start, const char *app_id, const char *cwd, const char *uid,
                       const char *hostname);
/* The same for this process: cwd as Go's os.Getwd gives it ($PWD when it names "."), the
 * real uid in decimal, gethostname(). */
int config_stable_port_for_process(const char *app_id);

/* Looks up a metadata value of a component; NULL when absent. */
const char *config_component_meta(const config_component_t *c, const char *name);

#endif
