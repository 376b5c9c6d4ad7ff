/* image_verify.c - whole-image checks: hashes, index structure, chunks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

const char *vial_section_name(uint32_t type)
{
    switch (type) {
    case VIAL_SECTION_MANIFEST: return "manifest";
    case VIAL_SECTION_INDEX: return "index";
    case VIAL_SECTION_PAGE_HASHES: return "page hash";
    case VIAL_SECTION_HIVE: return "registry hive";
    case VIAL_SECTION_PROFILE: return "launch profile";
    case VIAL_SECTION_CHUNK_TABLE: return "chunk table";
    case VIAL_SECTION_CHUNK_DATA: return "chunk data";
    case VIAL_SECTION_DICTIONARY: return "dictionary";
    default: return "unknown";
    }
}

int vial_image_verify_metadata_hashes(const struct vial_image *image)
{
    const struct vial_image_header *h = image->header;
    const struct vial_section_desc *pages = image->sections[VIAL_SECTION_PAGE_HASHES];
    uint64_t page_bytes_used = 0;
    uint8_t hash[VIAL_HASH_LEN];
    for (uint32_t i = 0; i < h->section_count; i++) {
        const struct vial_section_desc *d = &h->sections[i];
        const uint8_t *data = image->base + d->offset;
        /* Chunk data is covered chunk by chunk through the chunk table. */
        if (d->type == VIAL_SECTION_CHUNK_DATA)
            continue;
        vial_hash(hash, data, d->length);
        if (memcmp(hash, d->hash, VIAL_HASH_LEN) != 0)
            return vial_error_set(VIAL_EHASH, "the %s section does not match its hash",
                                  vial_section_name(d->type));
        if (!(d->flags & VIAL_SECTION_PAGED))
            continue;
        uint64_t page_count = (d->length + VIAL_PAGE_SIZE - 1) / VIAL_PAGE_SIZE;
        for (uint64_t p = 0; p < page_count; p++) {
            if (page_bytes_used + VIAL_HASH_LEN > pages->length)
                return vial_error_set(VIAL_ECORRUPT,
                                      "corrupt image: the page hash section is too short");
            uint64_t start = p * VIAL_PAGE_SIZE;
            uint64_t n = d->length - start < VIAL_PAGE_SIZE ? d->length - start : VIAL_PAGE_SIZE;
            vial_hash(hash, data + start, n);
            if (memcmp(hash, image->base + pages->offset + page_bytes_used, VIAL_HASH_LEN) != 0)
                return vial_error_set(VIAL_EHASH, "page %llu of the %s section does not match its hash",
                                      (unsigned long long)p, vial_section_name(d->type));
            page_bytes_used += VIAL_HASH_LEN;
        }
    }
    if (page_bytes_used != pages->length)
        return vial_error_set(VIAL_ECORRUPT,
                              "corrupt image: the page hash section has %llu bytes, expected %llu",
                              (unsigned long long)pages->length,
                              (unsigned long long)page_bytes_used);
    return 0;
}

int vial_image_verify_metadata(const struct vial_image *image)
{
    return image->metadata_verified ? 0 : vial_image_verify_metadata_hashes(image);
}

static int fail_entry(const struct vial_image *image, uint32_t index, const char *what)
{
    char path[4096];
    if (vial_image_path(path, sizeof path, image, index) < 0)
        snprintf(path, sizeof path, "#%u", index);
    return vial_error_set(VIAL_ECORRUPT, "corrupt image: /%s: %s", path, what);
}

/* Each entry is the child of exactly one directory, children come in
 * breadth-first runs sorted by name, and every field resolves. */
static int verify_structure(const struct vial_image *image)
{
    uint32_t count = image->entry_count;
    uint32_t next_child = 1;
    uint32_t *link_counts = calloc(count, sizeof *link_counts);
    int rc = 0;
    if (!link_counts)
        return vial_error_set(-ENOMEM, "out of memory");
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        struct vial_entry e;
        if ((rc = vial_image_entry(&e, image, i)) < 0)
            break;
        link_counts[e.primary]++;
        if (e.type == VIAL_ENTRY_DIRECTORY) {
            uint32_t first, n;
            if ((rc = vial_image_children(&first, &n, image, i)) < 0)
                break;
            if (n > 0 && first != next_child) {
                rc = fail_entry(image, i, "children are not in breadth-first order");
                break;
            }
            next_child += n;
            struct vial_entry previous = {0};
            for (uint32_t c = first; c < first + n; c++) {
                struct vial_entry child; /* checked before its name is compared */
                if ((rc = vial_image_entry(&child, image, c)) < 0)
                    break;
                if (child.parent != i) {
                    rc = fail_entry(image, c, "parent does not list it as a child");
                    break;
                }
                if (c > first) {
                    size_t a = previous.name_length, b = child.name_length;
                    int cmp = memcmp(previous.name, child.name, a < b ? a : b);
                    if (cmp > 0 || (cmp == 0 && a >= b)) {
                        rc = fail_entry(image, c, "duplicate or unsorted name in its directory");
                        break;
                    }
                }
                previous = child;
            }
        } else if (e.primary_type == VIAL_ENTRY_REGULAR && e.type == VIAL_ENTRY_REGULAR) {
            const struct vial_chunk_ref *refs;
            uint32_t n;
            uint64_t total = 0;
            if ((rc = vial_image_file_refs(&refs, &n, image, i)) < 0)
                break;
            for (uint32_t r = 0; r < n && rc == 0; r++) {
                struct vial_chunk_info chunk;
                if ((rc = vial_image_chunk(&chunk, image, refs[r].chunk)) < 0)
                    break;
                if (refs[r].length == 0 || refs[r].offset > chunk.raw_length ||
                    refs[r].length > chunk.raw_length - refs[r].offset)
                    rc = fail_entry(image, i, "a chunk reference lies outside its chunk");
                total += refs[r].length;
            }
            if (rc == 0 && total != e.size)
                rc = fail_entry(image, i, "size does not match its chunk references");
        } else if (e.type == VIAL_ENTRY_SYMLINK) {
            const char *target;
            size_t n;
            if ((rc = vial_image_readlink(&target, &n, image, i)) < 0)
                break;
            if (e.size != n)
                rc = fail_entry(image, i, "size does not match the symlink target");
        }
        for (uint32_t x = 0; rc == 0; x++) {
            struct vial_xattr xattr;
            int xr = vial_image_xattr(&xattr, image, i, x);
            if (xr == -ENOENT)
                break;
            rc = xr;
        }
        if (rc == 0 && i > 0 && image->entries[i].parent >= count)
            rc = fail_entry(image, i, "parent out of range");
        if (rc == 0 && i > 0 && image->entries[image->entries[i].parent].type != VIAL_ENTRY_DIRECTORY)
            rc = fail_entry(image, i, "parent is not a directory");
    }
    if (rc == 0 && next_child != count)
        rc = vial_error_set(VIAL_ECORRUPT,
                            "corrupt image: %u entries are not the child of any directory",
                            count - next_child);
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        const struct vial_index_entry *e = &image->entries[i];
        if (e->type == VIAL_ENTRY_HARDLINK)
            continue;
        uint32_t expected = e->type == VIAL_ENTRY_DIRECTORY ? e->nlink : link_counts[i];
        if (e->nlink != expected)
            rc = fail_entry(image, i, "link count does not match its hard links");
    }
    free(link_counts);
    return rc;
}

/* Every entry is found through the hash table, and the table holds nothing
 * else. */
static int verify_hash_table(const struct vial_image *image)
{
    char path[4096];
    uint32_t used = 0;
    for (uint32_t s = 0; s < image->slot_count; s++)
        used += image->slots[s].entry_plus_one != 0;
    if (used != image->entry_count)
        return vial_error_set(VIAL_ECORRUPT,
                              "corrupt image: the path hash table has %u slots for %u entries",
                              used, image->entry_count);
    for (uint32_t i = 0; i < image->entry_count; i++) {
        uint32_t found;
        int rc = vial_image_path(path, sizeof path, image, i);
        if (rc < 0)
            return rc;
        if (vial_image_lookup(&found, image, path) < 0 || found != i)
            return fail_entry(image, i, "not found through the path hash table");
    }
    return 0;
}

int vial_image_verify(const struct vial_image *image, unsigned flags,
                      void (*progress)(uint64_t done, uint64_t total, void *payload),
                      void *payload)
{
    int rc;
    if ((rc = vial_image_verify_metadata_hashes(image)) < 0 ||
        (rc = verify_structure(image)) < 0 || (rc = verify_hash_table(image)) < 0)
        return rc;
    if (!(flags & VIAL_VERIFY_CHUNKS))
        return 0;
    struct vial_reader *reader = NULL;
    if ((rc = vial_reader_new(&reader, image)) < 0)
        return rc;
    for (uint32_t c = 0; c < image->chunk_count; c++) {
        const uint8_t *data;
        uint32_t length;
        if ((rc = vial_reader_chunk(&data, &length, reader, c)) < 0)
            break;
        if (progress)
            progress(c + 1, image->chunk_count, payload);
    }
    vial_reader_free(reader);
    return rc;
}
