/*
 * err.h - the one error table.
 *
 * Every error Remora reports to a client comes from this table: one row gives the enum, Dapr's
 * errorCode tag, the HTTP status, the gRPC code and the default message. The HTTP API turns a
 * row into `{"errorCode":"<tag>","message":"<text>"}`; the gRPC side (later) into a status.
 */
#ifndef BASE_ERR_H
#define BASE_ERR_H

/* X(enum, tag, http_status, grpc_code, default message) */
#define BASE_ERR_TABLE(X)                                                                          \
    X(OK, "", 200, 0, "")                                                                          \
    X(BAD_REQUEST, "ERR_MALFORMED_REQUEST", 400, 3, "malformed request")                           \
    X(BODY_READ, "ERR_BODY_READ", 400, 3, "failed to read request body")                           \
    X(BODY_TOO_LARGE, "ERR_BODY_TOO_LARGE", 413, 8, "request body exceeds the maximum body size")  \
    X(URI_TOO_LONG, "ERR_URI_TOO_LONG", 414, 3, "request line too long")                           \
    X(HEADERS_TOO_LARGE, "ERR_HEADERS_TOO_LARGE", 431, 8, "request header fields too large")       \
    X(REQUEST_TIMEOUT, "ERR_REQUEST_TIMEOUT", 408, 4, "request not received in time")              \
    X(UNAUTHORIZED, "ERR_UNAUTHORIZED", 401, 16, "invalid api token")                              \
    X(TOO_MANY_REQUESTS, "ERR_TOO_MANY_REQUESTS", 429, 8, "too many requests")                     \
    X(HEALTH_NOT_READY, "ERR_HEALTH_NOT_READY", 500, 14, "dapr is not ready")                      \
    X(HEALTH_APPID_NOT_MATCH, "ERR_HEALTH_APPID_NOT_MATCH", 500, 3, "dapr app-id does not match")  \
    X(OUTBOUND_HEALTH_NOT_READY, "ERR_OUTBOUND_HEALTH_NOT_READY", 500, 14,                         \
      "dapr outbound is not ready")                                                                \
    X(DIRECT_INVOKE_NO_APP_ID, "ERR_DIRECT_INVOKE", 404, 5,                                        \
      "failed getting app id either from the URL path or the header dapr-app-id")                  \
    X(DIRECT_INVOKE, "ERR_DIRECT_INVOKE", 500, 13, "failed to invoke")                             \
    X(METADATA_SET, "ERR_METADATA_SET", 400, 3, "failed setting metadata")                         \
    X(METHOD_NOT_ALLOWED, "ERR_METHOD_NOT_ALLOWED", 405, 12, "method not allowed")                 \
    X(NOT_IMPLEMENTED, "ERR_NOT_IMPLEMENTED", 501, 12, "not implemented")                          \
    X(INTERNAL, "ERR_INTERNAL", 500, 13, "internal error")

typedef enum base_err {
#define BASE_ERR_ENUM(e, tag, http, grpc, msg) BASE_ERR_##e,
    BASE_ERR_TABLE(BASE_ERR_ENUM)
#undef BASE_ERR_ENUM
    BASE_ERR__COUNT
} base_err_t;

const char *base_err_tag(base_err_t e);
const char *base_err_message(base_err_t e);
int base_err_http_status(base_err_t e);
int base_err_grpc_code(base_err_t e);

#endif
