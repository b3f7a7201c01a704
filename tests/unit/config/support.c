/* support.c - see support.h. */
#include "support.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

char *tmp_write(const char *dir, const char *suffix, const char *text)
{
    size_t len = strlen(dir ? dir : "/tmp") + strlen(suffix) + 32;
    char *path = malloc(len);
    snprintf(path, len, "%s/remora-cfg-XXXXXX%s", dir ? dir : "/tmp", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) {
        close(fd);
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

char *tmp_dir(void)
{
    char *path = strdup("/tmp/remora-cfg-dir-XXXXXX");
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

void tmp_dir_remove(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

void tmp_file_remove(char *path)
{
    unlink(path);
    free(path);
}

int load_args(config_t *cfg, char *err, size_t errlen, ...)
{
    char *argv[128];
    int argc = 0;
    argv[argc++] = "daprd";
    va_list ap;
    va_start(ap, errlen);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 127)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return config_load(cfg, argc, argv, err, errlen);
}

static char log_path[] = "/tmp/remora-cfg-log-XXXXXX";
static int log_fd = -1;

void log_capture_start(void)
{
    strcpy(log_path, "/tmp/remora-cfg-log-XXXXXX");
    log_fd = mkstemp(log_path);
    base_log_options_t o = { .level = BASE_LOG_DEBUG, .fd = log_fd, .instance = "test" };
    base_log_init(&o);
}

void log_capture_stop(void)
{
    base_log_options_t o = { .level = BASE_LOG_INFO, .fd = 1, .instance = "test" };
    base_log_init(&o);
    if (log_fd >= 0) {
        close(log_fd);
        unlink(log_path);
        log_fd = -1;
    }
}

int log_capture_contains(const char *needle)
{
    char buf[65536];
    ssize_t n = pread(log_fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    log_capture_stop();
    return strstr(buf, needle) != NULL;
}
