/*
 * hooks_dir.c - directory listings that merge the user's delta, the image
 * and the host.
 *
 * opendir of a virtual directory opens a real directory (the delta's copy,
 * else the host's if it has one, else one made in the view) so that
 * dirfd/fchdir/openat work, and readdir then serves a listing built once:
 * the delta's entries, the image's children the delta does not hide, then
 * the host's entries neither hides (none where the policy is `full` or the
 * delta made the directory opaque).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"
#include "trace.h"

struct listing {
    DIR *dir;
    char *path; /* virtual, for rewinddir to list again */
    struct dirent *entries;
    size_t count, capacity, next;
    int traced; /* vial trace: its readdir line is written */
    struct listing *link;
};

static pthread_mutex_t listings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct listing *listings;

static void free_listing(struct listing *l)
{
    free(l->path);
    free(l->entries);
    free(l);
}

static struct listing *find_listing(DIR *dir, int unlink_it)
{
    pthread_mutex_lock(&listings_lock);
    struct listing **p = &listings;
    while (*p && (*p)->dir != dir)
        p = &(*p)->link;
    struct listing *found = *p;
    if (found && unlink_it)
        *p = found->link;
    pthread_mutex_unlock(&listings_lock);
    return found;
}

static int add_dirent(struct listing *l, const char *name, size_t length, ino_t inode,
                      unsigned char type)
{
    if (length >= sizeof l->entries[0].d_name)
        return 0;
    if (l->count == l->capacity) {
        size_t capacity = l->capacity ? l->capacity * 2 : 32;
        struct dirent *grown = realloc(l->entries, capacity * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        l->entries = grown;
        l->capacity = capacity;
    }
    struct dirent *d = &l->entries[l->count++];
    memset(d, 0, offsetof(struct dirent, d_name));
    d->d_ino = inode;
    d->d_off = (off_t)l->count;
    d->d_reclen = sizeof *d;
    d->d_type = type;
    memcpy(d->d_name, name, length);
    d->d_name[length] = '\0';
    return 0;
}

static unsigned char dirent_type(uint8_t entry_type)
{
    switch (entry_type) {
    case VIAL_ENTRY_DIRECTORY: return DT_DIR;
    case VIAL_ENTRY_REGULAR: return DT_REG;
    case VIAL_ENTRY_SYMLINK: return DT_LNK;
    default: return DT_UNKNOWN;
    }
}

/* Whether the delta has (or deleted) child `name` of the directory whose
 * path hashes to parent. */
static int delta_has(uint64_t parent, const char *name)
{
    return vial_session.delta &&
           vial_delta_lookup(vial_session.delta,
                             vial_delta_hash_extend(parent, name, strlen(name))) != 0;
}

/* Adds the entries of real directory `path` that pass the filter. */
static int add_real_entries(struct listing *l, const char *path, uint64_t hash, int from_delta,
                            uint32_t image_entry, int image_below)
{
    DIR *dir = REAL(opendir)(path);
    if (!dir)
        return 0;
    struct dirent *d;
    int rc = 0;
    while (rc == 0 && (d = REAL(readdir)(dir))) {
        const char *name = d->d_name;
        uint32_t hidden;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (from_delta) {
            /* whiteouts are not entries; neither is what the table does not
             * know (left by a writer killed before it recorded it, or being
             * made right now): the listing agrees with lookups */
            uint32_t flags = vial_session.delta
                                 ? vial_delta_lookup(vial_session.delta,
                                                     vial_delta_hash_extend(hash, name, strlen(name)))
                                 : 0;
            if (strcmp(name, VIAL_DELTA_OPAQUE_NAME) == 0 || (flags & VIAL_DELTA_WHITEOUT) ||
                !(flags & VIAL_DELTA_PRESENT))
                continue;
        } else if (delta_has(hash, name) ||
                   (image_below &&
                    vial_image_child(&hidden, vial_session.image, image_entry, name,
                                     strlen(name)) == 0)) {
            continue;
        }
        rc = add_dirent(l, name, strlen(name), d->d_ino, d->d_type);
    }
    REAL(closedir)(dir);
    return rc;
}

/* Builds the listing the app sees of virtual directory r for dir. */
static struct listing *build_listing(DIR *dir, const struct vial_vfs_result *r)
{
    struct listing *l = calloc(1, sizeof *l);
    const struct vial_image *image = vial_session.image;
    struct vial_entry self, e;
    uint32_t first = 0, count = 0;
    int from_image = r->kind == VIAL_VFS_IMAGE ||
                     (r->kind == VIAL_VFS_UPPER && r->image_below &&
                      !(r->delta_flags & VIAL_DELTA_OPAQUE));
    if (!l)
        return NULL;
    if (from_image && (vial_image_entry(&self, image, r->entry) < 0 ||
                       self.primary_type != VIAL_ENTRY_DIRECTORY ||
                       vial_image_children(&first, &count, image, r->entry) < 0))
        from_image = 0;
    uint64_t hash = vial_delta_hash_path(r->path);
    l->dir = dir;
    l->path = strdup(r->path);
    int rc = add_dirent(l, ".", 1, from_image ? self.inode : 1, DT_DIR);
    if (rc == 0)
        rc = add_dirent(l, "..", 2, from_image ? self.parent + 1 : 1, DT_DIR);
    if (rc == 0 && r->kind == VIAL_VFS_UPPER)
        rc = add_real_entries(l, r->upper, hash, 1, 0, 0);
    for (uint32_t c = first; from_image && rc == 0 && c < first + count; c++) {
        if (vial_image_entry(&e, image, c) < 0)
            continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)e.name_length, e.name);
        if (!delta_has(hash, name))
            rc = add_dirent(l, e.name, e.name_length, e.inode, dirent_type(e.primary_type));
    }
    int host = r->host_visible &&
               vial_policy_of(vial_session.ns.policy, r->path) != VIAL_ISOLATION_FULL;
    if (rc == 0 && host)
        rc = add_real_entries(l, r->path, hash, 0, r->entry, from_image);
    if (rc < 0 || !l->path) {
        free(l->path);
        free(l->entries);
        free(l);
        return NULL;
    }
    pthread_mutex_lock(&listings_lock);
    l->link = listings;
    listings = l;
    pthread_mutex_unlock(&listings_lock);
    return l;
}

/* Whether r is a directory whose listing we build. */
static int is_virtual_directory(const struct vial_route_result *r)
{
    struct vial_entry e;
    if (r->route == VIAL_ROUTE_IMAGE)
        return vial_image_entry(&e, vial_session.image, r->vfs.entry) == 0 &&
               e.primary_type == VIAL_ENTRY_DIRECTORY;
    return r->resolved && r->vfs.kind == VIAL_VFS_UPPER && (r->vfs.delta_flags & VIAL_DELTA_DIR);
}

static DIR *opendir_virtual(const struct vial_route_result *r)
{
    char real[PATH_MAX];
    struct vial_entry e;
    DIR *dir;
    if (r->vfs.kind == VIAL_VFS_UPPER) {
        dir = REAL(opendir)(r->vfs.upper);
    } else {
        if (vial_image_entry(&e, vial_session.image, r->vfs.entry) < 0) {
            errno = EIO;
            return NULL;
        }
        if (e.primary_type != VIAL_ENTRY_DIRECTORY) {
            errno = ENOTDIR;
            return NULL;
        }
        if (vial_preload_directory(real, sizeof real, r->vfs.path, 0) < 0) {
            errno = EIO;
            return NULL;
        }
        dir = REAL(opendir)(real);
        if (!dir && errno == ENOENT &&
            vial_preload_directory(real, sizeof real, r->vfs.path, 1) == 0)
            dir = REAL(opendir)(real);
        VIAL_TRACE_REAL(real);
    }
    if (!dir)
        return NULL;
    vial_busy++;
    struct listing *l = build_listing(dir, &r->vfs);
    vial_busy--;
    if (!l) {
        REAL(closedir)(dir);
        errno = ENOMEM;
        return NULL;
    }
    vial_fd_set_directory(dirfd(dir), r->vfs.path);
    vial_log(2, "opendir %s (%zu entries)", r->vfs.path, l->count);
    return dir;
}

__attribute__((noinline)) static DIR *opendir_slow(const char *path);

static DIR *opendir_untraced(const char *path)
{
    /* a host directory under a virtualized policy is slow too: its
     * descriptor must be known for the *at calls that create in it */
    if (vial_write_passes(AT_FDCWD, path))
        return REAL(opendir)(path);
    return opendir_slow(path);
}

VIAL_TRACED_CORE(DIR *, opendir, "opendir", path, (const char *path), (path),
                 result ? dirfd(result) : -1, result == NULL, vial_trace_arg_string(trace, path))

DIR *opendir(const char *path)
{
    if (vial_busy)
        return REAL(opendir)(path);
    return opendir_core(path);
}

static DIR *opendir_slow(const char *path)
{
    struct vial_route_result r;
    DIR *dir;
    vial_route(&r, AT_FDCWD, path, 1);
    if (is_virtual_directory(&r))
        return opendir_virtual(&r);
    switch (r.route) {
    case VIAL_ROUTE_PASS:
    case VIAL_ROUTE_HOST:
        dir = REAL(opendir)(r.real);
        if (dir && r.resolved)
            vial_fd_set_directory(dirfd(dir), r.vfs.path);
        return dir;
    case VIAL_ROUTE_ERROR:
        errno = r.error;
        return NULL;
    case VIAL_ROUTE_IMAGE:
        return opendir_virtual(&r);
    }
    return NULL;
}

DIR *fdopendir(int fd)
{
    const char *path = vial_busy ? NULL : vial_fd_directory(fd);
    if (!path)
        return REAL(fdopendir)(fd);
    struct vial_route_result r;
    vial_route(&r, AT_FDCWD, path, 1);
    if (!is_virtual_directory(&r))
        return REAL(fdopendir)(fd);
    DIR *dir = REAL(fdopendir)(fd);
    if (!dir)
        return NULL;
    vial_busy++;
    struct listing *l = build_listing(dir, &r.vfs);
    vial_busy--;
    if (!l) {
        REAL(closedir)(dir);
        errno = ENOMEM;
        return NULL;
    }
    return dir;
}

/* vial trace: one readdir line per pass over a merged listing, when it
 * reaches its end (a line per entry would drown the trace): the entries
 * served, and the real directory opened for it. */
__attribute__((noinline)) static void trace_listing(DIR *dir, struct listing *l)
{
    struct vial_trace_frame f;
    char link[64], real[PATH_MAX];
    l->traced = 1;
    if (!vial_trace_begin(&f, "readdir", l->path))
        return;
    vial_trace_arg_int(&f, dirfd(dir));
    f.virtual_resolved = 1;
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd(dir));
    ssize_t n = REAL(readlinkat)(AT_FDCWD, link, real, sizeof real - 1);
    if (n > 0) {
        real[n] = '\0';
        vial_trace_real(real);
    }
    vial_trace_end(&f, (long long)l->count, 0);
}

struct dirent *readdir(DIR *dir)
{
    struct listing *l = listings ? find_listing(dir, 0) : NULL;
    if (!l)
        return REAL(readdir)(dir);
    if (l->next >= l->count) {
        if (VIAL_TRACING() && !l->traced)
            trace_listing(dir, l);
        return NULL; /* end of directory: errno unchanged */
    }
    return &l->entries[l->next++];
}

/* On x86_64 struct dirent64 is laid out as struct dirent. */
struct dirent64 *readdir64(DIR *dir)
{
    struct listing *l = listings ? find_listing(dir, 0) : NULL;
    if (!l)
        return REAL(readdir64)(dir);
    return (struct dirent64 *)readdir(dir);
}

int closedir(DIR *dir)
{
    struct listing *l = listings ? find_listing(dir, 1) : NULL;
    /* closedir closes the descriptor past our close(): forget it here, or
     * the next file given its number would pass for this directory */
    vial_fd_clear(dirfd(dir));
    if (l)
        free_listing(l);
    return REAL(closedir)(dir);
}

void rewinddir(DIR *dir)
{
    struct listing *l = listings ? find_listing(dir, 0) : NULL;
    if (!l) {
        /* a host directory may have become one the user changed */
        const char *path = vial_busy ? NULL : vial_fd_directory(dirfd(dir));
        struct vial_route_result r;
        REAL(rewinddir)(dir);
        if (path) {
            vial_route(&r, AT_FDCWD, path, 1);
            vial_busy++;
            if (is_virtual_directory(&r))
                build_listing(dir, &r.vfs);
            vial_busy--;
        }
        return;
    }
    /* as the kernel would, list the directory again: entries made or
     * removed since opendir show */
    struct vial_route_result r;
    vial_route(&r, AT_FDCWD, l->path, 1);
    vial_busy++;
    struct listing *fresh = is_virtual_directory(&r) ? build_listing(dir, &r.vfs) : NULL;
    vial_busy--;
    if (!fresh) {
        l->next = 0;
        return;
    }
    pthread_mutex_lock(&listings_lock);
    struct listing **p = &listings;
    while (*p && *p != l)
        p = &(*p)->link;
    if (*p)
        *p = l->link;
    pthread_mutex_unlock(&listings_lock);
    free_listing(l);
}

long telldir(DIR *dir)
{
    struct listing *l = listings ? find_listing(dir, 0) : NULL;
    return l ? (long)l->next : REAL(telldir)(dir);
}

void seekdir(DIR *dir, long position)
{
    struct listing *l = listings ? find_listing(dir, 0) : NULL;
    if (!l)
        REAL(seekdir)(dir, position);
    else if (position >= 0 && (size_t)position <= l->count)
        l->next = (size_t)position;
}

/* glibc's scandir reads through internal calls: for image directories it
 * is redone here on top of the hooked opendir/readdir. */
static int scandir_listing(const char *path, struct dirent ***out,
                        int (*filter)(const struct dirent *),
                        int (*compare)(const struct dirent **, const struct dirent **))
{
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    struct dirent **list = NULL, *d;
    size_t count = 0, capacity = 0;
    while ((d = readdir(dir))) {
        if (filter && !filter(d))
            continue;
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            struct dirent **grown = realloc(list, capacity * sizeof *grown);
            if (!grown)
                goto nomem;
            list = grown;
        }
        if (!(list[count] = malloc(sizeof *d)))
            goto nomem;
        memcpy(list[count++], d, sizeof *d);
    }
    closedir(dir);
    if (compare && count > 1)
        qsort(list, count, sizeof *list, (int (*)(const void *, const void *))compare);
    *out = list;
    return (int)count;
nomem:
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
    closedir(dir);
    errno = ENOMEM;
    return -1;
}

typedef int (*scandir_filter)(const struct dirent *);
typedef int (*scandir_compare)(const struct dirent **, const struct dirent **);

static int scandir_untraced(const char *path, struct dirent ***out, scandir_filter filter,
                            scandir_compare compare)
{
    if (!vial_busy) {
        struct vial_route_result r;
        vial_route(&r, AT_FDCWD, path, 1);
        if (is_virtual_directory(&r))
            return scandir_listing(r.vfs.path, out, filter, compare);
    }
    return REAL(scandir)(path, out, filter, compare);
}

/* one line, the number of entries (its opendir and readdir are inside) */
VIAL_TRACED_CORE(int, scandir, "scandir", path,
                 (const char *path, struct dirent ***out, scandir_filter filter,
                  scandir_compare compare),
                 (path, out, filter, compare), result, result < 0,
                 vial_trace_arg_string(trace, path))

int scandir(const char *path, struct dirent ***out, int (*filter)(const struct dirent *),
            int (*compare)(const struct dirent **, const struct dirent **))
{
    return scandir_core(path, out, filter, compare);
}

int scandir64(const char *path, struct dirent64 ***out, int (*filter)(const struct dirent64 *),
              int (*compare)(const struct dirent64 **, const struct dirent64 **))
{
    return scandir(path, (struct dirent ***)out, (int (*)(const struct dirent *))filter,
                   (int (*)(const struct dirent **, const struct dirent **))compare);
}
