/*
 * fuzz_image.c - fuzz target for the image reader (runtime/image*.c,
 * runtime/reader.c).
 *
 * Every input is opened as an image, with and without
 * VIAL_OPEN_VERIFY_METADATA; an image that opens is walked through every
 * accessor of runtime.h, every file is read through a vial_reader, and the
 * whole image is verified with its chunks. Nothing may crash, read outside
 * the input or leak, and every rejection must leave a message.
 *
 * The same file serves the libFuzzer binary (fuzz-image) and the corpus
 * replay driver (replay-image, with replay_main.c), which also uses
 * fuzz_target_check() for its --expect-error mode.
 *
 * Almost any mutation of a valid image breaks a hash, so the libFuzzer build
 * also gets a custom mutator that usually re-seals the mutated image
 * (section hashes, page hashes, root hash, image size): the reader's
 * structural checks, not only its hash checks, are what the fuzzer meets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

#define FUZZ_READ_BUFFER 65536u
#define FUZZ_READ_MAX (1024u * 1024u) /* bytes read per file */
#define FUZZ_PATH_MAX 4096u
#define FUZZ_XATTR_MAX 4096u  /* xattrs tried per entry */
#define FUZZ_CHUNK_MAX 1024u  /* chunks decompressed one by one */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
/* Provided by libFuzzer; absent (NULL) in the replay driver, which never
 * calls the custom mutator. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));
int fuzz_target_check(const uint8_t *data, size_t size, char *message, size_t message_size);

/* Sink for the bytes the accessors hand out: touching them makes ASan check
 * that every pointer and length really lies inside the input. */
static volatile uint8_t fuzz_sink;

static void touch(const void *data, size_t length)
{
    const uint8_t *p = data;
    uint8_t sum = 0;
    for (size_t i = 0; i < length; i++)
        sum = (uint8_t)(sum + p[i]);
    fuzz_sink = (uint8_t)(fuzz_sink + sum);
}

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_image: invariant broken: %s\n", what);
    abort();
}

static void clear_error(void)
{
    vial_error_set(0, "%s", "");
}

/* A failing call must explain itself. Codes that mean "no such thing" may
 * come without a message. */
static void check_message(int rc, const char *call)
{
    if (rc < 0 && rc != -ENOENT && vial_error_last()[0] == '\0') {
        fprintf(stderr, "fuzz_image: %s failed with %d and left no message\n", call, rc);
        abort();
    }
}

static void progress_check(uint64_t done, uint64_t total, void *payload)
{
    uint64_t *last = payload;
    if (done == 0 || done > total || done <= *last)
        fail("verify progress is not increasing within its total");
    *last = done;
}

static void read_file(struct vial_reader *reader, uint32_t index, const struct vial_entry *entry)
{
    static uint8_t buffer[FUZZ_READ_BUFFER];
    uint64_t offset = 0;
    size_t got = 0;
    int rc;
    while (offset < FUZZ_READ_MAX) {
        clear_error();
        rc = vial_reader_pread(&got, reader, index, buffer, sizeof buffer, offset);
        check_message(rc, "vial_reader_pread");
        if (rc < 0)
            return;
        if (got > sizeof buffer)
            fail("pread returned more than asked");
        touch(buffer, got);
        if (got < sizeof buffer) {
            if (offset + got != entry->size)
                fail("pread was short before the end of the file");
            break;
        }
        offset += got;
    }
    /* Odd ranges: the last byte, a range straddling the end, past the end,
     * an offset near 2^64, nothing at all. */
    if (entry->size > 0) {
        rc = vial_reader_pread(&got, reader, index, buffer, 1, entry->size - 1);
        if (rc == 0 && got != 1)
            fail("pread of the last byte did not return it");
        rc = vial_reader_pread(&got, reader, index, buffer, 16,
                               entry->size > 7 ? entry->size - 7 : 0);
        touch(buffer, rc == 0 ? got : 0);
    }
    rc = vial_reader_pread(&got, reader, index, buffer, sizeof buffer, entry->size);
    if (rc == 0 && got != 0)
        fail("pread past the end returned data");
    rc = vial_reader_pread(&got, reader, index, buffer, sizeof buffer, UINT64_MAX - 3);
    if (rc == 0 && got != 0)
        fail("pread at 2^64 - 4 returned data");
    rc = vial_reader_pread(&got, reader, index, buffer, 0, 0);
    if (rc == 0 && got != 0)
        fail("pread of nothing returned data");
}

static void walk_entry(const struct vial_image *image, struct vial_reader *reader, uint32_t i)
{
    char path[FUZZ_PATH_MAX + 2];
    struct vial_entry entry;
    uint32_t found, first, count;
    int rc;

    clear_error();
    int entry_rc = vial_image_entry(&entry, image, i);
    check_message(entry_rc, "vial_image_entry");
    if (entry_rc == 0) {
        touch(entry.name, entry.name_length);
        if (entry.index != i || (i > 0 && entry.parent >= i) ||
            entry.primary >= vial_image_entry_count(image))
            fail("vial_image_entry reported indexes out of range");
    }

    clear_error();
    rc = vial_image_children(&first, &count, image, i);
    check_message(rc, "vial_image_children");
    for (uint32_t c = 0; rc == 0 && c < count; c++) {
        struct vial_entry child;
        if (vial_image_entry(&child, image, first + c) < 0)
            continue;
        clear_error();
        int child_rc = vial_image_child(&found, image, i, child.name, child.name_length);
        check_message(child_rc, "vial_image_child");
        if (child_rc == 0 && (found < first || found - first >= count))
            fail("vial_image_child found an entry outside the directory");
    }

    const char *target;
    size_t target_length;
    clear_error();
    rc = vial_image_readlink(&target, &target_length, image, i);
    check_message(rc, "vial_image_readlink");
    if (rc == 0)
        touch(target, target_length);

    for (uint32_t x = 0; x < FUZZ_XATTR_MAX; x++) {
        struct vial_xattr xattr;
        clear_error();
        rc = vial_image_xattr(&xattr, image, i, x);
        check_message(rc, "vial_image_xattr");
        if (rc < 0)
            break;
        touch(xattr.name, xattr.name_length);
        touch(xattr.value, xattr.value_length);
    }

    const struct vial_chunk_ref *refs;
    uint32_t ref_count;
    clear_error();
    rc = vial_image_file_refs(&refs, &ref_count, image, i);
    check_message(rc, "vial_image_file_refs");
    if (rc == 0) {
        touch(refs, (size_t)ref_count * sizeof *refs);
        for (uint32_t r = 0; r < ref_count && r < FUZZ_CHUNK_MAX; r++) {
            struct vial_chunk_info info;
            if (vial_image_chunk(&info, image, refs[r].chunk) == 0)
                touch(info.hash, VIAL_HASH_LEN);
        }
    }
    if (entry_rc == 0 && entry.primary_type == VIAL_ENTRY_REGULAR)
        read_file(reader, i, &entry);

    /* The path, then every way of finding the entry again by it. */
    clear_error();
    rc = vial_image_path(path + 1, sizeof path - 1, image, i);
    check_message(rc, "vial_image_path");
    if (rc < 0)
        return;
    size_t length = strlen(path + 1);
    clear_error();
    rc = vial_image_lookup(&found, image, path + 1);
    check_message(rc, "vial_image_lookup");
    path[0] = '/';
    if (vial_image_lookup(&found, image, path) == 0 && found >= vial_image_entry_count(image))
        fail("vial_image_lookup found an entry out of range");
    path[length + 1] = '/';
    path[length + 2] = '\0';
    vial_image_lookup(&found, image, path);
    path[length + 1] = '\0';
    for (int follow = 0; follow <= 1; follow++) {
        clear_error();
        rc = vial_image_resolve(&found, image, path, follow);
        check_message(rc, "vial_image_resolve");
        if (rc == 0 && found >= vial_image_entry_count(image))
            fail("vial_image_resolve found an entry out of range");
    }
    if (length + 4 < sizeof path) {
        memcpy(path + length + 1, "/..", 4);
        vial_image_resolve(&found, image, path, 1);
    }
}

static void exercise(const struct vial_image *image, size_t size)
{
    const struct vial_image_header *header = vial_image_header(image);
    if ((const void *)header == NULL || vial_image_size(image) != size)
        fail("header or size not reported");
    for (int type = 0; type <= VIAL_SECTION_CHUNK_DATA + 1; type++) {
        const void *section;
        uint64_t length;
        if (vial_image_section(&section, &length, image, (enum vial_section_type)type) == 0)
            touch(section, (size_t)length);
    }

    uint32_t chunk_count = vial_image_chunk_count(image);
    for (uint32_t c = 0; c < chunk_count; c++) {
        struct vial_chunk_info info;
        clear_error();
        int rc = vial_image_chunk(&info, image, c);
        check_message(rc, "vial_image_chunk");
        if (rc == 0) {
            if (info.offset > size || info.stored_length > size - info.offset)
                fail("vial_image_chunk reported a frame outside the image");
            touch(info.hash, VIAL_HASH_LEN);
        }
    }
    struct vial_chunk_info out_of_range;
    if (vial_image_chunk(&out_of_range, image, chunk_count) == 0)
        fail("vial_image_chunk accepted an index past the table");

    struct vial_reader *reader = NULL;
    if (vial_reader_new(&reader, image) < 0)
        return;
    for (uint32_t c = 0; c < chunk_count && c < FUZZ_CHUNK_MAX; c++) {
        const uint8_t *raw;
        uint32_t raw_length;
        clear_error();
        int rc = vial_reader_chunk(&raw, &raw_length, reader, c);
        check_message(rc, "vial_reader_chunk");
        if (rc == 0)
            touch(raw, raw_length);
    }

    uint32_t entry_count = vial_image_entry_count(image);
    for (uint32_t i = 0; i < entry_count; i++)
        walk_entry(image, reader, i);
    struct vial_entry past;
    if (vial_image_entry(&past, image, entry_count) == 0)
        fail("vial_image_entry accepted an index past the table");
    vial_reader_free(reader);

    /* Paths no canonical lookup may accept, and resolutions that must stay
     * inside the image. */
    static const char *const odd_paths[] = {
        "", "/", "//", ".", "..", "./", "a/../..", "../../../etc/passwd", "/a//b", "a/./b",
        "usr/bin/../../..", "////x/", "a\xff/b",
    };
    for (size_t p = 0; p < sizeof odd_paths / sizeof odd_paths[0]; p++) {
        uint32_t found;
        if (vial_image_lookup(&found, image, odd_paths[p]) == 0 && found >= entry_count)
            fail("lookup of an odd path found an entry out of range");
        if (vial_image_resolve(&found, image, odd_paths[p], 1) == 0 && found >= entry_count)
            fail("resolve of an odd path found an entry out of range");
    }
    static char long_path[FUZZ_PATH_MAX + 64];
    if (long_path[0] == '\0') {
        for (size_t i = 0; i + 2 < sizeof long_path; i += 2)
            memcpy(long_path + i, "a/", 2);
        long_path[sizeof long_path - 1] = '\0';
    }
    uint32_t ignored;
    vial_image_lookup(&ignored, image, long_path);
    vial_image_resolve(&ignored, image, long_path, 1);

    uint64_t last = 0;
    clear_error();
    int rc = vial_image_verify(image, 0, NULL, NULL);
    check_message(rc, "vial_image_verify");
    clear_error();
    int chunks_rc = vial_image_verify(image, VIAL_VERIFY_CHUNKS, progress_check, &last);
    check_message(chunks_rc, "vial_image_verify(VIAL_VERIFY_CHUNKS)");
    if (chunks_rc == 0 && rc < 0)
        fail("verify with chunks accepted what verify without chunks rejected");
    if (chunks_rc == 0 && last != chunk_count)
        fail("verify did not report progress for every chunk");
}

/* An exact-size heap copy, so that ASan catches a read one byte past the
 * input. Returns NULL only when out of memory. */
static uint8_t *copy_input(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy && size)
        memcpy(copy, data, size);
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = copy_input(data, size);
    if (!copy)
        return 0;
    struct vial_image *image = NULL;
    clear_error();
    int rc = vial_image_open_memory(&image, copy, size, 0);
    check_message(rc, "vial_image_open_memory");
    if (rc < 0 && image != NULL)
        fail("a failed open left an image behind");
    int verified = 0;
    if (rc == 0) {
        exercise(image, size);
        verified = vial_image_verify(image, 0, NULL, NULL) == 0;
        vial_image_close(image);
        image = NULL;
    }

    clear_error();
    int metadata_rc = vial_image_open_memory(&image, copy, size, VIAL_OPEN_VERIFY_METADATA);
    check_message(metadata_rc, "vial_image_open_memory(VIAL_OPEN_VERIFY_METADATA)");
    if (metadata_rc == 0) {
        if (rc < 0)
            fail("opening with metadata checks accepted what a plain open rejected");
        /* open checks the root's type, parent and name, not its mode */
        struct vial_entry root;
        clear_error();
        check_message(vial_image_entry(&root, image, 0), "vial_image_entry");
        vial_image_close(image);
    } else if (verified) {
        fail("vial_image_verify accepted metadata that the open with hashes rejected");
    }
    free(copy);
    return 0;
}

int fuzz_target_check(const uint8_t *data, size_t size, char *message, size_t message_size)
{
    uint8_t *copy = copy_input(data, size);
    struct vial_image *image = NULL;
    int rc;
    if (!copy)
        return -ENOMEM;
    clear_error();
    rc = vial_image_open_memory(&image, copy, size, 0);
    if (rc == 0)
        rc = vial_image_verify(image, VIAL_VERIFY_CHUNKS, NULL, NULL);
    if (rc < 0 && message_size > 0)
        snprintf(message, message_size, "%s", vial_error_last());
    vial_image_close(image);
    free(copy);
    return rc;
}

/* ------------------------------------------------------ custom mutator */

/* Recomputes what a writer would: image size, page hashes, the hashes of
 * the metadata sections and the root hash. Only rows that lie inside the
 * buffer are touched; the rest is left for the reader to reject. */
static void reseal(uint8_t *data, size_t size)
{
    if (size < sizeof(struct vial_image_header))
        return;
    struct vial_image_header header;
    memcpy(&header, data, sizeof header);
    header.image_size = size;
    uint32_t count = header.section_count < VIAL_IMAGE_MAX_SECTIONS ? header.section_count
                                                                    : VIAL_IMAGE_MAX_SECTIONS;
    const struct vial_section_desc *pages = NULL;
    for (uint32_t i = 0; i < count; i++)
        if (header.sections[i].type == VIAL_SECTION_PAGE_HASHES)
            pages = &header.sections[i];
    uint64_t used = 0;
    for (uint32_t i = 0; i < count; i++) {
        const struct vial_section_desc *d = &header.sections[i];
        if (!(d->flags & VIAL_SECTION_PAGED) || d->offset > size || d->length > size - d->offset)
            continue;
        for (uint64_t start = 0; start < d->length; start += VIAL_PAGE_SIZE) {
            uint64_t n = d->length - start < VIAL_PAGE_SIZE ? d->length - start : VIAL_PAGE_SIZE;
            if (pages && pages->offset <= size && pages->length <= size - pages->offset &&
                used + VIAL_HASH_LEN <= pages->length)
                vial_hash(data + pages->offset + used, data + d->offset + start, (size_t)n);
            used += VIAL_HASH_LEN;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        struct vial_section_desc *d = &header.sections[i];
        if (d->type == VIAL_SECTION_CHUNK_DATA || d->offset > size || d->length > size - d->offset)
            continue;
        vial_hash(d->hash, data + d->offset, (size_t)d->length);
    }
    vial_hash(header.root_hash, &header, offsetof(struct vial_image_header, root_hash));
    memcpy(data, &header, sizeof header);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    if (!LLVMFuzzerMutate)
        return size;
    size = LLVMFuzzerMutate(data, size, max_size);
    /* One time in eight, keep the raw mutation so that hash checks stay
     * fuzzed too. */
    if (seed % 8 != 0)
        reseal(data, size);
    return size;
}
