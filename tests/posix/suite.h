/*
 * suite.h - shared by the parts of posix-suite (tests/posix): the fixture,
 * the result lines and small file helpers.
 *
 * A check is a function that works on its own names below the suite's
 * directory and describes what happened in a `struct result`; the runner
 * prints "area/case: RESULT". A RESULT holds only what a native run and a
 * run in the bubble must agree on: "ok", errno names, sizes, modes, link
 * counts, contents, sorted listings and relations ("same inode: yes",
 * "owner=self"), never inode or device numbers, clock times, pids or
 * absolute paths. Single-threaded: the helpers share static buffers.
 */
#ifndef VIAL_POSIX_SUITE_H
#define VIAL_POSIX_SUITE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* The fixed mtimes of the fixture: FIXTURE_TIME + the entry's index
 * seconds, FIXTURE_NSEC nanoseconds (atime the same). */
#define FIXTURE_TIME 1500000000L
#define FIXTURE_NSEC 250000000L

/* Size of the large fixture file, a fixed pattern (fixture_byte). */
#define FIXTURE_BIG_SIZE (300 * 1024)

enum fixture_kind { FIXTURE_DIR, FIXTURE_FILE, FIXTURE_SYMLINK, FIXTURE_HARDLINK };

struct fixture_entry {
    enum fixture_kind kind;
    const char *path;    /* relative to the suite's directory */
    mode_t mode;         /* files and directories */
    const char *content; /* files: text, or NULL for the big pattern */
    const char *target;  /* symlinks: the target; hard links: the primary */
    const char *xattr;   /* files: a user.fixture value to set, if any */
};

/* The fixture, parents before children. fixture_count entries. */
extern const struct fixture_entry fixture_entries[];
extern const size_t fixture_count;

/* The byte at OFFSET of the big file. */
unsigned char fixture_byte(size_t offset);

/* The fixture's mtime of PATH (relative), or -1 if it is not in the table. */
long fixture_mtime_of(const char *path);

/* posix-suite fixture DIR: populates DIR (existing, empty). Returns 0, or
 * 1 after printing why on stderr. */
int fixture_create(const char *dir);

/* ------------------------------------------------------------ results */

struct result {
    char text[3072];
    size_t length;
};

/* Appends one space-separated part, printf-style. */
void put(struct result *r, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Appends STEP=ok (RC >= 0) or STEP=ERRNONAME (RC < 0, from errno); just
 * the value when STEP is NULL. Returns RC. */
long put_rc(struct result *r, const char *step, long rc);

/* The symbolic name of an errno value ("ENOENT"), or "E<number>". */
const char *errno_name(int error);

/* ------------------------------------------------------------ paths */

/* ROOT/RELATIVE in one of 8 rotating buffers (so that rename(P(a), P(b))
 * works). */
const char *P(const char *relative);

/* The directory given to `run`. */
extern const char *suite_root;

/* ------------------------------------------------------------ helpers */

/* Creates RELATIVE (O_EXCL) with CONTENT and mode 0644 before the umask.
 * Returns 0 or -1 with errno. */
int make_file(const char *relative, const char *content);

/* Appends content=... (quoted, escaped, at most 200 bytes shown) or the
 * errno name of the failing open/read. */
void put_content(struct result *r, const char *key, const char *relative);

/* Reads the whole file (at most SIZE - 1 bytes) into BUFFER, NUL-ended.
 * Returns the byte count or -1 with errno. */
ssize_t read_text(const char *relative, char *buffer, size_t size);

/* Appends KEY=type/mode/size/nlink of lstat (follow = 0) or stat. */
void put_stat(struct result *r, const char *key, const char *relative, int follow);

/* Appends KEY=<sorted names, comma-separated> of a directory ("(empty)"
 * for none), or the errno name. Marks names seen twice with "(twice)". */
void put_listing(struct result *r, const char *key, const char *relative);

/* Appends KEY=ERRNONAME or KEY=present (a type letter) for lstat. */
void put_exists(struct result *r, const char *key, const char *relative);

/* "f", "d", "l" or "?" for a mode. */
const char *type_name(mode_t mode);

/* "self", "root" or "other" for an owner or a group. */
const char *owner_name(uid_t uid);
const char *group_name(gid_t gid);

/* FNV-1a of a file's bytes, for large contents. Returns 0 with *hash and
 * *size set, or -1 with errno. */
int hash_file(const char *relative, unsigned long long *hash, long long *size);

/* Sets a fixed mtime/atime on RELATIVE (no follow). Returns 0 or -1. */
int set_times(const char *relative, long sec, long nsec);

/* Whether A is later than B. */
int time_after(const struct timespec *a, const struct timespec *b);

/* Closes FD if it is one (>= 0). */
void close_fd(int fd);

/* Appends KEY=the first bytes read through FD from offset 0 (pread), with
 * newlines shown as '|', or the errno name. */
void put_fd_content(struct result *r, const char *key, int fd);

/* Appends KEY=type/mode/size/nlink of fstat(FD). */
void put_fd_stat(struct result *r, const char *key, int fd);

/* Writes TEXT to FD; appends KEY=bytes written or the errno name. */
void put_write(struct result *r, const char *key, int fd, const char *text);

/* ------------------------------------------------------------ checks */

/* Describes the fixture entry PATH as found: type, mode, size, link
 * count, mtime against the fixture's, owner, symlink target. The runner
 * prints one "fixture/PATH" line per entry before any check runs. */
void fixture_describe(struct result *r, const char *path);

struct check {
    const char *name; /* "area/case" */
    void (*run)(struct result *r);
};

/* Each part of the suite: its checks, ended by a NULL name. */
extern const struct check open_checks[];
extern const struct check unlink_checks[];
extern const struct check truncate_checks[];
extern const struct check sync_checks[];
extern const struct check mktemp_checks[];
extern const struct check rename_checks[];
extern const struct check link_checks[];
extern const struct check symlink_checks[];
extern const struct check mkdir_checks[];
extern const struct check readdir_checks[];
extern const struct check at_checks[];
extern const struct check fixture_checks[];
extern const struct check perm_checks[];
extern const struct check times_checks[];
extern const struct check xattr_checks[];
extern const struct check chown_checks[];

#endif
