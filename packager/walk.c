/* walk.c - a directory tree as a source of entries. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "packer_internal.h"

/* (device, inode) of a multiply-linked file -> the path packed first. */
struct link_item {
    struct { dev_t dev; ino_t ino; } key;
    char *path;
    UT_hash_handle hh;
};

struct walk {
    struct vial_packer *packer;
    struct link_item *links;
    char host[PATH_MAX];     /* host path of the current entry */
    char relative[PATH_MAX]; /* image path of the current entry */
};

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_xattrs(struct vial_xattr **out, size_t *out_count, const char *path)
{
    char *names = NULL;
    struct vial_xattr *xattrs = NULL;
    size_t count = 0;
    int rc = 0;
    *out = NULL;
    *out_count = 0;
    ssize_t length = llistxattr(path, NULL, 0);
    if (length < 0 && (errno == ENOTSUP || errno == ENOSYS))
        return 0;
    if (length < 0)
        return vial_error_set(-errno, "%s: cannot list extended attributes: %s", path,
                              strerror(errno));
    if (length == 0)
        return 0;
    names = malloc((size_t)length);
    if (!names)
        return vial_error_set(-ENOMEM, "out of memory");
    length = llistxattr(path, names, (size_t)length);
    if (length < 0) {
        rc = vial_error_set(-errno, "%s: extended attributes changed while packing", path);
        goto out;
    }
    for (ssize_t i = 0; i < length; i += (ssize_t)strlen(names + i) + 1)
        count++;
    xattrs = calloc(count, sizeof *xattrs);
    if (!xattrs) {
        rc = vial_error_set(-ENOMEM, "out of memory");
        goto out;
    }
    count = 0;
    for (ssize_t i = 0; i < length; i += (ssize_t)strlen(names + i) + 1) {
        const char *name = names + i;
        ssize_t value_length = lgetxattr(path, name, NULL, 0);
        if (value_length < 0) {
            rc = vial_error_set(-errno, "%s: cannot read extended attribute %s: %s", path, name,
                                strerror(errno));
            goto out;
        }
        void *value = malloc((size_t)value_length + 1);
        if (!value) {
            rc = vial_error_set(-ENOMEM, "out of memory");
            goto out;
        }
        value_length = lgetxattr(path, name, value, (size_t)value_length);
        xattrs[count].name = name;
        xattrs[count].name_length = strlen(name);
        xattrs[count].value = value;
        xattrs[count].value_length = value_length < 0 ? 0 : (size_t)value_length;
        count++;
        if (value_length < 0) {
            rc = vial_error_set(-errno, "%s: extended attribute %s changed while packing", path,
                                name);
            goto out;
        }
    }
    *out = xattrs;
    *out_count = count;
    xattrs = NULL;
    names = NULL; /* the xattr names point into it; freed by free_xattrs */
out:
    if (xattrs) {
        for (size_t i = 0; i < count; i++)
            free((void *)xattrs[i].value);
        free(xattrs);
    }
    free(names);
    return rc;
}

static void free_xattrs(struct vial_xattr *xattrs, size_t count)
{
    if (!xattrs)
        return;
    for (size_t i = 0; i < count; i++)
        free((void *)xattrs[i].value);
    free((void *)xattrs[0].name); /* the names buffer */
    free(xattrs);
}

static int add_one(struct walk *walk, const struct stat *st)
{
    struct vial_pack_entry entry = {
        .path = walk->relative,
        .mode = st->st_mode & 07777,
        .uid = st->st_uid,
        .gid = st->st_gid,
        .mtime_sec = st->st_mtim.tv_sec,
        .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
    };
    char target[PATH_MAX];
    struct vial_xattr *xattrs = NULL;
    size_t xattr_count = 0;
    int rc;

    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        return vial_error_set(VIAL_EINVALID, "%s: device nodes cannot be packed", walk->host);
    if (S_ISSOCK(st->st_mode))
        return vial_error_set(VIAL_EINVALID, "%s: sockets cannot be packed", walk->host);
    if (S_ISFIFO(st->st_mode))
        return vial_error_set(VIAL_EINVALID, "%s: named pipes (FIFOs) cannot be packed",
                              walk->host);

    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
        struct link_item *link, key = {0};
        key.key.dev = st->st_dev;
        key.key.ino = st->st_ino;
        HASH_FIND(hh, walk->links, &key.key, sizeof key.key, link);
        if (link) {
            entry.type = VIAL_ENTRY_HARDLINK;
            entry.hardlink_target = link->path;
            return vial_packer_add(walk->packer, &entry);
        }
        link = calloc(1, sizeof *link);
        if (!link || !(link->path = strdup(walk->relative))) {
            free(link);
            return vial_error_set(-ENOMEM, "out of memory");
        }
        link->key = key.key;
        HASH_ADD(hh, walk->links, key, sizeof link->key, link);
    }
    if ((rc = read_xattrs(&xattrs, &xattr_count, walk->host)) < 0)
        return rc;
    entry.xattrs = xattrs;
    entry.xattr_count = xattr_count;
    if (S_ISDIR(st->st_mode)) {
        entry.type = VIAL_ENTRY_DIRECTORY;
    } else if (S_ISREG(st->st_mode)) {
        entry.type = VIAL_ENTRY_REGULAR;
        entry.size = (uint64_t)st->st_size;
        entry.source_path = walk->host;
    } else if (S_ISLNK(st->st_mode)) {
        ssize_t n = readlink(walk->host, target, sizeof target - 1);
        if (n < 0) {
            rc = vial_error_set(-errno, "%s: cannot read symlink: %s", walk->host,
                                strerror(errno));
            goto out;
        }
        target[n] = '\0';
        entry.type = VIAL_ENTRY_SYMLINK;
        entry.symlink_target = target;
    }
    rc = vial_packer_add(walk->packer, &entry);
    if (rc == VIAL_EINVALID && entry.type == VIAL_ENTRY_SYMLINK &&
        vial_symlink_escapes(walk->relative, target))
        vial_error_set(rc,
                       "%s: symlink target '%s' climbs above the image root; pack the tree at its "
                       "real location with --prefix (e.g. --prefix usr/lib/app) or fix the link",
                       walk->host, target);
    else if (rc == VIAL_EINVALID)
        vial_error_prefix(rc, "%s", walk->host);
out:
    free_xattrs(xattrs, xattr_count);
    return rc;
}

/* Adds the children of the directory at walk->host / walk->relative, in
 * sorted order, recursing into subdirectories. */
static int walk_directory(struct walk *walk, unsigned depth)
{
    size_t host_length = strlen(walk->host), relative_length = strlen(walk->relative);
    char **names = NULL;
    size_t count = 0, capacity = 0;
    int rc = 0;
    if (depth > 1024)
        return vial_error_set(VIAL_EINVALID, "%s: directories nested too deeply", walk->host);
    DIR *dir = opendir(walk->host);
    if (!dir)
        return vial_error_set(-errno, "%s: cannot read directory: %s", walk->host,
                              strerror(errno));
    struct dirent *d;
    errno = 0;
    while ((d = readdir(dir))) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            char **grown = realloc(names, capacity * sizeof *names);
            if (!grown) {
                rc = vial_error_set(-ENOMEM, "out of memory");
                goto out;
            }
            names = grown;
        }
        if (!(names[count] = strdup(d->d_name))) {
            rc = vial_error_set(-ENOMEM, "out of memory");
            goto out;
        }
        count++;
    }
    if (errno) {
        rc = vial_error_set(-errno, "%s: cannot read directory: %s", walk->host, strerror(errno));
        goto out;
    }
    if (count > 1) /* names is NULL for an empty directory */
        qsort(names, count, sizeof *names, name_compare);
    for (size_t i = 0; i < count && rc == 0; i++) {
        size_t n = strlen(names[i]);
        if (host_length + 1 + n >= sizeof walk->host ||
            relative_length + 1 + n >= sizeof walk->relative) {
            rc = vial_error_set(VIAL_EINVALID, "%s/%s: path too long", walk->host, names[i]);
            break;
        }
        snprintf(walk->host + host_length, sizeof walk->host - host_length, "/%s", names[i]);
        snprintf(walk->relative + relative_length, sizeof walk->relative - relative_length,
                 relative_length ? "/%s" : "%s", names[i]);
        struct stat st;
        if (lstat(walk->host, &st) < 0) {
            rc = vial_error_set(-errno, "%s: %s", walk->host, strerror(errno));
            break;
        }
        rc = add_one(walk, &st);
        if (rc == 0 && S_ISDIR(st.st_mode))
            rc = walk_directory(walk, depth + 1);
        walk->host[host_length] = '\0';
        walk->relative[relative_length] = '\0';
    }
out:
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    closedir(dir);
    return rc;
}

/* Adds the directories leading to prefix, then positions the walk there. */
static int add_prefix(struct walk *walk, const char *prefix, const struct stat *root)
{
    size_t length = prefix ? strlen(prefix) : 0;
    if (length == 0)
        return 0;
    if (length >= sizeof walk->relative || !vial_image_path_valid(prefix, length))
        return vial_error_set(VIAL_EINVALID,
                              "prefix '%s' is not a relative path of plain names (like opt/app)",
                              prefix);
    struct vial_pack_entry entry = {
        .type = VIAL_ENTRY_DIRECTORY,
        .mode = 0755,
        .mtime_sec = root->st_mtim.tv_sec,
        .mtime_nsec = (uint32_t)root->st_mtim.tv_nsec,
        .path = "",
    };
    uint32_t existing;
    int rc = 0;
    if (vial_pack_find(&existing, walk->packer, "", 0) < 0)
        rc = vial_packer_add(walk->packer, &entry);
    for (size_t i = 0; rc == 0 && i < length; i++) {
        if (prefix[i] != '/')
            continue;
        memcpy(walk->relative, prefix, i);
        walk->relative[i] = '\0';
        entry.path = walk->relative;
        if (vial_pack_find(&existing, walk->packer, walk->relative, i) < 0)
            rc = vial_packer_add(walk->packer, &entry);
    }
    memcpy(walk->relative, prefix, length + 1);
    return rc;
}

int vial_packer_add_tree(struct vial_packer *packer, const char *root, const char *prefix)
{
    struct walk *walk = calloc(1, sizeof *walk);
    struct stat st;
    int rc;
    if (!walk)
        return vial_error_set(-ENOMEM, "out of memory");
    walk->packer = packer;
    if (strlen(root) >= sizeof walk->host) {
        free(walk);
        return vial_error_set(-ENAMETOOLONG, "%s: path too long", root);
    }
    strcpy(walk->host, root);
    if (stat(root, &st) < 0) {
        rc = vial_error_set(-errno, "%s: %s", root, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        rc = vial_error_set(-ENOTDIR, "%s: not a directory", root);
    } else if ((rc = add_prefix(walk, prefix, &st)) == 0) {
        rc = add_one(walk, &st);
        if (rc == 0)
            rc = walk_directory(walk, 0);
    }
    struct link_item *link, *tmp;
    HASH_ITER(hh, walk->links, link, tmp) {
        HASH_DEL(walk->links, link);
        free(link->path);
        free(link);
    }
    free(walk);
    return rc;
}
