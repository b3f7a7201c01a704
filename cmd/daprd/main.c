/* daprd - the Remora sidecar. Everything happens in the runtime module; main only parses the
 * configuration and maps the outcome to the exit status (2 for invalid configuration). */
#include <signal.h>
#include <stdio.h>

#include "base/log.h"
#include "config/config.h"
#include "runtime/runtime.h"

int main(int argc, char **argv)
{
    /* A peer that resets a connection must cost an EPIPE, never the process. */
    signal(SIGPIPE, SIG_IGN);

    config_t cfg;
    char err[1024] = "";
    int r = config_load(&cfg, argc, argv, err, sizeof(err));
    if (r == CONFIG_EXIT_DONE)
        return 0;
    if (r != CONFIG_EXIT_OK) {
        fprintf(stderr, "daprd: %s\n", err[0] ? err : "invalid configuration");
        return 2;
    }
    base_log_options_t lo = {
        .level = (base_log_level_t)cfg.log_level,
        .json = cfg.log_as_json,
        .app_id = cfg.app_id,
        .version = REMORA_DAPR_COMPAT_VERSION,
    };
    base_log_init(&lo);
    int status = runtime_run(&cfg);
    config_free(&cfg);
    return status;
}
