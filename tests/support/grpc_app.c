/*
 * grpc_app - a Dapr gRPC app written with gRPC C core (the reference implementation), for the
 * invocation tests: serves dapr.proto.runtime.v1.AppCallback/OnInvoke and
 * AppCallbackHealthCheck/HealthCheck on 127.0.0.1:<port>.
 *
 *   grpc_app <port>
 *
 * OnInvoke methods:
 *   echo           InvokeResponse.data = the request data, content type as sent
 *   error/<code>   gRPC status <code> with message "app error <code>" (and trailer x-app: yes)
 *   anything else  JSON describing the call: method, verb, querystring, contentType,
 *                  dataLength, and the call metadata (key → first value)
 * Prints "listening <port>" once serving. Stops on SIGTERM/SIGINT.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dapr/proto/common/v1/common.pb-c.h"
#include "dapr/proto/runtime/v1/appcallback.pb-c.h"

static volatile sig_atomic_t stop;

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

typedef struct pending {
    int health;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    gpr_timespec deadline;
} pending_t;

static grpc_server *server;
static grpc_completion_queue *cq;
static void *m_invoke, *m_health;

static void request_next(int health)
{
    pending_t *p = calloc(1, sizeof(*p));
    p->health = health;
    grpc_metadata_array_init(&p->md);
    grpc_server_request_registered_call(server, health ? m_health : m_invoke, &p->call, &p->deadline, &p->md,
                                        &p->payload, cq, cq, p);
}

static size_t read_all(grpc_byte_buffer *bb, uint8_t **out)
{
    *out = NULL;
    if (!bb)
        return 0;
    grpc_byte_buffer_reader r;
    grpc_byte_buffer_reader_init(&r, bb);
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    size_t n = GRPC_SLICE_LENGTH(s);
    *out = malloc(n ? n : 1);
    memcpy(*out, GRPC_SLICE_START_PTR(s), n);
    grpc_slice_unref(s);
    grpc_byte_buffer_reader_destroy(&r);
    return n;
}

/* Appends s as a JSON string (escaping quotes, backslashes and control bytes). */
static void json_str(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n + 2; i++) {
        if (*len + 8 >= *cap) {
            *cap = *cap * 2 + 64;
            *buf = realloc(*buf, *cap);
        }
        if (i == 0 || i == n + 1) {
            (*buf)[(*len)++] = '"';
            continue;
        }
        unsigned char c = (unsigned char)s[i - 1];
        if (c == '"' || c == '\\') {
            (*buf)[(*len)++] = '\\';
            (*buf)[(*len)++] = (char)c;
        } else if (c < 0x20) {
            *len += (size_t)snprintf(*buf + *len, 8, "\\u%04x", c);
        } else {
            (*buf)[(*len)++] = (char)c;
        }
    }
}

static void json_raw(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 >= *cap) {
        *cap = (*len + n) * 2 + 64;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
}

static char *describe(const Dapr__Proto__Common__V1__InvokeRequest *req, const grpc_metadata_array *md, size_t *out_len)
{
    size_t len = 0, cap = 256;
    char *b = malloc(cap), num[64];
    const char *m = req && req->method ? req->method : "";
    json_raw(&b, &len, &cap, "{\"method\":");
    json_str(&b, &len, &cap, m, strlen(m));
    snprintf(num, sizeof(num), ",\"verb\":%d,\"querystring\":", req && req->http_extension ? (int)req->http_extension->verb : -1);
    json_raw(&b, &len, &cap, num);
    const char *q = req && req->http_extension && req->http_extension->querystring ? req->http_extension->querystring : "";
    json_str(&b, &len, &cap, q, strlen(q));
    json_raw(&b, &len, &cap, ",\"contentType\":");
    const char *ct = req && req->content_type ? req->content_type : "";
    json_str(&b, &len, &cap, ct, strlen(ct));
    snprintf(num, sizeof(num), ",\"dataLength\":%zu,\"metadata\":{", req && req->data ? req->data->value.len : 0);
    json_raw(&b, &len, &cap, num);
    for (size_t i = 0; i < md->count; i++) {
        const grpc_slice k = md->metadata[i].key, v = md->metadata[i].value;
        if (i)
            json_raw(&b, &len, &cap, ",");
        json_str(&b, &len, &cap, (const char *)GRPC_SLICE_START_PTR(k), GRPC_SLICE_LENGTH(k));
        json_raw(&b, &len, &cap, ":");
        int bin = GRPC_SLICE_LENGTH(k) > 4 && memcmp(GRPC_SLICE_START_PTR(k) + GRPC_SLICE_LENGTH(k) - 4, "-bin", 4) == 0;
        if (bin) {
            snprintf(num, sizeof(num), "\"<%zu bytes>\"", GRPC_SLICE_LENGTH(v));
            json_raw(&b, &len, &cap, num);
        } else {
            json_str(&b, &len, &cap, (const char *)GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v));
        }
    }
    json_raw(&b, &len, &cap, "}}");
    *out_len = len;
    return b;
}

typedef struct batch {
    pending_t *p;
    grpc_byte_buffer *send;
    grpc_slice details;
    uint8_t *out, *in;
    grpc_metadata trailer;
    int cancelled;
} batch_t;

static void batch_done(batch_t *b)
{
    grpc_slice_unref(b->details);
    if (b->send)
        grpc_byte_buffer_destroy(b->send);
    free(b->out);
    free(b->in);
    pending_t *p = b->p;
    if (p->payload)
        grpc_byte_buffer_destroy(p->payload);
    grpc_metadata_array_destroy(&p->md);
    grpc_call_unref(p->call);
    free(p);
    free(b);
}

static void answer(pending_t *p)
{
    uint8_t *in = NULL;
    size_t in_len = read_all(p->payload, &in);
    grpc_status_code status = GRPC_STATUS_OK;
    char msg[64] = "";
    uint8_t *out = NULL;
    size_t out_len = 0;
    grpc_metadata trailer = { 0 };
    size_t trailers = 0;

    if (p->health) {
        Dapr__Proto__Runtime__V1__HealthCheckResponse hr = DAPR__PROTO__RUNTIME__V1__HEALTH_CHECK_RESPONSE__INIT;
        out_len = dapr__proto__runtime__v1__health_check_response__get_packed_size(&hr);
        out = malloc(out_len + 1);
        dapr__proto__runtime__v1__health_check_response__pack(&hr, out);
    } else {
        Dapr__Proto__Common__V1__InvokeRequest *req =
            dapr__proto__common__v1__invoke_request__unpack(NULL, in_len, in);
        const char *method = req && req->method ? req->method : "";
        Dapr__Proto__Common__V1__InvokeResponse res = DAPR__PROTO__COMMON__V1__INVOKE_RESPONSE__INIT;
        Google__Protobuf__Any data = GOOGLE__PROTOBUF__ANY__INIT;
        char *json = NULL;
        if (!req) {
            status = GRPC_STATUS_INVALID_ARGUMENT;
            snprintf(msg, sizeof(msg), "cannot parse InvokeRequest");
        } else if (strncmp(method, "error/", 6) == 0) {
            status = (grpc_status_code)atoi(method + 6);
            snprintf(msg, sizeof(msg), "app error %d", (int)status);
            trailer.key = grpc_slice_from_static_string("x-app");
            trailer.value = grpc_slice_from_static_string("yes");
            trailers = 1;
        } else if (strcmp(method, "echo") == 0) {
            if (req->data)
                data.value = req->data->value;
            res.content_type = req->content_type;
            res.data = &data;
        } else {
            size_t jl;
            json = describe(req, &p->md, &jl);
            data.value.data = (uint8_t *)json;
            data.value.len = jl;
            res.content_type = (char *)"application/json";
            res.data = &data;
        }
        if (status == GRPC_STATUS_OK) {
            out_len = dapr__proto__common__v1__invoke_response__get_packed_size(&res);
            out = malloc(out_len + 1);
            dapr__proto__common__v1__invoke_response__pack(&res, out);
        }
        free(json);
        if (req)
            dapr__proto__common__v1__invoke_request__free_unpacked(req, NULL);
    }

    batch_t *b = calloc(1, sizeof(*b));
    b->p = p;
    b->out = out;
    b->in = in;
    b->trailer = trailer;
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
    if (out) {
        grpc_slice s = grpc_slice_from_copied_buffer((const char *)out, out_len);
        b->send = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = b->send;
        n++;
    }
    b->details = grpc_slice_from_copied_string(msg);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = status;
    ops[n].data.send_status_from_server.status_details = &b->details;
    ops[n].data.send_status_from_server.trailing_metadata_count = trailers;
    ops[n].data.send_status_from_server.trailing_metadata = trailers ? &b->trailer : NULL;
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &b->cancelled;
    n++;
    if (grpc_call_start_batch(p->call, ops, n, (void *)((uintptr_t)b | 1), NULL) != GRPC_CALL_OK)
        batch_done(b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: grpc_app <port>\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    grpc_init();
    server = grpc_server_create(NULL, NULL);
    /* pluck is used for the answer batches, so this queue must allow both next and pluck */
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server, cq, NULL);
    m_invoke = grpc_server_register_method(server, "/dapr.proto.runtime.v1.AppCallback/OnInvoke", NULL,
                                           GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    m_health = grpc_server_register_method(server, "/dapr.proto.runtime.v1.AppCallbackHealthCheck/HealthCheck", NULL,
                                           GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%s", argv[1]);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    if (!grpc_server_add_http2_port(server, addr, creds)) {
        fprintf(stderr, "cannot listen on %s\n", addr);
        return 1;
    }
    grpc_server_credentials_release(creds);
    grpc_server_start(server);
    request_next(0);
    request_next(1);
    printf("listening %s\n", argv[1]);
    fflush(stdout);
    /* One thread: new calls (tag = pending_t) are answered at once; answer batches (odd tag)
     * are cleaned up when they complete. */
    while (!stop) {
        grpc_event ev = grpc_completion_queue_next(
            cq, gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(200, GPR_TIMESPAN)), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            continue;
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        uintptr_t t = (uintptr_t)ev.tag;
        if (t & 1) {
            batch_done((batch_t *)(t & ~(uintptr_t)1));
            continue;
        }
        pending_t *p = ev.tag;
        if (!ev.success) {
            grpc_metadata_array_destroy(&p->md);
            free(p);
            continue;
        }
        request_next(p->health);
        answer(p);
    }
    grpc_server_shutdown_and_notify(server, cq, (void *)2);
    grpc_server_cancel_all_calls(server);
    grpc_completion_queue_shutdown(cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        uintptr_t t = (uintptr_t)ev.tag;
        if (t == 2)
            continue;
        if (t & 1)
            batch_done((batch_t *)(t & ~(uintptr_t)1));
        else {
            pending_t *p = ev.tag;
            grpc_metadata_array_destroy(&p->md);
            if (p->call)
                grpc_call_unref(p->call);
            free(p);
        }
    }
    grpc_server_destroy(server);
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    return 0;
}
