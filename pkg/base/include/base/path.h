/*
 * path.h - lexical path cleaning with Go's path.Clean rules (Rob Pike, "Getting Dot-Dot
 * Right"): repeated slashes collapse, "." elements go, ".." removes the element before it and
 * never climbs above the root of a rooted path; a relative path keeps leading ".." elements.
 * daprd applies path.Clean to request paths (CleanPath) and to invoked methods, so Remora
 * must clean exactly the same way.
 */
#ifndef BASE_PATH_H
#define BASE_PATH_H

#include "base/base.h"
#include "base/pool.h"

/* Cleans `path` into the pool. A rooted input ("/a/..") gives a rooted result ("/"); an empty
 * input gives "." as in Go. Returns an empty slice with NULL base on allocation failure. */
base_slice_t base_path_clean(base_pool_t *pool, base_slice_t path);

#endif
