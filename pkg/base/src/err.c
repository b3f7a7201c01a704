#include "base/err.h"

static const struct {
    const char *tag;
    const char *message;
    int http;
    int grpc;
} table[] = {
#define ROW(e, tag, http, grpc, msg) { tag, msg, http, grpc },
    BASE_ERR_TABLE(ROW)
#undef ROW
};

#define VALID(e) ((unsigned)(e) < (unsigned)BASE_ERR__COUNT)

const char *base_err_tag(base_err_t e)
{
    return VALID(e) ? table[e].tag : table[BASE_ERR_INTERNAL].tag;
}

const char *base_err_message(base_err_t e)
{
    return VALID(e) ? table[e].message : table[BASE_ERR_INTERNAL].message;
}

int base_err_http_status(base_err_t e)
{
    return VALID(e) ? table[e].http : 500;
}

int base_err_grpc_code(base_err_t e)
{
    return VALID(e) ? table[e].grpc : 13;
}
