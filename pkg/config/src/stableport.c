/*
 * stableport.c - daprd's "stable random" internal gRPC port for standalone mode.
 *
 * dapr/kit ports/ports.go GetStablePort(start, appID): SHA-256 of
 * "<appID>|<working directory>|<uid>|<host name>", then the first 11 bits taken as
 * h[0] + (h[1] >> 5) * 256 (0..2047) are added to start (47300). daprd then checks that the
 * port is free on localhost and falls back to a random free port when it is not; that part is
 * not deterministic and is left to the listener, which reports the bind error.
 *
 * The SHA-256 below follows FIPS 180-4 §6.2; only libc is available to this module.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pool.h"
#include "config_internal.h"

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t blk[64])
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
               (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

void cfg_sha256(const void *data, size_t len, uint8_t out[32])
{
    uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    const uint8_t *p = data;
    size_t left = len;
    for (; left >= 64; p += 64, left -= 64)
        sha256_block(h, p);
    uint8_t tail[128] = { 0 };
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tail_len = left + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha256_block(h, tail);
    if (tail_len == 128)
        sha256_block(h, tail + 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

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
    cfg_sha256(joined, len, h);
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
