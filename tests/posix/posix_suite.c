/*
 * posix-suite - POSIX file-system semantics, run natively and inside Vial's
 * bubble on the same tree; the two outputs must be equal except for the
 * reviewed differences in tests/posix/allowlist.txt (test_posix.sh).
 *
 *   posix-suite fixture DIR   populates the empty directory DIR (fixture.c)
 *   posix-suite run DIR       runs every check on the fixture in DIR and
 *                             prints "area/case: RESULT" lines
 *   posix-suite run DIR PATTERN...   only the checks whose names match a
 *                             glob (to reproduce one difference alone)
 *
 * The areas are those of pjdfstest: open/creat flags, rename, unlink,
 * link counts, symlinks, permissions, timestamps, truncate, readdir,
 * mkdir/rmdir, mkstemp and friends, user.* xattrs, chown, fsync, plus the
 * dirfd-relative calls. Each check works on its own names, on entries of
 * the fixture (a lower layer under copy-on-write) and on entries it
 * creates. Exit status: 0 when the checks ran (whatever they found), 1 when
 * the fixture cannot be written, 2 for a usage error.
 */
#include "suite.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *suite_root;

/* ------------------------------------------------------------ results */

void put(struct result *r, const char *format, ...)
{
    va_list args;
    if (r->length + 2 >= sizeof r->text)
        return;
    if (r->length > 0)
        r->text[r->length++] = ' ';
    va_start(args, format);
    int n = vsnprintf(r->text + r->length, sizeof r->text - r->length, format, args);
    va_end(args);
    if (n > 0)
        r->length += (size_t)n < sizeof r->text - r->length ? (size_t)n : sizeof r->text - r->length - 1;
    r->text[r->length] = '\0';
}

const char *errno_name(int error)
{
    static char unknown[16];
    const char *name = strerrorname_np(error);
    if (name)
        return name;
    snprintf(unknown, sizeof unknown, "E%d", error);
    return unknown;
}

long put_rc(struct result *r, const char *step, long rc)
{
    int saved = errno;
    const char *value = rc < 0 ? errno_name(saved) : "ok";
    if (step)
        put(r, "%s=%s", step, value);
    else
        put(r, "%s", value);
    errno = saved;
    return rc;
}

/* ------------------------------------------------------------ paths */

const char *P(const char *relative)
{
    static char paths[8][8192];
    static unsigned next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", suite_root, relative);
    return path;
}

/* ------------------------------------------------------------ helpers */

int make_file(const char *relative, const char *content)
{
    int fd = open(P(relative), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t size = strlen(content);
    ssize_t n = write(fd, content, size);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)size) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

ssize_t read_text(const char *relative, char *buffer, size_t size)
{
    int fd = open(P(relative), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, buffer + used, size - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0 || (used += (size_t)n) == size - 1)
            break;
    }
    close(fd);
    buffer[used] = '\0';
    return (ssize_t)used;
}

/* Appends BYTES as a quoted string with C escapes, cut after 200 bytes. */
static void put_quoted(struct result *r, const char *key, const char *bytes, size_t size)
{
    char text[1024];
    size_t used = 0;
    for (size_t i = 0; i < size && i < 200; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (c == '\n')
            used += (size_t)snprintf(text + used, sizeof text - used, "\\n");
        else if (c == '"' || c == '\\')
            used += (size_t)snprintf(text + used, sizeof text - used, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            used += (size_t)snprintf(text + used, sizeof text - used, "\\x%02x", c);
        else
            text[used++] = (char)c;
        text[used] = '\0';
    }
    text[used] = '\0';
    put(r, "%s=\"%s\"%s", key, text, size > 200 ? "..." : "");
}

void put_content(struct result *r, const char *key, const char *relative)
{
    char buffer[4096];
    ssize_t n = read_text(relative, buffer, sizeof buffer);
    if (n < 0)
        put(r, "%s=%s", key, errno_name(errno));
    else
        put_quoted(r, key, buffer, (size_t)n);
}

const char *type_name(mode_t mode)
{
    return S_ISREG(mode) ? "f" : S_ISDIR(mode) ? "d" : S_ISLNK(mode) ? "l" : "?";
}

const char *owner_name(uid_t uid)
{
    return uid == geteuid() ? "self" : uid == 0 ? "root" : "other";
}

const char *group_name(gid_t gid)
{
    return gid == getegid() ? "self" : gid == 0 ? "root" : "other";
}

void put_stat(struct result *r, const char *key, const char *relative, int follow)
{
    struct stat st;
    int rc = follow ? stat(P(relative), &st) : lstat(P(relative), &st);
    if (rc < 0) {
        put(r, "%s=%s", key, errno_name(errno));
        return;
    }
    /* a directory's size is the file system's business */
    if (S_ISDIR(st.st_mode))
        put(r, "%s=%s,%04o,nlink:%lu", key, type_name(st.st_mode), (unsigned)(st.st_mode & 07777),
            (unsigned long)st.st_nlink);
    else
        put(r, "%s=%s,%04o,size:%lld,nlink:%lu", key, type_name(st.st_mode),
            (unsigned)(st.st_mode & 07777), (long long)st.st_size, (unsigned long)st.st_nlink);
}

void put_exists(struct result *r, const char *key, const char *relative)
{
    struct stat st;
    if (lstat(P(relative), &st) < 0)
        put(r, "%s=%s", key, errno_name(errno));
    else
        put(r, "%s=%s", key, type_name(st.st_mode));
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void put_listing(struct result *r, const char *key, const char *relative)
{
    DIR *d = opendir(P(relative));
    if (!d) {
        put(r, "%s=%s", key, errno_name(errno));
        return;
    }
    char **names = NULL;
    size_t count = 0, capacity = 0;
    int dot = 0, dotdot = 0, oom = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0) {
            dot++;
            continue;
        }
        if (strcmp(e->d_name, "..") == 0) {
            dotdot++;
            continue;
        }
        if (count == capacity) {
            size_t grown = capacity ? capacity * 2 : 32;
            char **bigger = realloc(names, grown * sizeof *names);
            if (!bigger) {
                oom = 1;
                break;
            }
            names = bigger;
            capacity = grown;
        }
        if (!(names[count] = strdup(e->d_name))) {
            oom = 1;
            break;
        }
        count++;
    }
    int error = errno;
    closedir(d);
    if (count > 0)
        qsort(names, count, sizeof *names, compare_names);
    char text[2048];
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        int twice = i > 0 && strcmp(names[i], names[i - 1]) == 0;
        if (used < sizeof text)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%s%s", i ? "," : "",
                                     names[i], twice ? "(twice)" : "");
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (oom)
        put(r, "%s=ENOMEM", key);
    else if (error)
        put(r, "%s=%s", key, errno_name(error));
    else
        put(r, "%s=%s%s", key, count ? text : "(empty)",
            dot == 1 && dotdot == 1 ? "" : "(dots wrong)");
}

int hash_file(const char *relative, unsigned long long *hash, long long *size)
{
    int fd = open(P(relative), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    unsigned long long h = 1469598103934665603ull;
    long long total = 0;
    unsigned char buffer[16384];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof buffer)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        for (ssize_t i = 0; i < n; i++)
            h = (h ^ buffer[i]) * 1099511628211ull;
        total += n;
    }
    close(fd);
    *hash = h;
    *size = total;
    return 0;
}

int set_times(const char *relative, long sec, long nsec)
{
    struct timespec t[2] = {{sec, nsec}, {sec, nsec}};
    return utimensat(AT_FDCWD, P(relative), t, AT_SYMLINK_NOFOLLOW);
}

int time_after(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

void close_fd(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* Appends KEY=the bytes read through FD from offset 0 (pread). */
void put_fd_content(struct result *r, const char *key, int fd)
{
    char buffer[256];
    ssize_t n = pread(fd, buffer, sizeof buffer - 1, 0);
    if (n < 0) {
        put(r, "%s=%s", key, errno_name(errno));
        return;
    }
    buffer[n] = '\0';
    for (ssize_t i = 0; i < n; i++)
        if (buffer[i] == '\n')
            buffer[i] = '|'; /* short and unambiguous here: no content has '|' */
    put(r, "%s=\"%s\"", key, buffer);
}

void put_fd_stat(struct result *r, const char *key, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        put(r, "%s=%s", key, errno_name(errno));
    else
        put(r, "%s=%s,%04o,size:%lld,nlink:%lu", key, type_name(st.st_mode),
            (unsigned)(st.st_mode & 07777), (long long)st.st_size, (unsigned long)st.st_nlink);
}

void put_write(struct result *r, const char *key, int fd, const char *text)
{
    ssize_t n = write(fd, text, strlen(text));
    if (n < 0)
        put(r, "%s=%s", key, errno_name(errno));
    else
        put(r, "%s=%zd", key, n);
}

/* ------------------------------------------------------------ runner */

static const struct check *const parts[] = {
    fixture_checks, open_checks,    unlink_checks,  truncate_checks, sync_checks,
    mktemp_checks,  rename_checks,  link_checks,    symlink_checks,  mkdir_checks,
    readdir_checks, at_checks,      perm_checks,    times_checks,    xattr_checks,
    chown_checks,
};

/* Whether NAME is selected: no PATTERNS selects every check. */
static int selected(const char *name, char **patterns, int count)
{
    if (count == 0)
        return 1;
    for (int i = 0; i < count; i++)
        if (fnmatch(patterns[i], name, 0) == 0)
            return 1;
    return 0;
}

static int run_all(char **patterns, int count)
{
    int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; i < fixture_count; i++) {
        char name[512];
        snprintf(name, sizeof name, "fixture/%s", fixture_entries[i].path);
        if (!selected(name, patterns, count))
            continue;
        struct result r = {.length = 0};
        r.text[0] = '\0';
        fixture_describe(&r, fixture_entries[i].path);
        printf("fixture/%s: %s\n", fixture_entries[i].path, r.text);
    }
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        for (const struct check *c = parts[p]; c->name; c++) {
            if (!selected(c->name, patterns, count))
                continue;
            struct result r = {.length = 0};
            r.text[0] = '\0';
            /* every check starts from the same state of the process */
            umask(022);
            errno = 0;
            c->run(&r);
            if (cwd >= 0 && fchdir(cwd) < 0)
                put(&r, "(cannot return to the start directory)");
            printf("%s: %s\n", c->name, r.length ? r.text : "(nothing)");
            fflush(stdout);
        }
    }
    if (cwd >= 0)
        close(cwd);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: posix-suite fixture DIR           (populate the empty directory DIR)\n"
                    "       posix-suite run DIR [PATTERN...]  (run the checks on the fixture in DIR,\n"
                    "                                          or those whose names match a PATTERN)\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (argc > 3 && strcmp(argv[1], "run") != 0))
        return usage();
    umask(022);
    struct stat st;
    if (stat(argv[2], &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "posix-suite: %s: not a directory\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "fixture") == 0) {
        DIR *d = opendir(argv[2]);
        struct dirent *e;
        int empty = 1;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                empty = 0;
        if (d)
            closedir(d);
        if (!d || !empty) {
            fprintf(stderr, "posix-suite: %s: %s\n", argv[2], d ? "not empty" : strerror(errno));
            return 2;
        }
        return fixture_create(argv[2]);
    }
    if (strcmp(argv[1], "run") == 0) {
        suite_root = argv[2];
        return run_all(argv + 3, argc - 3);
    }
    return usage();
}
