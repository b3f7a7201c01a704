/*
 * method.h - the invoked method, normalised once at the edge (CVE-2026-41491,
 * GHSA-85gx-3qv6-4463): the same string is then used for access control, metrics and the
 * call to the app, so no layer can see a different method than another.
 */
#ifndef MESSAGING_METHOD_H
#define MESSAGING_METHOD_H

#include "base/base.h"
#include "base/pool.h"

/*
 * Normalises a method as daprd ≥1.15.14 does (pkg/messaging/method/normalize.go): when
 * `percent_decode` (the method came from an HTTP URL) %XX escapes are decoded first (a
 * malformed escape is an error); then any '#', '?', NUL or control byte (0x01-0x1f, 0x7f) is
 * rejected; then the path is cleaned (Go path.Clean), leading "../" elements and leading
 * slashes dropped, and "." / ".." become "". On success *out (in pool) holds the method and 0
 * is returned; on error -1 and *why a static reason.
 */
int msg_method_normalize(base_pool_t *pool, base_slice_t in, int percent_decode, base_slice_t *out,
                            const char **why);

#endif
