/* support.h - helpers shared by the config unit tests: temporary files and argv building. */
#ifndef CONFIG_TEST_SUPPORT_H
#define CONFIG_TEST_SUPPORT_H

#include <stddef.h>

#include "config/config.h"

/* Writes text to a new file made with mkstemps in dir (NULL → /tmp) with the suffix (e.g.
 * ".yaml"). Returns a malloc'd path; the test unlinks and frees it. */
char *tmp_write(const char *dir, const char *suffix, const char *text);
/* A new empty directory (mkdtemp). Returns a malloc'd path. */
char *tmp_dir(void);
/* Removes the files named in dir, then dir itself, then frees the path. */
void tmp_dir_remove(char *dir);
void tmp_file_remove(char *path);

/* config_load with argv = { "daprd", args..., NULL-terminated list }. */
int load_args(config_t *cfg, char *err, size_t errlen, ...);

/* Sends the module's logs to a temporary file so a test can look for a warning. */
void log_capture_start(void);
/* Returns 1 when the captured log contains needle, and stops capturing. */
int log_capture_contains(const char *needle);
void log_capture_stop(void);

#endif
