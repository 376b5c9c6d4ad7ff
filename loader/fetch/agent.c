/*
 * agent.c - vial-agent, the per-user fetch agent of streamed images.
 *
 * Applications never fetch: their runtime finds chunks in the user's
 * content-addressed store (CACHE/chunks) and asks this process, over a Unix
 * socket in the user's private runtime directory, for the ones missing.
 * The agent fetches them with ranged HTTP requests, checks each against its
 * hash (the same check the reader makes before use), stores it atomically
 * and answers. One agent serves every image and every process of the user,
 * so two applications wanting one chunk fetch it once, and all versions of
 * all packages share what they have in common. libcurl, and TLS with it,
 * stays in this process.
 *
 * Requests, one line each (docs/streaming.md):
 *   MIRROR <url>                  -> OK <mirror> | OFFLINE <mirror> <why> | ERR <why>
 *   FETCH <mirror> <chunk> ...    -> OK | ERR <why>
 *   PREFETCH <mirror> profile|all -> OK | ERR <why>   (profile: answered first)
 *   HOLD                          -> (kept open: the agent stays while it is)
 * It listens on RUNTIME/agent-<hash of the cache path>.sock: one agent per
 * user and cache directory. The agent exits once no connection has been
 * open for VIAL_AGENT_IDLE seconds (default 60). Its log is
 * RUNTIME/agent.log.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "runtime/runtime.h"

#define AGENT_WORKERS 4                  /* ranges fetched at once per request */
#define AGENT_GAP (16u * 1024u)          /* chunks this close share a range */
#define AGENT_RANGE_MAX (8u << 20)       /* bytes in one range at most */
#define AGENT_METADATA_GAP (64u * 1024u) /* metadata sections this close, too */
#define AGENT_METADATA_MAX (1ull << 31)  /* a header asking for more is refused */
#define AGENT_ATTEMPTS 6
#define AGENT_READAHEAD (32u * 1024u) /* see with_readahead; VIAL_AGENT_READAHEAD sets it */
#define AGENT_REQUEST_MAX (64u << 20)

struct mirror {
    char path[PATH_MAX];
    char url[4096];
    struct vial_image *image;
    struct http_counters counters; /* under agent.lock */
    uint64_t chunks_stored;
    struct mirror *next;
};

/* A chunk some thread is fetching: others wanting it wait for it. */
struct in_flight {
    uint8_t hash[VIAL_HASH_LEN];
    struct in_flight *next;
};

static struct {
    struct vial_dirs dirs;
    char chunks[PATH_MAX], images[PATH_MAX];
    struct http_client *http;
    pthread_mutex_t lock;
    pthread_cond_t landed; /* an in-flight chunk was stored or given up */
    struct mirror *mirrors;
    struct in_flight *in_flight;
    int connections;
    time_t idle_since;
} agent = {.lock = PTHREAD_MUTEX_INITIALIZER, .landed = PTHREAD_COND_INITIALIZER};

static void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void agent_log(const char *fmt, ...)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
    va_list ap;
    va_start(ap, fmt);
    flockfile(stderr);
    fprintf(stderr, "%s vial-agent[%d]: ", stamp, (int)getpid());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}

/* ------------------------------------------------------------- the store */

static int chunk_stored(const struct vial_chunk_info *info)
{
    char path[PATH_MAX];
    struct stat st;
    return vial_chunk_store_path(path, sizeof path, agent.chunks, info->hash) == 0 &&
           stat(path, &st) == 0 && (uint64_t)st.st_size == info->stored_length;
}

/* Writes a verified frame under a temporary name and renames it into place:
 * readers see the whole frame or none. No fsync: a frame damaged by a crash
 * fails its hash check on use and is fetched again. */
static int store_chunk(const struct vial_chunk_info *info, const uint8_t *frame)
{
    char path[PATH_MAX], temp[PATH_MAX + 64];
    static unsigned counter;
    int rc = vial_chunk_store_path(path, sizeof path, agent.chunks, info->hash);
    if (rc < 0)
        return rc;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    rc = vial_mkdir_p(path, 0700);
    *slash = '/';
    if (rc < 0)
        return vial_error_set(rc, "cannot create the chunk store %s: %s", agent.chunks,
                              strerror(-rc));
    snprintf(temp, sizeof temp, "%s.tmp-%d-%u", path, (int)getpid(),
             __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return vial_error_set(-errno, "cannot store a chunk in %s: %s", agent.chunks,
                              strerror(errno));
    size_t done = 0;
    while (done < info->stored_length) {
        ssize_t n = write(fd, frame + done, info->stored_length - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    int saved = errno;
    if (close(fd) < 0 && done == info->stored_length)
        saved = errno, done = 0;
    if (done != info->stored_length || rename(temp, path) < 0) {
        if (done == info->stored_length)
            saved = errno;
        unlink(temp);
        return vial_error_set(-saved, "cannot store a chunk in %s: %s", agent.chunks,
                              strerror(saved));
    }
    return 0;
}

/* ------------------------------------------------------------- mirrors */

static int valid_mirror_path(const char *path)
{
    size_t n = strlen(agent.images);
    return strncmp(path, agent.images, n) == 0 && path[n] == '/' && !strchr(path + n + 1, '/') &&
           strlen(path + n + 1) == 2 * VIAL_HASH_LEN + 5 &&
           strcmp(path + n + 1 + 2 * VIAL_HASH_LEN, ".vial") == 0;
}

static void read_line(char *out, size_t size, const char *path)
{
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (!fgets(out, (int)size, f))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

/* Writes text to path atomically (temporary file, rename). */
static int write_file(const char *path, const char *text)
{
    char temp[PATH_MAX + 32];
    snprintf(temp, sizeof temp, "%s.tmp-%d", path, (int)getpid());
    FILE *f = fopen(temp, "we");
    if (!f)
        return -errno;
    int ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok || rename(temp, path) < 0) {
        int rc = -errno;
        unlink(temp);
        return rc ? rc : -EIO;
    }
    return 0;
}

/* The mirror opened once and kept, with the URL its chunks come from.
 * Called with agent.lock held. */
static int find_mirror(struct mirror **out, const char *path)
{
    for (struct mirror *m = agent.mirrors; m; m = m->next)
        if (strcmp(m->path, path) == 0) {
            char url_file[PATH_MAX + 8];
            snprintf(url_file, sizeof url_file, "%.*s.url", (int)(strlen(path) - 5), path);
            read_line(m->url, sizeof m->url, url_file); /* the last MIRROR wins */
            *out = m;
            return 0;
        }
    if (!valid_mirror_path(path))
        return vial_error_set(-EINVAL, "%s is not a mirror in %s", path, agent.images);
    struct mirror *m = calloc(1, sizeof *m);
    if (!m)
        return vial_error_set(-ENOMEM, "out of memory");
    snprintf(m->path, sizeof m->path, "%s", path);
    char url_file[PATH_MAX + 8];
    snprintf(url_file, sizeof url_file, "%.*s.url", (int)(strlen(path) - 5), path);
    read_line(m->url, sizeof m->url, url_file);
    int rc = vial_image_open_path(&m->image, path, 0);
    if (rc == 0 && !m->url[0])
        rc = vial_error_set(-ENOENT, "%s has no URL to fetch from", url_file);
    if (rc < 0) {
        vial_image_close(m->image);
        free(m);
        return rc;
    }
    m->next = agent.mirrors;
    agent.mirrors = m;
    *out = m;
    return 0;
}

/* RUNTIME-independent record of the last image seen at a URL, for offline
 * starts: images/by-url/<hash of the URL>, holding the root hash. */
static void url_record(char *out, size_t size, const char *url)
{
    uint8_t hash[VIAL_HASH_LEN];
    char hex[2 * VIAL_HASH_LEN + 1];
    vial_hash(hash, url, strlen(url));
    vial_hash_hex(hex, hash);
    snprintf(out, size, "%s/by-url/%.32s", agent.images, hex);
}

static void save_stats(struct mirror *m)
{
    char path[PATH_MAX + 8], text[256];
    snprintf(path, sizeof path, "%.*s.stats", (int)(strlen(m->path) - 5), m->path);
    pthread_mutex_lock(&agent.lock);
    snprintf(text, sizeof text, "requests=%llu\nbytes=%llu\nchunks=%llu\n",
             (unsigned long long)m->counters.requests, (unsigned long long)m->counters.bytes,
             (unsigned long long)m->chunks_stored);
    pthread_mutex_unlock(&agent.lock);
    write_file(path, text);
}

/* Counters start from what the stats file says, so that they add up over
 * agent restarts. */
static void load_stats(struct mirror *m)
{
    char path[PATH_MAX + 8], line[128];
    snprintf(path, sizeof path, "%.*s.stats", (int)(strlen(m->path) - 5), m->path);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    unsigned long long value;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "requests=%llu", &value) == 1)
            m->counters.requests = value;
        else if (sscanf(line, "bytes=%llu", &value) == 1)
            m->counters.bytes = value;
        else if (sscanf(line, "chunks=%llu", &value) == 1)
            m->chunks_stored = value;
    }
    fclose(f);
}

struct span {
    uint64_t offset, length;
};

static int compare_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Fetches the header and every metadata section of the image at url into
 * a new sparse mirror, checks them, and publishes it. */
static int make_mirror(char *out, size_t size, const char *url, const uint8_t *header_bytes,
                       struct http_counters *counters)
{
    const struct vial_image_header *h = (const void *)header_bytes;
    char hex[2 * VIAL_HASH_LEN + 1], temp[PATH_MAX + 64];
    vial_hash_hex(hex, h->root_hash);
    snprintf(out, size, "%s/%s.vial", agent.images, hex);
    struct stat st;
    if (stat(out, &st) == 0 && (uint64_t)st.st_size == h->image_size) {
        /* The same content (root hash), but the header may differ in the
         * one place outside the root hash: the signature slot, when the
         * publisher signed or re-signed the image. The server's is the
         * one to judge it by. */
        uint8_t mine[VIAL_IMAGE_HEADER_SIZE];
        int fd = open(out, O_RDWR | O_CLOEXEC);
        int rc = fd >= 0 && pread(fd, mine, sizeof mine, 0) == (ssize_t)sizeof mine ? 0 : -EIO;
        if (rc == 0 && memcmp(mine, header_bytes, sizeof mine) != 0 &&
            pwrite(fd, header_bytes, VIAL_IMAGE_HEADER_SIZE, 0) != VIAL_IMAGE_HEADER_SIZE)
            rc = -EIO;
        if (fd >= 0)
            close(fd);
        if (rc < 0)
            return vial_error_set(rc, "cannot update the header of %s", out);
        return 0;
    }
    struct span spans[VIAL_IMAGE_MAX_SECTIONS];
    size_t count = 0;
    uint64_t total = 0;
    for (uint32_t i = 0; i < h->section_count; i++) {
        const struct vial_section_desc *d = &h->sections[i];
        if (d->type == 0 || d->type == VIAL_SECTION_CHUNK_DATA || d->length == 0)
            continue;
        if (d->offset < VIAL_IMAGE_HEADER_SIZE || d->offset > h->image_size ||
            d->length > h->image_size - d->offset)
            return vial_error_set(VIAL_ECORRUPT, "%s: section %u lies outside the image", url, i);
        spans[count++] = (struct span){d->offset, d->length};
        total += d->length;
    }
    if (total > AGENT_METADATA_MAX)
        return vial_error_set(VIAL_ECORRUPT, "%s: the header claims %llu bytes of metadata",
                              url, (unsigned long long)total);
    qsort(spans, count, sizeof spans[0], compare_span);
    size_t merged = 0;
    for (size_t i = 0; i < count; i++) {
        if (merged && spans[i].offset <= spans[merged - 1].offset + spans[merged - 1].length +
                                              AGENT_METADATA_GAP) {
            uint64_t end = spans[i].offset + spans[i].length;
            uint64_t old_end = spans[merged - 1].offset + spans[merged - 1].length;
            if (end > old_end)
                spans[merged - 1].length = end - spans[merged - 1].offset;
        } else {
            spans[merged++] = spans[i];
        }
    }
    int rc = vial_mkdir_p(agent.images, 0700);
    if (rc < 0)
        return vial_error_set(rc, "cannot create %s: %s", agent.images, strerror(-rc));
    snprintf(temp, sizeof temp, "%s.tmp-%d-%lx", out, (int)getpid(), (unsigned long)pthread_self());
    int fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return vial_error_set(-errno, "cannot create %s: %s", temp, strerror(errno));
    if (ftruncate(fd, (off_t)h->image_size) < 0 ||
        pwrite(fd, header_bytes, VIAL_IMAGE_HEADER_SIZE, 0) != VIAL_IMAGE_HEADER_SIZE)
        rc = vial_error_set(-errno, "cannot write %s: %s", temp, strerror(errno));
    for (size_t i = 0; rc == 0 && i < merged; i++) {
        uint8_t *buf = malloc(spans[i].length);
        if (!buf) {
            rc = vial_error_set(-ENOMEM, "out of memory for %llu bytes of metadata",
                                (unsigned long long)spans[i].length);
            break;
        }
        rc = http_get_range(agent.http, url, spans[i].offset, spans[i].length, h->image_size,
                            AGENT_ATTEMPTS, buf, counters);
        if (rc == 0 && pwrite(fd, buf, spans[i].length, (off_t)spans[i].offset) !=
                           (ssize_t)spans[i].length)
            rc = vial_error_set(-errno, "cannot write %s: %s", temp, strerror(errno));
        free(buf);
    }
    if (close(fd) < 0 && rc == 0)
        rc = vial_error_set(-errno, "cannot write %s: %s", temp, strerror(errno));
    struct vial_image *image = NULL;
    if (rc == 0 && (rc = vial_image_open_path(&image, temp, VIAL_OPEN_VERIFY_METADATA)) < 0)
        vial_error_prefix(rc, "%s is damaged", url);
    vial_image_close(image);
    if (rc == 0 && rename(temp, out) < 0)
        rc = vial_error_set(-errno, "cannot publish %s: %s", out, strerror(errno));
    if (rc < 0)
        unlink(temp);
    return rc;
}


/* ------------------------------------------------------------- fetching */

struct wanted {
    uint32_t chunk;
    struct vial_chunk_info info;
};

struct range {
    size_t first, count; /* into the sorted wanted chunks */
    uint64_t offset, length;
};

struct job {
    struct mirror *mirror;
    struct wanted *chunks;
    struct range *ranges;
    size_t range_count;
    size_t next; /* under agent.lock */
    int rc;
    char error[1024];
};

static int compare_wanted(const void *a, const void *b)
{
    const struct wanted *x = a, *y = b;
    return x->info.offset < y->info.offset ? -1 : x->info.offset > y->info.offset;
}

/* Fetches one range and stores each chunk in it that passes its check; a
 * chunk that fails is fetched once more (a proxy or a link may have damaged
 * it), then given up. */
static int fetch_range(struct job *job, const struct range *range, struct vial_reader *reader)
{
    struct mirror *m = job->mirror;
    uint8_t *buf = malloc(range->length);
    if (!buf)
        return vial_error_set(-ENOMEM, "out of memory");
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct http_counters counters = {0, 0};
        rc = http_get_range(agent.http, m->url, range->offset, range->length,
                            vial_image_size(m->image), AGENT_ATTEMPTS, buf, &counters);
        pthread_mutex_lock(&agent.lock);
        m->counters.requests += counters.requests;
        m->counters.bytes += counters.bytes;
        pthread_mutex_unlock(&agent.lock);
        if (rc < 0)
            break;
        int bad = 0;
        for (size_t i = range->first; i < range->first + range->count; i++) {
            const struct wanted *w = &job->chunks[i];
            const uint8_t *frame = buf + (w->info.offset - range->offset);
            if (chunk_stored(&w->info))
                continue;
            if (vial_reader_check_frame(reader, w->chunk, frame, w->info.stored_length) < 0) {
                char hex[2 * VIAL_HASH_LEN + 1];
                vial_hash_hex(hex, w->info.hash);
                rc = vial_error_set(-EIO, "%s: chunk %u (%.16s...) does not match its hash: "
                                          "the server sent damaged bytes or another image; "
                                          "nothing of it was kept",
                                    m->url, w->chunk, hex);
                bad = 1;
                continue;
            }
            if ((rc = store_chunk(&w->info, frame)) < 0)
                break;
            pthread_mutex_lock(&agent.lock);
            m->chunks_stored++;
            pthread_mutex_unlock(&agent.lock);
        }
        if (!bad || rc == -ENOSPC)
            break;
        if (attempt == 0)
            agent_log("%s", vial_error_last());
    }
    free(buf);
    return rc;
}

static void *range_worker(void *payload)
{
    struct job *job = payload;
    struct vial_reader *reader = NULL;
    int rc = vial_reader_new(&reader, job->mirror->image);
    for (;;) {
        pthread_mutex_lock(&agent.lock);
        size_t i = job->next < job->range_count && job->rc == 0 ? job->next++ : SIZE_MAX;
        pthread_mutex_unlock(&agent.lock);
        if (i == SIZE_MAX)
            break;
        if (rc == 0)
            rc = fetch_range(job, &job->ranges[i], reader);
        if (rc < 0) {
            pthread_mutex_lock(&agent.lock);
            if (job->rc == 0) {
                job->rc = rc;
                snprintf(job->error, sizeof job->error, "%s", vial_error_last());
            }
            pthread_mutex_unlock(&agent.lock);
        }
    }
    vial_reader_free(reader);
    return NULL;
}

static int is_in_flight(const uint8_t *hash)
{
    for (struct in_flight *f = agent.in_flight; f; f = f->next)
        if (memcmp(f->hash, hash, VIAL_HASH_LEN) == 0)
            return 1;
    return 0;
}

static void forget_in_flight(const uint8_t *hash)
{
    for (struct in_flight **f = &agent.in_flight; *f; f = &(*f)->next)
        if (memcmp((*f)->hash, hash, VIAL_HASH_LEN) == 0) {
            struct in_flight *gone = *f;
            *f = gone->next;
            free(gone);
            return;
        }
}

/* Cuts the sorted chunks into ranges: neighbours closer than AGENT_GAP
 * share one, up to AGENT_RANGE_MAX bytes. */
static size_t plan_ranges(struct range *ranges, const struct wanted *chunks, size_t count)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        const struct vial_chunk_info *c = &chunks[i].info;
        struct range *last = n ? &ranges[n - 1] : NULL;
        if (last && c->offset >= last->offset + last->length &&
            c->offset - (last->offset + last->length) <= AGENT_GAP &&
            c->offset + c->stored_length - last->offset <= AGENT_RANGE_MAX) {
            last->length = c->offset + c->stored_length - last->offset;
            last->count++;
        } else {
            ranges[n++] = (struct range){i, 1, c->offset, c->stored_length};
        }
    }
    return n;
}

/* Makes the chunks present in the store: those another request is
 * fetching are waited for, the rest fetched here in coalesced ranges, up to
 * AGENT_WORKERS at once. */
static int fetch_chunks(struct mirror *m, const uint32_t *indexes, size_t count)
{
    struct wanted *mine = calloc(count ? count : 1, sizeof *mine);
    struct wanted *theirs = calloc(count ? count : 1, sizeof *theirs);
    struct range *ranges = calloc(count ? count : 1, sizeof *ranges);
    size_t mine_count = 0, theirs_count = 0;
    int rc = mine && theirs && ranges ? 0 : vial_error_set(-ENOMEM, "out of memory");
    pthread_mutex_lock(&agent.lock);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        struct wanted w = {.chunk = indexes[i]};
        if ((rc = vial_image_chunk(&w.info, m->image, indexes[i])) < 0)
            break;
        if (chunk_stored(&w.info))
            continue;
        if (is_in_flight(w.info.hash)) {
            theirs[theirs_count++] = w;
            continue;
        }
        struct in_flight *f = calloc(1, sizeof *f);
        if (!f) {
            rc = vial_error_set(-ENOMEM, "out of memory");
            break;
        }
        memcpy(f->hash, w.info.hash, VIAL_HASH_LEN);
        f->next = agent.in_flight;
        agent.in_flight = f;
        mine[mine_count++] = w;
    }
    pthread_mutex_unlock(&agent.lock);
    if (rc == 0 && mine_count) {
        qsort(mine, mine_count, sizeof *mine, compare_wanted);
        /* the same chunk twice in a request: once is enough */
        size_t unique = 0;
        for (size_t i = 0; i < mine_count; i++)
            if (unique == 0 || mine[unique - 1].info.offset != mine[i].info.offset)
                mine[unique++] = mine[i];
        struct job job = {.mirror = m, .chunks = mine, .ranges = ranges};
        job.range_count = plan_ranges(ranges, mine, unique);
        size_t workers = job.range_count < AGENT_WORKERS ? job.range_count : AGENT_WORKERS;
        pthread_t threads[AGENT_WORKERS];
        size_t started = 0;
        for (; started + 1 < workers; started++)
            if (pthread_create(&threads[started], NULL, range_worker, &job) != 0)
                break;
        range_worker(&job);
        for (size_t i = 0; i < started; i++)
            pthread_join(threads[i], NULL);
        if ((rc = job.rc) < 0)
            vial_error_set(rc, "%s", job.error);
        uint64_t bytes = 0;
        for (size_t i = 0; i < job.range_count; i++)
            bytes += ranges[i].length;
        agent_log("%s: %zu chunks in %zu ranges, %llu bytes%s%s", m->url, unique,
                  job.range_count, (unsigned long long)bytes, rc < 0 ? ": " : "",
                  rc < 0 ? vial_error_last() : "");
    }
    pthread_mutex_lock(&agent.lock);
    for (size_t i = 0; i < mine_count; i++)
        forget_in_flight(mine[i].info.hash);
    pthread_cond_broadcast(&agent.landed);
    for (size_t i = 0; i < theirs_count; i++)
        while (is_in_flight(theirs[i].info.hash))
            pthread_cond_wait(&agent.landed, &agent.lock);
    pthread_mutex_unlock(&agent.lock);
    /* what another request failed to fetch is tried once more here */
    uint32_t *again = rc == 0 && theirs_count ? malloc(theirs_count * sizeof *again) : NULL;
    size_t again_count = 0;
    for (size_t i = 0; again && i < theirs_count; i++)
        if (!chunk_stored(&theirs[i].info))
            again[again_count++] = theirs[i].chunk;
    if (again_count)
        rc = fetch_chunks(m, again, again_count);
    free(again);
    free(mine);
    free(theirs);
    free(ranges);
    if (mine_count)
        save_stats(m);
    return rc;
}

/* Every chunk of the files the launch profile names. */
static int profile_chunks(uint32_t **out, size_t *out_count, const struct vial_image *image)
{
    const void *data;
    uint64_t length;
    *out = NULL;
    *out_count = 0;
    if (vial_image_section(&data, &length, image, VIAL_SECTION_PROFILE) < 0)
        return 0;
    size_t capacity = 0, count = 0;
    uint32_t *chunks = NULL;
    char path[4096];
    const char *text = data, *end = text + length;
    while (text < end) {
        const char *newline = memchr(text, '\n', (size_t)(end - text));
        size_t n = newline ? (size_t)(newline - text) : (size_t)(end - text);
        uint32_t index;
        const struct vial_chunk_ref *refs;
        uint32_t ref_count;
        if (n > 0 && n < sizeof path) {
            memcpy(path, text, n);
            path[n] = '\0';
            if (vial_image_lookup(&index, image, path) == 0 &&
                vial_image_file_refs(&refs, &ref_count, image, index) == 0) {
                for (uint32_t i = 0; i < ref_count; i++) {
                    if (count == capacity) {
                        capacity = capacity ? 2 * capacity : 256;
                        uint32_t *grown = realloc(chunks, capacity * sizeof *chunks);
                        if (!grown) {
                            free(chunks);
                            return vial_error_set(-ENOMEM, "out of memory");
                        }
                        chunks = grown;
                    }
                    chunks[count++] = refs[i].chunk;
                }
            }
        }
        text += n + 1;
    }
    *out = chunks;
    *out_count = count;
    return 0;
}

/* ------------------------------------------------------------- requests */

static void answer(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void answer(int fd, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    for (int i = 0; i < n; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    for (int done = 0; done < n;) {
        ssize_t w = send(fd, line + done, (size_t)(n - done), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        done += (int)w;
    }
}

static int handle_mirror(int fd, const char *url)
{
    uint8_t header[VIAL_IMAGE_HEADER_SIZE];
    char record[PATH_MAX], known[256], mirror[PATH_MAX];
    struct http_counters counters = {0, 0};
    url_record(record, sizeof record, url);
    read_line(known, sizeof known, record);
    snprintf(mirror, sizeof mirror, "%s/%.64s.vial", agent.images, known);
    int offline_possible = strlen(known) == 2 * VIAL_HASH_LEN && access(mirror, R_OK) == 0;
    /* with a copy at hand, a server that does not answer is not waited for */
    int rc = http_get_range(agent.http, url, 0, sizeof header, 0,
                            offline_possible ? 2 : AGENT_ATTEMPTS, header, &counters);
    if (rc < 0) {
        if (offline_possible) {
            answer(fd, "OFFLINE %s %s", mirror, vial_error_last());
            return 0;
        }
        answer(fd, "ERR cannot open %s: %s", url, vial_error_last());
        return rc;
    }
    const struct vial_image_header *h = (const void *)header;
    uint8_t root[VIAL_HASH_LEN];
    vial_hash(root, h, offsetof(struct vial_image_header, root_hash));
    if (memcmp(h->magic, VIAL_IMAGE_MAGIC, VIAL_IMAGE_MAGIC_LEN) != 0) {
        answer(fd, "ERR %s is not a Vial image (bad magic number)", url);
        return -EINVAL;
    }
    if (h->version_major != VIAL_IMAGE_VERSION_MAJOR || h->section_count > VIAL_IMAGE_MAX_SECTIONS ||
        h->image_size < VIAL_IMAGE_HEADER_SIZE || memcmp(root, h->root_hash, VIAL_HASH_LEN) != 0) {
        answer(fd, "ERR %s: the image header is damaged or of an unsupported version", url);
        return -EINVAL;
    }
    if ((rc = make_mirror(mirror, sizeof mirror, url, header, &counters)) < 0) {
        answer(fd, "ERR %s", vial_error_last());
        return rc;
    }
    char hex[2 * VIAL_HASH_LEN + 1], text[4200], url_file[PATH_MAX + 8];
    vial_hash_hex(hex, h->root_hash);
    snprintf(url_file, sizeof url_file, "%.*s.url", (int)(strlen(mirror) - 5), mirror);
    snprintf(text, sizeof text, "%s\n", url);
    char directory[PATH_MAX], known_text[4200];
    snprintf(directory, sizeof directory, "%s/by-url", agent.images);
    snprintf(known_text, sizeof known_text, "%s\n%s\n", hex, url);
    if ((rc = vial_mkdir_p(directory, 0700)) < 0 || (rc = write_file(url_file, text)) < 0 ||
        (rc = write_file(record, known_text)) < 0) {
        answer(fd, "ERR cannot write in %s: %s", agent.images, strerror(-rc));
        return rc;
    }
    struct mirror *m;
    pthread_mutex_lock(&agent.lock);
    rc = find_mirror(&m, mirror);
    if (rc == 0) {
        if (m->counters.requests == 0)
            load_stats(m);
        m->counters.requests += counters.requests;
        m->counters.bytes += counters.bytes;
    }
    pthread_mutex_unlock(&agent.lock);
    if (rc < 0) {
        answer(fd, "ERR %s", vial_error_last());
        return rc;
    }
    save_stats(m);
    answer(fd, "OK %s", mirror);
    return 0;
}

static int open_mirror(struct mirror **m, const char *path)
{
    pthread_mutex_lock(&agent.lock);
    int rc = find_mirror(m, path);
    if (rc == 0 && (*m)->counters.requests == 0)
        load_stats(*m);
    pthread_mutex_unlock(&agent.lock);
    return rc;
}

/* Read-ahead: an application asks for one file at a time, and each
 * request costs a round trip. The chunks that follow the last one asked
 * for hold the files next to it in path order (the packer's plan), which
 * the same program may open next (the modules of one package). Up to this
 * many bytes of those, contiguous, not stored and not being fetched, ride
 * along in the same range. 32 KiB, measured (bench/RESULTS.md): numpy's
 * unprofiled launch over 50 Mbit/s and 40 ms makes 100 requests instead of
 * 156 and starts in 8.9 s instead of 11.1 s for 1.17x the bytes of the
 * files it opened; the sparse Python app of test_stream.sh goes to 1.38x.
 * 64 KiB took that app to 1.6x, past DESIGN.md's 1.5x. A launch profile
 * removes the round trips without fetching more. */
static uint64_t readahead_bytes(void)
{
    static uint64_t bytes = UINT64_MAX;
    if (bytes == UINT64_MAX) {
        const char *text = getenv("VIAL_AGENT_READAHEAD");
        bytes = text && *text ? strtoull(text, NULL, 10) : AGENT_READAHEAD;
    }
    return bytes;
}

/* indexes plus the read-ahead after the furthest of them: a new array. */
static uint32_t *with_readahead(size_t *out_count, const struct mirror *m, const uint32_t *indexes,
                                size_t count)
{
    uint32_t *all = NULL, last = 0;
    size_t capacity = count + 64, n = 0;
    struct vial_chunk_info info;
    if (count == 0 || !(all = malloc(capacity * sizeof *all)))
        return NULL;
    for (size_t i = 0; i < count; i++) {
        all[n++] = indexes[i];
        if (indexes[i] > last)
            last = indexes[i];
    }
    if (vial_image_chunk(&info, m->image, last) < 0) {
        *out_count = n;
        return all;
    }
    uint64_t end = info.offset + info.stored_length, taken = 0, limit = readahead_bytes();
    pthread_mutex_lock(&agent.lock);
    for (uint32_t c = last + 1; c < vial_image_chunk_count(m->image) && taken < limit && n < capacity;
         c++) {
        if (vial_image_chunk(&info, m->image, c) < 0 || info.offset != end ||
            chunk_stored(&info) || is_in_flight(info.hash))
            break;
        all[n++] = c;
        end += info.stored_length;
        taken += info.stored_length;
    }
    pthread_mutex_unlock(&agent.lock);
    *out_count = n;
    return all;
}

static void handle_fetch(int fd, const struct agent_request *request)
{
    struct mirror *m;
    uint32_t *chunks = NULL;
    size_t count = 0;
    int rc = open_mirror(&m, request->target);
    if (rc == 0 && request->count &&
        !(chunks = with_readahead(&count, m, request->chunks, request->count)))
        rc = vial_error_set(-ENOMEM, "out of memory");
    if (rc == 0)
        rc = fetch_chunks(m, chunks, count);
    free(chunks);
    if (rc < 0)
        answer(fd, "ERR %s", vial_error_last());
    else
        answer(fd, "OK");
}

/* For `vial cache prefetch`, which promises an image that runs offline:
 * every chunk already in the store is read and checked, and one that fails
 * is removed so that it is fetched again (the reader would find it at use,
 * with no server to replace it). */
static int drop_damaged(struct mirror *m)
{
    struct vial_reader *reader;
    int rc = vial_reader_new(&reader, m->image);
    if (rc < 0)
        return rc;
    uint8_t *frame = NULL;
    size_t capacity = 0, dropped = 0;
    for (uint32_t c = 0; c < vial_image_chunk_count(m->image); c++) {
        struct vial_chunk_info info;
        char path[PATH_MAX];
        if (vial_image_chunk(&info, m->image, c) < 0 || !chunk_stored(&info) ||
            vial_chunk_store_path(path, sizeof path, agent.chunks, info.hash) < 0)
            continue;
        if (info.stored_length > capacity) {
            uint8_t *grown = realloc(frame, info.stored_length);
            if (!grown) {
                rc = vial_error_set(-ENOMEM, "out of memory");
                break;
            }
            frame = grown;
            capacity = info.stored_length;
        }
        int file = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t got = file >= 0 ? pread(file, frame, info.stored_length, 0) : -1;
        if (file >= 0)
            close(file);
        if (got != (ssize_t)info.stored_length ||
            vial_reader_check_frame(reader, c, frame, info.stored_length) < 0) {
            unlink(path);
            dropped++;
        }
    }
    if (dropped)
        agent_log("%s: %zu damaged chunks in the store dropped, to be fetched again", m->url,
                  dropped);
    free(frame);
    vial_reader_free(reader);
    return rc;
}

static void handle_prefetch(int fd, const struct agent_request *request)
{
    struct mirror *m;
    int all = strcmp(request->what, "all") == 0;
    if (open_mirror(&m, request->target) < 0) {
        answer(fd, "ERR %s", vial_error_last());
        return;
    }
    uint32_t *chunks = NULL;
    size_t count = 0;
    int rc = 0;
    if (all && (rc = drop_damaged(m)) < 0) {
        answer(fd, "ERR %s", vial_error_last());
        return;
    }
    if (all) {
        count = vial_image_chunk_count(m->image);
        chunks = malloc((count ? count : 1) * sizeof *chunks);
        for (size_t i = 0; chunks && i < count; i++)
            chunks[i] = (uint32_t)i;
        if (!chunks)
            rc = vial_error_set(-ENOMEM, "out of memory");
    } else {
        rc = profile_chunks(&chunks, &count, m->image);
        answer(fd, "OK"); /* the launch goes on while the profile arrives */
    }
    if (rc == 0)
        rc = fetch_chunks(m, chunks, count);
    if (all && rc < 0)
        answer(fd, "ERR %s", vial_error_last());
    else if (all)
        answer(fd, "OK");
    free(chunks);
}

static void *serve(void *payload)
{
    int fd = (int)(intptr_t)payload;
    size_t capacity = 4096, used = 0;
    char *line = malloc(capacity);
    for (;;) {
        if (!line)
            break;
        char *newline = memchr(line, '\n', used);
        if (!newline) {
            if (used + 1 >= capacity) {
                char *grown = capacity < AGENT_REQUEST_MAX ? realloc(line, 2 * capacity) : NULL;
                if (!grown)
                    break;
                line = grown;
                capacity *= 2;
            }
            ssize_t n = read(fd, line + used, capacity - 1 - used);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            used += (size_t)n;
            continue;
        }
        *newline = '\0';
        struct agent_request request;
        if (agent_parse_request(&request, line) < 0)
            answer(fd, "ERR %s", vial_error_last());
        else if (request.kind == AGENT_MIRROR)
            handle_mirror(fd, request.target);
        else if (request.kind == AGENT_FETCH)
            handle_fetch(fd, &request);
        else if (request.kind == AGENT_PREFETCH)
            handle_prefetch(fd, &request);
        agent_request_free(&request);
        size_t rest = used - (size_t)(newline + 1 - line);
        memmove(line, newline + 1, rest);
        used = rest;
    }
    free(line);
    close(fd);
    pthread_mutex_lock(&agent.lock);
    if (--agent.connections == 0)
        agent.idle_since = time(NULL);
    pthread_mutex_unlock(&agent.lock);
    return NULL;
}

/* ------------------------------------------------------------------ main */

/* A thread per connection; the count keeps the agent alive. */
static void start_serving(int client)
{
    pthread_mutex_lock(&agent.lock);
    agent.connections++;
    pthread_mutex_unlock(&agent.lock);
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&thread, &attributes, serve, (void *)(intptr_t)client) != 0) {
        close(client);
        pthread_mutex_lock(&agent.lock);
        if (--agent.connections == 0)
            agent.idle_since = time(NULL);
        pthread_mutex_unlock(&agent.lock);
    }
    pthread_attr_destroy(&attributes);
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: vial-agent\nThe per-user fetch agent of streamed images; vial starts it "
             "when needed (docs/streaming.md).");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = vial_dirs_get(&agent.dirs);
    if (rc < 0) {
        agent_log("%s", vial_error_last());
        return 1;
    }
    snprintf(agent.chunks, sizeof agent.chunks, "%s/chunks", agent.dirs.cache);
    snprintf(agent.images, sizeof agent.images, "%s/images", agent.dirs.cache);
    char lock_path[PATH_MAX], socket_path[PATH_MAX];
    vial_agent_socket(socket_path, sizeof socket_path, &agent.dirs);
    snprintf(lock_path, sizeof lock_path, "%.*s.lock", (int)(strlen(socket_path) - 5), socket_path);
    if ((rc = vial_mkdir_p(agent.dirs.runtime, 0700)) < 0) {
        agent_log("cannot create %s: %s", agent.dirs.runtime, strerror(-rc));
        return 1;
    }
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof address.sun_path) {
        agent_log("the socket path %s is too long: set XDG_RUNTIME_DIR to a shorter directory",
                  socket_path);
        return 1;
    }
    snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path);
    /* One agent per user: the lock's holder. One that answers means we are
     * not needed; one that holds the lock without answering is exiting, so
     * wait for it (up to 5 s). */
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    for (int tries = 0; lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0; tries++) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int alive = probe >= 0 && connect(probe, (struct sockaddr *)&address, sizeof address) == 0;
        if (probe >= 0)
            close(probe);
        if (lock < 0 || alive || tries == 50)
            return 0;
        usleep(100 * 1000);
    }
    unlink(socket_path);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old_mask = umask(077);
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) < 0 ||
        listen(listener, 64) < 0) {
        agent_log("cannot listen on %s: %s", socket_path, strerror(errno));
        return 1;
    }
    umask(old_mask);
    if (http_client_new(&agent.http) < 0) {
        agent_log("%s", vial_error_last());
        return 1;
    }
    const char *idle_text = getenv("VIAL_AGENT_IDLE");
    long idle = idle_text && *idle_text ? strtol(idle_text, NULL, 10) : 60;
    agent.idle_since = time(NULL);
    agent_log("serving %s", socket_path);
    int closing = 0;
    for (;;) {
        struct pollfd p = {.fd = listener, .events = POLLIN};
        int ready = poll(&p, 1, closing ? 100 : 1000);
        if (ready > 0) {
            int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            if (client >= 0)
                start_serving(client);
            continue;
        }
        pthread_mutex_lock(&agent.lock);
        int unused = agent.connections == 0;
        int idle_now = unused && time(NULL) - agent.idle_since >= idle;
        pthread_mutex_unlock(&agent.lock);
        if (closing && unused)
            break; /* the last ones in the backlog were served */
        if (idle_now && !closing) {
            /* The socket goes first, so that new clients start a new agent
             * (which waits for our lock); a client that connected just
             * before is still in the backlog and served by the loop. */
            unlink(socket_path);
            closing = 1;
        }
    }
    agent_log("idle for %ld s: exiting", idle);
    return 0;
}
