/*
 * cmd_cache.c - `vial cache`: the per-user cache (docs/cache.md). The
 * subcommands are dispatched from one table; this file has the shared
 * walks of the content-addressed stores, `vial cache stats` and
 * `vial cache prefetch`; gc and
 * clear, which must leave alone what running applications use, are in
 * cache_evict.c.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"

/* ------------------------------------------------------ shared helpers */

int cache_parse_hex(uint8_t out[VIAL_HASH_LEN], const char *hex)
{
    if (strlen(hex) != 2 * VIAL_HASH_LEN)
        return -EINVAL;
    for (size_t i = 0; i < 2 * VIAL_HASH_LEN; i++) {
        char c = hex[i];
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0)
            return -EINVAL;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(digit << 4);
        else
            out[i / 2] |= (uint8_t)digit;
    }
    return 0;
}

static int is_hex_pair(const char *name)
{
    uint8_t ignored[VIAL_HASH_LEN];
    char padded[2 * VIAL_HASH_LEN + 1];
    if (strlen(name) != 2)
        return 0;
    memset(padded, '0', sizeof padded - 1);
    padded[sizeof padded - 1] = '\0';
    memcpy(padded, name, 2);
    return cache_parse_hex(ignored, padded) == 0;
}

static int visit_bucket(const char *bucket, const char *prefix, cache_item_visitor visit, void *payload)
{
    DIR *dir = opendir(bucket);
    if (!dir)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
    struct dirent *e;
    int rc = 0;
    while (rc >= 0 && (e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        struct cache_item item = {.path = path};
        if ((size_t)snprintf(path, sizeof path, "%s/%s", bucket, e->d_name) >= sizeof path ||
            fstatat(dirfd(dir), e->d_name, &item.st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(item.st.st_mode))
            continue;
        item.temporary = strstr(e->d_name, ".tmp-") != NULL;
        uint8_t hash[VIAL_HASH_LEN];
        snprintf(item.hex, sizeof item.hex, "%s%s", prefix, e->d_name);
        if (item.temporary || cache_parse_hex(hash, item.hex) < 0)
            item.hex[0] = '\0';
        rc = visit(&item, payload);
    }
    closedir(dir);
    return rc;
}

int cache_store_foreach(const char *cache, const char *store, cache_item_visitor visit, void *payload)
{
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/%s", cache, store);
    DIR *dir = opendir(root);
    if (!dir)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *e;
    int rc = 0;
    while (rc >= 0 && (e = readdir(dir))) {
        if (!is_hex_pair(e->d_name))
            continue;
        char bucket[PATH_MAX + 4];
        snprintf(bucket, sizeof bucket, "%s/%s", root, e->d_name);
        rc = visit_bucket(bucket, e->d_name, visit, payload);
    }
    closedir(dir);
    return rc;
}

int cache_counters_add(struct cache_counters *sum, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    struct cache_counters read = {0, 0, 0};
    char line[256];
    /* a small text file: a line too long or a value that is not a number
     * counts as nothing rather than as garbage */
    for (int lines = 0; lines < 64 && fgets(line, sizeof line, f); lines++) {
        char *equals = strchr(line, '='), *end;
        if (!equals)
            continue;
        *equals = '\0';
        errno = 0;
        unsigned long long value = strtoull(equals + 1, &end, 10);
        if (errno || end == equals + 1 || (*end != '\n' && *end != '\0') || equals[1] == '-')
            continue;
        if (strcmp(line, "requests") == 0)
            read.requests = value;
        else if (strcmp(line, "bytes") == 0)
            read.bytes = value;
        else if (strcmp(line, "chunks") == 0)
            read.chunks = value;
    }
    fclose(f);
    sum->requests += read.requests;
    sum->bytes += read.bytes;
    sum->chunks += read.chunks;
    return 0;
}

/* ---------------------------------------------------------------- stats */

struct cache_totals {
    uint64_t chunks, chunk_bytes, files, file_bytes, views, mirrors;
    struct cache_counters fetched;
};

struct store_count {
    uint64_t count, bytes;
};

static int count_item(const struct cache_item *item, void *payload)
{
    struct store_count *count = payload;
    if (!item->temporary) {
        count->count++;
        count->bytes += (uint64_t)item->st.st_size;
    }
    return 0;
}

static int count_totals(struct cache_totals *t, const char *cache)
{
    struct store_count chunks = {0, 0}, files = {0, 0};
    int rc;
    memset(t, 0, sizeof *t);
    if ((rc = cache_store_foreach(cache, "chunks", count_item, &chunks)) < 0 ||
        (rc = cache_store_foreach(cache, "files", count_item, &files)) < 0)
        return vial_error_set(rc, "cannot read %s: %s", cache, strerror(-rc));
    t->chunks = chunks.count, t->chunk_bytes = chunks.bytes;
    t->files = files.count, t->file_bytes = files.bytes;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/views", cache);
    DIR *dir = opendir(path);
    struct dirent *e;
    struct stat st;
    while (dir && (e = readdir(dir)))
        if (e->d_name[0] != '.' && fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode))
            t->views++;
    if (dir)
        closedir(dir);
    snprintf(path, sizeof path, "%s/images", cache);
    dir = opendir(path);
    while (dir && (e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        char file[PATH_MAX + 256];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".vial") == 0 && !strstr(e->d_name, ".tmp-"))
            t->mirrors++;
        else if (n > 6 && strcmp(e->d_name + n - 6, ".stats") == 0)
            cache_counters_add(&t->fetched, file);
    }
    if (dir)
        closedir(dir);
    return 0;
}

/* One image's share of the cache. */
struct image_report {
    char root_hex[2 * VIAL_HASH_LEN + 1];
    uint64_t size, chunk_data_bytes;
    uint32_t chunk_count;
    uint64_t cached_chunks, cached_bytes;
    int has_counters;
    struct cache_counters fetched;
    uint64_t opened_files, opened_bytes, opened_chunk_bytes;
};

struct opened_context {
    const struct vial_image *image;
    uint32_t chunk_count;
    uint8_t *counted; /* per chunk index */
    struct image_report *report;
};

/* A file of the view counts as opened if it is the image's regular file
 * at that virtual path, complete. */
static int count_opened(int parent, const char *name, const char *path, const struct stat *st,
                        void *context)
{
    struct opened_context *c = context;
    uint32_t index, ref_count;
    struct vial_entry entry;
    const struct vial_chunk_ref *refs;
    (void)parent;
    (void)name;
    if (!S_ISREG(st->st_mode) || vial_image_lookup(&index, c->image, path) < 0 ||
        vial_image_entry(&entry, c->image, index) < 0 || entry.primary_type != VIAL_ENTRY_REGULAR ||
        entry.size != (uint64_t)st->st_size ||
        vial_image_file_refs(&refs, &ref_count, c->image, index) < 0)
        return 0;
    c->report->opened_files++;
    c->report->opened_bytes += entry.size;
    for (uint32_t r = 0; r < ref_count; r++) {
        struct vial_chunk_info chunk;
        if (refs[r].chunk >= c->chunk_count || c->counted[refs[r].chunk] || vial_image_chunk(&chunk, c->image, refs[r].chunk) < 0)
            continue;
        c->counted[refs[r].chunk] = 1;
        c->report->opened_chunk_bytes += chunk.stored_length;
    }
    return 0;
}

static int report_image(struct image_report *r, const struct vial_image *image, const char *cache)
{
    const void *data;
    uint64_t length = 0;
    memset(r, 0, sizeof *r);
    vial_hash_hex(r->root_hex, vial_image_header(image)->root_hash);
    r->size = vial_image_size(image);
    r->chunk_count = vial_image_chunk_count(image);
    if (vial_image_section(&data, &length, image, VIAL_SECTION_CHUNK_DATA) == 0)
        r->chunk_data_bytes = length;
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        struct vial_chunk_info chunk;
        char hex[2 * VIAL_HASH_LEN + 1], path[PATH_MAX];
        struct stat st;
        int rc = vial_image_chunk(&chunk, image, i);
        if (rc < 0)
            return rc;
        vial_hash_hex(hex, chunk.hash);
        snprintf(path, sizeof path, "%s/chunks/%.2s/%s", cache, hex, hex + 2);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == chunk.stored_length) {
            r->cached_chunks++;
            r->cached_bytes += chunk.stored_length;
        }
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/images/%s.stats", cache, r->root_hex);
    r->has_counters = cache_counters_add(&r->fetched, path) == 0;

    struct opened_context c = {.image = image, .chunk_count = r->chunk_count, .report = r};
    c.counted = calloc(r->chunk_count ? r->chunk_count : 1, 1);
    if (!c.counted)
        return vial_error_set(-ENOMEM, "out of memory");
    int rc = vial_view_dir(path, sizeof path, cache, image);
    if (rc == 0 && (rc = cli_walk_tree(path, count_opened, &c)) == -ENOENT)
        rc = 0; /* nothing opened yet */
    free(c.counted);
    return rc < 0 ? vial_error_set(rc, "cannot read %s: %s", path, strerror(-rc)) : 0;
}

static cJSON *counters_json(const struct cache_counters *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "requests", (double)c->requests);
    cJSON_AddNumberToObject(o, "bytes", (double)c->bytes);
    cJSON_AddNumberToObject(o, "chunks", (double)c->chunks);
    return o;
}

static cJSON *count_json(uint64_t count, uint64_t bytes)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)count);
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    return o;
}

static void print_json(const char *cache, const struct cache_totals *t, const struct cache_running *running,
                       const char *image_path, const struct image_report *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "cache", cache);
    cJSON_AddItemToObject(o, "chunks", count_json(t->chunks, t->chunk_bytes));
    cJSON_AddItemToObject(o, "files", count_json(t->files, t->file_bytes));
    cJSON_AddNumberToObject(o, "views", (double)t->views);
    cJSON_AddNumberToObject(o, "mirrors", (double)t->mirrors);
    cJSON_AddItemToObject(o, "fetched", counters_json(&t->fetched));
    cJSON *list = cJSON_AddArrayToObject(o, "running");
    for (size_t i = 0; i < running->image_count; i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "path", running->images[i].path);
        cJSON_AddStringToObject(item, "root_hash", running->images[i].root_hex);
        if (running->images[i].hive_hex[0])
            cJSON_AddStringToObject(item, "hive_hash", running->images[i].hive_hex);
        else
            cJSON_AddNullToObject(item, "hive_hash");
        cJSON_AddItemToArray(list, item);
    }
    if (r) {
        cJSON *image = cJSON_AddObjectToObject(o, "image");
        cJSON_AddStringToObject(image, "path", image_path);
        cJSON_AddStringToObject(image, "root_hash", r->root_hex);
        cJSON_AddNumberToObject(image, "size", (double)r->size);
        cJSON_AddNumberToObject(image, "chunk_count", r->chunk_count);
        cJSON_AddNumberToObject(image, "chunk_data_bytes", (double)r->chunk_data_bytes);
        cJSON_AddItemToObject(image, "cached_chunks", count_json(r->cached_chunks, r->cached_bytes));
        if (r->has_counters)
            cJSON_AddItemToObject(image, "fetched", counters_json(&r->fetched));
        else
            cJSON_AddNullToObject(image, "fetched");
        cJSON *opened = cJSON_AddObjectToObject(image, "opened");
        cJSON_AddNumberToObject(opened, "files", (double)r->opened_files);
        cJSON_AddNumberToObject(opened, "bytes", (double)r->opened_bytes);
        cJSON_AddNumberToObject(opened, "chunk_bytes", (double)r->opened_chunk_bytes);
    }
    char *text = cJSON_Print(o);
    puts(text ? text : "{}");
    free(text);
    cJSON_Delete(o);
}

/* "12 (3.4 MiB)" */
static const char *count_text(char *out, size_t size, uint64_t count, uint64_t bytes)
{
    char human[32];
    cli_format_size(human, sizeof human, bytes);
    snprintf(out, size, "%llu (%s)", (unsigned long long)count, human);
    return out;
}

static void print_counters(const char *label, const struct cache_counters *c)
{
    char human[32];
    cli_format_size(human, sizeof human, c->bytes);
    printf("%-18s %llu requests, %s, %llu chunks stored\n", label, (unsigned long long)c->requests,
           human, (unsigned long long)c->chunks);
}

static void print_text(const char *cache, const struct cache_totals *t, const struct cache_running *running,
                       const char *image_path, const struct image_report *r)
{
    char a[64], b[64];
    printf("%-18s %s\n", "cache:", cache);
    printf("%-18s %s\n", "chunks:", count_text(a, sizeof a, t->chunks, t->chunk_bytes));
    printf("%-18s %s\n", "materialized:", count_text(a, sizeof a, t->files, t->file_bytes));
    printf("%-18s %llu\n", "views:", (unsigned long long)t->views);
    printf("%-18s %llu\n", "mirrored images:", (unsigned long long)t->mirrors);
    print_counters("fetched:", &t->fetched);
    printf("%-18s %zu\n", "running images:", running->image_count);
    for (size_t i = 0; i < running->image_count; i++)
        printf("  %.24s  %s\n", running->images[i].root_hex, running->images[i].path);
    if (!r)
        return;
    printf("\n%-18s %s\n", "image:", image_path);
    printf("%-18s %s\n", "root hash:", r->root_hex);
    cli_format_size(a, sizeof a, r->size);
    printf("%-18s %s\n", "size:", a);
    cli_format_size(a, sizeof a, r->chunk_data_bytes);
    printf("%-18s %s in %u chunks\n", "chunk data:", a, r->chunk_count);
    printf("%-18s %s of %u\n", "cached chunks:", count_text(a, sizeof a, r->cached_chunks, r->cached_bytes),
           r->chunk_count);
    if (r->has_counters)
        print_counters("fetched:", &r->fetched);
    else
        printf("%-18s -\n", "fetched:");
    cli_format_size(b, sizeof b, r->opened_chunk_bytes);
    printf("%-18s %s, their chunks %s\n", "opened files:",
           count_text(a, sizeof a, r->opened_files, r->opened_bytes), b);
}

static int cache_stats(int argc, char **argv)
{
    int json = 0, rc;
    const char *image_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage("cache", "unknown option '%s' of 'cache stats'", argv[i]);
        else if (image_path)
            return cli_usage("cache", "'cache stats' takes one IMAGE");
        else
            image_path = argv[i];
    }
    struct vial_dirs dirs;
    struct vial_image *image = NULL;
    struct cache_totals totals;
    struct cache_running running = {0};
    struct image_report report;
    int code = VIAL_EXIT_OK;
    if ((rc = vial_dirs_get(&dirs)) < 0 || (image_path && (rc = cli_open_image(&image, image_path)) < 0) ||
        (rc = count_totals(&totals, dirs.cache)) < 0 || (rc = cache_running_scan(&running)) < 0 ||
        (image && (rc = report_image(&report, image, dirs.cache)) < 0)) {
        code = cli_fail(rc);
        goto out;
    }
    if (json)
        print_json(dirs.cache, &totals, &running, image_path, image ? &report : NULL);
    else
        print_text(dirs.cache, &totals, &running, image_path, image ? &report : NULL);
out:
    cache_running_free(&running);
    vial_image_close(image);
    return code;
}

/* `vial cache prefetch URL`: every chunk of a streamed image, for offline
 * use, in as few ranged requests as the agent can make of them. */
static int cache_prefetch(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage("cache", "'cache prefetch' takes one URL");
    if (!cli_is_url(argv[1]))
        return cli_usage("cache", "'cache prefetch' takes a URL (http://, https://, file://): "
                                  "a local image is all there already");
    struct vial_dirs dirs;
    struct vial_image *image = NULL;
    struct image_report report;
    char request[PATH_MAX + 32], answer[2048];
    int fd = -1, rc;
    if ((rc = vial_dirs_get(&dirs)) == 0 && (rc = cli_open_image(&image, argv[1])) == 0 &&
        (rc = cli_agent_connect(&fd, &dirs)) == 0) {
        snprintf(request, sizeof request, "PREFETCH %s all\n", vial_image_mirror(image));
        rc = cli_agent_ask(answer, sizeof answer, fd, request);
        close(fd);
    }
    if (rc == 0)
        rc = report_image(&report, image, dirs.cache);
    if (rc == 0) {
        char cached[32], fetched[32];
        cli_format_size(cached, sizeof cached, report.cached_bytes);
        cli_format_size(fetched, sizeof fetched, report.fetched.bytes);
        printf("%s: %llu of %llu chunks cached (%s); %s fetched in %llu requests so far\n",
               argv[1], (unsigned long long)report.cached_chunks,
               (unsigned long long)report.chunk_count, cached, fetched,
               (unsigned long long)report.fetched.requests);
        if (report.cached_chunks != report.chunk_count)
            rc = vial_error_set(-EIO, "some chunks of %s are still missing", argv[1]);
    }
    vial_image_close(image);
    return rc < 0 ? cli_fail(rc) : VIAL_EXIT_OK;
}

/* ------------------------------------------------------------- dispatch */

/* `vial cache SUBCOMMAND ...`: argv[0] of the subcommand is its name. A
 * new subcommand (prefetch, with streaming) is one more row. */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} cache_subcommands[] = {
    {"stats", cache_stats},
    {"gc", cache_gc},
    {"clear", cache_clear},
    {"prefetch", cache_prefetch},
};

int cmd_cache(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("cache", "no subcommand given");
    for (size_t i = 0; i < sizeof cache_subcommands / sizeof cache_subcommands[0]; i++)
        if (strcmp(argv[1], cache_subcommands[i].name) == 0)
            return cache_subcommands[i].run(argc - 1, argv + 1);
    return cli_usage("cache", "unknown subcommand '%s'", argv[1]);
}
