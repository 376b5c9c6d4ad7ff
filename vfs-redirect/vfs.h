/*
 * vfs.h - the public API of Vial's virtual namespace (libvial-vfs).
 *
 * This module grows into the layered resolver (user delta, package images,
 * host) of the `vial run` issue. What exists today is its first piece, the
 * lexical path rules every later step relies on.
 */
#ifndef VIAL_VFS_H
#define VIAL_VFS_H

#include <stddef.h>
#include <stdint.h>

struct vial_image;

/*
 * Normalizes path lexically into out (size bytes): relative paths are taken
 * from cwd (an absolute, normalized directory; may be NULL for "/"), empty
 * and "." components vanish, ".." removes the previous component and stops
 * at "/", and a trailing slash is dropped. Symlinks are not consulted: that
 * is the resolver's job. The result is absolute, starts with one "/", and
 * "/" alone for the root.
 * Returns 0, -EINVAL for an empty path, -ENAMETOOLONG if out is too small.
 */
int vial_vfs_normalize(char *out, size_t size, const char *path, const char *cwd);

/*
 * Debian 12 merged /usr: /bin, /sbin, /lib, /lib32, /lib64 and /libx32 are
 * symlinks to their /usr counterparts, yet packages still ship files under
 * the old names. Rewrites a normalized absolute path under one of those
 * aliases to its /usr form in place ("/lib/x" -> "/usr/lib/x"); returns 1 if
 * it did, 0 if the path is not under an alias, -ENAMETOOLONG if the result
 * would not fit in size.
 */
int vial_vfs_usr_merge(char *path, size_t size);

/* Where a path really is. */
enum vial_vfs_kind {
    VIAL_VFS_HOST = 1,  /* not in the image: use `path` on the host */
    VIAL_VFS_IMAGE = 2, /* an image entry: `entry`; `path` is its virtual path */
};

struct vial_vfs_result {
    enum vial_vfs_kind kind;
    uint32_t entry;
    unsigned symlinks; /* image symlinks followed on the way */
    char path[4096];   /* absolute */
};

/*
 * Resolves an absolute, normalized path (vial_vfs_normalize) through the
 * image layered over the host:
 *  - components are looked up in the image while it has them; an image
 *    entry hides the host's entry of the same path, and directories merge
 *    (what the image lacks comes from the host);
 *  - the first component the image lacks ends the walk: the rest is the
 *    host's to resolve (the kernel does it), so a host path costs one or
 *    two index lookups;
 *  - image symlinks are followed (absolute targets inside the namespace,
 *    at most 40), the last one only with follow_last; a target may lead
 *    to the host;
 *  - the merged-/usr aliases are tried both ways: /lib/x finds an image's
 *    usr/lib/x, and /usr/lib/x finds an image's lib/x.
 * Returns 0, or -ELOOP, -ENOTDIR (an image file used as a directory),
 * -ENAMETOOLONG.
 */
int vial_vfs_resolve(struct vial_vfs_result *out, const struct vial_image *image,
                     const char *path, int follow_last);

#endif
