/*
 * materialize.c - turning an image file into a real file, once per content.
 *
 * Content lives at CACHE/files/xx/<key>, shared by every image and version
 * with the same bytes; each image sees it through a hard link at
 * VIEW/<virtual path>. Content is written under a temporary name and
 * published with link(), never rename(): a finished file is never replaced
 * (replacing it would drop the inode another process is about to link, and
 * its link() would fail with ENOENT), and EEXIST just means another
 * process won. So concurrent processes never see a partial file and never
 * fail because another one got there first.
 *
 * This code also runs inside applications (the interposer) and the dynamic
 * loader's audit namespace: no global state, errno-style returns only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"

#define MATERIALIZE_BUFFER (256u * 1024u)

int vial_content_key(uint8_t out[VIAL_HASH_LEN], const struct vial_image *image, uint32_t index)
{
    const struct vial_chunk_ref *refs;
    uint32_t count;
    struct vial_entry entry;
    int rc;
    if ((rc = vial_image_entry(&entry, image, index)) < 0 ||
        (rc = vial_image_file_refs(&refs, &count, image, index)) < 0)
        return rc;
    struct vial_hasher hasher;
    vial_hasher_init(&hasher);
    uint8_t executable = (entry.mode & 0111) ? 1 : 0;
    vial_hasher_update(&hasher, "vial-content-v1", 15);
    vial_hasher_update(&hasher, &executable, 1);
    for (uint32_t i = 0; i < count; i++) {
        struct vial_chunk_info chunk;
        if ((rc = vial_image_chunk(&chunk, image, refs[i].chunk)) < 0)
            return rc;
        uint32_t range[2] = {refs[i].offset, refs[i].length};
        vial_hasher_update(&hasher, chunk.hash, VIAL_HASH_LEN);
        vial_hasher_update(&hasher, range, sizeof range);
    }
    vial_hasher_final(&hasher, out);
    return 0;
}

int vial_view_dir(char *out, size_t size, const char *cache, const struct vial_image *image)
{
    char hex[2 * VIAL_HASH_LEN + 1];
    vial_hash_hex(hex, vial_image_header(image)->root_hash);
    if ((size_t)snprintf(out, size, "%s/views/%.24s", cache, hex) >= size)
        return -ENAMETOOLONG;
    return 0;
}

/* A temporary name beside path: unique per process and call. */
static void temp_name(char *out, size_t size, const char *path)
{
    static _Thread_local unsigned counter;
    snprintf(out, size, "%s.tmp-%d-%u", path, (int)getpid(), counter++);
}

static int write_content(int fd, struct vial_reader *reader, uint32_t index, uint64_t size)
{
    uint8_t *buffer = malloc(MATERIALIZE_BUFFER);
    int rc = buffer ? 0 : -ENOMEM;
    for (uint64_t offset = 0; rc == 0 && offset < size;) {
        size_t n;
        if ((rc = vial_reader_pread(&n, reader, index, buffer, MATERIALIZE_BUFFER, offset)) < 0)
            break;
        if (n == 0) {
            rc = vial_error_set(VIAL_ECORRUPT, "corrupt image: file %u ends early", index);
            break;
        }
        for (size_t done = 0; done < n;) {
            ssize_t w = write(fd, buffer + done, n - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = w < 0 ? -errno : -EIO;
                vial_error_set(rc, "cannot write to the cache: %s", strerror(-rc));
                break;
            }
            done += (size_t)w;
        }
        offset += n;
    }
    free(buffer);
    return rc;
}

/* CACHE/files/xx/<key>, created if missing. */
static int materialize_content(char *out, size_t size, struct vial_reader *reader,
                               const struct vial_entry *entry, const uint8_t key[VIAL_HASH_LEN],
                               const char *cache)
{
    char hex[2 * VIAL_HASH_LEN + 1], temp[4200];
    struct stat st;
    vial_hash_hex(hex, key);
    if ((size_t)snprintf(out, size, "%s/files/%.2s/%s", cache, hex, hex + 2) >= size)
        return -ENAMETOOLONG;
    if (stat(out, &st) == 0 && (uint64_t)st.st_size == entry->size)
        return 0;
    char *slash = strrchr(out, '/');
    *slash = '\0';
    int rc = vial_mkdir_p(out, 0700);
    *slash = '/';
    if (rc < 0)
        return vial_error_set(rc, "cannot create the cache directory: %s", strerror(-rc));
    temp_name(temp, sizeof temp, out);
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, entry->mode & 0111 ? 0755 : 0644);
    if (fd < 0)
        return vial_error_set(-errno, "cannot create %s: %s", temp, strerror(errno));
    rc = write_content(fd, reader, entry->index, entry->size);
    if (close(fd) < 0 && rc == 0)
        rc = vial_error_set(-errno, "cannot write to the cache: %s", strerror(errno));
    if (rc == 0 && link(temp, out) < 0 && errno != EEXIST)
        rc = vial_error_set(-errno, "cannot store %s: %s", out, strerror(errno));
    unlink(temp);
    return rc;
}

int vial_materialize(char *out, size_t size, struct vial_reader *reader, uint32_t index,
                     const char *cache, const char *view)
{
    const struct vial_image *image = reader->image;
    struct vial_entry entry;
    uint8_t key[VIAL_HASH_LEN];
    char content[4096], virtual_path[4096], temp[4200];
    struct stat view_stat;
    int rc;
    if ((rc = vial_image_entry(&entry, image, index)) < 0)
        return rc;
    if (entry.primary_type != VIAL_ENTRY_REGULAR)
        return vial_error_set(-EINVAL, "entry %u is not a regular file", index);
    if ((rc = vial_image_path(virtual_path, sizeof virtual_path, image, index)) < 0)
        return rc;
    if ((size_t)snprintf(out, size, "%s/%s", view, virtual_path) >= size)
        return vial_error_set(-ENAMETOOLONG, "cache path too long");
    /* Fast path: the view already has it. */
    if (stat(out, &view_stat) == 0 && (uint64_t)view_stat.st_size == entry.size)
        return 0;
    if ((rc = vial_content_key(key, image, index)) < 0 ||
        (rc = materialize_content(content, sizeof content, reader, &entry, key, cache)) < 0)
        return rc;
    char *slash = strrchr(out, '/');
    *slash = '\0';
    rc = vial_mkdir_p(out, 0700);
    *slash = '/';
    if (rc < 0)
        return vial_error_set(rc, "cannot create %s: %s", out, strerror(-rc));
    if (link(content, out) == 0 || errno == EEXIST)
        return 0;
    rc = -errno;
    /* a cache on another file system than the view, or no hard links:
     * a copy, published the same way */
    if (rc != -EXDEV && rc != -EMLINK && rc != -EPERM)
        return vial_error_set(rc, "cannot link %s: %s", out, strerror(-rc));
    temp_name(temp, sizeof temp, out);
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, entry.mode & 0111 ? 0755 : 0644);
    if (fd < 0)
        return vial_error_set(-errno, "cannot create %s: %s", temp, strerror(errno));
    rc = write_content(fd, reader, index, entry.size);
    if (close(fd) < 0 && rc == 0)
        rc = vial_error_set(-errno, "cannot write %s: %s", temp, strerror(errno));
    if (rc == 0 && link(temp, out) < 0 && errno != EEXIST)
        rc = vial_error_set(-errno, "cannot store %s: %s", out, strerror(errno));
    unlink(temp);
    return rc;
}
