/* resolve.c - where a path of the virtual namespace really is. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

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

/* Splices a symlink's target into work in place of the components up to
 * `end` (the link at [position, end)); the rest of the path follows. */
static int splice_link(char *work, size_t position, size_t end, const char *target, size_t target_length)
{
    char joined[8192], spliced[4096];
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
    int rc = vial_vfs_normalize(spliced, sizeof spliced, joined, NULL);
    if (rc < 0)
        return rc;
    strcpy(work, spliced);
    return 0;
}

static void finish(struct vial_vfs_result *out, enum vial_vfs_kind kind, const char *work,
                   const struct vial_namespace *ns)
{
    out->kind = kind;
    if (out->path != work)
        strcpy(out->path, work);
    if (kind == VIAL_VFS_UPPER)
        vial_delta_upper_path(ns->delta, out->upper, sizeof out->upper, work);
}

int vial_vfs_resolve(struct vial_vfs_result *out, const struct vial_namespace *ns,
                     const char *path, int follow_last)
{
    char *work = out->path;
    size_t length = strlen(path);
    out->symlinks = 0;
    if (length >= sizeof out->path)
        return -ENAMETOOLONG;
    memmove(work, path, length + 1);
    /* with a delta, the user's changes under /lib are kept in their /usr
     * form, as the host's merged /usr has them (an image without usr/
     * keeps its own /lib) */
    uint32_t usr;
    if (ns->delta && (!ns->image || vial_image_child(&usr, ns->image, 0, "usr", 3) == 0) &&
        vial_vfs_usr_merge(work, sizeof out->path) < 0)
        return -ENAMETOOLONG;
restart:
    out->entry = 0;
    out->delta_flags = 0;
    out->image_below = 0;
    out->host_visible = 1;
    out->upper[0] = '\0';
    out->policy = vial_policy_of(ns->policy, work);
    {
        /* a passthrough path is the host's, but its directories may hold
         * virtualized entries (~ holds ~/.config): the delta's directories
         * are walked, its other entries there ignored */
        int passthrough = out->policy == VIAL_ISOLATION_PASSTHROUGH;
        struct vial_delta *delta = ns->delta;
        const struct vial_image *image = ns->image;
        uint64_t hash = vial_delta_hash_root();
        size_t position = 1;
        uint32_t entry = 0;
        int image_here = image != NULL; /* the image has the directory walked so far */
        /* Debian packages ship both /lib/x and /usr/lib/y: under the
         * merged-/usr aliases the image's two trees are one directory, the
         * /usr one first */
        uint32_t twin = 0;
        int twin_here = 0;
        while (work[position] != '\0') {
            size_t end = position + strcspn(work + position, "/");
            int last = work[end] == '\0';
            int follow = !last || follow_last;
            uint32_t flags = 0, found = 0;
            struct vial_entry e;
            int in_image = 0, rc;
            if (delta) {
                hash = vial_delta_hash_extend(hash, work + position, end - position);
                flags = vial_delta_lookup(delta, hash);
                if (passthrough && last && !(flags & VIAL_DELTA_DIR))
                    flags = 0;
                if (passthrough)
                    flags &= ~VIAL_DELTA_OPAQUE;
            }
            uint32_t found_twin = 0;
            int in_twin = 0;
            if (image_here) {
                rc = child_with_alias(&found, image, entry, work + position, end - position);
                if (rc < 0 && rc != -ENOENT)
                    return rc;
                if (rc == 0 && (rc = vial_image_entry(&e, image, found)) < 0)
                    return rc;
                in_image = rc == 0;
            }
            if (twin_here) {
                struct vial_entry t;
                in_twin = vial_image_child(&found_twin, image, twin, work + position,
                                           end - position) == 0 &&
                          vial_image_entry(&t, image, found_twin) == 0 &&
                          (t.primary_type == VIAL_ENTRY_DIRECTORY || !in_image);
                if (in_twin && !in_image) { /* only the other tree has it */
                    found = found_twin;
                    e = t;
                    in_image = 1;
                    in_twin = 0;
                } else if (in_twin && e.primary_type != VIAL_ENTRY_DIRECTORY) {
                    in_twin = 0;
                }
            } else if (image_here && position > 1 && entry != 0 && in_image &&
                       e.primary_type == VIAL_ENTRY_DIRECTORY && is_usr_alias(work + position, end - position) &&
                       position == 5 && memcmp(work, "/usr/", 5) == 0) {
                /* /usr/lib: the image's top-level lib is its twin */
                uint32_t top;
                struct vial_entry t;
                in_twin = vial_image_child(&top, image, 0, work + position, end - position) == 0 &&
                          top != found && vial_image_entry(&t, image, top) == 0 &&
                          t.primary_type == VIAL_ENTRY_DIRECTORY;
                found_twin = top;
            }
            if (flags & VIAL_DELTA_WHITEOUT) {
                if (!last)
                    return -ENOENT;
                out->image_below = in_image;
                out->entry = found;
                out->host_visible = 0;
                finish(out, VIAL_VFS_ABSENT, work, ns);
                return 0;
            }
            if (flags & VIAL_DELTA_PRESENT) {
                if ((flags & VIAL_DELTA_SYMLINK) && follow) {
                    char link[4096], target[4096];
                    ssize_t n;
                    if (++out->symlinks > RESOLVE_MAX_SYMLINKS)
                        return -ELOOP;
                    char saved = work[end];
                    work[end] = '\0';
                    rc = vial_delta_upper_path(delta, link, sizeof link, work);
                    work[end] = saved;
                    if (rc < 0)
                        return rc;
                    n = readlink(link, target, sizeof target - 1);
                    if (n >= 0) {
                        if ((rc = splice_link(work, position, end, target, (size_t)n)) < 0)
                            return rc;
                        goto restart;
                    }
                    /* gone meanwhile: fall through to what lies below */
                } else {
                    if (last) {
                        out->delta_flags = flags;
                        out->image_below = in_image;
                        out->entry = in_image ? found : 0;
                        out->host_visible = !(flags & VIAL_DELTA_OPAQUE);
                        finish(out, VIAL_VFS_UPPER, work, ns);
                        return 0;
                    }
                    if (!(flags & VIAL_DELTA_DIR))
                        return -ENOTDIR;
                    if (flags & VIAL_DELTA_NOSEARCH) {
                        /* the user took search permission away: what lies
                         * below, lower layers included, is out of reach */
                        char saved = work[end], upper[4096];
                        work[end] = '\0';
                        rc = vial_delta_upper_path(delta, upper, sizeof upper, work);
                        work[end] = saved;
                        if (rc == 0 && faccessat(AT_FDCWD, upper, X_OK, AT_EACCESS) < 0 &&
                            errno == EACCES)
                            return -EACCES;
                    }
                    if (flags & (VIAL_DELTA_OPAQUE | VIAL_DELTA_NEW)) {
                        image_here = 0;
                        out->host_visible = 0;
                    } else {
                        image_here = in_image && e.primary_type == VIAL_ENTRY_DIRECTORY;
                        entry = found;
                        twin = found_twin;
                        twin_here = image_here && in_twin;
                    }
                    position = end + 1;
                    continue;
                }
            }
            if (in_image) {
                if (e.primary_type == VIAL_ENTRY_SYMLINK && follow) {
                    const char *target;
                    size_t target_length;
                    if (++out->symlinks > RESOLVE_MAX_SYMLINKS)
                        return -ELOOP;
                    if ((rc = vial_image_readlink(&target, &target_length, image, found)) < 0)
                        return rc;
                    if ((rc = splice_link(work, position, end, target, target_length)) < 0)
                        return rc;
                    goto restart;
                }
                if (last) {
                    out->entry = found;
                    finish(out, VIAL_VFS_IMAGE, work, ns);
                    return 0;
                }
                if (e.primary_type != VIAL_ENTRY_DIRECTORY)
                    return -ENOTDIR;
                entry = found;
                twin = found_twin;
                twin_here = in_twin;
                position = end + 1;
                continue;
            }
            /* neither layer has it: the host's from here on, unless hidden */
            if (out->host_visible) {
                char saved = work[end];
                work[end] = '\0';
                int full = ns->policy && ns->policy->has_full &&
                           vial_policy_of(ns->policy, work) == VIAL_ISOLATION_FULL;
                work[end] = saved;
                out->host_visible = !full;
            }
            if (!out->host_visible) {
                if (!last)
                    return -ENOENT;
                finish(out, VIAL_VFS_ABSENT, work, ns);
                return 0;
            }
            finish(out, VIAL_VFS_HOST, work, ns);
            return 0;
        }
        /* the root */
        if (ns->delta && (vial_delta_lookup(ns->delta, vial_delta_hash_root()) & VIAL_DELTA_DIR)) {
            finish(out, VIAL_VFS_UPPER, "/", ns);
            return 0;
        }
        finish(out, image ? VIAL_VFS_IMAGE : VIAL_VFS_HOST, "/", ns);
        return 0;
    }
}
