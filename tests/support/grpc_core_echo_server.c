/*
 * grpc_core_echo_server - the echo service of interop_common.h on gRPC C core (the reference
 * implementation), raw byte messages, insecure h2c. Single-threaded: one completion queue,
 * one state machine per call.
 *
 *   grpc_core_echo_server [--port N] [--max-msg BYTES]
 * Prints "PORT <n>" once listening on 127.0.0.1; SIGTERM/SIGINT shut it down cleanly.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <signal.h>

#include "interop_common.h"

enum { K_UNARY, K_STREAM, K_FAIL, K_SLEEP, K_BIG, K_GENERIC, K_COUNT };
static const char *const method_paths[] = { ECHO_UNARY, ECHO_STREAM, ECHO_FAIL, ECHO_SLEEP, ECHO_BIG };
enum { T_NEW, T_RECV, T_SEND, T_CLOSE, T_FINAL, T_COUNT };

typedef struct ctx ctx_t;
typedef struct tag {
    ctx_t *c;
    int what;
} tag_t;

struct ctx {
    int kind;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_call_details details;
    grpc_byte_buffer *recv;
    grpc_byte_buffer *sending;
    int cancelled;
    int pending;
    int closed;
    int sent_initial;
    tag_t tags[T_COUNT];
    grpc_metadata md_out;
    grpc_metadata trl_out;
    grpc_slice details_out;
    gpr_timespec wake;
    ctx_t *next_sleep;
};

static grpc_server *server;
static grpc_completion_queue *cq;
static void *registered[K_GENERIC];
static volatile sig_atomic_t stop_flag;
static ctx_t *sleepers;
static int shutting_down;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void request(int kind)
{
    if (shutting_down)
        return;
    ctx_t *c = calloc(1, sizeof(*c));
    c->kind = kind;
    for (int i = 0; i < T_COUNT; i++)
        c->tags[i] = (tag_t){ c, i };
    grpc_metadata_array_init(&c->md);
    grpc_call_details_init(&c->details);
    c->pending = 1;
    grpc_call_error e;
    if (kind == K_GENERIC)
        e = grpc_server_request_call(server, &c->call, &c->details, &c->md, cq, cq, &c->tags[T_NEW]);
    else
        e = grpc_server_request_registered_call(server, registered[kind], &c->call, &c->deadline, &c->md, NULL, cq,
                                                cq, &c->tags[T_NEW]);
    if (e != GRPC_CALL_OK) {
        fprintf(stderr, "request call failed: %d\n", e);
        exit(1);
    }
}

static void ctx_free(ctx_t *c)
{
    if (c->call)
        grpc_call_unref(c->call);
    if (c->recv)
        grpc_byte_buffer_destroy(c->recv);
    if (c->sending)
        grpc_byte_buffer_destroy(c->sending);
    grpc_metadata_array_destroy(&c->md);
    grpc_call_details_destroy(&c->details);
    free(c);
}

static void batch(ctx_t *c, grpc_op *ops, size_t n, int what)
{
    c->pending++;
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->tags[what], NULL);
    if (e != GRPC_CALL_OK) {
        fprintf(stderr, "start_batch failed: %d\n", e);
        exit(1);
    }
}

static grpc_byte_buffer *bytes(const char *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Request message as a NUL-terminated heap string. */
static char *take_text(ctx_t *c, size_t *len)
{
    grpc_byte_buffer_reader r;
    grpc_byte_buffer_reader_init(&r, c->recv);
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(s);
    char *t = malloc(*len + 1);
    memcpy(t, GRPC_SLICE_START_PTR(s), *len);
    t[*len] = 0;
    grpc_slice_unref(s);
    return t;
}

static void op_initial(grpc_op *op, ctx_t *c, int with_echo)
{
    memset(op, 0, sizeof(*op));
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    c->sent_initial = 1;
    if (with_echo) {
        for (size_t i = 0; i < c->md.count; i++) {
            if (grpc_slice_str_cmp(c->md.metadata[i].key, "x-test") == 0) {
                c->md_out.key = grpc_slice_from_static_string("x-echo");
                c->md_out.value = c->md.metadata[i].value;
                op->data.send_initial_metadata.count = 1;
                op->data.send_initial_metadata.metadata = &c->md_out;
            }
        }
    }
}

static void op_status(grpc_op *op, ctx_t *c, grpc_status_code code, const char *msg, int with_trailer)
{
    memset(op, 0, sizeof(*op));
    op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op->data.send_status_from_server.status = code;
    c->details_out = grpc_slice_from_copied_string(msg);
    op->data.send_status_from_server.status_details = &c->details_out;
    if (with_trailer) {
        c->trl_out.key = grpc_slice_from_static_string("x-trailer");
        c->trl_out.value = grpc_slice_from_static_string("done");
        op->data.send_status_from_server.trailing_metadata_count = 1;
        op->data.send_status_from_server.trailing_metadata = &c->trl_out;
    }
}

static void recv_next(ctx_t *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv;
    batch(c, &op, 1, T_RECV);
}

/* Reply with an optional message and a status, in one batch. */
static void reply(ctx_t *c, grpc_byte_buffer *msg, grpc_status_code code, const char *text, int echo_md)
{
    grpc_op ops[3];
    size_t n = 0;
    if (!c->sent_initial)
        op_initial(&ops[n++], c, echo_md);
    if (msg) {
        c->sending = msg;
        memset(&ops[n], 0, sizeof(ops[n]));
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = msg;
    }
    op_status(&ops[n++], c, code, text, echo_md);
    batch(c, ops, n, T_FINAL);
}

static void on_new(ctx_t *c, int ok)
{
    request(c->kind); /* keep one request outstanding per method */
    if (!ok)
        return;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    batch(c, &op, 1, T_CLOSE);
    if (c->kind == K_GENERIC)
        reply(c, NULL, GRPC_STATUS_UNIMPLEMENTED, "unknown method", 0);
    else
        recv_next(c);
}

static void on_recv(ctx_t *c, int ok)
{
    if (!ok)
        return;
    grpc_byte_buffer *in = c->recv;
    c->recv = NULL;
    size_t len = 0;
    char *text = NULL;
    switch (c->kind) {
    case K_UNARY:
        reply(c, in, GRPC_STATUS_OK, "", 1); /* echo (or nothing, at end of stream) */
        return;
    case K_STREAM:
        if (!in) {
            reply(c, NULL, GRPC_STATUS_OK, "", 0);
            return;
        }
        {
            grpc_op ops[2];
            size_t n = 0;
            if (!c->sent_initial)
                op_initial(&ops[n++], c, 0);
            c->sending = in;
            memset(&ops[n], 0, sizeof(ops[n]));
            ops[n].op = GRPC_OP_SEND_MESSAGE;
            ops[n++].data.send_message.send_message = in;
            batch(c, ops, n, T_SEND);
        }
        return;
    default:
        break;
    }
    if (!in) {
        reply(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "no request message", 0);
        return;
    }
    c->recv = in;
    text = take_text(c, &len);
    grpc_byte_buffer_destroy(in);
    c->recv = NULL;
    if (c->kind == K_FAIL) {
        char *sp = strchr(text, ' ');
        reply(c, NULL, (grpc_status_code)atoi(text), sp ? sp + 1 : "", 0);
    } else if (c->kind == K_BIG) {
        size_t n = strtoul(text, NULL, 10);
        char *b = malloc(n ? n : 1);
        interop_fill(b, n, 0);
        reply(c, bytes(b, n), GRPC_STATUS_OK, "", 0);
        free(b);
    } else if (c->kind == K_SLEEP) {
        c->wake = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(atol(text), GPR_TIMESPAN));
        c->pending++; /* held by the sleeper list */
        c->next_sleep = sleepers;
        sleepers = c;
    }
    free(text);
}

static void wake_sleepers(void)
{
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    for (ctx_t **pp = &sleepers; *pp;) {
        ctx_t *c = *pp;
        if (gpr_time_cmp(c->wake, now) > 0 && !shutting_down) {
            pp = &c->next_sleep;
            continue;
        }
        *pp = c->next_sleep;
        c->pending--;
        if (!c->closed)
            reply(c, bytes("slept", 5), GRPC_STATUS_OK, "", 0);
        else if (c->pending == 0)
            ctx_free(c);
    }
}

static void handle(tag_t *t, int ok)
{
    ctx_t *c = t->c;
    c->pending--;
    switch (t->what) {
    case T_NEW:
        if (!ok) {
            ctx_free(c);
            return;
        }
        on_new(c, ok);
        break;
    case T_RECV:
        on_recv(c, ok);
        break;
    case T_SEND:
        grpc_byte_buffer_destroy(c->sending);
        c->sending = NULL;
        if (ok)
            recv_next(c);
        break;
    case T_CLOSE:
        c->closed = 1;
        break;
    case T_FINAL:
        if (c->sending) {
            grpc_byte_buffer_destroy(c->sending);
            c->sending = NULL;
        }
        grpc_slice_unref(c->details_out);
        break;
    }
    if (c->pending == 0)
        ctx_free(c);
}

int main(int argc, char **argv)
{
    int port = 0;
    long max_msg = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--max-msg") == 0)
            max_msg = atol(argv[i + 1]);
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
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
    server = grpc_server_create(&cargs, NULL);
    for (int k = 0; k < K_GENERIC; k++)
        registered[k] = grpc_server_register_method(server, method_paths[k], NULL, GRPC_SRM_PAYLOAD_NONE, 0);
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server, cq, NULL);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int bound = grpc_server_add_http2_port(server, addr, creds);
    grpc_server_credentials_release(creds);
    if (bound <= 0) {
        fprintf(stderr, "cannot listen on %s\n", addr);
        return 1;
    }
    grpc_server_start(server);
    for (int k = 0; k < K_COUNT; k++)
        request(k);
    printf("PORT %d\n", bound);
    fflush(stdout);

    int shutdown_tag = 0, shutdown_done = 0;
    while (!shutdown_done) {
        if (stop_flag && !shutting_down) {
            shutting_down = 1;
            grpc_server_shutdown_and_notify(server, cq, &shutdown_tag);
            grpc_server_cancel_all_calls(server);
        }
        wake_sleepers();
        gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(5, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(cq, deadline, NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        if (ev.tag == &shutdown_tag) {
            shutdown_done = 1;
            continue;
        }
        handle(ev.tag, ev.success);
    }
    wake_sleepers();
    grpc_server_destroy(server);
    grpc_completion_queue_shutdown(cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag != &shutdown_tag)
            handle(ev.tag, ev.success);
    }
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    return 0;
}
