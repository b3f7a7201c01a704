/*
 * grpc_echo - the Dapr gRPC app of the performance benchmark, on gRPC C core (the reference
 * implementation): serves dapr.proto.runtime.v1.AppCallback/OnInvoke, answering every call with
 * an InvokeResponse whose data is the request's data Any (type_url and value) and whose
 * content_type is the request's, and AppCallbackHealthCheck/HealthCheck with an empty message.
 *
 *   grpc_echo <port>
 *
 * Listens on 127.0.0.1:<port> (insecure), prints "listening <port>" once serving, stops on
 * SIGTERM/SIGINT. An InvokeRequest that does not decode gets INVALID_ARGUMENT.
 *
 * It shares a core with the load generator, so our side is one thread polling one completion
 * queue, and the work per call is small. A fixed set of slots keeps that many calls requested
 * from the server at all times, so concurrent calls never wait for each other; a slot is a
 * small state machine (requested -> answering -> requested again) that answers in a single
 * batch (initial metadata, message, status, close). The message is read in place when it came
 * in one slice, decoded into the slot's pool (reset, not freed, per call) and packed once,
 * straight into the slice that is sent.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "dapr/proto/common/v1/common.pb-c.h"
#include "dapr/proto/runtime/v1/appcallback.pb-c.h"
#include "pb/pb.h"

#define INVOKE_SLOTS 256
#define HEALTH_SLOTS 4
#define NSLOTS (INVOKE_SLOTS + HEALTH_SLOTS)

enum { S_IDLE, S_WAIT, S_SEND };

typedef struct slot {
    int state;
    int health;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md; /* reused: grpc appends from count 0 and grows it as needed */
    grpc_byte_buffer *in, *out;
    grpc_slice details;
    int cancelled;
    base_pool_t *pool;
} slot_t;

static volatile sig_atomic_t stop;
static grpc_server *server;
static grpc_completion_queue *cq;
static void *m_invoke, *m_health;
static slot_t slots[NSLOTS];
static int shut_tag;

static void on_signal(int s)
{
    stop = 1;
}

static void request(slot_t *s)
{
    s->state = S_WAIT;
    if (grpc_server_request_registered_call(server, s->health ? m_health : m_invoke, &s->call, &s->deadline, &s->md,
                                            &s->in, cq, cq, s) != GRPC_CALL_OK)
        s->state = S_IDLE;
}

/* Releases what the finished call held, keeping the slot's buffers for the next one. */
static void reset(slot_t *s)
{
    if (s->call)
        grpc_call_unref(s->call);
    s->call = NULL;
    if (s->in)
        grpc_byte_buffer_destroy(s->in);
    if (s->out)
        grpc_byte_buffer_destroy(s->out);
    s->in = s->out = NULL;
    s->md.count = 0;
    base_pool_reset(s->pool);
    s->state = S_IDLE;
}

/* The whole message as one slice: in place when it arrived in one, else gathered once. */
static grpc_slice flat(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
        return grpc_empty_slice();
    grpc_slice_buffer *sb = &r.buffer_out->data.raw.slice_buffer;
    grpc_slice out = sb->count == 1 ? grpc_slice_ref(sb->slices[0]) : grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return out;
}

/* Encodes msg straight into the slice that will be sent. */
static grpc_byte_buffer *pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (!n)
        return grpc_raw_byte_buffer_create(NULL, 0);
    grpc_slice sl = grpc_slice_malloc(n);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(sl));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

static void answer(slot_t *s)
{
    grpc_status_code st = GRPC_STATUS_OK;
    if (s->health) {
        Dapr__Proto__Runtime__V1__HealthCheckResponse hr = DAPR__PROTO__RUNTIME__V1__HEALTH_CHECK_RESPONSE__INIT;
        s->out = pack(&hr.base);
    } else {
        grpc_slice in = flat(s->in);
        Dapr__Proto__Common__V1__InvokeRequest *req = (Dapr__Proto__Common__V1__InvokeRequest *)pb_unpack(
            &dapr__proto__common__v1__invoke_request__descriptor, s->pool, GRPC_SLICE_START_PTR(in), GRPC_SLICE_LENGTH(in));
        grpc_slice_unref(in);
        if (req) {
            Dapr__Proto__Common__V1__InvokeResponse res = DAPR__PROTO__COMMON__V1__INVOKE_RESPONSE__INIT;
            res.data = req->data;
            res.content_type = req->content_type;
            s->out = pack(&res.base);
        } else {
            st = GRPC_STATUS_INVALID_ARGUMENT;
        }
    }

    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (s->out) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = s->out;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = st;
    ops[n++].data.send_status_from_server.status_details = st == GRPC_STATUS_OK ? NULL : &s->details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &s->cancelled;
    s->state = S_SEND;
    if (grpc_call_start_batch(s->call, ops, n, s, NULL) != GRPC_CALL_OK) {
        reset(s);
        request(s);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: grpc_echo <port>\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    grpc_init();
    /* no message size limit (the sidecar enforces its own); no SO_REUSEPORT, so a port
     * already taken is an error instead of two servers sharing it */
    grpc_arg args[] = {
        { .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1 },
        { .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0 },
    };
    grpc_channel_args ca = { sizeof(args) / sizeof(args[0]), args };
    server = grpc_server_create(&ca, NULL);
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server, cq, NULL);
    m_invoke = grpc_server_register_method(server, "/dapr.proto.runtime.v1.AppCallback/OnInvoke", NULL,
                                           GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    m_health = grpc_server_register_method(server, "/dapr.proto.runtime.v1.AppCallbackHealthCheck/HealthCheck", NULL,
                                           GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%s", argv[1]);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int bound = grpc_server_add_http2_port(server, addr, creds);
    grpc_server_credentials_release(creds);
    if (!bound) {
        fprintf(stderr, "grpc_echo: cannot listen on %s\n", addr);
        return 1;
    }
    grpc_server_start(server);
    for (int i = 0; i < NSLOTS; i++) {
        slot_t *s = &slots[i];
        s->health = i >= INVOKE_SLOTS;
        grpc_metadata_array_init(&s->md);
        s->details = grpc_slice_from_static_string("cannot parse InvokeRequest");
        s->pool = base_pool_create(0);
        if (!s->pool) {
            fprintf(stderr, "grpc_echo: out of memory\n");
            return 1;
        }
        request(s);
    }
    printf("listening %s\n", argv[1]);
    fflush(stdout);

    /* the deadline only bounds how long a stop signal waits to be noticed */
    while (!stop) {
        grpc_event ev = grpc_completion_queue_next(
            cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(200, GPR_TIMESPAN)), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            continue;
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        slot_t *s = ev.tag;
        if (s->state == S_WAIT && ev.success) {
            answer(s);
        } else {
            /* an answer sent (or failed), or a request the server gave up on */
            reset(s);
            request(s);
        }
    }

    grpc_server_shutdown_and_notify(server, cq, &shut_tag);
    grpc_server_cancel_all_calls(server);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.tag == &shut_tag)
            grpc_completion_queue_shutdown(cq);
        else
            reset(ev.tag);
    }
    grpc_server_destroy(server);
    grpc_completion_queue_destroy(cq);
    for (int i = 0; i < NSLOTS; i++) {
        grpc_metadata_array_destroy(&slots[i].md);
        base_pool_destroy(slots[i].pool);
    }
    grpc_shutdown();
    return 0;
}
