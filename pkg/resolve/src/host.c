/* host.c - the address this sidecar registers, and registration ids. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resolve_internal.h"
#include "resolve/resolve.h"

static int copy(char *out, size_t cap, const char *s)
{
    int n = snprintf(out, cap, "%s", s);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* dapr/dapr pkg/runtime: when the internal gRPC server listens on a loopback address only,
 * that address is what other sidecars (on this machine) must dial. */
static int loopback_listen(const char *la, char *out, size_t cap)
{
    if (!la)
        return -1;
    if (strcmp(la, "127.0.0.1") == 0 || strcmp(la, "localhost") == 0)
        return copy(out, cap, la);
    if (strcmp(la, "[::1]") == 0 || strcmp(la, "::1") == 0)
        return copy(out, cap, "::1");
    return -1;
}

/* The source address the kernel would use towards a public address. A UDP connect() sends
 * nothing; it only chooses the route (what Go's net.Dial("udp", "8.8.8.8:80") does). */
static int outbound_ipv4(char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "8.8.8.8", &dst.sin_addr);
    struct sockaddr_in local;
    socklen_t len = sizeof(local);
    int rc = -1;
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0 &&
        getsockname(fd, (struct sockaddr *)&local, &len) == 0 && local.sin_addr.s_addr != 0 &&
        inet_ntop(AF_INET, &local.sin_addr, out, (socklen_t)cap))
        rc = 0;
    close(fd);
    return rc;
}

static int first_interface_ipv4(char *out, size_t cap)
{
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0)
        return -1;
    int rc = -1;
    for (struct ifaddrs *i = list; i && rc != 0; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct in_addr a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
        if ((ntohl(a.s_addr) >> 24) == 127)
            continue;
        if (inet_ntop(AF_INET, &a, out, (socklen_t)cap))
            rc = 0;
    }
    freeifaddrs(list);
    return rc;
}

void nr_self_host(const char *listen_address, char *out, size_t cap)
{
    if (loopback_listen(listen_address, out, cap) == 0)
        return;
    const char *env = getenv("DAPR_HOST_IP");
    if (env && *env && copy(out, cap, env) == 0)
        return;
    if (outbound_ipv4(out, cap) == 0 || first_interface_ipv4(out, cap) == 0)
        return;
    copy(out, cap, "127.0.0.1");
}

void resolve_host_address(char *out, size_t cap)
{
    const char *env = getenv("DAPR_HOST_IP");
    if (env && *env && copy(out, cap, env) == 0)
        return;
    if (outbound_ipv4(out, cap) == 0 || first_interface_ipv4(out, cap) == 0)
        return;
    if (cap)
        out[0] = '\0';
}

int nr_uuid4(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}
