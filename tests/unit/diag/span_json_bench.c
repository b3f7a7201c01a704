/*
 * span_json_bench.c - encodes a typical HTTP server span N times in batches of 512, in the
 * given format (Zipkin JSON, or OTLP protobuf as the exporter sends it), for measuring the
 * encoder's cost per span with callgrind:
 *
 *   valgrind --tool=callgrind ./span_json_bench zipkin 0        (set-up only)
 *   valgrind --tool=callgrind ./span_json_bench zipkin 100000
 *   (the same with protobuf)
 *
 * A third argument picks the case: "repeat" (the default: every span has the same attributes,
 * so the encoder's memo finds them), "unique" (every span's url.full and dapr.api differ, so
 * the memo never finds them: its worst case) or "nomemo" (the same spans as repeat, the memo
 * turned off).
 *
 * (Ir of the second run − Ir of the first) / 100000 = instructions per span.
 * Not a test: built with the unit tests, never run by CTest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag/span_json.h"
#include "diag/span_otlp.h"

static void typical_span(diag_span_t *s, unsigned i, int unique)
{
    diag_span_reset(s);
    for (int k = 0; k < 16; k++)
        s->trace_id[k] = (uint8_t)(i * 7 + (unsigned)k);
    for (int k = 0; k < 8; k++) {
        s->span_id[k] = (uint8_t)(i * 13 + (unsigned)k);
        s->parent_span_id[k] = (uint8_t)(i * 17 + (unsigned)k);
    }
    s->has_parent = 1;
    s->kind = DIAG_SPAN_KIND_SERVER;
    s->start_ns = 1700000000000000000ull + i * 1000003ull;
    s->end_ns = s->start_ns + 1234567;
    diag_span_set_name(s, BASE_SLICE_LIT("/v1.0/invoke/orders/method/new"));
    diag_span_add_attr(s, BASE_SLICE_LIT("http.request.method"), BASE_SLICE_LIT("POST"));
    diag_span_add_attr(s, BASE_SLICE_LIT("url.full"), BASE_SLICE_LIT("/v1.0/invoke/orders/method/new?id=42"));
    diag_span_add_attr(s, BASE_SLICE_LIT("server.address"), BASE_SLICE_LIT("127.0.0.1:3500"));
    diag_span_add_attr(s, BASE_SLICE_LIT("dapr.api"), BASE_SLICE_LIT("POST /v1.0/invoke/orders/method/new"));
    diag_span_add_attr(s, BASE_SLICE_LIT("dapr.protocol"), BASE_SLICE_LIT("http"));
    diag_span_add_attr(s, BASE_SLICE_LIT("dapr.status_code"), BASE_SLICE_LIT("200"));
    diag_span_add_attr(s, BASE_SLICE_LIT("dapr.invoke_method"), BASE_SLICE_LIT("new"));
    if (unique) {
        char url[64], api[64];
        int n = snprintf(url, sizeof url, "/v1.0/invoke/orders/method/new?id=%u", i);
        int m = snprintf(api, sizeof api, "POST /v1.0/invoke/orders/method/new/%u", i);
        diag_span_add_attr(s, BASE_SLICE_LIT("url.full"), base_slice(url, (size_t)n));
        diag_span_add_attr(s, BASE_SLICE_LIT("dapr.api"), base_slice(api, (size_t)m));
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc == 4 ? argv[3] : "repeat";
    if ((argc != 3 && argc != 4) || (strcmp(argv[1], "zipkin") != 0 && strcmp(argv[1], "protobuf") != 0) ||
        (strcmp(mode, "repeat") != 0 && strcmp(mode, "unique") != 0 && strcmp(mode, "nomemo") != 0)) {
        fprintf(stderr, "usage: %s zipkin|protobuf N [repeat|unique|nomemo]\n", argv[0]);
        return 2;
    }
    int pb = strcmp(argv[1], "protobuf") == 0;
    long n = atol(argv[2]);
    enum { BATCH = 512 };
    static diag_span_t spans[BATCH];
    for (unsigned i = 0; i < BATCH; i++)
        typical_span(&spans[i], i, strcmp(mode, "unique") == 0);
    /* one encoder of each kind for the whole run, as the exporter keeps one per sink */
    diag_span_encoder_t e = { 0 };
    diag_span_otlp_encoder_t pe = { 0 }; /* protobuf: the exporter's OTLP encoder */
    if (strcmp(mode, "nomemo") == 0) {
        diag_span_encode_memo_off(&e);
        diag_span_otlp_memo_off(&pe);
    }
    base_buf_t out = BASE_BUF_INIT;
    size_t bytes = 0;
    /* grow the buffer once, outside the measured part */
    if (base_buf_reserve(&out, 1u << 20) != 0)
        return 1;
    for (long done = 0; done < n;) {
        base_slice_t request;
        out.len = 0;
        if (pb)
            diag_span_otlp_begin(&pe, &out, BASE_SLICE_LIT("orders"));
        else
            diag_span_encode_begin(&e, &out, BASE_SLICE_LIT("orders"));
        for (unsigned i = 0; i < BATCH && done < n; i++, done++) {
            if (pb)
                diag_span_otlp_add(&pe, &spans[i]);
            else
                diag_span_encode_add(&e, &spans[i]);
        }
        if (pb) {
            diag_span_otlp_end(&pe, &request);
            bytes += request.len;
        } else {
            diag_span_encode_end(&e);
            bytes += out.len;
        }
    }
    printf("%ld spans, %zu bytes of %s (%.0f per span)\n", n, bytes, pb ? "protobuf" : "JSON",
           n ? (double)bytes / (double)n : 0.0);
    diag_span_encode_free(&e);
    diag_span_otlp_free(&pe);
    base_buf_free(&out);
    return 0;
}
