/*
 * hooks_fs.c - the libc file API: open, stat, access, readlink, realpath,
 * cwd, descriptors. The calls that change the file system are in
 * hooks_write.c; open and fopen hand writes over to it.
 *
 * Every public symbol here is a thin wrapper: the fortify, 64-bit and
 * legacy variants all land in one core function per operation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "preload.h"
#include "trace.h"

#define PASS_IF_BUSY(call)                                                                         \
    do {                                                                                           \
        if (vial_busy)                                                                             \
            return call;                                                                           \
    } while (0)

static int fail(int error)
{
    errno = error;
    return -1;
}

/* For a route that is not the image's: where the real call goes (the
 * caller's own dirfd and path, or the rewritten host path). Returns 0 with
 * errno set for an error route. */
static int to_host(const struct vial_route_result *r, int *dirfd, const char **path)
{
    if (r->route == VIAL_ROUTE_ERROR) {
        errno = r->error;
        return 0;
    }
    if (r->route == VIAL_ROUTE_HOST) {
        *dirfd = AT_FDCWD;
        *path = r->real;
    }
    return 1;
}

/* ------------------------------------------------------------------ open */

/* Whether opening an existing file with these flags may change it
 * (O_CREAT alone does not: the file exists). */
static int is_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) ||
           (flags & O_TMPFILE) == O_TMPFILE;
}

__attribute__((noinline)) static int open_slow(int dirfd, const char *path, int flags, mode_t mode)
{
    struct vial_route_result r;
    char real[PATH_MAX];
    int fd;
    if (is_write(flags) || (flags & O_CREAT)) {
        fd = vial_open_for_write(dirfd, path, flags, mode);
        if (fd != -2)
            return fd;
    }
    /* a directory is resolved even where the fast path would pass it: its
     * descriptor must be known for the *at calls made through it */
    if (flags & O_DIRECTORY)
        vial_route_write(&r, dirfd, path, !(flags & O_NOFOLLOW));
    else
        vial_route(&r, dirfd, path, !(flags & O_NOFOLLOW));
    switch (r.route) {
    case VIAL_ROUTE_PASS:
        fd = REAL(openat)(dirfd, path, flags, mode);
        if (fd >= 0 && (flags & O_DIRECTORY) && r.resolved)
            vial_fd_set_directory(fd, r.vfs.path);
        return fd;
    case VIAL_ROUTE_ERROR:
        return fail(r.error);
    case VIAL_ROUTE_HOST:
        vial_log(2, "open %s -> %s", path, r.real);
        fd = REAL(openat)(AT_FDCWD, r.real, flags, mode);
        if (fd >= 0 && (flags & O_DIRECTORY))
            vial_fd_set_directory(fd, r.vfs.path);
        return fd;
    case VIAL_ROUTE_IMAGE:
        break;
    }
    struct vial_entry e;
    if (vial_image_entry(&e, vial_session.image, r.vfs.entry) < 0)
        return fail(EIO);
    if ((flags & O_CREAT) && (flags & O_EXCL))
        return fail(EEXIST);
    if (e.primary_type == VIAL_ENTRY_SYMLINK) { /* only reached with O_NOFOLLOW */
        if (!(flags & O_PATH))
            return fail(ELOOP);
        /* an O_PATH descriptor of the link itself: the view gets a copy */
        const char *target;
        size_t length;
        char text[PATH_MAX], parent[PATH_MAX];
        if (vial_preload_view_path(real, sizeof real, r.vfs.entry) < 0 ||
            vial_image_readlink(&target, &length, vial_session.image, r.vfs.entry) < 0 ||
            length >= sizeof text)
            return fail(EIO);
        snprintf(text, sizeof text, "%.*s", (int)length, target);
        snprintf(parent, sizeof parent, "%s", real);
        *strrchr(parent, '/') = '\0';
        vial_busy++;
        int made = vial_mkdir_p(parent, 0700) == 0 &&
                   (symlink(text, real) == 0 || errno == EEXIST);
        vial_busy--;
        VIAL_TRACE_REAL(real);
        return made ? REAL(openat)(AT_FDCWD, real, flags, mode) : fail(EIO);
    }
    if (e.primary_type == VIAL_ENTRY_DIRECTORY) {
        if ((flags & O_ACCMODE) != O_RDONLY)
            return fail(EISDIR);
        if (vial_preload_directory(real, sizeof real, r.vfs.path, 0) < 0)
            return fail(EIO);
        fd = REAL(openat)(AT_FDCWD, real, flags | O_DIRECTORY, mode);
        if (fd < 0 && errno == ENOENT) {
            if (vial_preload_directory(real, sizeof real, r.vfs.path, 1) < 0)
                return fail(EIO);
            fd = REAL(openat)(AT_FDCWD, real, flags | O_DIRECTORY, mode);
        }
        if (fd >= 0)
            vial_fd_set_directory(fd, r.vfs.path);
        VIAL_TRACE_REAL(real);
        vial_log(2, "open %s -> directory %s = %d", r.vfs.path, real, fd);
        return fd;
    }
    if (flags & O_DIRECTORY)
        return fail(ENOTDIR);
    if (is_write(flags))
        return fail(EROFS);
    /* materialized already (the common case): one system call */
    fd = -1;
    if (vial_preload_view_path(real, sizeof real, r.vfs.entry) == 0)
        fd = REAL(openat)(AT_FDCWD, real, flags & ~(O_CREAT | O_EXCL), mode);
    if (fd < 0) {
        int rc = vial_preload_materialize(real, sizeof real, r.vfs.entry);
        if (rc < 0)
            return fail(rc == -ENOSPC ? ENOSPC : EIO);
        fd = REAL(openat)(AT_FDCWD, real, flags & ~(O_CREAT | O_EXCL), mode);
    }
    if (fd >= 0)
        vial_fd_set_file(fd, r.vfs.entry);
    VIAL_TRACE_REAL(real);
    vial_log(2, "open %s -> %s = %d", r.vfs.path, real, fd);
    return fd;
}

static inline int open_untraced(int dirfd, const char *path, int flags, mode_t mode)
{
    /* writes, and directories (a descriptor *at calls may create in), are
     * virtualized by policy even where neither the image nor the delta is */
    int plain_read = !is_write(flags) && !(flags & (O_CREAT | O_DIRECTORY));
    if (plain_read ? vial_pass_through(dirfd, path) : vial_write_passes(dirfd, path))
        return REAL(openat)(dirfd, path, flags, mode);
    return open_slow(dirfd, path, flags, mode);
}

VIAL_TRACED_CORE(int, open, "open", path, (int dirfd, const char *path, int flags, mode_t mode),
                 (dirfd, path, flags, mode), result, result < 0,
                 vial_trace_arg_dirfd(trace, dirfd); vial_trace_arg_string(trace, path);
                 vial_trace_arg_open_flags(trace, flags);
                 if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
                     vial_trace_arg_mode(trace, mode))

static mode_t mode_argument(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_WRAPPER(name, real_call)                                                              \
    int name(const char *path, int flags, ...)                                                     \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = mode_argument(flags, ap);                                                    \
        va_end(ap);                                                                                \
        PASS_IF_BUSY(real_call);                                                                   \
        return open_core(AT_FDCWD, path, flags, mode);                                             \
    }
OPEN_WRAPPER(open, REAL(open)(path, flags, mode))
OPEN_WRAPPER(open64, REAL(open64)(path, flags, mode))

#define OPENAT_WRAPPER(name, real_call)                                                            \
    int name(int dirfd, const char *path, int flags, ...)                                          \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = mode_argument(flags, ap);                                                    \
        va_end(ap);                                                                                \
        PASS_IF_BUSY(real_call);                                                                   \
        return open_core(dirfd, path, flags, mode);                                                \
    }
OPENAT_WRAPPER(openat, REAL(openat)(dirfd, path, flags, mode))
OPENAT_WRAPPER(openat64, REAL(openat64)(dirfd, path, flags, mode))

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
int __open_2(const char *path, int flags) { return open_core(AT_FDCWD, path, flags, 0); }
int __open64_2(const char *path, int flags) { return open_core(AT_FDCWD, path, flags, 0); }
int __openat_2(int dirfd, const char *path, int flags) { return open_core(dirfd, path, flags, 0); }
int __openat64_2(int dirfd, const char *path, int flags)
{
    return open_core(dirfd, path, flags, 0);
}
int creat(const char *path, mode_t mode)
{
    return open_core(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
int creat64(const char *path, mode_t mode)
{
    return open_core(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* glibc's fopen opens internally, past our open: hook it as well. */
__attribute__((noinline)) static FILE *fopen_slow(const char *path, const char *mode,
                                                  FILE *(*real)(const char *, const char *))
{
    struct vial_route_result r;
    char real_path[PATH_MAX];
    int writing = strpbrk(mode, "wa+") != NULL;
    if (writing) {
        int flags = mode[0] == 'r' ? 0 : O_CREAT;
        flags |= strchr(mode, '+') ? O_RDWR : mode[0] == 'r' ? O_RDONLY : O_WRONLY;
        int rc = vial_fopen_target(path, flags | (strchr(mode, 'x') ? O_EXCL : 0), real_path,
                                   sizeof real_path);
        if (rc < 0) {
            errno = -rc;
            return NULL;
        }
        if (rc > 0) {
            /* 'x' was honoured when the file was created just now */
            char plain[16];
            size_t n = 0;
            for (const char *m = mode; *m && n < sizeof plain - 1; m++)
                if (*m != 'x')
                    plain[n++] = *m;
            plain[n] = '\0';
            VIAL_TRACE_REAL(real_path);
            return real(real_path, plain);
        }
    }
    vial_route(&r, AT_FDCWD, path, 1);
    switch (r.route) {
    case VIAL_ROUTE_PASS:
        return real(path, mode);
    case VIAL_ROUTE_ERROR:
        errno = r.error;
        return NULL;
    case VIAL_ROUTE_HOST:
        return real(r.real, mode);
    case VIAL_ROUTE_IMAGE:
        break;
    }
    struct vial_entry e;
    if (vial_image_entry(&e, vial_session.image, r.vfs.entry) < 0) {
        errno = EIO;
        return NULL;
    }
    if (e.primary_type == VIAL_ENTRY_DIRECTORY) {
        if (writing) {
            errno = EISDIR;
            return NULL;
        }
        if (vial_preload_directory(real_path, sizeof real_path, r.vfs.path, 1) < 0) {
            errno = EIO;
            return NULL;
        }
        VIAL_TRACE_REAL(real_path);
        return real(real_path, mode);
    }
    if (writing) {
        errno = EROFS;
        return NULL;
    }
    int rc = vial_preload_materialize(real_path, sizeof real_path, r.vfs.entry);
    if (rc < 0) {
        errno = rc == -ENOSPC ? ENOSPC : EIO;
        return NULL;
    }
    VIAL_TRACE_REAL(real_path);
    FILE *f = real(real_path, mode);
    if (f)
        vial_fd_set_file(fileno(f), r.vfs.entry);
    vial_log(2, "fopen %s -> %s", r.vfs.path, real_path);
    return f;
}

static int fopen_passes(const char *path, const char *mode)
{
    return strpbrk(mode, "wa+") ? vial_write_passes(AT_FDCWD, path)
                                : vial_pass_through(AT_FDCWD, path);
}

static FILE *fopen_untraced(const char *path, const char *mode,
                            FILE *(*real)(const char *, const char *))
{
    if (fopen_passes(path, mode))
        return real(path, mode);
    return fopen_slow(path, mode, real);
}

VIAL_TRACED_CORE(FILE *, fopen, "fopen", path,
                 (const char *path, const char *mode, FILE *(*real)(const char *, const char *)),
                 (path, mode, real), result ? fileno(result) : -1, result == NULL,
                 vial_trace_arg_string(trace, path); vial_trace_arg_string(trace, mode))

FILE *fopen(const char *path, const char *mode)
{
    PASS_IF_BUSY(REAL(fopen)(path, mode));
    return fopen_core(path, mode, REAL(fopen));
}
FILE *fopen64(const char *path, const char *mode)
{
    PASS_IF_BUSY(REAL(fopen64)(path, mode));
    return fopen_core(path, mode, REAL(fopen64));
}

/* ------------------------------------------------------------------ stat */

/* A directory the user changed keeps the identity (device, inode) of the
 * one it copies, as overlayfs keeps it: programs that compare a directory
 * before and after writing into it (tar's "directory renamed") see the
 * same directory. */
static void directory_identity(struct stat *st, const struct vial_vfs_result *v)
{
    if (!S_ISDIR(st->st_mode) || v->kind != VIAL_VFS_UPPER ||
        (v->delta_flags & (VIAL_DELTA_OPAQUE | VIAL_DELTA_NEW)) ||
        v->policy == VIAL_ISOLATION_PASSTHROUGH)
        return;
    if (v->image_below) {
        struct stat image;
        vial_preload_stat(&image, v->entry);
        st->st_dev = image.st_dev;
        st->st_ino = image.st_ino;
        return;
    }
    struct stat host;
    vial_busy++;
    int rc = v->host_visible ? lstat(v->path, &host) : -1;
    vial_busy--;
    if (rc == 0 && S_ISDIR(host.st_mode)) {
        st->st_dev = host.st_dev;
        st->st_ino = host.st_ino;
    }
}

/* A directory's link count is 2 plus its subdirectories, as the app sees
 * them: for the image's, counted in the index; for one the user changed
 * that merges lower layers, in its merged listing. */
static void directory_nlink(struct stat *st, const struct vial_vfs_result *v)
{
    if (!S_ISDIR(st->st_mode))
        return;
    nlink_t n = 2;
    if (v->kind == VIAL_VFS_IMAGE) {
        uint32_t first, count;
        struct vial_entry e;
        if (vial_image_children(&first, &count, vial_session.image, v->entry) < 0)
            return;
        for (uint32_t c = first; c < first + count; c++)
            n += vial_image_entry(&e, vial_session.image, c) == 0 &&
                 e.primary_type == VIAL_ENTRY_DIRECTORY;
    } else if (v->kind == VIAL_VFS_UPPER && (v->image_below || v->host_visible) &&
               !(v->delta_flags & VIAL_DELTA_OPAQUE) && v->policy != VIAL_ISOLATION_PASSTHROUGH) {
        DIR *dir = opendir(v->path); /* our hook: the merged listing */
        struct dirent *d;
        if (!dir)
            return;
        while ((d = readdir(dir)))
            n += d->d_type == DT_DIR && strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
        closedir(dir);
    } else {
        return;
    }
    st->st_nlink = n;
}

__attribute__((noinline)) static int stat_slow(int dirfd, const char *path, struct stat *st,
                                               int flags)
{
    struct vial_route_result r;
    if (path && path[0] == '\0' && (flags & AT_EMPTY_PATH)) {
        uint32_t entry;
        const char *directory;
        if (vial_fd_file(dirfd, &entry)) {
            vial_preload_stat(st, entry);
            return 0;
        }
        /* a virtual directory's descriptor shows what its path shows
         * (fts compares the two) */
        if ((directory = vial_fd_directory(dirfd)))
            return stat_slow(AT_FDCWD, directory, st, 0);
        return REAL(fstatat)(dirfd, path, st, flags);
    }
    vial_route(&r, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW));
    if (r.route != VIAL_ROUTE_IMAGE) {
        if (!to_host(&r, &dirfd, &path))
            return -1;
        int rc = REAL(fstatat)(dirfd, path, st, flags);
        if (rc == 0 && r.resolved) {
            vial_preload_upper_owner(st, &r.vfs);
            directory_nlink(st, &r.vfs);
            directory_identity(st, &r.vfs);
        }
        return rc;
    }
    vial_preload_stat(st, r.vfs.entry);
    directory_nlink(st, &r.vfs);
    vial_log(2, "stat %s -> image entry %u", r.vfs.path, r.vfs.entry);
    return 0;
}

static inline int stat_untraced(int dirfd, const char *path, struct stat *st, int flags)
{
    if (path && path[0] != '\0' && vial_pass_through(dirfd, path))
        return REAL(fstatat)(dirfd, path, st, flags);
    return stat_slow(dirfd, path, st, flags);
}

VIAL_TRACED_CORE(int, stat, "stat", path, (int dirfd, const char *path, struct stat *st, int flags),
                 (dirfd, path, st, flags), result, result < 0,
                 vial_trace_arg_dirfd(trace, dirfd); vial_trace_arg_string(trace, path);
                 vial_trace_arg_at_flags(trace, flags))

int vial_stat_path(const char *path, struct stat *st)
{
    return stat_core(AT_FDCWD, path, st, 0);
}

int stat(const char *path, struct stat *st)
{
    PASS_IF_BUSY(REAL(stat)(path, st));
    return stat_core(AT_FDCWD, path, st, 0);
}
int lstat(const char *path, struct stat *st)
{
    PASS_IF_BUSY(REAL(lstat)(path, st));
    return stat_core(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}
int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    PASS_IF_BUSY(REAL(fstatat)(dirfd, path, st, flags));
    return stat_core(dirfd, path, st, flags);
}
/* On x86_64 struct stat64 is struct stat. */
int stat64(const char *path, struct stat64 *st) { return stat(path, (struct stat *)st); }
int lstat64(const char *path, struct stat64 *st) { return lstat(path, (struct stat *)st); }
int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    return fstatat(dirfd, path, (struct stat *)st, flags);
}

static int fstat_untraced(int fd, struct stat *st)
{
    uint32_t entry;
    const char *directory;
    if (!vial_busy && vial_fd_file(fd, &entry)) {
        vial_preload_stat(st, entry);
        return 0;
    }
    if (!vial_busy && (directory = vial_fd_directory(fd)))
        return stat_slow(AT_FDCWD, directory, st, 0);
    return REAL(fstat)(fd, st);
}

VIAL_TRACED_CORE(int, fstat, "fstat", NULL, (int fd, struct stat *st), (fd, st), result,
                 result < 0, vial_trace_arg_int(trace, fd); vial_trace_descriptor(fd))

int fstat(int fd, struct stat *st)
{
    /* only the descriptors the bubble answers for: the others' fstat is
     * the kernel's alone (and an app makes many) */
    if (VIAL_TRACING() && vial_trace_knows_fd(fd))
        return fstat_traced(fd, st);
    return fstat_untraced(fd, st);
}
int fstat64(int fd, struct stat64 *st) { return fstat(fd, (struct stat *)st); }

/* The legacy symbols binaries built before glibc 2.33 still call. */
int __xstat(int version, const char *path, struct stat *st);
int __lxstat(int version, const char *path, struct stat *st);
int __fxstat(int version, int fd, struct stat *st);
int __fxstatat(int version, int dirfd, const char *path, struct stat *st, int flags);
int __xstat64(int version, const char *path, struct stat64 *st);
int __lxstat64(int version, const char *path, struct stat64 *st);
int __fxstat64(int version, int fd, struct stat64 *st);
int __fxstatat64(int version, int dirfd, const char *path, struct stat64 *st, int flags);
int __xstat(int version, const char *path, struct stat *st)
{
    (void)version;
    return stat(path, st);
}
int __lxstat(int version, const char *path, struct stat *st)
{
    (void)version;
    return lstat(path, st);
}
int __fxstat(int version, int fd, struct stat *st)
{
    (void)version;
    return fstat(fd, st);
}
int __fxstatat(int version, int dirfd, const char *path, struct stat *st, int flags)
{
    (void)version;
    return fstatat(dirfd, path, st, flags);
}
int __xstat64(int version, const char *path, struct stat64 *st)
{
    (void)version;
    return stat(path, (struct stat *)st);
}
int __lxstat64(int version, const char *path, struct stat64 *st)
{
    (void)version;
    return lstat(path, (struct stat *)st);
}
int __fxstat64(int version, int fd, struct stat64 *st)
{
    (void)version;
    return fstat(fd, (struct stat *)st);
}
int __fxstatat64(int version, int dirfd, const char *path, struct stat64 *st, int flags)
{
    (void)version;
    return fstatat(dirfd, path, (struct stat *)st, flags);
}

static void fill_statx(struct statx *sx, const struct stat *st)
{
    memset(sx, 0, sizeof *sx);
    sx->stx_mask = STATX_BASIC_STATS;
    sx->stx_blksize = (uint32_t)st->st_blksize;
    sx->stx_nlink = (uint32_t)st->st_nlink;
    sx->stx_uid = st->st_uid;
    sx->stx_gid = st->st_gid;
    sx->stx_mode = (uint16_t)st->st_mode;
    sx->stx_ino = st->st_ino;
    sx->stx_size = (uint64_t)st->st_size;
    sx->stx_blocks = (uint64_t)st->st_blocks;
    sx->stx_atime.tv_sec = sx->stx_mtime.tv_sec = sx->stx_ctime.tv_sec = st->st_mtim.tv_sec;
    sx->stx_atime.tv_nsec = sx->stx_mtime.tv_nsec = sx->stx_ctime.tv_nsec =
        (uint32_t)st->st_mtim.tv_nsec;
    sx->stx_dev_major = major(st->st_dev);
    sx->stx_dev_minor = minor(st->st_dev);
}

int vial_statx_core(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx);
__attribute__((noinline)) static int statx_slow(int dirfd, const char *path, int flags,
                                                unsigned mask, struct statx *sx)
{
    struct vial_route_result r;
    struct stat st;
    uint32_t entry;
    if (path && path[0] == '\0' && (flags & AT_EMPTY_PATH) && vial_fd_file(dirfd, &entry)) {
        vial_preload_stat(&st, entry);
        fill_statx(sx, &st);
        return 0;
    }
    if (path && path[0] == '\0' && (flags & AT_EMPTY_PATH) && vial_fd_directory(dirfd))
        return statx_slow(AT_FDCWD, vial_fd_directory(dirfd), flags & ~AT_EMPTY_PATH, mask, sx);
    vial_route(&r, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW));
    if (r.route != VIAL_ROUTE_IMAGE) {
        if (!to_host(&r, &dirfd, &path))
            return -1;
        int rc = REAL(statx)(dirfd, path, flags, mask, sx);
        if (rc == 0 && r.resolved) {
            st.st_uid = sx->stx_uid;
            st.st_gid = sx->stx_gid;
            st.st_mode = sx->stx_mode;
            st.st_nlink = sx->stx_nlink;
            st.st_ino = sx->stx_ino;
            st.st_dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
            vial_preload_upper_owner(&st, &r.vfs);
            directory_nlink(&st, &r.vfs);
            directory_identity(&st, &r.vfs);
            sx->stx_ino = st.st_ino;
            sx->stx_dev_major = major(st.st_dev);
            sx->stx_dev_minor = minor(st.st_dev);
            sx->stx_uid = st.st_uid;
            sx->stx_gid = st.st_gid;
            sx->stx_nlink = (uint32_t)st.st_nlink;
        }
        return rc;
    }
    vial_preload_stat(&st, r.vfs.entry);
    directory_nlink(&st, &r.vfs);
    fill_statx(sx, &st);
    return 0;
}

static inline int statx_untraced(int dirfd, const char *path, int flags, unsigned mask,
                                 struct statx *sx)
{
    if (path && path[0] != '\0' && vial_pass_through(dirfd, path))
        return REAL(statx)(dirfd, path, flags, mask, sx);
    return statx_slow(dirfd, path, flags, mask, sx);
}

VIAL_TRACED_CORE(int, statx, "statx", path,
                 (int dirfd, const char *path, int flags, unsigned mask, struct statx *sx),
                 (dirfd, path, flags, mask, sx), result, result < 0,
                 vial_trace_arg_dirfd(trace, dirfd); vial_trace_arg_string(trace, path);
                 vial_trace_arg_at_flags(trace, flags); vial_trace_arg_int(trace, (long long)mask))

int vial_statx_core(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx)
{
    return statx_core(dirfd, path, flags, mask, sx);
}

int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx)
{
    PASS_IF_BUSY(REAL(statx)(dirfd, path, flags, mask, sx));
    return vial_statx_core(dirfd, path, flags, mask, sx);
}

/* ---------------------------------------------------------------- access */

__attribute__((noinline)) static int access_slow(int dirfd, const char *path, int mode, int flags)
{
    struct vial_route_result r;
    vial_route(&r, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW));
    if (r.route != VIAL_ROUTE_IMAGE)
        return to_host(&r, &dirfd, &path) ? REAL(faccessat)(dirfd, path, mode, flags) : -1;
    struct vial_entry e;
    if (vial_image_entry(&e, vial_session.image, r.vfs.entry) < 0)
        return fail(EIO);
    if ((mode & W_OK) && (!vial_session.delta || r.vfs.policy == VIAL_ISOLATION_PASSTHROUGH))
        return fail(EROFS);
    struct stat st;
    vial_preload_stat(&st, r.vfs.entry);
    /* image files are readable by whoever runs the image; writing is
     * copy-on-write, with the permissions the entry shows */
    if (!vial_preload_permits(&st, mode & (W_OK | X_OK)))
        return fail(EACCES);
    return 0;
}

static inline int access_untraced(int dirfd, const char *path, int mode, int flags)
{
    if (vial_pass_through(dirfd, path))
        return REAL(faccessat)(dirfd, path, mode, flags);
    return access_slow(dirfd, path, mode, flags);
}

VIAL_TRACED_CORE(int, access, "access", path, (int dirfd, const char *path, int mode, int flags),
                 (dirfd, path, mode, flags), result, result < 0,
                 vial_trace_arg_dirfd(trace, dirfd); vial_trace_arg_string(trace, path);
                 vial_trace_arg_access_mode(trace, mode); vial_trace_arg_at_flags(trace, flags))

int access(const char *path, int mode)
{
    PASS_IF_BUSY(REAL(access)(path, mode));
    return access_core(AT_FDCWD, path, mode, 0);
}
int faccessat(int dirfd, const char *path, int mode, int flags)
{
    PASS_IF_BUSY(REAL(faccessat)(dirfd, path, mode, flags));
    return access_core(dirfd, path, mode, flags);
}
int euidaccess(const char *path, int mode)
{
    PASS_IF_BUSY(REAL(euidaccess)(path, mode));
    return access_core(AT_FDCWD, path, mode, AT_EACCESS);
}
int eaccess(const char *path, int mode) { return euidaccess(path, mode); }

/* -------------------------------------------------------------- readlink */

static ssize_t readlink_untraced(int dirfd, const char *path, char *buf, size_t size)
{
    struct vial_route_result r;
    char real[PATH_MAX];
    ssize_t n;
    vial_route(&r, dirfd, path, 0);
    switch (r.route) {
    case VIAL_ROUTE_ERROR:
        return fail(r.error);
    case VIAL_ROUTE_PASS:
    case VIAL_ROUTE_HOST:
        /* /proc/self/exe, /proc/self/fd/N, /proc/self/cwd and friends name
         * view paths: give the application its virtual ones */
        n = REAL(readlinkat)(r.route == VIAL_ROUTE_PASS ? dirfd : AT_FDCWD,
                             r.route == VIAL_ROUTE_PASS ? path : r.real, real,
                             sizeof real - 1);
        if (n < 0)
            return n;
        real[n] = '\0';
        if (vial_session.ready == 1)
            vial_preload_unview(real, sizeof real);
        n = (ssize_t)strlen(real);
        if ((size_t)n > size)
            n = (ssize_t)size;
        memcpy(buf, real, (size_t)n);
        return n;
    case VIAL_ROUTE_IMAGE:
        break;
    }
    const char *target;
    size_t length;
    if (vial_image_readlink(&target, &length, vial_session.image, r.vfs.entry) < 0)
        return fail(EINVAL);
    if (length > size)
        length = size;
    memcpy(buf, target, length);
    return (ssize_t)length;
}

VIAL_TRACED_CORE(ssize_t, readlink, "readlink", path,
                 (int dirfd, const char *path, char *buf, size_t size), (dirfd, path, buf, size),
                 result, result < 0, vial_trace_arg_dirfd(trace, dirfd);
                 vial_trace_arg_string(trace, path); vial_trace_arg_int(trace, (long long)size))

ssize_t readlink(const char *path, char *buf, size_t size)
{
    PASS_IF_BUSY(REAL(readlink)(path, buf, size));
    return readlink_core(AT_FDCWD, path, buf, size);
}
ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
    PASS_IF_BUSY(REAL(readlinkat)(dirfd, path, buf, size));
    return readlink_core(dirfd, path, buf, size);
}
ssize_t __readlink_chk(const char *path, char *buf, size_t size, size_t buflen);
ssize_t __readlink_chk(const char *path, char *buf, size_t size, size_t buflen)
{
    (void)buflen;
    return readlink(path, buf, size);
}
ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t size, size_t buflen);
ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t size, size_t buflen)
{
    (void)buflen;
    return readlinkat(dirfd, path, buf, size);
}

/* -------------------------------------------------------------- realpath */

static char *realpath_untraced(const char *path, char *resolved)
{
    PASS_IF_BUSY(REAL(realpath)(path, resolved));
    struct vial_route_result r;
    char real[PATH_MAX];
    vial_route(&r, AT_FDCWD, path, 1);
    if (r.route == VIAL_ROUTE_ERROR) {
        errno = r.error;
        return NULL;
    }
    if (r.route == VIAL_ROUTE_IMAGE) {
        snprintf(real, sizeof real, "%s", r.vfs.path);
    } else {
        vial_busy++;
        char *ok = REAL(realpath)(r.route == VIAL_ROUTE_PASS ? path : r.real, real);
        vial_busy--;
        if (!ok)
            return NULL;
        if (vial_session.ready == 1)
            vial_preload_unview(real, sizeof real);
    }
    VIAL_TRACE_PATH(real); /* the answer: the path as the app sees it */
    if (!resolved) {
        vial_busy++;
        resolved = strdup(real);
        vial_busy--;
        return resolved;
    }
    strcpy(resolved, real);
    return resolved;
}

VIAL_TRACED_CORE(char *, realpath, "realpath", path, (const char *path, char *resolved),
                 (path, resolved), result != NULL, result == NULL,
                 vial_trace_arg_string(trace, path))

char *realpath(const char *path, char *resolved) { return realpath_core(path, resolved); }
char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);
char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen)
{
    (void)resolvedlen;
    return realpath(path, resolved);
}
char *canonicalize_file_name(const char *path) { return realpath(path, NULL); }

/* ------------------------------------------------------------------- cwd */

static char *getcwd_untraced(char *buf, size_t size)
{
    char *result = REAL(getcwd)(buf, size);
    if (!result || vial_busy || vial_preload_init() != 1)
        return result;
    VIAL_TRACE_REAL(result);
    /* a virtual path is never longer than its view path: it fits in place */
    vial_preload_unview(result, buf ? size : strlen(result) + 1);
    VIAL_TRACE_PATH(result);
    return result;
}

VIAL_TRACED_CORE(char *, getcwd, "getcwd", NULL, (char *buf, size_t size), (buf, size),
                 result != NULL, result == NULL, vial_trace_arg_int(trace, (long long)size))

char *getcwd(char *buf, size_t size) { return getcwd_core(buf, size); }
char *get_current_dir_name(void) { return getcwd(NULL, 0); }
char *__getcwd_chk(char *buf, size_t size, size_t buflen);
char *__getcwd_chk(char *buf, size_t size, size_t buflen)
{
    (void)buflen;
    return getcwd(buf, size);
}

static int chdir_untraced(const char *path)
{
    PASS_IF_BUSY(REAL(chdir)(path));
    struct vial_route_result r;
    char real[PATH_MAX];
    vial_route(&r, AT_FDCWD, path, 1);
    int rc;
    switch (r.route) {
    case VIAL_ROUTE_ERROR:
        return fail(r.error);
    case VIAL_ROUTE_PASS:
        rc = REAL(chdir)(path);
        break;
    case VIAL_ROUTE_HOST:
        rc = REAL(chdir)(r.real);
        break;
    case VIAL_ROUTE_IMAGE: {
        struct vial_entry e;
        if (vial_image_entry(&e, vial_session.image, r.vfs.entry) < 0)
            return fail(EIO);
        if (e.primary_type != VIAL_ENTRY_DIRECTORY)
            return fail(ENOTDIR);
        if (vial_preload_directory(real, sizeof real, r.vfs.path, 1) < 0)
            return fail(EIO);
        VIAL_TRACE_REAL(real);
        rc = REAL(chdir)(real);
        break;
    }
    default:
        return fail(EIO);
    }
    if (rc == 0 && vial_session.ready == 1)
        vial_cwd_refresh();
    return rc;
}

VIAL_TRACED_CORE(int, chdir, "chdir", path, (const char *path), (path), result, result < 0,
                 vial_trace_arg_string(trace, path))

int chdir(const char *path) { return chdir_core(path); }

int fchdir(int fd)
{
    int rc = REAL(fchdir)(fd);
    if (rc == 0 && !vial_busy && vial_session.ready == 1)
        vial_cwd_refresh();
    return rc;
}

/* ------------------------------------------------------------ descriptors */

/* The delta's own descriptors survive an app closing every descriptor
 * (daemons and shells do, before exec): the close is reported done. */
static int owned(int fd)
{
    return (vial_session.delta &&
            (vial_delta_owns_fd(vial_session.delta, fd) || vial_preload_owns_fd(fd))) ||
           vial_trace_owns_fd(fd);
}

int close(int fd)
{
    if (!vial_busy && owned(fd))
        return 0;
    vial_fd_clear(fd);
    return REAL(close)(fd);
}
/* fclose closes its descriptor past our close() */
int fclose(FILE *stream)
{
    if (stream)
        vial_fd_clear(fileno(stream));
    return REAL(fclose)(stream);
}

int dup(int fd)
{
    int copy = REAL(dup)(fd);
    if (copy >= 0)
        vial_fd_copy(fd, copy);
    return copy;
}
int dup2(int fd, int to)
{
    int rc = REAL(dup2)(fd, to);
    if (rc >= 0)
        vial_fd_copy(fd, to);
    return rc;
}
int dup3(int fd, int to, int flags)
{
    int rc = REAL(dup3)(fd, to, flags);
    if (rc >= 0)
        vial_fd_copy(fd, to);
    return rc;
}
int close_range(unsigned first, unsigned last, int flags)
{
    /* around the delta's own descriptors (few, and numbered low) */
    for (unsigned fd = first; !vial_busy && fd <= last && fd < VIAL_FD_TABLE_SIZE; fd++)
        if (owned((int)fd)) {
            int rc = fd > first ? close_range(first, fd - 1, flags) : 0;
            if (rc == 0 && fd < last)
                rc = close_range(fd + 1, last, flags);
            return rc;
        }
    int rc = REAL(close_range)(first, last, flags);
    if (rc == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
        for (unsigned fd = first; fd <= last && fd < VIAL_FD_TABLE_SIZE; fd++)
            vial_fd_clear((int)fd);
    return rc;
}
int fcntl(int fd, int command, ...)
{
    va_list ap;
    va_start(ap, command);
    void *argument = va_arg(ap, void *);
    va_end(ap);
    int rc = REAL(fcntl)(fd, command, argument);
    if (rc >= 0 && (command == F_DUPFD || command == F_DUPFD_CLOEXEC))
        vial_fd_copy(fd, rc);
    return rc;
}
int fcntl64(int fd, int command, ...)
{
    va_list ap;
    va_start(ap, command);
    void *argument = va_arg(ap, void *);
    va_end(ap);
    return fcntl(fd, command, argument);
}

/* ---------------------------------------------------------------- xattrs */

static ssize_t image_getxattr(uint32_t entry, const char *name, void *value, size_t size)
{
    for (uint32_t i = 0;; i++) {
        struct vial_xattr x;
        if (vial_image_xattr(&x, vial_session.image, entry, i) < 0)
            return fail(ENODATA);
        if (x.name_length != strlen(name) || memcmp(x.name, name, x.name_length) != 0)
            continue;
        if (size == 0)
            return (ssize_t)x.value_length;
        if (x.value_length > size)
            return fail(ERANGE);
        memcpy(value, x.value, x.value_length);
        return (ssize_t)x.value_length;
    }
}

static ssize_t image_listxattr(uint32_t entry, char *list, size_t size)
{
    size_t total = 0;
    for (uint32_t i = 0;; i++) {
        struct vial_xattr x;
        if (vial_image_xattr(&x, vial_session.image, entry, i) < 0)
            break;
        if (size) {
            if (total + x.name_length + 1 > size)
                return fail(ERANGE);
            memcpy(list + total, x.name, x.name_length);
            list[total + x.name_length] = '\0';
        }
        total += x.name_length + 1;
    }
    return (ssize_t)total;
}

/* getxattr and listxattr and their l- forms: NAME(PATH, ...) */
#define XATTR_HOOK(name, follow, params, args, image_call, ...)                                    \
    static ssize_t name##_untraced params                                                          \
    {                                                                                              \
        struct vial_route_result r;                                                                \
        if (vial_busy)                                                                             \
            return REAL(name) args;                                                                \
        vial_route(&r, AT_FDCWD, path, follow);                                                    \
        switch (r.route) {                                                                         \
        case VIAL_ROUTE_IMAGE:                                                                     \
            return image_call;                                                                     \
        case VIAL_ROUTE_ERROR:                                                                     \
            return fail(r.error);                                                                  \
        case VIAL_ROUTE_HOST:                                                                      \
            path = r.real;                                                                         \
            /* fall through */                                                                     \
        default:                                                                                   \
            return REAL(name) args;                                                                \
        }                                                                                          \
    }                                                                                              \
    VIAL_TRACED_CORE(ssize_t, name, #name, path, params, args, result, result < 0,                \
                     vial_trace_arg_string(trace, path); __VA_ARGS__)                              \
    ssize_t name params { return name##_core args; }
XATTR_HOOK(getxattr, 1, (const char *path, const char *name, void *value, size_t size),
           (path, name, value, size), image_getxattr(r.vfs.entry, name, value, size),
           vial_trace_arg_string(trace, name); vial_trace_arg_int(trace, (long long)size))
XATTR_HOOK(lgetxattr, 0, (const char *path, const char *name, void *value, size_t size),
           (path, name, value, size), image_getxattr(r.vfs.entry, name, value, size),
           vial_trace_arg_string(trace, name); vial_trace_arg_int(trace, (long long)size))
XATTR_HOOK(listxattr, 1, (const char *path, char *list, size_t size), (path, list, size),
           image_listxattr(r.vfs.entry, list, size), vial_trace_arg_int(trace, (long long)size))
XATTR_HOOK(llistxattr, 0, (const char *path, char *list, size_t size), (path, list, size),
           image_listxattr(r.vfs.entry, list, size), vial_trace_arg_int(trace, (long long)size))

static ssize_t fgetxattr_untraced(int fd, const char *name, void *value, size_t size)
{
    uint32_t entry;
    if (!vial_busy && vial_fd_file(fd, &entry))
        return image_getxattr(entry, name, value, size);
    return REAL(fgetxattr)(fd, name, value, size);
}

static ssize_t flistxattr_untraced(int fd, char *list, size_t size)
{
    uint32_t entry;
    if (!vial_busy && vial_fd_file(fd, &entry))
        return image_listxattr(entry, list, size);
    return REAL(flistxattr)(fd, list, size);
}

/* Of descriptors, like fstat: traced where the bubble knows the descriptor. */
VIAL_TRACED_CORE(ssize_t, fgetxattr, "fgetxattr", NULL,
                 (int fd, const char *name, void *value, size_t size), (fd, name, value, size),
                 result, result < 0, vial_trace_arg_int(trace, fd);
                 vial_trace_arg_string(trace, name); vial_trace_arg_int(trace, (long long)size);
                 vial_trace_descriptor(fd))
VIAL_TRACED_CORE(ssize_t, flistxattr, "flistxattr", NULL, (int fd, char *list, size_t size),
                 (fd, list, size), result, result < 0, vial_trace_arg_int(trace, fd);
                 vial_trace_arg_int(trace, (long long)size); vial_trace_descriptor(fd))

ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)
{
    if (VIAL_TRACING() && vial_trace_knows_fd(fd))
        return fgetxattr_traced(fd, name, value, size);
    return fgetxattr_untraced(fd, name, value, size);
}

ssize_t flistxattr(int fd, char *list, size_t size)
{
    if (VIAL_TRACING() && vial_trace_knows_fd(fd))
        return flistxattr_traced(fd, list, size);
    return flistxattr_untraced(fd, list, size);
}
