/* harness.h - the fixture shared by the rpc loop tests: one libuv loop running our server
 * (the echo methods below) and our client against each other over loopback TCP. */
#ifndef RPC_TEST_HARNESS_H
#define RPC_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "rpc/rpc.h"

#define MIB (1024u * 1024u)

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    rpc_server_t *server;
    rpc_client_t *client;
    char addr[64];
    int port;
    /* what the server saw */
    int starts, cancels, half_closes;
    rpc_server_call_t *held[512];
    int nheld;
    char peers[512][64];
    int npeers;
    char md_seen[128];
    int drained;
    int client_done;
    rpc_server_call_t *paused[64]; /* Pause method: paused on its first message, resumed by the test */
    int npaused;
    size_t flood_max_pending; /* Flood method: the most it ever had queued */
    int flood_waits;          /* times it stopped at the high-water mark */
} fx_t;

extern fx_t F;

typedef struct res {
    rpc_call_t *call;
    int closed;
    int status;
    char message[512];
    int nmsgs;
    size_t bytes;
    char *last;
    size_t last_len;
    int order_ok;
    int headers;
    char hdr[64];
    char trl[64];
    int pause_every; /* pause after every n-th message, resumed by a timer */
} res_t;

typedef int (*pred_fn)(void *arg);
typedef struct many {
    res_t *r;
    int n;
} many_t;

/* Methods: /remora.test.Echo/{Unary,Stream,Fail,Big,Hold,Pause,Flood} (see harness.c). */
extern const rpc_method_t methods[];
extern const size_t method_count;
extern const rpc_call_cbs_t cbs;

int listen_socket(int *port);
void setup_with(const rpc_server_options_t *so, const rpc_client_options_t *co);
void setup_default(void);
void run_until(pred_fn pred, void *arg, unsigned timeout_ms);
int res_closed(void *arg);
int all_closed(void *arg);
int int_set(void *arg);
void client_done(void *arg);
/* Closes client and server, runs the loop dry, asserts uv_loop_close() == 0. */
void teardown(void);
void res_free(res_t *r);
rpc_call_t *start(res_t *r, const char *path, uint64_t deadline_ms);
void unary(res_t *r, const char *path, const void *msg, size_t len, uint64_t deadline_ms);

#endif
