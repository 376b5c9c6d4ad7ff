/*
 * million.c - the C side of Vial's benchmarks (bench/README.md).
 *
 *   vial-bench-million [--dirs N] [--files N] [--runs N] [--lookups N]
 *                      [--level N] [--threads N] [--keep PATH]
 *       The "open an image of 1 million entries" budget: packs a synthetic
 *       tree through the packager API (contents come from a read callback),
 *       then, in fresh processes (this program exec'ed again), times
 *       vial_image_open_path, the first lookup of a deep path and random
 *       lookups, and reports memory; then the same open with
 *       VIAL_OPEN_VERIFY_METADATA.
 *
 *   vial-bench-million --chunks OLD.vial NEW.vial
 *       Update cost: the chunks of NEW whose hash OLD lacks, i.e. what a
 *       client holding OLD fetches to get NEW. Prints key=value pairs.
 *
 *   vial-bench-million --granularity IMAGE [--samples N]
 *       Random-read granularity: the bytes a reader decompresses to read one
 *       whole file, and the time to read random small files one after the
 *       other (each from a block not in the reader's cache). key=value pairs.
 *
 * Figures go to stdout, progress to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "packager/packager.h"
#include "runtime/runtime.h"

#define DEEP_LEVELS 32
#define MAX_RUNS 64

/* ---------------------------------------------------------------- helpers */

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts values in place; returns the q-quantile (0.5 = median). */
static double quantile(double *values, size_t n, double q)
{
    if (n == 0)
        return 0;
    qsort(values, n, sizeof *values, compare_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return values[i < n ? i : n - 1];
}

/* A "Name:   123 kB" line of /proc/self/status, in KiB (-1 if absent).
 * VmHWM, not getrusage's ru_maxrss: the latter survives execve, so a child
 * would report the high-water mark of the parent that built the image. */
static long status_kib(const char *name)
{
    char line[256];
    long value = -1;
    size_t n = strlen(name);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            value = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return value;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "vial-bench-million: %s: %s\n", what,
            vial_error_last()[0] ? vial_error_last() : vial_strerror(rc));
    return 1;
}

static int parse_unsigned(unsigned *out, const char *s, unsigned min, unsigned max)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max) {
        fprintf(stderr, "vial-bench-million: '%s' is not a number in %u..%u\n", s, min, max);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

/* --------------------------------------------------------- synthetic tree */

/* The tree: dirs directories "dNNNN" of files "fNNNN.txt" each, plus one
 * chain of DEEP_LEVELS directories under "deep" ending in "leaf.txt". */
struct tree {
    unsigned dirs, files;
};

static void file_path(char *buf, size_t size, unsigned dir, unsigned file)
{
    snprintf(buf, size, "d%04u/f%04u.txt", dir, file);
}

static void deep_path(char *buf, size_t size, int levels, int leaf)
{
    size_t n = (size_t)snprintf(buf, size, "deep");
    for (int i = 1; i <= levels && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "/level%02d", i);
    if (leaf && n < size)
        snprintf(buf + n, size - n, "/leaf.txt");
}

/* 16..64 bytes that differ from file to file (no dedup across files). */
static size_t synthetic_content(char *out, uint64_t id)
{
    char text[128];
    uint64_t h = mix64(id);
    int n = snprintf(text, sizeof text, "%" PRIu64 " = %016" PRIx64 "%016" PRIx64 "\n", id, h,
                     mix64(h));
    size_t length = 16 + (size_t)(h % 49);
    if ((size_t)n < length)
        length = (size_t)n;
    memcpy(out, text, length);
    return length;
}

static int synthetic_read(void *payload, void *buf, size_t length, uint64_t offset)
{
    char content[128];
    size_t n = synthetic_content(content, (uint64_t)(uintptr_t)payload);
    if (offset > n || length > n - offset)
        return -EIO;
    memcpy(buf, content + offset, length);
    return 0;
}

static int add_entry(struct vial_packer *packer, const char *path, uint8_t type, uint64_t id)
{
    struct vial_pack_entry e = {
        .path = path,
        .type = type,
        .mode = type == VIAL_ENTRY_DIRECTORY ? 0755 : 0644,
        .mtime_sec = 1700000000,
    };
    char content[128];
    if (type == VIAL_ENTRY_REGULAR) {
        e.size = synthetic_content(content, id);
        e.read = synthetic_read;
        e.payload = (void *)(uintptr_t)id;
    }
    return vial_packer_add(packer, &e);
}

static int build_image(const char *output, const struct tree *tree, int level, unsigned threads,
                       struct vial_pack_stats *stats, double *add_ms, double *write_ms)
{
    static const char manifest[] = "[package]\nname = million\nversion = 1\n";
    struct vial_pack_options options = {
        .level = level,
        .threads = threads,
        .manifest_text = manifest,
        .manifest_length = sizeof manifest - 1,
    };
    struct vial_packer *packer = NULL;
    char path[PATH_MAX];
    double t0 = now_ns();
    int rc = vial_packer_new(&packer, &options);
    uint64_t id = 0;
    for (unsigned d = 0; d < tree->dirs && rc == 0; d++) {
        snprintf(path, sizeof path, "d%04u", d);
        rc = add_entry(packer, path, VIAL_ENTRY_DIRECTORY, 0);
        for (unsigned f = 0; f < tree->files && rc == 0; f++) {
            file_path(path, sizeof path, d, f);
            rc = add_entry(packer, path, VIAL_ENTRY_REGULAR, ++id);
        }
    }
    for (int level_i = 0; level_i <= DEEP_LEVELS && rc == 0; level_i++) {
        deep_path(path, sizeof path, level_i, 0);
        rc = add_entry(packer, path, VIAL_ENTRY_DIRECTORY, 0);
    }
    if (rc == 0) {
        deep_path(path, sizeof path, DEEP_LEVELS, 1);
        rc = add_entry(packer, path, VIAL_ENTRY_REGULAR, ++id);
    }
    double t1 = now_ns();
    if (rc == 0)
        rc = vial_packer_write(packer, output, stats);
    double t2 = now_ns();
    vial_packer_free(packer);
    *add_ms = (t1 - t0) / 1e6;
    *write_ms = (t2 - t1) / 1e6;
    return rc;
}

/* ------------------------------------------------- child: one cold open */

struct child_result {
    double open_ms, first_lookup_ms, lookup_median_ns, lookup_p99_ns, lookup_mean_ns;
    long anon_before_kib, anon_after_kib, file_before_kib, file_after_kib, hwm_kib;
};

/* Runs in a freshly exec'ed process: the image is in the page cache (it was
 * just written or read), but nothing of it is mapped or cached here. */
static int child_main(const char *image_path, unsigned flags, const struct tree *tree,
                      unsigned lookups)
{
    char deep[PATH_MAX];
    char (*paths)[32] = NULL;
    double *times = NULL;
    struct vial_image *image = NULL;
    uint32_t index;
    int rc, status = 1;
    deep_path(deep, sizeof deep, DEEP_LEVELS, 1);
    /* The lookup paths are made before the clock starts. */
    paths = malloc((size_t)lookups * sizeof *paths);
    times = malloc((size_t)lookups * sizeof *times);
    if (!paths || !times) {
        fprintf(stderr, "vial-bench-million: out of memory\n");
        goto out;
    }
    uint64_t state = 12345;
    for (unsigned i = 0; i < lookups; i++) {
        state = mix64(state);
        file_path(paths[i], sizeof paths[i], (unsigned)(state % tree->dirs),
                  (unsigned)((state >> 32) % tree->files));
    }
    long anon_before = status_kib("RssAnon"), file_before = status_kib("RssFile");

    double t0 = now_ns();
    rc = vial_image_open_path(&image, image_path, flags);
    double t1 = now_ns();
    if (rc < 0) {
        status = fail(image_path, rc);
        goto out;
    }
    rc = vial_image_lookup(&index, image, deep);
    double t2 = now_ns();
    if (rc < 0) {
        status = fail(deep, rc);
        goto out;
    }
    for (unsigned i = 0; i < lookups; i++) {
        double a = now_ns();
        rc = vial_image_lookup(&index, image, paths[i]);
        times[i] = now_ns() - a;
        if (rc < 0) {
            status = fail(paths[i], rc);
            goto out;
        }
    }
    double sum = 0;
    for (unsigned i = 0; i < lookups; i++)
        sum += times[i];
    struct child_result r = {
        .open_ms = (t1 - t0) / 1e6,
        .first_lookup_ms = (t2 - t1) / 1e6,
        .lookup_mean_ns = lookups ? sum / lookups : 0,
        .lookup_median_ns = quantile(times, lookups, 0.5),
        .lookup_p99_ns = quantile(times, lookups, 0.99),
        .anon_before_kib = anon_before,
        .anon_after_kib = status_kib("RssAnon"),
        .file_before_kib = file_before,
        .file_after_kib = status_kib("RssFile"),
        .hwm_kib = status_kib("VmHWM"),
    };
    /* One line for the parent to parse. */
    printf("%.6f %.6f %.1f %.1f %.1f %ld %ld %ld %ld %ld\n", r.open_ms, r.first_lookup_ms,
           r.lookup_median_ns, r.lookup_p99_ns, r.lookup_mean_ns, r.anon_before_kib,
           r.anon_after_kib, r.file_before_kib, r.file_after_kib, r.hwm_kib);
    status = 0;
out:
    vial_image_close(image);
    free(paths);
    free(times);
    return status;
}

static int run_child(struct child_result *out, const char *image_path, unsigned flags,
                     const struct tree *tree, unsigned lookups)
{
    char flags_text[16], dirs_text[16], files_text[16], lookups_text[16], line[512];
    int pipe_fds[2];
    snprintf(flags_text, sizeof flags_text, "%u", flags);
    snprintf(dirs_text, sizeof dirs_text, "%u", tree->dirs);
    snprintf(files_text, sizeof files_text, "%u", tree->files);
    snprintf(lookups_text, sizeof lookups_text, "%u", lookups);
    fflush(NULL);
    if (pipe(pipe_fds) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        dup2(pipe_fds[1], 1);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        char *argv[] = {"vial-bench-million", "--child", (char *)image_path, flags_text,
                        dirs_text, files_text, lookups_text, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(pipe_fds[1]);
    FILE *f = fdopen(pipe_fds[0], "r");
    int got = 0;
    if (f) {
        if (fgets(line, sizeof line, f))
            got = sscanf(line, "%lf %lf %lf %lf %lf %ld %ld %ld %ld %ld", &out->open_ms,
                         &out->first_lookup_ms, &out->lookup_median_ns, &out->lookup_p99_ns,
                         &out->lookup_mean_ns, &out->anon_before_kib, &out->anon_after_kib,
                         &out->file_before_kib, &out->file_after_kib, &out->hwm_kib);
        fclose(f);
    } else {
        close(pipe_fds[0]);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != 10)
        return -EIO;
    return 0;
}

/* ------------------------------------------------------- million: parent */

static int million_main(int argc, char **argv)
{
    struct tree tree = {1000, 999};
    unsigned runs = 5, lookups = 10000, level = VIAL_PACK_DEFAULT_LEVEL, threads = 0;
    const char *keep = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!v && strcmp(a, "--help") != 0) {
            fprintf(stderr, "vial-bench-million: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--dirs") == 0)
            bad = parse_unsigned(&tree.dirs, v, 1, 100000);
        else if (strcmp(a, "--files") == 0)
            bad = parse_unsigned(&tree.files, v, 1, 9999);
        else if (strcmp(a, "--runs") == 0)
            bad = parse_unsigned(&runs, v, 1, MAX_RUNS);
        else if (strcmp(a, "--lookups") == 0)
            bad = parse_unsigned(&lookups, v, 1, 10000000);
        else if (strcmp(a, "--level") == 0)
            bad = parse_unsigned(&level, v, 1, 19);
        else if (strcmp(a, "--threads") == 0)
            bad = parse_unsigned(&threads, v, 0, 1024);
        else if (strcmp(a, "--keep") == 0)
            keep = v;
        else {
            fprintf(stderr,
                    "usage: vial-bench-million [--dirs N] [--files N] [--runs N] [--lookups N] "
                    "[--level N] [--threads N] [--keep IMAGE]\n"
                    "       vial-bench-million --chunks OLD.vial NEW.vial\n"
                    "       vial-bench-million --granularity IMAGE [--samples N]\n");
            return 2;
        }
        if (bad)
            return 2;
        i++;
    }

    char temp[PATH_MAX];
    const char *output = keep;
    if (!output) {
        const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(temp, sizeof temp, "%s/vial-bench-million-%ld.vial", dir, (long)getpid());
        output = temp;
    }
    struct vial_pack_stats stats;
    double add_ms, write_ms;
    uint64_t entries = 1 + (uint64_t)tree.dirs * (1 + tree.files) + (DEEP_LEVELS + 1) + 1;
    fprintf(stderr, "vial-bench-million: packing %" PRIu64 " entries into %s\n", entries, output);
    int rc = build_image(output, &tree, (int)level, threads, &stats, &add_ms, &write_ms);
    if (rc < 0)
        return fail("pack", rc);

    /* Read the image once so the page cache is warm for every child. */
    struct vial_image *image = NULL;
    const void *section;
    uint64_t index_bytes = 0, table_bytes = 0;
    if ((rc = vial_image_open_path(&image, output, VIAL_OPEN_VERIFY_METADATA)) < 0)
        return fail(output, rc);
    vial_image_section(&section, &index_bytes, image, VIAL_SECTION_INDEX);
    vial_image_section(&section, &table_bytes, image, VIAL_SECTION_CHUNK_TABLE);
    vial_image_close(image);

    struct child_result plain[MAX_RUNS], verify[MAX_RUNS];
    for (unsigned r = 0; r < runs; r++) {
        if ((rc = run_child(&plain[r], output, 0, &tree, lookups)) < 0 ||
            (rc = run_child(&verify[r], output, VIAL_OPEN_VERIFY_METADATA, &tree, 1)) < 0) {
            fprintf(stderr, "vial-bench-million: a measuring child failed\n");
            if (!keep)
                unlink(output);
            return 1;
        }
    }
    if (!keep)
        unlink(output);

    double open_plus[MAX_RUNS], open_only[MAX_RUNS], first[MAX_RUNS], median[MAX_RUNS],
        p99[MAX_RUNS], verify_open[MAX_RUNS], anon_delta[MAX_RUNS], file_delta[MAX_RUNS],
        hwm[MAX_RUNS], verify_anon_delta[MAX_RUNS], verify_file_delta[MAX_RUNS];
    for (unsigned r = 0; r < runs; r++) {
        open_plus[r] = plain[r].open_ms + plain[r].first_lookup_ms;
        open_only[r] = plain[r].open_ms;
        first[r] = plain[r].first_lookup_ms;
        median[r] = plain[r].lookup_median_ns;
        p99[r] = plain[r].lookup_p99_ns;
        verify_open[r] = verify[r].open_ms;
        anon_delta[r] = (double)(plain[r].anon_after_kib - plain[r].anon_before_kib);
        file_delta[r] = (double)(plain[r].file_after_kib - plain[r].file_before_kib);
        hwm[r] = (double)plain[r].hwm_kib;
        verify_anon_delta[r] = (double)(verify[r].anon_after_kib - verify[r].anon_before_kib);
        verify_file_delta[r] = (double)(verify[r].file_after_kib - verify[r].file_before_kib);
    }
    double worst = quantile(open_plus, runs, 1.0);
    printf("| figure | value |\n| --- | --- |\n");
    printf("| entries | %" PRIu64 " (%u dirs x %u files of 16-64 bytes, %d-level deep path) |\n",
           stats.entries, tree.dirs, tree.files, DEEP_LEVELS);
    printf("| pack: adding entries | %.0f ms |\n", add_ms);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    printf("| pack: vial_packer_write (level %u, %u threads) | %.0f ms |\n", level,
           threads ? threads : (unsigned)(online > 0 ? online : 1), write_ms);
    printf("| image size | %" PRIu64 " bytes (%.1f MiB); index %" PRIu64
           " bytes, chunk table %" PRIu64 " bytes, %" PRIu64 " chunks |\n",
           stats.image_bytes, (double)stats.image_bytes / 1048576.0, index_bytes, table_bytes,
           stats.chunks);
    printf("| runs (fresh process each) | %u |\n", runs);
    printf("| open (no verify), median / max | %.3f / %.3f ms |\n",
           quantile(open_only, runs, 0.5), quantile(open_only, runs, 1.0));
    printf("| first lookup of /%s, median / max | %.3f / %.3f ms |\n", "deep/.../leaf.txt",
           quantile(first, runs, 0.5), quantile(first, runs, 1.0));
    printf("| open + first lookup, median / max | %.3f / %.3f ms |\n",
           quantile(open_plus, runs, 0.5), worst);
    printf("| %u random lookups: median per lookup (median of runs) | %.0f ns |\n", lookups,
           quantile(median, runs, 0.5));
    printf("| %u random lookups: p99 per lookup (median of runs) | %.0f ns |\n", lookups,
           quantile(p99, runs, 0.5));
    printf("| RSS increase from open + %u lookups, median: private (RssAnon) / mapped "
           "image pages (RssFile) | %.0f / %.0f KiB |\n",
           lookups, quantile(anon_delta, runs, 0.5), quantile(file_delta, runs, 0.5));
    printf("| max RSS (VmHWM) of the measuring process, median | %.0f KiB |\n",
           quantile(hwm, runs, 0.5));
    printf("| open with VIAL_OPEN_VERIFY_METADATA, median / max | %.1f / %.1f ms |\n",
           quantile(verify_open, runs, 0.5), quantile(verify_open, runs, 1.0));
    printf("| RSS increase from a verified open, median: private / mapped | %.0f / %.0f KiB |\n",
           quantile(verify_anon_delta, runs, 0.5), quantile(verify_file_delta, runs, 0.5));
    printf("\nBudget \"open an image of 1 million entries: under 50 ms\" (open + first lookup, "
           "worst of %u runs, %.3f ms): %s\n",
           runs, worst, worst < 50.0 ? "PASS" : "FAIL");
    return 0;
}

/* --------------------------------------------------------- chunks: update */

static int compare_hash(const void *a, const void *b)
{
    return memcmp(a, b, VIAL_HASH_LEN);
}

static int chunks_main(const char *old_path, const char *new_path)
{
    struct vial_image *old_image = NULL, *new_image = NULL;
    uint8_t *old_hashes = NULL;
    int rc, status = 1;
    if ((rc = vial_image_open_path(&old_image, old_path, VIAL_OPEN_VERIFY_METADATA)) < 0) {
        status = fail(old_path, rc);
        goto out;
    }
    if ((rc = vial_image_open_path(&new_image, new_path, VIAL_OPEN_VERIFY_METADATA)) < 0) {
        status = fail(new_path, rc);
        goto out;
    }
    uint32_t old_count = vial_image_chunk_count(old_image);
    old_hashes = malloc((size_t)(old_count ? old_count : 1) * VIAL_HASH_LEN);
    if (!old_hashes) {
        fprintf(stderr, "vial-bench-million: out of memory\n");
        goto out;
    }
    struct vial_chunk_info info;
    for (uint32_t i = 0; i < old_count; i++) {
        if ((rc = vial_image_chunk(&info, old_image, i)) < 0) {
            status = fail(old_path, rc);
            goto out;
        }
        memcpy(old_hashes + (size_t)i * VIAL_HASH_LEN, info.hash, VIAL_HASH_LEN);
    }
    qsort(old_hashes, old_count, VIAL_HASH_LEN, compare_hash);
    uint64_t new_chunks = 0, new_stored = 0, new_raw = 0, stored = 0;
    uint32_t count = vial_image_chunk_count(new_image);
    for (uint32_t i = 0; i < count; i++) {
        if ((rc = vial_image_chunk(&info, new_image, i)) < 0) {
            status = fail(new_path, rc);
            goto out;
        }
        stored += info.stored_length;
        if (bsearch(info.hash, old_hashes, old_count, VIAL_HASH_LEN, compare_hash))
            continue;
        new_chunks++;
        new_stored += info.stored_length;
        new_raw += info.raw_length;
    }
    const void *data;
    uint64_t data_length = 0;
    vial_image_section(&data, &data_length, new_image, VIAL_SECTION_CHUNK_DATA);
    printf("chunks=%u new_chunks=%" PRIu64 " new_stored=%" PRIu64 " new_raw=%" PRIu64
           " stored=%" PRIu64 " metadata=%" PRIu64 "\n",
           count, new_chunks, new_stored, new_raw, stored,
           vial_image_size(new_image) - data_length);
    status = 0;
out:
    free(old_hashes);
    vial_image_close(old_image);
    vial_image_close(new_image);
    return status;
}

/* ------------------------------------------------ granularity: small reads */

static int granularity_main(const char *path, unsigned samples)
{
    struct vial_image *image = NULL;
    struct vial_reader *reader = NULL;
    uint32_t *small = NULL, small_count = 0;
    double *decompressed = NULL, *times = NULL;
    uint8_t *buffer = NULL;
    int rc, status = 1;
    if ((rc = vial_image_open_path(&image, path, 0)) < 0 ||
        (rc = vial_reader_new(&reader, image)) < 0) {
        status = fail(path, rc);
        goto out;
    }
    uint32_t count = vial_image_entry_count(image);
    small = malloc((size_t)count * sizeof *small);
    decompressed = malloc((size_t)count * sizeof *decompressed);
    times = malloc((size_t)(samples ? samples : 1) * sizeof *times);
    if (!small || !decompressed || !times) {
        fprintf(stderr, "vial-bench-million: out of memory\n");
        goto out;
    }
    /* Bytes decompressed to read each non-empty file whole. */
    uint32_t files = 0;
    double decompressed_sum = 0, size_sum = 0;
    uint64_t largest_small = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct vial_entry e;
        const struct vial_chunk_ref *refs;
        uint32_t ref_count;
        if ((rc = vial_image_entry(&e, image, i)) < 0 ||
            (e.type == VIAL_ENTRY_REGULAR &&
             (rc = vial_image_file_refs(&refs, &ref_count, image, i)) < 0)) {
            status = fail(path, rc);
            goto out;
        }
        if (e.type != VIAL_ENTRY_REGULAR || e.size == 0)
            continue;
        double bytes = 0;
        for (uint32_t r = 0; r < ref_count; r++) {
            struct vial_chunk_info info;
            if ((rc = vial_image_chunk(&info, image, refs[r].chunk)) < 0) {
                status = fail(path, rc);
                goto out;
            }
            if (r == 0 || refs[r].chunk != refs[r - 1].chunk)
                bytes += info.raw_length;
        }
        decompressed[files++] = bytes;
        decompressed_sum += bytes;
        size_sum += (double)e.size;
        /* a file in a solid block: one reference into a larger chunk */
        if (ref_count == 1) {
            struct vial_chunk_info info;
            vial_image_chunk(&info, image, refs[0].chunk);
            if (info.raw_length > e.size) {
                small[small_count++] = i;
                if (e.size > largest_small)
                    largest_small = e.size;
            }
        }
    }
    if (files == 0) {
        fprintf(stderr, "vial-bench-million: %s has no non-empty files\n", path);
        goto out;
    }
    double mean = decompressed_sum / files;
    double median = quantile(decompressed, files, 0.5);

    /* Random small files, one after the other: almost every read
     * decompresses (and hashes) a whole block. */
    unsigned measured = 0;
    buffer = malloc(largest_small ? largest_small : 1);
    uint64_t state = 4242;
    for (unsigned s = 0; s < samples && small_count > 0 && buffer; s++) {
        state = mix64(state);
        uint32_t i = small[state % small_count];
        struct vial_entry e;
        size_t got;
        vial_image_entry(&e, image, i);
        double a = now_ns();
        rc = vial_reader_pread(&got, reader, i, buffer, (size_t)e.size, 0);
        double b = now_ns();
        if (rc < 0) {
            status = fail(path, rc);
            goto out;
        }
        times[measured++] = b - a;
    }
    printf("files=%u small_files=%u mean_file_bytes=%.0f decompressed_mean=%.0f "
           "decompressed_median=%.0f small_read_median_us=%.1f small_read_p90_us=%.1f\n",
           files, small_count, size_sum / files, mean, median,
           quantile(times, measured, 0.5) / 1e3, quantile(times, measured, 0.9) / 1e3);
    status = 0;
out:
    free(buffer);
    free(small);
    free(decompressed);
    free(times);
    vial_reader_free(reader);
    vial_image_close(image);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--child") == 0) {
        struct tree tree;
        unsigned flags, lookups;
        if (argc != 7 || parse_unsigned(&flags, argv[3], 0, 1) < 0 ||
            parse_unsigned(&tree.dirs, argv[4], 1, 100000) < 0 ||
            parse_unsigned(&tree.files, argv[5], 1, 9999) < 0 ||
            parse_unsigned(&lookups, argv[6], 1, 10000000) < 0)
            return 2;
        return child_main(argv[2], flags, &tree, lookups);
    }
    if (argc >= 2 && strcmp(argv[1], "--chunks") == 0) {
        if (argc != 4) {
            fprintf(stderr, "usage: vial-bench-million --chunks OLD.vial NEW.vial\n");
            return 2;
        }
        return chunks_main(argv[2], argv[3]);
    }
    if (argc >= 2 && strcmp(argv[1], "--granularity") == 0) {
        unsigned samples = 2000;
        if (argc == 5 && strcmp(argv[3], "--samples") == 0) {
            if (parse_unsigned(&samples, argv[4], 1, 10000000) < 0)
                return 2;
        } else if (argc != 3) {
            fprintf(stderr, "usage: vial-bench-million --granularity IMAGE [--samples N]\n");
            return 2;
        }
        return granularity_main(argv[2], samples);
    }
    return million_main(argc, argv);
}
