/*
 * stableport.c - daprd's "stable random" internal gRPC port for standalone mode.
 *
 * dapr/kit ports/ports.go GetStablePort(start, appID): SHA-256 of
 * "<appID>|<working directory>|<uid>|<host name>", then the first 11 bits taken as
 * h[0] + (h[1] >> 5) * 256 (0..2047) are added to start (47300). daprd then checks that the
 * port is free on localhost and falls back to a random free port when it is not; that part is
 * not deterministic and is left to the listener, which reports the bind error.
 *
 * The hash is OpenSSL's SHA-256 (libcrypto).
 */
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pool.h"
#include "config_internal.h"

/* ---- the port ---- */

int config_stable_port(int start, const char *app_id, const char *cwd, const char *uid,
                       const char *hostname)
{
    const char *parts[4] = { app_id ? app_id : "", cwd ? cwd : "", uid ? uid : "",
                             hostname ? hostname : "" };
    size_t len = 3;
    for (int i = 0; i < 4; i++)
        len += strlen(parts[i]);
    char *joined = base_malloc(len + 1);
    uint8_t h[32];
    if (!joined)
        return start; /* the port stays valid; only its spread suffers */
    snprintf(joined, len + 1, "%s|%s|%s|%s", parts[0], parts[1], parts[2], parts[3]);
    SHA256((const unsigned char *)joined, len, h);
    base_free(joined);
    return start + (int)h[0] + ((int)(h[1] >> 5) << 8);
}

/* Go's os.Getwd: $PWD when it is absolute and names the same directory as ".", so a path
 * reached through a symbolic link hashes the way daprd hashes it. */
static void go_getwd(char *buf, size_t cap)
{
    struct stat dot, pwd;
    const char *env = getenv("PWD");
    buf[0] = '\0';
    if (stat(".", &dot) != 0)
        return;
    if (env && env[0] == '/' && stat(env, &pwd) == 0 && pwd.st_dev == dot.st_dev &&
        pwd.st_ino == dot.st_ino && strlen(env) < cap) {
        snprintf(buf, cap, "%s", env);
        return;
    }
    if (!getcwd(buf, cap))
        buf[0] = '\0';
}

int config_stable_port_for_process(const char *app_id)
{
    char cwd[PATH_MAX], host[256], uid[24];
    go_getwd(cwd, sizeof(cwd));
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
    return config_stable_port(CFG_STABLE_PORT_START, app_id, cwd, uid, host);
}
