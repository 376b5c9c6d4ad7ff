/*
 * check_names.c - what happens to names: rename, hard links and link
 * counts, symlinks. The lower entries are in fixture.c under rename/,
 * link/ and symlink/, plus the shared symlinks at the top.
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Appends KEY=yes|no: A and B are the same file (or the errno name). */
static void put_same_inode(struct result *r, const char *key, const char *a, const char *b)
{
    struct stat sa, sb;
    if (lstat(P(a), &sa) < 0 || lstat(P(b), &sb) < 0)
        put(r, "%s=%s", key, errno_name(errno));
    else
        put(r, "%s=%s", key, sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev ? "yes" : "no");
}

static void put_readlink(struct result *r, const char *key, const char *relative)
{
    char target[4096];
    ssize_t n = readlink(P(relative), target, sizeof target - 1);
    if (n < 0) {
        put(r, "%s=%s", key, errno_name(errno));
        return;
    }
    target[n] = '\0';
    put(r, "%s=\"%s\"", key, target);
}

static void put_nlink(struct result *r, const char *key, const char *relative)
{
    struct stat st;
    if (lstat(P(relative), &st) < 0)
        put(r, "%s=%s", key, errno_name(errno));
    else
        put(r, "%s=%lu", key, (unsigned long)st.st_nlink);
}

/* ------------------------------------------------------------ rename */

static void rename_file_over_file(struct result *r)
{
    put_rc(r, "create-a", make_file("rename/ff-a", "from a\n"));
    put_rc(r, "create-b", make_file("rename/ff-b", "from b\n"));
    put_rc(r, "rename", rename(P("rename/ff-a"), P("rename/ff-b")));
    put_content(r, "b", "rename/ff-b");
    put_exists(r, "a", "rename/ff-a");
}

static void rename_file_over_lower_file(struct result *r)
{
    put_rc(r, "create", make_file("rename/over-lower", "created over lower\n"));
    put_rc(r, "rename", rename(P("rename/over-lower"), P("rename/lower-target.txt")));
    put_content(r, "target", "rename/lower-target.txt");
    put_stat(r, "stat", "rename/lower-target.txt", 0);
    put_exists(r, "source", "rename/over-lower");
}

static void rename_lower_file_over_created(struct result *r)
{
    put_rc(r, "create", make_file("rename/created-target", "created target\n"));
    put_rc(r, "rename", rename(P("rename/lower-a.txt"), P("rename/created-target")));
    put_content(r, "target", "rename/created-target");
    put_exists(r, "source", "rename/lower-a.txt");
}

static void rename_lower_file_to_new(struct result *r)
{
    put_rc(r, "rename", rename(P("rename/lower-to-new.txt"), P("rename/moved-new.txt")));
    put_stat(r, "stat", "rename/moved-new.txt", 0);
    put_content(r, "content", "rename/moved-new.txt");
    struct stat st;
    if (lstat(P("rename/moved-new.txt"), &st) == 0)
        put(r, "mtime-kept=%s",
            st.st_mtim.tv_sec == fixture_mtime_of("rename/lower-to-new.txt") && st.st_mtim.tv_nsec == FIXTURE_NSEC
                ? "yes"
                : "no");
    put_exists(r, "source", "rename/lower-to-new.txt");
}

static void rename_lower_file_over_lower_file(struct result *r)
{
    put_rc(r, "rename", rename(P("rename/lower-src.txt"), P("rename/lower-dst.txt")));
    put_content(r, "target", "rename/lower-dst.txt");
    put_exists(r, "source", "rename/lower-src.txt");
}

static void rename_dir_over_empty_dir(struct result *r)
{
    put_rc(r, "mkdir-a", mkdir(P("rename/d1"), 0755));
    put_rc(r, "child", make_file("rename/d1/child", "child\n"));
    put_rc(r, "mkdir-b", mkdir(P("rename/d2"), 0755));
    put_rc(r, "rename", rename(P("rename/d1"), P("rename/d2")));
    put_listing(r, "target", "rename/d2");
    put_exists(r, "source", "rename/d1");
}

static void rename_dir_over_lower_empty_dir(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("rename/d3"), 0755));
    put_rc(r, "child", make_file("rename/d3/mine", "mine\n"));
    put_rc(r, "rename", rename(P("rename/d3"), P("rename/empty-dir")));
    put_listing(r, "target", "rename/empty-dir");
    put_content(r, "child", "rename/empty-dir/mine");
    put_exists(r, "source", "rename/d3");
}

static void rename_lower_dir_over_lower_empty_dir(struct result *r)
{
    put_rc(r, "rename", rename(P("rename/lower-dir-over"), P("rename/lower-dir-target")));
    put_listing(r, "target", "rename/lower-dir-target");
    put_listing(r, "source", "rename/lower-dir-over");
}

static void rename_dir_over_nonempty_dir(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("rename/d4"), 0755));
    put_rc(r, "over-lower", rename(P("rename/d4"), P("rename/full-dir")));
    put_listing(r, "lower", "rename/full-dir");
    put_rc(r, "mkdir-full", mkdir(P("rename/d5"), 0755));
    put_rc(r, "child", make_file("rename/d5/x", "x\n"));
    put_rc(r, "over-created", rename(P("rename/d4"), P("rename/d5")));
    put_listing(r, "created", "rename/d5");
    put_exists(r, "source", "rename/d4");
}

static void rename_file_over_dir(struct result *r)
{
    put_rc(r, "create", make_file("rename/f-over-dir", "file\n"));
    put_rc(r, "over-lower", rename(P("rename/f-over-dir"), P("rename/dir-for-file")));
    put_rc(r, "mkdir", mkdir(P("rename/dir-created"), 0755));
    put_rc(r, "over-created", rename(P("rename/f-over-dir"), P("rename/dir-created")));
    put_exists(r, "file", "rename/f-over-dir");
    put_exists(r, "lower-dir", "rename/dir-for-file");
}

static void rename_dir_over_file(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("rename/d-over-file"), 0755));
    put_rc(r, "over-lower", rename(P("rename/d-over-file"), P("rename/over-file.txt")));
    put_rc(r, "create", make_file("rename/file-created", "file\n"));
    put_rc(r, "over-created", rename(P("rename/d-over-file"), P("rename/file-created")));
    put_exists(r, "dir", "rename/d-over-file");
    put_content(r, "lower-file", "rename/over-file.txt");
}

static void rename_to_itself(struct result *r)
{
    put_rc(r, "create", make_file("rename/self-created", "self created\n"));
    put_rc(r, "created", rename(P("rename/self-created"), P("rename/self-created")));
    put_content(r, "created-content", "rename/self-created");
    put_rc(r, "lower", rename(P("rename/self.txt"), P("rename/self.txt")));
    put_content(r, "lower-content", "rename/self.txt");
    put_rc(r, "mkdir", mkdir(P("rename/self-dir"), 0755));
    put_rc(r, "dir", rename(P("rename/self-dir"), P("rename/self-dir")));
    put_exists(r, "dir-after", "rename/self-dir");
}

static void rename_hardlink_pair(struct result *r)
{
    /* two names of one file: rename does nothing and succeeds */
    put_rc(r, "rename", rename(P("rename/pair-a"), P("rename/pair-b")));
    put_stat(r, "a", "rename/pair-a", 0);
    put_stat(r, "b", "rename/pair-b", 0);
}

static void rename_errors(struct result *r)
{
    put_rc(r, "missing-source", rename(P("rename/missing"), P("rename/missing-to")));
    put_exists(r, "missing-to", "rename/missing-to");
    put_rc(r, "create", make_file("rename/err.txt", "err\n"));
    put_rc(r, "missing-target-dir", rename(P("rename/err.txt"), P("rename/nodir/x")));
    put_rc(r, "target-under-file", rename(P("rename/err.txt"), P("rename/under.txt/x")));
    put_exists(r, "source", "rename/err.txt");
    put_stat(r, "under", "rename/under.txt", 0);
    put_rc(r, "dot", rename(P("rename/."), P("rename/dot-moved")));
    put_exists(r, "dot-moved", "rename/dot-moved");
}

static void rename_trailing_slash(struct result *r)
{
    put_rc(r, "target", rename(P("rename/slash.txt"), P("rename/slash-moved.txt/")));
    put_exists(r, "source-after", "rename/slash.txt");
    put_exists(r, "target-after", "rename/slash-moved.txt");
    put_rc(r, "create", make_file("rename/slash-created", "x\n"));
    put_rc(r, "source", rename(P("rename/slash-created/"), P("rename/slash-created-moved")));
    put_exists(r, "created-after", "rename/slash-created");
    put_rc(r, "mkdir", mkdir(P("rename/slash-dir"), 0755));
    put_rc(r, "dir", rename(P("rename/slash-dir/"), P("rename/slash-dir-moved/")));
    put_exists(r, "dir-after", "rename/slash-dir-moved");
}

static void rename_lower_into_new_subdir(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("rename/newsub"), 0755));
    put_rc(r, "rename", rename(P("rename/lower-into-sub.txt"), P("rename/newsub/moved.txt")));
    put_listing(r, "newsub", "rename/newsub");
    put_content(r, "content", "rename/newsub/moved.txt");
    put_exists(r, "source", "rename/lower-into-sub.txt");
}

static void rename_created_dir(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("rename/cd"), 0755));
    put_rc(r, "mkdir-sub", mkdir(P("rename/cd/sub"), 0755));
    put_rc(r, "child", make_file("rename/cd/child", "child\n"));
    put_rc(r, "grandchild", make_file("rename/cd/sub/grand", "grand\n"));
    put_rc(r, "rename", rename(P("rename/cd"), P("rename/cd-moved")));
    put_listing(r, "moved", "rename/cd-moved");
    put_content(r, "child", "rename/cd-moved/child");
    put_content(r, "grandchild", "rename/cd-moved/sub/grand");
    put_exists(r, "source", "rename/cd");
    put_rc(r, "rename-back", rename(P("rename/cd-moved"), P("rename/cd")));
    put_listing(r, "back", "rename/cd/sub");
}

/* Allowlisted (EXDEV in the bubble): only the rename and what follows
 * from it directly, so that nothing else hides behind the entry; reading
 * through a renamed directory is rename/created-dir's business. */
static void rename_lower_dir(struct result *r)
{
    put_rc(r, "rename", rename(P("rename/lower-dir"), P("rename/lower-dir-moved")));
    put_listing(r, "moved", "rename/lower-dir-moved");
    put_exists(r, "source", "rename/lower-dir");
}

static void rename_dir_into_own_subdir(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("rename/parent"), 0755));
    put_rc(r, "mkdir-kid", mkdir(P("rename/parent/kid"), 0755));
    put_rc(r, "rename", rename(P("rename/parent"), P("rename/parent/kid/x")));
    put_listing(r, "parent", "rename/parent");
}

static void rename_noreplace(struct result *r)
{
    put_rc(r, "create-a", make_file("rename/nr-a", "a\n"));
    put_rc(r, "create-b", make_file("rename/nr-b", "b\n"));
    put_rc(r, "existing", renameat2(AT_FDCWD, P("rename/nr-a"), AT_FDCWD, P("rename/nr-b"), RENAME_NOREPLACE));
    put_content(r, "b", "rename/nr-b");
    put_rc(r, "new", renameat2(AT_FDCWD, P("rename/nr-a"), AT_FDCWD, P("rename/nr-c"), RENAME_NOREPLACE));
    put_content(r, "c", "rename/nr-c");
    put_rc(r, "lower-target", renameat2(AT_FDCWD, P("rename/nr-c"), AT_FDCWD, P("rename/self.txt"), RENAME_NOREPLACE));
}

static void rename_exchange(struct result *r)
{
    put_rc(r, "create-a", make_file("rename/ex-a", "A\n"));
    put_rc(r, "create-b", make_file("rename/ex-b", "B\n"));
    put_rc(r, "exchange", renameat2(AT_FDCWD, P("rename/ex-a"), AT_FDCWD, P("rename/ex-b"), RENAME_EXCHANGE));
    put_content(r, "a", "rename/ex-a");
    put_content(r, "b", "rename/ex-b");
    put_rc(r, "create-c", make_file("rename/ex-c", "C\n"));
    put_rc(r, "with-lower", renameat2(AT_FDCWD, P("rename/ex-c"), AT_FDCWD, P("rename/exchange-lower.txt"),
                                      RENAME_EXCHANGE));
    put_content(r, "c", "rename/ex-c");
    put_content(r, "lower", "rename/exchange-lower.txt");
    put_rc(r, "missing", renameat2(AT_FDCWD, P("rename/ex-a"), AT_FDCWD, P("rename/ex-missing"), RENAME_EXCHANGE));
}

static void rename_open_fd_survives(struct result *r)
{
    put_rc(r, "create", make_file("rename/fd.txt", "before\n"));
    int fd = open(P("rename/fd.txt"), O_WRONLY | O_APPEND | O_CLOEXEC);
    put_rc(r, "open", fd);
    put_rc(r, "rename", rename(P("rename/fd.txt"), P("rename/fd-moved.txt")));
    if (fd >= 0) {
        ssize_t n = write(fd, "after\n", 6);
        put(r, "write=%s", n == 6 ? "6" : errno_name(errno));
        close(fd);
    }
    put_content(r, "moved", "rename/fd-moved.txt");
}

static void rename_symlink_lower(struct result *r)
{
    put_rc(r, "rename", rename(P("rename/sym"), P("rename/sym-moved")));
    put_readlink(r, "moved", "rename/sym-moved");
    put_exists(r, "source", "rename/sym");
}

/* ------------------------------------------------------------ link */

static void link_created(struct result *r)
{
    put_rc(r, "create", make_file("link/c1", "created\n"));
    put_rc(r, "link", link(P("link/c1"), P("link/c2")));
    put_nlink(r, "nlink-1", "link/c1");
    put_nlink(r, "nlink-2", "link/c2");
    put_same_inode(r, "same-inode", "link/c1", "link/c2");
    put_rc(r, "unlink", unlink(P("link/c1")));
    put_nlink(r, "nlink-after", "link/c2");
    put_content(r, "content", "link/c2");
}

static void link_lower(struct result *r)
{
    put_rc(r, "link", link(P("link/lower.txt"), P("link/lower-new")));
    put_nlink(r, "nlink-old", "link/lower.txt");
    put_nlink(r, "nlink-new", "link/lower-new");
    put_same_inode(r, "same-inode", "link/lower.txt", "link/lower-new");
    put_content(r, "content", "link/lower-new");
    put_rc(r, "unlink-old", unlink(P("link/lower.txt")));
    put_nlink(r, "nlink-after", "link/lower-new");
}

static void link_fixture_pairs(struct result *r)
{
    put_nlink(r, "hard-a", "hard-a");
    put_nlink(r, "hard-b", "hard-b");
    put_same_inode(r, "hard-same", "hard-a", "hard-b");
    put_nlink(r, "pair-a", "link/pair-a");
    put_same_inode(r, "pair-same", "link/pair-a", "link/pair-b");
    put_same_inode(r, "not-same", "hard-a", "small.txt");
}

static void link_fixture_pair_write(struct result *r)
{
    int fd = open(P("link/write-a"), O_WRONLY | O_APPEND | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd >= 0) {
        ssize_t n = write(fd, "more\n", 5);
        put(r, "write=%s", n == 5 ? "5" : errno_name(errno));
        close(fd);
    }
    put_content(r, "a", "link/write-a");
    put_content(r, "b", "link/write-b");
    put_same_inode(r, "same-inode", "link/write-a", "link/write-b");
}

static void link_fixture_pair_chmod(struct result *r)
{
    put_rc(r, "chmod", chmod(P("link/chmod-a"), 0600));
    put_stat(r, "a", "link/chmod-a", 0);
    put_stat(r, "b", "link/chmod-b", 0);
}

static void link_fixture_pair_third(struct result *r)
{
    put_rc(r, "link", link(P("link/third-a"), P("link/third-c")));
    put_nlink(r, "a", "link/third-a");
    put_nlink(r, "b", "link/third-b");
    put_nlink(r, "c", "link/third-c");
    put_same_inode(r, "same-a-c", "link/third-a", "link/third-c");
    put_same_inode(r, "same-b-c", "link/third-b", "link/third-c");
}

static void link_errors(struct result *r)
{
    put_rc(r, "existing", link(P("link/existing.txt"), P("link/pair-b")));
    put_rc(r, "existing-self", link(P("link/existing.txt"), P("link/existing.txt")));
    put_rc(r, "dir", link(P("link/dirx"), P("link/dir-link")));
    put_rc(r, "missing", link(P("link/missing"), P("link/missing-link")));
    put_rc(r, "missing-target-dir", link(P("link/existing.txt"), P("link/nodir/x")));
    put_exists(r, "dir-link", "link/dir-link");
}

static void link_of_symlink(struct result *r)
{
    /* link(2) does not follow: the new name is another symlink */
    put_rc(r, "link", link(P("link/sym"), P("link/sym-hard")));
    put_exists(r, "new", "link/sym-hard");
    put_readlink(r, "target", "link/sym-hard");
    put_nlink(r, "nlink", "link/sym");
}

static void link_dir_nlink_created(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("link/d"), 0755));
    put_nlink(r, "new", "link/d");
    put_rc(r, "mkdir-child", mkdir(P("link/d/c"), 0755));
    put_nlink(r, "with-child", "link/d");
    put_rc(r, "file", make_file("link/d/f", "f\n"));
    put_nlink(r, "with-file", "link/d");
    put_rc(r, "rmdir-child", rmdir(P("link/d/c")));
    put_nlink(r, "after-rmdir", "link/d");
}

static void link_dir_nlink_lower(struct result *r)
{
    put_nlink(r, "lower", "link/dirx");
    put_rc(r, "mkdir", mkdir(P("link/dirx/s2"), 0755));
    put_nlink(r, "after-mkdir", "link/dirx");
    put_rc(r, "rmdir-lower", rmdir(P("link/dirx/s1")));
    put_nlink(r, "after-rmdir-lower", "link/dirx");
    put_rc(r, "rmdir-created", rmdir(P("link/dirx/s2")));
    put_nlink(r, "after-rmdir-created", "link/dirx");
}

/* ------------------------------------------------------------ symlink */

static void symlink_readlink_fixture(struct result *r)
{
    put_readlink(r, "link-file", "link-file");
    put_readlink(r, "link-dir", "link-dir");
    put_readlink(r, "link-dangling", "link-dangling");
    put_readlink(r, "loop-a", "loop-a");
    put_readlink(r, "through-dir-link", "link-dir/sub");
}

static void symlink_lstat_vs_stat_file(struct result *r)
{
    put_stat(r, "lstat", "link-file", 0);
    put_stat(r, "stat", "link-file", 1);
    put_same_inode(r, "link-is-target", "link-file", "small.txt");
}

static void symlink_lstat_vs_stat_dir(struct result *r)
{
    put_stat(r, "lstat", "link-dir", 0);
    put_stat(r, "stat", "link-dir", 1);
    put_listing(r, "through", "link-dir");
    put_stat(r, "deep", "link-dir/sub/c.txt", 0);
    put_content(r, "deep-content", "link-dir/sub/c.txt");
}

static void symlink_loop(struct result *r)
{
    struct stat st;
    put_rc(r, "stat", stat(P("loop-a"), &st));
    put_stat(r, "lstat", "loop-a", 0);
    put_rc(r, "access", access(P("loop-a"), F_OK));
    put_listing(r, "opendir", "loop-a");
    put_rc(r, "stat-under", stat(P("loop-b/x"), &st));
}

static void symlink_dangling(struct result *r)
{
    struct stat st;
    put_rc(r, "stat", stat(P("link-dangling"), &st));
    put_stat(r, "lstat", "link-dangling", 0);
    put_rc(r, "access", access(P("link-dangling"), F_OK));
    int fd = open(P("link-dangling"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd >= 0)
        close(fd);
    put_listing(r, "opendir", "link-dangling");
}

static void symlink_create(struct result *r)
{
    put_rc(r, "symlink", symlink("target-x", P("symlink/new")));
    put_readlink(r, "readlink", "symlink/new");
    put_stat(r, "lstat", "symlink/new", 0);
    put_stat(r, "stat", "symlink/new", 1);
    put_rc(r, "to-file", symlink("existing.txt", P("symlink/to-existing")));
    put_stat(r, "to-file-stat", "symlink/to-existing", 1);
    put_content(r, "to-file-content", "symlink/to-existing");
}

static void symlink_over_existing(struct result *r)
{
    put_rc(r, "over-lower-file", symlink("x", P("symlink/existing.txt")));
    put_rc(r, "over-lower-link", symlink("x", P("symlink/exists-link")));
    put_rc(r, "over-lower-dir", symlink("x", P("symlink")));
    put_rc(r, "create", symlink("x", P("symlink/twice")));
    put_rc(r, "over-created", symlink("y", P("symlink/twice")));
    put_readlink(r, "kept", "symlink/twice");
    put_readlink(r, "lower-kept", "symlink/exists-link");
    put_rc(r, "missing-dir", symlink("x", P("symlink/nodir/x")));
}

static void symlink_readlink_errors(struct result *r)
{
    put_readlink(r, "file", "small.txt");
    put_readlink(r, "dir", "tree");
    put_readlink(r, "missing", "symlink/missing");
    put_readlink(r, "under-file", "small.txt/x");
    char buffer[4];
    ssize_t n = readlink(P("link-file"), buffer, sizeof buffer);
    if (n < 0)
        put(r, "short-buffer=%s", errno_name(errno));
    else
        put(r, "short-buffer=%zd:\"%.*s\"", n, (int)n, buffer);
}

static void symlink_chain(struct result *r)
{
    put_rc(r, "link-2", symlink("../small.txt", P("symlink/chain-2")));
    put_rc(r, "link-1", symlink("chain-2", P("symlink/chain-1")));
    put_stat(r, "stat", "symlink/chain-1", 1);
    put_content(r, "content", "symlink/chain-1");
}

static void symlink_trailing_slash(struct result *r)
{
    struct stat st;
    put_rc(r, "file-link", stat(P("link-file/"), &st));
    put_stat(r, "dir-link-lstat", "link-dir/", 0);
    put_stat(r, "dir-link-stat", "link-dir/", 1);
    put_rc(r, "dangling", lstat(P("link-dangling/"), &st));
}

static void symlink_target_appears(struct result *r)
{
    struct stat st;
    put_rc(r, "lower-before", stat(P("symlink/later"), &st));
    put_rc(r, "create-lower-target", make_file("symlink/later-target", "now there\n"));
    put_stat(r, "lower-after", "symlink/later", 1);
    put_rc(r, "symlink", symlink("made-later", P("symlink/created-later")));
    put_rc(r, "created-before", stat(P("symlink/created-later"), &st));
    put_rc(r, "mkdir-target", mkdir(P("symlink/made-later"), 0755));
    put_stat(r, "created-after", "symlink/created-later", 1);
    put_rc(r, "file-through", make_file("symlink/created-later/inside", "inside\n"));
    put_listing(r, "target", "symlink/made-later");
}

static void symlink_in_created_dir(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("symlink/d"), 0755));
    put_rc(r, "symlink", symlink("d", P("symlink/to-d")));
    put_rc(r, "file", make_file("symlink/to-d/f", "through a link\n"));
    put_listing(r, "dir", "symlink/d");
    put_content(r, "content", "symlink/d/f");
    put_rc(r, "rmdir-link", rmdir(P("symlink/to-d")));
    put_rc(r, "unlink-link", unlink(P("symlink/to-d")));
    put_exists(r, "dir-kept", "symlink/d");
}

/* ------------------------------------------------------------ tables */

const struct check rename_checks[] = {
    {"rename/file-over-file", rename_file_over_file},
    {"rename/file-over-lower-file", rename_file_over_lower_file},
    {"rename/lower-file-over-created", rename_lower_file_over_created},
    {"rename/lower-file-to-new", rename_lower_file_to_new},
    {"rename/lower-file-over-lower-file", rename_lower_file_over_lower_file},
    {"rename/dir-over-empty-dir", rename_dir_over_empty_dir},
    {"rename/dir-over-lower-empty-dir", rename_dir_over_lower_empty_dir},
    {"rename/lower-dir-over-lower-empty-dir", rename_lower_dir_over_lower_empty_dir},
    {"rename/dir-over-nonempty-dir", rename_dir_over_nonempty_dir},
    {"rename/file-over-dir", rename_file_over_dir},
    {"rename/dir-over-file", rename_dir_over_file},
    {"rename/to-itself", rename_to_itself},
    {"rename/hardlink-pair", rename_hardlink_pair},
    {"rename/errors", rename_errors},
    {"rename/trailing-slash", rename_trailing_slash},
    {"rename/lower-into-new-subdir", rename_lower_into_new_subdir},
    {"rename/created-dir", rename_created_dir},
    {"rename/lower-dir", rename_lower_dir},
    {"rename/dir-into-own-subdir", rename_dir_into_own_subdir},
    {"rename/noreplace", rename_noreplace},
    {"rename/exchange", rename_exchange},
    {"rename/open-fd-survives", rename_open_fd_survives},
    {"rename/symlink-lower", rename_symlink_lower},
    {NULL, NULL},
};

const struct check link_checks[] = {
    {"link/created", link_created},
    {"link/lower", link_lower},
    {"link/fixture-pairs", link_fixture_pairs},
    {"link/fixture-pair-write", link_fixture_pair_write},
    {"link/fixture-pair-chmod", link_fixture_pair_chmod},
    {"link/fixture-pair-third", link_fixture_pair_third},
    {"link/errors", link_errors},
    {"link/of-symlink", link_of_symlink},
    {"link/dir-nlink-created", link_dir_nlink_created},
    {"link/dir-nlink-lower", link_dir_nlink_lower},
    {NULL, NULL},
};

const struct check symlink_checks[] = {
    {"symlink/readlink-fixture", symlink_readlink_fixture},
    {"symlink/lstat-vs-stat-file", symlink_lstat_vs_stat_file},
    {"symlink/lstat-vs-stat-dir", symlink_lstat_vs_stat_dir},
    {"symlink/loop", symlink_loop},
    {"symlink/dangling", symlink_dangling},
    {"symlink/create", symlink_create},
    {"symlink/over-existing", symlink_over_existing},
    {"symlink/readlink-errors", symlink_readlink_errors},
    {"symlink/chain", symlink_chain},
    {"symlink/trailing-slash", symlink_trailing_slash},
    {"symlink/target-appears", symlink_target_appears},
    {"symlink/in-created-dir", symlink_in_created_dir},
    {NULL, NULL},
};
