/*
 * image.c - opening an image and reading its index in place.
 *
 * The index is never parsed as a whole: open checks the header and the
 * bounds of each table, and every accessor checks the fields it uses, so a
 * hostile image yields an error naming the problem instead of an
 * out-of-bounds read. Whole-image checks live in image_verify.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"

static int corrupt(const char *what)
{
    return vial_error_set(VIAL_ECORRUPT, "corrupt image: %s", what);
}

/* offset + count * size lies within [0, limit) and the table is 8-aligned
 * in the file (tables are read in place). */
static int table_fits(uint64_t base_offset, uint64_t offset, uint64_t count, uint64_t size,
                      uint64_t limit)
{
    if (offset > limit || count > (limit - offset) / (size ? size : 1))
        return 0;
    return ((base_offset + offset) % 8) == 0;
}

static int check_sections(struct vial_image *image)
{
    const struct vial_image_header *h = image->header;
    for (uint32_t i = 0; i < h->section_count; i++) {
        const struct vial_section_desc *d = &h->sections[i];
        if (d->offset < VIAL_IMAGE_HEADER_SIZE || d->offset > image->size ||
            d->length > image->size - d->offset)
            return vial_error_set(VIAL_ECORRUPT,
                                  "corrupt image: section %u (type %u) lies outside the file "
                                  "(offset %llu, length %llu, file %llu bytes)",
                                  i, d->type, (unsigned long long)d->offset,
                                  (unsigned long long)d->length, (unsigned long long)image->size);
        if (d->type == 0 || d->type > VIAL_SECTION_MAX_KNOWN)
            continue; /* a newer minor version's section: ignore it */
        if (image->sections[d->type])
            return vial_error_set(VIAL_ECORRUPT, "corrupt image: section type %u appears twice",
                                  d->type);
        image->sections[d->type] = d;
    }
    for (uint32_t i = h->section_count; i < VIAL_IMAGE_MAX_SECTIONS; i++) {
        static const struct vial_section_desc zero;
        if (memcmp(&h->sections[i], &zero, sizeof zero) != 0)
            return corrupt("unused section table rows are not zero");
    }
    static const enum vial_section_type required[] = {
        VIAL_SECTION_MANIFEST, VIAL_SECTION_INDEX, VIAL_SECTION_PAGE_HASHES,
        VIAL_SECTION_CHUNK_TABLE, VIAL_SECTION_CHUNK_DATA};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!image->sections[required[i]])
            return vial_error_set(VIAL_ECORRUPT, "corrupt image: required section type %u missing",
                                  required[i]);
    return 0;
}

static int check_index(struct vial_image *image)
{
    const struct vial_section_desc *d = image->sections[VIAL_SECTION_INDEX];
    const uint8_t *base = image->base + d->offset;
    uint64_t length = d->length;
    if (d->offset % 8 != 0 || length < sizeof(struct vial_index_header))
        return corrupt("index section is misaligned or too short");
    const struct vial_index_header *ix = (const void *)base;
    if (ix->magic != VIAL_INDEX_MAGIC)
        return corrupt("index has a bad magic number");
    if (ix->entry_count == 0)
        return corrupt("index has no root entry");
    if (ix->hash_slot_count == 0 || (ix->hash_slot_count & (ix->hash_slot_count - 1)) != 0 ||
        ix->hash_slot_count <= ix->entry_count)
        return corrupt("index hash table size is not a power of two above the entry count");
    if (!table_fits(d->offset, ix->entries_offset, ix->entry_count,
                    sizeof(struct vial_index_entry), length))
        return corrupt("index entry table lies outside the index");
    if (!table_fits(d->offset, ix->slots_offset, ix->hash_slot_count,
                    sizeof(struct vial_hash_slot), length))
        return corrupt("index hash table lies outside the index");
    if (!table_fits(d->offset, ix->chunk_refs_offset, ix->chunk_ref_count,
                    sizeof(struct vial_chunk_ref), length) ||
        (d->offset + ix->chunk_refs_offset) % 4 != 0)
        return corrupt("chunk reference table lies outside the index");
    if (!table_fits(d->offset, ix->xattrs_offset, ix->xattr_count,
                    sizeof(struct vial_xattr_record), length))
        return corrupt("xattr table lies outside the index");
    if (ix->strings_offset > length || ix->strings_length > length - ix->strings_offset)
        return corrupt("string pool lies outside the index");
    image->index = ix;
    image->entries = (const void *)(base + ix->entries_offset);
    image->entry_count = ix->entry_count;
    image->slots = (const void *)(base + ix->slots_offset);
    image->slot_count = ix->hash_slot_count;
    image->refs = (const void *)(base + ix->chunk_refs_offset);
    image->ref_count = ix->chunk_ref_count;
    image->xattrs = (const void *)(base + ix->xattrs_offset);
    image->xattr_count = ix->xattr_count;
    image->strings = (const char *)(base + ix->strings_offset);
    image->strings_length = ix->strings_length;

    const struct vial_index_entry *root = &image->entries[0];
    if (root->type != VIAL_ENTRY_DIRECTORY || root->parent != 0 || root->name_length != 0)
        return corrupt("entry 0 is not the root directory");

    const struct vial_section_desc *c = image->sections[VIAL_SECTION_CHUNK_TABLE];
    if (c->offset % 8 != 0 || c->length % sizeof(struct vial_chunk_record) != 0 ||
        c->length / sizeof(struct vial_chunk_record) > UINT32_MAX)
        return corrupt("chunk table is misaligned or has a partial record");
    image->chunks = (const void *)(image->base + c->offset);
    image->chunk_count = (uint32_t)(c->length / sizeof(struct vial_chunk_record));
    const struct vial_section_desc *data = image->sections[VIAL_SECTION_CHUNK_DATA];
    image->chunk_data_offset = data->offset;
    image->chunk_data_length = data->length;
    return 0;
}

static int image_init(struct vial_image *image, unsigned flags)
{
    if (image->size < VIAL_IMAGE_HEADER_SIZE)
        return vial_error_set(VIAL_EFORMAT,
                              "not a Vial image: %llu bytes, shorter than the %u-byte header",
                              (unsigned long long)image->size, VIAL_IMAGE_HEADER_SIZE);
    const struct vial_image_header *h = (const void *)image->base;
    image->header = h;
    if (memcmp(h->magic, VIAL_IMAGE_MAGIC, VIAL_IMAGE_MAGIC_LEN) != 0)
        return vial_error_set(VIAL_EFORMAT, "not a Vial image (bad magic number)");
    if (h->version_major != VIAL_IMAGE_VERSION_MAJOR)
        return vial_error_set(VIAL_EFORMAT,
                              "image format version %u.%u is not supported (this vial reads %u.x)",
                              h->version_major, h->version_minor, VIAL_IMAGE_VERSION_MAJOR);
    if (h->header_size != VIAL_IMAGE_HEADER_SIZE || h->section_count > VIAL_IMAGE_MAX_SECTIONS ||
        h->flags != 0)
        return corrupt("header size, section count or flags are invalid");
    if (h->image_size != image->size)
        return vial_error_set(VIAL_ECORRUPT,
                              "image is truncated or has trailing data: header says %llu bytes, "
                              "file has %llu",
                              (unsigned long long)h->image_size, (unsigned long long)image->size);
    uint8_t root[VIAL_HASH_LEN];
    vial_hash(root, h, offsetof(struct vial_image_header, root_hash));
    if (memcmp(root, h->root_hash, VIAL_HASH_LEN) != 0)
        return vial_error_set(VIAL_EHASH, "image header does not match its root hash");
    int rc = check_sections(image);
    if (rc == 0)
        rc = check_index(image);
    if (rc == 0 && (flags & VIAL_OPEN_VERIFY_METADATA)) {
        rc = vial_image_verify_metadata_hashes(image);
        image->metadata_verified = rc == 0;
    }
    return rc;
}

int vial_image_open_memory(struct vial_image **out, const void *data, size_t size, unsigned flags)
{
    *out = NULL;
    struct vial_image *image = calloc(1, sizeof *image);
    if (!image)
        return vial_error_set(-ENOMEM, "out of memory");
    image->base = data;
    image->size = size;
    int rc = image_init(image, flags);
    if (rc < 0) {
        free(image);
        return rc;
    }
    *out = image;
    return 0;
}

int vial_image_open(struct vial_image **out, int fd, unsigned flags)
{
    struct stat st;
    *out = NULL;
    if (fstat(fd, &st) < 0)
        return vial_error_set(-errno, "cannot stat image: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return vial_error_set(-EINVAL, "not a regular file");
    if ((uint64_t)st.st_size < VIAL_IMAGE_HEADER_SIZE)
        return vial_error_set(VIAL_EFORMAT,
                              "not a Vial image: %lld bytes, shorter than the %u-byte header",
                              (long long)st.st_size, VIAL_IMAGE_HEADER_SIZE);
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return vial_error_set(-errno, "cannot map image: %s", strerror(errno));
    int rc = vial_image_open_memory(out, map, (size_t)st.st_size, flags);
    if (rc < 0) {
        munmap(map, (size_t)st.st_size);
        return rc;
    }
    (*out)->mapped = 1;
    return 0;
}

int vial_image_open_path(struct vial_image **out, const char *path, unsigned flags)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vial_error_set(-errno, "%s: %s", path, strerror(errno));
    int rc = vial_image_open(out, fd, flags);
    close(fd);
    if (rc < 0)
        return vial_error_prefix(rc, "%s", path);
    return 0;
}

void vial_image_close(struct vial_image *image)
{
    if (!image)
        return;
    if (image->mapped)
        munmap((void *)image->base, image->size);
    free(image->stream);
    free(image);
}

const struct vial_image_header *vial_image_header(const struct vial_image *image)
{
    return image->header;
}
uint32_t vial_image_entry_count(const struct vial_image *image) { return image->entry_count; }
uint32_t vial_image_chunk_count(const struct vial_image *image) { return image->chunk_count; }
uint64_t vial_image_size(const struct vial_image *image) { return image->size; }

int vial_image_section(const void **out_data, uint64_t *out_length,
                       const struct vial_image *image, enum vial_section_type type)
{
    *out_data = NULL;
    *out_length = 0;
    if ((unsigned)type > VIAL_SECTION_MAX_KNOWN || !image->sections[type])
        return -ENOENT;
    *out_data = image->base + image->sections[type]->offset;
    *out_length = image->sections[type]->length;
    return 0;
}

/* ----------------------------------------------------------------- entries */

static int string_at(const char **out, const struct vial_image *image, uint64_t offset,
                     uint64_t length)
{
    if (offset > image->strings_length || length > image->strings_length - offset)
        return 0;
    *out = image->strings + offset;
    return 1;
}

int vial_image_name_valid(const char *name, size_t length)
{
    if (length == 0 || length > 255)
        return 0;
    if ((length == 1 && name[0] == '.') || (length == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    return memchr(name, '/', length) == NULL && memchr(name, '\0', length) == NULL;
}

/* The raw record, with the checks every caller relies on: parent order and
 * a valid name. */
static int raw_entry(const struct vial_index_entry **out, const struct vial_image *image,
                     uint32_t index)
{
    if (index >= image->entry_count)
        return vial_error_set(VIAL_ECORRUPT, "corrupt image: entry %u out of range (%u entries)",
                              index, image->entry_count);
    const struct vial_index_entry *e = &image->entries[index];
    if (index > 0) {
        const char *name;
        if (e->parent >= index)
            return vial_error_set(VIAL_ECORRUPT,
                                  "corrupt image: entry %u has parent %u (parents come first)",
                                  index, e->parent);
        if (!string_at(&name, image, e->name_offset, e->name_length) ||
            !vial_image_name_valid(name, e->name_length))
            return vial_error_set(VIAL_ECORRUPT, "corrupt image: entry %u has an invalid name",
                                  index);
    }
    if (e->type < VIAL_ENTRY_DIRECTORY || e->type > VIAL_ENTRY_HARDLINK)
        return vial_error_set(VIAL_ECORRUPT, "corrupt image: entry %u has unknown type %u", index,
                              e->type);
    *out = e;
    return 0;
}

static unsigned mode_type_matches(uint8_t type, uint32_t mode)
{
    switch (type) {
    case VIAL_ENTRY_DIRECTORY: return S_ISDIR(mode);
    case VIAL_ENTRY_REGULAR: return S_ISREG(mode);
    case VIAL_ENTRY_SYMLINK: return S_ISLNK(mode);
    default: return 0;
    }
}

int vial_image_entry(struct vial_entry *out, const struct vial_image *image, uint32_t index)
{
    const struct vial_index_entry *e, *p;
    int rc = raw_entry(&e, image, index);
    if (rc < 0)
        return rc;
    uint32_t primary = index;
    p = e;
    if (e->type == VIAL_ENTRY_HARDLINK) {
        primary = e->u.hardlink.target;
        if (primary == index || (rc = raw_entry(&p, image, primary)) < 0 ||
            (p->type != VIAL_ENTRY_REGULAR && p->type != VIAL_ENTRY_SYMLINK))
            return vial_error_set(VIAL_ECORRUPT,
                                  "corrupt image: hard link %u names entry %u, which is not a "
                                  "file or symlink",
                                  index, primary);
    }
    if (!mode_type_matches(p->type, p->mode) || (p->mode & ~(uint32_t)(S_IFMT | 07777)) != 0)
        return vial_error_set(VIAL_ECORRUPT, "corrupt image: entry %u has mode %o for type %u",
                              primary, p->mode, p->type);
    if (p->mtime_nsec >= 1000000000u)
        return vial_error_set(VIAL_ECORRUPT, "corrupt image: entry %u has invalid nanoseconds",
                              primary);
    memset(out, 0, sizeof *out);
    out->index = index;
    out->parent = e->parent;
    out->primary = primary;
    out->type = e->type;
    out->primary_type = p->type;
    out->mode = p->mode;
    out->uid = p->uid;
    out->gid = p->gid;
    out->nlink = p->nlink ? p->nlink : 1;
    out->mtime_sec = p->mtime_sec;
    out->mtime_nsec = p->mtime_nsec;
    out->size = p->size;
    out->inode = (uint64_t)primary + 1;
    out->name = image->strings + (index ? e->name_offset : 0);
    out->name_length = index ? e->name_length : 0;
    if (index == 0)
        out->name = "";
    return 0;
}

int vial_image_children(uint32_t *out_first, uint32_t *out_count, const struct vial_image *image,
                        uint32_t dir)
{
    const struct vial_index_entry *e;
    int rc = raw_entry(&e, image, dir);
    *out_first = *out_count = 0;
    if (rc < 0)
        return rc;
    if (e->type != VIAL_ENTRY_DIRECTORY)
        return vial_error_set(-ENOTDIR, "entry %u is not a directory", dir);
    uint32_t first = e->u.dir.first_child, count = e->u.dir.child_count;
    if (count > 0 && (first <= dir || first > image->entry_count ||
                      count > image->entry_count - first))
        return vial_error_set(VIAL_ECORRUPT,
                              "corrupt image: directory %u has children %u+%u outside the index",
                              dir, first, count);
    *out_first = first;
    *out_count = count;
    return 0;
}

static int name_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

int vial_image_child(uint32_t *out_index, const struct vial_image *image, uint32_t dir,
                     const char *name, size_t name_length)
{
    uint32_t first, count;
    int rc = vial_image_children(&first, &count, image, dir);
    if (rc < 0)
        return rc;
    uint32_t lo = first, hi = first + count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        /* only what the comparison reads is checked here; the caller's
         * vial_image_entry checks the rest of the entry it found */
        const struct vial_index_entry *e = &image->entries[mid];
        if (e->name_offset > image->strings_length ||
            e->name_length > image->strings_length - e->name_offset)
            return vial_error_set(VIAL_ECORRUPT, "corrupt image: entry %u has an invalid name",
                                  mid);
        int c = name_compare(image->strings + e->name_offset, e->name_length, name, name_length);
        if (c == 0) {
            *out_index = mid;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

/* Whether entry index has exactly the path (relative, canonical). */
static int path_matches(const struct vial_image *image, uint32_t index, const char *path,
                        size_t length)
{
    size_t end = length;
    while (index != 0) {
        const struct vial_index_entry *e;
        if (raw_entry(&e, image, index) < 0)
            return 0;
        size_t n = e->name_length;
        if (n > end || memcmp(path + end - n, image->strings + e->name_offset, n) != 0)
            return 0;
        end -= n;
        if (index != 0 && e->parent != 0) {
            if (end == 0 || path[end - 1] != '/')
                return 0;
            end--;
        }
        index = e->parent;
    }
    return end == 0;
}

int vial_image_path_valid(const char *path, size_t length)
{
    size_t start = 0;
    while (start <= length) {
        const char *slash = memchr(path + start, '/', length - start);
        size_t end = slash ? (size_t)(slash - path) : length;
        if (!vial_image_name_valid(path + start, end - start))
            return 0;
        start = end + 1;
    }
    return 1;
}

int vial_image_lookup(uint32_t *out_index, const struct vial_image *image, const char *path)
{
    size_t length = strlen(path);
    while (length > 0 && path[0] == '/') {
        path++;
        length--;
    }
    if (length > 0 && path[length - 1] == '/')
        length--;
    if (length == 0) {
        *out_index = 0;
        return 0;
    }
    if (!vial_image_path_valid(path, length))
        return vial_error_set(-EINVAL, "not a canonical path: %.*s", (int)length, path);
    uint64_t hash = vial_path_hash(path, length);
    uint32_t mask = image->slot_count - 1;
    uint32_t slot = (uint32_t)hash & mask;
    for (uint32_t probe = 0; probe < image->slot_count; probe++) {
        const struct vial_hash_slot *s = &image->slots[slot];
        if (s->entry_plus_one == 0)
            break;
        if (s->hash_high == (uint32_t)(hash >> 32) && s->entry_plus_one <= image->entry_count &&
            path_matches(image, s->entry_plus_one - 1, path, length)) {
            *out_index = s->entry_plus_one - 1;
            return 0;
        }
        slot = (slot + 1) & mask;
    }
    return vial_error_set(-ENOENT, "%.*s: not in the image", (int)length, path);
}

int vial_image_readlink(const char **out_target, size_t *out_length,
                        const struct vial_image *image, uint32_t index)
{
    struct vial_entry info;
    int rc = vial_image_entry(&info, image, index);
    if (rc < 0)
        return rc;
    if (info.primary_type != VIAL_ENTRY_SYMLINK)
        return vial_error_set(-EINVAL, "entry %u is not a symlink", index);
    const struct vial_index_entry *e = &image->entries[info.primary];
    if (e->u.symlink.target_length == 0 || e->u.symlink.target_length >= 4096 ||
        !string_at(out_target, image, e->u.symlink.target_offset, e->u.symlink.target_length) ||
        memchr(*out_target, '\0', e->u.symlink.target_length))
        return vial_error_set(VIAL_ECORRUPT, "corrupt image: symlink %u has an invalid target",
                              index);
    *out_length = e->u.symlink.target_length;
    return 0;
}

int vial_image_path(char *buf, size_t size, const struct vial_image *image, uint32_t index)
{
    size_t end = size;
    if (size == 0)
        return -ENAMETOOLONG;
    buf[--end] = '\0';
    while (index != 0) {
        const struct vial_index_entry *e;
        int rc = raw_entry(&e, image, index);
        if (rc < 0)
            return rc;
        size_t n = e->name_length + (e->parent != 0);
        if (n > end)
            return vial_error_set(-ENAMETOOLONG, "path of entry %u is too long", index);
        end -= n;
        if (e->parent != 0)
            buf[end] = '/';
        memcpy(buf + end + (e->parent != 0), image->strings + e->name_offset, e->name_length);
        index = e->parent;
    }
    memmove(buf, buf + end, size - end);
    return 0;
}

int vial_image_xattr(struct vial_xattr *out, const struct vial_image *image, uint32_t index,
                     uint32_t i)
{
    struct vial_entry info;
    int rc = vial_image_entry(&info, image, index);
    if (rc < 0)
        return rc;
    const struct vial_index_entry *e = &image->entries[info.primary];
    if (i >= e->xattr_count)
        return -ENOENT;
    if (e->xattr_first > image->xattr_count || e->xattr_count > image->xattr_count - e->xattr_first)
        return vial_error_set(VIAL_ECORRUPT, "corrupt image: entry %u has xattrs out of range",
                              index);
    const struct vial_xattr_record *x = &image->xattrs[e->xattr_first + i];
    const char *name, *value;
    if (x->name_length == 0 || !string_at(&name, image, x->name_offset, x->name_length) ||
        memchr(name, '\0', x->name_length) ||
        !string_at(&value, image, x->value_offset, x->value_length))
        return vial_error_set(VIAL_ECORRUPT, "corrupt image: xattr %u of entry %u is invalid", i,
                              index);
    out->name = name;
    out->name_length = x->name_length;
    out->value = value;
    out->value_length = x->value_length;
    return 0;
}

int vial_image_file_refs(const struct vial_chunk_ref **out_refs, uint32_t *out_count,
                         const struct vial_image *image, uint32_t index)
{
    struct vial_entry info;
    int rc = vial_image_entry(&info, image, index);
    if (rc < 0)
        return rc;
    if (info.primary_type != VIAL_ENTRY_REGULAR)
        return vial_error_set(-EINVAL, "entry %u is not a regular file", index);
    const struct vial_index_entry *e = &image->entries[info.primary];
    if (e->u.reg.first_ref > image->ref_count ||
        e->u.reg.ref_count > image->ref_count - e->u.reg.first_ref)
        return vial_error_set(VIAL_ECORRUPT,
                              "corrupt image: file %u has chunk references out of range", index);
    *out_refs = image->refs + e->u.reg.first_ref;
    *out_count = e->u.reg.ref_count;
    return 0;
}

int vial_image_chunk(struct vial_chunk_info *out, const struct vial_image *image, uint32_t chunk)
{
    if (chunk >= image->chunk_count)
        return vial_error_set(VIAL_ECORRUPT, "corrupt image: chunk %u out of range (%u chunks)",
                              chunk, image->chunk_count);
    const struct vial_chunk_record *c = &image->chunks[chunk];
    if (c->stored_length == 0 || c->raw_length == 0 || c->raw_length > VIAL_CHUNK_MAX_RAW ||
        c->offset > image->chunk_data_length ||
        c->stored_length > image->chunk_data_length - c->offset)
        return vial_error_set(VIAL_ECORRUPT,
                              "corrupt image: chunk %u has invalid bounds (offset %llu, stored %u, "
                              "raw %u)",
                              chunk, (unsigned long long)c->offset, c->stored_length, c->raw_length);
    out->hash = c->hash;
    out->offset = image->chunk_data_offset + c->offset;
    out->stored_length = c->stored_length;
    out->raw_length = c->raw_length;
    return 0;
}
