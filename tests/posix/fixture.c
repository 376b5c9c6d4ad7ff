/*
 * fixture.c - the "lower" tree posix-suite runs on: `posix-suite fixture DIR`
 * writes it, natively or inside the bubble, and `vial pack` can take it
 * (no devices, sockets or FIFOs; no symlink climbs above the tree).
 *
 * The top level holds the shared read-only entries (files of a few sizes, a
 * 0444 file, directories empty, with children and nested, symlinks of every
 * kind, a hard-linked pair). Each area then has a directory of its own whose
 * entries only that area's checks touch, most of them only one check, so a
 * difference in one check does not show up in the next. Contents, modes and
 * mtimes are fixed: the same table always gives the same tree.
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#define D(path) {FIXTURE_DIR, path, 0755, NULL, NULL, NULL}
#define F(path, content) {FIXTURE_FILE, path, 0644, content, NULL, NULL}
#define FM(path, mode, content) {FIXTURE_FILE, path, mode, content, NULL, NULL}
#define FX(path, content, value) {FIXTURE_FILE, path, 0644, content, NULL, value}
#define BIG(path) {FIXTURE_FILE, path, 0644, NULL, NULL, NULL}
#define L(path, target) {FIXTURE_SYMLINK, path, 0, NULL, target, NULL}
#define H(path, primary) {FIXTURE_HARDLINK, path, 0, NULL, primary, NULL}

const struct fixture_entry fixture_entries[] = {
    /* shared, read only */
    F("empty", ""),
    F("small.txt", "small file\n"),
    BIG("big.bin"),
    FM("readonly.txt", 0444, "read only\n"),
    F("hard-a", "hard linked\n"),
    H("hard-b", "hard-a"),
    L("link-file", "small.txt"),
    L("link-dir", "tree"),
    L("link-dangling", "missing-target"),
    L("loop-a", "loop-b"),
    L("loop-b", "loop-a"),
    D("dir-empty"),
    D("tree"),
    F("tree/a.txt", "a\n"),
    F("tree/b.txt", "bb\n"),
    D("tree/sub"),
    F("tree/sub/c.txt", "ccc\n"),
    D("nested"),
    D("nested/one"),
    D("nested/one/two"),
    F("nested/one/two/deep.txt", "deep\n"),

    /* open */
    D("open"),
    F("open/creat-existing.txt", "creat existing\n"),
    F("open/excl-existing.txt", "excl existing\n"),
    L("open/dangling", "nothing-here"),
    L("open/dangling-create", "made-by-link"),
    F("open/trunc.txt", "to be truncated\n"),
    F("open/append.txt", "append base\n"),
    F("open/rdwr.txt", "0123456789\n"),
    FM("open/readonly.txt", 0444, "read only in open\n"),
    F("open/ro-fd.txt", "old content\n"),
    F("open/fopen-append.txt", "fopen base\n"),
    F("open/rdwr-lower-grow.txt", "grow me\n"),
    F("open/under.txt", "not a directory\n"),
    L("open/loop-a", "loop-b"),
    L("open/loop-b", "loop-a"),

    /* unlink */
    D("unlink"),
    F("unlink/open-lower.txt", "open then unlinked\n"),
    F("unlink/open-lower-write.txt", "write after unlink\n"),
    F("unlink/gone.txt", "gone soon\n"),
    L("unlink/sym", "target.txt"),
    F("unlink/target.txt", "symlink target\n"),
    F("unlink/pair-a", "pair\n"),
    H("unlink/pair-b", "unlink/pair-a"),
    D("unlink/dir"),
    F("unlink/dir/child", "child\n"),
    F("unlink/file.txt", "file\n"),
    F("unlink/slash.txt", "trailing slash\n"),
    D("unlink/list"),
    F("unlink/list/a", "a\n"),
    F("unlink/list/b", "b\n"),
    F("unlink/list/c", "c\n"),

    /* truncate */
    D("trunc"),
    F("trunc/grow.txt", "grow\n"),
    F("trunc/shrink.txt", "shrink this\n"),
    F("trunc/ftrunc.txt", "ftruncate this\n"),
    BIG("trunc/big.bin"),
    FM("trunc/readonly.txt", 0444, "read only\n"),
    F("trunc/rdonly-fd.txt", "opened read only\n"),
    F("trunc/negative.txt", "bad lengths\n"),

    /* sync */
    D("sync"),
    F("sync/lower.txt", "sync me\n"),

    /* mkstemp and friends */
    D("mktemp"),

    /* rename */
    D("rename"),
    F("rename/lower-target.txt", "lower target\n"),
    F("rename/lower-a.txt", "lower a\n"),
    F("rename/lower-to-new.txt", "lower to new\n"),
    F("rename/lower-into-sub.txt", "into a new subdirectory\n"),
    F("rename/lower-src.txt", "lower source\n"),
    F("rename/lower-dst.txt", "lower destination\n"),
    D("rename/empty-dir"),
    D("rename/full-dir"),
    F("rename/full-dir/x", "x\n"),
    D("rename/dir-for-file"),
    F("rename/over-file.txt", "file in the way\n"),
    F("rename/self.txt", "self\n"),
    F("rename/pair-a", "pair\n"),
    H("rename/pair-b", "rename/pair-a"),
    D("rename/lower-dir"),
    F("rename/lower-dir/child.txt", "child of a lower directory\n"),
    D("rename/lower-dir/sub"),
    F("rename/lower-dir/sub/grandchild.txt", "grandchild\n"),
    D("rename/lower-dir-over"),
    F("rename/lower-dir-over/child.txt", "moved over an empty dir\n"),
    D("rename/lower-dir-target"),
    L("rename/sym", "lower-a.txt"),
    F("rename/exchange-lower.txt", "exchange lower\n"),
    F("rename/under.txt", "not a directory\n"),
    F("rename/slash.txt", "trailing slash\n"),

    /* link */
    D("link"),
    F("link/lower.txt", "lower for link\n"),
    F("link/pair-a", "pair\n"),
    H("link/pair-b", "link/pair-a"),
    F("link/write-a", "write pair\n"),
    H("link/write-b", "link/write-a"),
    F("link/chmod-a", "chmod pair\n"),
    H("link/chmod-b", "link/chmod-a"),
    F("link/third-a", "third name\n"),
    H("link/third-b", "link/third-a"),
    L("link/sym", "lower.txt"),
    D("link/dirx"),
    D("link/dirx/s1"),
    F("link/existing.txt", "existing\n"),

    /* symlink */
    D("symlink"),
    F("symlink/existing.txt", "existing\n"),
    L("symlink/exists-link", "existing.txt"),
    L("symlink/later", "later-target"),

    /* mkdir, rmdir */
    D("mkdir"),
    D("mkdir/exists"),
    F("mkdir/file.txt", "a file\n"),
    L("mkdir/dangling", "nowhere"),
    L("mkdir/link-dir", "exists"),
    D("mkdir/full"),
    F("mkdir/full/child", "child\n"),
    D("mkdir/rm-lower"),
    D("mkdir/replace-lower"),
    F("mkdir/replace-lower/a", "a\n"),
    F("mkdir/replace-lower/b", "b\n"),
    D("mkdir/replace-lower/sub"),
    F("mkdir/was-file.txt", "replaced by a directory\n"),

    /* readdir */
    D("readdir"),
    D("readdir/base"),
    F("readdir/base/a.txt", "a\n"),
    F("readdir/base/b.txt", "b\n"),
    F("readdir/base/c.txt", "c\n"),
    D("readdir/base/sub"),
    L("readdir/base/link", "a.txt"),
    D("readdir/churn"),
    F("readdir/churn/one", "1\n"),
    F("readdir/churn/two", "2\n"),
    F("readdir/churn/three", "3\n"),
    D("readdir/churn/four"),
    D("readdir/rewind"),
    F("readdir/rewind/x", "x\n"),
    D("readdir/emptied"),
    F("readdir/emptied/x", "x\n"),
    F("readdir/emptied/y", "y\n"),
    D("readdir/empty"),
    D("readdir/many"),

    /* dirfd-relative calls */
    D("at"),
    F("at/file.txt", "at file\n"),
    L("at/link", "file.txt"),
    F("at/rename-me.txt", "rename me\n"),
    F("at/chmod.txt", "chmod me\n"),
    F("at/times.txt", "times\n"),

    /* permissions */
    D("perm"),
    F("perm/chmod.txt", "chmod me\n"),
    F("perm/zero.txt", "mode zero\n"),
    FM("perm/ro.txt", 0444, "read only\n"),
    FM("perm/exec.sh", 0755, "#!/bin/sh\n"),
    D("perm/nowrite-dir"),
    F("perm/nowrite-dir/child", "child\n"),
    D("perm/nosearch-dir"),
    F("perm/nosearch-dir/child", "child\n"),
    D("perm/noread-dir"),
    F("perm/noread-dir/child", "child\n"),
    F("perm/link-target.txt", "target of a link\n"),
    L("perm/link", "link-target.txt"),
    L("perm/dangling", "nowhere"),

    /* timestamps */
    D("times"),
    F("times/set.txt", "set\n"),
    F("times/omit.txt", "omit\n"),
    F("times/omit-atime.txt", "omit atime\n"),
    F("times/now.txt", "now\n"),
    F("times/write.txt", "write\n"),
    F("times/read.txt", "read\n"),
    F("times/chmod.txt", "chmod\n"),
    F("times/truncate.txt", "truncate\n"),
    F("times/sym-target.txt", "target\n"),
    L("times/sym", "sym-target.txt"),
    D("times/dir"),
    D("times/dir-unlink"),
    F("times/dir-unlink/x", "x\n"),
    F("times/rename-keep.txt", "keep my mtime\n"),
    F("times/errors.txt", "errors\n"),
    L("times/dangling", "nowhere"),

    /* xattrs */
    D("xattr"),
    FX("xattr/lower.txt", "with xattr\n", "fixture value"),
    FX("xattr/lower-replace.txt", "with xattr\n", "fixture value"),
    FX("xattr/lower-remove.txt", "with xattr\n", "fixture value"),
    FX("xattr/flags.txt", "with xattr\n", "fixture value"),
    FX("xattr/fd-lower.txt", "with xattr\n", "fixture value"),
    FX("xattr/erange.txt", "with xattr\n", "fixture value"),
    F("xattr/plain.txt", "no xattr\n"),
    L("xattr/sym", "plain.txt"),
    D("xattr/dir"),

    /* chown */
    D("chown"),
    F("chown/self.txt", "self\n"),
    F("chown/other.txt", "other\n"),
    F("chown/group.txt", "group\n"),
    L("chown/sym", "self.txt"),
};
const size_t fixture_count = sizeof fixture_entries / sizeof fixture_entries[0];

/* readdir/many gets this many files of its own, beyond the table. */
#define MANY_COUNT 300

unsigned char fixture_byte(size_t offset)
{
    /* not periodic at any small stride, so a shifted read shows */
    return (unsigned char)((offset * 131u + offset / 251u + 7u) & 0xffu);
}

long fixture_mtime_of(const char *path)
{
    for (size_t i = 0; i < fixture_count; i++) {
        if (strcmp(fixture_entries[i].path, path) != 0)
            continue;
        /* a hard link has its primary's times */
        if (fixture_entries[i].kind == FIXTURE_HARDLINK)
            return fixture_mtime_of(fixture_entries[i].target);
        return FIXTURE_TIME + (long)i;
    }
    return -1;
}

static const char *fixture_root;

static const char *at_root(const char *relative)
{
    static char paths[2][8192];
    static unsigned next;
    char *path = paths[next++ % 2];
    snprintf(path, sizeof paths[0], "%s/%s", fixture_root, relative);
    return path;
}

static int failed(const char *what, const char *relative)
{
    fprintf(stderr, "posix-suite: fixture: %s %s: %s\n", what, relative, strerror(errno));
    return 1;
}

static int write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

static int write_file(const char *relative, const struct fixture_entry *e)
{
    int fd = open(at_root(relative), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = 0;
    if (e && e->content) {
        rc = write_all(fd, e->content, strlen(e->content));
    } else if (e) {
        unsigned char block[4096];
        for (size_t offset = 0; offset < FIXTURE_BIG_SIZE && rc == 0; offset += sizeof block) {
            size_t n = FIXTURE_BIG_SIZE - offset < sizeof block ? FIXTURE_BIG_SIZE - offset : sizeof block;
            for (size_t i = 0; i < n; i++)
                block[i] = fixture_byte(offset + i);
            rc = write_all(fd, block, n);
        }
    }
    if (close(fd) < 0)
        rc = -1;
    return rc;
}

static int set_fixed_time(const char *relative, long sec)
{
    struct timespec t[2] = {{sec, FIXTURE_NSEC}, {sec, FIXTURE_NSEC}};
    return utimensat(AT_FDCWD, at_root(relative), t, AT_SYMLINK_NOFOLLOW);
}

int fixture_create(const char *dir)
{
    fixture_root = dir;
    for (size_t i = 0; i < fixture_count; i++) {
        const struct fixture_entry *e = &fixture_entries[i];
        switch (e->kind) {
        case FIXTURE_DIR:
            if (mkdir(at_root(e->path), 0700) < 0)
                return failed("mkdir", e->path);
            break;
        case FIXTURE_FILE:
            if (write_file(e->path, e) < 0)
                return failed("write", e->path);
            /* A file system without user xattrs gets the tree without
             * them; the xattr checks then say what the fs says. */
            if (e->xattr && setxattr(at_root(e->path), "user.fixture", e->xattr,
                                     strlen(e->xattr), 0) < 0 &&
                errno != ENOTSUP)
                return failed("setxattr", e->path);
            break;
        case FIXTURE_SYMLINK:
            if (symlink(e->target, at_root(e->path)) < 0)
                return failed("symlink", e->path);
            break;
        case FIXTURE_HARDLINK:
            if (link(at_root(e->target), at_root(e->path)) < 0)
                return failed("link", e->path);
            break;
        }
    }
    for (int i = 0; i < MANY_COUNT; i++) {
        char name[64];
        snprintf(name, sizeof name, "readdir/many/entry-%03d-with-a-longer-name", i);
        if (write_file(name, NULL) < 0)
            return failed("write", name);
        if (set_fixed_time(name, FIXTURE_TIME) < 0)
            return failed("utimensat", name);
    }
    /* Modes once everything exists (a 0444 file is written first), then
     * times from the deepest entry up, since creating an entry changes
     * its directory's mtime. */
    for (size_t i = 0; i < fixture_count; i++) {
        const struct fixture_entry *e = &fixture_entries[i];
        if ((e->kind == FIXTURE_DIR || e->kind == FIXTURE_FILE) &&
            chmod(at_root(e->path), e->mode) < 0)
            return failed("chmod", e->path);
    }
    for (size_t i = fixture_count; i-- > 0;) {
        const struct fixture_entry *e = &fixture_entries[i];
        if (e->kind != FIXTURE_HARDLINK && set_fixed_time(e->path, FIXTURE_TIME + (long)i) < 0)
            return failed("utimensat", e->path);
    }
    if (set_fixed_time(".", FIXTURE_TIME) < 0)
        return failed("utimensat", ".");
    return 0;
}
