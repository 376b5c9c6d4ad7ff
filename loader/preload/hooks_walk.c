/*
 * hooks_walk.c - glob, ftw and nftw. glibc implements them with internal
 * calls our hooks never see, so glob gets our directory functions through
 * GLOB_ALTDIRFUNC, and nftw/ftw are walked here on top of the hooked
 * opendir/readdir/lstat when the tree touches the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

static void *glob_opendir(const char *path) { return opendir(path); }
static struct dirent *glob_readdir(void *dir) { return readdir(dir); }
static void glob_closedir(void *dir) { closedir(dir); }
static int glob_stat(const char *path, struct stat *st) { return stat(path, st); }
static int glob_lstat(const char *path, struct stat *st) { return lstat(path, st); }

int glob(const char *pattern, int flags, int (*errfunc)(const char *, int), glob_t *result)
{
    if (vial_busy || vial_preload_init() != 1 || (flags & GLOB_ALTDIRFUNC))
        return REAL(glob)(pattern, flags, errfunc, result);
    result->gl_opendir = glob_opendir;
    result->gl_readdir = glob_readdir;
    result->gl_closedir = glob_closedir;
    result->gl_stat = glob_stat;
    result->gl_lstat = glob_lstat;
    return REAL(glob)(pattern, flags | GLOB_ALTDIRFUNC, errfunc, result);
}

/* On x86_64 glob64_t and struct dirent64 have the layouts of their plain
 * counterparts. */
int glob64(const char *pattern, int flags, int (*errfunc)(const char *, int), glob64_t *result)
{
    return glob(pattern, flags, errfunc, (glob_t *)result);
}

typedef int (*nftw_callback)(const char *, const struct stat *, int, struct FTW *);

/* One level of the walk; path is a buffer of PATH_MAX holding the entry. */
static int walk(char *path, size_t length, int level, nftw_callback fn, int flags)
{
    struct stat st;
    int rc = (flags & FTW_PHYS) ? lstat(path, &st) : stat(path, &st);
    struct FTW ftw = {.base = 0, .level = level};
    const char *slash = strrchr(path, '/');
    ftw.base = slash && slash[1] ? (int)(slash - path + 1) : 0;
    if (rc < 0) {
        if (errno == ENOENT && lstat(path, &st) == 0)
            return fn(path, &st, FTW_SLN, &ftw);
        return fn(path, &st, FTW_NS, &ftw);
    }
    if (!S_ISDIR(st.st_mode))
        return fn(path, &st, S_ISLNK(st.st_mode) ? FTW_SL : FTW_F, &ftw);
    if (!(flags & FTW_DEPTH) && (rc = fn(path, &st, FTW_D, &ftw)) != 0)
        return rc;
    DIR *dir = opendir(path);
    if (!dir)
        return fn(path, &st, FTW_DNR, &ftw);
    struct dirent *d;
    while ((d = readdir(dir))) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        size_t n = strlen(d->d_name);
        if (length + 1 + n >= PATH_MAX) {
            closedir(dir);
            errno = ENAMETOOLONG;
            return -1;
        }
        path[length] = length && path[length - 1] == '/' ? '\0' : '/';
        size_t at = length + (path[length] == '/');
        memcpy(path + at, d->d_name, n + 1);
        rc = walk(path, at + n, level + 1, fn, flags);
        path[length] = '\0';
        if (rc != 0) {
            closedir(dir);
            return rc;
        }
    }
    closedir(dir);
    if (flags & FTW_DEPTH)
        return fn(path, &st, FTW_DP, &ftw);
    return 0;
}

/* A tree glibc's walkers would list wrongly: the image's or the delta's. */
static int is_virtual_tree(const struct vial_route_result *r)
{
    return r->route == VIAL_ROUTE_IMAGE || (r->resolved && r->vfs.kind == VIAL_VFS_UPPER);
}

int nftw(const char *path, nftw_callback fn, int descriptors, int flags)
{
    struct vial_route_result r;
    if (vial_busy)
        return REAL(nftw)(path, fn, descriptors, flags);
    vial_route(&r, AT_FDCWD, path, !(flags & FTW_PHYS));
    /* FTW_CHDIR and FTW_ACTIONRETVAL are left to glibc on host trees */
    if (!is_virtual_tree(&r) || (flags & (FTW_CHDIR | FTW_ACTIONRETVAL)))
        return REAL(nftw)(path, fn, descriptors, flags);
    char buffer[PATH_MAX];
    snprintf(buffer, sizeof buffer, "%s", path);
    return walk(buffer, strlen(buffer), 0, fn, flags);
}

int nftw64(const char *path, int (*fn)(const char *, const struct stat64 *, int, struct FTW *),
           int descriptors, int flags)
{
    return nftw(path, (nftw_callback)fn, descriptors, flags);
}

static _Thread_local int (*ftw_user)(const char *, const struct stat *, int);
static int ftw_adapter(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    return ftw_user(path, st, type == FTW_DP ? FTW_D : type == FTW_SLN ? FTW_NS : type);
}

int ftw(const char *path, int (*fn)(const char *, const struct stat *, int), int descriptors)
{
    struct vial_route_result r;
    if (vial_busy)
        return REAL(ftw)(path, fn, descriptors);
    vial_route(&r, AT_FDCWD, path, 1);
    if (!is_virtual_tree(&r))
        return REAL(ftw)(path, fn, descriptors);
    ftw_user = fn;
    char buffer[PATH_MAX];
    snprintf(buffer, sizeof buffer, "%s", path);
    return walk(buffer, strlen(buffer), 0, ftw_adapter, 0);
}
