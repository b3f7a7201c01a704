/*
 * runtime.h - the composition root: builds every module from the configuration, wires their
 * hand-offs, starts the worker threads and runs until shutdown.
 *
 * runtime_run() is called once from main() on the main thread. It returns the process exit
 * status: 0 after a graceful shutdown (SIGTERM, SIGINT, POST /v1.0/shutdown), 2 when the
 * configuration names middleware that cannot be built, 1 when start-up failed otherwise (for
 * example no listen address could be bound).
 */
#ifndef RUNTIME_RUNTIME_H
#define RUNTIME_RUNTIME_H

#include "config/config.h"

int runtime_run(const config_t *cfg);

#endif
