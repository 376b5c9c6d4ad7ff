/*
 * hooks_write.c - the calls that change the file system, on top of the
 * user's delta (copy-on-write).
 *
 * Every hook finds where its change lands with one of three questions:
 *  - existing_target: an entry that exists and is changed in place (open
 *    for writing, truncate, chmod, chown, utimens, xattrs, link source): a
 *    lower entry (image, or host under writecopy) is copied up first;
 *  - new_target: a name to create (mkdir, symlink, mknod, O_CREAT, link
 *    and rename targets): its parent directories are copied up first;
 *  - removal: a name to delete (unlink, rmdir, rename source): an entry a
 *    lower layer has is hidden with a whiteout.
 * The change itself is then the real call on the real path (in upper/, or
 * the host's for passthrough and merged host paths), so the kernel decides
 * errors, permissions within upper/, link counts and times; the delta's
 * table is updated after it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "preload.h"
#include "trace.h"

static int fail(int error)
{
    errno = error;
    return -1;
}

/* Where a change lands. */
struct target {
    int virtual;             /* 1: real is in upper/ (the delta); 0: real is the host's */
    int pass;                /* 0 with virtual 0: call with the caller's own arguments */
    char real[PATH_MAX];
    struct vial_route_result r;
};

static int virtualizes_writes(const struct vial_vfs_result *v)
{
    return vial_session.delta && v->policy != VIAL_ISOLATION_PASSTHROUGH;
}

/* Whether a change of existing entry v goes to the host itself: a host
 * entry where the policy is passthrough or merged, or a passthrough
 * directory the delta only mirrors. Never because the delta is missing:
 * without it, what the policy keeps off the host fails (EROFS) instead. */
static int lands_on_host(const struct vial_vfs_result *v)
{
    if (v->kind == VIAL_VFS_UPPER)
        return v->policy == VIAL_ISOLATION_PASSTHROUGH;
    return v->kind == VIAL_VFS_HOST &&
           (v->policy == VIAL_ISOLATION_PASSTHROUGH || v->policy == VIAL_ISOLATION_MERGED);
}

/* ------------------------------------------------------------- metadata */

/* The metadata the app sees for a resolved path (image, host or upper). */
static int virtual_stat(const struct vial_vfs_result *v, struct stat *st, int follow)
{
    int rc;
    switch (v->kind) {
    case VIAL_VFS_IMAGE:
        vial_preload_stat(st, v->entry);
        return 0;
    case VIAL_VFS_UPPER:
        vial_busy++;
        rc = follow ? stat(v->upper, st) : lstat(v->upper, st);
        vial_busy--;
        if (rc < 0)
            return -errno;
        vial_preload_upper_owner(st, v);
        return 0;
    case VIAL_VFS_HOST:
        vial_busy++;
        rc = follow ? stat(v->path, st) : lstat(v->path, st);
        vial_busy--;
        return rc < 0 ? -errno : 0;
    case VIAL_VFS_ABSENT:
        break;
    }
    return -ENOENT;
}

int vial_preload_permits(const struct stat *st, int mode)
{
    uid_t uid = geteuid();
    if (uid == 0)
        return !(mode & X_OK) || S_ISDIR(st->st_mode) || (st->st_mode & 0111);
    unsigned bits;
    if (st->st_uid == uid) {
        bits = (st->st_mode >> 6) & 7;
    } else {
        int member = st->st_gid == getegid();
        gid_t groups[256];
        int n = member ? 0 : getgroups(256, groups);
        for (int i = 0; i < n && !member; i++)
            member = groups[i] == st->st_gid;
        bits = member ? (st->st_mode >> 3) & 7 : st->st_mode & 7;
    }
    return ((mode & R_OK) == 0 || (bits & 4)) && ((mode & W_OK) == 0 || (bits & 2)) &&
           ((mode & X_OK) == 0 || (bits & 1));
}

/* ---------------------------------------------------------------- copy-up */

static int resolve_virtual(struct vial_vfs_result *v, const char *path, int follow)
{
    vial_busy++;
    int rc = vial_vfs_resolve(v, &vial_session.ns, path, follow);
    vial_busy--;
    return rc;
}

/* Makes sure directory `path` exists in upper/ (and its parents), copied
 * from what the app sees there. */
static int upper_directory(const char *path)
{
    if (!vial_session.delta)
        return -EROFS;
    if (strcmp(path, "/") == 0)
        return 0;
    if (vial_delta_lookup(vial_session.delta, vial_delta_hash_path(path)) & VIAL_DELTA_DIR)
        return 0;
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    int rc = upper_directory(parent);
    if (rc < 0)
        return rc;
    struct vial_vfs_result *v = malloc(sizeof *v);
    if (!v)
        return -ENOMEM;
    struct stat st;
    rc = resolve_virtual(v, path, 0);
    if (rc == 0)
        rc = virtual_stat(v, &st, 0);
    if (rc == 0 && !S_ISDIR(st.st_mode))
        rc = -ENOTDIR;
    if (rc == 0) {
        vial_busy++;
        rc = vial_delta_copy_directory(vial_session.delta, path, &st);
        vial_busy--;
    }
    free(v);
    return rc;
}

static int parent_of(char *out, size_t size, const char *path)
{
    if ((size_t)snprintf(out, size, "%s", path) >= size)
        return -ENAMETOOLONG;
    char *slash = strrchr(out, '/');
    if (!slash)
        return -EINVAL;
    if (slash == out)
        slash[1] = '\0';
    else
        *slash = '\0';
    return 0;
}

/* The extended attributes of the lower entry go with its copy (those the
 * user may set: user.* unless root). Called with vial_busy held. */
static void copy_xattrs(const struct vial_vfs_result *v)
{
    char upper[PATH_MAX];
    if (vial_delta_upper_path(vial_session.delta, upper, sizeof upper, v->path) < 0)
        return;
    if (v->kind == VIAL_VFS_IMAGE) {
        for (uint32_t i = 0;; i++) {
            struct vial_xattr x;
            char name[256];
            if (vial_image_xattr(&x, vial_session.image, v->entry, i) < 0)
                break;
            snprintf(name, sizeof name, "%.*s", (int)x.name_length, x.name);
            lsetxattr(upper, name, x.value, x.value_length, 0);
        }
        return;
    }
    char names[4096], value[4096];
    ssize_t n = llistxattr(v->path, names, sizeof names);
    for (ssize_t at = 0; n > 0 && at < n; at += (ssize_t)strlen(names + at) + 1) {
        ssize_t length = lgetxattr(v->path, names + at, value, sizeof value);
        if (length >= 0)
            lsetxattr(upper, names + at, value, (size_t)length, 0);
    }
}

/* Copies the lower entry v up into upper/ (contents only if asked). */
static int copy_up(const struct vial_vfs_result *v, int with_contents)
{
    char parent[PATH_MAX], source[PATH_MAX];
    struct stat st;
    if (!vial_session.delta)
        return -EROFS; /* the delta could not be opened: nothing may change */
    int rc = parent_of(parent, sizeof parent, v->path);
    if (rc == 0)
        rc = upper_directory(parent);
    if (rc == 0)
        rc = virtual_stat(v, &st, 0);
    if (rc < 0)
        return rc;
    vial_busy++;
    if (S_ISDIR(st.st_mode)) {
        rc = vial_delta_copy_directory(vial_session.delta, v->path, &st);
    } else if (S_ISLNK(st.st_mode)) {
        ssize_t n;
        const char *target;
        size_t length;
        if (v->kind == VIAL_VFS_IMAGE &&
            vial_image_readlink(&target, &length, vial_session.image, v->entry) == 0) {
            snprintf(source, sizeof source, "%.*s", (int)length, target);
            rc = 0;
        } else if ((n = readlink(v->path, source, sizeof source - 1)) >= 0) {
            source[n] = '\0';
        } else {
            rc = -errno;
        }
        if (rc == 0)
            rc = vial_delta_copy_symlink(vial_session.delta, v->path, source);
    } else {
        int fd = -1;
        if (with_contents) {
            if (v->kind == VIAL_VFS_IMAGE) {
                vial_busy--;
                rc = vial_preload_materialize(source, sizeof source, v->entry);
                vial_busy++;
            } else {
                snprintf(source, sizeof source, "%s", v->path);
            }
            if (rc == 0 && (fd = open(source, O_RDONLY | O_CLOEXEC)) < 0)
                rc = -errno;
        }
        if (rc == 0)
            rc = vial_delta_copy_file(vial_session.delta, v->path, fd, &st, with_contents);
        if (fd >= 0)
            close(fd);
    }
    if (rc == 0 && !S_ISLNK(st.st_mode))
        copy_xattrs(v);
    vial_busy--;
    if (rc == 0)
        vial_log(2, "copy-up %s", v->path);
    return rc;
}

/* ------------------------------------------------------------ the targets */

/* Re-resolves a host path through the host's own symlinks, so that a
 * change lands where the kernel would put it (e.g. /var/run -> /run). */
static void canonical_host(struct target *t, int follow)
{
    char canonical[PATH_MAX], parent[PATH_MAX];
    const char *name = strrchr(t->r.vfs.path, '/');
    if (t->r.vfs.kind != VIAL_VFS_HOST || !name)
        return;
    /* once the parent is the user's copy, the host's links above it were
     * resolved when it was made */
    if (!follow && vial_session.delta && parent_of(parent, sizeof parent, t->r.vfs.path) == 0 &&
        (vial_delta_lookup(vial_session.delta, vial_delta_hash_path(parent)) & VIAL_DELTA_DIR))
        return;
    vial_busy++;
    char *ok;
    if (follow) {
        ok = realpath(t->r.vfs.path, canonical);
    } else {
        ok = NULL;
        if (parent_of(parent, sizeof parent, t->r.vfs.path) == 0 && realpath(parent, canonical) &&
            strlen(canonical) + strlen(name) < sizeof canonical) {
            strcat(strcmp(canonical, "/") == 0 ? canonical + 0 : canonical,
                   strcmp(canonical, "/") == 0 ? name + 1 : name);
            ok = canonical;
        }
    }
    vial_busy--;
    if (ok && strcmp(canonical, t->r.vfs.path) != 0) {
        struct vial_vfs_result *v = malloc(sizeof *v);
        if (v && resolve_virtual(v, canonical, follow) == 0)
            t->r.vfs = *v;
        free(v);
    }
}

/* A path given with a trailing slash keeps it for the real call, so that
 * the kernel answers as it would natively (ENOTDIR, EISDIR, ENOENT). */
static void keep_slash(struct target *t)
{
    size_t n = strlen(t->real);
    if (t->r.trailing_slash && n > 1 && t->real[n - 1] != '/' && n + 1 < sizeof t->real) {
        t->real[n] = '/';
        t->real[n + 1] = '\0';
    }
}

/* The real call's (dirfd, path): a change in upper/ is made relative to
 * the store's descriptor of it, which spares the kernel walking the store's
 * own path for every call. */
/* The last upper/ directory a change was made in, kept open: an untar
 * makes its files one directory after another, and a change relative to
 * it walks one component. Valid while no directory of upper/ moved. */
static struct {
    pthread_mutex_t lock;
    char path[PATH_MAX]; /* relative to upper/ */
    size_t length;
    int fd;
    uint64_t moves;
} parent_cache = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* A forked child starts without the cache (and with the lock free): no
 * getpid() on every write to find out. */
static void forget_parent_cache(void)
{
    pthread_mutex_init(&parent_cache.lock, NULL);
    if (parent_cache.fd >= 0)
        REAL(close)(parent_cache.fd);
    parent_cache.fd = -1;
    parent_cache.length = 0;
}

static void watch_forks(void) { pthread_atfork(NULL, NULL, forget_parent_cache); }

int vial_preload_owns_fd(int fd)
{
    return fd >= 0 && fd == __atomic_load_n(&parent_cache.fd, __ATOMIC_RELAXED);
}

/* A descriptor of the upper/ directory `relative` (length n), or -1. */
static int cached_parent(const char *relative, size_t n)
{
    struct vial_delta *d = vial_session.delta;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks);
    uint64_t moves = vial_delta_moves(d);
    int fd = -1;
    pthread_mutex_lock(&parent_cache.lock);
    if (parent_cache.fd >= 0 && parent_cache.moves == moves &&
        parent_cache.length == n && memcmp(parent_cache.path, relative, n) == 0) {
        fd = parent_cache.fd;
    } else if (n < sizeof parent_cache.path) {
        char name[PATH_MAX];
        memcpy(name, relative, n);
        name[n] = '\0';
        vial_busy++;
        int opened = openat(vial_delta_upper_fd(d), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (opened >= 0) {
            /* a number of its own, out of the way of the app's */
            int high = fcntl(opened, F_DUPFD_CLOEXEC, 1100);
            if (high >= 0) {
                close(opened);
                opened = high;
            }
            if (parent_cache.fd >= 0)
                close(parent_cache.fd);
            memcpy(parent_cache.path, name, n + 1);
            parent_cache.length = n;
            parent_cache.moves = moves;
            __atomic_store_n(&parent_cache.fd, opened, __ATOMIC_RELAXED);
            fd = opened;
        }
        vial_busy--;
    }
    pthread_mutex_unlock(&parent_cache.lock);
    return fd;
}

static int real_at(const struct target *t, const char **path)
{
    VIAL_TRACE_REAL(t->real); /* every change in place or creation passes here */
    if (!t->virtual) {
        *path = t->real;
        return AT_FDCWD;
    }
    const char *relative = t->real + strlen(vial_delta_upper(vial_session.delta));
    while (*relative == '/')
        relative++;
    const char *slash = strrchr(relative, '/');
    if (slash && slash[1] != '\0') {
        int fd = cached_parent(relative, (size_t)(slash - relative));
        if (fd >= 0) {
            *path = slash + 1;
            return fd;
        }
    }
    *path = *relative ? relative : ".";
    return vial_delta_upper_fd(vial_session.delta);
}

/* Resolves (dirfd, path) for a change. Returns 0, or -errno. */
static int resolve_target(struct target *t, int dirfd, const char *path, int follow)
{
    t->virtual = 0;
    t->pass = 0;
    vial_route_write(&t->r, dirfd, path, follow);
    if (t->r.route == VIAL_ROUTE_PASS && !t->r.resolved) {
        t->pass = 1;
        return 0;
    }
    if (!t->r.resolved)
        return -(t->r.error ? t->r.error : EIO);
    canonical_host(t, follow);
    return 0;
}

/* An existing entry is changed in place: access is W_OK for contents,
 * 0 for metadata the owner changes. */
static int existing_target(struct target *t, int dirfd, const char *path, int follow, int access,
                           int with_contents)
{
    int rc = resolve_target(t, dirfd, path, follow);
    if (rc < 0 || t->pass)
        return rc;
    struct vial_vfs_result *v = &t->r.vfs;
    if (lands_on_host(v)) {
        snprintf(t->real, sizeof t->real, "%s", v->path);
        keep_slash(t);
        return 0;
    }
    switch (v->kind) {
    case VIAL_VFS_ABSENT:
        return -ENOENT;
    case VIAL_VFS_UPPER:
        /* a copy the user owns but that stands for another owner's entry:
         * the permission the app has is the virtual one */
        if (access && (v->delta_flags & VIAL_DELTA_OWNER)) {
            struct stat st;
            if ((rc = virtual_stat(v, &st, 0)) < 0)
                return rc;
            if (!vial_preload_permits(&st, access))
                return -EACCES;
        }
        t->virtual = 1;
        snprintf(t->real, sizeof t->real, "%s", v->upper);
        return 0;
    case VIAL_VFS_HOST:
        break;
    case VIAL_VFS_IMAGE:
        if (!virtualizes_writes(v))
            return -EROFS;
        break;
    }
    struct stat st;
    if ((rc = virtual_stat(v, &st, 0)) < 0)
        return rc;
    if (access && !vial_preload_permits(&st, access))
        return -EACCES;
    if ((rc = copy_up(v, with_contents)) < 0)
        return rc;
    t->virtual = 1;
    rc = vial_delta_upper_path(vial_session.delta, t->real, sizeof t->real, v->path);
    keep_slash(t);
    return rc;
}

/* Whether the entry the target resolved to exists (a system call for the
 * host's entries). */
static int target_exists(const struct target *t, struct stat *st)
{
    return virtual_stat(&t->r.vfs, st, 0) == 0;
}

/* A name is created: *exists tells the caller that it is there already
 * (then nothing was prepared). *was_whiteout: the user deleted a lower
 * entry of this name, which the new entry must keep hidden. */
static int new_target_resolved(struct target *t, int *exists, int *was_whiteout);

static int new_target(struct target *t, int dirfd, const char *path, int *exists,
                      int *was_whiteout)
{
    struct stat st;
    *exists = 0;
    *was_whiteout = 0;
    int rc = resolve_target(t, dirfd, path, 0);
    if (rc < 0 || t->pass)
        return rc;
    if (t->r.vfs.kind != VIAL_VFS_ABSENT && target_exists(t, &st)) {
        *exists = 1;
        return 0;
    }
    return new_target_resolved(t, exists, was_whiteout);
}

/* new_target for a t already resolved to a name that does not exist. */
static int new_target_resolved(struct target *t, int *exists, int *was_whiteout)
{
    struct stat st;
    int rc;
    *exists = 0;
    struct vial_vfs_result *v = &t->r.vfs;
    *was_whiteout = v->kind == VIAL_VFS_ABSENT &&
                    (vial_delta_lookup(vial_session.delta, vial_delta_hash_path(v->path)) &
                     VIAL_DELTA_WHITEOUT);
    char parent[PATH_MAX];
    if ((rc = parent_of(parent, sizeof parent, v->path)) < 0)
        return rc;
    struct vial_vfs_result *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    rc = resolve_virtual(p, parent, 1);
    int in_upper = rc == 0 && p->kind == VIAL_VFS_UPPER && p->policy != VIAL_ISOLATION_PASSTHROUGH;
    /* a parent in upper/ is a directory the kernel checks; others are
     * checked against what the app sees */
    /* (unless the copy stands for another owner's directory: the kernel
     * sees the user as its owner) */
    int kernel_checks = in_upper && (p->delta_flags & VIAL_DELTA_DIR) &&
                        !(p->delta_flags & VIAL_DELTA_OWNER);
    if (rc == 0 && !kernel_checks && (rc = virtual_stat(p, &st, 1)) == 0 && !S_ISDIR(st.st_mode))
        rc = -ENOTDIR;
    if (rc < 0) {
        free(p);
        return rc;
    }
    int host_parent = p->kind == VIAL_VFS_HOST ||
                      (p->kind == VIAL_VFS_UPPER && p->policy == VIAL_ISOLATION_PASSTHROUGH);
    int host_write = host_parent && (v->policy == VIAL_ISOLATION_MERGED ||
                                     v->policy == VIAL_ISOLATION_PASSTHROUGH);
    int refused = !host_parent && v->policy == VIAL_ISOLATION_PASSTHROUGH;
    free(p);
    if (refused)
        return -EROFS;
    if (host_write) {
        snprintf(t->real, sizeof t->real, "%s", v->path);
        keep_slash(t);
        return 0;
    }
    if (!vial_session.delta)
        return -EROFS;
    /* the kernel checks permissions in upper/; a lower parent is checked
     * against what the app sees */
    if (!kernel_checks && !vial_preload_permits(&st, W_OK | X_OK))
        return -EACCES;
    if ((rc = upper_directory(parent)) < 0)
        return rc;
    t->virtual = 1;
    rc = vial_delta_upper_path(vial_session.delta, t->real, sizeof t->real, v->path);
    keep_slash(t);
    return rc;
}

/* After the real call created t's entry in upper/: the table learns it. */
static void created(const struct target *t, int was_whiteout, uint32_t flags)
{
    if (!t->virtual)
        return;
    vial_busy++;
    if (was_whiteout && (flags & VIAL_DELTA_DIR))
        vial_delta_mark_opaque(vial_session.delta, t->r.vfs.path);
    else if (was_whiteout || (t->r.vfs.kind != VIAL_VFS_ABSENT && t->r.vfs.kind != VIAL_VFS_HOST))
        vial_delta_sync(vial_session.delta, t->r.vfs.path);
    else /* no layer had it: a directory the app made hides nothing below */
        vial_delta_record_new(vial_session.delta, t->r.vfs.path,
                              flags == VIAL_DELTA_DIR ? VIAL_DELTA_DIR | VIAL_DELTA_NEW : flags);
    vial_busy--;
}

/* A whiteout the new entry replaces goes first (a symlink cannot be
 * replaced by mkdir or O_CREAT). */
static int clear_whiteout(const struct target *t, int was_whiteout)
{
    if (!t->virtual || !was_whiteout)
        return 0;
    vial_busy++;
    int rc = vial_delta_forget(vial_session.delta, t->r.vfs.path);
    vial_busy--;
    return rc < 0 ? rc : 0;
}

/* Whether a lower layer has the entry t resolved to (then deleting it
 * needs a whiteout). */
static int lower_has(const struct vial_vfs_result *v)
{
    struct stat st;
    switch (v->kind) {
    case VIAL_VFS_IMAGE:
    case VIAL_VFS_HOST:
        return 1;
    case VIAL_VFS_UPPER:
        if (v->image_below)
            return 1;
        if (!v->host_visible)
            return 0;
        vial_busy++;
        int rc = lstat(v->path, &st);
        vial_busy--;
        return rc == 0;
    case VIAL_VFS_ABSENT:
        break;
    }
    return 0;
}

/* The number of entries the app sees in directory path (. and .. aside). */
static long visible_children(const char *path)
{
    DIR *dir = opendir(path); /* our own hook: the merged listing */
    if (!dir)
        return -errno;
    long n = 0;
    struct dirent *d;
    while ((d = readdir(dir)))
        if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
            n++;
    closedir(dir);
    return n;
}

/* Removes the virtual entry v (directory: it must be empty as the app sees
 * it). For a lower entry the parent must be writable as the app sees it. */
static int remove_virtual(const struct vial_vfs_result *v, int directory)
{
    struct stat st, parent_st;
    char parent[PATH_MAX];
    if (!vial_session.delta)
        return -EROFS;
    int rc = virtual_stat(v, &st, 0);
    if (rc < 0)
        return rc;
    if (directory && !S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (!directory && S_ISDIR(st.st_mode))
        return -EISDIR;
    if (directory) {
        long n = visible_children(v->path);
        if (n < 0)
            return (int)n;
        if (n > 0)
            return -ENOTEMPTY;
    }
    if ((rc = parent_of(parent, sizeof parent, v->path)) < 0)
        return rc;
    struct vial_vfs_result *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    rc = resolve_virtual(p, parent, 1);
    if (rc == 0)
        rc = virtual_stat(p, &parent_st, 1);
    free(p);
    if (rc < 0)
        return rc;
    if (!vial_preload_permits(&parent_st, W_OK | X_OK))
        return -EACCES;
    if ((parent_st.st_mode & S_ISVTX) && geteuid() != 0 && st.st_uid != geteuid() &&
        parent_st.st_uid != geteuid())
        return -EPERM;
    if ((rc = upper_directory(parent)) < 0)
        return rc;
    int lower = lower_has(v);
    if (VIAL_TRACING()) { /* the copy removed, or the whiteout made: upper/'s path */
        char upper[PATH_MAX];
        if (vial_delta_upper_path(vial_session.delta, upper, sizeof upper, v->path) == 0)
            vial_trace_real(upper);
    }
    vial_busy++;
    if (directory)
        vial_delta_moved(vial_session.delta);
    if (v->kind == VIAL_VFS_UPPER && !lower) {
        rc = directory ? rmdir(v->upper) : unlink(v->upper);
        rc = rc < 0 ? -errno : 0;
        if (rc == -ENOTEMPTY) /* only whiteouts left inside */
            rc = vial_delta_whiteout(vial_session.delta, v->path);
        else if (rc == 0)
            rc = vial_delta_sync(vial_session.delta, v->path);
    } else {
        rc = vial_delta_whiteout(vial_session.delta, v->path);
    }
    vial_busy--;
    vial_log(2, "remove %s (%s)", v->path, lower ? "whiteout" : "upper");
    return rc;
}

/* The resolver follows the image's and the delta's symlinks; a host
 * symlink is the kernel's, which cannot see the delta: one whose target
 * the app creates must be followed here, once the walk ends on it. */
static int follow_host_symlinks(struct target *t)
{
    for (int hops = 0; t->r.vfs.kind == VIAL_VFS_HOST && lands_on_host(&t->r.vfs) == 0; hops++) {
        char target[PATH_MAX], joined[2 * PATH_MAX], normalized[PATH_MAX];
        vial_busy++;
        ssize_t n = readlink(t->r.vfs.path, target, sizeof target - 1);
        vial_busy--;
        if (n < 0)
            return 0; /* not a symlink (or not there) */
        if (hops >= 40)
            return -ELOOP;
        target[n] = '\0';
        char parent[PATH_MAX];
        if (parent_of(parent, sizeof parent, t->r.vfs.path) < 0)
            return -ENAMETOOLONG;
        snprintf(joined, sizeof joined, "%s/%s", target[0] == '/' ? "" : parent, target);
        if (vial_vfs_normalize(normalized, sizeof normalized, joined, NULL) < 0)
            return -ENAMETOOLONG;
        int rc = resolve_virtual(&t->r.vfs, normalized, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ open */

static int open_for_write_once(int dirfd, const char *path, int flags, mode_t mode);

int vial_open_for_write(int dirfd, const char *path, int flags, mode_t mode)
{
    /* another instance may create the file between our look and our
     * create: then it exists, and the open is tried again as such */
    int fd = -1;
    for (int attempt = 0; attempt < 50; attempt++) {
        if ((fd = open_for_write_once(dirfd, path, flags, mode)) != -1 || errno != EAGAIN)
            break;
        sched_yield(); /* its table entry is on the way */
    }
    if (fd < 0) {
        int error = errno;
        vial_log(2, "open %s for writing failed: %s", path, strerror(error));
        errno = error;
    }
    return fd;
}

static int open_for_write_once(int dirfd, const char *path, int flags, mode_t mode)
{
    struct target *t = malloc(sizeof *t);
    int rc, fd;
    if (!t)
        return fail(ENOMEM);
    if ((flags & O_TMPFILE) == O_TMPFILE) {
        rc = existing_target(t, dirfd, path, 1, W_OK | X_OK, 0);
        if (rc < 0) {
            free(t);
            return fail(-rc);
        }
        const char *at_path;
        int at = real_at(t, &at_path);
        fd = t->pass ? REAL(openat)(dirfd, path, flags, mode) : REAL(openat)(at, at_path, flags, mode);
        free(t);
        return fd;
    }
    /* O_CREAT|O_EXCL never follows a final symlink (a dangling one is EEXIST) */
    int follow = !(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL));
    rc = resolve_target(t, dirfd, path, follow);
    if (rc == 0 && follow && !t->pass)
        rc = follow_host_symlinks(t);
    if (rc == 0 && t->pass) {
        free(t);
        return REAL(openat)(dirfd, path, flags, mode);
    }
    struct stat st;
    int exists = rc == 0 && t->r.vfs.kind != VIAL_VFS_ABSENT && target_exists(t, &st);
    int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    if (rc == 0 && exists) {
        if ((flags & O_CREAT) && (flags & O_EXCL))
            rc = -EEXIST;
        else if (S_ISDIR(st.st_mode) && (writes || (flags & O_CREAT)))
            rc = -EISDIR;
        else if (S_ISLNK(st.st_mode) && (flags & O_NOFOLLOW))
            rc = -ELOOP;
        else if (!writes) {
            free(t);
            return -2; /* a plain read: the caller opens it */
        }
        if (rc == 0)
            rc = existing_target(t, dirfd, path, follow, W_OK, !(flags & O_TRUNC));
        if (rc == 0) {
            const char *at_path;
            int at = real_at(t, &at_path);
            fd = REAL(openat)(at, at_path, flags, mode);
            /* with O_CREAT the kernel may have made it anew, had another
             * instance just deleted it: the table learns what is there */
            if (fd >= 0 && (flags & O_CREAT) && t->virtual) {
                vial_busy++;
                vial_delta_sync(vial_session.delta, t->r.vfs.path);
                vial_busy--;
            }
            vial_log(2, "open %s for writing -> %s = %d", t->r.vfs.path, t->real, fd);
            free(t);
            return fd;
        }
    } else if (rc == 0 && !(flags & O_CREAT)) {
        rc = -ENOENT;
    } else if (rc == 0 && t->r.trailing_slash) {
        rc = -EISDIR; /* open("new/", O_CREAT) makes no directory */
    } else if (rc == 0) {
        int was_whiteout = 0, again;
        rc = new_target_resolved(t, &again, &was_whiteout);
        if (rc == 0 && again)
            rc = -EAGAIN; /* appeared meanwhile: let the kernel decide below */
        if (rc == 0)
            rc = clear_whiteout(t, was_whiteout);
        if (rc == 0) {
            /* exclusive in upper/: a file another instance made meanwhile
             * is opened as an existing one (EAGAIN: try again) */
            int exclusive = t->virtual && !(flags & O_EXCL);
            const char *at_path;
            int at = real_at(t, &at_path);
            fd = REAL(openat)(at, at_path, flags | (exclusive ? O_EXCL : 0), mode);
            if (fd < 0 && exclusive && errno == EEXIST) {
                /* there, and the table did not say so yet: make it true */
                vial_busy++;
                vial_delta_sync(vial_session.delta, t->r.vfs.path);
                vial_busy--;
                free(t);
                return fail(EAGAIN);
            }
            if (fd >= 0)
                created(t, was_whiteout, VIAL_DELTA_FILE);
            vial_log(2, "create %s -> %s = %d", t->r.vfs.path, t->real, fd);
            free(t);
            return fd;
        }
    }
    free(t);
    return fail(-rc);
}

int vial_fopen_target(const char *path, int flags, char *real, size_t size)
{
    /* created or copied up here; fopen then opens the real file itself */
    int fd = vial_open_for_write(AT_FDCWD, path, flags & ~O_TRUNC, 0666);
    if (fd == -2)
        return 0;
    if (fd < 0)
        return -errno;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    vial_busy++;
    ssize_t n = readlink(link, real, size - 1);
    close(fd);
    vial_busy--;
    if (n <= 0)
        return -EIO;
    real[n] = '\0';
    return 1;
}

/* ---------------------------------------------------------- entry points */

#define PASS_IF(condition, call)                                                                   \
    do {                                                                                           \
        if (condition)                                                                             \
            return call;                                                                           \
    } while (0)

/* The real call that makes an entry of one kind. */
static int create_real(int dirfd, const char *path, uint32_t kind, const char *link_target,
                       mode_t mode, dev_t device)
{
    return kind == VIAL_DELTA_DIR       ? REAL(mkdirat)(dirfd, path, mode)
           : kind == VIAL_DELTA_SYMLINK ? REAL(symlinkat)(link_target, dirfd, path)
                                        : REAL(mknodat)(dirfd, path, mode, device);
}

/* mkdir, symlink, mknod: a new entry of one kind. */
static int create_entry(int dirfd, const char *path, uint32_t kind, const char *link_target,
                        mode_t mode, dev_t device)
{
    struct target *t = malloc(sizeof *t);
    int exists, was_whiteout, rc;
    if (!t)
        return fail(ENOMEM);
    rc = new_target(t, dirfd, path, &exists, &was_whiteout);
    if (rc == 0 && exists)
        rc = -EEXIST;
    if (rc == 0 && t->pass) {
        free(t);
        return create_real(dirfd, path, kind, link_target, mode, device);
    }
    if (rc == 0)
        rc = clear_whiteout(t, was_whiteout);
    if (rc == 0) {
        const char *at_path;
        int at = real_at(t, &at_path);
        rc = create_real(at, at_path, kind, link_target, mode, device) < 0 ? -errno : 0;
        if (rc == 0)
            created(t, was_whiteout, kind);
    }
    free(t);
    return rc < 0 ? fail(-rc) : 0;
}

static int create_untraced(int dirfd, const char *path, uint32_t kind, const char *link_target,
                           mode_t mode, dev_t device)
{
    PASS_IF(vial_busy || vial_write_passes(dirfd, path),
            create_real(dirfd, path, kind, link_target, mode, device));
    if (kind == VIAL_DELTA_SYMLINK && strcmp(link_target, VIAL_DELTA_WHITEOUT_TARGET) == 0)
        return fail(EINVAL);
    return create_entry(dirfd, path, kind, link_target, mode, device);
}

VIAL_TRACED_CORE(int, create,
                 kind == VIAL_DELTA_DIR       ? "mkdir"
                 : kind == VIAL_DELTA_SYMLINK ? "symlink"
                                              : "mknod",
                 path,
                 (int dirfd, const char *path, uint32_t kind, const char *link_target, mode_t mode,
                  dev_t device),
                 (dirfd, path, kind, link_target, mode, device), result, result < 0,
                 if (kind == VIAL_DELTA_SYMLINK) vial_trace_arg_string(trace, link_target);
                 vial_trace_arg_dirfd(trace, dirfd); vial_trace_arg_string(trace, path);
                 if (kind != VIAL_DELTA_SYMLINK) vial_trace_arg_mode(trace, mode);
                 if (kind == VIAL_DELTA_FILE) vial_trace_arg_int(trace, (long long)device))

int mkdir(const char *path, mode_t mode)
{
    return create_core(AT_FDCWD, path, VIAL_DELTA_DIR, NULL, mode, 0);
}
int mkdirat(int dirfd, const char *path, mode_t mode)
{
    return create_core(dirfd, path, VIAL_DELTA_DIR, NULL, mode, 0);
}
int symlink(const char *target, const char *path)
{
    return create_core(AT_FDCWD, path, VIAL_DELTA_SYMLINK, target, 0, 0);
}
int symlinkat(const char *target, int dirfd, const char *path)
{
    return create_core(dirfd, path, VIAL_DELTA_SYMLINK, target, 0, 0);
}
int mknodat(int dirfd, const char *path, mode_t mode, dev_t device)
{
    return create_core(dirfd, path, VIAL_DELTA_FILE, NULL, mode, device);
}
int mknod(const char *path, mode_t mode, dev_t device) { return mknodat(AT_FDCWD, path, mode, device); }
int mkfifoat(int dirfd, const char *path, mode_t mode)
{
    return mknodat(dirfd, path, (mode & 07777) | S_IFIFO, 0);
}
int mkfifo(const char *path, mode_t mode) { return mkfifoat(AT_FDCWD, path, mode); }

/* unlink, rmdir */
static int remove_entry(int dirfd, const char *path, int directory)
{
    struct target *t = malloc(sizeof *t);
    if (!t)
        return fail(ENOMEM);
    int rc = resolve_target(t, dirfd, path, 0);
    if (rc == 0 && (t->pass || lands_on_host(&t->r.vfs))) {
        const char *real = t->pass ? path : t->r.vfs.path;
        int at = t->pass ? dirfd : AT_FDCWD;
        if (!t->pass)
            VIAL_TRACE_REAL(real);
        rc = REAL(unlinkat)(at, real, directory ? AT_REMOVEDIR : 0);
        free(t);
        return rc;
    }
    if (rc == 0 && t->r.last_dot) /* rmdir("d/.") EINVAL, rmdir("d/..") ENOTEMPTY */
        rc = !directory ? -EISDIR : t->r.last_dot == 1 ? -EINVAL : -ENOTEMPTY;
    else if (rc == 0 && t->r.vfs.kind == VIAL_VFS_ABSENT)
        rc = -ENOENT;
    else if (rc == 0 && t->r.vfs.kind == VIAL_VFS_IMAGE && !virtualizes_writes(&t->r.vfs))
        rc = -EROFS;
    struct stat st;
    if (rc == 0 && (rc = virtual_stat(&t->r.vfs, &st, 0)) == 0 && t->r.trailing_slash &&
        !S_ISDIR(st.st_mode))
        rc = -ENOTDIR;
    if (rc == 0)
        rc = remove_virtual(&t->r.vfs, directory);
    free(t);
    return rc < 0 ? fail(-rc) : 0;
}

static int remove_untraced(int dirfd, const char *path, int flags)
{
    PASS_IF(vial_busy || vial_write_passes(dirfd, path), REAL(unlinkat)(dirfd, path, flags));
    return remove_entry(dirfd, path, (flags & AT_REMOVEDIR) != 0);
}

VIAL_TRACED_CORE(int, remove, flags & AT_REMOVEDIR ? "rmdir" : "unlink", path,
                 (int dirfd, const char *path, int flags), (dirfd, path, flags), result, result < 0,
                 vial_trace_arg_dirfd(trace, dirfd); vial_trace_arg_string(trace, path);
                 vial_trace_arg_unlink_flags(trace, flags))

int unlink(const char *path) { return remove_core(AT_FDCWD, path, 0); }
int unlinkat(int dirfd, const char *path, int flags) { return remove_core(dirfd, path, flags); }
int rmdir(const char *path) { return remove_core(AT_FDCWD, path, AT_REMOVEDIR); }

/* chmod, chown, truncate, utimens, xattrs: one existing entry changed. */
enum change { CHANGE_MODE, CHANGE_OWNER, CHANGE_SIZE, CHANGE_TIMES, CHANGE_XATTR, CHANGE_XATTR_REMOVE };

struct change_args {
    mode_t mode;
    uid_t uid;
    gid_t gid;
    off_t length;
    const struct timespec *times;
    const char *name;
    const void *value;
    size_t size;
    int flags;    /* setxattr's */
    int at_flags; /* the *at form's (AT_SYMLINK_NOFOLLOW: the l- forms) */
};

/* The real call, on (at, at_path), or on path for the calls without an
 * *at form. */
static int apply_at(int at, const char *at_path, const char *path, enum change what,
                    const struct change_args *a)
{
    int follow = !(a->at_flags & AT_SYMLINK_NOFOLLOW);
    switch (what) {
    case CHANGE_MODE:
        return REAL(fchmodat)(at, at_path, a->mode, a->at_flags);
    case CHANGE_OWNER:
        return REAL(fchownat)(at, at_path, a->uid, a->gid, a->at_flags);
    case CHANGE_SIZE:
        return REAL(truncate)(path, a->length);
    case CHANGE_TIMES:
        return REAL(utimensat)(at, at_path, a->times, a->at_flags);
    case CHANGE_XATTR:
        return follow ? REAL(setxattr)(path, a->name, a->value, a->size, a->flags)
                      : REAL(lsetxattr)(path, a->name, a->value, a->size, a->flags);
    case CHANGE_XATTR_REMOVE:
        return follow ? REAL(removexattr)(path, a->name) : REAL(lremovexattr)(path, a->name);
    }
    return fail(EINVAL);
}

static int apply_change(const struct target *t, enum change what, const struct change_args *a)
{
    const char *at_path;
    int at = real_at(t, &at_path);
    return apply_at(at, at_path, t->real, what, a);
}

/* Whether the app may change metadata `what` of an entry it sees as st. */
static int may_change(const struct stat *st, enum change what, const struct change_args *a)
{
    uid_t uid = geteuid();
    if (uid == 0)
        return 0;
    switch (what) {
    case CHANGE_SIZE:
        return vial_preload_permits(st, W_OK) ? 0 : -EACCES;
    case CHANGE_TIMES: {
        int to_now = !a->times || (a->times[0].tv_nsec == UTIME_NOW && a->times[1].tv_nsec == UTIME_NOW);
        if (st->st_uid == uid || (to_now && vial_preload_permits(st, W_OK)))
            return 0;
        return to_now ? -EACCES : -EPERM;
    }
    case CHANGE_OWNER:
        return 0; /* virtualized: recorded for the app when the kernel refuses */
    default:
        return st->st_uid == uid ? 0 : -EPERM;
    }
}

static int change_entry(int dirfd, const char *path, int follow, enum change what,
                        const struct change_args *a)
{
    struct target *t = malloc(sizeof *t);
    if (!t)
        return fail(ENOMEM);
    int rc = resolve_target(t, dirfd, path, follow);
    if (rc == 0 && t->pass) {
        free(t);
        return -2;
    }
    struct stat st;
    if (rc == 0 && (rc = virtual_stat(&t->r.vfs, &st, follow)) == 0)
        rc = may_change(&st, what, a);
    if (rc == 0)
        rc = existing_target(t, dirfd, path, follow, 0, what != CHANGE_SIZE || a->length > 0);
    if (rc == 0 && t->pass) {
        free(t);
        return -2;
    }
    if (rc == 0) {
        rc = apply_change(t, what, a) < 0 ? -errno : 0;
        if (rc == 0 && what == CHANGE_MODE && t->virtual && S_ISDIR(st.st_mode)) {
            /* the resolver checks search permission below such a directory */
            vial_busy++;
            vial_delta_sync(vial_session.delta, t->r.vfs.path);
            vial_busy--;
        }
        if (rc == -EPERM && what == CHANGE_OWNER && t->virtual) {
            /* the user may not give the file away: the app sees it done */
            uid_t uid = a->uid == (uid_t)-1 ? st.st_uid : a->uid;
            gid_t gid = a->gid == (gid_t)-1 ? st.st_gid : a->gid;
            vial_busy++;
            rc = vial_delta_set_owner(vial_session.delta, t->r.vfs.path, uid, gid);
            vial_busy--;
        }
    }
    free(t);
    return rc < 0 ? fail(-rc) : 0;
}

static int change_untraced(int dirfd, const char *path, enum change what,
                           const struct change_args *a)
{
    if (what == CHANGE_SIZE && a->length < 0 && !vial_busy)
        return fail(EINVAL); /* checked before the path, as the kernel does */
    int rc = vial_busy || vial_write_passes(dirfd, path)
                 ? -2
                 : change_entry(dirfd, path, !(a->at_flags & AT_SYMLINK_NOFOLLOW), what, a);
    return rc == -2 ? apply_at(dirfd, path, path, what, a) : rc;
}

static const char *change_name(enum change what, int at_flags)
{
    static const char *const names[] = {"chmod", "chown", "truncate", "utimensat",
                                        "setxattr", "removexattr"};
    static const char *const l_names[] = {"lsetxattr", "lremovexattr"};
    if (what >= CHANGE_XATTR && (at_flags & AT_SYMLINK_NOFOLLOW))
        return l_names[what - CHANGE_XATTR];
    return names[what];
}

static void trace_change(struct vial_trace_frame *trace, int dirfd, const char *path,
                         enum change what, const struct change_args *a)
{
    if (what < CHANGE_SIZE || what == CHANGE_TIMES)
        vial_trace_arg_dirfd(trace, dirfd);
    vial_trace_arg_string(trace, path);
    switch (what) {
    case CHANGE_MODE:
        vial_trace_arg_mode(trace, a->mode);
        break;
    case CHANGE_OWNER:
        vial_trace_arg_int(trace, (int)a->uid);
        vial_trace_arg_int(trace, (int)a->gid);
        break;
    case CHANGE_SIZE:
        vial_trace_arg_int(trace, (long long)a->length);
        break;
    case CHANGE_TIMES:
        vial_trace_arg_times(trace, a->times);
        break;
    case CHANGE_XATTR:
        vial_trace_arg_string(trace, a->name);
        vial_trace_arg_int(trace, (long long)a->size);
        vial_trace_arg_xattr_flags(trace, a->flags);
        return;
    case CHANGE_XATTR_REMOVE:
        vial_trace_arg_string(trace, a->name);
        return;
    }
    if (what != CHANGE_SIZE)
        vial_trace_arg_at_flags(trace, a->at_flags);
}

VIAL_TRACED_CORE(int, change, change_name(what, a->at_flags), path,
                 (int dirfd, const char *path, enum change what, const struct change_args *a),
                 (dirfd, path, what, a), result, result < 0,
                 trace_change(trace, dirfd, path, what, a))

int chmod(const char *path, mode_t mode)
{
    return change_core(AT_FDCWD, path, CHANGE_MODE, &(struct change_args){.mode = mode});
}
int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
    return change_core(dirfd, path, CHANGE_MODE,
                       &(struct change_args){.mode = mode, .at_flags = flags});
}
int chown(const char *path, uid_t uid, gid_t gid)
{
    return change_core(AT_FDCWD, path, CHANGE_OWNER, &(struct change_args){.uid = uid, .gid = gid});
}
int lchown(const char *path, uid_t uid, gid_t gid)
{
    return change_core(AT_FDCWD, path, CHANGE_OWNER,
                       &(struct change_args){.uid = uid, .gid = gid, .at_flags = AT_SYMLINK_NOFOLLOW});
}
int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
    if (path[0] == '\0') /* AT_EMPTY_PATH: the descriptor itself */
        return REAL(fchownat)(dirfd, path, uid, gid, flags);
    return change_core(dirfd, path, CHANGE_OWNER,
                       &(struct change_args){.uid = uid, .gid = gid, .at_flags = flags});
}
int truncate(const char *path, off_t length)
{
    return change_core(AT_FDCWD, path, CHANGE_SIZE, &(struct change_args){.length = length});
}
int truncate64(const char *path, off_t length) { return truncate(path, length); }
int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
    /* futimens passes no path (glibc declares it nonnull all the same) */
    const char *volatile maybe_null = path;
    if (!maybe_null)
        return REAL(utimensat)(dirfd, path, times, flags);
    return change_core(dirfd, path, CHANGE_TIMES,
                       &(struct change_args){.times = times, .at_flags = flags});
}

static const struct timespec *timevals_to_timespecs(const struct timeval tv[2], struct timespec ts[2])
{
    if (!tv)
        return NULL;
    for (int i = 0; i < 2; i++) {
        ts[i].tv_sec = tv[i].tv_sec;
        ts[i].tv_nsec = tv[i].tv_usec * 1000;
    }
    return ts;
}
/* glibc's utimes, lutimes, futimesat and utime reach the kernel directly */
int utimes(const char *path, const struct timeval tv[2])
{
    struct timespec ts[2];
    return utimensat(AT_FDCWD, path, timevals_to_timespecs(tv, ts), 0);
}
int lutimes(const char *path, const struct timeval tv[2])
{
    struct timespec ts[2];
    return utimensat(AT_FDCWD, path, timevals_to_timespecs(tv, ts), AT_SYMLINK_NOFOLLOW);
}
int futimesat(int dirfd, const char *path, const struct timeval tv[2])
{
    struct timespec ts[2];
    const char *volatile maybe_null = path; /* NULL: the descriptor itself */
    if (!maybe_null)
        return REAL(futimesat)(dirfd, path, tv);
    return utimensat(dirfd, path, timevals_to_timespecs(tv, ts), 0);
}
int utime(const char *path, const struct utimbuf *times)
{
    struct timespec ts[2];
    if (times) {
        ts[0] = (struct timespec){.tv_sec = times->actime};
        ts[1] = (struct timespec){.tv_sec = times->modtime};
    }
    return utimensat(AT_FDCWD, path, times ? ts : NULL, 0);
}

int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)
{
    return change_core(AT_FDCWD, path, CHANGE_XATTR,
                       &(struct change_args){.name = name, .value = value, .size = size, .flags = flags});
}
int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)
{
    return change_core(AT_FDCWD, path, CHANGE_XATTR,
                       &(struct change_args){.name = name, .value = value, .size = size,
                                             .flags = flags, .at_flags = AT_SYMLINK_NOFOLLOW});
}
int removexattr(const char *path, const char *name)
{
    return change_core(AT_FDCWD, path, CHANGE_XATTR_REMOVE, &(struct change_args){.name = name});
}
int lremovexattr(const char *path, const char *name)
{
    return change_core(AT_FDCWD, path, CHANGE_XATTR_REMOVE,
                       &(struct change_args){.name = name, .at_flags = AT_SYMLINK_NOFOLLOW});
}

/* ------------------------------------------------------------------ link */

/* Whether neither end of a two-path call (link, rename) is virtual. */
static int both_pass(int fromfd, const char *from, int tofd, const char *to)
{
    return vial_busy || ((from[0] == '\0' || vial_write_passes(fromfd, from)) &&
                         vial_write_passes(tofd, to));
}

/* vial trace: where the two ends of the real call are (real NULL: the
 * end passed through as the app named it). */
static void trace_ends(const struct target *from, const char *from_real, const struct target *to,
                       const char *to_real)
{
    if (!VIAL_TRACING())
        return;
    vial_trace_ends(from && from->r.resolved ? from->r.vfs.path : NULL, from_real,
                    to && to->r.resolved ? to->r.vfs.path : NULL, to_real);
}

/* The traced shape of a two-path call: both paths, the flags by name. */
#define TWO_PATH_CORE(name, flags_type, decode_flags)                                              \
    VIAL_TRACED_CORE(int, name, #name, from,                                                       \
                     (int fromfd, const char *from, int tofd, const char *to, flags_type flags),   \
                     (fromfd, from, tofd, to, flags), result, result < 0,                          \
                     vial_trace_second_path(trace, to); vial_trace_arg_dirfd(trace, fromfd);       \
                     vial_trace_arg_string(trace, from); vial_trace_arg_dirfd(trace, tofd);        \
                     vial_trace_arg_string(trace, to); decode_flags(trace, flags))

static int link_virtual(int fromfd, const char *from, int tofd, const char *to, int flags)
{
    struct target *source = malloc(sizeof *source), *target = malloc(sizeof *target);
    int rc = source && target ? 0 : -ENOMEM, exists = 0, was_whiteout = 0;
    int empty = from && from[0] == '\0' && (flags & AT_EMPTY_PATH);
    if (rc == 0 && !empty)
        rc = existing_target(source, fromfd, from, (flags & AT_SYMLINK_FOLLOW) != 0, 0, 1);
    if (rc == 0)
        rc = new_target(target, tofd, to, &exists, &was_whiteout);
    if (rc == 0 && exists)
        rc = -EEXIST;
    if (rc == 0)
        rc = clear_whiteout(target, was_whiteout);
    if (rc == 0) {
        int at_from = empty || source->pass ? fromfd : AT_FDCWD;
        const char *real_from = empty || source->pass ? from : source->real;
        int at_to = target->pass ? tofd : AT_FDCWD;
        const char *real_to = target->pass ? to : target->real;
        trace_ends(empty ? NULL : source, real_from, target, real_to);
        rc = REAL(linkat)(at_from, real_from, at_to, real_to, flags) < 0 ? -errno : 0;
        if (rc == 0)
            created(target, 0, VIAL_DELTA_FILE);
    }
    free(source);
    free(target);
    return rc < 0 ? fail(-rc) : 0;
}

static int link_untraced(int fromfd, const char *from, int tofd, const char *to, int flags)
{
    PASS_IF(both_pass(fromfd, from, tofd, to), REAL(linkat)(fromfd, from, tofd, to, flags));
    return link_virtual(fromfd, from, tofd, to, flags);
}
TWO_PATH_CORE(link, int, vial_trace_arg_at_flags)

int link(const char *from, const char *to) { return link_core(AT_FDCWD, from, AT_FDCWD, to, 0); }
int linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
    return link_core(fromfd, from, tofd, to, flags);
}

/* ---------------------------------------------------------------- rename */

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

/* RENAME_EXCHANGE: both ends are copied up (a lower directory cannot be:
 * EXDEV), swapped in upper/, and the table learns their new kinds. */
static int exchange(struct target *a, struct target *b, const struct stat *a_st)
{
    struct stat b_st;
    int rc = virtual_stat(&b->r.vfs, &b_st, 0);
    if (rc < 0)
        return rc;
    if (a->pass || b->pass || lands_on_host(&a->r.vfs) || lands_on_host(&b->r.vfs)) {
        if (!(a->pass || lands_on_host(&a->r.vfs)) || !(b->pass || lands_on_host(&b->r.vfs)))
            return -EXDEV; /* one end on the host, the other in the delta */
        const char *a_real = a->pass ? a->r.real : a->r.vfs.path;
        const char *b_real = b->pass ? b->r.real : b->r.vfs.path;
        trace_ends(a, a_real, b, b_real);
        return REAL(renameat2)(AT_FDCWD, a_real, AT_FDCWD, b_real, RENAME_EXCHANGE) < 0 ? -errno : 0;
    }
    if ((S_ISDIR(a_st->st_mode) && lower_has(&a->r.vfs)) ||
        (S_ISDIR(b_st.st_mode) && lower_has(&b->r.vfs)))
        return -EXDEV;
    if ((rc = existing_target(a, AT_FDCWD, a->r.vfs.path, 0, 0, 1)) < 0 ||
        (rc = existing_target(b, AT_FDCWD, b->r.vfs.path, 0, 0, 1)) < 0)
        return rc;
    trace_ends(a, a->real, b, b->real);
    if (REAL(renameat2)(AT_FDCWD, a->real, AT_FDCWD, b->real, RENAME_EXCHANGE) < 0)
        return -errno;
    uint32_t a_kind = S_ISDIR(a_st->st_mode) ? VIAL_DELTA_DIR : S_ISLNK(a_st->st_mode) ? VIAL_DELTA_SYMLINK : VIAL_DELTA_FILE;
    uint32_t b_kind = S_ISDIR(b_st.st_mode) ? VIAL_DELTA_DIR : S_ISLNK(b_st.st_mode) ? VIAL_DELTA_SYMLINK : VIAL_DELTA_FILE;
    vial_busy++;
    vial_delta_sync(vial_session.delta, a->r.vfs.path);
    vial_delta_sync(vial_session.delta, b->r.vfs.path);
    if (a_kind == VIAL_DELTA_DIR || b_kind == VIAL_DELTA_DIR)
        vial_delta_moved(vial_session.delta);
    if (a_kind == VIAL_DELTA_DIR)
        vial_delta_rescan(vial_session.delta, b->r.vfs.path);
    if (b_kind == VIAL_DELTA_DIR)
        vial_delta_rescan(vial_session.delta, a->r.vfs.path);
    vial_busy--;
    return 0;
}

static int rename_virtual(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
    struct target *source = malloc(sizeof *source), *target = malloc(sizeof *target);
    int rc = source && target ? 0 : -ENOMEM;
    struct stat from_st, to_st;
    int exists = 0, was_whiteout = 0, to_is_dir = 0;
    if (rc == 0)
        rc = resolve_target(source, fromfd, from, 0);
    if (rc == 0 && !source->pass && source->r.vfs.kind == VIAL_VFS_ABSENT)
        rc = -ENOENT;
    if (rc == 0 && source->r.last_dot)
        rc = -EBUSY;
    if (rc == 0 && !source->pass && (rc = virtual_stat(&source->r.vfs, &from_st, 0)) == 0 &&
        source->r.vfs.kind == VIAL_VFS_IMAGE && !virtualizes_writes(&source->r.vfs))
        rc = -EROFS;
    if (rc == 0 && source->pass && REAL(fstatat)(fromfd, from, &from_st, AT_SYMLINK_NOFOLLOW) < 0)
        rc = -errno;
    if (rc == 0)
        rc = new_target(target, tofd, to, &exists, &was_whiteout);
    if (rc == 0 && target->r.last_dot)
        rc = -EBUSY;
    if (rc == 0 && (source->r.trailing_slash || target->r.trailing_slash) &&
        !S_ISDIR(from_st.st_mode))
        rc = -ENOTDIR;
    if (rc == 0 && (flags & RENAME_EXCHANGE)) {
        rc = exists ? exchange(source, target, &from_st) : -ENOENT;
        free(source);
        free(target);
        return rc < 0 ? fail(-rc) : 0;
    }
    if (rc == 0 && exists) {
        /* the target's entry: its place and type */
        if (flags & RENAME_NOREPLACE)
            rc = -EEXIST;
        else if ((rc = virtual_stat(&target->r.vfs, &to_st, 0)) == 0) {
            to_is_dir = S_ISDIR(to_st.st_mode);
            if (from_st.st_ino == to_st.st_ino && from_st.st_dev == to_st.st_dev) {
                free(source);
                free(target);
                return 0; /* the same file: nothing to do */
            }
            if (S_ISDIR(from_st.st_mode) && !to_is_dir)
                rc = -ENOTDIR;
            else if (!S_ISDIR(from_st.st_mode) && to_is_dir)
                rc = -EISDIR;
            else if (to_is_dir) {
                long n = target->r.vfs.kind == VIAL_VFS_HOST && !target->pass &&
                                 !virtualizes_writes(&target->r.vfs)
                             ? 0
                             : visible_children(target->r.vfs.path);
                rc = n < 0 ? (int)n : n > 0 ? -ENOTEMPTY : 0;
            }
        }
    }
    /* where each end really is */
    int source_host = source->pass || lands_on_host(&source->r.vfs);
    int target_host = target->pass || (rc == 0 && !target->virtual && !exists) ||
                      (exists && lands_on_host(&target->r.vfs));
    if (rc == 0 && source_host && target_host) {
        const char *a = source->pass ? from : source->r.vfs.path;
        const char *b = target->pass ? to : target->r.vfs.path;
        trace_ends(source, a, target, b);
        rc = REAL(renameat2)(source->pass ? fromfd : AT_FDCWD, a, target->pass ? tofd : AT_FDCWD,
                             b, flags) < 0 ? -errno : 0;
        free(source);
        free(target);
        return rc < 0 ? fail(-rc) : 0;
    }
    int source_lower = 0;
    if (rc == 0 && !source_host) {
        source_lower = lower_has(&source->r.vfs);
        /* a directory a lower layer has would need all its lower entries
         * moved: like overlayfs, refuse and let the app copy (mv does) */
        if (S_ISDIR(from_st.st_mode) && source_lower)
            rc = -EXDEV;
        else
            rc = existing_target(source, fromfd, from, 0, 0, 1);
    }
    if (rc == 0 && exists && !target_host) {
        /* the target is replaced: it must be in upper/ to be renamed over */
        if (target->r.vfs.kind == VIAL_VFS_UPPER) {
            snprintf(target->real, sizeof target->real, "%s", target->r.vfs.upper);
            target->virtual = 1;
        } else {
            char parent[PATH_MAX];
            rc = parent_of(parent, sizeof parent, target->r.vfs.path);
            if (rc == 0)
                rc = upper_directory(parent);
            if (rc == 0) {
                target->virtual = 1;
                rc = vial_delta_upper_path(vial_session.delta, target->real, sizeof target->real,
                                           target->r.vfs.path);
            }
        }
        if (rc == 0 && to_is_dir && target->r.vfs.kind == VIAL_VFS_UPPER) {
            /* an upper directory holding whiteouts: clear it for rename */
            vial_busy++;
            rc = vial_delta_whiteout(vial_session.delta, target->r.vfs.path);
            if (rc == 0)
                rc = vial_delta_forget(vial_session.delta, target->r.vfs.path) < 0 ? -EIO : 0;
            vial_busy--;
        }
    }
    if (rc == 0)
        rc = clear_whiteout(target, was_whiteout);
    int target_lower = exists && rc == 0 ? lower_has(&target->r.vfs) : was_whiteout;
    if (rc == 0) {
        const char *a = source_host ? (source->pass ? from : source->r.vfs.path) : source->real;
        int at_a = source_host && source->pass ? fromfd : AT_FDCWD;
        const char *b = target_host ? (target->pass ? to : target->r.vfs.path) : target->real;
        int at_b = target_host && target->pass ? tofd : AT_FDCWD;
        trace_ends(source, a, target, b);
        rc = REAL(renameat2)(at_a, a, at_b, b, flags & RENAME_NOREPLACE) < 0 ? -errno : 0;
    }
    if (rc == 0) {
        vial_busy++;
        if (!target_host) {
            uint32_t kind = S_ISDIR(from_st.st_mode) ? VIAL_DELTA_DIR
                            : S_ISLNK(from_st.st_mode) ? VIAL_DELTA_SYMLINK
                                                       : VIAL_DELTA_FILE;
            if (kind == VIAL_DELTA_DIR && target_lower)
                vial_delta_mark_opaque(vial_session.delta, target->r.vfs.path);
            else
                vial_delta_sync(vial_session.delta, target->r.vfs.path);
            if (kind == VIAL_DELTA_DIR) { /* its entries moved with it */
                vial_delta_moved(vial_session.delta);
                vial_delta_rescan(vial_session.delta, target->r.vfs.path);
            }
        }
        if (!source_host) {
            if (source_lower)
                vial_delta_whiteout(vial_session.delta, source->r.vfs.path);
            else
                vial_delta_sync(vial_session.delta, source->r.vfs.path);
        }
        vial_busy--;
    }
    free(source);
    free(target);
    return rc < 0 ? fail(-rc) : 0;
}

static int rename_untraced(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
    PASS_IF(both_pass(fromfd, from, tofd, to), REAL(renameat2)(fromfd, from, tofd, to, flags));
    return rename_virtual(fromfd, from, tofd, to, flags);
}
TWO_PATH_CORE(rename, unsigned, vial_trace_arg_rename_flags)

int rename(const char *from, const char *to)
{
    return rename_core(AT_FDCWD, from, AT_FDCWD, to, 0);
}
int renameat(int fromfd, const char *from, int tofd, const char *to)
{
    return rename_core(fromfd, from, tofd, to, 0);
}
int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
    return rename_core(fromfd, from, tofd, to, flags);
}

/* --------------------------------------------------------- mkstemp family */

/* glibc makes temporary names and opens them internally: the family is
 * redone on top of the hooked open and mkdir (also where the template
 * passes through, while tracing: its open or mkdir is then a line). */
static int fill_template(char *template, int suffix_length)
{
    size_t n = strlen(template);
    if (suffix_length < 0 || n < (size_t)suffix_length + 6)
        return -EINVAL;
    char *x = template + n - suffix_length - 6;
    if (memcmp(x, "XXXXXX", 6) != 0)
        return -EINVAL;
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char random[6];
    if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random)
        return -EIO;
    for (int i = 0; i < 6; i++)
        x[i] = letters[random[i] % (sizeof letters - 1)];
    return 0;
}

static int make_temporary(char *template, int suffix_length, int flags, int directory)
{
    for (int attempt = 0; attempt < 1000; attempt++) {
        int rc = fill_template(template, suffix_length);
        if (rc < 0)
            return fail(-rc);
        if (directory) {
            if (mkdir(template, 0700) == 0)
                return 0;
        } else {
            int fd = open(template, (flags & ~O_ACCMODE) | O_RDWR | O_CREAT | O_EXCL, 0600);
            if (fd >= 0)
                return fd;
        }
        if (errno != EEXIST)
            return -1;
    }
    return fail(EEXIST);
}

#define MKSTEMP_HOOK(name, arguments, suffix, flags, real_call)                                    \
    int name arguments                                                                             \
    {                                                                                              \
        PASS_IF(vial_busy || (vial_write_passes(AT_FDCWD, template) && !VIAL_TRACING()),          \
                real_call);                                                                        \
        return make_temporary(template, suffix, flags, 0);                                         \
    }
MKSTEMP_HOOK(mkstemp, (char *template), 0, 0, REAL(mkstemp)(template))
MKSTEMP_HOOK(mkstemp64, (char *template), 0, 0, REAL(mkstemp64)(template))
MKSTEMP_HOOK(mkostemp, (char *template, int flags), 0, flags, REAL(mkostemp)(template, flags))
MKSTEMP_HOOK(mkostemp64, (char *template, int flags), 0, flags, REAL(mkostemp64)(template, flags))
MKSTEMP_HOOK(mkstemps, (char *template, int suffix), suffix, 0, REAL(mkstemps)(template, suffix))
MKSTEMP_HOOK(mkstemps64, (char *template, int suffix), suffix, 0,
             REAL(mkstemps64)(template, suffix))
MKSTEMP_HOOK(mkostemps, (char *template, int suffix, int flags), suffix, flags,
             REAL(mkostemps)(template, suffix, flags))
MKSTEMP_HOOK(mkostemps64, (char *template, int suffix, int flags), suffix, flags,
             REAL(mkostemps64)(template, suffix, flags))

char *mkdtemp(char *template)
{
    PASS_IF(vial_busy || (vial_write_passes(AT_FDCWD, template) && !VIAL_TRACING()),
            REAL(mkdtemp)(template));
    return make_temporary(template, 0, 0, 1) == 0 ? template : NULL;
}
