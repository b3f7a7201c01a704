/* Shared by the app channel and the health prober; not part of the module's interface. */
#ifndef APPCHANNEL_ADDRESS_H
#define APPCHANNEL_ADDRESS_H

#include <stdio.h>
#include <string.h>

#include "config/config.h"

/* "host:port" of the app (an IPv6 literal in brackets), for the rpc client. */
static inline void appchannel_app_address(const config_t *cfg, char *out, size_t cap)
{
    snprintf(out, cap, strchr(cfg->app_channel_address, ':') ? "[%s]:%d" : "%s:%d", cfg->app_channel_address,
             cfg->app_port);
}

#endif
