/*
 * cache_evict.c - `vial cache gc` and `vial cache clear`, and what they must
 * never remove: the images live processes of this user map (an
 * application in its bubble maps its image, local file or mirror, into
 * every process), every chunk of those images, their views (and through
 * the views' hard links, the materialized files they use), their mirrors
 * and their published hives.
 *
 * Eviction is least recently used by atime. With the usual relatime mount
 * option the kernel updates atime at most once a day (or when it is older
 * than mtime), so the order is exact across days and coarse within one;
 * with noatime it degrades to the order of creation.
 *
 * Known race: a file an application materializes while gc or clear runs
 * can lose its content entry between the two links materialize.c makes;
 * the application then gets an error for that open. Writers' temporary
 * files younger than an hour are never touched, so an entry being written
 * is not lost.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"

/* ------------------------------------------------- running applications */

struct mapping {
    unsigned major, minor;
    unsigned long inode;
    pid_t pid;
    unsigned long start, end;
    char *path;
};

struct mappings {
    struct mapping *items;
    size_t count, capacity;
};

/* A new slot at the end of a growable array: array_pointer is the address
 * of the array's pointer, which holds *count items of item_size bytes in
 * room for *capacity. The slot counts as used; NULL when out of memory. */
static void *append_slot(void *array_pointer, size_t *count, size_t *capacity, size_t item_size)
{
    char *items;
    memcpy(&items, array_pointer, sizeof items);
    if (*count == *capacity) {
        size_t grown_capacity = *capacity ? 2 * *capacity : 256;
        char *grown = realloc(items, grown_capacity * item_size);
        if (!grown)
            return NULL;
        memcpy(array_pointer, &grown, sizeof grown);
        items = grown;
        *capacity = grown_capacity;
    }
    return memset(items + (*count)++ * item_size, 0, item_size);
}

static int mappings_add(struct mappings *m, const struct mapping *item)
{
    struct mapping *slot = append_slot(&m->items, &m->count, &m->capacity, sizeof *slot);
    if (!slot)
        return -ENOMEM;
    *slot = *item;
    return (slot->path = strdup(item->path)) ? 0 : -ENOMEM;
}

/* The file mappings of one process, each file once. */
static int read_maps(struct mappings *m, pid_t pid)
{
    char name[64], *line = NULL;
    size_t size = 0;
    snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(name, "re");
    if (!f)
        return 0; /* gone, or not ours to read */
    unsigned long last_inode = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &size, f) > 0) {
        struct mapping item = {.pid = pid};
        int at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu %n", &item.start, &item.end, &item.major,
                   &item.minor, &item.inode, &at) < 5 ||
            at == 0 || item.inode == 0 || line[at] != '/' || item.inode == last_inode)
            continue;
        line[strcspn(line, "\n")] = '\0';
        item.path = line + at;
        last_inode = item.inode;
        rc = mappings_add(m, &item);
    }
    free(line);
    fclose(f);
    return rc;
}

static int compare_mappings(const void *a, const void *b)
{
    const struct mapping *x = a, *y = b;
    if (x->major != y->major)
        return x->major < y->major ? -1 : 1;
    if (x->minor != y->minor)
        return x->minor < y->minor ? -1 : 1;
    return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static int compare_hashes(const void *a, const void *b)
{
    return memcmp(a, b, VIAL_HASH_LEN);
}

static int add_image(struct cache_running *out, const struct vial_image *image, const char *path)
{
    char root[2 * VIAL_HASH_LEN + 1];
    vial_hash_hex(root, vial_image_header(image)->root_hash);
    if (cache_running_has_root(out, root, sizeof root - 1))
        return 0; /* the same image at another path */
    struct cache_running_image *images = realloc(out->images, (out->image_count + 1) * sizeof *images);
    if (!images)
        return -ENOMEM;
    out->images = images;
    struct cache_running_image *added = &images[out->image_count];
    snprintf(added->path, sizeof added->path, "%s", path);
    memcpy(added->root_hex, root, sizeof root);
    added->hive_hex[0] = '\0';
    const void *hive;
    uint64_t hive_length;
    if (vial_image_section(&hive, &hive_length, image, VIAL_SECTION_HIVE) == 0) {
        uint8_t hash[VIAL_HASH_LEN];
        vial_hash(hash, hive, (size_t)hive_length);
        vial_hash_hex(added->hive_hex, hash);
    }
    uint32_t count = vial_image_chunk_count(image);
    uint8_t(*chunks)[VIAL_HASH_LEN] = realloc(out->chunks, (out->chunk_count + count + 1) * sizeof *chunks);
    if (!chunks)
        return -ENOMEM;
    out->chunks = chunks;
    for (uint32_t i = 0; i < count; i++) {
        struct vial_chunk_info chunk;
        if (vial_image_chunk(&chunk, image, i) == 0)
            memcpy(chunks[out->chunk_count++], chunk.hash, VIAL_HASH_LEN);
    }
    out->image_count++;
    return 0;
}

/* Adds the file at path (shown as shown) if it is a Vial image. */
static int check_file(struct cache_running *out, const char *path, const char *shown)
{
    uint8_t magic[VIAL_IMAGE_MAGIC_LEN];
    struct stat st;
    struct vial_image *image = NULL;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, magic, sizeof magic, 0) == sizeof magic &&
        memcmp(magic, VIAL_IMAGE_MAGIC, VIAL_IMAGE_MAGIC_LEN) == 0 && vial_image_open(&image, fd, 0) == 0)
        rc = add_image(out, image, shown);
    vial_image_close(image);
    close(fd);
    return rc;
}

static const char deleted_suffix[] = " (deleted)";

static int check_mapping(struct cache_running *out, const struct mapping *m)
{
    size_t length = strlen(m->path), suffix = sizeof deleted_suffix - 1;
    if (length > suffix && strcmp(m->path + length - suffix, deleted_suffix) == 0) {
        /* replaced or removed since it was mapped: the mapping itself still
         * names the file, where the kernel lets us open it */
        char files[96];
        snprintf(files, sizeof files, "/proc/%d/map_files/%lx-%lx", (int)m->pid, m->start, m->end);
        return check_file(out, files, m->path);
    }
    return check_file(out, m->path, m->path);
}

int cache_running_scan(struct cache_running *out)
{
    struct mappings m = {0};
    int rc = 0;
    memset(out, 0, sizeof *out);
    DIR *proc = opendir("/proc");
    if (!proc)
        return vial_error_set(-errno, "cannot read /proc: %s", strerror(errno));
    struct dirent *e;
    while (rc == 0 && (e = readdir(proc))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        struct stat st;
        /* not this process: it may have opened an image to report on */
        if (*end || pid <= 0 || pid == getpid() || fstatat(dirfd(proc), e->d_name, &st, 0) < 0 ||
            st.st_uid != getuid())
            continue;
        rc = read_maps(&m, (pid_t)pid);
    }
    closedir(proc);
    if (m.count)
        qsort(m.items, m.count, sizeof *m.items, compare_mappings);
    for (size_t i = 0; rc == 0 && i < m.count; i++)
        if (i == 0 || compare_mappings(&m.items[i - 1], &m.items[i]) != 0)
            rc = check_mapping(out, &m.items[i]);
    for (size_t i = 0; i < m.count; i++)
        free(m.items[i].path);
    free(m.items);
    if (rc < 0) {
        cache_running_free(out);
        return vial_error_set(rc, "cannot list the images of running applications: %s", strerror(-rc));
    }
    if (out->chunk_count)
        qsort(out->chunks, out->chunk_count, sizeof *out->chunks, compare_hashes);
    return 0;
}

void cache_running_free(struct cache_running *running)
{
    free(running->images);
    free(running->chunks);
    memset(running, 0, sizeof *running);
}

int cache_running_has_chunk(const struct cache_running *running, const uint8_t hash[VIAL_HASH_LEN])
{
    return running->chunk_count &&
           bsearch(hash, running->chunks, running->chunk_count, sizeof *running->chunks, compare_hashes);
}

int cache_running_has_root(const struct cache_running *running, const char *hex, size_t length)
{
    for (size_t i = 0; i < running->image_count; i++)
        if (length <= 2 * VIAL_HASH_LEN && strncmp(running->images[i].root_hex, hex, length) == 0)
            return 1;
    return 0;
}

/* --------------------------------------------------------- removing */

/* What was removed, per kind, and what was kept for running applications. */
struct tally {
    uint64_t count, bytes;
};

struct sweep {
    const char *cache;
    struct cache_running *running; /* freed with the sweep */
    time_t now;
    int chunks;           /* sweeping CACHE/chunks (else CACHE/files) */
    int remove_unused;    /* clear: remove every entry nothing running uses */
    struct tally removed_chunks, removed_files, removed_temporary;
    struct tally kept;    /* in use by running applications */
    struct tally total;   /* finished entries left (gc: before eviction) */
    struct tally busy;    /* temporary files being written */
    /* gc: the entries nothing running uses, oldest access first once sorted */
    struct candidate {
        char *path;
        struct timespec atime;
        uint64_t bytes;
        int chunk;
    } *candidates;
    size_t candidate_count, candidate_capacity;
};

static void count(struct tally *t, uint64_t bytes)
{
    t->count++;
    t->bytes += bytes;
}

static int in_use(const struct sweep *s, const struct cache_item *item)
{
    uint8_t hash[VIAL_HASH_LEN];
    if (s->chunks)
        return item->hex[0] && cache_parse_hex(hash, item->hex) == 0 &&
               cache_running_has_chunk(s->running, hash);
    /* a content entry still hard-linked from a view that was kept */
    return item->st.st_nlink > 1;
}

static int add_candidate(struct sweep *s, const struct cache_item *item)
{
    struct candidate *c = append_slot(&s->candidates, &s->candidate_count, &s->candidate_capacity, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->atime = item->st.st_atim;
    c->bytes = (uint64_t)item->st.st_size;
    c->chunk = s->chunks;
    return (c->path = strdup(item->path)) ? 0 : -ENOMEM;
}

static int sweep_item(const struct cache_item *item, void *payload)
{
    struct sweep *s = payload;
    uint64_t bytes = (uint64_t)item->st.st_size;
    if (item->temporary) {
        if (s->now - item->st.st_mtim.tv_sec < CACHE_TEMP_STALE_SECONDS)
            count(&s->busy, bytes);
        else if (unlink(item->path) == 0)
            count(&s->removed_temporary, bytes);
        return 0;
    }
    if (in_use(s, item)) {
        count(&s->kept, bytes);
        count(&s->total, bytes);
        return 0;
    }
    if (!s->remove_unused) {
        count(&s->total, bytes);
        return add_candidate(s, item);
    }
    if (unlink(item->path) == 0)
        count(s->chunks ? &s->removed_chunks : &s->removed_files, bytes);
    else if (errno != ENOENT)
        count(&s->total, bytes);
    return 0;
}

static int sweep_stores(struct sweep *s)
{
    static const char *stores[] = {"chunks", "files"};
    for (int i = 0; i < 2; i++) {
        s->chunks = i == 0;
        int rc = cache_store_foreach(s->cache, stores[i], sweep_item, s);
        if (rc < 0)
            return vial_error_set(rc, "cannot read %s/%s: %s", s->cache, stores[i], strerror(-rc));
    }
    return 0;
}

static void free_candidates(struct sweep *s)
{
    for (size_t i = 0; i < s->candidate_count; i++)
        free(s->candidates[i].path);
    free(s->candidates);
    s->candidates = NULL;
    s->candidate_count = s->candidate_capacity = 0;
}

/* Removes the entries of CACHE/<directory> that keep(name) refuses, files
 * and trees alike; counts the kept ones in *kept. */
static int sweep_directory(struct tally *removed, uint64_t *kept, const struct sweep *s,
                           const char *directory, int (*keep)(const struct sweep *s, const char *name))
{
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/%s", s->cache, directory);
    DIR *dir = opendir(root);
    if (!dir)
        return errno == ENOENT ? 0 : vial_error_set(-errno, "cannot read %s: %s", root, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dir))) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (keep(s, e->d_name)) {
            (*kept)++;
            continue;
        }
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        int r = S_ISDIR(st.st_mode) ? cli_remove_tree(path) : unlink(path) < 0 ? -errno : 0;
        if (r == 0)
            count(removed, S_ISDIR(st.st_mode) ? 0 : (uint64_t)st.st_size);
        else if (r != -ENOENT && rc == 0)
            rc = vial_error_set(r, "cannot remove %s: %s", path, strerror(-r));
    }
    closedir(dir);
    return rc;
}

static int keep_view(const struct sweep *s, const char *name)
{
    return strlen(name) == 24 && cache_running_has_root(s->running, name, 24);
}

/* <root>.vial, .url, .stats; a temporary file of the agent while young */
static int keep_mirror_file(const struct sweep *s, const char *name)
{
    struct stat st;
    char path[PATH_MAX + 256];
    if (strstr(name, ".tmp-")) {
        snprintf(path, sizeof path, "%s/images/%s", s->cache, name);
        return stat(path, &st) == 0 && s->now - st.st_mtim.tv_sec < CACHE_TEMP_STALE_SECONDS;
    }
    return strlen(name) > 2 * VIAL_HASH_LEN && name[2 * VIAL_HASH_LEN] == '.' &&
           cache_running_has_root(s->running, name, 2 * VIAL_HASH_LEN);
}

/* HASH.hive, named after the first 32 hex digits of the hive's hash */
static int keep_hive(const struct sweep *s, const char *name)
{
    for (size_t i = 0; i < s->running->image_count; i++)
        if (s->running->images[i].hive_hex[0] && strncmp(name, s->running->images[i].hive_hex, 32) == 0)
            return 1;
    return 0;
}

static int keep_nothing(const struct sweep *s, const char *name)
{
    (void)s;
    (void)name;
    return 0;
}

/* The end of gc and clear: the exit code (rc < 0: a failure, printed),
 * everything freed. */
static int finish_sweep(struct sweep *s, int rc, int code)
{
    if (rc < 0)
        code = cli_fail(rc);
    free_candidates(s);
    cache_running_free(s->running);
    return code;
}

/* "3 (1.2 MiB)" */
static const char *tally_text(char *out, size_t size, const struct tally *t)
{
    char human[32];
    cli_format_size(human, sizeof human, t->bytes);
    snprintf(out, size, "%llu (%s)", (unsigned long long)t->count, human);
    return out;
}

static void print_running(const struct cache_running *running)
{
    for (size_t i = 0; i < running->image_count; i++)
        printf("  in use: %s\n", running->images[i].path);
}

static void print_removed(const struct sweep *s, const struct tally *views)
{
    char a[64], b[64], c[64];
    printf("removed: %llu views, chunks %s, materialized files %s, stale temporary files %s\n",
           (unsigned long long)views->count, tally_text(a, sizeof a, &s->removed_chunks),
           tally_text(b, sizeof b, &s->removed_files), tally_text(c, sizeof c, &s->removed_temporary));
}

/* --------------------------------------------------------------------- gc */

/* "500M", "2G", "1024K", "12345" (binary units; a trailing B or iB is
 * allowed: 2GiB). */
static int parse_size(uint64_t *out, const char *text)
{
    char *end;
    if (text[0] < '0' || text[0] > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno)
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10, end++; break;
    case 'm': case 'M': shift = 20, end++; break;
    case 'g': case 'G': shift = 30, end++; break;
    case 't': case 'T': shift = 40, end++; break;
    }
    if (shift && *end == 'i')
        end++;
    if ((*end == 'B' || *end == 'b') && (shift || end > text))
        end++;
    if (*end || (shift && value > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (uint64_t)value << shift;
    return 0;
}

static int compare_candidates(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    if (x->atime.tv_sec != y->atime.tv_sec)
        return x->atime.tv_sec < y->atime.tv_sec ? -1 : 1;
    if (x->atime.tv_nsec != y->atime.tv_nsec)
        return x->atime.tv_nsec < y->atime.tv_nsec ? -1 : 1;
    return strcmp(x->path, y->path);
}

int cache_gc(int argc, char **argv)
{
    const char *limit = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max") == 0 && i + 1 == argc)
            return cli_usage("cache", "--max needs a SIZE");
        else if (strcmp(argv[i], "--max") == 0)
            limit = argv[++i];
        else if (strncmp(argv[i], "--max=", 6) == 0)
            limit = argv[i] + 6;
        else
            return cli_usage("cache", "unexpected argument '%s' of 'cache gc'", argv[i]);
    }
    uint64_t max;
    if (!limit)
        return cli_usage("cache", "'cache gc' needs --max SIZE");
    if (parse_size(&max, limit) < 0)
        return cli_usage("cache", "--max: '%s' is not a size (e.g. 500M, 2G, 1024K, 4096)", limit);
    struct vial_dirs dirs;
    struct cache_running running = {0};
    struct sweep s = {.running = &running, .now = time(NULL)};
    struct tally views = {0, 0};
    uint64_t views_kept = 0;
    int code = VIAL_EXIT_OK, rc;
    if ((rc = vial_dirs_get(&dirs)) < 0 || (rc = cache_running_scan(&running)) < 0)
        goto out;
    s.cache = dirs.cache;
    if ((rc = sweep_stores(&s)) < 0)
        goto out;
    if (s.total.bytes > max) {
        /* a view's hard links hold its content entries: dropping the views
         * of images nothing runs frees them (views are made again on
         * demand), then the entries are counted again */
        if ((rc = sweep_directory(&views, &views_kept, &s, "views", keep_view)) < 0)
            goto out;
        free_candidates(&s);
        memset(&s.kept, 0, sizeof s.kept);
        memset(&s.total, 0, sizeof s.total);
        memset(&s.busy, 0, sizeof s.busy);
        if ((rc = sweep_stores(&s)) < 0)
            goto out;
        if (s.candidate_count)
            qsort(s.candidates, s.candidate_count, sizeof *s.candidates, compare_candidates);
        for (size_t i = 0; i < s.candidate_count && s.total.bytes > max; i++) {
            struct candidate *c = &s.candidates[i];
            if (unlink(c->path) < 0 && errno != ENOENT)
                continue;
            count(c->chunk ? &s.removed_chunks : &s.removed_files, c->bytes);
            s.total.bytes -= c->bytes;
            s.total.count--;
        }
    }
    char total[32], bound[32], kept[32];
    cli_format_size(total, sizeof total, s.total.bytes);
    cli_format_size(bound, sizeof bound, max);
    cli_format_size(kept, sizeof kept, s.kept.bytes);
    print_removed(&s, &views);
    printf("cache now: %s in %llu chunks and materialized files (limit %s)\n", total,
           (unsigned long long)s.total.count, bound);
    if (s.total.bytes > max) {
        printf("the limit cannot be reached: %s is in use by %zu running image%s; "
               "run gc again after they exit\n",
               kept, running.image_count, running.image_count == 1 ? "" : "s");
        print_running(&running);
    } else if (s.kept.count) {
        printf("kept %s in use by %zu running image%s\n", kept, running.image_count,
               running.image_count == 1 ? "" : "s");
    }
out:
    return finish_sweep(&s, rc, code);
}

/* ------------------------------------------------------------------ clear */

/* Removes CACHE/<directory> itself once empty; only when no application
 * runs, since a running one may be about to create a file in it. */
static void remove_if_empty(const struct sweep *s, const char *directory)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->cache, directory);
    DIR *dir = opendir(path);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        char bucket[PATH_MAX + 256];
        snprintf(bucket, sizeof bucket, "%s/%s", path, e->d_name);
        if (e->d_name[0] != '.')
            rmdir(bucket);
    }
    if (dir)
        closedir(dir);
    rmdir(path);
}

int cache_clear(int argc, char **argv)
{
    int yes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--yes") == 0 || strcmp(argv[i], "-y") == 0)
            yes = 1;
        else
            return cli_usage("cache", "unexpected argument '%s' of 'cache clear'", argv[i]);
    }
    struct vial_dirs dirs;
    struct cache_running running = {0};
    struct sweep s = {.running = &running, .now = time(NULL), .remove_unused = 1};
    struct tally views = {0, 0}, mirrors = {0, 0}, hives = {0, 0}, verified = {0, 0};
    uint64_t views_kept = 0, mirror_files_kept = 0, hives_kept = 0, verified_kept = 0;
    int code = VIAL_EXIT_OK, rc;
    if ((rc = vial_dirs_get(&dirs)) < 0 || (rc = cache_running_scan(&running)) < 0)
        goto out;
    s.cache = dirs.cache;
    if (!yes && (code = cli_confirm("clear the cache", "Remove everything in %s that no running "
                                    "application uses?", dirs.cache)) != VIAL_EXIT_OK)
        goto out;
    /* views first: their hard links are what keep content entries in use */
    if ((rc = sweep_directory(&views, &views_kept, &s, "views", keep_view)) < 0 ||
        (rc = sweep_directory(&mirrors, &mirror_files_kept, &s, "images", keep_mirror_file)) < 0 ||
        (rc = sweep_directory(&hives, &hives_kept, &s, "hives", keep_hive)) < 0 ||
        (rc = sweep_directory(&verified, &verified_kept, &s, "verified", keep_nothing)) < 0 ||
        (rc = sweep_stores(&s)) < 0)
        goto out;
    if (running.image_count == 0) {
        static const char *directories[] = {"chunks", "files", "views", "images", "hives", "verified"};
        for (size_t i = 0; i < sizeof directories / sizeof directories[0]; i++)
            remove_if_empty(&s, directories[i]);
    }
    char a[64];
    print_removed(&s, &views);
    printf("removed: mirror files %s, %llu hives, %llu verification records\n",
           tally_text(a, sizeof a, &mirrors), (unsigned long long)hives.count,
           (unsigned long long)verified.count);
    if (running.image_count) {
        printf("kept for %zu running image%s: %llu views, %llu mirror files, chunks and "
               "materialized files %s\n",
               running.image_count, running.image_count == 1 ? "" : "s", (unsigned long long)views_kept,
               (unsigned long long)mirror_files_kept, tally_text(a, sizeof a, &s.kept));
        print_running(&running);
    }
    if (s.busy.count)
        printf("kept %llu temporary files being written\n", (unsigned long long)s.busy.count);
out:
    return finish_sweep(&s, rc, code);
}
