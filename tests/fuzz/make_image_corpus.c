/*
 * make_image_corpus.c - writes the seed corpus of the image and manifest
 * fuzz targets, and the hostile images the replay test expects the reader
 * to reject.
 *
 *   make-image-corpus OUTDIR
 *
 *   OUTDIR/valid.vial        a small but varied image (nested directories,
 *                            small files in a solid block, a large file cut
 *                            into several chunks, symlinks, a hard link, an
 *                            empty file, an xattr where the file system has
 *                            user.* xattrs)
 *   OUTDIR/valid-small.vial  a tiny image: a cheap seed for the fuzzer
 *   OUTDIR/bad/NAME.vial     variants of valid.vial that must be rejected:
 *                            truncations, bit flips, and "lying" fields
 *                            re-sealed with testlib_reseal so that only the
 *                            reader's structural checks can catch them
 *   OUTDIR/manifests/NAME.ini good-NAME and bad-NAME manifest texts
 *
 * The output is deterministic: fixed contents, times, owners and seeds.
 * Variants that are expected to fail are checked here too; one that the
 * reader accepts is still written (the replay test reports it), except for
 * a bit flip inside a zstd frame that decodes to the same bytes, which is
 * harmless and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include "tests/tools/testlib.h"

#define BIG_FILE_SIZE (400u * 1024u)
#define FIXED_MTIME 1700000000

struct rng {
    uint64_t state;
};

/* splitmix64: small, fixed, good enough to spread positions and bytes. */
static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("make-image-corpus: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ------------------------------------------------------------ the tree */

static void put_file(const char *root, const char *path, const void *data, size_t length,
                     unsigned mode)
{
    int rc = testlib_write_file(root, path, data, length, mode);
    if (rc < 0)
        die("cannot write %s/%s: %s", root, path, strerror(-rc));
}

static void put_symlink(const char *root, const char *path, const char *target)
{
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", root, path);
    if (symlink(target, full) < 0)
        die("cannot create symlink %s: %s", full, strerror(errno));
}

static void put_dir(const char *root, const char *path)
{
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", root, path);
    if (mkdir(full, 0755) < 0 && errno != EEXIST)
        die("cannot create %s: %s", full, strerror(errno));
}

/* Text-like content that compresses a little but never repeats, so that
 * content-defined chunking finds cut points. */
static uint8_t *big_content(size_t size)
{
    static const char *const words[] = {
        "vial", "image", "chunk", "index", "entry", "solid", "block", "zstd", "frame",
        "hash", "reader", "verify", "symlink", "xattr", "manifest", "section", "page",
        "table", "offset", "length", "corrupt", "hostile", "fuzz", "corpus",
    };
    struct rng r = {0x5eed0001};
    uint8_t *data = malloc(size);
    if (!data)
        die("out of memory");
    size_t at = 0;
    while (at < size) {
        char piece[64];
        uint64_t x = rng_next(&r);
        int n = (x & 7) == 0 ? snprintf(piece, sizeof piece, "%llu\n", (unsigned long long)(x >> 40))
                             : snprintf(piece, sizeof piece, "%s ",
                                        words[(x >> 8) % (sizeof words / sizeof words[0])]);
        for (int i = 0; i < n && at < size; i++)
            data[at++] = (uint8_t)piece[i];
    }
    return data;
}

static void fix_times(const char *root, const char *const *paths, size_t count)
{
    struct timespec times[2] = {{FIXED_MTIME, 123456789}, {FIXED_MTIME, 123456789}};
    /* Deepest first: a directory's time is set after its children were
     * created, and setting a child's time does not touch the parent. */
    for (size_t i = count; i-- > 0;) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", root, paths[i]);
        if (utimensat(AT_FDCWD, full, times, AT_SYMLINK_NOFOLLOW) < 0)
            die("cannot set the times of %s: %s", full, strerror(errno));
    }
}

static int build_tree(const char *root)
{
    static const char readme[] = "Vial fuzz corpus image.\nEvery byte here is deterministic.\n";
    static const char conf[] = "[app]\nkey = value\nother = 42\n";
    static const char tool[] = "#!/bin/sh\necho tool\n";
    static const char notes[] = "notes deep inside the tree\n";
    struct rng r = {0x5eed0002};
    uint8_t lib[3000];
    for (size_t i = 0; i < sizeof lib; i++)
        lib[i] = (uint8_t)rng_next(&r);

    put_file(root, "README", readme, sizeof readme - 1, 0644);
    put_file(root, "etc/app.conf", conf, sizeof conf - 1, 0644);
    put_file(root, "etc/empty.conf", "", 0, 0600);
    put_file(root, "usr/bin/tool", tool, sizeof tool - 1, 0755);
    put_file(root, "usr/lib/libdemo.so", lib, sizeof lib, 0644);
    put_file(root, "usr/share/doc/demo/deep/notes.txt", notes, sizeof notes - 1, 0644);
    uint8_t *big = big_content(BIG_FILE_SIZE);
    put_file(root, "usr/lib/big.dat", big, BIG_FILE_SIZE, 0644);
    free(big);
    put_dir(root, "var");
    put_symlink(root, "bin", "usr/bin");
    put_symlink(root, "usr/bin/run", "tool");
    put_symlink(root, "usr/share/doc/demo/up", "../../../lib/big.dat");
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s/usr/bin/tool", root);
    snprintf(to, sizeof to, "%s/usr/bin/tool-link", root);
    if (link(from, to) < 0)
        die("cannot create hard link %s: %s", to, strerror(errno));
    char readme_path[4096];
    snprintf(readme_path, sizeof readme_path, "%s/README", root);
    int has_xattr = lsetxattr(readme_path, "user.vial.note", "fuzz", 4, 0) == 0;

    static const char *const all[] = {
        ".", "README", "bin", "etc", "etc/app.conf", "etc/empty.conf", "usr", "usr/bin",
        "usr/bin/run", "usr/bin/tool", "usr/bin/tool-link", "usr/lib", "usr/lib/big.dat",
        "usr/lib/libdemo.so", "usr/share", "usr/share/doc", "usr/share/doc/demo",
        "usr/share/doc/demo/deep", "usr/share/doc/demo/deep/notes.txt", "usr/share/doc/demo/up",
        "var",
    };
    fix_times(root, all, sizeof all / sizeof all[0]);
    return has_xattr;
}

static void build_small_tree(const char *root)
{
    static const char hello[] = "hello\n";
    put_file(root, "a/hello.txt", hello, sizeof hello - 1, 0644);
    put_file(root, "a/b/empty", "", 0, 0644);
    put_symlink(root, "a/link", "hello.txt");
    static const char *const all[] = {".", "a", "a/b", "a/b/empty", "a/hello.txt", "a/link"};
    fix_times(root, all, sizeof all / sizeof all[0]);
}

static void pack(const char *tree, const char *image)
{
    struct vial_packer *packer = NULL;
    struct vial_pack_options options = {
        .level = 3, .threads = 1, .manifest_text = TESTLIB_MANIFEST,
        .manifest_length = strlen(TESTLIB_MANIFEST),
        /* the running user's ids would make the output differ per user */
        .override_owner = 1, .owner_uid = 0, .owner_gid = 0};
    int rc = vial_packer_new(&packer, &options);
    if (rc == 0)
        rc = vial_packer_add_tree(packer, tree, NULL);
    if (rc == 0)
        rc = vial_packer_write(packer, image, NULL);
    vial_packer_free(packer);
    if (rc < 0)
        die("cannot pack %s: %s", tree, vial_error_last());
}

/* ----------------------------------------------------- the valid layout */

struct layout {
    const uint8_t *data;
    size_t size;
    struct vial_image *image;
    const struct vial_image_header *header;
    int row[VIAL_SECTION_CHUNK_DATA + 1]; /* section table row by type; -1 if absent */
    uint64_t index;                       /* file offset of the index */
    uint64_t index_length;
    struct vial_index_header ix;
    uint64_t entries, slots, refs, xattrs, strings; /* file offsets of the tables */
    uint64_t chunk_table, chunk_data;
    uint32_t chunk_count;
    /* entries the lies aim at */
    uint32_t readme, etc, app_conf, empty_conf, usr, usr_bin, tool, tool_link, run, big,
        notes, var, up;
    uint32_t hardlink, primary; /* of tool / tool-link, whichever the packer made the link */
};

static uint32_t find(const struct layout *L, const char *path)
{
    uint32_t index;
    if (vial_image_lookup(&index, L->image, path) < 0)
        die("valid image has no %s: %s", path, vial_error_last());
    return index;
}

static const struct vial_index_entry *entry_of(const struct layout *L, uint32_t index)
{
    return (const void *)(L->data + L->entries + (uint64_t)index * sizeof(struct vial_index_entry));
}

static void read_layout(struct layout *L)
{
    int rc = vial_image_open_memory(&L->image, L->data, L->size, VIAL_OPEN_VERIFY_METADATA);
    if (rc == 0)
        rc = vial_image_verify(L->image, VIAL_VERIFY_CHUNKS, NULL, NULL);
    if (rc < 0)
        die("the valid image does not verify: %s", vial_error_last());
    L->header = (const void *)L->data;
    for (int t = 0; t <= VIAL_SECTION_CHUNK_DATA; t++)
        L->row[t] = -1;
    for (uint32_t i = 0; i < L->header->section_count; i++)
        if (L->header->sections[i].type <= VIAL_SECTION_CHUNK_DATA)
            L->row[L->header->sections[i].type] = (int)i;
    const struct vial_section_desc *s = &L->header->sections[L->row[VIAL_SECTION_INDEX]];
    L->index = s->offset;
    L->index_length = s->length;
    memcpy(&L->ix, L->data + L->index, sizeof L->ix);
    L->entries = L->index + L->ix.entries_offset;
    L->slots = L->index + L->ix.slots_offset;
    L->refs = L->index + L->ix.chunk_refs_offset;
    L->xattrs = L->index + L->ix.xattrs_offset;
    L->strings = L->index + L->ix.strings_offset;
    L->chunk_table = L->header->sections[L->row[VIAL_SECTION_CHUNK_TABLE]].offset;
    L->chunk_data = L->header->sections[L->row[VIAL_SECTION_CHUNK_DATA]].offset;
    L->chunk_count = vial_image_chunk_count(L->image);

    L->readme = find(L, "README");
    L->etc = find(L, "etc");
    L->app_conf = find(L, "etc/app.conf");
    L->empty_conf = find(L, "etc/empty.conf");
    L->usr = find(L, "usr");
    L->usr_bin = find(L, "usr/bin");
    L->tool = find(L, "usr/bin/tool");
    L->tool_link = find(L, "usr/bin/tool-link");
    L->run = find(L, "usr/bin/run");
    L->big = find(L, "usr/lib/big.dat");
    L->notes = find(L, "usr/share/doc/demo/deep/notes.txt");
    L->var = find(L, "var");
    L->up = find(L, "usr/share/doc/demo/up");
    if (entry_of(L, L->tool)->type == VIAL_ENTRY_HARDLINK) {
        L->hardlink = L->tool;
        L->primary = L->tool_link;
    } else {
        L->hardlink = L->tool_link;
        L->primary = L->tool;
    }
    if (entry_of(L, L->hardlink)->type != VIAL_ENTRY_HARDLINK)
        die("the valid image has no hard link");
    const struct vial_chunk_ref *refs;
    uint32_t ref_count;
    if (vial_image_file_refs(&refs, &ref_count, L->image, L->big) < 0 || ref_count < 3)
        die("the large file was cut into %u chunks, expected at least 3", ref_count);
}

/* --------------------------------------------------------------- output */

struct corpus {
    const char *outdir;
    struct layout L;
    unsigned written, accepted, skipped;
};

static void write_out(const char *dir, const char *name, const void *data, size_t length)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = testlib_write_whole(path, data, length);
    if (rc < 0)
        die("cannot write %s: %s", path, strerror(-rc));
}

static int image_accepted(const uint8_t *data, size_t size)
{
    struct vial_image *image = NULL;
    int rc = vial_image_open_memory(&image, data, size, 0);
    if (rc == 0)
        rc = vial_image_verify(image, VIAL_VERIFY_CHUNKS, NULL, NULL);
    vial_image_close(image);
    return rc == 0;
}

/* Writes bad/<name>.vial. may_be_harmless: a change the reader is allowed
 * not to notice (the image still reads back the same bytes); it is dropped
 * if accepted. */
static void emit(struct corpus *c, const char *name, const uint8_t *data, size_t size,
                 int may_be_harmless)
{
    char file[256], dir[4096];
    if (image_accepted(data, size)) {
        if (may_be_harmless) {
            c->skipped++;
            return;
        }
        fprintf(stderr, "make-image-corpus: warning: bad/%s.vial is accepted by the reader\n",
                name);
        c->accepted++;
    }
    snprintf(file, sizeof file, "%s.vial", name);
    snprintf(dir, sizeof dir, "%s/bad", c->outdir);
    write_out(dir, file, data, size);
    c->written++;
}

static uint8_t *copy_valid(const struct corpus *c)
{
    uint8_t *v = malloc(c->L.size);
    if (!v)
        die("out of memory");
    memcpy(v, c->L.data, c->L.size);
    return v;
}

/* A lie: one field (1, 2, 4 or 8 bytes at file offset `at`) set to value,
 * then the image re-sealed so that every hash matches again. */
static void lie(struct corpus *c, const char *name, uint64_t at, unsigned width, uint64_t value)
{
    if (at + width > c->L.size)
        die("lie %s aims outside the image", name);
    uint8_t *v = copy_valid(c);
    switch (width) {
    case 1: { uint8_t x = (uint8_t)value; memcpy(v + at, &x, 1); break; }
    case 2: { uint16_t x = (uint16_t)value; memcpy(v + at, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)value; memcpy(v + at, &x, 4); break; }
    case 8: memcpy(v + at, &value, 8); break;
    default: die("bad width");
    }
    testlib_reseal(v, c->L.size);
    emit(c, name, v, c->L.size, 0);
    free(v);
}

/* lie about a field of a structure at file offset base */
#define LIE(c, name, base, type, field, value)                                             \
    lie((c), (name), (base) + offsetof(type, field), sizeof(((type *)0)->field), (value))
#define ENTRY(L, i) ((L)->entries + (uint64_t)(i) * sizeof(struct vial_index_entry))
#define SECTION(L, type) \
    (offsetof(struct vial_image_header, sections) + \
     (uint64_t)(L)->row[type] * sizeof(struct vial_section_desc))
#define SLOT(L, i) ((L)->slots + (uint64_t)(i) * sizeof(struct vial_hash_slot))
#define REF(L, i) ((L)->refs + (uint64_t)(i) * sizeof(struct vial_chunk_ref))
#define XATTR(L, i) ((L)->xattrs + (uint64_t)(i) * sizeof(struct vial_xattr_record))
#define CHUNK(L, i) ((L)->chunk_table + (uint64_t)(i) * sizeof(struct vial_chunk_record))

/* ---------------------------------------------------------- truncations */

static int compare_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void truncations(struct corpus *c)
{
    const struct layout *L = &c->L;
    size_t cuts[128];
    size_t n = 0;
    static const size_t fixed[] = {1, 8, 9, 12, 16, 24, 100, 512, 879, 1023, 1024, 1025};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        cuts[n++] = fixed[i];
    for (uint32_t i = 0; i < L->header->section_count; i++) {
        const struct vial_section_desc *d = &L->header->sections[i];
        cuts[n++] = (size_t)d->offset + 1;
        cuts[n++] = (size_t)(d->offset + d->length / 2);
        if (d->length > 1)
            cuts[n++] = (size_t)(d->offset + d->length - 1);
    }
    cuts[n++] = L->size - 1;
    qsort(cuts, n, sizeof cuts[0], compare_size);
    size_t previous = 0;
    for (size_t i = 0; i < n; i++) {
        if (cuts[i] == previous || cuts[i] >= L->size)
            continue;
        previous = cuts[i];
        char name[64];
        snprintf(name, sizeof name, "truncated-at-%07zu", cuts[i]);
        emit(c, name, L->data, cuts[i], 0);
    }

    /* Truncated, with the header's size fixed and re-sealed: now the
     * section table points past the end of the file. */
    static const int types[] = {VIAL_SECTION_INDEX, VIAL_SECTION_CHUNK_DATA,
                                VIAL_SECTION_CHUNK_TABLE};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const struct vial_section_desc *d = &L->header->sections[L->row[types[i]]];
        size_t cut = (size_t)(d->offset + d->length / 2);
        uint8_t *v = copy_valid(c);
        struct vial_image_header *h = (void *)v;
        h->image_size = cut;
        testlib_reseal(v, cut);
        char name[64];
        snprintf(name, sizeof name, "truncated-resealed-at-%07zu", cut);
        emit(c, name, v, cut, 0);
        free(v);
    }
}

/* ------------------------------------------------------------ bit flips */

static void flip(struct corpus *c, const char *what, uint64_t at, unsigned bit, int harmless_ok)
{
    uint8_t *v = copy_valid(c);
    v[at] ^= (uint8_t)(1u << bit);
    char name[96];
    snprintf(name, sizeof name, "flip-%s-at-%07llu-bit%u", what, (unsigned long long)at, bit);
    emit(c, name, v, c->L.size, harmless_ok);
    free(v);
}

static const char *section_tag(uint32_t type)
{
    switch (type) {
    case VIAL_SECTION_MANIFEST: return "manifest";
    case VIAL_SECTION_INDEX: return "index";
    case VIAL_SECTION_PAGE_HASHES: return "pagehashes";
    case VIAL_SECTION_HIVE: return "hive";
    case VIAL_SECTION_PROFILE: return "profile";
    case VIAL_SECTION_CHUNK_TABLE: return "chunktable";
    case VIAL_SECTION_CHUNK_DATA: return "chunkdata";
    default: return "unknown";
    }
}

static void bit_flips(struct corpus *c)
{
    const struct layout *L = &c->L;
    struct rng r = {0x5eed0003};
    /* The hashed part of the header: magic, versions, sizes, counts, every
     * used row of the section table, the root hash. (The signature slot is
     * outside the hashed range by design.) */
    static const uint64_t header_spots[] = {0, 3, 7, 8, 10, 12, 16, 20, 24, 40, 63, 848, 863, 879};
    for (size_t i = 0; i < sizeof header_spots / sizeof header_spots[0]; i++)
        flip(c, "header", header_spots[i], (unsigned)(rng_next(&r) % 8), 0);
    for (uint32_t i = 0; i < L->header->section_count; i++) {
        uint64_t row = offsetof(struct vial_image_header, sections) +
                       (uint64_t)i * sizeof(struct vial_section_desc);
        static const uint64_t row_spots[] = {0, 4, 8, 12, 16, 23, 24, 55};
        for (size_t k = 0; k < sizeof row_spots / sizeof row_spots[0]; k++)
            flip(c, "sectiontable", row + row_spots[k], (unsigned)(rng_next(&r) % 8), 0);
    }
    /* Spread over every section: evenly, plus random positions. */
    for (uint32_t i = 0; i < L->header->section_count; i++) {
        const struct vial_section_desc *d = &L->header->sections[i];
        int data = d->type == VIAL_SECTION_CHUNK_DATA;
        unsigned spots = data ? 24 : 10;
        for (unsigned k = 0; k < spots; k++) {
            uint64_t at = d->offset + (k < spots / 2 ? d->length * k / (spots / 2)
                                                      : rng_next(&r) % d->length);
            flip(c, section_tag(d->type), at, (unsigned)(rng_next(&r) % 8), data);
        }
    }
    /* Inside the index: the header and each table's first record. */
    uint64_t index_spots[] = {L->index, L->index + 4, L->index + 8, L->index + 12,
                              L->index + 16, L->index + 24, L->index + 32, L->index + 40,
                              L->index + 48, L->index + 56, L->index + 64, L->entries + 64,
                              L->slots, L->refs, L->strings};
    for (size_t k = 0; k < sizeof index_spots / sizeof index_spots[0]; k++)
        flip(c, "index", index_spots[k], (unsigned)(rng_next(&r) % 8), 0);
    /* The start of every zstd frame (magic, frame header). */
    for (uint32_t k = 0; k < L->chunk_count; k++) {
        struct vial_chunk_info info;
        if (vial_image_chunk(&info, L->image, k) == 0) {
            flip(c, "frame", info.offset, (unsigned)(rng_next(&r) % 8), 1);
            flip(c, "frame", info.offset + 4, (unsigned)(rng_next(&r) % 8), 1);
        }
    }
}

/* --------------------------------------------------------- header lies */

static void header_lies(struct corpus *c)
{
    const struct layout *L = &c->L;
    const struct vial_image_header *h = L->header;
    typedef struct vial_image_header H;
    LIE(c, "header-magic", 0, H, magic[1], 'X');
    LIE(c, "header-version-major-2", 0, H, version_major, 2);
    LIE(c, "header-version-major-0", 0, H, version_major, 0);
    LIE(c, "header-version-major-ffff", 0, H, version_major, 0xFFFF);
    LIE(c, "header-size-1023", 0, H, header_size, 1023);
    LIE(c, "header-size-max", 0, H, header_size, 0xFFFFFFFF);
    LIE(c, "header-section-count-0", 0, H, section_count, 0);
    LIE(c, "header-section-count-minus-1", 0, H, section_count, h->section_count - 1);
    LIE(c, "header-section-count-plus-1", 0, H, section_count, h->section_count + 1);
    LIE(c, "header-section-count-15", 0, H, section_count, VIAL_IMAGE_MAX_SECTIONS + 1);
    LIE(c, "header-section-count-max", 0, H, section_count, 0xFFFFFFFF);
    LIE(c, "header-flags", 0, H, flags, 1);
    LIE(c, "header-image-size-plus-1", 0, H, image_size, h->image_size + 1);
    LIE(c, "header-image-size-minus-1", 0, H, image_size, h->image_size - 1);
    LIE(c, "header-image-size-max", 0, H, image_size, UINT64_MAX);
    LIE(c, "header-image-size-0", 0, H, image_size, 0);

    /* An unknown major version, header otherwise intact but not re-sealed:
     * the version must be refused before anything else is trusted. */
    uint8_t *v = copy_valid(c);
    uint16_t major = 2;
    memcpy(v + offsetof(H, version_major), &major, sizeof major);
    emit(c, "header-version-major-2-unsealed", v, L->size, 0);
    free(v);

    /* A nonzero row past section_count. */
    uint64_t spare = offsetof(H, sections) +
                     (uint64_t)h->section_count * sizeof(struct vial_section_desc);
    lie(c, "section-spare-row-not-zero", spare + offsetof(struct vial_section_desc, type), 4,
        VIAL_SECTION_HIVE);
}

/* -------------------------------------------------------- section lies */

static void section_lies(struct corpus *c)
{
    const struct layout *L = &c->L;
    typedef struct vial_section_desc D;
    static const int types[] = {VIAL_SECTION_MANIFEST, VIAL_SECTION_PAGE_HASHES,
                                VIAL_SECTION_CHUNK_TABLE, VIAL_SECTION_INDEX,
                                VIAL_SECTION_CHUNK_DATA};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        int type = types[i];
        const D *d = &L->header->sections[L->row[type]];
        const char *tag = section_tag((uint32_t)type);
        uint64_t row = SECTION(L, type);
        char name[96];
#define SECTION_LIE(suffix, field, value)                                    \
    do {                                                                     \
        snprintf(name, sizeof name, "section-%s-%s", tag, suffix);           \
        LIE(c, name, row, D, field, value);                                  \
    } while (0)
        SECTION_LIE("offset-past-end", offset, L->size);
        SECTION_LIE("offset-in-header", offset, 512);
        SECTION_LIE("offset-zero", offset, 0);
        SECTION_LIE("offset-max", offset, UINT64_MAX);
        SECTION_LIE("length-max", length, UINT64_MAX);
        SECTION_LIE("length-file-size", length, L->size);
        SECTION_LIE("type-zero", type, 0);
        SECTION_LIE("type-unknown", type, 99);
        /* a second row claims the same type */
        SECTION_LIE("type-duplicate", type,
                    type == VIAL_SECTION_MANIFEST ? VIAL_SECTION_INDEX : VIAL_SECTION_MANIFEST);
        if (type != VIAL_SECTION_MANIFEST) {
            /* pointing backwards, at the section written before it (not for
             * the page hashes: re-sealing would rewrite the manifest into a
             * consistent overlap, which the format does not forbid) */
            uint64_t before = 0;
            for (uint32_t k = 0; k < L->header->section_count; k++) {
                uint64_t o = L->header->sections[k].offset;
                if (o < d->offset && o > before)
                    before = o;
            }
            if (type != VIAL_SECTION_PAGE_HASHES)
                SECTION_LIE("offset-backwards", offset, before);
            SECTION_LIE("length-zero", length, 0);
        }
        if (type != VIAL_SECTION_MANIFEST && type != VIAL_SECTION_INDEX)
            SECTION_LIE("length-plus-one", length, d->length + 1);
        if (type == VIAL_SECTION_CHUNK_TABLE || type == VIAL_SECTION_PAGE_HASHES ||
            type == VIAL_SECTION_CHUNK_DATA)
            SECTION_LIE("length-minus-one", length, d->length - 1);
        if (type == VIAL_SECTION_INDEX || type == VIAL_SECTION_CHUNK_TABLE) {
            SECTION_LIE("offset-plus-4", offset, d->offset + 4);
            SECTION_LIE("offset-plus-8", offset, d->offset + 8);
            SECTION_LIE("flags-unpaged", flags, 0);
        }
        if (type == VIAL_SECTION_MANIFEST || type == VIAL_SECTION_PAGE_HASHES)
            SECTION_LIE("flags-paged", flags, VIAL_SECTION_PAGED);
#undef SECTION_LIE
    }
}

/* ---------------------------------------------------------- index lies */

static void index_lies(struct corpus *c)
{
    const struct layout *L = &c->L;
    const struct vial_index_header *ix = &L->ix;
    typedef struct vial_index_header X;
    uint64_t at = L->index;
    LIE(c, "index-magic", at, X, magic, 0);
    LIE(c, "index-entry-count-0", at, X, entry_count, 0);
    LIE(c, "index-entry-count-plus-1", at, X, entry_count, ix->entry_count + 1);
    LIE(c, "index-entry-count-minus-1", at, X, entry_count, ix->entry_count - 1);
    LIE(c, "index-entry-count-max", at, X, entry_count, 0xFFFFFFFF);
    LIE(c, "index-entry-count-slots", at, X, entry_count, ix->hash_slot_count);
    LIE(c, "index-slot-count-0", at, X, hash_slot_count, 0);
    LIE(c, "index-slot-count-half", at, X, hash_slot_count, ix->hash_slot_count / 2);
    LIE(c, "index-slot-count-plus-1", at, X, hash_slot_count, ix->hash_slot_count + 1);
    LIE(c, "index-slot-count-double", at, X, hash_slot_count, ix->hash_slot_count * 2);
    LIE(c, "index-slot-count-2-31", at, X, hash_slot_count, 0x80000000u);
    LIE(c, "index-slot-count-max", at, X, hash_slot_count, 0xFFFFFFFF);
    LIE(c, "index-ref-count-0", at, X, chunk_ref_count, 0);
    LIE(c, "index-ref-count-minus-1", at, X, chunk_ref_count, ix->chunk_ref_count - 1);
    LIE(c, "index-ref-count-max", at, X, chunk_ref_count, 0xFFFFFFFF);
    LIE(c, "index-xattr-count-max", at, X, xattr_count, 0xFFFFFFFF);
    if (ix->xattr_count > 0) {
        LIE(c, "index-xattr-count-minus-1", at, X, xattr_count, ix->xattr_count - 1);
        LIE(c, "index-xattrs-offset-plus-16", at, X, xattrs_offset, ix->xattrs_offset + 16);
    }
    LIE(c, "index-entries-offset-0", at, X, entries_offset, 0);
    LIE(c, "index-entries-offset-plus-4", at, X, entries_offset, ix->entries_offset + 4);
    LIE(c, "index-entries-offset-plus-8", at, X, entries_offset, ix->entries_offset + 8);
    LIE(c, "index-entries-offset-plus-64", at, X, entries_offset, ix->entries_offset + 64);
    LIE(c, "index-entries-offset-length", at, X, entries_offset, L->index_length);
    LIE(c, "index-entries-offset-max", at, X, entries_offset, UINT64_MAX);
    LIE(c, "index-entries-offset-slots", at, X, entries_offset, ix->slots_offset);
    LIE(c, "index-slots-offset-plus-8", at, X, slots_offset, ix->slots_offset + 8);
    LIE(c, "index-slots-offset-length", at, X, slots_offset, L->index_length);
    LIE(c, "index-slots-offset-max", at, X, slots_offset, UINT64_MAX);
    LIE(c, "index-slots-offset-backwards", at, X, slots_offset, ix->entries_offset);
    LIE(c, "index-refs-offset-plus-12", at, X, chunk_refs_offset, ix->chunk_refs_offset + 12);
    LIE(c, "index-refs-offset-plus-24", at, X, chunk_refs_offset, ix->chunk_refs_offset + 24);
    LIE(c, "index-refs-offset-max", at, X, chunk_refs_offset, UINT64_MAX);
    LIE(c, "index-refs-offset-length", at, X, chunk_refs_offset, L->index_length);
    LIE(c, "index-xattrs-offset-max", at, X, xattrs_offset, UINT64_MAX);
    LIE(c, "index-strings-offset-max", at, X, strings_offset, UINT64_MAX);
    LIE(c, "index-strings-offset-plus-1", at, X, strings_offset, ix->strings_offset + 1);
    LIE(c, "index-strings-offset-length", at, X, strings_offset, L->index_length);
    LIE(c, "index-strings-length-0", at, X, strings_length, 0);
    LIE(c, "index-strings-length-half", at, X, strings_length, ix->strings_length / 2);
    LIE(c, "index-strings-length-plus-index", at, X, strings_length,
        ix->strings_length + L->index_length);
    LIE(c, "index-strings-length-max", at, X, strings_length, UINT64_MAX);
}

/* --------------------------------------------------------- entry lies */

static uint64_t find_string(const struct layout *L, const char *needle)
{
    size_t n = strlen(needle);
    const uint8_t *pool = L->data + L->strings;
    for (uint64_t i = 0; i + n <= L->ix.strings_length; i++)
        if (memcmp(pool + i, needle, n) == 0)
            return i;
    die("the string pool has no \"%s\"", needle);
}

static void entry_lies(struct corpus *c)
{
    const struct layout *L = &c->L;
    typedef struct vial_index_entry E;
    uint32_t count = L->ix.entry_count;
    const E *readme = entry_of(L, L->readme), *usr = entry_of(L, L->usr),
            *big = entry_of(L, L->big), *run = entry_of(L, L->run),
            *app = entry_of(L, L->app_conf), *empty = entry_of(L, L->empty_conf),
            *primary = entry_of(L, L->primary);

    /* the root */
    LIE(c, "entry-root-type-regular", ENTRY(L, 0), E, type, VIAL_ENTRY_REGULAR);
    LIE(c, "entry-root-parent-1", ENTRY(L, 0), E, parent, 1);
    LIE(c, "entry-root-name-length-1", ENTRY(L, 0), E, name_length, 1);
    LIE(c, "entry-root-mode-regular", ENTRY(L, 0), E, mode, S_IFREG | 0755);
    LIE(c, "entry-root-first-child-0", ENTRY(L, 0), E, u.dir.first_child, 0);
    LIE(c, "entry-root-child-count-max", ENTRY(L, 0), E, u.dir.child_count, 0xFFFFFFFF);
    LIE(c, "entry-root-child-count-all", ENTRY(L, 0), E, u.dir.child_count, count);
    LIE(c, "entry-root-child-count-plus-1", ENTRY(L, 0), E, u.dir.child_count,
        entry_of(L, 0)->u.dir.child_count + 1);
    LIE(c, "entry-root-child-count-minus-1", ENTRY(L, 0), E, u.dir.child_count,
        entry_of(L, 0)->u.dir.child_count - 1);

    /* parents */
    LIE(c, "entry-parent-self", ENTRY(L, L->readme), E, parent, L->readme);
    LIE(c, "entry-parent-later", ENTRY(L, L->readme), E, parent, count - 1);
    LIE(c, "entry-parent-max", ENTRY(L, L->readme), E, parent, 0xFFFFFFFF);
    LIE(c, "entry-parent-count", ENTRY(L, L->notes), E, parent, count);
    LIE(c, "entry-parent-is-a-file", ENTRY(L, L->notes), E, parent, L->readme);
    LIE(c, "entry-parent-wrong-directory", ENTRY(L, L->app_conf), E, parent, L->usr);
    /* usr's parent becomes its own child usr/bin: a cycle */
    LIE(c, "entry-parent-cycle", ENTRY(L, L->usr), E, parent, L->usr_bin);

    /* names */
    LIE(c, "entry-name-offset-max", ENTRY(L, L->readme), E, name_offset, 0xFFFFFFFF);
    LIE(c, "entry-name-offset-pool-end", ENTRY(L, L->readme), E, name_offset,
        L->ix.strings_length);
    LIE(c, "entry-name-offset-pool-end-minus-1", ENTRY(L, L->readme), E, name_offset,
        L->ix.strings_length - 1);
    LIE(c, "entry-name-length-0", ENTRY(L, L->readme), E, name_length, 0);
    LIE(c, "entry-name-length-256", ENTRY(L, L->readme), E, name_length, 256);
    LIE(c, "entry-name-length-max", ENTRY(L, L->readme), E, name_length, 0xFFFF);
    LIE(c, "entry-name-length-plus-1", ENTRY(L, L->readme), E, name_length,
        readme->name_length + 1);
    uint64_t dots = find_string(L, "../");
    lie(c, "entry-name-dotdot", ENTRY(L, L->readme) + offsetof(E, name_offset), 4, dots);
    {
        uint8_t *v = copy_valid(c);
        E e;
        memcpy(&e, v + ENTRY(L, L->readme), sizeof e);
        e.name_offset = (uint32_t)dots;
        e.name_length = 2;
        memcpy(v + ENTRY(L, L->readme), &e, sizeof e);
        testlib_reseal(v, L->size);
        emit(c, "entry-name-is-dotdot", v, L->size, 0);
        e.name_length = 3; /* "../": a slash in a name */
        memcpy(v + ENTRY(L, L->readme), &e, sizeof e);
        testlib_reseal(v, L->size);
        emit(c, "entry-name-has-slash", v, L->size, 0);
        free(v);
    }
    /* two siblings of one name; two siblings out of order */
    {
        uint8_t *v = copy_valid(c);
        E e;
        memcpy(&e, v + ENTRY(L, L->empty_conf), sizeof e);
        e.name_offset = app->name_offset;
        e.name_length = app->name_length;
        memcpy(v + ENTRY(L, L->empty_conf), &e, sizeof e);
        testlib_reseal(v, L->size);
        emit(c, "entry-name-duplicate", v, L->size, 0);
        memcpy(&e, v + ENTRY(L, L->app_conf), sizeof e);
        e.name_offset = empty->name_offset;
        e.name_length = empty->name_length;
        memcpy(v + ENTRY(L, L->app_conf), &e, sizeof e);
        testlib_reseal(v, L->size);
        emit(c, "entry-name-unsorted", v, L->size, 0);
        free(v);
    }

    /* types and modes */
    LIE(c, "entry-type-0", ENTRY(L, L->readme), E, type, 0);
    LIE(c, "entry-type-5", ENTRY(L, L->readme), E, type, 5);
    LIE(c, "entry-type-ff", ENTRY(L, L->readme), E, type, 0xFF);
    LIE(c, "entry-type-dir-as-file", ENTRY(L, L->usr), E, type, VIAL_ENTRY_REGULAR);
    LIE(c, "entry-type-file-as-dir", ENTRY(L, L->readme), E, type, VIAL_ENTRY_DIRECTORY);
    LIE(c, "entry-type-file-as-symlink", ENTRY(L, L->readme), E, type, VIAL_ENTRY_SYMLINK);
    LIE(c, "entry-mode-type-bits", ENTRY(L, L->readme), E, mode, S_IFDIR | 0644);
    LIE(c, "entry-mode-extra-bits", ENTRY(L, L->readme), E, mode, readme->mode | 0x10000);
    LIE(c, "entry-mtime-nsec-1e9", ENTRY(L, L->readme), E, mtime_nsec, 1000000000u);

    /* directories */
    LIE(c, "entry-dir-first-child-0", ENTRY(L, L->usr), E, u.dir.first_child, 0);
    LIE(c, "entry-dir-first-child-self", ENTRY(L, L->usr), E, u.dir.first_child, L->usr);
    LIE(c, "entry-dir-first-child-count", ENTRY(L, L->usr), E, u.dir.first_child, count);
    LIE(c, "entry-dir-first-child-max", ENTRY(L, L->usr), E, u.dir.first_child, 0xFFFFFFFF);
    LIE(c, "entry-dir-first-child-plus-1", ENTRY(L, L->usr), E, u.dir.first_child,
        usr->u.dir.first_child + 1);
    LIE(c, "entry-dir-first-child-minus-1", ENTRY(L, L->usr), E, u.dir.first_child,
        usr->u.dir.first_child - 1);
    LIE(c, "entry-dir-child-count-max", ENTRY(L, L->usr), E, u.dir.child_count, 0xFFFFFFFF);
    LIE(c, "entry-dir-child-count-plus-1", ENTRY(L, L->usr), E, u.dir.child_count,
        usr->u.dir.child_count + 1);
    LIE(c, "entry-dir-child-count-minus-1", ENTRY(L, L->usr), E, u.dir.child_count,
        usr->u.dir.child_count - 1);
    LIE(c, "entry-dir-child-count-0", ENTRY(L, L->usr), E, u.dir.child_count, 0);
    LIE(c, "entry-empty-dir-child-count-1", ENTRY(L, L->var), E, u.dir.child_count, 1);
    {
        uint8_t *v = copy_valid(c);
        E e;
        memcpy(&e, v + ENTRY(L, L->var), sizeof e);
        e.u.dir.first_child = count - 1;
        e.u.dir.child_count = 1;
        memcpy(v + ENTRY(L, L->var), &e, sizeof e);
        testlib_reseal(v, L->size);
        emit(c, "entry-empty-dir-steals-last-child", v, L->size, 0);
        free(v);
    }

    /* regular files: chunk reference ranges and sizes */
    LIE(c, "entry-file-first-ref-max", ENTRY(L, L->big), E, u.reg.first_ref, 0xFFFFFFFF);
    LIE(c, "entry-file-first-ref-past-table", ENTRY(L, L->big), E, u.reg.first_ref,
        L->ix.chunk_ref_count);
    LIE(c, "entry-file-first-ref-plus-1", ENTRY(L, L->big), E, u.reg.first_ref,
        big->u.reg.first_ref + 1);
    LIE(c, "entry-file-ref-count-max", ENTRY(L, L->big), E, u.reg.ref_count, 0xFFFFFFFF);
    LIE(c, "entry-file-ref-count-plus-1", ENTRY(L, L->big), E, u.reg.ref_count,
        big->u.reg.ref_count + 1);
    LIE(c, "entry-file-ref-count-minus-1", ENTRY(L, L->big), E, u.reg.ref_count,
        big->u.reg.ref_count - 1);
    LIE(c, "entry-file-ref-count-0", ENTRY(L, L->big), E, u.reg.ref_count, 0);
    LIE(c, "entry-file-size-plus-1", ENTRY(L, L->big), E, size, big->size + 1);
    LIE(c, "entry-file-size-minus-1", ENTRY(L, L->big), E, size, big->size - 1);
    LIE(c, "entry-file-size-max", ENTRY(L, L->big), E, size, UINT64_MAX);
    LIE(c, "entry-file-size-0", ENTRY(L, L->big), E, size, 0);
    LIE(c, "entry-empty-file-size-1", ENTRY(L, L->empty_conf), E, size, 1);
    LIE(c, "entry-empty-file-ref-count-1", ENTRY(L, L->empty_conf), E, u.reg.ref_count, 1);

    /* symlinks */
    LIE(c, "entry-symlink-target-offset-max", ENTRY(L, L->run), E, u.symlink.target_offset,
        0xFFFFFFFF);
    LIE(c, "entry-symlink-target-offset-pool-end", ENTRY(L, L->run), E, u.symlink.target_offset,
        (uint32_t)L->ix.strings_length);
    LIE(c, "entry-symlink-target-length-0", ENTRY(L, L->run), E, u.symlink.target_length, 0);
    LIE(c, "entry-symlink-target-length-4096", ENTRY(L, L->run), E, u.symlink.target_length,
        4096);
    LIE(c, "entry-symlink-target-length-max", ENTRY(L, L->run), E, u.symlink.target_length,
        0xFFFFFFFF);
    LIE(c, "entry-symlink-target-length-plus-1", ENTRY(L, L->run), E, u.symlink.target_length,
        run->u.symlink.target_length + 1);
    LIE(c, "entry-symlink-size-plus-1", ENTRY(L, L->run), E, size, run->size + 1);
    LIE(c, "entry-symlink-mode-regular", ENTRY(L, L->run), E, mode, S_IFREG | 0777);

    /* the hard link */
    LIE(c, "entry-hardlink-target-self", ENTRY(L, L->hardlink), E, u.hardlink.target,
        L->hardlink);
    LIE(c, "entry-hardlink-target-max", ENTRY(L, L->hardlink), E, u.hardlink.target, 0xFFFFFFFF);
    LIE(c, "entry-hardlink-target-count", ENTRY(L, L->hardlink), E, u.hardlink.target, count);
    LIE(c, "entry-hardlink-target-directory", ENTRY(L, L->hardlink), E, u.hardlink.target,
        L->usr);
    LIE(c, "entry-hardlink-target-root", ENTRY(L, L->hardlink), E, u.hardlink.target, 0);
    LIE(c, "entry-hardlink-nlink-1", ENTRY(L, L->primary), E, nlink, 1);
    LIE(c, "entry-hardlink-nlink-3", ENTRY(L, L->primary), E, nlink, primary->nlink + 1);
    LIE(c, "entry-file-nlink-2", ENTRY(L, L->readme), E, nlink, 2);

    /* xattr ranges */
    LIE(c, "entry-xattr-first-max", ENTRY(L, L->readme), E, xattr_first, 0xFFFFFFFF);
    LIE(c, "entry-xattr-count-max", ENTRY(L, L->readme), E, xattr_count, 0xFFFFFFFF);
    {
        uint8_t *v = copy_valid(c);
        E e;
        memcpy(&e, v + ENTRY(L, L->app_conf), sizeof e);
        e.xattr_first = L->ix.xattr_count;
        e.xattr_count = 1;
        memcpy(v + ENTRY(L, L->app_conf), &e, sizeof e);
        testlib_reseal(v, L->size);
        emit(c, "entry-xattr-past-table", v, L->size, 0);
        free(v);
    }
    if (readme->xattr_count > 0)
        LIE(c, "entry-xattr-count-plus-1", ENTRY(L, L->readme), E, xattr_count,
            readme->xattr_count + L->ix.xattr_count);
}

/* ------------------------------------------- hash slots, refs, xattrs */

static void table_lies(struct corpus *c)
{
    const struct layout *L = &c->L;
    const struct vial_hash_slot *slots = (const void *)(L->data + L->slots);
    uint32_t used = UINT32_MAX, empty = UINT32_MAX;
    for (uint32_t s = 0; s < L->ix.hash_slot_count; s++) {
        if (slots[s].entry_plus_one == 1 + L->readme)
            used = s;
        else if (slots[s].entry_plus_one == 0 && empty == UINT32_MAX)
            empty = s;
    }
    if (used == UINT32_MAX || empty == UINT32_MAX)
        die("cannot find the hash slots to corrupt");
    typedef struct vial_hash_slot S;
    LIE(c, "slot-cleared", SLOT(L, used), S, entry_plus_one, 0);
    LIE(c, "slot-entry-count-plus-1", SLOT(L, used), S, entry_plus_one, L->ix.entry_count + 1);
    LIE(c, "slot-entry-max", SLOT(L, used), S, entry_plus_one, 0xFFFFFFFF);
    LIE(c, "slot-hash-high", SLOT(L, used), S, hash_high, slots[used].hash_high ^ 1);
    LIE(c, "slot-other-entry", SLOT(L, used), S, entry_plus_one, 1 + L->app_conf);
    {
        uint8_t *v = copy_valid(c);
        memcpy(v + SLOT(L, empty), &slots[used], sizeof(S));
        testlib_reseal(v, L->size);
        emit(c, "slot-duplicate", v, L->size, 0);
        free(v);
    }

    typedef struct vial_chunk_ref R;
    const struct vial_index_entry *big = entry_of(L, L->big);
    uint32_t ref = big->u.reg.first_ref + 1;
    const R *r = (const void *)(L->data + REF(L, ref));
    struct vial_chunk_info chunk;
    if (vial_image_chunk(&chunk, L->image, r->chunk) < 0)
        die("cannot read chunk %u", r->chunk);
    LIE(c, "ref-chunk-max", REF(L, ref), R, chunk, 0xFFFFFFFF);
    LIE(c, "ref-chunk-count", REF(L, ref), R, chunk, L->chunk_count);
    LIE(c, "ref-offset-raw-length", REF(L, ref), R, offset, chunk.raw_length);
    LIE(c, "ref-offset-plus-1", REF(L, ref), R, offset, r->offset + 1);
    LIE(c, "ref-offset-max", REF(L, ref), R, offset, 0xFFFFFFFF);
    LIE(c, "ref-length-0", REF(L, ref), R, length, 0);
    LIE(c, "ref-length-plus-1", REF(L, ref), R, length, r->length + 1);
    LIE(c, "ref-length-max", REF(L, ref), R, length, 0xFFFFFFFF);
    /* a small file's reference into the solid block */
    uint32_t small_ref = entry_of(L, L->readme)->u.reg.first_ref;
    const R *sr = (const void *)(L->data + REF(L, small_ref));
    struct vial_chunk_info block;
    if (vial_image_chunk(&block, L->image, sr->chunk) < 0)
        die("cannot read chunk %u", sr->chunk);
    LIE(c, "ref-block-offset-past-block", REF(L, small_ref), R, offset,
        block.raw_length - sr->length + 1);
    LIE(c, "ref-block-length-past-block", REF(L, small_ref), R, length,
        block.raw_length - sr->offset + 1);

    if (L->ix.xattr_count > 0) {
        typedef struct vial_xattr_record XR;
        const XR *x = (const void *)(L->data + XATTR(L, 0));
        LIE(c, "xattr-name-offset-max", XATTR(L, 0), XR, name_offset, 0xFFFFFFFF);
        LIE(c, "xattr-name-offset-pool-end", XATTR(L, 0), XR, name_offset,
            (uint32_t)L->ix.strings_length);
        LIE(c, "xattr-name-length-0", XATTR(L, 0), XR, name_length, 0);
        LIE(c, "xattr-name-length-max", XATTR(L, 0), XR, name_length, 0xFFFF);
        LIE(c, "xattr-value-offset-max", XATTR(L, 0), XR, value_offset, 0xFFFFFFFF);
        LIE(c, "xattr-value-length-max", XATTR(L, 0), XR, value_length, 0xFFFFFFFF);
        LIE(c, "xattr-value-length-pool", XATTR(L, 0), XR, value_length,
            (uint32_t)L->ix.strings_length - x->value_offset + 1);
    }
}

/* -------------------------------------------------------- chunk lies */

static void chunk_lies(struct corpus *c)
{
    const struct layout *L = &c->L;
    typedef struct vial_chunk_record C;
    uint32_t picks[] = {0, L->chunk_count - 1};
    uint64_t data_length = L->header->sections[L->row[VIAL_SECTION_CHUNK_DATA]].length;
    for (size_t p = 0; p < sizeof picks / sizeof picks[0]; p++) {
        uint32_t k = picks[p];
        const C *rec = (const void *)(L->data + CHUNK(L, k));
        char name[96];
#define CHUNK_LIE(suffix, field, value)                                      \
    do {                                                                     \
        snprintf(name, sizeof name, "chunk%u-%s", k, suffix);                \
        LIE(c, name, CHUNK(L, k), C, field, value);                          \
    } while (0)
        CHUNK_LIE("offset-max", offset, UINT64_MAX);
        CHUNK_LIE("offset-data-length", offset, data_length);
        CHUNK_LIE("offset-plus-1", offset, rec->offset + 1);
        CHUNK_LIE("stored-0", stored_length, 0);
        CHUNK_LIE("stored-plus-1", stored_length, rec->stored_length + 1);
        CHUNK_LIE("stored-minus-1", stored_length, rec->stored_length - 1);
        CHUNK_LIE("stored-max", stored_length, 0xFFFFFFFF);
        CHUNK_LIE("raw-0", raw_length, 0);
        CHUNK_LIE("raw-plus-1", raw_length, rec->raw_length + 1);
        CHUNK_LIE("raw-minus-1", raw_length, rec->raw_length - 1);
        CHUNK_LIE("raw-too-big", raw_length, VIAL_CHUNK_MAX_RAW + 1);
        CHUNK_LIE("raw-max", raw_length, 0xFFFFFFFF);
        CHUNK_LIE("hash-wrong", hash[VIAL_HASH_LEN - 1], rec->hash[VIAL_HASH_LEN - 1] ^ 0x01);
#undef CHUNK_LIE
    }
    /* chunk 1 points back at chunk 0's frame (a valid frame, the wrong bytes) */
    const C *c0 = (const void *)(L->data + CHUNK(L, 0));
    uint8_t *v = copy_valid(c);
    C rec;
    memcpy(&rec, v + CHUNK(L, 1), sizeof rec);
    rec.offset = c0->offset;
    rec.stored_length = c0->stored_length;
    rec.raw_length = c0->raw_length;
    memcpy(v + CHUNK(L, 1), &rec, sizeof rec);
    testlib_reseal(v, L->size);
    emit(c, "chunk1-offset-backwards-to-chunk0", v, L->size, 0);
    free(v);

    /* A zeroed frame. */
    v = copy_valid(c);
    memset(v + L->chunk_data + c0->offset, 0, c0->stored_length);
    emit(c, "chunk0-frame-zeroed", v, L->size, 0);
    free(v);
}

/* A chunk's zstd frame replaced by another valid frame of the same length
 * (the same declared size, different bytes): only the chunk hash can tell. */
static void frame_swap(struct corpus *c)
{
    const struct layout *L = &c->L;
    struct rng r = {0x5eed0004};
    for (uint32_t k = 0; k < L->chunk_count; k++) {
        struct vial_chunk_info info;
        if (vial_image_chunk(&info, L->image, k) < 0)
            die("cannot read chunk %u", k);
        uint8_t *raw = malloc(info.raw_length);
        size_t bound = ZSTD_compressBound(info.raw_length);
        uint8_t *frame = malloc(bound);
        if (!raw || !frame)
            die("out of memory");
        size_t got = ZSTD_decompress(raw, info.raw_length, L->data + info.offset,
                                     info.stored_length);
        if (ZSTD_isError(got) || got != info.raw_length)
            die("chunk %u does not decompress", k);
        int done = 0;
        for (unsigned attempt = 0; attempt < 256 && !done; attempt++) {
            size_t at = (size_t)(rng_next(&r) % info.raw_length);
            raw[at] ^= (uint8_t)(1u + rng_next(&r) % 255);
            for (int level = 1; level <= 5 && !done; level++) {
                size_t n = ZSTD_compress(frame, bound, raw, info.raw_length, level);
                if (!ZSTD_isError(n) && n == info.stored_length) {
                    uint8_t *v = copy_valid(c);
                    memcpy(v + info.offset, frame, n);
                    char name[64];
                    snprintf(name, sizeof name, "chunk%u-frame-swapped", k);
                    emit(c, name, v, L->size, 0);
                    free(v);
                    done = 1;
                }
            }
        }
        free(raw);
        free(frame);
        if (done)
            return;
    }
    die("could not build a same-length replacement for any chunk frame");
}

static void odd_files(struct corpus *c)
{
    struct rng r = {0x5eed0005};
    uint8_t noise[4096];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)rng_next(&r);
    emit(c, "empty", noise, 0, 0);
    emit(c, "random-4096", noise, sizeof noise, 0);
    /* random bytes behind a plausible header start */
    struct vial_image_header h;
    memcpy(noise, VIAL_IMAGE_MAGIC, VIAL_IMAGE_MAGIC_LEN);
    h.version_major = VIAL_IMAGE_VERSION_MAJOR;
    h.version_minor = 0;
    h.header_size = VIAL_IMAGE_HEADER_SIZE;
    memcpy(noise + offsetof(struct vial_image_header, version_major), &h.version_major, 2);
    memcpy(noise + offsetof(struct vial_image_header, version_minor), &h.version_minor, 2);
    memcpy(noise + offsetof(struct vial_image_header, header_size), &h.header_size, 4);
    emit(c, "random-with-magic", noise, sizeof noise, 0);
    /* ... and the same, sealed: a root hash that matches garbage */
    uint64_t size = sizeof noise;
    memcpy(noise + offsetof(struct vial_image_header, image_size), &size, 8);
    testlib_reseal(noise, sizeof noise);
    emit(c, "random-with-magic-sealed", noise, sizeof noise, 0);
}

/* ----------------------------------------------------------- manifests */

static void manifests(const char *outdir)
{
    static const struct {
        const char *name;
        const char *text;
    } texts[] = {
        {"good-minimal", "[package]\nname = demo\nversion = 1.0\n"},
        {"good-full",
         "; a comment\n[package]\nname = demo-app\nversion = 2.1.0+deb1\nsummary = A demo\n"
         "vendor = Example\nstate_group = 2\ndefault_entry = main\n\n"
         "[entry main]\nexec = /usr/bin/demo\nargs = --flag value\ndescription = Main\n"
         "icon = /usr/share/icons/demo.png\n\n[entry tool]\nexec = /usr/lib/demo/tool\n"},
        {"good-crlf", "[package]\r\nname = demo\r\nversion = 1\r\n"},
        {"good-no-final-newline", "[package]\nname = demo\nversion = 1"},
        {"good-two-entries-default-first",
         "[package]\nname = x\nversion = 1\n[entry a]\nexec = /a\n[entry b]\nexec = /b/c\n"},
        {"bad-empty", ""},
        {"bad-syntax", "[package]\nname = demo\nthis line has no equals sign\n"},
        {"bad-unclosed-section", "[package\nname = demo\nversion = 1\n"},
        {"bad-unknown-key", "[package]\nname = demo\nversion = 1\ncolour = blue\n"},
        {"bad-unknown-entry-key", "[package]\nname = d\nversion = 1\n[entry a]\nexec = /a\nx = 1\n"},
        {"bad-unknown-section", "[package]\nname = demo\nversion = 1\n[extras]\nkey = 1\n"},
        {"bad-duplicate-key", "[package]\nname = demo\nname = other\nversion = 1\n"},
        {"bad-duplicate-entry",
         "[package]\nname = d\nversion = 1\n[entry a]\nexec = /a\n[entry a]\nexec = /b\n"},
        {"bad-key-outside-section", "name = demo\n[package]\nversion = 1\n"},
        {"bad-name-leading-dash", "[package]\nname = -demo\nversion = 1\n"},
        {"bad-name-space", "[package]\nname = my demo\nversion = 1\n"},
        {"bad-name-slash", "[package]\nname = a/b\nversion = 1\n"},
        {"bad-name-too-long",
         "[package]\nname = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
         "version = 1\n"},
        {"bad-name-empty", "[package]\nname =\nversion = 1\n"},
        {"bad-version", "[package]\nname = demo\nversion = 1.0 beta\n"},
        {"bad-state-group", "[package]\nname = demo\nversion = 1\nstate_group = ../x\n"},
        {"bad-entry-name", "[package]\nname = d\nversion = 1\n[entry a b]\nexec = /a\n"},
        {"bad-entry-name-empty", "[package]\nname = d\nversion = 1\n[entry ]\nexec = /a\n"},
        {"bad-missing-name", "[package]\nversion = 1\n"},
        {"bad-missing-version", "[package]\nname = demo\n"},
        {"bad-missing-exec", "[package]\nname = d\nversion = 1\n[entry a]\nargs = x\n"},
        {"bad-exec-dotdot", "[package]\nname = d\nversion = 1\n[entry a]\nexec = /usr/../bin/sh\n"},
        {"bad-exec-relative", "[package]\nname = d\nversion = 1\n[entry a]\nexec = bin/sh\n"},
        {"bad-exec-dot", "[package]\nname = d\nversion = 1\n[entry a]\nexec = /usr/./bin\n"},
        {"bad-exec-double-slash", "[package]\nname = d\nversion = 1\n[entry a]\nexec = /usr//b\n"},
        {"bad-exec-root", "[package]\nname = d\nversion = 1\n[entry a]\nexec = /\n"},
        {"bad-default-entry", "[package]\nname = d\nversion = 1\ndefault_entry = b\n"
                              "[entry a]\nexec = /a\n"},
    };
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/manifests", outdir);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char file[128];
        snprintf(file, sizeof file, "%s.ini", texts[i].name);
        write_out(dir, file, texts[i].text, strlen(texts[i].text));
    }
    /* A NUL byte in the middle of an otherwise good manifest. */
    static const char nul[] = "[package]\nname = demo\0evil\nversion = 1\n";
    write_out(dir, "bad-nul-byte.ini", nul, sizeof nul - 1);
    /* A line far longer than any buffer the parser keeps. */
    size_t long_length = 20000;
    char *text = malloc(long_length + 64);
    if (!text)
        die("out of memory");
    int n = snprintf(text, 64, "[package]\nname = demo\nversion = 1\nsummary = ");
    memset(text + n, 'x', long_length);
    memcpy(text + n + long_length, "\n", 1);
    write_out(dir, "bad-long-line.ini", text, (size_t)n + long_length + 1);
    /* A header line alone longer than the buffer, and many entries. */
    memset(text, 'y', long_length);
    text[0] = '[';
    write_out(dir, "bad-long-section.ini", text, long_length);
    free(text);
    size_t many_capacity = 2000 * 40 + 64, length = 0;
    char *many = malloc(many_capacity);
    if (!many)
        die("out of memory");
    length += (size_t)snprintf(many, many_capacity, "[package]\nname = d\nversion = 1\n");
    for (int e = 0; e < 2000; e++)
        length += (size_t)snprintf(many + length, many_capacity - length,
                                   "[entry e%d]\nexec = /bin/e%d\n", e, e);
    write_out(dir, "bad-too-many-entries.ini", many, length);
    free(many);

    /* The parser must agree with the file names. */
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct vial_manifest *m = NULL;
        int rc = vial_manifest_parse(&m, texts[i].text, strlen(texts[i].text));
        int good = strncmp(texts[i].name, "good-", 5) == 0;
        if ((rc == 0) != good)
            fprintf(stderr, "make-image-corpus: warning: manifests/%s.ini is %s: %s\n",
                    texts[i].name, rc == 0 ? "accepted" : "rejected",
                    rc == 0 ? "expected an error" : vial_error_last());
        vial_manifest_free(m);
    }
}

/* ----------------------------------------------------------------- main */

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        die("cannot create %s: %s", path, strerror(errno));
}

/* An image with a zstd dictionary: enough small text files to train one.
 * Variants: the dictionary damaged (unsealed: its hash; re-sealed: not a
 * dictionary), and a frame naming a dictionary the image does not have. */
static void build_dictionary_tree(const char *root)
{
    static const char *const words[] = {"import ", "def ", "return ", "self", "class ",
                                        "value", "(", ")", ":\n", "    ", "None", " = "};
    struct rng r = {0x5eed0003};
    char path[64], text[16000]; /* longest file: 9000 + 399 * 5 bytes */
    for (int i = 0; i < 400; i++) {
        size_t n = 0;
        while (n + 8 < 9000 + (size_t)i * 5)
            for (const char *w = words[rng_next(&r) % 12]; *w; w++)
                text[n++] = *w;
        snprintf(path, sizeof path, "lib/m%03d.py", i);
        put_file(root, path, text, n, 0644);
        const char *one[] = {path};
        fix_times(root, one, 1);
    }
    static const char *const directories[] = {"lib", "."};
    fix_times(root, directories, 2);
}

static void dictionary_variants(struct corpus *c, const char *image)
{
    uint8_t *data;
    size_t size;
    if (testlib_read_file(&data, &size, image) < 0)
        die("cannot read %s back", image);
    const struct vial_image_header *h = (const void *)data;
    const struct vial_section_desc *dictionary = NULL, *chunk_data = NULL;
    for (uint32_t i = 0; i < h->section_count; i++) {
        if (h->sections[i].type == VIAL_SECTION_DICTIONARY)
            dictionary = &h->sections[i];
        if (h->sections[i].type == VIAL_SECTION_CHUNK_DATA)
            chunk_data = &h->sections[i];
    }
    if (!dictionary || !chunk_data)
        die("%s has no dictionary: the dictionary tree is too small", image);
    uint8_t *v = malloc(size);
    memcpy(v, data, size);
    v[dictionary->offset + dictionary->length / 3] ^= 0x40;
    emit(c, "dictionary-bit-flip-unsealed", v, size, 0);
    memcpy(v, data, size);
    struct rng r = {0x5eed0004};
    for (uint64_t i = 0; i < dictionary->length; i++)
        v[dictionary->offset + i] = (uint8_t)rng_next(&r);
    testlib_reseal(v, size);
    emit(c, "dictionary-random-bytes-resealed", v, size, 0);
    /* the first frame's dictionary ID (frame header descriptor says where) */
    memcpy(v, data, size);
    uint8_t *frame = v + chunk_data->offset;
    unsigned descriptor = frame[4];
    unsigned id_size = descriptor & 3 ? 1u << ((descriptor & 3) - 1) : 0;
    unsigned at = 5 + ((descriptor & 0x20) ? 0 : 1); /* window descriptor unless single segment */
    if (id_size) {
        frame[at] ^= 0x5a;
        emit(c, "dictionary-frame-names-another-id", v, size, 0);
    }
    free(v);
    free(data);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-image-corpus OUTDIR\n");
        return 2;
    }
    umask(022);
    struct corpus c = {.outdir = argv[1]};
    char path[4096];
    make_dir(c.outdir);
    snprintf(path, sizeof path, "%s/bad", c.outdir);
    make_dir(path);
    snprintf(path, sizeof path, "%s/manifests", c.outdir);
    make_dir(path);

    char *work = testlib_mkdtemp("corpus");
    if (!work)
        die("cannot create a temporary directory: %s", strerror(errno));
    char tree[4096], small_tree[4096], image[4096];
    snprintf(tree, sizeof tree, "%s/tree", work);
    snprintf(small_tree, sizeof small_tree, "%s/small", work);
    make_dir(tree);
    make_dir(small_tree);
    int has_xattr = build_tree(tree);
    build_small_tree(small_tree);

    snprintf(image, sizeof image, "%s/valid.vial", c.outdir);
    pack(tree, image);
    snprintf(path, sizeof path, "%s/valid-small.vial", c.outdir);
    pack(small_tree, path);
    char dictionary_tree[4096], dictionary_image[4096];
    snprintf(dictionary_tree, sizeof dictionary_tree, "%s/dictionary", work);
    make_dir(dictionary_tree);
    build_dictionary_tree(dictionary_tree);
    snprintf(dictionary_image, sizeof dictionary_image, "%s/valid-dictionary.vial", c.outdir);
    pack(dictionary_tree, dictionary_image);
    testlib_rm_rf(work);
    free(work);

    uint8_t *data;
    size_t size;
    if (testlib_read_file(&data, &size, image) < 0)
        die("cannot read %s back", image);
    c.L.data = data;
    c.L.size = size;
    read_layout(&c.L);

    truncations(&c);
    bit_flips(&c);
    header_lies(&c);
    section_lies(&c);
    index_lies(&c);
    entry_lies(&c);
    table_lies(&c);
    chunk_lies(&c);
    frame_swap(&c);
    odd_files(&c);
    dictionary_variants(&c, dictionary_image);
    manifests(c.outdir);

    printf("make-image-corpus: valid.vial %zu bytes (%u entries, %u chunks%s), %u bad images "
           "(%u harmless flips skipped)\n",
           size, c.L.ix.entry_count, c.L.chunk_count, has_xattr ? ", with an xattr" : "",
           c.written, c.skipped);
    vial_image_close(c.L.image);
    free(data);
    if (c.accepted)
        fprintf(stderr, "make-image-corpus: warning: %u bad images are accepted by the reader\n",
                c.accepted);
    return 0;
}
