/*
 * check_meta.c - metadata: the fixture as found (every entry's type, mode,
 * size, link count, mtime and owner), permissions, timestamps, user.*
 * xattrs and chown. The lower entries are in fixture.c under perm/, times/,
 * xattr/ and chown/.
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

/* An owner and group nobody on a test machine has. */
#define OTHER_ID 12345

/* ------------------------------------------------------------ fixture */

/* Appends KEY=fixture when TS is the fixture's time of PATH; else the
 * offset from it when that is under a day (a lost nsec or a rounding
 * shows), or just "later"/"earlier" (a clock time must not be printed). */
static void put_fixture_time(struct result *r, const char *key, const struct timespec *ts, const char *path)
{
    long long delta = (long long)ts->tv_sec - fixture_mtime_of(path);
    if (delta == 0 && ts->tv_nsec == FIXTURE_NSEC)
        put(r, "%s=fixture", key);
    else if (delta > -86400 && delta < 86400)
        put(r, "%s=not-fixture(sec%+lld,nsec:%ld)", key, delta, ts->tv_nsec);
    else
        put(r, "%s=not-fixture(%s)", key, delta > 0 ? "later" : "earlier");
}

void fixture_describe(struct result *r, const char *path)
{
    struct stat st;
    if (lstat(P(path), &st) < 0) {
        put_rc(r, NULL, -1);
        return;
    }
    put(r, "%s %04o", type_name(st.st_mode), (unsigned)(st.st_mode & 07777));
    if (!S_ISDIR(st.st_mode))
        put(r, "size=%lld", (long long)st.st_size);
    put(r, "nlink=%lu", (unsigned long)st.st_nlink);
    put_fixture_time(r, "mtime", &st.st_mtim, path);
    put(r, "owner=%s group=%s", owner_name(st.st_uid), group_name(st.st_gid));
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlink(P(path), target, sizeof target - 1);
        if (n >= 0)
            put(r, "target=\"%.*s\"", (int)n, target);
    }
}

static void fixture_root_listing(struct result *r)
{
    put_listing(r, "list", ".");
}

/* ------------------------------------------------------------ perm */

static void perm_chmod_lower(struct result *r)
{
    put_rc(r, "chmod", chmod(P("perm/chmod.txt"), 0600));
    put_stat(r, "stat", "perm/chmod.txt", 0);
    put_content(r, "content", "perm/chmod.txt");
}

static void perm_chmod_created(struct result *r)
{
    put_rc(r, "create", make_file("perm/c1", "created\n"));
    put_rc(r, "chmod", chmod(P("perm/c1"), 0640));
    put_stat(r, "stat", "perm/c1", 0);
    int fd = open(P("perm/c1"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd >= 0) {
        put_rc(r, "fchmod", fchmod(fd, 0604));
        close(fd);
    }
    put_stat(r, "after-fchmod", "perm/c1", 0);
}

static void chmod_zero_then_open(struct result *r, const char *relative)
{
    put_rc(r, "chmod", chmod(P(relative), 0));
    put_stat(r, "stat", relative, 0);
    int fd = open(P(relative), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open-read", fd);
    if (fd >= 0)
        close(fd);
    fd = open(P(relative), O_WRONLY | O_APPEND | O_CLOEXEC);
    put_rc(r, "open-write", fd);
    if (fd >= 0)
        close(fd);
    put_rc(r, "access-r", access(P(relative), R_OK));
    put_rc(r, "chmod-back", chmod(P(relative), 0644));
    put_content(r, "content", relative);
}

static void perm_chmod_zero_lower(struct result *r)
{
    chmod_zero_then_open(r, "perm/zero.txt");
}

static void perm_chmod_zero_created(struct result *r)
{
    put_rc(r, "create", make_file("perm/zero-created", "zero\n"));
    chmod_zero_then_open(r, "perm/zero-created");
}

static void perm_access(struct result *r)
{
    put_rc(r, "ro-r", access(P("perm/ro.txt"), R_OK));
    put_rc(r, "ro-w", access(P("perm/ro.txt"), W_OK));
    put_rc(r, "ro-x", access(P("perm/ro.txt"), X_OK));
    put_rc(r, "exec-x", access(P("perm/exec.sh"), X_OK));
    put_rc(r, "shared-ro-w", access(P("readonly.txt"), W_OK));
    put_rc(r, "dir-w", access(P("perm"), W_OK));
    put_rc(r, "dir-x", access(P("perm"), X_OK));
    put_rc(r, "missing", access(P("perm/missing"), F_OK));
    put_rc(r, "eaccess-w", faccessat(AT_FDCWD, P("perm/ro.txt"), W_OK, AT_EACCESS));
}

static void perm_dir_no_write_lower(struct result *r)
{
    put_rc(r, "chmod", chmod(P("perm/nowrite-dir"), 0555));
    int fd = open(P("perm/nowrite-dir/child"), O_WRONLY | O_APPEND | O_CLOEXEC);
    put_rc(r, "write-child", fd); /* the file's own mode decides */
    if (fd >= 0)
        close(fd);
    put_rc(r, "create", make_file("perm/nowrite-dir/new", "new\n"));
    put_rc(r, "unlink", unlink(P("perm/nowrite-dir/child")));
    put_rc(r, "mkdir", mkdir(P("perm/nowrite-dir/sub"), 0755));
    put_rc(r, "chmod-back", chmod(P("perm/nowrite-dir"), 0755));
    put_listing(r, "list", "perm/nowrite-dir");
}

static void perm_dir_no_search_lower(struct result *r)
{
    struct stat st;
    put_rc(r, "chmod", chmod(P("perm/nosearch-dir"), 0644));
    put_rc(r, "stat-child", stat(P("perm/nosearch-dir/child"), &st));
    int fd = open(P("perm/nosearch-dir/child"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open-child", fd);
    if (fd >= 0)
        close(fd);
    put_listing(r, "list", "perm/nosearch-dir");
    put_rc(r, "chmod-back", chmod(P("perm/nosearch-dir"), 0755));
    put_content(r, "child", "perm/nosearch-dir/child");
}

static void perm_dir_no_read_lower(struct result *r)
{
    put_rc(r, "chmod", chmod(P("perm/noread-dir"), 0311));
    put_listing(r, "list", "perm/noread-dir");
    put_content(r, "child", "perm/noread-dir/child");
    put_rc(r, "chmod-back", chmod(P("perm/noread-dir"), 0755));
    put_listing(r, "list-after", "perm/noread-dir");
}

static void perm_dir_no_read_created(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("perm/noread-created"), 0755));
    put_rc(r, "child", make_file("perm/noread-created/child", "child\n"));
    put_rc(r, "chmod", chmod(P("perm/noread-created"), 0300));
    put_listing(r, "list", "perm/noread-created");
    put_rc(r, "chmod-back", chmod(P("perm/noread-created"), 0755));
    put_listing(r, "list-after", "perm/noread-created");
}

static void perm_umask(struct result *r)
{
    mode_t old = umask(027);
    int fd = open(P("perm/umask-027"), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    put_rc(r, "create-027", fd);
    if (fd >= 0)
        close(fd);
    umask(0);
    fd = open(P("perm/umask-0"), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    put_rc(r, "create-0", fd);
    if (fd >= 0)
        close(fd);
    put_rc(r, "mkdir-0", mkdir(P("perm/umask-0-dir"), 0777));
    umask(old);
    put_stat(r, "027", "perm/umask-027", 0);
    put_stat(r, "0", "perm/umask-0", 0);
    put_stat(r, "dir-0", "perm/umask-0-dir", 0);
}

static void perm_special_bits(struct result *r)
{
    put_rc(r, "create", make_file("perm/special", "special\n"));
    put_rc(r, "setuid", chmod(P("perm/special"), 04755));
    put_stat(r, "after-setuid", "perm/special", 0);
    put_rc(r, "setgid", chmod(P("perm/special"), 02755));
    put_stat(r, "after-setgid", "perm/special", 0);
    put_rc(r, "mkdir", mkdir(P("perm/sticky-dir"), 0755));
    put_rc(r, "sticky", chmod(P("perm/sticky-dir"), 01777));
    put_stat(r, "after-sticky", "perm/sticky-dir", 0);
    put_rc(r, "lower-setgid-dir", chmod(P("perm"), 02755));
    put_rc(r, "in-setgid-dir", mkdir(P("perm/in-setgid"), 0755));
    put_stat(r, "in-setgid-stat", "perm/in-setgid", 0);
    put_rc(r, "lower-back", chmod(P("perm"), 0755));
}

static void perm_chmod_symlink(struct result *r)
{
    put_rc(r, "chmod", chmod(P("perm/link"), 0600));
    put_stat(r, "target", "perm/link-target.txt", 0);
    put_stat(r, "link", "perm/link", 0);
    put_rc(r, "nofollow", fchmodat(AT_FDCWD, P("perm/link"), 0644, AT_SYMLINK_NOFOLLOW));
    put_stat(r, "link-after", "perm/link", 0);
}

static void perm_chmod_errors(struct result *r)
{
    put_rc(r, "missing", chmod(P("perm/missing"), 0644));
    put_rc(r, "under-file", chmod(P("perm/chmod.txt/x"), 0644));
    put_rc(r, "dangling", chmod(P("perm/dangling"), 0644));
    put_exists(r, "dangling-target", "perm/nowhere");
}

static void perm_write_after_chmod(struct result *r)
{
    put_rc(r, "create", make_file("perm/fd-ro", "before\n"));
    int fd = open(P("perm/fd-ro"), O_RDWR | O_APPEND | O_CLOEXEC);
    put_rc(r, "open", fd);
    put_rc(r, "chmod", chmod(P("perm/fd-ro"), 0444));
    if (fd >= 0) {
        ssize_t n = write(fd, "after\n", 6);
        put(r, "write=%s", n == 6 ? "6" : errno_name(errno));
        close(fd);
    }
    put_content(r, "content", "perm/fd-ro");
    put_stat(r, "stat", "perm/fd-ro", 0);
}

/* ------------------------------------------------------------ times */

static void put_time(struct result *r, const char *key, const struct timespec *ts)
{
    put(r, "%s=%lld.%09ld", key, (long long)ts->tv_sec, ts->tv_nsec);
}

/* A time is "recent" when it lies between FROM - 1 s and now + 1 s (the
 * kernel stamps files from a coarse clock). */
static int recent(const struct timespec *ts, const struct timespec *from)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return ts->tv_sec >= from->tv_sec - 1 && ts->tv_sec <= now.tv_sec + 1;
}

static void put_recent(struct result *r, const char *key, const struct timespec *ts, const struct timespec *from)
{
    put(r, "%s=%s", key, recent(ts, from) ? "recent" : "not-recent");
}

static void times_set(struct result *r, const char *relative)
{
    struct timespec t[2] = {{1000000001, 111111111}, {1234567890, 123456789}};
    put_rc(r, "utimensat", utimensat(AT_FDCWD, P(relative), t, 0));
    struct stat st;
    if (lstat(P(relative), &st) < 0) {
        put_rc(r, "lstat", -1);
        return;
    }
    put_time(r, "atime", &st.st_atim);
    put_time(r, "mtime", &st.st_mtim);
}

static void times_set_lower(struct result *r)
{
    times_set(r, "times/set.txt");
}

static void times_set_created(struct result *r)
{
    put_rc(r, "create", make_file("times/set-created", "x\n"));
    times_set(r, "times/set-created");
}

static void times_omit_mtime_lower(struct result *r)
{
    struct timespec t[2] = {{1300000000, 5}, {0, UTIME_OMIT}};
    put_rc(r, "utimensat", utimensat(AT_FDCWD, P("times/omit.txt"), t, 0));
    struct stat st;
    if (lstat(P("times/omit.txt"), &st) == 0) {
        put_time(r, "atime", &st.st_atim);
        put_fixture_time(r, "mtime", &st.st_mtim, "times/omit.txt");
    }
}

static void times_omit_atime_lower(struct result *r)
{
    struct timespec t[2] = {{0, UTIME_OMIT}, {1400000000, 999999999}};
    put_rc(r, "utimensat", utimensat(AT_FDCWD, P("times/omit-atime.txt"), t, 0));
    struct stat st;
    if (lstat(P("times/omit-atime.txt"), &st) == 0) {
        put_time(r, "mtime", &st.st_mtim);
        put_fixture_time(r, "atime", &st.st_atim, "times/omit-atime.txt");
    }
}

static void times_now_lower(struct result *r)
{
    struct timespec from;
    clock_gettime(CLOCK_REALTIME, &from);
    put_rc(r, "utimensat", utimensat(AT_FDCWD, P("times/now.txt"), NULL, 0));
    struct stat st;
    if (lstat(P("times/now.txt"), &st) == 0) {
        put_recent(r, "atime", &st.st_atim, &from);
        put_recent(r, "mtime", &st.st_mtim, &from);
    }
    struct timespec t[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    put_rc(r, "utime-now-omit", utimensat(AT_FDCWD, P("times/now.txt"), t, 0));
}

/* Appends what an operation did to RELATIVE's times: whether mtime moved
 * on from BEFORE, and whether mtime and ctime are recent. */
static void put_after(struct result *r, const char *relative, const struct timespec *before,
                      const struct timespec *from)
{
    struct stat st;
    if (lstat(P(relative), &st) < 0) {
        put_rc(r, "lstat", -1);
        return;
    }
    put(r, "mtime-advanced=%s", time_after(&st.st_mtim, before) ? "yes" : "no");
    put_recent(r, "mtime", &st.st_mtim, from);
    put_recent(r, "ctime", &st.st_ctim, from);
}

static void times_write_lower(struct result *r)
{
    struct timespec before = {fixture_mtime_of("times/write.txt"), FIXTURE_NSEC}, from;
    clock_gettime(CLOCK_REALTIME, &from);
    int fd = open(P("times/write.txt"), O_WRONLY | O_APPEND | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd >= 0) {
        ssize_t n = write(fd, "more\n", 5);
        put(r, "write=%s", n == 5 ? "5" : errno_name(errno));
        close(fd);
    }
    put_after(r, "times/write.txt", &before, &from);
}

static void times_write_created(struct result *r)
{
    struct timespec before = {1000000000, 0}, from;
    put_rc(r, "create", make_file("times/write-created", "x\n"));
    put_rc(r, "set-old", set_times("times/write-created", before.tv_sec, before.tv_nsec));
    clock_gettime(CLOCK_REALTIME, &from);
    int fd = open(P("times/write-created"), O_WRONLY | O_APPEND | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd >= 0) {
        ssize_t n = write(fd, "more\n", 5);
        put(r, "write=%s", n == 5 ? "5" : errno_name(errno));
        close(fd);
    }
    put_after(r, "times/write-created", &before, &from);
}

static void times_read_lower(struct result *r)
{
    char buffer[64];
    put(r, "read=%zd", read_text("times/read.txt", buffer, sizeof buffer));
    struct stat st;
    if (lstat(P("times/read.txt"), &st) == 0) {
        put_fixture_time(r, "mtime", &st.st_mtim, "times/read.txt");
        put(r, "ctime-not-before-mtime=%s", time_after(&st.st_mtim, &st.st_ctim) ? "no" : "yes");
    }
}

static void times_chmod_lower(struct result *r)
{
    struct timespec from;
    clock_gettime(CLOCK_REALTIME, &from);
    put_rc(r, "chmod", chmod(P("times/chmod.txt"), 0640));
    struct stat st;
    if (lstat(P("times/chmod.txt"), &st) == 0) {
        put_fixture_time(r, "mtime", &st.st_mtim, "times/chmod.txt");
        put_recent(r, "ctime", &st.st_ctim, &from);
    }
}

static void times_truncate_lower(struct result *r)
{
    struct timespec before = {fixture_mtime_of("times/truncate.txt"), FIXTURE_NSEC}, from;
    clock_gettime(CLOCK_REALTIME, &from);
    put_rc(r, "truncate", truncate(P("times/truncate.txt"), 2));
    put_after(r, "times/truncate.txt", &before, &from);
}

static void times_dir_child_lower(struct result *r)
{
    struct timespec before = {fixture_mtime_of("times/dir"), FIXTURE_NSEC}, from;
    clock_gettime(CLOCK_REALTIME, &from);
    put_rc(r, "create", make_file("times/dir/child", "child\n"));
    put_after(r, "times/dir", &before, &from);
}

static void times_dir_unlink_lower(struct result *r)
{
    struct timespec before = {fixture_mtime_of("times/dir-unlink"), FIXTURE_NSEC}, from;
    clock_gettime(CLOCK_REALTIME, &from);
    put_rc(r, "unlink", unlink(P("times/dir-unlink/x")));
    put_after(r, "times/dir-unlink", &before, &from);
}

static void times_dir_child_created(struct result *r)
{
    struct timespec before = {1000000000, 0}, from;
    put_rc(r, "mkdir", mkdir(P("times/cdir"), 0755));
    put_rc(r, "set-old", set_times("times/cdir", before.tv_sec, before.tv_nsec));
    clock_gettime(CLOCK_REALTIME, &from);
    put_rc(r, "create", make_file("times/cdir/child", "child\n"));
    put_after(r, "times/cdir", &before, &from);
    put_rc(r, "set-old-again", set_times("times/cdir", before.tv_sec, before.tv_nsec));
    put_rc(r, "rename-child", rename(P("times/cdir/child"), P("times/cdir/renamed")));
    put_after(r, "times/cdir", &before, &from);
}

static void times_symlink_nofollow(struct result *r)
{
    struct timespec t[2] = {{1100000000, 1}, {1100000000, 2}};
    put_rc(r, "utimensat", utimensat(AT_FDCWD, P("times/sym"), t, AT_SYMLINK_NOFOLLOW));
    struct stat st;
    if (lstat(P("times/sym"), &st) == 0)
        put_time(r, "link-mtime", &st.st_mtim);
    if (lstat(P("times/sym-target.txt"), &st) == 0)
        put_fixture_time(r, "target-mtime", &st.st_mtim, "times/sym-target.txt");
}

static void times_futimens(struct result *r)
{
    put_rc(r, "create", make_file("times/futimens", "x\n"));
    int fd = open(P("times/futimens"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    struct timespec t[2] = {{1200000000, 7}, {1200000001, 8}};
    put_rc(r, "futimens", futimens(fd, t));
    struct stat st;
    if (fstat(fd, &st) == 0) {
        put_time(r, "atime", &st.st_atim);
        put_time(r, "mtime", &st.st_mtim);
    }
    close(fd);
}

static void times_rename_keeps(struct result *r)
{
    put_rc(r, "rename", rename(P("times/rename-keep.txt"), P("times/renamed-kept.txt")));
    struct stat st;
    if (lstat(P("times/renamed-kept.txt"), &st) == 0)
        put_fixture_time(r, "mtime", &st.st_mtim, "times/rename-keep.txt");
    else
        put_rc(r, "lstat", -1);
}

static void times_errors(struct result *r)
{
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    put_rc(r, "bad-nsec", utimensat(AT_FDCWD, P("times/errors.txt"), bad, 0));
    put_rc(r, "missing", utimensat(AT_FDCWD, P("times/missing"), NULL, 0));
    struct timespec t[2] = {{1000000000, 0}, {1000000000, 0}};
    put_rc(r, "dangling-follow", utimensat(AT_FDCWD, P("times/dangling"), t, 0));
    put_exists(r, "dangling-target", "times/nowhere");
    struct stat st;
    if (lstat(P("times/errors.txt"), &st) == 0)
        put_fixture_time(r, "kept", &st.st_mtim, "times/errors.txt");
}

/* ------------------------------------------------------------ xattr */

static void put_xattr(struct result *r, const char *key, const char *relative, const char *name)
{
    char value[256];
    ssize_t n = getxattr(P(relative), name, value, sizeof value - 1);
    if (n < 0)
        put(r, "%s=%s", key, errno_name(errno));
    else
        put(r, "%s=\"%.*s\"", key, (int)n, value);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends KEY=the sorted user.* names (other namespaces are the system's). */
static void put_xattr_list(struct result *r, const char *key, const char *relative, int follow)
{
    char list[4096];
    ssize_t n = follow ? listxattr(P(relative), list, sizeof list) : llistxattr(P(relative), list, sizeof list);
    if (n < 0) {
        put(r, "%s=%s", key, errno_name(errno));
        return;
    }
    char *names[64];
    size_t count = 0;
    for (char *p = list; p < list + n && count < 64; p += strlen(p) + 1)
        if (strncmp(p, "user.", 5) == 0)
            names[count++] = p;
    qsort(names, count, sizeof *names, compare_strings);
    char text[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < count; i++)
        if (used < sizeof text)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", i ? "," : "", names[i]);
    put(r, "%s=%s", key, count ? text : "(none)");
}

static int set_value(const char *relative, const char *name, const char *value, int flags)
{
    return setxattr(P(relative), name, value, strlen(value), flags);
}

static void xattr_get_lower(struct result *r)
{
    put_xattr(r, "get", "xattr/lower.txt", "user.fixture");
    put(r, "size=%zd", getxattr(P("xattr/lower.txt"), "user.fixture", NULL, 0));
    put_xattr_list(r, "list", "xattr/lower.txt", 1);
    put_xattr_list(r, "plain", "xattr/plain.txt", 1);
}

static void xattr_set_lower(struct result *r)
{
    put_rc(r, "set", set_value("xattr/plain.txt", "user.new", "new value", 0));
    put_xattr(r, "get", "xattr/plain.txt", "user.new");
    put_xattr_list(r, "list", "xattr/plain.txt", 1);
    put_content(r, "content", "xattr/plain.txt");
    put_stat(r, "stat", "xattr/plain.txt", 0);
}

static void xattr_replace_lower(struct result *r)
{
    put_rc(r, "replace", set_value("xattr/lower-replace.txt", "user.fixture", "replaced", XATTR_REPLACE));
    put_xattr(r, "get", "xattr/lower-replace.txt", "user.fixture");
    put_content(r, "content", "xattr/lower-replace.txt");
}

static void xattr_remove_lower(struct result *r)
{
    put_rc(r, "remove", removexattr(P("xattr/lower-remove.txt"), "user.fixture"));
    put_xattr(r, "get", "xattr/lower-remove.txt", "user.fixture");
    put_xattr_list(r, "list", "xattr/lower-remove.txt", 1);
    put_rc(r, "remove-again", removexattr(P("xattr/lower-remove.txt"), "user.fixture"));
}

static void xattr_created(struct result *r)
{
    put_rc(r, "create", make_file("xattr/created", "created\n"));
    put_rc(r, "set-a", set_value("xattr/created", "user.a", "1", 0));
    put_rc(r, "set-b", set_value("xattr/created", "user.b", "two", XATTR_CREATE));
    put_xattr_list(r, "list", "xattr/created", 1);
    put_xattr(r, "get-b", "xattr/created", "user.b");
    put_rc(r, "remove-a", removexattr(P("xattr/created"), "user.a"));
    put_xattr_list(r, "list-after", "xattr/created", 1);
    put_xattr(r, "get-a", "xattr/created", "user.a");
    put_rc(r, "set-empty", set_value("xattr/created", "user.empty", "", 0));
    put_xattr(r, "get-empty", "xattr/created", "user.empty");
}

static void xattr_flags(struct result *r)
{
    put_rc(r, "create-existing", set_value("xattr/flags.txt", "user.fixture", "x", XATTR_CREATE));
    put_rc(r, "replace-missing", set_value("xattr/flags.txt", "user.nothing", "x", XATTR_REPLACE));
    put_xattr(r, "get-missing", "xattr/flags.txt", "user.nothing");
    put_xattr(r, "kept", "xattr/flags.txt", "user.fixture");
    put_rc(r, "remove-missing", removexattr(P("xattr/flags.txt"), "user.nothing"));
    put_xattr(r, "missing-file", "xattr/missing", "user.x");
}

static void xattr_symlink(struct result *r)
{
    put_rc(r, "lset", lsetxattr(P("xattr/sym"), "user.x", "x", 1, 0));
    char value[64];
    ssize_t n = lgetxattr(P("xattr/sym"), "user.x", value, sizeof value);
    put(r, "lget=%s", n < 0 ? errno_name(errno) : "present");
    put_xattr_list(r, "llist", "xattr/sym", 0);
    put_rc(r, "set-through", set_value("xattr/sym", "user.through", "via link", 0));
    put_xattr(r, "target", "xattr/plain.txt", "user.through");
}

static void xattr_fd(struct result *r)
{
    put_rc(r, "create", make_file("xattr/fd", "fd\n"));
    int fd = open(P("xattr/fd"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    put_rc(r, "fset", fsetxattr(fd, "user.f", "by fd", 5, 0));
    char value[64];
    ssize_t n = fgetxattr(fd, "user.f", value, sizeof value);
    if (n < 0)
        put(r, "fget=%s", errno_name(errno));
    else
        put(r, "fget=\"%.*s\"", (int)n, value);
    n = flistxattr(fd, value, sizeof value);
    put(r, "flist-size=%s", n < 0 ? errno_name(errno) : n >= 7 ? "ok" : "short");
    put_rc(r, "fremove", fremovexattr(fd, "user.f"));
    close(fd);
    int lower = open(P("xattr/fd-lower.txt"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open-lower", lower);
    if (lower >= 0) {
        n = fgetxattr(lower, "user.fixture", value, sizeof value);
        if (n < 0)
            put(r, "fget-lower=%s", errno_name(errno));
        else
            put(r, "fget-lower=\"%.*s\"", (int)n, value);
        close(lower);
    }
}

static void xattr_dir_lower(struct result *r)
{
    put_rc(r, "set", set_value("xattr/dir", "user.d", "on a dir", 0));
    put_xattr(r, "get", "xattr/dir", "user.d");
    put_listing(r, "children", "xattr/dir");
}

static void xattr_erange(struct result *r)
{
    char small[3];
    put_rc(r, "get-small", getxattr(P("xattr/erange.txt"), "user.fixture", small, sizeof small));
    put_rc(r, "list-small", listxattr(P("xattr/erange.txt"), small, 1));
    put_rc(r, "bad-namespace", set_value("xattr/plain.txt", "nonsense.x", "x", 0));
}

/* ------------------------------------------------------------ chown */

static void put_owner(struct result *r, const char *key, const char *relative, int follow)
{
    struct stat st;
    int rc = follow ? stat(P(relative), &st) : lstat(P(relative), &st);
    if (rc < 0)
        put(r, "%s=%s", key, errno_name(errno));
    else
        put(r, "%s=%s:%s", key, owner_name(st.st_uid), group_name(st.st_gid));
}

static void chown_self_lower(struct result *r)
{
    put_rc(r, "chown", chown(P("chown/self.txt"), geteuid(), getegid()));
    put_owner(r, "owner", "chown/self.txt", 0);
    put_rc(r, "minus-one", chown(P("chown/self.txt"), (uid_t)-1, (gid_t)-1));
    put_content(r, "content", "chown/self.txt");
}

static void chown_self_created(struct result *r)
{
    put_rc(r, "create", make_file("chown/created", "created\n"));
    put_rc(r, "chown", chown(P("chown/created"), geteuid(), getegid()));
    put_owner(r, "owner", "chown/created", 0);
    int fd = open(P("chown/created"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd >= 0) {
        put_rc(r, "fchown", fchown(fd, geteuid(), getegid()));
        close(fd);
    }
}

static void chown_other_lower(struct result *r)
{
    put_rc(r, "chown", chown(P("chown/other.txt"), OTHER_ID, OTHER_ID));
    put_owner(r, "owner", "chown/other.txt", 0);
    put_content(r, "content", "chown/other.txt");
}

static void chown_other_created(struct result *r)
{
    put_rc(r, "create", make_file("chown/other-created", "other\n"));
    put_rc(r, "chown", chown(P("chown/other-created"), OTHER_ID, (gid_t)-1));
    put_owner(r, "owner", "chown/other-created", 0);
    int fd = open(P("chown/other-created"), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        put_rc(r, "fchown-root", fchown(fd, 0, 0));
        close(fd);
    }
    put_owner(r, "owner-after", "chown/other-created", 0);
}

static void chown_group_other(struct result *r)
{
    put_rc(r, "chown", chown(P("chown/group.txt"), (uid_t)-1, OTHER_ID));
    put_owner(r, "owner", "chown/group.txt", 0);
}

static void chown_symlink(struct result *r)
{
    put_rc(r, "lchown", lchown(P("chown/sym"), geteuid(), getegid()));
    put_owner(r, "link", "chown/sym", 0);
    put_owner(r, "target", "chown/sym", 1);
}

static void chown_clears_setuid(struct result *r)
{
    put_rc(r, "create", make_file("chown/suid", "suid\n"));
    put_rc(r, "chmod", chmod(P("chown/suid"), 06755));
    put_stat(r, "before", "chown/suid", 0);
    put_rc(r, "chown", chown(P("chown/suid"), geteuid(), getegid()));
    put_stat(r, "after", "chown/suid", 0);
}

static void chown_fixture_owners(struct result *r)
{
    put_owner(r, "file", "small.txt", 0);
    put_owner(r, "dir", "tree", 0);
    put_owner(r, "link", "link-file", 0);
    put_owner(r, "root", ".", 0);
    put_owner(r, "created", "chown", 0);
}

/* ------------------------------------------------------------ tables */

const struct check fixture_checks[] = {
    {"fixture/root-listing", fixture_root_listing},
    {NULL, NULL},
};

const struct check perm_checks[] = {
    {"perm/chmod-lower", perm_chmod_lower},
    {"perm/chmod-created", perm_chmod_created},
    {"perm/chmod-0-lower", perm_chmod_zero_lower},
    {"perm/chmod-0-created", perm_chmod_zero_created},
    {"perm/access", perm_access},
    {"perm/dir-no-write-lower", perm_dir_no_write_lower},
    {"perm/dir-no-search-lower", perm_dir_no_search_lower},
    {"perm/dir-no-read-lower", perm_dir_no_read_lower},
    {"perm/dir-no-read-created", perm_dir_no_read_created},
    {"perm/umask", perm_umask},
    {"perm/special-bits", perm_special_bits},
    {"perm/chmod-symlink", perm_chmod_symlink},
    {"perm/chmod-errors", perm_chmod_errors},
    {"perm/write-after-chmod", perm_write_after_chmod},
    {NULL, NULL},
};

const struct check times_checks[] = {
    {"times/set-lower", times_set_lower},
    {"times/set-created", times_set_created},
    {"times/omit-mtime-lower", times_omit_mtime_lower},
    {"times/omit-atime-lower", times_omit_atime_lower},
    {"times/now-lower", times_now_lower},
    {"times/write-lower", times_write_lower},
    {"times/write-created", times_write_created},
    {"times/read-lower", times_read_lower},
    {"times/chmod-lower", times_chmod_lower},
    {"times/truncate-lower", times_truncate_lower},
    {"times/dir-child-lower", times_dir_child_lower},
    {"times/dir-unlink-lower", times_dir_unlink_lower},
    {"times/dir-child-created", times_dir_child_created},
    {"times/symlink-nofollow", times_symlink_nofollow},
    {"times/futimens", times_futimens},
    {"times/rename-keeps-mtime", times_rename_keeps},
    {"times/errors", times_errors},
    {NULL, NULL},
};

const struct check xattr_checks[] = {
    {"xattr/get-lower", xattr_get_lower},
    {"xattr/set-lower", xattr_set_lower},
    {"xattr/replace-lower", xattr_replace_lower},
    {"xattr/remove-lower", xattr_remove_lower},
    {"xattr/created", xattr_created},
    {"xattr/flags", xattr_flags},
    {"xattr/symlink", xattr_symlink},
    {"xattr/fd", xattr_fd},
    {"xattr/dir-lower", xattr_dir_lower},
    {"xattr/erange", xattr_erange},
    {NULL, NULL},
};

const struct check chown_checks[] = {
    {"chown/self-lower", chown_self_lower},
    {"chown/self-created", chown_self_created},
    {"chown/other-lower", chown_other_lower},
    {"chown/other-created", chown_other_created},
    {"chown/group-other", chown_group_other},
    {"chown/symlink", chown_symlink},
    {"chown/clears-setuid", chown_clears_setuid},
    {"chown/fixture-owners", chown_fixture_owners},
    {NULL, NULL},
};
