/*
 * internal.h - the callee side of service invocation: daprd's internal gRPC API
 * (dapr.proto.internals.v1.ServiceInvocation CallLocalStream and CallLocal) served on the
 * worker loops by the rpc server, calling the local app through the app channel.
 *
 * One internal_t per worker loop; all on that loop.
 */
#ifndef INTERNAL_INTERNAL_H
#define INTERNAL_INTERNAL_H

#include "appchannel/appchannel.h"
#include "config/config.h"
#include "rpc/rpc.h"

#define INTERNAL_METHOD_COUNT 2

typedef struct internal internal_t;

/* app may be NULL (no app channel): calls then fail with daprd's "app channel is not
 * initialized". */
internal_t *internal_new(const config_t *cfg, appchannel_t *app);
void internal_free(internal_t *in);
/* Fills `out` with the methods to give rpc_server_new(). */
void internal_methods(internal_t *in, rpc_method_t out[INTERNAL_METHOD_COUNT]);

#define INTERNAL_PATH_CALL_LOCAL "/dapr.proto.internals.v1.ServiceInvocation/CallLocal"
#define INTERNAL_PATH_CALL_LOCAL_STREAM "/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream"

#endif
