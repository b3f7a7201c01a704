/*
 * internal.h - constructors of the pipeline components, private to the middleware module
 * (mw_component_new() dispatches to them).
 */
#ifndef MIDDLEWARE_INTERNAL_H
#define MIDDLEWARE_INTERNAL_H

#include "middleware/middleware.h"

/* middleware.http.ratelimit. NULL with a reason in err on bad metadata or no memory. */
mw_filter_t *mw_ratelimit_new(const config_component_t *c, char *err, size_t errlen);

/* A component's metadata value by name (case-insensitive, as Dapr decodes metadata), or NULL. */
const char *mw_component_meta(const config_component_t *c, const char *name);

#endif
