/*
 * test_metrics.c - the metrics registry: the exact Prometheus text of counters and histograms,
 * label escaping (and bytes that are not UTF-8), the merge of series recorded on several
 * threads, the per-thread series cap, custom latency buckets, collectors, allocation failure,
 * the label helpers (path under increasedCardinality and pathMatching, method, gRPC code,
 * status), and scrapes running while other threads record: run it in the sanitizer build too.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/pool.h"
#include "diag/metrics.h"

#define OVERFLOW_FAMILY                                                                                          \
    "# HELP remora_metrics_series_overflow_total Observations not recorded because a metric had too many label " \
    "combinations on a thread.\n"                                                                                \
    "# TYPE remora_metrics_series_overflow_total counter\n"

/* ---- helpers ------------------------------------------------------------------------------- */

static diag_metrics_t *reg_new(const diag_metrics_options_t *o)
{
    diag_metrics_t *m = diag_metrics_new(o);
    assert_non_null(m);
    assert_int_equal(diag_metrics_bind_thread(m), 0);
    return m;
}

static diag_metrics_t *reg_default(void)
{
    diag_metrics_options_t o = { .app_id = "app", .increased_cardinality = 1, .max_threads = 4 };
    return reg_new(&o);
}

static void reg_free(diag_metrics_t *m)
{
    diag_metrics_bind_thread(NULL);
    diag_metrics_free(m);
}

/* The scrape as a NUL-terminated string the caller frees. */
static char *scrape(diag_metrics_t *m)
{
    base_buf_t b = BASE_BUF_INIT;
    assert_int_equal(diag_metrics_scrape(m, &b), 0);
    assert_int_equal(base_buf_append(&b, "", 1), 0);
    return b.base;
}

static void record(diag_inst_t inst, double v, int n, ...)
{
    base_slice_t l[DIAG_MAX_LABELS];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        l[i] = base_slice_cstr(va_arg(ap, const char *));
    va_end(ap);
    diag_record(inst, n ? l : NULL, v);
}

/* The helpers below walk the text line by line with explicit lengths (memchr, memcmp): the
 * sanitizer build's strict_string_checks makes every strchr or strtod read to the end of the
 * text, which turns a scan of a large scrape quadratic. */

/* The number at p (up to the end of the line at most). */
static double number_at(const char *p, const char *end)
{
    char num[64];
    size_t n = BASE_MIN((size_t)(end - p), sizeof num - 1);
    memcpy(num, p, n);
    num[n] = '\0';
    return strtod(num, NULL);
}

/* Number of lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t pl = strlen(prefix), left = strlen(text);
    for (const char *p = text, *end = text + left; p < end;) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        e = e ? e : end;
        if ((size_t)(e - p) >= pl && memcmp(p, prefix, pl) == 0)
            n++;
        p = e + 1;
    }
    return n;
}

/* The value of the line that starts with `series ` exactly (name and labels), or -1. */
static double value_of(const char *text, const char *series)
{
    size_t sl = strlen(series), left = strlen(text);
    for (const char *p = text, *end = text + left; p < end;) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        e = e ? e : end;
        if ((size_t)(e - p) > sl && memcmp(p, series, sl) == 0 && p[sl] == ' ')
            return number_at(p + sl + 1, e);
        p = e + 1;
    }
    return -1;
}

static base_slice_t path_label(const char *path, char *out, size_t n)
{
    return diag_http_path_label(base_slice_cstr(path), out, n);
}

static void assert_path(const char *path, const char *want)
{
    char out[512];
    base_slice_t s = path_label(path, out, sizeof out);
    char got[512];
    snprintf(got, sizeof got, "%.*s", (int)s.len, s.base ? s.base : "");
    if (strcmp(got, want) != 0)
        fail_msg("path label of \"%s\": got \"%s\", want \"%s\"", path, got, want);
}

/* ---- exposition text ------------------------------------------------------------------------ */

static void test_empty_registry_has_only_the_overflow_counter(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    char *t = scrape(m);
    assert_string_equal(t, OVERFLOW_FAMILY "remora_metrics_series_overflow_total 0\n");
    free(t);
    reg_free(m);
}

static void test_counter_text(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    for (int i = 0; i < 3; i++)
        record(DIAG_SI_REQ_SENT, 0, 2, "b", "unary");
    record(DIAG_COMPONENT_LOADED, 0, 0);
    record(DIAG_COMPONENT_LOADED, 0, 0);
    char *t = scrape(m);
    assert_string_equal(t,
                        "# HELP dapr_runtime_service_invocation_req_sent_total The number of requests sent via "
                        "service invocation.\n"
                        "# TYPE dapr_runtime_service_invocation_req_sent_total counter\n"
                        "dapr_runtime_service_invocation_req_sent_total{app_id=\"app\",dst_app_id=\"b\","
                        "type=\"unary\"} 3\n"
                        "# HELP dapr_runtime_component_loaded The number of successfully loaded components.\n"
                        "# TYPE dapr_runtime_component_loaded counter\n"
                        "dapr_runtime_component_loaded{app_id=\"app\"} 2\n" OVERFLOW_FAMILY
                        "remora_metrics_series_overflow_total 0\n");
    free(t);
    reg_free(m);
}

/* Custom buckets 5 and 50: a value on a bound counts in that bucket (le is "less or equal"),
 * buckets are cumulative, +Inf equals _count, and res_recv_total carries type="unary". */
static void test_histogram_text_custom_buckets(void **state)
{
    (void)state;
    const double buckets[] = { 5, 50 };
    diag_metrics_options_t o = { .app_id = "app", .latency_buckets = buckets, .latency_bucket_count = 2,
                                 .increased_cardinality = 1, .max_threads = 1 };
    diag_metrics_t *m = reg_new(&o);
    const double values[] = { 1, 5, 7.25, 100 };
    for (size_t i = 0; i < 4; i++)
        record(DIAG_SI_RES_RECV, values[i], 2, "b", "200");
    char *t = scrape(m);
#define L "{app_id=\"app\",src_app_id=\"b\",status=\"200\""
    assert_string_equal(t,
                        "# HELP dapr_runtime_service_invocation_res_recv_total The number of responses received "
                        "via service invocation.\n"
                        "# TYPE dapr_runtime_service_invocation_res_recv_total counter\n"
                        "dapr_runtime_service_invocation_res_recv_total" L ",type=\"unary\"} 4\n"
                        "# HELP dapr_runtime_service_invocation_res_recv_latency_ms The latency of service "
                        "invocation response.\n"
                        "# TYPE dapr_runtime_service_invocation_res_recv_latency_ms histogram\n"
                        "dapr_runtime_service_invocation_res_recv_latency_ms_bucket" L ",le=\"5\"} 2\n"
                        "dapr_runtime_service_invocation_res_recv_latency_ms_bucket" L ",le=\"50\"} 3\n"
                        "dapr_runtime_service_invocation_res_recv_latency_ms_bucket" L ",le=\"+Inf\"} 4\n"
                        "dapr_runtime_service_invocation_res_recv_latency_ms_sum" L "} 113.25\n"
                        "dapr_runtime_service_invocation_res_recv_latency_ms_count" L "} 4\n" OVERFLOW_FAMILY
                        "remora_metrics_series_overflow_total 0\n");
#undef L
    free(t);
    reg_free(m);
}

/* Buckets out of order or repeated are dropped (each must exceed the one before). */
static void test_custom_buckets_must_ascend(void **state)
{
    (void)state;
    const double buckets[] = { 10, 10, 3, 20 };
    diag_metrics_options_t o = { .app_id = "app", .latency_buckets = buckets, .latency_bucket_count = 4,
                                 .max_threads = 1 };
    diag_metrics_t *m = reg_new(&o);
    record(DIAG_HTTP_HEALTH, 15, 1, "200");
    char *t = scrape(m);
    assert_int_equal(count_lines(t, "dapr_http_healthprobes_roundtrip_latency_bucket{"), 3);
    assert_true(value_of(t, "dapr_http_healthprobes_roundtrip_latency_bucket{app_id=\"app\",status=\"200\","
                            "le=\"10\"}") == 0);
    assert_true(value_of(t, "dapr_http_healthprobes_roundtrip_latency_bucket{app_id=\"app\",status=\"200\","
                            "le=\"20\"}") == 1);
    free(t);
    reg_free(m);
}

/* daprd's default latency buckets (34 bounds, 1 ms to 100 s) and its size buckets (1 KiB to
 * 4 GiB); the bounds print as integers. */
static void test_default_buckets(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    record(DIAG_HTTP_SERVER, 0.5, 3, "GET", "/x", "200");
    record(DIAG_HTTP_SERVER, 1234.5, 3, "GET", "/x", "200");
    record(DIAG_HTTP_SERVER_REQ_BYTES, 2048, 0);
    record(DIAG_HTTP_SERVER_REQ_BYTES, 5e9, 0);
    char *t = scrape(m);
#define S "dapr_http_server_latency_bucket{app_id=\"app\",method=\"GET\",path=\"/x\",status=\"200\","
    assert_int_equal(count_lines(t, "dapr_http_server_latency_bucket{"), 35);
    assert_true(value_of(t, S "le=\"1\"}") == 1);
    assert_true(value_of(t, S "le=\"1000\"}") == 1);
    assert_true(value_of(t, S "le=\"2000\"}") == 2);
    assert_true(value_of(t, S "le=\"100000\"}") == 2);
    assert_true(value_of(t, S "le=\"+Inf\"}") == 2);
#undef S
    assert_true(value_of(t, "dapr_http_server_latency_sum{app_id=\"app\",method=\"GET\",path=\"/x\","
                            "status=\"200\"}") == 1235);
    assert_int_equal(count_lines(t, "dapr_http_server_request_bytes_bucket{"), 14);
    assert_true(value_of(t, "dapr_http_server_request_bytes_bucket{app_id=\"app\",le=\"1024\"}") == 0);
    assert_true(value_of(t, "dapr_http_server_request_bytes_bucket{app_id=\"app\",le=\"2048\"}") == 1);
    assert_true(value_of(t, "dapr_http_server_request_bytes_bucket{app_id=\"app\",le=\"4294967296\"}") == 1);
    assert_true(value_of(t, "dapr_http_server_request_bytes_bucket{app_id=\"app\",le=\"+Inf\"}") == 2);
    assert_true(value_of(t, "dapr_http_server_request_bytes_sum{app_id=\"app\"}") == 5000002048.0);
    /* one observation feeds request_count, latency and (increasedCardinality) response_count */
    assert_true(value_of(t, "dapr_http_server_request_count{app_id=\"app\",method=\"GET\",path=\"/x\","
                            "status=\"200\"}") == 2);
    assert_true(value_of(t, "dapr_http_server_response_count{app_id=\"app\",method=\"GET\",path=\"/x\","
                            "status=\"200\"}") == 2);
    /* families with no observation are absent */
    assert_null(strstr(t, "dapr_http_client_"));
    assert_null(strstr(t, "dapr_grpc_io_"));
    free(t);
    reg_free(m);
}

static void test_response_count_only_with_increased_cardinality(void **state)
{
    (void)state;
    diag_metrics_options_t o = { .app_id = "app", .increased_cardinality = 0, .max_threads = 1 };
    diag_metrics_t *m = reg_new(&o);
    char buf[64];
    base_slice_t l[3] = { BASE_SLICE_LIT("POST"), path_label("/v1.0/invoke/b/method/x", buf, sizeof buf),
                          BASE_SLICE_LIT("200") };
    diag_record(DIAG_HTTP_SERVER, l, 3);
    char *t = scrape(m);
    assert_true(value_of(t, "dapr_http_server_request_count{app_id=\"app\",method=\"POST\",status=\"200\"}") == 1);
    assert_null(strstr(t, "dapr_http_server_response_count"));
    assert_null(strstr(t, "path="));
    free(t);
    reg_free(m);
}

/* Label values escape backslash, double quote and newline (the text format's three escapes);
 * an empty value leaves the label out, as the OpenCensus exporter does with unset tags. */
static void test_escaping_and_empty_labels(void **state)
{
    (void)state;
    diag_metrics_options_t o = { .app_id = "a\"p\\p\n", .max_threads = 1 };
    diag_metrics_t *m = reg_new(&o);
    record(DIAG_SI_REQ_RECV, 0, 1, "x\"y\\z\nw");
    record(DIAG_SI_RES_SENT, 0, 2, "", "200");
    record(DIAG_SI_RES_SENT, 0, 2, "", "");
    record(DIAG_HTTP_SERVER, 1, 3, "GET", "", "404");
    char *t = scrape(m);
    assert_non_null(strstr(t, "dapr_runtime_service_invocation_req_recv_total{app_id=\"a\\\"p\\\\p\\n\","
                              "src_app_id=\"x\\\"y\\\\z\\nw\"} 1\n"));
    assert_non_null(strstr(t, "dapr_runtime_service_invocation_res_sent_total{app_id=\"a\\\"p\\\\p\\n\","
                              "status=\"200\"} 1\n"));
    assert_non_null(strstr(t, "dapr_runtime_service_invocation_res_sent_total{app_id=\"a\\\"p\\\\p\\n\"} 1\n"));
    assert_non_null(strstr(t, "dapr_http_server_request_count{app_id=\"a\\\"p\\\\p\\n\",method=\"GET\","
                              "status=\"404\"} 1\n"));
    free(t);
    reg_free(m);
}

/* Label values that differ only in length boundaries ("ab","c" vs "a","bc") are two series. */
static void test_label_boundaries_are_distinct(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    record(DIAG_SI_RES_SENT, 0, 2, "ab", "c");
    record(DIAG_SI_RES_SENT, 0, 2, "a", "bc");
    record(DIAG_SI_RES_SENT, 0, 2, "a", "bc");
    char *t = scrape(m);
    assert_true(value_of(t, "dapr_runtime_service_invocation_res_sent_total{app_id=\"app\",dst_app_id=\"ab\","
                            "status=\"c\"}") == 1);
    assert_true(value_of(t, "dapr_runtime_service_invocation_res_sent_total{app_id=\"app\",dst_app_id=\"a\","
                            "status=\"bc\"}") == 2);
    free(t);
    reg_free(m);
}

/* Invalid UTF-8 (a raw byte from a request path) must not reach the text: Prometheus rejects
 * the whole scrape for one invalid label value. Each invalid byte becomes U+FFFD. */
static void test_invalid_utf8_replaced(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    record(DIAG_HTTP_SERVER, 1, 3, "GET", "/a\xff\xfe" "b\xc3\xa9\xe2\x82", "404");
    char *t = scrape(m);
    assert_non_null(strstr(t, "path=\"/a\xef\xbf\xbd\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\""));
    assert_null(strstr(t, "\xff"));
    free(t);
    reg_free(m);
}

/* ---- threads ------------------------------------------------------------------------------ */

typedef struct rec_arg {
    diag_metrics_t *m;
    int id;
    int iterations;
    int bind_rc;
} rec_arg_t;

static void *record_same_series(void *p)
{
    rec_arg_t *a = p;
    a->bind_rc = diag_metrics_bind_thread(a->m);
    char own[16];
    snprintf(own, sizeof own, "t%d", a->id);
    for (int i = 0; i < a->iterations; i++) {
        record(DIAG_HTTP_SERVER, (double)(i % 10), 3, "POST", "/same", "200");
        record(DIAG_SI_REQ_SENT, 0, 2, "b", "unary");
    }
    record(DIAG_SI_REQ_SENT, 0, 2, own, "unary");
    diag_metrics_bind_thread(NULL);
    return NULL;
}

static void test_merge_across_threads(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    record(DIAG_SI_REQ_SENT, 0, 2, "b", "unary"); /* the main thread's shard too */
    rec_arg_t args[2] = { { m, 1, 1000, -1 }, { m, 2, 1000, -1 } };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, record_same_series, &args[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bind_rc, 0);
    }
    char *t = scrape(m);
    /* one line per label set, values summed over the three shards */
    assert_int_equal(count_lines(t, "dapr_runtime_service_invocation_req_sent_total{"), 3);
    assert_true(value_of(t, "dapr_runtime_service_invocation_req_sent_total{app_id=\"app\",dst_app_id=\"b\","
                            "type=\"unary\"}") == 2001);
    assert_true(value_of(t, "dapr_runtime_service_invocation_req_sent_total{app_id=\"app\",dst_app_id=\"t1\","
                            "type=\"unary\"}") == 1);
    assert_true(value_of(t, "dapr_runtime_service_invocation_req_sent_total{app_id=\"app\",dst_app_id=\"t2\","
                            "type=\"unary\"}") == 1);
#define S "{app_id=\"app\",method=\"POST\",path=\"/same\",status=\"200\""
    assert_int_equal(count_lines(t, "dapr_http_server_request_count{"), 1);
    assert_true(value_of(t, "dapr_http_server_request_count" S "}") == 2000);
    assert_true(value_of(t, "dapr_http_server_latency_count" S "}") == 2000);
    assert_true(value_of(t, "dapr_http_server_latency_bucket" S ",le=\"1\"}") == 400);  /* 0 and 1 */
    assert_true(value_of(t, "dapr_http_server_latency_bucket" S ",le=\"5\"}") == 1200); /* 0..5 */
    assert_true(value_of(t, "dapr_http_server_latency_bucket" S ",le=\"+Inf\"}") == 2000);
    assert_true(value_of(t, "dapr_http_server_latency_sum" S "}") == 9000); /* 200 × 45 per thread */
#undef S
    free(t);
    reg_free(m);
}

/* Every shard taken: the next thread records nothing, and says so. */
static void test_bind_beyond_max_threads(void **state)
{
    (void)state;
    diag_metrics_options_t o = { .app_id = "app", .max_threads = 1 };
    diag_metrics_t *m = reg_new(&o);
    assert_true(diag_metrics_on());
    rec_arg_t a = { m, 1, 10, 0 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, record_same_series, &a), 0);
    pthread_join(th, NULL);
    assert_int_equal(a.bind_rc, -1);
    char *t = scrape(m);
    assert_null(strstr(t, "dapr_"));
    free(t);
    reg_free(m);
    assert_false(diag_metrics_on());
    record(DIAG_SI_REQ_SENT, 0, 2, "b", "unary"); /* no shard, no registry: nothing happens */
}

/* DIAG_MAX_SERIES label combinations per instrument per thread; past it new combinations are
 * counted in remora_metrics_series_overflow_total, known ones still count. */
static void test_series_cap(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    char id[32];
    for (int i = 0; i < DIAG_MAX_SERIES + 10; i++) {
        snprintf(id, sizeof id, "app-%d", i);
        record(DIAG_SI_REQ_RECV, 0, 1, id);
    }
    record(DIAG_SI_REQ_RECV, 0, 1, "app-0");
    record(DIAG_SI_REQ_SENT, 0, 2, "other", "unary"); /* another instrument has its own room */
    char *t = scrape(m);
    assert_int_equal(count_lines(t, "dapr_runtime_service_invocation_req_recv_total{"), DIAG_MAX_SERIES);
    assert_true(value_of(t, "dapr_runtime_service_invocation_req_recv_total{app_id=\"app\","
                            "src_app_id=\"app-0\"}") == 2);
    snprintf(id, sizeof id, "app-%d", DIAG_MAX_SERIES);
    char series[128];
    snprintf(series, sizeof series, "dapr_runtime_service_invocation_req_recv_total{app_id=\"app\",src_app_id=\"%s\"}",
             id);
    assert_true(value_of(t, series) == -1);
    assert_true(value_of(t, "remora_metrics_series_overflow_total") == 10);
    assert_true(value_of(t, "dapr_runtime_service_invocation_req_sent_total{app_id=\"app\",dst_app_id=\"other\","
                            "type=\"unary\"}") == 1);
    free(t);
    reg_free(m);
}

/* ---- concurrent scrape --------------------------------------------------------------------- */

typedef struct stress {
    diag_metrics_t *m;
    int id;
    _Atomic int *stop;
    long done; /* iterations recorded, read after the join */
    int bind_rc;
} stress_t;

enum { NEW_EVERY = 1000, NEW_MAX = 100 };

/* Records until told to stop (at least NEW_EVERY iterations), adding a new series every
 * NEW_EVERY iterations up to NEW_MAX, so scrapes also race the publication of new series. */
static void *stress_record(void *p)
{
    stress_t *s = p;
    s->bind_rc = diag_metrics_bind_thread(s->m);
    char path[32];
    long i = 0;
    for (; i < NEW_EVERY || !atomic_load_explicit(s->stop, memory_order_relaxed); i++) {
        snprintf(path, sizeof path, "/p/%ld", i % 8);
        record(DIAG_HTTP_SERVER, (double)(i % 300) * 0.7, 3, "GET", path, "200");
        record(DIAG_SI_REQ_SENT, 0, 2, "b", "unary");
        if (i % NEW_EVERY == 0 && i / NEW_EVERY < NEW_MAX) {
            snprintf(path, sizeof path, "/new/%d/%ld", s->id, i / NEW_EVERY);
            record(DIAG_HTTP_SERVER, 1, 3, "GET", path, "200");
        }
    }
    s->done = i;
    diag_metrics_bind_thread(NULL);
    return NULL;
}

/* The last value of every sample line, by its name and labels: an open-addressing table. */
#define SEEN_SLOTS 8192
typedef struct seen {
    char key[160];
    double value;
} seen_t;

static seen_t *seen_slot(seen_t *seen, const char *key, size_t kl)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < kl; i++)
        h = (h ^ (unsigned char)key[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < SEEN_SLOTS; i++) {
        seen_t *s = &seen[(h + i) & (SEEN_SLOTS - 1)];
        if (s->key[0] == '\0' || (strlen(s->key) == kl && memcmp(s->key, key, kl) == 0))
            return s;
    }
    return NULL;
}

/* Checks one scrape: in every histogram, buckets never decrease and +Inf equals _count (the
 * line after _sum); no series went backwards since the previous scrape (seen holds the last
 * values). Returns 0, or -1 with the reason in err (no cmocka failure here: the recording
 * threads must be joined first). */
static int check_consistent(const char *text, seen_t *seen, char *err, size_t errlen)
{
    double prev = 0, inf = -1;
    const char *group = NULL; /* the current bucket line up to le= */
    size_t group_len = 0;
    int after_sum = 0;
    const char *text_end = text + strlen(text);
    for (const char *line = text; line < text_end;) {
        const char *end = memchr(line, '\n', (size_t)(text_end - line));
        if (!end) {
            snprintf(err, errlen, "unterminated last line");
            return -1;
        }
        if (line[0] == '#') {
            line = end + 1;
            continue;
        }
        const char *sp = memchr(line, ' ', (size_t)(end - line));
        if (!sp) {
            snprintf(err, errlen, "no value: %.*s", (int)(end - line), line);
            return -1;
        }
        double v = number_at(sp + 1, end);
        const char *brace = memchr(line, '{', (size_t)(sp - line));
        const char *name_end = brace ? brace : sp;
        const char *le = NULL;
        for (const char *q = line; q + 5 <= sp; q++)
            if (memcmp(q, ",le=\"", 5) == 0)
                le = q;
        if (le) {
            size_t gl = (size_t)(le - line);
            if (!group || gl != group_len || memcmp(group, line, gl) != 0) {
                group = line;
                group_len = gl;
                prev = 0;
            }
            if (v < prev) {
                snprintf(err, errlen, "bucket went down: %.*s (previous %g)", (int)(end - line), line, prev);
                return -1;
            }
            prev = v;
            if (memcmp(le, ",le=\"+Inf\"", 10) == 0)
                inf = v;
        } else if (after_sum && name_end - line > 6 && memcmp(name_end - 6, "_count", 6) == 0 && v != inf) {
            snprintf(err, errlen, "+Inf bucket %g but %.*s", inf, (int)(end - line), line);
            return -1;
        }
        after_sum = name_end - line > 4 && memcmp(name_end - 4, "_sum", 4) == 0;
        size_t kl = (size_t)(sp - line);
        seen_t *slot = kl < sizeof seen[0].key ? seen_slot(seen, line, kl) : NULL;
        if (slot && slot->key[0]) {
            if (v < slot->value) {
                snprintf(err, errlen, "%s went from %g to %g", slot->key, slot->value, v);
                return -1;
            }
            slot->value = v;
        } else if (slot) {
            memcpy(slot->key, line, kl);
            slot->key[kl] = '\0';
            slot->value = v;
        }
        line = end + 1;
    }
    return 0;
}

static void test_scrape_while_recording(void **state)
{
    (void)state;
    diag_metrics_options_t o = { .app_id = "app", .increased_cardinality = 1, .max_threads = 3 };
    diag_metrics_t *m = reg_new(&o);
    enum { THREADS = 2, SCRAPES = 20, MIN_MS = 500, MAX_MS = 10000 };
    _Atomic int stop = 0;
    stress_t s[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (stress_t){ m, i, &stop, 0, -1 };
        assert_int_equal(pthread_create(&th[i], NULL, stress_record, &s[i]), 0);
    }
    seen_t *seen = calloc(SEEN_SLOTS, sizeof *seen);
    char err[512] = "";
    int bad = seen ? 0 : -1, scrapes = 0;
    /* at least SCRAPES scrapes and MIN_MS of scraping, so that the plain build, where a scrape
     * is quick, still races many recordings; at most MAX_MS */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long ms = 0; !bad && ms < MAX_MS && (scrapes < SCRAPES || ms < MIN_MS); scrapes++) {
        char *t = scrape(m);
        bad = check_consistent(t, seen, err, sizeof err);
        free(t);
        clock_gettime(CLOCK_MONOTONIC, &now);
        ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    }
    atomic_store(&stop, 1);
    long total_iter = 0, total_new = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].bind_rc, 0);
        total_iter += s[i].done;
        total_new += BASE_MIN((s[i].done + NEW_EVERY - 1) / NEW_EVERY, (long)NEW_MAX);
    }
    if (bad)
        fail_msg("scrape %d: %s", scrapes, err);
    print_message("%d scrapes while recording, %ld recordings\n", scrapes, total_iter);
    char *t = scrape(m);
    if (check_consistent(t, seen, err, sizeof err) != 0)
        fail_msg("last scrape: %s", err);
    assert_true(value_of(t, "dapr_runtime_service_invocation_req_sent_total{app_id=\"app\",dst_app_id=\"b\","
                            "type=\"unary\"}") == (double)total_iter);
    double total = 0;
    char series[128];
    for (int p = 0; p < 8; p++) {
        snprintf(series, sizeof series,
                 "dapr_http_server_request_count{app_id=\"app\",method=\"GET\",path=\"/p/%d\",status=\"200\"}", p);
        total += value_of(t, series);
    }
    assert_true(total == (double)total_iter);
    assert_int_equal(count_lines(t, "dapr_http_server_request_count{app_id=\"app\",method=\"GET\",path=\"/new/"),
                     total_new);
    free(t);
    free(seen);
    reg_free(m);
}

/* ---- collectors, allocation failure ------------------------------------------------------------ */

static void collect_one(base_buf_t *out, void *ctx)
{
    base_buf_printf(out, "# TYPE extra_%s gauge\nextra_%s 1\n", (const char *)ctx, (const char *)ctx);
}

static void test_collectors(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    static const char *names[] = { "a", "b", "c", "d", "e" };
    for (int i = 0; i < 4; i++)
        assert_int_equal(diag_metrics_add_collector(m, collect_one, (void *)names[i]), 0);
    assert_int_equal(diag_metrics_add_collector(m, collect_one, (void *)names[4]), -1);
    char *t = scrape(m);
    const char *ov = strstr(t, "remora_metrics_series_overflow_total 0\n");
    assert_non_null(ov);
    assert_string_equal(ov, "remora_metrics_series_overflow_total 0\n"
                            "# TYPE extra_a gauge\nextra_a 1\n# TYPE extra_b gauge\nextra_b 1\n"
                            "# TYPE extra_c gauge\nextra_c 1\n# TYPE extra_d gauge\nextra_d 1\n");
    free(t);
    reg_free(m);
}

static long fail_after = -1;

static void *failing_malloc(size_t n)
{
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    return malloc(n);
}

/* Allocation failure, at every allocation in turn: the constructor returns NULL and frees
 * what it took; a series that cannot be allocated is not recorded; a scrape neither crashes
 * nor leaks (checked by the sanitizer build), and is whole once nothing fails. */
static void test_allocation_failures(void **state)
{
    (void)state;
    static const char *const paths[] = { "/orders/{id}", "/v1/" };
    const double buckets[] = { 5, 50 };
    diag_metrics_options_t o = { .app_id = "app", .latency_buckets = buckets, .latency_bucket_count = 2,
                                 .increased_cardinality = 1, .path_matching = paths, .path_matching_count = 2,
                                 .max_threads = 2 };
    base_allocator_t a = { failing_malloc, free };
    diag_metrics_t *m = NULL;
    for (long n = 0; n < 100 && !m; n++) {
        fail_after = n;
        base_set_allocator(&a);
        m = diag_metrics_new(&o);
        base_set_allocator(NULL);
    }
    assert_non_null(m);
    assert_int_equal(diag_metrics_bind_thread(m), 0);

    fail_after = 0;
    base_set_allocator(&a);
    record(DIAG_SI_REQ_RECV, 0, 1, "lost");
    base_set_allocator(NULL);

    record(DIAG_HTTP_SERVER, 3, 3, "GET", "/orders/{id}", "200");
    record(DIAG_HTTP_SERVER, 70, 3, "POST", "/v1/", "500");
    record(DIAG_SI_REQ_SENT, 0, 2, "b", "unary");
    record(DIAG_GRPC_SERVER_RECV_BYTES, 4096, 1, "/m");
    char *want = scrape(m);
    assert_null(strstr(want, "lost"));
    int complete = 0;
    for (long n = 0; n < 1000 && !complete; n++) {
        base_buf_t b = BASE_BUF_INIT;
        fail_after = n;
        base_set_allocator(&a);
        int rc = diag_metrics_scrape(m, &b);
        base_set_allocator(NULL);
        complete = rc == 0 && fail_after > 0; /* no allocation failed */
        if (complete)
            assert_true(b.len == strlen(want) && memcmp(b.base, want, b.len) == 0);
        base_buf_free(&b);
    }
    fail_after = -1;
    assert_true(complete);
    free(want);
    reg_free(m);
}

/* ---- label helpers -------------------------------------------------------------------------- */

/* diag_record_rpc() records what the three diag_record() calls would, whatever changes between
 * calls: the side, the method, the code, a code past the known ones (whose name is text that
 * changes at one address), and a method literal at another address with the same text. */
static void test_record_rpc_matches_record(void **state)
{
    (void)state;
    static const char stream[] = "/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream";
    static const char unary[] = "/dapr.proto.internals.v1.ServiceInvocation/CallLocal";
    static const char stream_again[] = "/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream";
    struct {
        diag_rpc_side_t side;
        const char *method;
        int code;
        double ms, sent, recv;
    } calls[] = {
        { DIAG_RPC_CLIENT, stream, 0, 1.5, 100, 200 },  { DIAG_RPC_CLIENT, stream, 0, 7, 1100, 20 },
        { DIAG_RPC_CLIENT, stream, 14, 3, 10, 0 },      { DIAG_RPC_CLIENT, unary, 0, 0.2, 5000, 70000 },
        { DIAG_RPC_SERVER, stream, 0, 2, 300, 400 },    { DIAG_RPC_SERVER, stream, 20, 2, 1, 1 },
        { DIAG_RPC_SERVER, stream, 21, 4, 2, 2 },       { DIAG_RPC_SERVER, stream, 21, 4, 2, 2 },
        { DIAG_RPC_CLIENT, stream_again, 0, 9, 9, 9 },  { DIAG_RPC_CLIENT, stream, 0, 1.5, 100, 200 },
    };
    char *want = NULL, *got = NULL;
    for (int pass = 0; pass < 2; pass++) {
        diag_metrics_t *m = reg_default();
        for (size_t i = 0; i < BASE_ARRAY_SIZE(calls); i++) {
            if (pass == 1) {
                diag_record_rpc(calls[i].side, calls[i].method, calls[i].code, calls[i].ms, calls[i].sent,
                                calls[i].recv);
                continue;
            }
            int server = calls[i].side == DIAG_RPC_SERVER;
            base_slice_t l[2] = { base_slice_cstr(calls[i].method), base_slice_cstr(diag_grpc_code_name(calls[i].code)) };
            diag_record(server ? DIAG_GRPC_SERVER : DIAG_GRPC_CLIENT, l, calls[i].ms);
            diag_record(server ? DIAG_GRPC_SERVER_SENT_BYTES : DIAG_GRPC_CLIENT_SENT_BYTES, l, calls[i].sent);
            diag_record(server ? DIAG_GRPC_SERVER_RECV_BYTES : DIAG_GRPC_CLIENT_RECV_BYTES, l, calls[i].recv);
        }
        if (pass == 0)
            want = scrape(m);
        else
            got = scrape(m);
        reg_free(m);
    }
    assert_string_equal(got, want);
    assert_non_null(strstr(got, "grpc_server_status=\"Code(21)\"} 2\n"));
    free(want);
    free(got);
}

static void test_path_label_without_registry(void **state)
{
    (void)state;
    assert_path("/v1.0/invoke/b/method/x", "");
    char out[4];
    assert_int_equal(path_label("/x", out, 0).len, 0);
}

static void test_path_label_increased_cardinality(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    assert_path("/v1.0/invoke/b/method/orders/7", "/v1.0/invoke/b/method/orders/7");
    assert_path("//v1.0//invoke/b", "/v1.0/invoke/b"); /* NormalizeHTTPPath: repeated slashes merged */
    assert_path("v1.0/healthz", "/v1.0/healthz");      /* and a leading one added */
    assert_path("/healthz", "/healthz");
    assert_path("", "/");
    char small[8];
    base_slice_t s = path_label("/0123456789", small, sizeof small); /* truncated, still terminated */
    assert_int_equal(s.len, 7);
    assert_int_equal(small[7], '\0');
    assert_memory_equal(small, "/012345", 7);
    char one[1]; /* room for the terminator only, even when a leading '/' is due */
    assert_int_equal(path_label("x", one, sizeof one).len, 0);
    assert_int_equal(one[0], '\0');
    /* a repeated slash at every position of every length, around the 8-byte steps of the
     * search: merged; and none: the path as it is */
    for (size_t len = 2; len <= 40; len++) {
        char path[48], out[64], want[48];
        for (size_t i = 0; i < len; i++)
            path[i] = (char)(i == 0 || i % 5 == 0 ? '/' : 'a' + (char)(i % 26));
        base_slice_t plain = diag_http_path_label(base_slice(path, len), out, sizeof out);
        assert_ptr_equal(plain.base, path);
        assert_int_equal(plain.len, len);
        for (size_t at = 1; at + 1 < len; at++) {
            char saved[2] = { path[at], path[at + 1] };
            path[at] = path[at + 1] = '/';
            size_t w = 0;
            for (size_t i = 0; i < len; i++) /* what merging gives */
                if (!(path[i] == '/' && w && want[w - 1] == '/'))
                    want[w++] = path[i];
            base_slice_t got = diag_http_path_label(base_slice(path, len), out, sizeof out);
            assert_int_equal(got.len, w);
            assert_memory_equal(got.base, want, w);
            path[at] = saved[0];
            path[at + 1] = saved[1];
        }
    }
    reg_free(m);
}

static void test_path_label_low_cardinality(void **state)
{
    (void)state;
    diag_metrics_options_t o = { .app_id = "app", .increased_cardinality = 0, .max_threads = 1 };
    diag_metrics_t *m = reg_new(&o);
    assert_path("/v1.0/invoke/b/method/orders/7", "");
    /* daprd's static paths keep their label */
    assert_path("/dapr/config", "/dapr/config");
    assert_path("/dapr/subscribe", "/dapr/subscribe");
    assert_path("/dapr/metrics", "/dapr/metrics");
    assert_path("/healthz", "/healthz");
    reg_free(m);
}

/* daprd's http_monitoring tests (TestHTTPMetricsPathMatchingServiceInvocation,
 * ...LowCardinality, ...NormalizationDedup): net/http ServeMux patterns, the invoke variant
 * added for each, "" when nothing matches and "/" is not a pattern. */
static void test_path_matching_low_cardinality(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "/orders/{id}", "/api/v1/widget", "/files/{rest...}", "/v1/orders/{orderID}/items/12345",
        "/v1/orders/{orderID}/items/{itemID}", "/v1/orders/{orderID}", "/v1/", "//dedup//me", "dedup/me",
    };
    diag_metrics_options_t o = { .app_id = "app", .increased_cardinality = 0, .path_matching = paths,
                                 .path_matching_count = BASE_ARRAY_SIZE(paths), .max_threads = 1 };
    diag_metrics_t *m = reg_new(&o);
    assert_path("/orders/123", "/orders/{id}");
    assert_path("/v1.0/invoke/order-app/method/orders/123", "/v1.0/invoke/{app_id}/method/orders/{id}");
    assert_path("/api/v1/widget", "/api/v1/widget");
    assert_path("/v1.0/invoke/x/method/api/v1/widget", "/v1.0/invoke/{app_id}/method/api/v1/widget");
    assert_path("/files/a/b/c", "/files/{rest...}");
    assert_path("/files/", "/files/{rest...}");
    assert_path("/v1/orders/12345/items/12345", "/v1/orders/{orderID}/items/12345"); /* literal wins */
    assert_path("/v1/orders/12345/items/1111", "/v1/orders/{orderID}/items/{itemID}");
    assert_path("/v1/orders/12345", "/v1/orders/{orderID}");
    assert_path("/v1/basket", "/v1/");        /* subtree */
    assert_path("/v1/basket/a/b", "/v1/");
    assert_path("/v1/", "/v1/");
    assert_path("//orders//5", "/orders/{id}"); /* the request path is normalised first */
    assert_path("/dedup/me", "/dedup/me");
    assert_path("/orders/", "");              /* {id} needs a non-empty segment */
    assert_path("/orders/1/2", "");
    assert_path("/v2/orders/1111", "");       /* no match, no "/" pattern */
    assert_path("/v1", "");
    assert_path("/dapr/config", "/dapr/config");
    reg_free(m);
}

static void test_path_matching_root_pattern(void **state)
{
    (void)state;
    static const char *const paths[] = { "/v1/orders/{orderID}", "/" };
    diag_metrics_options_t o = { .app_id = "app", .increased_cardinality = 0, .path_matching = paths,
                                 .path_matching_count = 2, .max_threads = 1 };
    diag_metrics_t *m = reg_new(&o);
    assert_path("/thispathdoesnotexist", "/");
    assert_path("/v1/orders/9", "/v1/orders/{orderID}");
    assert_path("/v1.0/invoke/a/method/v1/orders/9", "/v1.0/invoke/{app_id}/method/v1/orders/{orderID}");
    reg_free(m);
}

/* With increasedCardinality a path no pattern matches keeps its own (normalised) value
 * (TestHTTPMetricsPathMatchingLegacyIncreasedCardinality). */
static void test_path_matching_increased_cardinality(void **state)
{
    (void)state;
    static const char *const paths[] = { "/v1/orders/{orderID}/items/12345", "/v1/orders/{orderID}/items/{itemID}",
                                         "/v1/items/{itemID}" };
    diag_metrics_options_t o = { .app_id = "app", .increased_cardinality = 1, .path_matching = paths,
                                 .path_matching_count = 3, .max_threads = 1 };
    diag_metrics_t *m = reg_new(&o);
    assert_path("/v1/orders/12345/items/12345", "/v1/orders/{orderID}/items/12345");
    assert_path("/v1/orders/12345/items/1111", "/v1/orders/{orderID}/items/{itemID}");
    assert_path("/v1/items/12345", "/v1/items/{itemID}");
    assert_path("/v2/basket/12345", "/v2/basket/12345");
    assert_path("/v2//basket", "/v2/basket");
    reg_free(m);
}

static void assert_method(const char *in, const char *want)
{
    base_slice_t s = diag_http_method_label(base_slice_cstr(in));
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.base, want, s.len);
}

static void test_method_label(void **state)
{
    (void)state;
    diag_metrics_t *m = reg_default();
    static const char *const verbs[] = { "GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT",
                                         "TRACE" };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(verbs); i++)
        assert_method(verbs[i], verbs[i]);
    assert_method("PROPFIND", "UNKNOWN");
    assert_method("INVALID", "UNKNOWN");
    assert_method("get", "UNKNOWN"); /* daprd's ValidHTTPVerbs is case-sensitive */
    assert_method("", "UNKNOWN");
    reg_free(m);

    diag_metrics_options_t o = { .app_id = "app", .exclude_verbs = 1, .max_threads = 1 };
    m = reg_new(&o);
    assert_method("GET", "");
    assert_method("INVALID", "");
    reg_free(m);
}

static void test_grpc_code_names(void **state)
{
    (void)state;
    static const char *const want[] = { "OK",
                                        "Canceled",
                                        "Unknown",
                                        "InvalidArgument",
                                        "DeadlineExceeded",
                                        "NotFound",
                                        "AlreadyExists",
                                        "PermissionDenied",
                                        "ResourceExhausted",
                                        "FailedPrecondition",
                                        "Aborted",
                                        "OutOfRange",
                                        "Unimplemented",
                                        "Internal",
                                        "Unavailable",
                                        "DataLoss",
                                        "Unauthenticated" };
    for (int i = 0; i < (int)BASE_ARRAY_SIZE(want); i++)
        assert_string_equal(diag_grpc_code_name(i), want[i]);
    assert_non_null(diag_grpc_code_name(17));
    assert_non_null(diag_grpc_code_name(-1));
}

static void test_status_label(void **state)
{
    (void)state;
    char out[12];
    base_slice_t s = diag_status_label(200, out);
    assert_int_equal(s.len, 3);
    assert_string_equal(out, "200");
    diag_status_label(0, out);
    assert_string_equal(out, "0");
    diag_status_label(-1, out);
    assert_string_equal(out, "-1");
    diag_status_label(2147483647, out);
    assert_string_equal(out, "2147483647");
    s = diag_status_label(-2147483647 - 1, out);
    assert_string_equal(out, "-2147483648");
    assert_int_equal(s.len, 11);
}

static void test_ms_since(void **state)
{
    (void)state;
    assert_true(diag_ms_since(1000000, 3500000) == 2.5);
    assert_true(diag_ms_since(5, 4) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_registry_has_only_the_overflow_counter),
        cmocka_unit_test(test_counter_text),
        cmocka_unit_test(test_histogram_text_custom_buckets),
        cmocka_unit_test(test_custom_buckets_must_ascend),
        cmocka_unit_test(test_default_buckets),
        cmocka_unit_test(test_response_count_only_with_increased_cardinality),
        cmocka_unit_test(test_escaping_and_empty_labels),
        cmocka_unit_test(test_label_boundaries_are_distinct),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_merge_across_threads),
        cmocka_unit_test(test_bind_beyond_max_threads),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_scrape_while_recording),
        cmocka_unit_test(test_collectors),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_record_rpc_matches_record),
        cmocka_unit_test(test_path_label_without_registry),
        cmocka_unit_test(test_path_label_increased_cardinality),
        cmocka_unit_test(test_path_label_low_cardinality),
        cmocka_unit_test(test_path_matching_low_cardinality),
        cmocka_unit_test(test_path_matching_root_pattern),
        cmocka_unit_test(test_path_matching_increased_cardinality),
        cmocka_unit_test(test_method_label),
        cmocka_unit_test(test_grpc_code_names),
        cmocka_unit_test(test_status_label),
        cmocka_unit_test(test_ms_since),
    };
    return cmocka_run_group_tests_name("diag_metrics", tests, NULL, NULL);
}
