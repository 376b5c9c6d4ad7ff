/*
 * check_files.c - opening and removing files: open/creat flags (O_CREAT,
 * O_EXCL, O_TRUNC, O_APPEND, O_TMPFILE, O_DIRECTORY, O_NOFOLLOW), writes
 * read back, unlink of open files. The lower entries each check uses are in
 * fixture.c under open/ and unlink/.
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ open */

static void open_creat_new(struct result *r)
{
    int fd = open(P("open/new-creat"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    put_rc(r, "open", fd);
    close_fd(fd);
    put_stat(r, "stat", "open/new-creat", 0);
}

static void open_creat_existing(struct result *r)
{
    int fd = open(P("open/creat-existing.txt"), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    put_rc(r, "open", fd);
    close_fd(fd);
    put_stat(r, "stat", "open/creat-existing.txt", 0);
    put_content(r, "content", "open/creat-existing.txt");
}

static void open_excl_existing_lower(struct result *r)
{
    int fd = open(P("open/excl-existing.txt"), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    put_rc(r, "open", fd);
    close_fd(fd);
    put_content(r, "content", "open/excl-existing.txt");
}

static void open_excl_existing_created(struct result *r)
{
    put_rc(r, "create", make_file("open/excl-created", "first\n"));
    int fd = open(P("open/excl-created"), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    put_rc(r, "open", fd);
    close_fd(fd);
    put_content(r, "content", "open/excl-created");
}

static void open_excl_new(struct result *r)
{
    int fd = open(P("open/excl-new"), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    put_rc(r, "open", fd);
    close_fd(fd);
    put_stat(r, "stat", "open/excl-new", 0);
}

static void open_excl_dangling(struct result *r)
{
    int fd = open(P("open/dangling"), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    put_rc(r, "open", fd);
    close_fd(fd);
    put_exists(r, "link", "open/dangling");
    put_exists(r, "target", "open/nothing-here");
}

static void open_creat_through_dangling(struct result *r)
{
    int fd = open(P("open/dangling-create"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    put_rc(r, "open", fd);
    if (fd >= 0)
        put_write(r, "write", fd, "via link\n");
    close_fd(fd);
    put_exists(r, "link", "open/dangling-create");
    put_stat(r, "target", "open/made-by-link", 0);
    put_content(r, "content", "open/made-by-link");
}

static void open_trunc_lower(struct result *r)
{
    int fd = open(P("open/trunc.txt"), O_WRONLY | O_TRUNC | O_CLOEXEC);
    put_rc(r, "open", fd);
    close_fd(fd);
    put_stat(r, "stat", "open/trunc.txt", 0);
}

static void open_trunc_created(struct result *r)
{
    put_rc(r, "create", make_file("open/trunc-created", "some content\n"));
    int fd = open(P("open/trunc-created"), O_WRONLY | O_TRUNC | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd >= 0)
        put_write(r, "write", fd, "new\n");
    close_fd(fd);
    put_content(r, "content", "open/trunc-created");
}

static void append_at_end(struct result *r, const char *relative)
{
    int fd = open(P(relative), O_WRONLY | O_APPEND | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    lseek(fd, 0, SEEK_SET);
    put_write(r, "write", fd, "tail\n");
    put(r, "offset=%lld", (long long)lseek(fd, 0, SEEK_CUR));
    lseek(fd, 0, SEEK_SET);
    put_write(r, "again", fd, "end\n");
    close(fd);
    put_content(r, "content", relative);
}

static void open_append_lower(struct result *r)
{
    append_at_end(r, "open/append.txt");
}

static void open_append_created(struct result *r)
{
    put_rc(r, "create", make_file("open/append-created", "base\n"));
    append_at_end(r, "open/append-created");
}

/* O_TMPFILE in DIRECTORY, then linkat through /proc/self/fd to NAME. */
static void tmpfile_then_link(struct result *r, const char *directory, const char *name)
{
    int fd = open(P(directory), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    put_write(r, "write", fd, "tmpfile data\n");
    put_fd_stat(r, "fstat", fd);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    put_rc(r, "linkat", linkat(AT_FDCWD, proc, AT_FDCWD, P(name), AT_SYMLINK_FOLLOW));
    put_fd_stat(r, "fstat-after", fd);
    close(fd);
    put_stat(r, "stat", name, 0);
    put_content(r, "content", name);
}

static void open_tmpfile_lower_dir(struct result *r)
{
    tmpfile_then_link(r, "open", "open/tmpfile-linked");
}

static void open_tmpfile_created_dir(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("open/tmpdir"), 0755));
    tmpfile_then_link(r, "open/tmpdir", "open/tmpdir/linked");
    put_listing(r, "list", "open/tmpdir");
}

static void open_tmpfile_excl(struct result *r)
{
    int fd = open(P("open"), O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    put_rc(r, "linkat", linkat(AT_FDCWD, proc, AT_FDCWD, P("open/tmpfile-excl"), AT_SYMLINK_FOLLOW));
    close(fd);
    put_exists(r, "name", "open/tmpfile-excl");
}

static void open_o_directory(struct result *r)
{
    static const char *const names[][2] = {
        {"file", "small.txt"}, {"dir", "tree"}, {"link-to-dir", "link-dir"}, {"link-to-file", "link-file"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int fd = open(P(names[i][1]), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        put_rc(r, names[i][0], fd);
        close_fd(fd);
    }
}

static void open_o_nofollow(struct result *r)
{
    int fd = open(P("link-file"), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    put_rc(r, "link", fd);
    close_fd(fd);
    fd = open(P("link-dangling"), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    put_rc(r, "dangling", fd);
    close_fd(fd);
    fd = open(P("small.txt"), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    put_rc(r, "file", fd);
    close_fd(fd);
    fd = open(P("link-file"), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    put_rc(r, "o-path", fd);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0)
            put(r, "o-path-type=%s", type_name(st.st_mode));
        close(fd);
    }
}

static void open_rdwr_lower_readback(struct result *r)
{
    int fd = open(P("open/rdwr.txt"), O_RDWR | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    ssize_t n = pwrite(fd, "XY", 2, 2);
    put(r, "pwrite=%s", n == 2 ? "2" : errno_name(errno));
    put_fd_content(r, "same-fd", fd);
    close(fd);
    put_content(r, "content", "open/rdwr.txt");
    put_stat(r, "stat", "open/rdwr.txt", 0);
}

static void open_write_past_end_lower(struct result *r)
{
    int fd = open(P("open/rdwr-lower-grow.txt"), O_WRONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    lseek(fd, 0, SEEK_END);
    put_write(r, "write", fd, "more\n");
    close(fd);
    put_content(r, "content", "open/rdwr-lower-grow.txt");
}

static void open_write_0444_lower(struct result *r)
{
    int fd = open(P("open/readonly.txt"), O_WRONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    close_fd(fd);
    put_content(r, "content", "open/readonly.txt");
    put_stat(r, "stat", "open/readonly.txt", 0);
}

static void open_write_0444_created(struct result *r)
{
    /* the creating open hands out a writable fd whatever the mode */
    int fd = open(P("open/ro-created"), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
    put_rc(r, "create", fd);
    if (fd >= 0)
        put_write(r, "write", fd, "written\n");
    close_fd(fd);
    fd = open(P("open/ro-created"), O_WRONLY | O_CLOEXEC);
    put_rc(r, "reopen", fd);
    close_fd(fd);
    put_stat(r, "stat", "open/ro-created", 0);
    put_content(r, "content", "open/ro-created");
}

static void open_write_0444_shared(struct result *r)
{
    int fd = open(P("readonly.txt"), O_RDWR | O_CLOEXEC);
    put_rc(r, "open-rdwr", fd);
    close_fd(fd);
    fd = open(P("readonly.txt"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open-rdonly", fd);
    close_fd(fd);
}

static void open_ro_fd_sees_write(struct result *r)
{
    int reader = open(P("open/ro-fd.txt"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "reader", reader);
    int writer = open(P("open/ro-fd.txt"), O_WRONLY | O_TRUNC | O_CLOEXEC);
    put_rc(r, "writer", writer);
    if (writer >= 0)
        put_write(r, "write", writer, "new content\n");
    close_fd(writer);
    if (reader >= 0) {
        put_fd_content(r, "reader-sees", reader);
        put_fd_stat(r, "reader-fstat", reader);
    }
    close_fd(reader);
}

static void open_fopen_append(struct result *r)
{
    FILE *f = fopen(P("open/fopen-append.txt"), "a");
    put_rc(r, "fopen", f ? 0 : -1);
    if (f) {
        fputs("appended\n", f);
        put_rc(r, "fclose", fclose(f) == 0 ? 0 : -1);
    }
    f = fopen(P("open/fopen-new.txt"), "w");
    put_rc(r, "fopen-new", f ? 0 : -1);
    if (f) {
        fputs("written by stdio\n", f);
        fclose(f);
    }
    put_content(r, "content", "open/fopen-append.txt");
    put_content(r, "new", "open/fopen-new.txt");
}

static void open_missing(struct result *r)
{
    static const struct {
        const char *key, *path;
        int flags;
    } cases[] = {
        {"file", "open/missing", O_RDONLY},
        {"parent", "open/missing-dir/file", O_RDONLY},
        {"creat-in-missing-dir", "open/missing-dir/file", O_CREAT | O_WRONLY},
        {"file-as-dir", "open/under.txt/x", O_RDONLY},
        {"creat-under-file", "open/under.txt/x", O_CREAT | O_WRONLY},
        {"loop", "loop-a", O_RDONLY},
        {"creat-through-loop", "open/loop-a", O_CREAT | O_WRONLY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = open(P(cases[i].path), cases[i].flags | O_CLOEXEC, 0644);
        put_rc(r, cases[i].key, fd);
        close_fd(fd);
    }
    put_stat(r, "under", "open/under.txt", 0);
    put_listing(r, "loop-list", "open/loop-a");
}

static void open_directory_for_write(struct result *r)
{
    int fd = open(P("tree"), O_WRONLY | O_CLOEXEC);
    put_rc(r, "wronly", fd);
    close_fd(fd);
    fd = open(P("tree"), O_RDWR | O_CLOEXEC);
    put_rc(r, "rdwr", fd);
    close_fd(fd);
    fd = open(P("open/newdir/"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    put_rc(r, "creat-trailing-slash", fd);
    close_fd(fd);
    put_exists(r, "newdir", "open/newdir");
    fd = open(P("tree"), O_CREAT | O_RDONLY | O_CLOEXEC, 0644);
    put_rc(r, "creat-on-dir", fd);
    close_fd(fd);
}

static void open_fixture_contents(struct result *r)
{
    static const char *const names[] = {"empty", "small.txt", "readonly.txt", "hard-a", "hard-b",
                                        "tree/a.txt", "tree/sub/c.txt", "nested/one/two/deep.txt",
                                        "link-file", "link-dir/b.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        put_content(r, names[i], names[i]);
}

static void open_big_read(struct result *r)
{
    unsigned long long hash;
    long long size;
    if (hash_file("big.bin", &hash, &size) < 0) {
        put_rc(r, "read", -1);
        return;
    }
    put(r, "size=%lld hash=%016llx", size, hash);
    int fd = open(P("big.bin"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    unsigned char buffer[64];
    size_t offset = 200003;
    ssize_t n = pread(fd, buffer, sizeof buffer, (off_t)offset);
    int same = n == (ssize_t)sizeof buffer;
    for (ssize_t i = 0; same && i < n; i++)
        same = buffer[i] == fixture_byte(offset + (size_t)i);
    put(r, "pread-pattern=%s", same ? "yes" : "no");
    put(r, "seek-end=%lld", (long long)lseek(fd, 0, SEEK_END));
    n = read(fd, buffer, sizeof buffer);
    put(r, "read-at-end=%zd", n);
    close(fd);
}

/* ------------------------------------------------------------ unlink */

static void unlink_open(struct result *r, const char *relative)
{
    int fd = open(P(relative), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    put_rc(r, "unlink", unlink(P(relative)));
    if (fd >= 0) {
        put_fd_content(r, "fd-reads", fd);
        put_fd_stat(r, "fstat", fd);
        close(fd);
    }
    put_exists(r, "name", relative);
}

static void unlink_open_created(struct result *r)
{
    put_rc(r, "create", make_file("unlink/open-created", "still readable\n"));
    unlink_open(r, "unlink/open-created");
}

static void unlink_open_lower(struct result *r)
{
    unlink_open(r, "unlink/open-lower.txt");
}

static void unlink_open_lower_write(struct result *r)
{
    int fd = open(P("unlink/open-lower-write.txt"), O_RDWR | O_CLOEXEC);
    put_rc(r, "open", fd);
    put_rc(r, "unlink", unlink(P("unlink/open-lower-write.txt")));
    if (fd < 0)
        return;
    ssize_t n = pwrite(fd, "WRITE", 5, 0);
    put(r, "pwrite=%s", n == 5 ? "5" : errno_name(errno));
    put_fd_content(r, "fd-reads", fd);
    put_fd_stat(r, "fstat", fd);
    close(fd);
    put_exists(r, "name", "unlink/open-lower-write.txt");
}

static void unlink_lower_then_recreate(struct result *r)
{
    put_rc(r, "unlink", unlink(P("unlink/gone.txt")));
    put_exists(r, "after-unlink", "unlink/gone.txt");
    put_rc(r, "create", make_file("unlink/gone.txt", "new life\n"));
    put_stat(r, "stat", "unlink/gone.txt", 0);
    put_content(r, "content", "unlink/gone.txt");
}

static void unlink_symlink_lower(struct result *r)
{
    put_rc(r, "unlink", unlink(P("unlink/sym")));
    put_exists(r, "link", "unlink/sym");
    put_content(r, "target", "unlink/target.txt");
}

static void unlink_hardlink_lower(struct result *r)
{
    put_rc(r, "unlink", unlink(P("unlink/pair-a")));
    put_exists(r, "a", "unlink/pair-a");
    put_stat(r, "b", "unlink/pair-b", 0);
    put_content(r, "b-content", "unlink/pair-b");
}

static void unlink_errors(struct result *r)
{
    put_rc(r, "dir", unlink(P("unlink/dir")));
    put_exists(r, "dir-child", "unlink/dir/child");
    put_rc(r, "missing", unlink(P("unlink/missing")));
    put_rc(r, "under-file", unlink(P("unlink/file.txt/x")));
    put_exists(r, "file", "unlink/file.txt");
}

static void unlink_trailing_slash(struct result *r)
{
    put_rc(r, "lower", unlink(P("unlink/slash.txt/")));
    put_exists(r, "lower-after", "unlink/slash.txt");
    put_rc(r, "create", make_file("unlink/slash-created", "x\n"));
    put_rc(r, "created", unlink(P("unlink/slash-created/")));
    put_exists(r, "created-after", "unlink/slash-created");
}

static void unlink_lower_listing(struct result *r)
{
    put_rc(r, "unlink-b", unlink(P("unlink/list/b")));
    put_listing(r, "list", "unlink/list");
    put_rc(r, "unlink-a", unlink(P("unlink/list/a")));
    put_rc(r, "unlink-c", unlink(P("unlink/list/c")));
    put_listing(r, "list-after", "unlink/list");
    put_rc(r, "rmdir", rmdir(P("unlink/list")));
    put_exists(r, "dir", "unlink/list");
}

static void unlink_created_listing(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("unlink/newdir"), 0755));
    put_rc(r, "create-x", make_file("unlink/newdir/x", "x\n"));
    put_rc(r, "create-y", make_file("unlink/newdir/y", "y\n"));
    put_rc(r, "unlink-x", unlink(P("unlink/newdir/x")));
    put_listing(r, "list", "unlink/newdir");
}

/* ------------------------------------------------------------ tables */

const struct check open_checks[] = {
    {"open/creat-new", open_creat_new},
    {"open/creat-existing-lower", open_creat_existing},
    {"open/excl-existing-lower", open_excl_existing_lower},
    {"open/excl-existing-created", open_excl_existing_created},
    {"open/excl-new", open_excl_new},
    {"open/excl-dangling-symlink", open_excl_dangling},
    {"open/creat-through-dangling-symlink", open_creat_through_dangling},
    {"open/trunc-lower", open_trunc_lower},
    {"open/trunc-created", open_trunc_created},
    {"open/append-lower", open_append_lower},
    {"open/append-created", open_append_created},
    {"open/tmpfile-lower-dir", open_tmpfile_lower_dir},
    {"open/tmpfile-created-dir", open_tmpfile_created_dir},
    {"open/tmpfile-excl", open_tmpfile_excl},
    {"open/o-directory", open_o_directory},
    {"open/o-nofollow", open_o_nofollow},
    {"open/rdwr-lower-readback", open_rdwr_lower_readback},
    {"open/write-past-end-lower", open_write_past_end_lower},
    {"open/write-0444-lower", open_write_0444_lower},
    {"open/write-0444-created", open_write_0444_created},
    {"open/write-0444-shared", open_write_0444_shared},
    {"open/ro-fd-sees-write", open_ro_fd_sees_write},
    {"open/fopen", open_fopen_append},
    {"open/missing", open_missing},
    {"open/directory-for-write", open_directory_for_write},
    {"open/fixture-contents", open_fixture_contents},
    {"open/big-read", open_big_read},
    {NULL, NULL},
};

const struct check unlink_checks[] = {
    {"unlink/open-created", unlink_open_created},
    {"unlink/open-lower", unlink_open_lower},
    {"unlink/open-lower-write", unlink_open_lower_write},
    {"unlink/lower-then-recreate", unlink_lower_then_recreate},
    {"unlink/symlink-lower", unlink_symlink_lower},
    {"unlink/hardlink-lower", unlink_hardlink_lower},
    {"unlink/errors", unlink_errors},
    {"unlink/trailing-slash", unlink_trailing_slash},
    {"unlink/lower-listing", unlink_lower_listing},
    {"unlink/created-listing", unlink_created_listing},
    {NULL, NULL},
};

