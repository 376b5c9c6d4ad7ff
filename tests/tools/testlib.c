/* testlib.c - see testlib.h. */
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *testlib_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/vial-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag) < 0)
        return NULL;
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        chmod(path, 0700);
    (void)st;
    return remove(path) < 0 && errno != ENOENT ? 0 : 0;
}

void testlib_rm_rf(const char *path)
{
    /* make every directory writable first so that removal succeeds */
    char command[PATH_MAX + 64];
    snprintf(command, sizeof command, "chmod -R u+rwx '%s' 2>/dev/null; true", path);
    if (system(command) != 0) {
        /* best effort */
    }
    nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS);
}

static int make_parents(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return -errno;
    }
    return 0;
}

int testlib_write_file(const char *root, const char *relative, const void *data, size_t length,
                       unsigned mode)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, relative);
    int rc = make_parents(path);
    if (rc < 0)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return -errno;
    size_t done = 0;
    while (done < length) {
        ssize_t n = write(fd, (const char *)data + done, length - done);
        if (n <= 0) {
            close(fd);
            return -EIO;
        }
        done += (size_t)n;
    }
    fchmod(fd, mode);
    return close(fd) < 0 ? -errno : 0;
}

int testlib_pack_tree(const char *root, const char *image, const char *manifest, unsigned threads)
{
    struct vial_packer *packer = NULL;
    const char *text = manifest ? manifest : TESTLIB_MANIFEST;
    struct vial_pack_options options = {
        .level = 3, .threads = threads, .manifest_text = text, .manifest_length = strlen(text)};
    int rc = vial_packer_new(&packer, &options);
    if (rc == 0)
        rc = vial_packer_add_tree(packer, root, NULL);
    if (rc == 0)
        rc = vial_packer_write(packer, image, NULL);
    vial_packer_free(packer);
    return rc;
}

int testlib_read_file(uint8_t **out, size_t *out_length, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    fseek(f, 0, SEEK_END);
    long length = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(length > 0 ? (size_t)length : 1);
    if (!data || fread(data, 1, (size_t)length, f) != (size_t)length) {
        free(data);
        fclose(f);
        return -EIO;
    }
    fclose(f);
    *out = data;
    *out_length = (size_t)length;
    return 0;
}

int testlib_write_whole(const char *path, const void *data, size_t length)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    size_t n = fwrite(data, 1, length, f);
    int rc = fclose(f);
    return n == length && rc == 0 ? 0 : -EIO;
}

void testlib_reseal(uint8_t *image, size_t length)
{
    if (length < sizeof(struct vial_image_header))
        return;
    struct vial_image_header *h = (void *)image;
    uint32_t count = h->section_count < VIAL_IMAGE_MAX_SECTIONS ? h->section_count
                                                                : VIAL_IMAGE_MAX_SECTIONS;
    struct vial_section_desc *pages = NULL;
    for (uint32_t i = 0; i < count; i++)
        if (h->sections[i].type == VIAL_SECTION_PAGE_HASHES)
            pages = &h->sections[i];
    uint64_t page_bytes = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct vial_section_desc *d = &h->sections[i];
        if (d->offset > length || d->length > length - d->offset)
            continue;
        if (!(d->flags & VIAL_SECTION_PAGED))
            continue;
        for (uint64_t start = 0; start < d->length; start += VIAL_PAGE_SIZE) {
            uint64_t n = d->length - start < VIAL_PAGE_SIZE ? d->length - start : VIAL_PAGE_SIZE;
            if (pages && pages->offset <= length && page_bytes + VIAL_HASH_LEN <= pages->length &&
                pages->offset + page_bytes + VIAL_HASH_LEN <= length)
                vial_hash(image + pages->offset + page_bytes, image + d->offset + start, n);
            page_bytes += VIAL_HASH_LEN;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        struct vial_section_desc *d = &h->sections[i];
        if (d->type == VIAL_SECTION_CHUNK_DATA || d->offset > length ||
            d->length > length - d->offset)
            continue;
        vial_hash(d->hash, image + d->offset, d->length);
    }
    vial_hash(h->root_hash, h, offsetof(struct vial_image_header, root_hash));
}
