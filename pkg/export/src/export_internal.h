/*
 * export_internal.h - what the export module's files share; not part of the API.
 */
#ifndef EXPORT_INTERNAL_H
#define EXPORT_INTERNAL_H

#include <stddef.h>

/* Where an exporter POSTs: host (a name, an IPv4 address or a bracketed IPv6 address, as
 * http_client_request() takes it), port, and the origin-form request target. */
typedef struct export_target {
    char *host;
    int port;
    char *target; /* "/api/v2/spans", "/v1/traces", with the query when there is one */
} export_target_t;

/*
 * Zipkin's endpointAddress, a URL: "http://host[:port][/path][?query][#fragment]" (port 80
 * when absent, path "/" when absent, the fragment dropped). Returns 0, or -1 with a reason in
 * err: not http (https needs TLS), credentials in the URL, no host, a bad port, a control
 * character or space in the path.
 */
int export_target_from_url(const char *url, export_target_t *t, char *err, size_t errlen);

/*
 * OTLP's endpointAddress, "host:port" as daprd passes it to otlptracehttp.WithEndpoint, with
 * an optional path (used as the request target; "/v1/traces" when none) and an optional
 * leading http:// (removed). Port 80 when absent. Same errors as above.
 */
int export_target_from_otlp(const char *endpoint, export_target_t *t, char *err, size_t errlen);

void export_target_free(export_target_t *t);

#endif
