/*
 * flags.c - daprd's command line (cmd/daprd/options/options.go, pflag) and environment.
 *
 * One table describes every flag: its name, how its value is parsed, where it lands in
 * config_t and its default as text. The defaults are applied by running that text through
 * the same parser, so --help shows exactly what an unset flag means.
 *
 * pflag behaviour kept: `--flag value` and `--flag=value`; a single dash before a long name
 * (`-app-id x`) is read as two, as daprd rewrites it; boolean flags take no separate value
 * (`--flag` or `--flag=false`); a flag that takes a value consumes the next argument whatever
 * it looks like (`--app-max-concurrency -1`).
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"
#include "base/pool.h"
#include "config_internal.h"

typedef enum flag_kind {
    F_STRING,   /* char *; "" kept */
    F_NSTRING,  /* char *; "" → NULL */
    F_ADDRESS,  /* char *; spaces trimmed, [IPv6] brackets removed; "" = all interfaces */
    F_PORT,     /* int, 0..65535 */
    F_OPT_PORT, /* int, 0..65535; "" → 0 */
    F_INT,      /* int */
    F_BOOL,     /* int 0/1 */
    F_QUANTITY, /* int64_t bytes */
    F_DURATION, /* int milliseconds */
    F_CUSTOM,   /* set() */
    F_IGNORED,  /* accepted with a warning */
} flag_kind_t;

struct parse;
typedef struct flag_def flag_def_t;
typedef int (*flag_set_fn)(struct parse *ps, const flag_def_t *f, const char *val);

struct flag_def {
    const char *name;
    flag_kind_t kind;
    int takes_value;   /* for F_CUSTOM and F_IGNORED; the other kinds: all but F_BOOL */
    size_t off;        /* offset in config_t */
    const char *def;   /* default as the user would type it; NULL → none */
    const char *help;
    flag_set_fn set;   /* F_CUSTOM */
    const char *deprecated; /* replacement advice when the flag is deprecated */
};

enum { FLAG_MAX = 96 };

typedef struct parse {
    config_t *cfg;
    char *err;
    size_t errlen;
    unsigned char seen[FLAG_MAX];
    int applying_defaults;
    int app_ssl;
    int max_request_mb;
    int read_buffer_kb;
    char *components_path;
    int want_help;
    int want_version;
} parse_t;

#define OFF(field) offsetof(config_t, field)

static int set_mode(parse_t *ps, const flag_def_t *f, const char *val);
static int set_app_protocol(parse_t *ps, const flag_def_t *f, const char *val);
static int set_listen_addresses(parse_t *ps, const flag_def_t *f, const char *val);
static int set_app_port(parse_t *ps, const flag_def_t *f, const char *val);
static int set_path_list(parse_t *ps, const flag_def_t *f, const char *val);
static int set_components_path(parse_t *ps, const flag_def_t *f, const char *val);
static int set_log_level(parse_t *ps, const flag_def_t *f, const char *val);
static int set_app_ssl(parse_t *ps, const flag_def_t *f, const char *val);
static int set_mb(parse_t *ps, const flag_def_t *f, const char *val);
static int set_kb(parse_t *ps, const flag_def_t *f, const char *val);
static int set_help(parse_t *ps, const flag_def_t *f, const char *val);
static int set_version(parse_t *ps, const flag_def_t *f, const char *val);

#define S(name, field, def, help) { name, F_STRING, 1, OFF(field), def, help, NULL, NULL }
#define NS(name, field, help) { name, F_NSTRING, 1, OFF(field), NULL, help, NULL, NULL }
#define A(name, field, def, help) { name, F_ADDRESS, 1, OFF(field), def, help, NULL, NULL }
#define P(name, field, def, help) { name, F_PORT, 1, OFF(field), def, help, NULL, NULL }
#define OP(name, field, help) { name, F_OPT_PORT, 1, OFF(field), NULL, help, NULL, NULL }
#define I(name, field, def, help) { name, F_INT, 1, OFF(field), def, help, NULL, NULL }
#define B(name, field, def, help) { name, F_BOOL, 0, OFF(field), def, help, NULL, NULL }
#define Q(name, field, def, help) { name, F_QUANTITY, 1, OFF(field), def, help, NULL, NULL }
#define D(name, field, def, help) { name, F_DURATION, 1, OFF(field), def, help, NULL, NULL }
#define C(name, takes, def, help, fn) { name, F_CUSTOM, takes, 0, def, help, fn, NULL }
#define DEP(name, takes, help, fn, advice) { name, F_CUSTOM, takes, 0, NULL, help, fn, advice }
#define IGN(name, takes, help) { name, F_IGNORED, takes, 0, NULL, help, NULL, NULL }

static const flag_def_t flags[] = {
    /* identity and mode */
    S("app-id", app_id, "", "A unique ID for Dapr. Used for service discovery and state"),
    C("mode", 1, "standalone", "Runtime mode for Dapr: standalone or kubernetes", set_mode),
    /* Dapr API */
    P("dapr-http-port", http_port, "3500", "HTTP port for the Dapr API to listen on"),
    P("dapr-grpc-port", grpc_port, "50001", "gRPC port for the Dapr API to listen on"),
    OP("dapr-internal-grpc-port", internal_grpc_port,
       "gRPC port for the Dapr internal API; empty or 0: 50002 in kubernetes mode, else a "
       "stable port derived from the app id (47300-49347)"),
    A("dapr-internal-grpc-listen-address", internal_grpc_listen_address, "",
      "Listen address for the Dapr internal gRPC API; empty = all interfaces"),
    C("dapr-listen-addresses", 1, "[::1],127.0.0.1",
      "One or more addresses for the Dapr API to listen on, comma separated", set_listen_addresses),
    OP("dapr-public-port", public_port, "Public port for Dapr health and metadata; empty = off"),
    A("dapr-public-listen-address", public_listen_address, "",
      "Listen address for the public port; empty = all interfaces"),
    NS("unix-domain-socket", unix_domain_socket,
       "Directory for Unix domain sockets; when set the HTTP API listens only on DIR/dapr-<app-id>-http.socket"),
    /* app channel */
    C("app-port", 1, "50001", "The port the application is listening on", set_app_port),
    C("app-protocol", 1, "grpc", "Protocol of the application: grpc, grpcs, http, https, h2c",
      set_app_protocol),
    S("app-channel-address", app_channel_address, "127.0.0.1",
      "The network address the application listens on"),
    I("app-max-concurrency", app_max_concurrency, "-1",
      "Maximum concurrent calls to the application; -1 for no limit"),
    B("enable-app-health-check", app_health_check_enabled, "false",
      "Enable health checks of the application"),
    S("app-health-check-path", app_health_check_path, "/healthz",
      "Path used for health checks; HTTP only"),
    I("app-health-probe-interval", app_health_probe_interval_s, "5",
      "Interval between app health probes, in seconds"),
    I("app-health-probe-timeout", app_health_probe_timeout_ms, "500",
      "Timeout of an app health probe, in milliseconds"),
    I("app-health-threshold", app_health_threshold, "3",
      "Consecutive failures for the app to be considered unhealthy"),
    /* limits */
    Q("max-body-size", max_body_size, "4Mi",
      "Max size of a request body, as a resource quantity; 0 or less: no limit"),
    Q("read-buffer-size", read_buffer_size, "4Ki",
      "Max size of the request header block, as a resource quantity"),
    S("allowed-origins", allowed_origins, "*", "Allowed HTTP origins (CORS)"),
    /* files */
    C("config", 1, NULL, "Path to a Configuration file; repeatable", set_path_list),
    C("resources-path", 1, NULL, "Path to a resources directory or file; repeatable",
      set_path_list),
    /* metrics and logs */
    B("enable-metrics", enable_metrics, "true", "Enable the Prometheus metrics endpoint"),
    P("metrics-port", metrics_port, "9090", "Port of the Prometheus metrics endpoint"),
    A("metrics-listen-address", metrics_listen_address, "0.0.0.0",
      "Listen address of the metrics endpoint"),
    C("log-level", 1, "info", "Log level: debug, info, warn, error or fatal", set_log_level),
    B("log-as-json", log_as_json, "false", "Print logs as JSON"),
    NS("log-file", log_file, "Write logs to this file instead of stdout"),
    B("enable-api-logging", enable_api_logging, NULL,
      "Log every API call; when unset, spec.logging.apiLogging.enabled decides"),
    /* shutdown */
    I("dapr-graceful-shutdown-seconds", graceful_shutdown_seconds, "5",
      "Graceful shutdown time in seconds"),
    /* Remora extensions */
    I("worker-threads", worker_threads, "0", "Worker threads (event loops); 0 = number of CPUs"),
    D("http-read-header-timeout", read_header_timeout_ms, "10s",
      "Time allowed to receive a request's header block; 0 = none"),
    D("http-read-body-timeout", read_body_timeout_ms, "60s",
      "Time allowed between two reads of a request body; 0 = none"),
    D("http-idle-timeout", idle_timeout_ms, "60s",
      "Time an idle keep-alive connection is kept open; 0 = forever"),
    I("http-max-connections", max_connections, "10000",
      "Maximum open connections per listener; 0 = no limit"),
    /* deprecated aliases */
    DEP("components-path", 1, "Alias for --resources-path", set_components_path,
        "use --resources-path"),
    DEP("app-ssl", 0, "Use TLS to the application", set_app_ssl,
        "use '--app-protocol https|grpcs'"),
    DEP("dapr-http-max-request-size", 1, "Max size of a request body, in MB", set_mb,
        "use '--max-body-size 4Mi'"),
    DEP("dapr-http-read-buffer-size", 1, "Max size of the read buffer, in KB", set_kb,
        "use '--read-buffer-size 4Ki'"),
    /* information */
    C("version", 0, NULL, "Print the runtime version and exit", set_version),
    C("help", 0, NULL, "Print this help and exit", set_help),
    /* daprd flags Remora does not implement: accepted so `dapr run` works */
    IGN("enable-profiling", 0, "Enable profiling"),
    IGN("profile-port", 1, "The port for the profile server"),
    IGN("placement-host-address", 1, "Addresses for Dapr actor placement servers"),
    IGN("scheduler-host-address", 1, "Addresses of the scheduler service"),
    IGN("scheduler-job-streams", 1, "Active job streams to the scheduler"),
    IGN("actors-service", 1, "Type and address of the actors service"),
    IGN("reminders-service", 1, "Type and address of the reminders service"),
    IGN("enable-mtls", 0, "Enable mTLS between sidecars"),
    IGN("sentry-address", 1, "Address of the Sentry CA service"),
    IGN("sentry-request-jwt-audiences", 1, "JWT audiences for certificate requests"),
    IGN("control-plane-address", 1, "Address of a Dapr control plane"),
    IGN("control-plane-trust-domain", 1, "Trust domain of the Dapr control plane"),
    IGN("control-plane-namespace", 1, "Namespace of the Dapr control plane"),
    IGN("dapr-block-shutdown-duration", 1, "Block graceful shutdown for this duration"),
    IGN("disable-builtin-k8s-secret-store", 0, "Disable the built-in Kubernetes secret store"),
    IGN("wait", 0, "Wait for Dapr outbound ready"),
    IGN("build-info", 0, "Print build info"),
    IGN("metrics-exporter-type", 1, "Metrics exporter type"),
};

_Static_assert(sizeof(flags) / sizeof(flags[0]) <= FLAG_MAX, "raise FLAG_MAX");

static const size_t flag_count = sizeof(flags) / sizeof(flags[0]);

static int flag_takes_value(const flag_def_t *f)
{
    switch (f->kind) {
    case F_BOOL:
        return 0;
    case F_CUSTOM:
    case F_IGNORED:
        return f->takes_value;
    default:
        return 1;
    }
}

static const flag_def_t *flag_find(const char *name, size_t len)
{
    for (size_t i = 0; i < flag_count; i++)
        if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
            return &flags[i];
    return NULL;
}

static size_t flag_index(const flag_def_t *f)
{
    return (size_t)(f - flags);
}

static int parse_seen(const parse_t *ps, const char *name)
{
    const flag_def_t *f = flag_find(name, strlen(name));
    return f && ps->seen[flag_index(f)];
}

static int bad_value(parse_t *ps, const flag_def_t *f, const char *val, const char *why)
{
    cfg_errf(ps->err, ps->errlen, "invalid value \"%s\" for flag --%s: %s", val, f->name, why);
    return -1;
}

static int oom(parse_t *ps)
{
    cfg_errf(ps->err, ps->errlen, "out of memory");
    return -1;
}

/* ---- value parsers ---- */

/* strconv.ParseBool */
static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
    static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* strconv.Atoi: optional sign, decimal digits, nothing else, fits an int. */
static int parse_int(const char *s, int *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p) || strspn(p, "0123456789") != strlen(p))
        return -1;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno == ERANGE || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_port(const char *s, int *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
        return -1;
    long v = strtol(s, NULL, 10); /* at most 5 digits, checked above */
    if (v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

/* Trims spaces and removes the brackets of "[::1]". Returns a new string or NULL (*why set). */
static char *normalise_address(const char *s, size_t len, const char **why)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len && s[0] == '[') {
        if (len < 2 || s[len - 1] != ']') {
            *why = "unbalanced '[' in address";
            return NULL;
        }
        s++;
        len -= 2;
    } else if (len && memchr(s, ']', len)) {
        *why = "unbalanced ']' in address";
        return NULL;
    }
    char *out = cfg_strndup(s, len);
    if (!out)
        *why = "out of memory";
    return out;
}

/* ---- setters ---- */

static void *field(parse_t *ps, const flag_def_t *f)
{
    return (char *)ps->cfg + f->off;
}

static int set_string(parse_t *ps, const flag_def_t *f, const char *val, int empty_is_null)
{
    char **dst = field(ps, f);
    if (cfg_set_str(dst, empty_is_null && *val == '\0' ? NULL : val) != 0)
        return oom(ps);
    return 0;
}

static int set_address(parse_t *ps, const flag_def_t *f, const char *val)
{
    const char *why = NULL;
    char *addr = normalise_address(val, strlen(val), &why);
    if (!addr)
        return bad_value(ps, f, val, why);
    char **dst = field(ps, f);
    base_free(*dst);
    *dst = addr;
    return 0;
}

static int set_builtin(parse_t *ps, const flag_def_t *f, const char *val)
{
    int iv;
    switch (f->kind) {
    case F_STRING:
        return set_string(ps, f, val, 0);
    case F_NSTRING:
        return set_string(ps, f, val, 1);
    case F_ADDRESS:
        return set_address(ps, f, val);
    case F_OPT_PORT:
        if (*val == '\0') {
            *(int *)field(ps, f) = 0;
            return 0;
        }
        /* fall through */
    case F_PORT:
        if (parse_port(val, &iv) != 0)
            return bad_value(ps, f, val, "not a port number (0-65535)");
        *(int *)field(ps, f) = iv;
        return 0;
    case F_INT:
        if (parse_int(val, &iv) != 0)
            return bad_value(ps, f, val, "not an integer");
        *(int *)field(ps, f) = iv;
        return 0;
    case F_BOOL:
        if (parse_bool(val, &iv) != 0)
            return bad_value(ps, f, val, "not a boolean (true, false, 1, 0)");
        *(int *)field(ps, f) = iv;
        return 0;
    case F_QUANTITY: {
        int64_t q;
        if (config_parse_quantity(val, &q) != 0)
            return bad_value(ps, f, val, "not a resource quantity such as 4Mi, 4M or 512Ki");
        *(int64_t *)field(ps, f) = q;
        return 0;
    }
    case F_DURATION:
        if (cfg_parse_duration_ms(val, &iv) != 0)
            return bad_value(ps, f, val, "not a duration such as 10s, 500ms or 1m");
        *(int *)field(ps, f) = iv;
        return 0;
    case F_CUSTOM:
        return f->set(ps, f, val);
    case F_IGNORED:
        if (!ps->applying_defaults)
            LOG_WARN(BASE_LOG_SCOPE_CONFIG,
                     "flag --%s is not supported by Remora yet and is ignored", f->name);
        return 0;
    }
    return 0;
}

static int set_mode(parse_t *ps, const flag_def_t *f, const char *val)
{
    if (strcmp(val, "standalone") == 0)
        ps->cfg->mode = CONFIG_MODE_STANDALONE;
    else if (strcmp(val, "kubernetes") == 0)
        ps->cfg->mode = CONFIG_MODE_KUBERNETES;
    else
        return bad_value(ps, f, val, "expected standalone or kubernetes");
    return 0;
}

/* Case-insensitive, as daprd lowercases it (pkg/runtime/config.go toInternal). */
static int set_app_protocol(parse_t *ps, const flag_def_t *f, const char *val)
{
    static const struct { const char *name; config_app_protocol_t p; } names[] = {
        { "grpc", CONFIG_APP_GRPC }, { "grpcs", CONFIG_APP_GRPCS }, { "http", CONFIG_APP_HTTP },
        { "https", CONFIG_APP_HTTPS }, { "h2c", CONFIG_APP_H2C },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(val, names[i].name) == 0) {
            ps->cfg->app_protocol = names[i].p;
            return 0;
        }
    }
    return bad_value(ps, f, val, "expected grpc, grpcs, http, https or h2c");
}

static int set_listen_addresses(parse_t *ps, const flag_def_t *f, const char *val)
{
    char **list = NULL;
    size_t count = 0;
    const char *p = val;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *why = NULL;
        char *addr = normalise_address(p, len, &why);
        if (addr && *addr == '\0') {
            base_free(addr);
            addr = NULL;
            why = "empty address in the list";
        }
        char **slot = addr ? cfg_push(&list, &count, sizeof(*list)) : NULL;
        if (!slot) {
            if (addr)
                why = "out of memory";
            base_free(addr);
            cfg_free_strv(list, count);
            return bad_value(ps, f, val, why);
        }
        *slot = addr;
        if (!comma)
            break;
        p = comma + 1;
    }
    cfg_free_strv(ps->cfg->listen_addresses, ps->cfg->listen_address_count);
    ps->cfg->listen_addresses = list;
    ps->cfg->listen_address_count = count;
    return 0;
}

static int set_app_port(parse_t *ps, const flag_def_t *f, const char *val)
{
    int port;
    if (*val == '\0' && !ps->applying_defaults) {
        ps->cfg->app_port_set = 0; /* `--app-port ""`: as if not given */
        return 0;
    }
    if (parse_port(val, &port) != 0)
        return bad_value(ps, f, val, "not a port number (0-65535)");
    ps->cfg->app_port = port;
    ps->cfg->app_port_set = !ps->applying_defaults;
    return 0;
}

/* pflag StringSlice: comma separated, repeatable, appended in order; empty items skipped. */
static int append_paths(parse_t *ps, char ***list, size_t *count, const char *val)
{
    const char *p = val;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len) {
            char **slot = cfg_push(list, count, sizeof(**list));
            if (!slot || !(*slot = cfg_strndup(p, len))) {
                if (slot)
                    (*count)--;
                return oom(ps);
            }
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int set_path_list(parse_t *ps, const flag_def_t *f, const char *val)
{
    config_t *c = ps->cfg;
    if (strcmp(f->name, "config") == 0)
        return append_paths(ps, &c->config_files, &c->config_file_count, val);
    return append_paths(ps, &c->resources_paths, &c->resources_path_count, val);
}

static int set_components_path(parse_t *ps, const flag_def_t *f, const char *val)
{
    if (cfg_set_str(&ps->components_path, *val ? val : NULL) != 0)
        return oom(ps);
    return 0;
}

/* dapr/kit logger options: the level is matched case-insensitively. */
static int set_log_level(parse_t *ps, const flag_def_t *f, const char *val)
{
    char lower[16];
    size_t n = strlen(val);
    base_log_level_t level;
    if (n >= sizeof(lower))
        return bad_value(ps, f, val, "expected debug, info, warn, error or fatal");
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)val[i]);
    if (base_log_level_parse(lower, &level) != 0)
        return bad_value(ps, f, val, "expected debug, info, warn, error or fatal");
    ps->cfg->log_level = (int)level;
    return 0;
}

static int set_app_ssl(parse_t *ps, const flag_def_t *f, const char *val)
{
    if (parse_bool(val, &ps->app_ssl) != 0)
        return bad_value(ps, f, val, "not a boolean (true, false, 1, 0)");
    return 0;
}

static int set_mb(parse_t *ps, const flag_def_t *f, const char *val)
{
    if (parse_int(val, &ps->max_request_mb) != 0)
        return bad_value(ps, f, val, "not an integer number of MB");
    return 0;
}

static int set_kb(parse_t *ps, const flag_def_t *f, const char *val)
{
    if (parse_int(val, &ps->read_buffer_kb) != 0)
        return bad_value(ps, f, val, "not an integer number of KB");
    return 0;
}

static int set_help(parse_t *ps, const flag_def_t *f, const char *val)
{
    ps->want_help = 1;
    return 0;
}

static int set_version(parse_t *ps, const flag_def_t *f, const char *val)
{
    int v = 1;
    if (parse_bool(val, &v) != 0)
        return bad_value(ps, f, val, "not a boolean (true, false, 1, 0)");
    ps->want_version = v;
    return 0;
}

/* ---- help ---- */

static void print_help(FILE *out)
{
    fprintf(out, "Usage of daprd (Remora %s, Dapr %s compatible):\n", REMORA_VERSION,
            REMORA_DAPR_COMPAT_VERSION);
    for (size_t i = 0; i < flag_count; i++) {
        const flag_def_t *f = &flags[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s", f->name, flag_takes_value(f) ? " value" : "");
        fprintf(out, "  %-44s %s", left, f->help);
        if (f->kind == F_IGNORED)
            fprintf(out, " (accepted, not supported yet)");
        else if (f->deprecated)
            fprintf(out, " (deprecated: %s)", f->deprecated);
        else if (f->def)
            fprintf(out, " (default \"%s\")", f->def);
        else if (f->kind == F_BOOL)
            fprintf(out, " (default unset)");
        fputc('\n', out);
    }
    fprintf(out, "Environment: DAPR_API_TOKEN, APP_API_TOKEN, NAMESPACE (default \"default\").\n");
}

/* ---- argv ---- */

static int apply(parse_t *ps, const flag_def_t *f, const char *val)
{
    if (f->deprecated && !ps->applying_defaults)
        LOG_WARN(BASE_LOG_SCOPE_CONFIG, "flag --%s has been deprecated, %s", f->name, f->deprecated);
    ps->seen[flag_index(f)] = 1;
    return set_builtin(ps, f, val);
}

static int parse_args(parse_t *ps, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '\0') {
            const char *bad = strcmp(a, "--") == 0 ? (i + 1 < argc ? argv[i + 1] : NULL) : a;
            if (!bad)
                return 0;
            cfg_errf(ps->err, ps->errlen, "unexpected argument \"%s\" (flags are --name value "
                     "or --name=value; booleans take --name=false)", bad);
            return -1;
        }
        if (strcmp(a, "-h") == 0) {
            ps->want_help = 1;
            return 0;
        }
        /* "-app-id" is "--app-id" (daprd doubles single dashes before pflag sees them). */
        const char *name = a[1] == '-' ? a + 2 : a + 1;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const flag_def_t *f = flag_find(name, name_len);
        if (!f) {
            cfg_errf(ps->err, ps->errlen, "unknown flag: --%.*s", (int)name_len, name);
            return -1;
        }
        const char *val;
        if (eq)
            val = eq + 1;
        else if (!flag_takes_value(f))
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            cfg_errf(ps->err, ps->errlen, "flag needs an argument: --%s", f->name);
            return -1;
        }
        if (apply(ps, f, val) != 0)
            return -1;
        if (ps->want_help)
            return 0; /* pflag stops at --help */
    }
    return 0;
}

static int apply_defaults(parse_t *ps)
{
    config_t *c = ps->cfg;
    c->enable_api_logging = -1;
    c->app_max_concurrency = -1;
    ps->max_request_mb = 4;
    ps->read_buffer_kb = 4;
    ps->applying_defaults = 1;
    for (size_t i = 0; i < flag_count; i++)
        if (flags[i].def && set_builtin(ps, &flags[i], flags[i].def) != 0)
            return -1;
    ps->applying_defaults = 0;
    return 0;
}

/* ---- environment ---- */

static int env_dup(parse_t *ps, const char *name, char **dst)
{
    const char *v = getenv(name);
    if (v && *v && cfg_set_str(dst, v) != 0)
        return oom(ps);
    return 0;
}

static int load_env(parse_t *ps)
{
    config_t *c = ps->cfg;
    if (env_dup(ps, "DAPR_API_TOKEN", &c->dapr_api_token) != 0 ||
        env_dup(ps, "APP_API_TOKEN", &c->app_api_token) != 0)
        return -1;
    const char *ns = getenv("NAMESPACE");
    if (cfg_set_str(&c->namespace_, ns && *ns ? ns : "default") != 0)
        return oom(ps);
    return 0;
}

/* ---- rules between flags (pkg/runtime/config.go toInternal, options.go New) ---- */

static int cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void apply_deprecated_sizes(parse_t *ps)
{
    config_t *c = ps->cfg;
    /* --max-body-size wins over --dapr-http-max-request-size; -1 means the default. */
    if (!parse_seen(ps, "max-body-size") && parse_seen(ps, "dapr-http-max-request-size")) {
        if (ps->max_request_mb > 0)
            c->max_body_size = (int64_t)ps->max_request_mb << 20;
        else if (ps->max_request_mb == -1)
            c->max_body_size = 4 << 20;
        else
            c->max_body_size = ps->max_request_mb;
    }
    if (!parse_seen(ps, "read-buffer-size") && parse_seen(ps, "dapr-http-read-buffer-size"))
        c->read_buffer_size = ps->read_buffer_kb > 0 ? (int64_t)ps->read_buffer_kb << 10 : 0;
    /* A header limit of 0 or less cannot work; daprd maps -1 (and fasthttp 0) to 4 KiB. */
    if (c->read_buffer_size <= 0)
        c->read_buffer_size = 4 << 10;
}

static void apply_app_ssl(parse_t *ps)
{
    config_t *c = ps->cfg;
    if (!ps->app_ssl)
        return;
    if (c->app_protocol == CONFIG_APP_HTTP)
        c->app_protocol = CONFIG_APP_HTTPS;
    else if (c->app_protocol == CONFIG_APP_GRPC)
        c->app_protocol = CONFIG_APP_GRPCS;
}

static int check_health(parse_t *ps)
{
    config_t *c = ps->cfg;
    if (c->app_health_probe_interval_s <= 0)
        c->app_health_probe_interval_s = 5;
    if (c->app_health_probe_timeout_ms <= 0)
        c->app_health_probe_timeout_ms = 500;
    if (c->app_health_threshold < 1)
        c->app_health_threshold = 3;
    /* daprd rejects only a timeout above the interval; equal is allowed. */
    if ((int64_t)c->app_health_probe_timeout_ms > (int64_t)c->app_health_probe_interval_s * 1000) {
        cfg_errf(ps->err, ps->errlen,
                 "value for --app-health-probe-timeout (%d ms) must be smaller than "
                 "--app-health-probe-interval (%d s)",
                 c->app_health_probe_timeout_ms, c->app_health_probe_interval_s);
        return -1;
    }
    return 0;
}

static int finish(parse_t *ps)
{
    config_t *c = ps->cfg;
    if (c->resources_path_count == 0 && ps->components_path &&
        append_paths(ps, &c->resources_paths, &c->resources_path_count, ps->components_path) != 0)
        return -1;
    apply_deprecated_sizes(ps);
    apply_app_ssl(ps);
    if (check_health(ps) != 0)
        return -1;
    if (c->graceful_shutdown_seconds < 0)
        c->graceful_shutdown_seconds = 5;
    if (c->app_max_concurrency <= 0)
        c->app_max_concurrency = -1;
    if (c->mode == CONFIG_MODE_STANDALONE && strchr(c->app_id, '.')) {
        cfg_errf(ps->err, ps->errlen, "invalid value \"%s\" for flag --app-id: an app id cannot "
                 "contain a period (.)", c->app_id);
        return -1;
    }
    if (c->app_port_set && c->app_port == c->http_port) {
        cfg_errf(ps->err, ps->errlen,
                 "the 'dapr-http-port' argument value %d conflicts with 'app-port'", c->http_port);
        return -1;
    }
    if (c->worker_threads < 0 || c->worker_threads > 1024) {
        cfg_errf(ps->err, ps->errlen, "invalid value \"%d\" for flag --worker-threads: "
                 "expected 0 (one per CPU) to 1024", c->worker_threads);
        return -1;
    }
    if (c->worker_threads == 0)
        c->worker_threads = cpu_count();
    if (c->max_connections < 0) {
        cfg_errf(ps->err, ps->errlen, "invalid value \"%d\" for flag --http-max-connections: "
                 "must not be negative", c->max_connections);
        return -1;
    }
    return 0;
}

int cfg_flags_parse(config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    parse_t ps = { .cfg = cfg, .err = err, .errlen = errlen };
    int rc = CONFIG_EXIT_USAGE;
    if (apply_defaults(&ps) != 0 || parse_args(&ps, argc, argv) != 0)
        goto out;
    if (ps.want_help) {
        print_help(stdout);
        rc = CONFIG_EXIT_DONE;
        goto out;
    }
    if (ps.want_version) {
        printf("%s\n", REMORA_VERSION);
        rc = CONFIG_EXIT_DONE;
        goto out;
    }
    if (load_env(&ps) != 0 || finish(&ps) != 0)
        goto out;
    rc = CONFIG_EXIT_OK;
out:
    base_free(ps.components_path);
    return rc;
}
