/*
 * hooks_dir.c - directory listings that merge the image and the host.
 *
 * opendir of an image directory opens a real directory (the host's if it
 * has one, else one made in the view) so that dirfd/fchdir/openat work, and
 * readdir then serves a listing built once: the image's children, then the
 * host's entries the image does not hide.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

struct listing {
    DIR *dir;
    struct dirent *entries;
    size_t count, capacity, next;
    struct listing *link;
};

static pthread_mutex_t listings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct listing *listings;

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

/* Builds the merged listing of image directory `entry` for dir, whose real
 * directory is `real` (host entries are read only when it is the host's). */
static struct listing *build_listing(DIR *dir, uint32_t entry, int host_directory)
{
    struct listing *l = calloc(1, sizeof *l);
    const struct vial_image *image = vial_session.image;
    struct vial_entry self, e;
    uint32_t first, count;
    if (!l || vial_image_entry(&self, image, entry) < 0 ||
        vial_image_children(&first, &count, image, entry) < 0) {
        free(l);
        return NULL;
    }
    l->dir = dir;
    int rc = add_dirent(l, ".", 1, self.inode, DT_DIR);
    if (rc == 0)
        rc = add_dirent(l, "..", 2, self.parent + 1, DT_DIR);
    for (uint32_t c = first; rc == 0 && c < first + count; c++)
        if (vial_image_entry(&e, image, c) == 0)
            rc = add_dirent(l, e.name, e.name_length, e.inode, dirent_type(e.primary_type));
    if (rc == 0 && host_directory) {
        struct dirent *d;
        while ((d = REAL(readdir)(dir))) {
            uint32_t hidden;
            if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0 ||
                vial_image_child(&hidden, image, entry, d->d_name, strlen(d->d_name)) == 0)
                continue;
            if ((rc = add_dirent(l, d->d_name, strlen(d->d_name), d->d_ino, d->d_type)) < 0)
                break;
        }
    }
    if (rc < 0) {
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

static DIR *opendir_image(const struct vial_route_result *r)
{
    char real[PATH_MAX];
    struct vial_entry e;
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
    DIR *dir = REAL(opendir)(real);
    if (!dir && errno == ENOENT && vial_preload_directory(real, sizeof real, r->vfs.path, 1) == 0)
        dir = REAL(opendir)(real);
    if (!dir)
        return NULL;
    vial_busy++;
    int host = strcmp(real, r->vfs.path) == 0;
    struct listing *l = build_listing(dir, r->vfs.entry, host);
    vial_busy--;
    if (!l) {
        REAL(closedir)(dir);
        errno = ENOMEM;
        return NULL;
    }
    vial_fd_set_directory(dirfd(dir), r->vfs.path);
    vial_log(2, "opendir %s -> %s (%zu entries)", r->vfs.path, real, l->count);
    return dir;
}

__attribute__((noinline)) static DIR *opendir_slow(const char *path);

DIR *opendir(const char *path)
{
    if (vial_busy || vial_pass_through(AT_FDCWD, path))
        return REAL(opendir)(path);
    return opendir_slow(path);
}

static DIR *opendir_slow(const char *path)
{
    struct vial_route_result r;
    vial_route(&r, AT_FDCWD, path, 1);
    switch (r.route) {
    case VIAL_ROUTE_PASS:
        return REAL(opendir)(path);
    case VIAL_ROUTE_HOST:
        return REAL(opendir)(r.vfs.path);
    case VIAL_ROUTE_ERROR:
        errno = r.error;
        return NULL;
    case VIAL_ROUTE_IMAGE:
        return opendir_image(&r);
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
    if (r.route != VIAL_ROUTE_IMAGE)
        return REAL(fdopendir)(fd);
    DIR *dir = REAL(fdopendir)(fd);
    if (!dir)
        return NULL;
    char real[PATH_MAX];
    int host = vial_preload_directory(real, sizeof real, r.vfs.path, 0) == 0 &&
               strcmp(real, r.vfs.path) == 0;
    vial_busy++;
    struct listing *l = build_listing(dir, r.vfs.entry, host);
    vial_busy--;
    if (!l) {
        REAL(closedir)(dir);
        errno = ENOMEM;
        return NULL;
    }
    return dir;
}

struct dirent *readdir(DIR *dir)
{
    struct listing *l = listings ? find_listing(dir, 0) : NULL;
    if (!l)
        return REAL(readdir)(dir);
    if (l->next >= l->count)
        return NULL; /* end of directory: errno unchanged */
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
    if (l) {
        vial_fd_clear(dirfd(dir));
        free(l->entries);
        free(l);
    }
    return REAL(closedir)(dir);
}

void rewinddir(DIR *dir)
{
    struct listing *l = listings ? find_listing(dir, 0) : NULL;
    if (l)
        l->next = 0;
    else
        REAL(rewinddir)(dir);
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
static int scandir_core(const char *path, struct dirent ***out,
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

int scandir(const char *path, struct dirent ***out, int (*filter)(const struct dirent *),
            int (*compare)(const struct dirent **, const struct dirent **))
{
    if (!vial_busy) {
        struct vial_route_result r;
        vial_route(&r, AT_FDCWD, path, 1);
        if (r.route == VIAL_ROUTE_IMAGE)
            return scandir_core(r.vfs.path, out, filter, compare);
    }
    return REAL(scandir)(path, out, filter, compare);
}

int scandir64(const char *path, struct dirent64 ***out, int (*filter)(const struct dirent64 *),
              int (*compare)(const struct dirent64 **, const struct dirent64 **))
{
    return scandir(path, (struct dirent ***)out, (int (*)(const struct dirent *))filter,
                   (int (*)(const struct dirent **, const struct dirent **))compare);
}
