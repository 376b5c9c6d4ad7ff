/*
 * write.c - turning the collected entries into an image.
 *
 *  1. hash   (parallel): hash every file; cut large files into
 *            content-defined pieces and hash each piece;
 *  2. plan   (serial):   in path order, put small files with new content
 *            into solid blocks, large files' new pieces into chunks of
 *            their own; identical content is referenced, not stored again;
 *  3. compress (parallel, written in plan order): read each planned chunk
 *            again, check it did not change, hash and compress it;
 *  4. index  (serial):   breadth-first entries, path hash table, strings;
 *  5. write: header, manifest, page hashes, chunk table, index, chunk data,
 *            into a temporary file renamed over the output.
 *
 * Every step depends only on the entries, never on the thread count or on
 * timing, so the output is deterministic.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* the ZSTD_c_forceAttachDict parameter's name only */
#include <zstd.h>
#define ZDICT_STATIC_LINKING_ONLY /* ZDICT_trainFromBuffer_fastCover: fixed parameters */
#include <zdict.h>

#include "packer_internal.h"

#define HASH_READ_BUFFER (1u << 20)

enum planned_kind { PLANNED_BLOCK, PLANNED_RANGE };

struct planned_chunk {
    enum planned_kind kind;
    uint32_t node;        /* RANGE: the file */
    uint64_t offset;      /* RANGE: offset in the file */
    uint32_t *members;    /* BLOCK: small files, in order */
    uint32_t member_count;
    uint32_t raw_length;
    int use_dictionary; /* small files and blocks; not large files' pieces */
    uint8_t hash[VIAL_HASH_LEN];
    uint32_t final; /* index in the chunk table */
    /* compress step */
    void *compressed;
    size_t compressed_length;
    int done, rc;
};

struct hash_item { /* content hash -> planned chunk or node */
    uint8_t key[VIAL_HASH_LEN];
    uint32_t value;
    UT_hash_handle hh;
};

struct writer {
    struct vial_packer *packer;
    struct vial_pack_stats stats;
    struct planned_chunk *planned;
    uint32_t planned_count, planned_capacity;
    /* shared by worker threads */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    atomic_uint next_job;
    atomic_size_t cached_bytes; /* of small files' content kept by the hash pass */
    uint32_t next_write; /* compress: first chunk not yet written */
    int failed;
    int rc;
    char message[1024];
    /* the dictionary (NULL when the tree is too small to train one) */
    void *dictionary;
    size_t dictionary_length;
    ZSTD_CDict *cdict;
    /* output */
    int data_fd;
    uint64_t data_length;
    struct vial_chunk_record *records;
    uint32_t record_count;
    struct hash_item *final_by_hash;
    /* progress */
    uint64_t progress_done, progress_total;
    const char *progress_phase;
    struct timespec progress_last;
};

/* ---------------------------------------------------------------- helpers */

static void record_failure(struct writer *w, int rc)
{
    pthread_mutex_lock(&w->lock);
    if (!w->failed) {
        w->failed = 1;
        w->rc = rc;
        snprintf(w->message, sizeof w->message, "%s", vial_error_last());
    }
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

static void progress(struct writer *w, uint64_t done, int force)
{
    if (!w->packer->options.progress)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed_ms = (now.tv_sec - w->progress_last.tv_sec) * 1000 +
                      (now.tv_nsec - w->progress_last.tv_nsec) / 1000000;
    if (!force && elapsed_ms < 100)
        return;
    w->progress_last = now;
    fprintf(stderr, "\rvial pack: %s %llu/%llu%s", w->progress_phase, (unsigned long long)done,
            (unsigned long long)w->progress_total, force ? "\n" : "   ");
}

static int run_workers(struct writer *w, void *(*work)(void *))
{
    unsigned n = w->packer->options.threads;
    pthread_t *threads = calloc(n, sizeof *threads);
    unsigned started = 0;
    if (!threads)
        return vial_error_set(-ENOMEM, "out of memory");
    atomic_store(&w->next_job, 0);
    for (; started < n; started++)
        if (pthread_create(&threads[started], NULL, work, w) != 0)
            break;
    if (started == 0)
        work(w);
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    if (w->failed)
        return vial_error_set(w->rc, "%s", w->message);
    return 0;
}

/* ------------------------------------------------------------ 1. hashing */

/* A small file read once: kept in node->content for the compress pass
 * while the cache has room. 1 if kept, 0 if not, or an error. */
static int keep_small_file(struct writer *w, struct pack_node *node)
{
    size_t size = (size_t)node->size;
    if (atomic_fetch_add(&w->cached_bytes, size) + size > PACK_CONTENT_CACHE_MAX ||
        !(node->content = malloc(size))) {
        atomic_fetch_sub(&w->cached_bytes, size);
        return 0;
    }
    int fd = -1;
    int rc = vial_pack_node_read(node, &fd, node->content, size, 0);
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        return rc;
    vial_hash(node->content_hash, node->content, size);
    return 1;
}

static int hash_file(struct writer *w, struct pack_node *node, uint8_t *buffer)
{
    struct vial_hasher file_hasher, piece_hasher;
    int fd = -1, rc = 0;
    int chunked = node->size >= PACK_SMALL_FILE_MAX;
    if (!chunked && node->size > 0 && (rc = keep_small_file(w, node)) != 0)
        return rc < 0 ? rc : 0;
    uint64_t piece_start = 0, gear = 0;
    uint32_t piece_capacity = 0;
    vial_hasher_init(&file_hasher);
    vial_hasher_init(&piece_hasher);
    for (uint64_t offset = 0; offset < node->size && rc == 0;) {
        size_t n = node->size - offset < HASH_READ_BUFFER ? (size_t)(node->size - offset)
                                                           : HASH_READ_BUFFER;
        if ((rc = vial_pack_node_read(node, &fd, buffer, n, offset)) < 0)
            break;
        vial_hasher_update(&file_hasher, buffer, n);
        if (!chunked) {
            offset += n;
            continue;
        }
        size_t consumed = 0; /* bytes of buffer already given to piece_hasher */
        for (size_t i = 0; i < n; i++) {
            uint64_t length = offset + i + 1 - piece_start;
            gear = (gear << 1) + vial_pack_gear[buffer[i]];
            int last_byte = offset + i + 1 == node->size;
            if (!last_byte && length < PACK_CDC_MAX &&
                (length < PACK_CDC_MIN || (gear & PACK_CDC_MASK) != 0))
                continue;
            vial_hasher_update(&piece_hasher, buffer + consumed, i + 1 - consumed);
            consumed = i + 1;
            if (node->piece_count == piece_capacity) {
                piece_capacity = piece_capacity ? piece_capacity * 2 : 16;
                struct pack_piece *grown = realloc(node->pieces, piece_capacity * sizeof *grown);
                if (!grown) {
                    rc = vial_error_set(-ENOMEM, "out of memory");
                    break;
                }
                node->pieces = grown;
            }
            struct pack_piece *piece = &node->pieces[node->piece_count++];
            piece->offset = piece_start;
            piece->length = (uint32_t)length;
            vial_hasher_final(&piece_hasher, piece->hash);
            vial_hasher_init(&piece_hasher);
            piece_start = offset + i + 1;
            gear = 0;
        }
        if (rc == 0 && consumed < n)
            vial_hasher_update(&piece_hasher, buffer + consumed, n - consumed);
        offset += n;
    }
    vial_hasher_final(&file_hasher, node->content_hash);
    if (fd >= 0)
        close(fd);
    return rc;
}

static void *hash_worker(void *arg)
{
    struct writer *w = arg;
    struct vial_packer *packer = w->packer;
    uint8_t *buffer = malloc(HASH_READ_BUFFER);
    if (!buffer) {
        record_failure(w, vial_error_set(-ENOMEM, "out of memory"));
        return NULL;
    }
    for (;;) {
        uint32_t i = atomic_fetch_add(&w->next_job, 1);
        if (i >= packer->node_count || w->failed)
            break;
        struct pack_node *node = &packer->nodes[i];
        if (node->type != VIAL_ENTRY_REGULAR)
            continue;
        int rc = hash_file(w, node, buffer);
        if (rc < 0) {
            record_failure(w, rc);
            break;
        }
    }
    free(buffer);
    return NULL;
}

/* ------------------------------------------------------------- 2. plan */

static int compare_paths(const void *a, const void *b, void *nodes)
{
    const struct pack_node *n = nodes;
    return strcmp(n[*(const uint32_t *)a].path, n[*(const uint32_t *)b].path);
}

/* The order chunks are planned (and written) in: the launch profile's files
 * first, in the order the application read them, then path order. */
static int compare_launch_order(const void *a, const void *b, void *nodes)
{
    const struct pack_node *n = nodes;
    uint32_t ra = n[*(const uint32_t *)a].launch_rank - 1, rb = n[*(const uint32_t *)b].launch_rank - 1;
    if (ra != rb) /* (0 - 1 wraps: the files not in the profile come last) */
        return ra < rb ? -1 : 1;
    return compare_paths(a, b, nodes);
}

/* Ranks the files the launch profile names and keeps, as the profile
 * section, the list of those the image has (absolute paths, one per line).
 * Lines that name nothing (or not a regular file) are left out. */
static int rank_profile(struct vial_packer *packer)
{
    if (!packer->profile)
        return 0;
    size_t size = strlen(packer->profile) + 2, used = 0;
    char *section = malloc(size);
    if (!section)
        return vial_error_set(-ENOMEM, "out of memory");
    uint32_t rank = 0;
    for (char *line = packer->profile; *line;) {
        size_t n = strcspn(line, "\n");
        char *path = line;
        line += n + (line[n] == '\n');
        while (n && path[0] == '/')
            path++, n--;
        uint32_t node;
        if (n == 0 || path[0] == '#' || vial_pack_find(&node, packer, path, n) < 0)
            continue;
        struct pack_node *p = &packer->nodes[node];
        if (p->type == VIAL_ENTRY_HARDLINK)
            p = &packer->nodes[p->primary];
        if (p->type != VIAL_ENTRY_REGULAR || p->launch_rank)
            continue;
        p->launch_rank = ++rank;
        used += (size_t)snprintf(section + used, size - used, "/%.*s\n", (int)n, path);
    }
    if (used == 0) {
        free(section);
        return 0;
    }
    packer->profile_section = section;
    packer->profile_section_length = used;
    return 0;
}

static int add_planned(struct writer *w, uint32_t *out)
{
    if (w->planned_count == UINT32_MAX - 1)
        return vial_error_set(VIAL_EINVALID, "too many chunks");
    if (w->planned_count == w->planned_capacity) {
        uint32_t capacity = w->planned_capacity ? w->planned_capacity * 2 : 256;
        struct planned_chunk *grown = realloc(w->planned, capacity * sizeof *grown);
        if (!grown)
            return vial_error_set(-ENOMEM, "out of memory");
        w->planned = grown;
        w->planned_capacity = capacity;
    }
    memset(&w->planned[w->planned_count], 0, sizeof w->planned[0]);
    *out = w->planned_count++;
    return 0;
}

static int add_ref(struct vial_packer *packer, uint32_t planned, uint32_t offset, uint32_t length)
{
    if (packer->ref_count == packer->ref_capacity) {
        uint32_t capacity = packer->ref_capacity ? packer->ref_capacity * 2 : 1024;
        struct pack_ref *grown = realloc(packer->refs, capacity * sizeof *grown);
        if (!grown)
            return vial_error_set(-ENOMEM, "out of memory");
        packer->refs = grown;
        packer->ref_capacity = capacity;
    }
    packer->refs[packer->ref_count++] = (struct pack_ref){planned, offset, length};
    return 0;
}

static void free_hash_items(struct hash_item **table)
{
    struct hash_item *item, *tmp;
    HASH_ITER(hh, *table, item, tmp) {
        HASH_DEL(*table, item);
        free(item);
    }
}

static int put_hash(struct hash_item **table, const uint8_t *hash, uint32_t value)
{
    struct hash_item *item = calloc(1, sizeof *item);
    if (!item)
        return vial_error_set(-ENOMEM, "out of memory");
    memcpy(item->key, hash, VIAL_HASH_LEN);
    item->value = value;
    HASH_ADD(hh, *table, key, VIAL_HASH_LEN, item);
    return 0;
}

/* Closes the open block once it is large enough and the last file's path
 * says so: boundaries follow paths, not byte counts, so a changed file
 * changes only its own block. */
static int block_should_close(const struct planned_chunk *block, const struct pack_node *last)
{
    if (block->raw_length >= PACK_BLOCK_MAX)
        return 1;
    return block->raw_length >= PACK_BLOCK_MIN &&
           (vial_path_hash(last->path, last->path_length) & PACK_BLOCK_CUT_MASK) == 0;
}

static int plan(struct writer *w)
{
    struct vial_packer *packer = w->packer;
    struct hash_item *files = NULL, *pieces = NULL, *item;
    uint32_t *order = NULL, file_count = 0, block = UINT32_MAX, block_capacity = 0;
    int rc = 0;
    order = malloc((packer->node_count + 1) * sizeof *order);
    if (!order)
        return vial_error_set(-ENOMEM, "out of memory");
    for (uint32_t i = 0; i < packer->node_count; i++)
        if (packer->nodes[i].type == VIAL_ENTRY_REGULAR)
            order[file_count++] = i;
    qsort_r(order, file_count, sizeof *order, compare_launch_order, packer->nodes);

    for (uint32_t k = 0; k < file_count && rc == 0; k++) {
        struct pack_node *node = &packer->nodes[order[k]];
        node->ref_first = packer->ref_count;
        node->same_content_as = order[k];
        w->stats.raw_bytes += node->size;
        if (node->size == 0)
            continue;
        HASH_FIND(hh, files, node->content_hash, VIAL_HASH_LEN, item);
        if (item) { /* identical content packed already: share its refs */
            struct pack_node *same = &packer->nodes[item->value];
            node->same_content_as = item->value;
            node->ref_first = same->ref_first;
            node->ref_count = same->ref_count;
            w->stats.deduplicated_files++;
            continue;
        }
        if ((rc = put_hash(&files, node->content_hash, order[k])) < 0)
            break;
        if (node->size >= PACK_TINY_FILE_MAX && node->size < PACK_SMALL_FILE_MAX) {
            /* a frame of its own: read, fetched and updated alone */
            uint32_t planned;
            if ((rc = add_planned(w, &planned)) < 0)
                break;
            struct planned_chunk *c = &w->planned[planned];
            c->kind = PLANNED_RANGE;
            c->node = order[k];
            c->offset = 0;
            c->raw_length = (uint32_t)node->size;
            c->use_dictionary = 1;
            memcpy(c->hash, node->content_hash, VIAL_HASH_LEN);
            if ((rc = add_ref(packer, planned, 0, (uint32_t)node->size)) < 0)
                break;
            node->ref_count = 1;
            continue;
        }
        if (node->size < PACK_TINY_FILE_MAX) {
            if (block == UINT32_MAX) {
                if ((rc = add_planned(w, &block)) < 0)
                    break;
                w->planned[block].kind = PLANNED_BLOCK;
                w->planned[block].use_dictionary = 1;
                block_capacity = 0;
                w->stats.blocks++;
            }
            struct planned_chunk *b = &w->planned[block];
            if (b->member_count == block_capacity) {
                block_capacity = block_capacity ? block_capacity * 2 : 16;
                uint32_t *grown = realloc(b->members, block_capacity * sizeof *grown);
                if (!grown) {
                    rc = vial_error_set(-ENOMEM, "out of memory");
                    break;
                }
                b->members = grown;
            }
            b->members[b->member_count++] = order[k];
            if ((rc = add_ref(packer, block, b->raw_length, (uint32_t)node->size)) < 0)
                break;
            node->ref_count = 1;
            b->raw_length += (uint32_t)node->size;
            if (block_should_close(b, node))
                block = UINT32_MAX;
            continue;
        }
        for (uint32_t p = 0; p < node->piece_count && rc == 0; p++) {
            struct pack_piece *piece = &node->pieces[p];
            uint32_t planned;
            HASH_FIND(hh, pieces, piece->hash, VIAL_HASH_LEN, item);
            if (item) {
                planned = item->value;
            } else {
                if ((rc = add_planned(w, &planned)) < 0 ||
                    (rc = put_hash(&pieces, piece->hash, planned)) < 0)
                    break;
                struct planned_chunk *c = &w->planned[planned];
                c->kind = PLANNED_RANGE;
                c->node = order[k];
                c->offset = piece->offset;
                c->raw_length = piece->length;
                memcpy(c->hash, piece->hash, VIAL_HASH_LEN);
            }
            piece->planned = planned;
            rc = add_ref(packer, planned, 0, piece->length);
        }
        node->ref_count = node->piece_count;
    }
    free_hash_items(&files);
    free_hash_items(&pieces);
    free(order);
    return rc;
}

/* --------------------------------------------------------- 3. compress */

static int fill_chunk(struct writer *w, struct planned_chunk *c, uint8_t *raw)
{
    struct vial_packer *packer = w->packer;
    uint8_t hash[VIAL_HASH_LEN];
    int rc = 0;
    if (c->kind == PLANNED_RANGE) {
        struct pack_node *node = &packer->nodes[c->node];
        int fd = -1;
        rc = vial_pack_node_read(node, &fd, raw, c->raw_length, c->offset);
        if (fd >= 0)
            close(fd);
        if (rc < 0)
            return rc;
        vial_hash(hash, raw, c->raw_length);
        if (memcmp(hash, c->hash, VIAL_HASH_LEN) != 0)
            return vial_error_set(VIAL_EINVALID, "/%s: file changed while packing", node->path);
        return 0;
    }
    uint32_t position = 0;
    for (uint32_t m = 0; m < c->member_count; m++) {
        struct pack_node *node = &packer->nodes[c->members[m]];
        if (node->content) { /* the very bytes that were hashed */
            memcpy(raw + position, node->content, (size_t)node->size);
            position += (uint32_t)node->size;
            continue;
        }
        int fd = -1;
        rc = vial_pack_node_read(node, &fd, raw + position, (size_t)node->size, 0);
        if (fd >= 0)
            close(fd);
        if (rc < 0)
            return rc;
        vial_hash(hash, raw + position, (size_t)node->size);
        if (memcmp(hash, node->content_hash, VIAL_HASH_LEN) != 0)
            return vial_error_set(VIAL_EINVALID, "/%s: file changed while packing", node->path);
        position += (uint32_t)node->size;
    }
    /* a chunk of one whole file is named by the file's hash, the same
     * BLAKE2b-256 of the same bytes */
    if (c->member_count == 1 && position == c->raw_length)
        memcpy(c->hash, packer->nodes[c->members[0]].content_hash, VIAL_HASH_LEN);
    else
        vial_hash(c->hash, raw, c->raw_length);
    return 0;
}

static void *compress_worker(void *arg)
{
    struct writer *w = arg;
    unsigned window = 4 * w->packer->options.threads + 4; /* bounds memory */
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    uint8_t *raw = malloc(VIAL_CHUNK_MAX_RAW);
    if (!cctx || !raw) {
        record_failure(w, vial_error_set(-ENOMEM, "out of memory"));
        goto out;
    }
    for (;;) {
        pthread_mutex_lock(&w->lock);
        uint32_t i = atomic_load(&w->next_job);
        while (!w->failed && i < w->planned_count && i >= w->next_write + window) {
            pthread_cond_wait(&w->changed, &w->lock);
            i = atomic_load(&w->next_job);
        }
        if (w->failed || i >= w->planned_count) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        atomic_store(&w->next_job, i + 1);
        pthread_mutex_unlock(&w->lock);

        struct planned_chunk *c = &w->planned[i];
        int rc = fill_chunk(w, c, raw);
        void *compressed = NULL;
        size_t length = 0;
        if (rc == 0) {
            size_t bound = ZSTD_compressBound(c->raw_length);
            compressed = malloc(bound);
            if (!compressed) {
                rc = vial_error_set(-ENOMEM, "out of memory");
            } else {
                if (c->use_dictionary && w->cdict) {
                    /* attach, not copy, the dictionary's tables: copying them
                     * for every small file costs more than compressing it */
                    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
                    ZSTD_CCtx_refCDict(cctx, w->cdict);
                    ZSTD_CCtx_setParameter(cctx, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach);
                    length = ZSTD_compress2(cctx, compressed, bound, raw, c->raw_length);
                } else {
                    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
                    length = ZSTD_compressCCtx(cctx, compressed, bound, raw, c->raw_length,
                                               w->packer->options.level);
                }
                if (ZSTD_isError(length))
                    rc = vial_error_set(-EIO, "zstd: %s", ZSTD_getErrorName(length));
            }
        }
        if (rc < 0) {
            free(compressed);
            record_failure(w, rc);
            break;
        }
        pthread_mutex_lock(&w->lock);
        c->compressed = compressed;
        c->compressed_length = length;
        c->done = 1;
        pthread_cond_broadcast(&w->changed);
        pthread_mutex_unlock(&w->lock);
    }
out:
    ZSTD_freeCCtx(cctx);
    free(raw);
    return NULL;
}

static int write_all(int fd, const void *data, size_t length, const char *what)
{
    const char *p = data;
    while (length > 0) {
        ssize_t n = write(fd, p, length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vial_error_set(-errno, "cannot write %s: %s", what, strerror(errno));
        p += n;
        length -= (size_t)n;
    }
    return 0;
}

/* Runs on the calling thread while the workers compress: writes finished
 * chunks in plan order, dropping blocks whose content exists already. */
static void *write_chunks(void *arg)
{
    struct writer *w = arg;
    for (uint32_t i = 0; i < w->planned_count; i++) {
        pthread_mutex_lock(&w->lock);
        while (!w->failed && !w->planned[i].done)
            pthread_cond_wait(&w->changed, &w->lock);
        pthread_mutex_unlock(&w->lock);
        if (w->failed)
            return NULL;
        struct planned_chunk *c = &w->planned[i];
        struct hash_item *item;
        HASH_FIND(hh, w->final_by_hash, c->hash, VIAL_HASH_LEN, item);
        int rc = 0;
        if (item) {
            c->final = item->value;
        } else {
            c->final = w->record_count;
            struct vial_chunk_record *r = &w->records[w->record_count++];
            memcpy(r->hash, c->hash, VIAL_HASH_LEN);
            r->offset = w->data_length;
            r->stored_length = (uint32_t)c->compressed_length;
            r->raw_length = c->raw_length;
            rc = write_all(w->data_fd, c->compressed, c->compressed_length, "chunk data");
            if (rc == 0)
                rc = put_hash(&w->final_by_hash, c->hash, c->final);
            w->data_length += c->compressed_length;
            w->stats.stored_bytes += c->compressed_length;
            w->stats.unique_raw_bytes += c->raw_length;
        }
        free(c->compressed);
        c->compressed = NULL;
        pthread_mutex_lock(&w->lock);
        w->next_write = i + 1;
        pthread_cond_broadcast(&w->changed);
        pthread_mutex_unlock(&w->lock);
        if (rc < 0) {
            record_failure(w, rc);
            return NULL;
        }
        progress(w, i + 1, 0);
    }
    return NULL;
}

static void *compress_and_write(void *arg)
{
    struct writer *w = arg;
    pthread_t writer_thread;
    if (pthread_create(&writer_thread, NULL, write_chunks, w) != 0) {
        record_failure(w, vial_error_set(-EAGAIN, "cannot start a thread"));
        return NULL;
    }
    compress_worker(w);
    pthread_join(writer_thread, NULL);
    return NULL;
}

/* Trains the dictionary on a sample of the small files: those whose path
 * hash is 0 mod PACK_SAMPLE_MODULUS, in path order, at most
 * PACK_SAMPLE_MAX bytes. It needs only the walked paths and sizes, so it
 * runs beside the hashing. fastCover with fixed parameters and one thread:
 * the same tree always gives the same dictionary. A tree too small to
 * sample gets none. */
static int train_dictionary(struct writer *w)
{
    struct vial_packer *packer = w->packer;
    uint8_t *samples = NULL;
    size_t *sizes = NULL, used = 0, count = 0, small_total = 0;
    uint32_t *order = NULL, candidates = 0;
    int rc = 0;
    for (uint32_t i = 0; i < packer->node_count; i++) {
        const struct pack_node *node = &packer->nodes[i];
        if (node->type == VIAL_ENTRY_REGULAR && node->size > 0 &&
            node->size < PACK_SMALL_FILE_MAX) {
            small_total += (size_t)node->size;
            if (vial_path_hash(node->path, node->path_length) % PACK_SAMPLE_MODULUS == 0)
                candidates++;
        }
    }
    size_t dictionary_size = small_total / 16;
    if (dictionary_size > PACK_DICTIONARY_MAX)
        dictionary_size = PACK_DICTIONARY_MAX;
    if (dictionary_size < PACK_DICTIONARY_MIN || candidates < 16)
        return 0;
    order = malloc(candidates * sizeof *order);
    sizes = malloc(candidates * sizeof *sizes);
    samples = malloc(PACK_SAMPLE_MAX);
    if (!order || !sizes || !samples) {
        rc = vial_error_set(-ENOMEM, "out of memory");
        goto out;
    }
    candidates = 0;
    for (uint32_t i = 0; i < packer->node_count; i++) {
        const struct pack_node *node = &packer->nodes[i];
        if (node->type == VIAL_ENTRY_REGULAR && node->size > 0 &&
            node->size < PACK_SMALL_FILE_MAX &&
            vial_path_hash(node->path, node->path_length) % PACK_SAMPLE_MODULUS == 0)
            order[candidates++] = i;
    }
    qsort_r(order, candidates, sizeof *order, compare_paths, packer->nodes);
    for (uint32_t k = 0; k < candidates && rc == 0; k++) {
        const struct pack_node *node = &packer->nodes[order[k]];
        if (used + node->size > PACK_SAMPLE_MAX)
            continue;
        /* (not node->content: the hash pass fills it while this runs) */
        int fd = -1;
        rc = vial_pack_node_read(node, &fd, samples + used, (size_t)node->size, 0);
        if (fd >= 0)
            close(fd);
        sizes[count++] = (size_t)node->size;
        used += (size_t)node->size;
    }
    if (rc == 0 && count >= 16 && used >= 4 * dictionary_size) {
        ZDICT_fastCover_params_t params;
        memset(&params, 0, sizeof params);
        params.k = 200;
        params.d = 8;
        params.f = 18;
        params.accel = 4;
        params.splitPoint = 1.0;
        params.zParams.compressionLevel = packer->options.level;
        void *dictionary = malloc(dictionary_size);
        size_t length = dictionary ? ZDICT_trainFromBuffer_fastCover(
                                         dictionary, dictionary_size, samples, sizes,
                                         (unsigned)count, params)
                                   : 0;
        if (dictionary && !ZDICT_isError(length) && length > 0 &&
            (w->cdict = ZSTD_createCDict(dictionary, length, packer->options.level))) {
            w->dictionary = dictionary;
            w->dictionary_length = length;
            w->stats.dictionary_bytes = length;
        } else {
            free(dictionary); /* untrainable sample: compress without */
        }
    }
out:
    free(order);
    free(samples);
    free(sizes);
    return rc;
}

struct training {
    struct writer *writer;
    int rc;
    char message[512];
};

static void *training_thread(void *arg)
{
    struct training *t = arg;
    t->rc = train_dictionary(t->writer);
    if (t->rc < 0)
        snprintf(t->message, sizeof t->message, "%s", vial_error_last());
    return NULL;
}

static int compress_all(struct writer *w)
{
    w->records = calloc(w->planned_count ? w->planned_count : 1, sizeof *w->records);
    if (!w->records)
        return vial_error_set(-ENOMEM, "out of memory");
    w->next_write = 0;
    w->progress_phase = "compressing chunk";
    w->progress_total = w->planned_count;
    /* One worker doubles as the in-order writer; the others only compress. */
    unsigned threads = w->packer->options.threads;
    pthread_t *extra = calloc(threads, sizeof *extra);
    unsigned started = 0;
    if (!extra)
        return vial_error_set(-ENOMEM, "out of memory");
    atomic_store(&w->next_job, 0);
    for (; started + 1 < threads; started++)
        if (pthread_create(&extra[started], NULL, compress_worker, w) != 0)
            break;
    compress_and_write(w);
    for (unsigned i = 0; i < started; i++)
        pthread_join(extra[i], NULL);
    free(extra);
    free_hash_items(&w->final_by_hash);
    progress(w, w->planned_count, 1);
    if (w->failed)
        return vial_error_set(w->rc, "%s", w->message);
    w->stats.chunks = w->record_count;
    return 0;
}

/* ------------------------------------------------------------- 4. index */

struct string_item {
    const void *key;
    uint32_t length;
    uint32_t offset;
    UT_hash_handle hh;
};

struct string_pool {
    char *data;
    uint64_t length, capacity;
    struct string_item *items;
};

static int pool_add(uint32_t *out_offset, struct string_pool *pool, const void *s, size_t length)
{
    struct string_item *item;
    HASH_FIND(hh, pool->items, s, length, item);
    if (item) {
        *out_offset = item->offset;
        return 0;
    }
    if (pool->length + length > UINT32_MAX)
        return vial_error_set(VIAL_EINVALID, "index strings exceed 4 GiB");
    if (pool->length + length > pool->capacity) {
        uint64_t capacity = pool->capacity ? pool->capacity * 2 : 65536;
        while (capacity < pool->length + length)
            capacity *= 2;
        char *grown = realloc(pool->data, capacity);
        if (!grown)
            return vial_error_set(-ENOMEM, "out of memory");
        /* keys point into data: rehash them onto the new buffer */
        struct string_item *it, *tmp;
        struct string_item *moved = NULL;
        HASH_ITER(hh, pool->items, it, tmp) {
            HASH_DEL(pool->items, it);
            it->key = grown + it->offset;
            HASH_ADD_KEYPTR(hh, moved, it->key, it->length, it);
        }
        pool->items = moved;
        pool->data = grown;
        pool->capacity = capacity;
    }
    memcpy(pool->data + pool->length, s, length);
    item = calloc(1, sizeof *item);
    if (!item)
        return vial_error_set(-ENOMEM, "out of memory");
    item->offset = (uint32_t)pool->length;
    item->length = (uint32_t)length;
    item->key = pool->data + pool->length;
    pool->length += length;
    HASH_ADD_KEYPTR(hh, pool->items, item->key, item->length, item);
    *out_offset = item->offset;
    return 0;
}

static void pool_free(struct string_pool *pool)
{
    struct string_item *it, *tmp;
    HASH_ITER(hh, pool->items, it, tmp) {
        HASH_DEL(pool->items, it);
        free(it);
    }
    free(pool->data);
}

static int compare_child_names(const void *a, const void *b, void *nodes)
{
    const struct pack_node *x = &((const struct pack_node *)nodes)[*(const uint32_t *)a];
    const struct pack_node *y = &((const struct pack_node *)nodes)[*(const uint32_t *)b];
    size_t n = x->name_length < y->name_length ? x->name_length : y->name_length;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_length > y->name_length) - (x->name_length < y->name_length);
}

/* Links nodes into a tree and numbers them breadth-first. out_order[i] is
 * the node at index position i. */
static int build_tree(uint32_t **out_order, struct vial_packer *packer)
{
    uint32_t root;
    if (vial_pack_find(&root, packer, "", 0) < 0) {
        struct vial_pack_entry e = {.path = "", .type = VIAL_ENTRY_DIRECTORY, .mode = 0755};
        int rc = vial_packer_add(packer, &e);
        if (rc < 0)
            return rc;
        root = packer->node_count - 1;
    }
    for (uint32_t i = 0; i < packer->node_count; i++) {
        struct pack_node *node = &packer->nodes[i];
        if (i == root)
            continue;
        size_t parent_length = node->path_length - node->name_length;
        parent_length -= parent_length > 0; /* the slash */
        uint32_t parent;
        if (vial_pack_find(&parent, packer, node->path, parent_length) < 0 ||
            packer->nodes[parent].type != VIAL_ENTRY_DIRECTORY)
            return vial_error_set(VIAL_EINVALID, "/%s: parent directory is not in the image",
                                  node->path);
        struct pack_node *p = &packer->nodes[parent];
        if (p->child_count == p->child_capacity) {
            p->child_capacity = p->child_capacity ? p->child_capacity * 2 : 4;
            uint32_t *grown = realloc(p->children, p->child_capacity * sizeof *grown);
            if (!grown)
                return vial_error_set(-ENOMEM, "out of memory");
            p->children = grown;
        }
        p->children[p->child_count++] = i;
        node->parent = parent;
    }
    uint32_t *order = malloc(packer->node_count * sizeof *order);
    if (!order)
        return vial_error_set(-ENOMEM, "out of memory");
    uint32_t head = 0, tail = 0;
    order[tail++] = root;
    packer->nodes[root].index = 0;
    packer->nodes[root].parent = root;
    while (head < tail) {
        struct pack_node *dir = &packer->nodes[order[head++]];
        if (dir->child_count > 1) /* children is NULL when there are none */
            qsort_r(dir->children, dir->child_count, sizeof *dir->children,
                    compare_child_names, packer->nodes);
        for (uint32_t c = 0; c < dir->child_count; c++) {
            packer->nodes[dir->children[c]].index = tail;
            order[tail++] = dir->children[c];
        }
    }
    *out_order = order;
    return 0;
}

/* Resolves hard links to their primary (a regular file or symlink) and
 * counts names per file and subdirectories per directory. */
static int resolve_links(struct writer *w)
{
    struct vial_packer *packer = w->packer;
    for (uint32_t i = 0; i < packer->node_count; i++) {
        struct pack_node *node = &packer->nodes[i];
        node->primary = i;
        node->nlink = node->type == VIAL_ENTRY_DIRECTORY ? 2 : 1;
    }
    for (uint32_t i = 0; i < packer->node_count; i++) {
        struct pack_node *node = &packer->nodes[i];
        if (node->type == VIAL_ENTRY_DIRECTORY && node->path_length > 0)
            packer->nodes[node->parent].nlink++;
        if (node->type != VIAL_ENTRY_HARDLINK)
            continue;
        uint32_t target;
        if (vial_pack_find(&target, packer, node->hardlink_target, strlen(node->hardlink_target)) <
                0 ||
            (packer->nodes[target].type != VIAL_ENTRY_REGULAR &&
             packer->nodes[target].type != VIAL_ENTRY_SYMLINK))
            return vial_error_set(VIAL_EINVALID,
                                  "/%s: hard link target /%s is not a file or symlink in the image",
                                  node->path, node->hardlink_target);
        node->primary = target;
        packer->nodes[target].nlink++;
    }
    return 0;
}

struct index_blob {
    uint8_t *data;
    uint64_t length;
};

static uint64_t align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

static int build_index(struct index_blob *out, struct writer *w, const uint32_t *order)
{
    struct vial_packer *packer = w->packer;
    uint32_t count = packer->node_count;
    struct string_pool pool = {0};
    struct vial_xattr_record *xattrs = NULL;
    uint32_t xattr_count = 0, xattr_capacity = 0;
    uint8_t *blob = NULL;
    int rc = 0;

    uint64_t slot_count = 1;
    while (slot_count < 2ull * count + 2)
        slot_count <<= 1;
    if (slot_count > UINT32_MAX)
        return vial_error_set(VIAL_EINVALID, "too many entries");

    struct vial_index_entry *entries = calloc(count, sizeof *entries);
    if (!entries)
        return vial_error_set(-ENOMEM, "out of memory");
    for (uint32_t position = 0; position < count && rc == 0; position++) {
        struct pack_node *node = &packer->nodes[order[position]];
        struct vial_index_entry *e = &entries[position];
        e->parent = position ? packer->nodes[node->parent].index : 0;
        e->name_length = (uint16_t)node->name_length;
        if (position && (rc = pool_add(&e->name_offset, &pool, node->name, node->name_length)) < 0)
            break;
        e->type = node->type;
        e->mode = node->type == VIAL_ENTRY_HARDLINK ? 0 : node->mode;
        e->uid = node->type == VIAL_ENTRY_HARDLINK ? 0 : node->uid;
        e->gid = node->type == VIAL_ENTRY_HARDLINK ? 0 : node->gid;
        e->mtime_sec = node->type == VIAL_ENTRY_HARDLINK ? 0 : node->mtime_sec;
        e->mtime_nsec = node->type == VIAL_ENTRY_HARDLINK ? 0 : node->mtime_nsec;
        e->size = node->type == VIAL_ENTRY_HARDLINK ? 0 : node->size;
        e->nlink = node->type == VIAL_ENTRY_HARDLINK ? 0 : node->nlink;
        switch (node->type) {
        case VIAL_ENTRY_DIRECTORY:
            e->u.dir.child_count = node->child_count;
            e->u.dir.first_child =
                node->child_count ? packer->nodes[node->children[0]].index : 0;
            break;
        case VIAL_ENTRY_REGULAR:
            e->u.reg.first_ref = node->ref_count ? node->ref_first : 0;
            e->u.reg.ref_count = node->ref_count;
            break;
        case VIAL_ENTRY_SYMLINK:
            e->u.symlink.target_length = (uint32_t)node->size;
            rc = pool_add(&e->u.symlink.target_offset, &pool, node->symlink_target,
                          (size_t)node->size);
            break;
        case VIAL_ENTRY_HARDLINK:
            e->u.hardlink.target = packer->nodes[node->primary].index;
            break;
        }
        e->xattr_first = node->xattr_count ? xattr_count : 0;
        e->xattr_count = (uint32_t)node->xattr_count;
        for (size_t x = 0; x < node->xattr_count && rc == 0; x++) {
            if (xattr_count == xattr_capacity) {
                xattr_capacity = xattr_capacity ? xattr_capacity * 2 : 64;
                struct vial_xattr_record *grown = realloc(xattrs, xattr_capacity * sizeof *grown);
                if (!grown) {
                    rc = vial_error_set(-ENOMEM, "out of memory");
                    break;
                }
                xattrs = grown;
            }
            struct vial_xattr_record *r = &xattrs[xattr_count++];
            memset(r, 0, sizeof *r);
            r->name_length = (uint16_t)node->xattrs[x].name_length;
            r->value_length = (uint32_t)node->xattrs[x].value_length;
            if ((rc = pool_add(&r->name_offset, &pool, node->xattrs[x].name,
                               node->xattrs[x].name_length)) < 0)
                break;
            rc = pool_add(&r->value_offset, &pool, node->xattrs[x].value,
                          node->xattrs[x].value_length);
        }
    }
    if (rc < 0)
        goto out;

    struct vial_index_header header = {
        .magic = VIAL_INDEX_MAGIC,
        .entry_count = count,
        .hash_slot_count = (uint32_t)slot_count,
        .chunk_ref_count = packer->ref_count,
        .xattr_count = xattr_count,
    };
    uint64_t position = align8(sizeof header);
    header.entries_offset = position;
    position = align8(position + (uint64_t)count * sizeof(struct vial_index_entry));
    header.slots_offset = position;
    position = align8(position + slot_count * sizeof(struct vial_hash_slot));
    header.chunk_refs_offset = position;
    position = align8(position + (uint64_t)packer->ref_count * sizeof(struct vial_chunk_ref));
    header.xattrs_offset = position;
    position = align8(position + (uint64_t)xattr_count * sizeof(struct vial_xattr_record));
    header.strings_offset = position;
    header.strings_length = pool.length;
    position = align8(position + pool.length);

    blob = calloc(1, position);
    if (!blob) {
        rc = vial_error_set(-ENOMEM, "out of memory for a %llu-byte index",
                            (unsigned long long)position);
        goto out;
    }
    memcpy(blob, &header, sizeof header);
    memcpy(blob + header.entries_offset, entries, (size_t)count * sizeof *entries);
    struct vial_hash_slot *slots = (void *)(blob + header.slots_offset);
    for (uint32_t position_i = 0; position_i < count; position_i++) {
        const struct pack_node *node = &packer->nodes[order[position_i]];
        uint64_t hash = vial_path_hash(node->path, node->path_length);
        uint32_t slot = (uint32_t)hash & (uint32_t)(slot_count - 1);
        while (slots[slot].entry_plus_one != 0)
            slot = (slot + 1) & (uint32_t)(slot_count - 1);
        slots[slot].entry_plus_one = position_i + 1;
        slots[slot].hash_high = (uint32_t)(hash >> 32);
    }
    struct vial_chunk_ref *refs = (void *)(blob + header.chunk_refs_offset);
    for (uint32_t r = 0; r < packer->ref_count; r++) {
        refs[r].chunk = w->planned[packer->refs[r].planned].final;
        refs[r].offset = packer->refs[r].offset;
        refs[r].length = packer->refs[r].length;
    }
    if (xattr_count)
        memcpy(blob + header.xattrs_offset, xattrs, xattr_count * sizeof *xattrs);
    if (pool.length)
        memcpy(blob + header.strings_offset, pool.data, pool.length);
    out->data = blob;
    out->length = position;
    blob = NULL;
out:
    free(blob);
    free(entries);
    free(xattrs);
    pool_free(&pool);
    return rc;
}

/* ------------------------------------------------------------- 5. write */

static void hash_pages(uint8_t *out, const uint8_t *data, uint64_t length)
{
    for (uint64_t start = 0; start < length; start += VIAL_PAGE_SIZE) {
        uint64_t n = length - start < VIAL_PAGE_SIZE ? length - start : VIAL_PAGE_SIZE;
        vial_hash(out, data + start, n);
        out += VIAL_HASH_LEN;
    }
}

static uint64_t page_count(uint64_t length) { return (length + VIAL_PAGE_SIZE - 1) / VIAL_PAGE_SIZE; }

static int copy_range(int to, int from, uint64_t length)
{
    loff_t in = 0;
    while (length > 0) {
        ssize_t n = copy_file_range(from, &in, to, NULL, length, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* copy_file_range unsupported between these files: plain copy */
            char buffer[1 << 16];
            ssize_t r = pread(from, buffer, sizeof buffer < length ? sizeof buffer : length, in);
            if (r <= 0)
                return vial_error_set(r < 0 ? -errno : -EIO, "cannot copy chunk data: %s",
                                      r < 0 ? strerror(errno) : "short read");
            int rc = write_all(to, buffer, (size_t)r, "the image");
            if (rc < 0)
                return rc;
            n = r;
            in += r;
        }
        length -= (uint64_t)n;
    }
    return 0;
}

static int write_image(struct writer *w, int fd, const struct index_blob *index)
{
    struct vial_packer *packer = w->packer;
    struct vial_image_header header;
    memset(&header, 0, sizeof header);
    memcpy(header.magic, VIAL_IMAGE_MAGIC, VIAL_IMAGE_MAGIC_LEN);
    header.version_major = VIAL_IMAGE_VERSION_MAJOR;
    header.version_minor = VIAL_IMAGE_VERSION_MINOR;
    header.header_size = VIAL_IMAGE_HEADER_SIZE;

    uint64_t table_length = (uint64_t)w->record_count * sizeof(struct vial_chunk_record);
    uint64_t pages_length = (page_count(table_length) + page_count(index->length)) * VIAL_HASH_LEN;
    uint8_t *pages = malloc(pages_length ? pages_length : 1);
    if (!pages)
        return vial_error_set(-ENOMEM, "out of memory");
    hash_pages(pages, (const uint8_t *)w->records, table_length);
    hash_pages(pages + page_count(table_length) * VIAL_HASH_LEN, index->data, index->length);

    struct {
        uint32_t type, flags;
        const void *data;
        uint64_t length;
    } parts[] = {
        {VIAL_SECTION_MANIFEST, 0, packer->manifest, packer->manifest_length},
        {VIAL_SECTION_HIVE, 0, packer->hive, packer->hive_length},
        {VIAL_SECTION_PROFILE, 0, packer->profile_section, packer->profile_section_length},
        {VIAL_SECTION_DICTIONARY, 0, w->dictionary, w->dictionary_length},
        {VIAL_SECTION_PAGE_HASHES, 0, pages, pages_length},
        {VIAL_SECTION_CHUNK_TABLE, VIAL_SECTION_PAGED, w->records, table_length},
        {VIAL_SECTION_INDEX, VIAL_SECTION_PAGED, index->data, index->length},
        {VIAL_SECTION_CHUNK_DATA, 0, NULL, w->data_length},
    };
    size_t part_count = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) /* no hive, no dictionary: no section */
        if (parts[i].data || parts[i].type == VIAL_SECTION_CHUNK_DATA)
            parts[part_count++] = parts[i];
    uint64_t position = VIAL_IMAGE_HEADER_SIZE;
    for (size_t i = 0; i < part_count; i++) {
        struct vial_section_desc *d = &header.sections[i];
        position = align8(position);
        d->type = parts[i].type;
        d->flags = parts[i].flags;
        d->offset = position;
        d->length = parts[i].length;
        if (parts[i].data) /* chunk data is covered chunk by chunk */
            vial_hash(d->hash, parts[i].data, parts[i].length);
        position += parts[i].length;
    }
    header.section_count = (uint32_t)part_count;
    header.image_size = position;
    vial_hash(header.root_hash, &header, offsetof(struct vial_image_header, root_hash));

    int rc = write_all(fd, &header, sizeof header, "the image");
    uint64_t written = sizeof header;
    static const uint8_t zeros[8];
    for (size_t i = 0; i < part_count && rc == 0; i++) {
        uint64_t pad = header.sections[i].offset - written;
        if (pad && (rc = write_all(fd, zeros, (size_t)pad, "the image")) < 0)
            break;
        if (parts[i].data)
            rc = write_all(fd, parts[i].data, (size_t)parts[i].length, "the image");
        else
            rc = copy_range(fd, w->data_fd, parts[i].length);
        written = header.sections[i].offset + parts[i].length;
    }
    free(pages);
    memcpy(w->stats.root_hash, header.root_hash, VIAL_HASH_LEN);
    w->stats.image_bytes = header.image_size;
    return rc;
}

static int temp_file_beside(char *out, size_t size, const char *output)
{
    if ((size_t)snprintf(out, size, "%s.tmp.XXXXXX", output) >= size)
        return vial_error_set(-ENAMETOOLONG, "%s: path too long", output);
    int fd = mkstemp(out);
    if (fd < 0)
        return vial_error_set(-errno, "cannot create %s: %s", out, strerror(errno));
    return fd;
}

int vial_packer_write(struct vial_packer *packer, const char *output, struct vial_pack_stats *stats)
{
    struct writer w;
    struct index_blob index = {0};
    uint32_t *order = NULL;
    char output_temp[PATH_MAX], data_temp[PATH_MAX];
    int out_fd = -1, rc;
    memset(&w, 0, sizeof w);
    w.packer = packer;
    w.data_fd = -1;
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.changed, NULL);
    vial_pack_gear_init();

    /* Checks that need every entry, before the expensive work. */
    if ((rc = build_tree(&order, packer)) < 0 || (rc = resolve_links(&w)) < 0 ||
        (rc = rank_profile(packer)) < 0)
        goto out;
    /* the dictionary is trained beside the hashing (it needs only paths
     * and sizes); it must be ready before compressing */
    struct training training = {.writer = &w};
    pthread_t trainer;
    int training_started = pthread_create(&trainer, NULL, training_thread, &training) == 0;
    if (!training_started)
        training_thread(&training);
    rc = run_workers(&w, hash_worker);
    if (training_started)
        pthread_join(trainer, NULL);
    if (rc == 0 && training.rc < 0)
        rc = vial_error_set(training.rc, "%s", training.message);
    if (rc < 0 || (rc = plan(&w)) < 0)
        goto out;

    if ((w.data_fd = temp_file_beside(data_temp, sizeof data_temp, output)) < 0) {
        rc = w.data_fd;
        goto out;
    }
    unlink(data_temp);
    if ((rc = compress_all(&w)) < 0 || (rc = build_index(&index, &w, order)) < 0)
        goto out;
    if ((out_fd = temp_file_beside(output_temp, sizeof output_temp, output)) < 0) {
        rc = out_fd;
        goto out;
    }
    if ((rc = write_image(&w, out_fd, &index)) < 0)
        goto out;
    if (fchmod(out_fd, 0644) < 0 || fdatasync(out_fd) < 0) {
        rc = vial_error_set(-errno, "%s: %s", output_temp, strerror(errno));
        goto out;
    }
    if (rename(output_temp, output) < 0) {
        rc = vial_error_set(-errno, "cannot create %s: %s", output, strerror(errno));
        goto out;
    }
    for (uint32_t i = 0; i < packer->node_count; i++) {
        uint8_t type = packer->nodes[i].type;
        w.stats.directories += type == VIAL_ENTRY_DIRECTORY;
        w.stats.files += type == VIAL_ENTRY_REGULAR;
        w.stats.symlinks += type == VIAL_ENTRY_SYMLINK;
        w.stats.hardlinks += type == VIAL_ENTRY_HARDLINK;
    }
    w.stats.entries = packer->node_count;
    if (stats)
        *stats = w.stats;
out:
    if (out_fd >= 0) {
        close(out_fd);
        if (rc < 0)
            unlink(output_temp);
    }
    if (w.data_fd >= 0)
        close(w.data_fd);
    for (uint32_t i = 0; i < w.planned_count; i++) {
        free(w.planned[i].members);
        free(w.planned[i].compressed);
    }
    free(w.planned);
    free(w.records);
    ZSTD_freeCDict(w.cdict);
    free(w.dictionary);
    free(index.data);
    free(order);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.changed);
    return rc;
}
