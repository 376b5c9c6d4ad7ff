/*
 * check_dirs.c - directories: mkdir/rmdir, readdir after changes, and the
 * dirfd-relative calls (openat & co.). The lower entries are in fixture.c
 * under mkdir/, readdir/ and at/.
 */
#include "suite.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ mkdir */

static void mkdir_new(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("mkdir/new"), 0755));
    put_stat(r, "stat", "mkdir/new", 0);
    put_listing(r, "list", "mkdir/new");
}

static void mkdir_modes(struct result *r)
{
    put_rc(r, "mkdir-0700", mkdir(P("mkdir/m700"), 0700));
    put_stat(r, "m700", "mkdir/m700", 0);
    put_rc(r, "mkdir-0777", mkdir(P("mkdir/m777"), 0777));
    put_stat(r, "m777-umask-022", "mkdir/m777", 0);
    mode_t old = umask(077);
    put_rc(r, "mkdir-umask-077", mkdir(P("mkdir/m-umask"), 0777));
    umask(old);
    put_stat(r, "umask-077", "mkdir/m-umask", 0);
    put_rc(r, "mkdir-sticky", mkdir(P("mkdir/sticky"), 01777));
    put_stat(r, "sticky", "mkdir/sticky", 0);
}

static void mkdir_exists(struct result *r)
{
    put_rc(r, "lower-dir", mkdir(P("mkdir/exists"), 0755));
    put_rc(r, "lower-file", mkdir(P("mkdir/file.txt"), 0755));
    put_rc(r, "dangling-link", mkdir(P("mkdir/dangling"), 0755));
    put_rc(r, "link-to-dir", mkdir(P("mkdir/link-dir"), 0755));
    put_rc(r, "create", mkdir(P("mkdir/twice"), 0755));
    put_rc(r, "created", mkdir(P("mkdir/twice"), 0755));
    put_exists(r, "dangling-target", "mkdir/nowhere");
}

static void mkdir_errors(struct result *r)
{
    put_rc(r, "missing-parent", mkdir(P("mkdir/missing/x"), 0755));
    put_rc(r, "under-file", mkdir(P("mkdir/file.txt/x"), 0755));
    put_rc(r, "under-dangling", mkdir(P("mkdir/dangling/x"), 0755));
    put_rc(r, "trailing-slash", mkdir(P("mkdir/slash/"), 0755));
    put_stat(r, "slash", "mkdir/slash", 0);
    put_rc(r, "through-link", mkdir(P("mkdir/link-dir/inner"), 0755));
    put_listing(r, "link-target", "mkdir/exists");
}

static void rmdir_nonempty(struct result *r)
{
    put_rc(r, "lower", rmdir(P("mkdir/full")));
    put_listing(r, "lower-list", "mkdir/full");
    put_rc(r, "mkdir", mkdir(P("mkdir/full-created"), 0755));
    put_rc(r, "child", make_file("mkdir/full-created/child", "child\n"));
    put_rc(r, "created", rmdir(P("mkdir/full-created")));
}

static void rmdir_errors(struct result *r)
{
    put_rc(r, "missing", rmdir(P("mkdir/missing")));
    put_rc(r, "file", rmdir(P("mkdir/file.txt")));
    put_rc(r, "dot", rmdir(P("mkdir/exists/.")));
    put_rc(r, "dotdot", rmdir(P("mkdir/exists/..")));
    put_rc(r, "symlink-to-dir", rmdir(P("mkdir/link-dir")));
    put_rc(r, "dangling", rmdir(P("mkdir/dangling")));
    put_rc(r, "under-file", rmdir(P("mkdir/file.txt/x")));
    put_exists(r, "exists", "mkdir/exists");
}

static void rmdir_lower_empty(struct result *r)
{
    put_rc(r, "rmdir", rmdir(P("mkdir/rm-lower")));
    put_exists(r, "after", "mkdir/rm-lower");
    put_rc(r, "again", rmdir(P("mkdir/rm-lower")));
}

static void rmdir_created(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("mkdir/gone"), 0755));
    put_rc(r, "rmdir", rmdir(P("mkdir/gone")));
    put_exists(r, "after", "mkdir/gone");
    put_rc(r, "mkdir-nested", mkdir(P("mkdir/outer"), 0755));
    put_rc(r, "mkdir-inner", mkdir(P("mkdir/outer/inner"), 0755));
    put_rc(r, "rmdir-inner", rmdir(P("mkdir/outer/inner")));
    put_rc(r, "rmdir-outer", rmdir(P("mkdir/outer")));
}

static void mkdir_recreate_lower(struct result *r)
{
    put_rc(r, "unlink-a", unlink(P("mkdir/replace-lower/a")));
    put_rc(r, "unlink-b", unlink(P("mkdir/replace-lower/b")));
    put_rc(r, "rmdir-sub", rmdir(P("mkdir/replace-lower/sub")));
    put_listing(r, "emptied", "mkdir/replace-lower");
    put_rc(r, "rmdir", rmdir(P("mkdir/replace-lower")));
    put_rc(r, "mkdir", mkdir(P("mkdir/replace-lower"), 0700));
    put_stat(r, "stat", "mkdir/replace-lower", 0);
    put_listing(r, "list", "mkdir/replace-lower");
    put_exists(r, "old-child", "mkdir/replace-lower/a");
}

static void mkdir_over_unlinked_lower_file(struct result *r)
{
    put_rc(r, "unlink", unlink(P("mkdir/was-file.txt")));
    put_rc(r, "mkdir", mkdir(P("mkdir/was-file.txt"), 0755));
    put_stat(r, "stat", "mkdir/was-file.txt", 0);
    put_listing(r, "list", "mkdir/was-file.txt");
}

/* ------------------------------------------------------------ readdir */

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char dirent_type(unsigned char type)
{
    switch (type) {
    case DT_REG: return 'f';
    case DT_DIR: return 'd';
    case DT_LNK: return 'l';
    case DT_UNKNOWN: return '?';
    default: return 'x';
    }
}

static void readdir_fixture_listing(struct result *r)
{
    put_listing(r, "base", "readdir/base");
    put_listing(r, "tree", "tree");
    put_listing(r, "nested", "nested/one");
    put_listing(r, "dir-empty", "dir-empty");
    put_listing(r, "empty", "readdir/empty");
}

static void readdir_types(struct result *r)
{
    DIR *d = opendir(P("readdir/base"));
    if (!d) {
        put_rc(r, "opendir", -1);
        return;
    }
    char *names[64];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) && count < 64) {
        char item[300];
        snprintf(item, sizeof item, "%s:%c", e->d_name, dirent_type(e->d_type));
        names[count] = strdup(item);
        if (names[count])
            count++;
    }
    closedir(d);
    qsort(names, count, sizeof *names, compare_strings);
    char text[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        if (used < sizeof text)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", i ? "," : "", names[i]);
        free(names[i]);
    }
    put(r, "types=%s", text);
}

static void readdir_after_changes(struct result *r)
{
    put_rc(r, "create", make_file("readdir/churn/five", "5\n"));
    put_rc(r, "unlink", unlink(P("readdir/churn/two")));
    put_rc(r, "rename", rename(P("readdir/churn/three"), P("readdir/churn/three-renamed")));
    put_rc(r, "mkdir", mkdir(P("readdir/churn/six"), 0755));
    put_rc(r, "rmdir", rmdir(P("readdir/churn/four")));
    put_rc(r, "recreate", make_file("readdir/churn/two", "2 again\n"));
    put_listing(r, "list", "readdir/churn");
}

static void readdir_rewind(struct result *r)
{
    DIR *d = opendir(P("readdir/rewind"));
    if (!d) {
        put_rc(r, "opendir", -1);
        return;
    }
    int before = 0, after = 0, seen = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        before++;
    put_rc(r, "create", make_file("readdir/rewind/new", "new\n"));
    rewinddir(d);
    while ((e = readdir(d))) {
        after++;
        seen |= strcmp(e->d_name, "new") == 0;
    }
    closedir(d);
    put(r, "before=%d after=%d new-seen=%s", before, after, seen ? "yes" : "no");
}

static void readdir_seek(struct result *r)
{
    DIR *d = opendir(P("readdir/base"));
    if (!d) {
        put_rc(r, "opendir", -1);
        return;
    }
    readdir(d);
    readdir(d);
    long position = telldir(d);
    struct dirent *e = readdir(d);
    char third[256] = "";
    if (e)
        snprintf(third, sizeof third, "%s", e->d_name);
    readdir(d);
    seekdir(d, position);
    e = readdir(d);
    put(r, "seekdir-repeats=%s", e && strcmp(e->d_name, third) == 0 ? "yes" : "no");
    closedir(d);
}

static void readdir_emptied_lower(struct result *r)
{
    put_rc(r, "unlink-x", unlink(P("readdir/emptied/x")));
    put_rc(r, "unlink-y", unlink(P("readdir/emptied/y")));
    put_listing(r, "list", "readdir/emptied");
    put_rc(r, "rmdir", rmdir(P("readdir/emptied")));
    put_listing(r, "after", "readdir/emptied");
}

static void readdir_created_dir(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("readdir/new"), 0755));
    put_rc(r, "b", make_file("readdir/new/b", "b\n"));
    put_rc(r, "a", make_file("readdir/new/a", "a\n"));
    put_rc(r, "sub", mkdir(P("readdir/new/sub"), 0755));
    put_rc(r, "link", symlink("a", P("readdir/new/link")));
    put_listing(r, "list", "readdir/new");
}

/* Counts readdir/many's names and checks them against the fixture's. */
static void put_many(struct result *r, const char *key, int step)
{
    DIR *d = opendir(P("readdir/many"));
    if (!d) {
        put(r, "%s=%s", key, errno_name(errno));
        return;
    }
    int seen[300] = {0}, count = 0, strangers = 0, twice = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int n;
        char tail[64];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        count++;
        if (sscanf(e->d_name, "entry-%3d-with-a-longer-%63s", &n, tail) == 2 && strcmp(tail, "name") == 0 &&
            n >= 0 && n < 300) {
            twice += seen[n] > 0;
            seen[n]++;
        } else {
            strangers++;
        }
    }
    closedir(d);
    int missing = 0;
    for (int i = 0; i < 300; i += step)
        missing += seen[i] == 0;
    put(r, "%s=count:%d,missing:%d,twice:%d,strangers:%d", key, count, missing, twice, strangers);
}

static void readdir_many(struct result *r)
{
    put_many(r, "lower", 1);
    char name[64];
    int failed = 0;
    for (int i = 1; i < 300; i += 2) {
        snprintf(name, sizeof name, "readdir/many/entry-%03d-with-a-longer-name", i);
        failed += unlink(P(name)) < 0;
    }
    put(r, "unlink-odd-failures=%d", failed);
    put_many(r, "after", 2);
}

static void readdir_scandir(struct result *r)
{
    struct dirent **list;
    int n = scandir(P("readdir/base"), &list, NULL, alphasort);
    if (n < 0) {
        put_rc(r, "scandir", -1);
        return;
    }
    char text[1024] = "";
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        if (used < sizeof text)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", i ? "," : "", list[i]->d_name);
        free(list[i]);
    }
    free(list);
    put(r, "scandir=%s", text);
}

static void readdir_fdopendir(struct result *r)
{
    int fd = open(P("tree"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    put_rc(r, "fdopendir", d ? 0 : -1);
    if (!d) {
        close(fd);
        return;
    }
    int count = 0;
    while (readdir(d))
        count++;
    closedir(d);
    put(r, "entries=%d", count);
}

static char *walk_items[64];
static size_t walk_count;
static size_t walk_prefix;

static int walk_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    char item[512];
    const char *relative = strlen(path) > walk_prefix ? path + walk_prefix + 1 : ".";
    char type = flag == FTW_F ? 'f' : flag == FTW_D || flag == FTW_DP ? 'd' : flag == FTW_SL ? 'l' : '?';
    snprintf(item, sizeof item, "%s:%c", relative, type);
    if (walk_count < 64 && (walk_items[walk_count] = strdup(item)))
        walk_count++;
    return 0;
}

static void readdir_nftw(struct result *r)
{
    walk_count = 0;
    walk_prefix = strlen(P("nested"));
    int rc = nftw(P("nested"), walk_visit, 8, FTW_PHYS);
    put_rc(r, "nftw", rc);
    qsort(walk_items, walk_count, sizeof *walk_items, compare_strings);
    char text[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < walk_count; i++) {
        if (used < sizeof text)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", i ? "," : "", walk_items[i]);
        free(walk_items[i]);
    }
    put(r, "walk=%s", text);
}

/* ------------------------------------------------------------ at */

static int open_dir(struct result *r, const char *relative, int flags)
{
    int fd = open(P(relative), O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
    put_rc(r, "dirfd", fd);
    return fd;
}

static void put_at_content(struct result *r, const char *key, int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        put(r, "%s=%s", key, errno_name(errno));
        return;
    }
    char buffer[256];
    ssize_t n = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    if (n < 0) {
        put(r, "%s=%s", key, errno_name(errno));
        return;
    }
    buffer[n] = '\0';
    buffer[strcspn(buffer, "\n")] = '\0';
    put(r, "%s=\"%s\"", key, buffer);
}

static void put_at_stat(struct result *r, const char *key, int dirfd, const char *name, int flags)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, flags) < 0)
        put(r, "%s=%s", key, errno_name(errno));
    else
        put(r, "%s=%s,%04o", key, type_name(st.st_mode), (unsigned)(st.st_mode & 07777));
}

static void at_openat(struct result *r)
{
    int dirfd = open_dir(r, "at", 0);
    if (dirfd < 0)
        return;
    put_at_content(r, "file", dirfd, "file.txt");
    put_at_content(r, "dotdot", dirfd, "../small.txt");
    put_at_content(r, "link", dirfd, "link");
    put_at_content(r, "missing", dirfd, "missing");
    int fd = openat(dirfd, "created", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    put_rc(r, "create", fd);
    if (fd >= 0)
        close(fd);
    put_stat(r, "created", "at/created", 0);
    close(dirfd);
}

static void at_o_path_dirfd(struct result *r)
{
    int dirfd = open_dir(r, "at", O_PATH);
    if (dirfd < 0)
        return;
    put_at_content(r, "file", dirfd, "file.txt");
    put_at_stat(r, "stat", dirfd, "file.txt", 0);
    close(dirfd);
}

static void at_fstatat(struct result *r)
{
    int dirfd = open_dir(r, "at", 0);
    if (dirfd < 0)
        return;
    put_at_stat(r, "nofollow", dirfd, "link", AT_SYMLINK_NOFOLLOW);
    put_at_stat(r, "follow", dirfd, "link", 0);
    put_at_stat(r, "empty-path", dirfd, "", AT_EMPTY_PATH);
    put_at_stat(r, "missing", dirfd, "missing", 0);
    struct statx sx;
    if (statx(dirfd, "file.txt", 0, STATX_BASIC_STATS, &sx) < 0)
        put(r, "statx=%s", errno_name(errno));
    else
        put(r, "statx=%s,%04o,size:%llu,nlink:%u", type_name(sx.stx_mode), (unsigned)(sx.stx_mode & 07777),
            (unsigned long long)sx.stx_size, sx.stx_nlink);
    close(dirfd);
}

static void at_mkdirat_unlinkat(struct result *r)
{
    int dirfd = open_dir(r, "at", 0);
    if (dirfd < 0)
        return;
    put_rc(r, "mkdirat", mkdirat(dirfd, "d", 0755));
    put_at_stat(r, "stat", dirfd, "d", 0);
    put_rc(r, "unlinkat-dir-no-flag", unlinkat(dirfd, "d", 0));
    put_rc(r, "unlinkat-dir", unlinkat(dirfd, "d", AT_REMOVEDIR));
    put_rc(r, "unlinkat-lower-file-as-dir", unlinkat(dirfd, "file.txt", AT_REMOVEDIR));
    put_rc(r, "create", make_file("at/remove-me", "x\n"));
    put_rc(r, "unlinkat-file", unlinkat(dirfd, "remove-me", 0));
    put_exists(r, "after", "at/remove-me");
    close(dirfd);
}

static void at_renameat(struct result *r)
{
    int dirfd = open_dir(r, "at", 0);
    if (dirfd < 0)
        return;
    int top = open_dir(r, ".", 0);
    put_rc(r, "renameat", renameat(dirfd, "rename-me.txt", dirfd, "renamed.txt"));
    put_at_content(r, "renamed", dirfd, "renamed.txt");
    if (top >= 0) {
        put_rc(r, "across-dirfds", renameat(dirfd, "renamed.txt", top, "at-moved.txt"));
        put_content(r, "moved", "at-moved.txt");
        put_rc(r, "back", renameat(top, "at-moved.txt", dirfd, "renamed.txt"));
        close(top);
    }
    close(dirfd);
}

static void at_links(struct result *r)
{
    int dirfd = open_dir(r, "at", 0);
    if (dirfd < 0)
        return;
    put_rc(r, "symlinkat", symlinkat("file.txt", dirfd, "sym-at"));
    char target[256];
    ssize_t n = readlinkat(dirfd, "sym-at", target, sizeof target - 1);
    if (n < 0)
        put(r, "readlinkat=%s", errno_name(errno));
    else
        put(r, "readlinkat=\"%.*s\"", (int)n, target);
    put_rc(r, "linkat", linkat(dirfd, "file.txt", dirfd, "hard-at", 0));
    put_stat(r, "hard", "at/hard-at", 0);
    put_rc(r, "linkat-follow", linkat(dirfd, "link", dirfd, "hard-follow", AT_SYMLINK_FOLLOW));
    put_stat(r, "hard-follow", "at/hard-follow", 0);
    close(dirfd);
}

static void at_metadata(struct result *r)
{
    int dirfd = open_dir(r, "at", 0);
    if (dirfd < 0)
        return;
    put_rc(r, "fchmodat", fchmodat(dirfd, "chmod.txt", 0600, 0));
    put_at_stat(r, "mode", dirfd, "chmod.txt", 0);
    struct timespec t[2] = {{1111111111, 111}, {1222222222, 222}};
    put_rc(r, "utimensat", utimensat(dirfd, "times.txt", t, 0));
    struct stat st;
    if (fstatat(dirfd, "times.txt", &st, 0) == 0)
        put(r, "mtime=%lld.%09ld", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    put_rc(r, "faccessat-r", faccessat(dirfd, "file.txt", R_OK, 0));
    put_rc(r, "faccessat-x", faccessat(dirfd, "file.txt", X_OK, AT_EACCESS));
    put_rc(r, "faccessat-missing", faccessat(dirfd, "missing", F_OK, 0));
    close(dirfd);
}

static void at_fchdir(struct result *r)
{
    int dirfd = open_dir(r, "at", 0);
    if (dirfd < 0)
        return;
    put_rc(r, "fchdir", fchdir(dirfd));
    close(dirfd);
    char buffer[256];
    int fd = open("file.txt", O_RDONLY | O_CLOEXEC);
    put_rc(r, "open-relative", fd);
    if (fd >= 0) {
        ssize_t n = read(fd, buffer, sizeof buffer - 1);
        buffer[n > 0 ? n - 1 : 0] = '\0';
        put(r, "content=\"%s\"", buffer);
        close(fd);
    }
    fd = open("made-relative", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    put_rc(r, "creat-relative", fd);
    if (fd >= 0)
        close(fd);
    put_exists(r, "made", "at/made-relative");
    char cwd[8192], want[8192];
    if (!getcwd(cwd, sizeof cwd))
        put(r, "getcwd=%s", errno_name(errno));
    else if (!realpath(P("at"), want))
        put(r, "realpath=%s", errno_name(errno));
    else
        put(r, "getcwd-is-at=%s", strcmp(cwd, want) == 0 ? "yes" : "no");
    put_rc(r, "chdir-dotdot", chdir(".."));
    put_content(r, "small", "small.txt");
    fd = open("small.txt", O_RDONLY | O_CLOEXEC);
    put_rc(r, "open-after-dotdot", fd);
    if (fd >= 0)
        close(fd);
}

static void at_errors(struct result *r)
{
    int fd = open(P("at/file.txt"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    int other = openat(fd, "x", O_RDONLY | O_CLOEXEC);
    put_rc(r, "file-as-dirfd", other);
    if (other >= 0)
        close(other);
    close(fd);
    put_rc(r, "bad-dirfd", mkdirat(-1, "x", 0755));
}

/* ------------------------------------------------------------ tables */

const struct check mkdir_checks[] = {
    {"mkdir/new", mkdir_new},
    {"mkdir/modes", mkdir_modes},
    {"mkdir/exists", mkdir_exists},
    {"mkdir/errors", mkdir_errors},
    {"mkdir/rmdir-nonempty", rmdir_nonempty},
    {"mkdir/rmdir-errors", rmdir_errors},
    {"mkdir/rmdir-lower-empty", rmdir_lower_empty},
    {"mkdir/rmdir-created", rmdir_created},
    {"mkdir/recreate-lower", mkdir_recreate_lower},
    {"mkdir/over-unlinked-lower-file", mkdir_over_unlinked_lower_file},
    {NULL, NULL},
};

const struct check readdir_checks[] = {
    {"readdir/fixture-listing", readdir_fixture_listing},
    {"readdir/types", readdir_types},
    {"readdir/after-changes", readdir_after_changes},
    {"readdir/rewind", readdir_rewind},
    {"readdir/seek", readdir_seek},
    {"readdir/emptied-lower", readdir_emptied_lower},
    {"readdir/created-dir", readdir_created_dir},
    {"readdir/many", readdir_many},
    {"readdir/scandir", readdir_scandir},
    {"readdir/fdopendir", readdir_fdopendir},
    {"readdir/nftw", readdir_nftw},
    {NULL, NULL},
};

const struct check at_checks[] = {
    {"at/openat", at_openat},
    {"at/o-path-dirfd", at_o_path_dirfd},
    {"at/fstatat", at_fstatat},
    {"at/mkdirat-unlinkat", at_mkdirat_unlinkat},
    {"at/renameat", at_renameat},
    {"at/links", at_links},
    {"at/metadata", at_metadata},
    {"at/fchdir", at_fchdir},
    {"at/errors", at_errors},
    {NULL, NULL},
};
