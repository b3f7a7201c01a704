/*
 * config_internal.h - what the config module's source files share; not part of the API.
 *
 * Every allocation goes through base_malloc()/base_free() so a test can inject allocation
 * failures; every string in config_t is owned by it and released by config_free().
 */
#ifndef CONFIG_INTERNAL_H
#define CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* The stable-port range start daprd uses for the internal gRPC server in standalone mode
 * (dapr/dapr pkg/runtime/config.go: ports.GetStablePort(47300, appID)). */
#define CFG_STABLE_PORT_START 47300
#define CFG_K8S_INTERNAL_PORT 50002

/* ---- memory (util.c) ---- */
char *cfg_strdup(const char *s);
char *cfg_strndup(const char *s, size_t len);
/* Replaces *dst by a copy of s (NULL allowed). Returns 0, or -1 when out of memory (then *dst
 * is unchanged). */
int cfg_set_str(char **dst, const char *s);
/* Appends one zeroed element to the array whose pointer is at `arrp` (a `T **`) and returns
 * it, growing capacity in powers of two derived from *count. NULL when out of memory (the
 * array is unchanged). */
void *cfg_push(void *arrp, size_t *count, size_t elem_size);
void cfg_free_strv(char **v, size_t n);
/* Writes a one-line message into err (never overflows; NULL err allowed). */
void cfg_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Go's os.ExpandEnv: $VAR and ${VAR} replaced by the variable (unset → ""), "$" followed by
 * nothing valid kept. Returns a new NUL-terminated string, NULL when out of memory. */
char *cfg_expand_env(const char *s, size_t len, size_t *out_len);
/* Reads a whole file (NUL-terminated, at most CFG_MAX_FILE_SIZE bytes: a configuration
 * bigger than that is a mistake, e.g. --config /dev/zero). Returns 0, or -1 with errno set
 * (EISDIR for a directory, EFBIG when too large). */
#define CFG_MAX_FILE_SIZE (16u << 20)
int cfg_read_file(const char *path, char **data, size_t *len);

/* ---- units (quantity.c) ---- */
/* Go duration ("1h2m3.5s", "500ms", "10us", "1µs") or a plain integer of seconds, into
 * milliseconds rounded up. Negative values are rejected. Returns 0 or -1. */
int cfg_parse_duration_ms(const char *s, int *out_ms);

/* ---- flags and environment (flags.c) ---- */
/* Fills the defaults, parses argv and the environment into cfg. Returns CONFIG_EXIT_*. */
int cfg_flags_parse(config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* ---- YAML (yaml.c) ---- */
/* Overlays one Configuration file onto cfg->spec (later files win per key, as daprd's
 * repeated yaml.Unmarshal into one struct does). */
int cfg_yaml_load_configuration(config_t *cfg, const char *path, char *err, size_t errlen);
/* Loads the Component documents of one file into cfg->components. */
int cfg_yaml_load_components(config_t *cfg, const char *path, char *err, size_t errlen);
void cfg_spec_free(config_spec_t *spec);
/* Computes spec->enabled_features from spec->features (see config.h). Returns 0, or -1 when
 * out of memory. */
int cfg_features_resolve(config_spec_t *spec);
void cfg_component_free(config_component_t *c);

/* ---- stable port (stableport.c) ---- */

#endif
