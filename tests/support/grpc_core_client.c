/*
 * grpc_core_client - runs interop_common.h cases against an echo server with gRPC C core,
 * one channel, one call at a time, and prints one JSON line per case.
 *
 *   grpc_core_client ADDRESS [--max-msg BYTES] CASE...
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <unistd.h>

#include "interop_common.h"

static grpc_channel *channel;
static grpc_completion_queue *cq;

static gpr_timespec ms_from_now(long ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static int wait_tag(void *tag)
{
    grpc_event ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static grpc_byte_buffer *bytes(const char *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static char *read_all(grpc_byte_buffer *bb, size_t *len)
{
    grpc_byte_buffer_reader r;
    grpc_byte_buffer_reader_init(&r, bb);
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(s);
    char *t = malloc(*len + 1);
    memcpy(t, GRPC_SLICE_START_PTR(s), *len);
    t[*len] = 0;
    grpc_slice_unref(s);
    return t;
}

static void md_value(const grpc_metadata_array *a, const char *key, char *out, size_t cap)
{
    for (size_t i = 0; i < a->count; i++) {
        if (grpc_slice_str_cmp(a->metadata[i].key, key) == 0) {
            size_t n = GRPC_SLICE_LENGTH(a->metadata[i].value);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, GRPC_SLICE_START_PTR(a->metadata[i].value), n);
            out[n] = 0;
        }
    }
}

typedef struct call_state {
    grpc_call *call;
    grpc_metadata_array initial, trailing;
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata md;
    int status_tag;
} call_state_t;

static void call_begin(call_state_t *cs, const char *path, long deadline_ms)
{
    memset(cs, 0, sizeof(*cs));
    grpc_slice method = grpc_slice_from_static_string(path);
    cs->call = grpc_channel_create_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                        ms_from_now(deadline_ms), NULL);
    grpc_metadata_array_init(&cs->initial);
    grpc_metadata_array_init(&cs->trailing);
    cs->md.key = grpc_slice_from_static_string("x-test");
    cs->md.value = grpc_slice_from_static_string("interop");
}

static void call_end(call_state_t *cs, interop_result_t *r)
{
    r->status = cs->status;
    size_t n = GRPC_SLICE_LENGTH(cs->details);
    if (n >= sizeof(r->message))
        n = sizeof(r->message) - 1;
    memcpy(r->message, GRPC_SLICE_START_PTR(cs->details), n);
    r->message[n] = 0;
    md_value(&cs->initial, "x-echo", r->hdr, sizeof(r->hdr));
    md_value(&cs->trailing, "x-trailer", r->trl, sizeof(r->trl));
    grpc_slice_unref(cs->details);
    grpc_metadata_array_destroy(&cs->initial);
    grpc_metadata_array_destroy(&cs->trailing);
    grpc_call_unref(cs->call);
}

/* One request message, one batch: everything the unary cases need. */
static void run_unary(interop_result_t *r, const char *path, const char *req, size_t len, long deadline_ms,
                      long cancel_after_ms, long expect_size, unsigned seed)
{
    call_state_t cs;
    call_begin(&cs, path, deadline_ms);
    grpc_byte_buffer *out = bytes(req, len), *in = NULL;
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = 1;
    ops[0].data.send_initial_metadata.metadata = &cs.md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = out;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &cs.initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &in;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &cs.trailing;
    ops[5].data.recv_status_on_client.status = &cs.status;
    ops[5].data.recv_status_on_client.status_details = &cs.details;
    grpc_call_error e = grpc_call_start_batch(cs.call, ops, 6, &cs, NULL);
    if (e != GRPC_CALL_OK) {
        fprintf(stderr, "start_batch: %d\n", e);
        exit(1);
    }
    if (cancel_after_ms) {
        usleep((useconds_t)cancel_after_ms * 1000);
        grpc_call_cancel(cs.call, NULL);
    }
    wait_tag(&cs);
    grpc_byte_buffer_destroy(out);
    if (in) {
        size_t n;
        char *t = read_all(in, &n);
        r->msgs = 1;
        r->bytes = (long)n;
        if (expect_size >= 0)
            r->echo = (long)n == expect_size && interop_check(t, n, seed);
        else
            r->echo = n == len && memcmp(t, req, n) == 0;
        free(t);
        grpc_byte_buffer_destroy(in);
    }
    call_end(&cs, r);
}

static void run_stream(interop_result_t *r, long count, long size)
{
    call_state_t cs;
    call_begin(&cs, ECHO_STREAM, 60000);
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    int tag_init;
    grpc_call_start_batch(cs.call, ops, 1, &tag_init, NULL);
    wait_tag(&tag_init);
    char *buf = malloc(size ? (size_t)size : 1);
    r->echo = 1;
    for (long i = 0; i < count; i++) {
        interop_fill(buf, (size_t)size, (unsigned)i);
        grpc_byte_buffer *out = bytes(buf, (size_t)size), *in = NULL;
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_SEND_MESSAGE;
        ops[0].data.send_message.send_message = out;
        int tag_send, tag_recv;
        int ok = grpc_call_start_batch(cs.call, ops, 1, &tag_send, NULL) == GRPC_CALL_OK && wait_tag(&tag_send);
        grpc_byte_buffer_destroy(out);
        if (!ok)
            break;
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        if (i == 0) {
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata = &cs.initial;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &in;
        ok = grpc_call_start_batch(cs.call, ops, n, &tag_recv, NULL) == GRPC_CALL_OK && wait_tag(&tag_recv);
        if (!ok || !in)
            break;
        size_t len;
        char *t = read_all(in, &len);
        r->msgs++;
        r->bytes += (long)len;
        if ((long)len != size || !interop_check(t, len, (unsigned)i))
            r->echo = 0;
        free(t);
        grpc_byte_buffer_destroy(in);
    }
    if (r->msgs != count)
        r->echo = 0;
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[1].data.recv_status_on_client.trailing_metadata = &cs.trailing;
    ops[1].data.recv_status_on_client.status = &cs.status;
    ops[1].data.recv_status_on_client.status_details = &cs.details;
    int tag_close;
    grpc_call_start_batch(cs.call, ops, 2, &tag_close, NULL);
    wait_tag(&tag_close);
    free(buf);
    call_end(&cs, r);
}

static void run_case(const char *spec)
{
    interop_result_t r;
    memset(&r, 0, sizeof(r));
    r.name = spec;
    interop_case_t c = interop_parse(spec);
    char req[1200];
    switch (c.kind) {
    case IC_UNARY: {
        char *b = malloc(c.a ? (size_t)c.a : 1);
        interop_fill(b, (size_t)c.a, 1);
        run_unary(&r, ECHO_UNARY, b, (size_t)c.a, 60000, 0, c.a, 1);
        free(b);
        break;
    }
    case IC_STREAM:
        run_stream(&r, c.a, c.b);
        break;
    case IC_FAIL:
        snprintf(req, sizeof(req), "%ld %s", c.a, c.text);
        run_unary(&r, ECHO_FAIL, req, strlen(req), 60000, 0, -1, 0);
        break;
    case IC_SLEEP:
        snprintf(req, sizeof(req), "%ld", c.a);
        run_unary(&r, ECHO_SLEEP, req, strlen(req), c.b ? c.b : 60000, 0, -1, 0);
        break;
    case IC_BIG:
        snprintf(req, sizeof(req), "%ld", c.a);
        run_unary(&r, ECHO_BIG, req, strlen(req), 60000, 0, c.a, 0);
        break;
    case IC_UNKNOWN:
        run_unary(&r, ECHO_UNKNOWN, "x", 1, 60000, 0, -1, 0);
        break;
    case IC_CANCEL:
        run_unary(&r, ECHO_SLEEP, "10000", 5, 60000, c.a, -1, 0);
        break;
    default:
        r.status = -1;
        snprintf(r.message, sizeof(r.message), "bad case");
    }
    interop_print(&r);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s ADDRESS [--max-msg N] CASE...\n", argv[0]);
        return 2;
    }
    long max_msg = 0;
    int first = 2;
    if (argc > 3 && strcmp(argv[2], "--max-msg") == 0) {
        max_msg = atol(argv[3]);
        first = 4;
    }
    grpc_init();
    grpc_arg args[2];
    size_t nargs = 0;
    if (max_msg) {
        args[nargs].type = GRPC_ARG_INTEGER;
        args[nargs].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
        args[nargs++].value.integer = (int)max_msg;
        args[nargs].type = GRPC_ARG_INTEGER;
        args[nargs].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
        args[nargs++].value.integer = (int)max_msg;
    }
    grpc_channel_args cargs = { nargs, args };
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    channel = grpc_channel_create(argv[1], creds, &cargs);
    grpc_channel_credentials_release(creds);
    cq = grpc_completion_queue_create_for_pluck(NULL);
    for (int i = first; i < argc; i++)
        run_case(argv[i]);
    grpc_channel_destroy(channel);
    grpc_completion_queue_shutdown(cq); /* every operation was plucked: nothing left to drain */
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    return 0;
}
