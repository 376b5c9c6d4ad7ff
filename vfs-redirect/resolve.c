/* resolve.c - where a path of the virtual namespace really is. */
#include <errno.h>
#include <string.h>

#include "runtime/runtime.h"
#include "vfs.h"

#define RESOLVE_MAX_SYMLINKS 40

static int is_usr_alias(const char *name, size_t length)
{
    static const char *const aliases[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strlen(aliases[i]) == length && memcmp(aliases[i], name, length) == 0)
            return 1;
    return 0;
}

/* Child `name` of directory `dir`, with the merged-/usr aliases tried when
 * the literal name is absent: /lib in the root may be the image's
 * usr/lib, and usr/lib may be the image's top-level lib. */
static int child_with_alias(uint32_t *out, const struct vial_image *image, uint32_t dir,
                            const char *name, size_t length)
{
    int rc = vial_image_child(out, image, dir, name, length);
    if (rc != -ENOENT || !is_usr_alias(name, length))
        return rc;
    uint32_t usr;
    if (vial_image_child(&usr, image, 0, "usr", 3) < 0)
        return -ENOENT;
    if (dir == 0)
        return vial_image_child(out, image, usr, name, length);
    if (dir == usr)
        return vial_image_child(out, image, 0, name, length);
    return -ENOENT;
}

int vial_vfs_resolve(struct vial_vfs_result *out, const struct vial_image *image,
                     const char *path, int follow_last)
{
    char work[4096], spliced[4096];
    size_t length = strlen(path);
    out->symlinks = 0;
    if (length >= sizeof work)
        return -ENAMETOOLONG;
    memcpy(work, path, length + 1);
restart:
    /* work is absolute and normalized */
    {
        size_t position = 1;
        uint32_t entry = 0;
        while (work[position] != '\0') {
            size_t end = position + strcspn(work + position, "/");
            int last = work[end] == '\0';
            uint32_t found;
            int rc = child_with_alias(&found, image, entry, work + position, end - position);
            if (rc == -ENOENT)
                break; /* the host's from here on */
            if (rc < 0)
                return rc;
            struct vial_entry e;
            if ((rc = vial_image_entry(&e, image, found)) < 0)
                return rc;
            if (e.primary_type == VIAL_ENTRY_SYMLINK && (!last || follow_last)) {
                const char *target;
                size_t target_length;
                if (++out->symlinks > RESOLVE_MAX_SYMLINKS)
                    return -ELOOP;
                if ((rc = vial_image_readlink(&target, &target_length, image, found)) < 0)
                    return rc;
                /* target, relative to the link's directory, then the rest */
                char joined[8192];
                size_t directory = position - 1; /* "/a/b" of "/a/b/link" */
                size_t n = 0;
                if (target[0] != '/') {
                    memcpy(joined, work, directory);
                    n = directory;
                    joined[n++] = '/';
                }
                if (n + target_length + strlen(work + end) + 1 >= sizeof joined)
                    return -ENAMETOOLONG;
                memcpy(joined + n, target, target_length);
                n += target_length;
                strcpy(joined + n, work + end);
                if ((rc = vial_vfs_normalize(spliced, sizeof spliced, joined, NULL)) < 0)
                    return rc;
                strcpy(work, spliced);
                goto restart;
            }
            if (!last && e.primary_type != VIAL_ENTRY_DIRECTORY)
                return -ENOTDIR;
            entry = found;
            position = last ? end : end + 1;
            if (last) {
                out->kind = VIAL_VFS_IMAGE;
                out->entry = entry;
                strcpy(out->path, work);
                return 0;
            }
        }
        if (work[position] == '\0' && position == 1) { /* the root */
            out->kind = VIAL_VFS_IMAGE;
            out->entry = 0;
            strcpy(out->path, "/");
            return 0;
        }
    }
    out->kind = VIAL_VFS_HOST;
    out->entry = 0;
    strcpy(out->path, work);
    return 0;
}
