/*
 * check_data.c - a file's length and durability, and safe creation of
 * temporary names: truncate/ftruncate, fsync/fdatasync, mkstemp, mkostemp,
 * mkstemps, mkdtemp. The lower entries are in fixture.c under trunc/, sync/
 * and mktemp/.
 */
#include "suite.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ truncate */

/* Appends zeros-after-N=yes|no: every byte of RELATIVE from N on is 0. */
static void put_zeros_after(struct result *r, const char *relative, long long from)
{
    int fd = open(P(relative), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        put(r, "zeros=%s", errno_name(errno));
        return;
    }
    unsigned char buffer[16384];
    long long offset = 0;
    int zeros = 1;
    ssize_t n;
    while (zeros && (n = read(fd, buffer, sizeof buffer)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (offset + i >= from && buffer[i] != 0)
                zeros = 0;
        offset += n;
    }
    close(fd);
    put(r, "zeros-after-%lld=%s", from, zeros ? "yes" : "no");
}

static void truncate_grow_lower(struct result *r)
{
    put_rc(r, "truncate", truncate(P("trunc/grow.txt"), 64));
    put_stat(r, "stat", "trunc/grow.txt", 0);
    put_zeros_after(r, "trunc/grow.txt", 5);
    char head[6] = "";
    int fd = open(P("trunc/grow.txt"), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, head, 5);
        head[n > 0 ? n - 1 : 0] = '\0'; /* without the newline */
        close(fd);
    }
    put(r, "head=\"%s\"", head);
}

static void truncate_shrink_lower(struct result *r)
{
    put_rc(r, "truncate", truncate(P("trunc/shrink.txt"), 6));
    put_content(r, "content", "trunc/shrink.txt");
}

static void truncate_ftruncate_lower(struct result *r)
{
    int fd = open(P("trunc/ftrunc.txt"), O_RDWR | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    put_rc(r, "ftruncate", ftruncate(fd, 0));
    put_fd_stat(r, "fstat", fd);
    put_write(r, "write", fd, "x");
    put_rc(r, "ftruncate-grow", ftruncate(fd, 3));
    close(fd);
    put_stat(r, "stat", "trunc/ftrunc.txt", 0);
    put_content(r, "content", "trunc/ftrunc.txt");
}

static void truncate_grow_created(struct result *r)
{
    put_rc(r, "create", make_file("trunc/sparse", "abc"));
    put_rc(r, "truncate", truncate(P("trunc/sparse"), 1 << 20));
    put_stat(r, "stat", "trunc/sparse", 0);
    put_zeros_after(r, "trunc/sparse", 3);
}

static void truncate_shrink_created(struct result *r)
{
    put_rc(r, "create", make_file("trunc/shrink-created", "0123456789"));
    put_rc(r, "truncate", truncate(P("trunc/shrink-created"), 4));
    put_content(r, "content", "trunc/shrink-created");
    put_rc(r, "truncate-zero", truncate(P("trunc/shrink-created"), 0));
    put_stat(r, "stat", "trunc/shrink-created", 0);
}

static void truncate_errors(struct result *r)
{
    put_rc(r, "missing", truncate(P("trunc/missing"), 1));
    put_exists(r, "missing-after", "trunc/missing");
    put_rc(r, "dir", truncate(P("trunc"), 0));
    put_rc(r, "negative", truncate(P("trunc/grow-nothing"), -1));
    put_rc(r, "negative-existing", truncate(P("trunc/negative.txt"), -1));
    put_rc(r, "under-file", truncate(P("trunc/negative.txt/x"), 0));
    put_content(r, "content", "trunc/negative.txt");
}

static void truncate_ftruncate_rdonly(struct result *r)
{
    int fd = open(P("trunc/rdonly-fd.txt"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    put_rc(r, "ftruncate", ftruncate(fd, 0));
    close(fd);
    put_stat(r, "stat", "trunc/rdonly-fd.txt", 0);
}

static void truncate_big_lower(struct result *r)
{
    put_rc(r, "truncate", truncate(P("trunc/big.bin"), 100000));
    unsigned long long hash, want = 1469598103934665603ull;
    long long size;
    for (size_t i = 0; i < 100000; i++)
        want = (want ^ fixture_byte(i)) * 1099511628211ull;
    if (hash_file("trunc/big.bin", &hash, &size) < 0)
        put_rc(r, "read", -1);
    else
        put(r, "size=%lld pattern=%s", size, hash == want ? "yes" : "no");
}

static void truncate_readonly_lower(struct result *r)
{
    put_rc(r, "truncate", truncate(P("trunc/readonly.txt"), 0));
    put_stat(r, "stat", "trunc/readonly.txt", 0);
}

/* ------------------------------------------------------------ sync */

static void sync_created(struct result *r)
{
    int fd = open(P("sync/created"), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    put_write(r, "write", fd, "synced\n");
    put_rc(r, "fsync", fsync(fd));
    put_rc(r, "fdatasync", fdatasync(fd));
    put_rc(r, "syncfs", syncfs(fd));
    close(fd);
    put_content(r, "content", "sync/created");
}

static void sync_lower_rdonly(struct result *r)
{
    int fd = open(P("sync/lower.txt"), O_RDONLY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    put_rc(r, "fsync", fsync(fd));
    put_rc(r, "fdatasync", fdatasync(fd));
    close(fd);
}

static void sync_lower_written(struct result *r)
{
    int fd = open(P("sync/lower.txt"), O_WRONLY | O_APPEND | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    put_write(r, "write", fd, "synced\n");
    put_rc(r, "fsync", fsync(fd));
    put_rc(r, "fdatasync", fdatasync(fd));
    close(fd);
    put_content(r, "content", "sync/lower.txt");
}

static void sync_directory(struct result *r)
{
    int fd = open(P("sync"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    put_rc(r, "open", fd);
    if (fd < 0)
        return;
    put_rc(r, "fsync", fsync(fd));
    put_rc(r, "fdatasync", fdatasync(fd));
    close(fd);
}

/* ------------------------------------------------------------ mktemp */

/* Appends shape=PREFIX + one X per random character + SUFFIX, after
 * checking that NAME kept PREFIX and SUFFIX of the template and filled the
 * X's with [A-Za-z0-9]. */
static void put_shape(struct result *r, const char *name, const char *prefix, int xs, const char *suffix)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t lp = strlen(prefix), ls = strlen(suffix);
    int ok = strlen(base) == lp + (size_t)xs + ls && strncmp(base, prefix, lp) == 0 &&
             strcmp(base + lp + xs, suffix) == 0;
    for (int i = 0; ok && i < xs; i++)
        ok = isalnum((unsigned char)base[lp + (size_t)i]);
    put(r, "shape=%s%s", ok ? prefix : "(wrong)", ok ? "" : base);
    if (ok) {
        char xes[16];
        memset(xes, 'X', (size_t)xs);
        xes[xs] = '\0';
        r->length += (size_t)snprintf(r->text + r->length, sizeof r->text - r->length, "%s%s", xes, suffix);
    }
}

/* The path mkstemp & co. work on: RELATIVE under the suite's root. */
static char *template_of(char *buffer, size_t size, const char *relative)
{
    snprintf(buffer, size, "%s", P(relative));
    return buffer;
}

static void put_created(struct result *r, const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        put(r, "created=%s", errno_name(errno));
    else if (S_ISDIR(st.st_mode))
        put(r, "created=%s,%04o,nlink:%lu", type_name(st.st_mode), (unsigned)(st.st_mode & 07777),
            (unsigned long)st.st_nlink);
    else
        put(r, "created=%s,%04o,size:%lld", type_name(st.st_mode), (unsigned)(st.st_mode & 07777),
            (long long)st.st_size);
}

static void mktemp_mkstemp(struct result *r)
{
    char name[8192];
    int fd = mkstemp(template_of(name, sizeof name, "mktemp/t-XXXXXX"));
    put_rc(r, "mkstemp", fd);
    if (fd < 0)
        return;
    put_shape(r, name, "t-", 6, "");
    put_created(r, name);
    put(r, "cloexec=%s", fcntl(fd, F_GETFD) & FD_CLOEXEC ? "yes" : "no");
    put(r, "rdwr=%s", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR ? "yes" : "no");
    close(fd);
}

static void mktemp_unique(struct result *r)
{
    char first[8192], second[8192];
    int a = mkstemp(template_of(first, sizeof first, "mktemp/u-XXXXXX"));
    int b = mkstemp(template_of(second, sizeof second, "mktemp/u-XXXXXX"));
    put_rc(r, "first", a);
    put_rc(r, "second", b);
    if (a >= 0 && b >= 0)
        put(r, "differ=%s", strcmp(first, second) ? "yes" : "no");
    close_fd(a);
    close_fd(b);
}

static void mktemp_mkostemp(struct result *r)
{
    char name[8192];
    int fd = mkostemp(template_of(name, sizeof name, "mktemp/o-XXXXXX"), O_CLOEXEC | O_APPEND);
    put_rc(r, "mkostemp", fd);
    if (fd < 0)
        return;
    put_shape(r, name, "o-", 6, "");
    put_created(r, name);
    put(r, "cloexec=%s", fcntl(fd, F_GETFD) & FD_CLOEXEC ? "yes" : "no");
    put(r, "append=%s", fcntl(fd, F_GETFL) & O_APPEND ? "yes" : "no");
    close(fd);
}

static void mktemp_mkstemps(struct result *r)
{
    char name[8192];
    int fd = mkstemps(template_of(name, sizeof name, "mktemp/s-XXXXXX.txt"), 4);
    put_rc(r, "mkstemps", fd);
    if (fd < 0)
        return;
    put_shape(r, name, "s-", 6, ".txt");
    put_created(r, name);
    close(fd);
}

static void mktemp_mkdtemp(struct result *r)
{
    char name[8192];
    char *dir = mkdtemp(template_of(name, sizeof name, "mktemp/d-XXXXXX"));
    put_rc(r, "mkdtemp", dir ? 0 : -1);
    if (!dir)
        return;
    put_shape(r, name, "d-", 6, "");
    put_created(r, name);
    int fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    put_rc(r, "open", fd);
    close_fd(fd);
}

static void mktemp_errors(struct result *r)
{
    char name[8192];
    int fd = mkstemp(template_of(name, sizeof name, "mktemp/noX"));
    put_rc(r, "no-x", fd);
    close_fd(fd);
    fd = mkstemp(template_of(name, sizeof name, "mktemp/five-XXXXX"));
    put_rc(r, "five-x", fd);
    close_fd(fd);
    fd = mkstemp(template_of(name, sizeof name, "mktemp/missing/t-XXXXXX"));
    put_rc(r, "missing-dir", fd);
    close_fd(fd);
    put_rc(r, "mkdtemp-missing-dir", mkdtemp(template_of(name, sizeof name, "mktemp/missing/d-XXXXXX")) ? 0 : -1);
}

static void mktemp_created_dir(struct result *r)
{
    put_rc(r, "mkdir", mkdir(P("mktemp/sub"), 0755));
    char name[8192];
    int fd = mkstemp(template_of(name, sizeof name, "mktemp/sub/t-XXXXXX"));
    put_rc(r, "mkstemp", fd);
    close_fd(fd);
    if (fd >= 0)
        put_shape(r, name, "t-", 6, "");
    /* one entry, whatever its name */
    int count = 0;
    DIR *d = opendir(P("mktemp/sub"));
    struct dirent *e;
    while (d && (e = readdir(d)))
        count += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    put(r, "entries=%d", count);
}

/* ------------------------------------------------------------ tables */

const struct check truncate_checks[] = {
    {"truncate/grow-lower", truncate_grow_lower},
    {"truncate/shrink-lower", truncate_shrink_lower},
    {"truncate/ftruncate-lower", truncate_ftruncate_lower},
    {"truncate/grow-created", truncate_grow_created},
    {"truncate/shrink-created", truncate_shrink_created},
    {"truncate/errors", truncate_errors},
    {"truncate/ftruncate-rdonly", truncate_ftruncate_rdonly},
    {"truncate/big-lower", truncate_big_lower},
    {"truncate/readonly-lower", truncate_readonly_lower},
    {NULL, NULL},
};

const struct check sync_checks[] = {
    {"sync/created", sync_created},
    {"sync/lower-rdonly", sync_lower_rdonly},
    {"sync/lower-written", sync_lower_written},
    {"sync/directory", sync_directory},
    {NULL, NULL},
};

const struct check mktemp_checks[] = {
    {"mktemp/mkstemp", mktemp_mkstemp},
    {"mktemp/unique", mktemp_unique},
    {"mktemp/mkostemp", mktemp_mkostemp},
    {"mktemp/mkstemps", mktemp_mkstemps},
    {"mktemp/mkdtemp", mktemp_mkdtemp},
    {"mktemp/errors", mktemp_errors},
    {"mktemp/created-dir", mktemp_created_dir},
    {NULL, NULL},
};
