/* daprd - the Remora sidecar. Everything happens in the runtime module; main only parses the
 * configuration and maps the outcome to the exit status (2 for invalid configuration). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

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
    int log_fd = 0;
    if (cfg.log_file && cfg.log_file[0]) {
        log_fd = open(cfg.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            fprintf(stderr, "daprd: --log-file %s: cannot open for writing\n", cfg.log_file);
            config_free(&cfg);
            return 2;
        }
    }
    base_log_options_t lo = {
        .level = (base_log_level_t)cfg.log_level,
        .json = cfg.log_as_json,
        .app_id = cfg.app_id,
        .version = REMORA_DAPR_COMPAT_VERSION,
        .fd = log_fd,
    };
    base_log_init(&lo);
    int status = runtime_run(&cfg);
    config_free(&cfg);
    if (log_fd > 0)
        close(log_fd);
    return status;
}
