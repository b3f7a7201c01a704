/*
 * process.h - process_* metrics (CPU seconds, resident and virtual memory, open and maximum
 * file descriptors, start time), read from /proc when scraped.
 */
#ifndef DIAG_PROCESS_H
#define DIAG_PROCESS_H

#include "base/buf.h"

/* A diag_collector_fn: appends the families to o. ctx is unused. */
void diag_process_collector(base_buf_t *o, void *ctx);

#endif
