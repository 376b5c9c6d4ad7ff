/*
 * cache.h - what the files of `vial cache` share: cmd_cache.c (dispatch,
 * stats) and cache_evict.c (what running applications use, gc, clear).
 * The layout of the cache is described in docs/cache.md.
 */
#ifndef VIAL_CLI_CACHE_H
#define VIAL_CLI_CACHE_H

#include <stdint.h>
#include <sys/stat.h>

#include "cli.h"

/* A writer's temporary file (materialize.c and the fetch agent name them
 * <final name>.tmp-...); one older than this is left over from a crash. */
#define CACHE_TEMP_STALE_SECONDS 3600

/* One file of a content-addressed store (CACHE/chunks or CACHE/files):
 * STORE/xx/<62 more hex>. */
struct cache_item {
    const char *path;
    char hex[2 * VIAL_HASH_LEN + 1]; /* the key, "" if the name is not one */
    int temporary;                   /* a *.tmp-* file */
    struct stat st;
};

typedef int (*cache_item_visitor)(const struct cache_item *item, void *payload);

/* Calls visit for every regular file in CACHE/<store>/xx/. A store that
 * does not exist has no files. A negative return of visit stops the walk
 * and is returned. */
int cache_store_foreach(const char *cache, const char *store, cache_item_visitor visit, void *payload);

/* The hash a 64-character lower-case hex key names; -EINVAL if it is not one. */
int cache_parse_hex(uint8_t out[VIAL_HASH_LEN], const char *hex);

/* The counters the fetch agent keeps per image in CACHE/images/<root>.stats. */
struct cache_counters {
    uint64_t requests, bytes, chunks;
};

/* Adds the counters of the .stats file at path to sum; -errno if it cannot
 * be read (sum unchanged). */
int cache_counters_add(struct cache_counters *sum, const char *path);

/* An image some live process of this user maps (its local file or mirror). */
struct cache_running_image {
    char path[4096];
    char root_hex[2 * VIAL_HASH_LEN + 1];
    char hive_hex[2 * VIAL_HASH_LEN + 1]; /* "" if the image has no hive */
};

/* What running applications use: their images and every chunk of them. */
struct cache_running {
    struct cache_running_image *images;
    size_t image_count;
    uint8_t (*chunks)[VIAL_HASH_LEN]; /* sorted, for cache_running_has_chunk */
    size_t chunk_count;
};

/* Scans /proc/PID/maps of every process of this user for mapped files
 * that are Vial images. A mapping whose file was deleted is looked at
 * through /proc/PID/map_files where the kernel allows it. */
int cache_running_scan(struct cache_running *out);
void cache_running_free(struct cache_running *running);
int cache_running_has_chunk(const struct cache_running *running, const uint8_t hash[VIAL_HASH_LEN]);
/* Whether a running image's root hash starts with the length hex digits
 * at hex (24 for a view's name, 64 for a mirror's). */
int cache_running_has_root(const struct cache_running *running, const char *hex, size_t length);

int cache_gc(int argc, char **argv);
int cache_clear(int argc, char **argv);

#endif
