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

#endif
