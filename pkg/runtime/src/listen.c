/*
 * listen.c - listening sockets. TCP listeners are opened once per worker with SO_REUSEPORT so
 * the kernel spreads connections over the workers without a shared accept queue. Before
 * that, one plain bind (no SO_REUSEPORT) proves the address is free: otherwise another
 * process that also set SO_REUSEPORT could silently share our port.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "internal.h"

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    char portstr[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%d", port);
    int r = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (r != 0 || !res)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int tcp_socket(const struct sockaddr_storage *ss, socklen_t len, int reuseport, int *err)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 511) != 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    return fd;
}

static int port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                           : ((const struct sockaddr_in *)ss)->sin_port);
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/* Opens host:port for every worker. Returns 0 or -1 (logged as a warning). */
static int open_tcp(runtime_t *rt, const char *host, int port, http_listener_kind_t kind, int is_rpc)
{
    if (rt->listener_count >= RT_MAX_LISTENERS)
        return -1;
    struct sockaddr_storage ss;
    socklen_t len;
    int err = 0;
    if (resolve(host, port, &ss, &len) != 0) {
        LOG_WARN(BASE_LOG_SCOPE_RUNTIME, "failed to listen on %s:%d: cannot resolve the address", host, port);
        return -1;
    }
    int probe = tcp_socket(&ss, len, 0, &err);
    if (probe < 0) {
        LOG_WARN(BASE_LOG_SCOPE_RUNTIME, "failed to listen on %s:%d: %s", host, port, strerror(err));
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    getsockname(probe, (struct sockaddr *)&bound, &blen);
    close(probe);
    set_port(&ss, port_of(&bound));

    rt_listener_t *l = &rt->listeners[rt->listener_count];
    memset(l, 0, sizeof(*l));
    l->kind = kind;
    l->is_rpc = is_rpc;
    for (int i = 0; i < rt->worker_count; i++) {
        l->fds[i] = tcp_socket(&ss, len, 1, &err);
        if (l->fds[i] < 0) {
            LOG_WARN(BASE_LOG_SCOPE_RUNTIME, "failed to listen on %s:%d: %s", host, port, strerror(err));
            while (i-- > 0)
                close(l->fds[i]);
            return -1;
        }
    }
    atomic_init(&l->shared.connections, 0);
    atomic_init(&l->shared.rejected, 0);
    l->shared.max_connections = rt->cfg->max_connections;
    snprintf(l->shared.name, sizeof(l->shared.name), ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
             host[0] ? host : "0.0.0.0", port_of(&bound));
    rt->listener_count++;
    LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "%s server is running on %s",
             is_rpc ? "Internal gRPC" : kind == HTTP_LISTENER_PUBLIC ? "Public HTTP" : "HTTP", l->shared.name);
    return 0;
}

static int open_unix(runtime_t *rt, const char *dir)
{
    rt_listener_t *l = &rt->listeners[rt->listener_count];
    memset(l, 0, sizeof(*l));
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int n = snprintf(l->path, sizeof(l->path), "%s/dapr-%s-http.socket", dir, rt->cfg->app_id);
    if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "unix domain socket path under %s is too long", dir);
        return -1;
    }
    memcpy(sun.sun_path, l->path, (size_t)n + 1);
    unlink(l->path); /* a stale socket of an earlier run */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 511) != 0) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "failed to listen on unix socket %s: %s", l->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    l->is_pipe = 1;
    l->kind = HTTP_LISTENER_API;
    l->fds[0] = fd;
    for (int i = 1; i < rt->worker_count; i++)
        l->fds[i] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    atomic_init(&l->shared.connections, 0);
    atomic_init(&l->shared.rejected, 0);
    l->shared.max_connections = rt->cfg->max_connections;
    snprintf(l->shared.name, sizeof(l->shared.name), "unix:%.100s", sun.sun_path);
    rt->listener_count++;
    LOG_INFO(BASE_LOG_SCOPE_RUNTIME, "HTTP server is running on unix socket %s", l->path);
    return 0;
}

int rt_listeners_open(runtime_t *rt)
{
    const config_t *cfg = rt->cfg;
    int api_ok = 0;
    if (cfg->unix_domain_socket && cfg->unix_domain_socket[0]) {
        /* daprd: with a Unix socket the HTTP API listens there only. */
        api_ok = open_unix(rt, cfg->unix_domain_socket) == 0;
    } else {
        for (size_t i = 0; i < cfg->listen_address_count; i++)
            api_ok += open_tcp(rt, cfg->listen_addresses[i], cfg->http_port, HTTP_LISTENER_API, 0) == 0;
    }
    if (!api_ok) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "could not listen on any endpoint for the HTTP API");
        return -1;
    }
    if (cfg->public_port > 0) {
        const char *host = cfg->public_listen_address ? cfg->public_listen_address : "";
        if (open_tcp(rt, host, cfg->public_port, HTTP_LISTENER_PUBLIC, 0) != 0) {
            LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "could not listen on the public port %d", cfg->public_port);
            return -1;
        }
    }
    /* daprd: the internal gRPC API listens on --dapr-internal-grpc-listen-address ("" = all
     * interfaces), never on a Unix socket. */
    const char *ihost = cfg->internal_grpc_listen_address && cfg->internal_grpc_listen_address[0]
                            ? cfg->internal_grpc_listen_address
                            : "0.0.0.0";
    if (open_tcp(rt, ihost, config_internal_port(cfg), HTTP_LISTENER_API, 1) != 0) {
        LOG_ERROR(BASE_LOG_SCOPE_RUNTIME, "could not listen on the internal gRPC port %d", config_internal_port(cfg));
        return -1;
    }
    return 0;
}

void rt_listeners_cleanup(runtime_t *rt)
{
    for (size_t i = 0; i < rt->listener_count; i++)
        if (rt->listeners[i].is_pipe)
            unlink(rt->listeners[i].path);
}
