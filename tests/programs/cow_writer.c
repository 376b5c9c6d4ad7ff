/* cow-writer: the program test_cow_apps.sh kills with SIGKILL in the middle
 * of a copy-up or of a stream of small writes, then checks what survived.
 *
 *   cow-writer make-big FILE MIB   writes MIB MiB of deterministic
 *                                  pseudo-random bytes (built natively, packed
 *                                  into the image)
 *   cow-writer mark FILE           writes MARK at offset 0 of FILE, exactly
 *                                  as `write` does (for the expected checksum)
 *   cow-writer write BIG DIR N     in the bubble: opens the image file BIG for
 *                                  writing (a copy-up), writes MARK at offset
 *                                  0, closes it; then creates DIR/1 .. DIR/N,
 *                                  each written and closed before its number
 *                                  is printed
 *   cow-writer verify DIR MAX      DIR/1 .. DIR/MAX exist with their full
 *                                  content; DIR holds nothing else except
 *                                  perhaps DIR/MAX+1 (being written at the
 *                                  kill: any prefix of its content)
 *
 * `write` prints, one line each, flushed as they happen:
 *   pid PID / open / opened MS (time open() took) / marked / dir / 1 / 2 ...
 *   / done
 * A number is printed only after its file was written and closed, so every
 * number the test saw is a promise that must hold after a crash.
 * Exit status 0, or 1 with a message on stderr. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char MARK[] = "VIAL-FAULT-MARK\n";

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "cow-writer: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* the content of small file N: a few dozen lines that name N */
static size_t content(char *buf, size_t size, long n)
{
    size_t len = 0;
    for (long line = 1; line <= n % 97 + 1; line++) {
        int k = snprintf(buf + len, size - len, "vial-fault n=%ld line=%ld\n", n, line);
        if (k < 0 || (size_t)k >= size - len)
            break;
        len += (size_t)k;
    }
    return len;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int parse_count(long *out, const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0 || v > 1000000)
        return -1;
    *out = v;
    return 0;
}

static int make_big(const char *path, const char *mib_text)
{
    long mib;
    if (parse_count(&mib, mib_text) < 0 || mib == 0) {
        fprintf(stderr, "cow-writer: make-big: bad size '%s'\n", mib_text);
        return 1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail("cannot create", path);
    uint64_t x = 0x9e3779b97f4a7c15ULL; /* xorshift64: fixed seed, same bytes every time */
    static uint64_t block[1 << 14];
    for (long i = 0; i < mib * 8; i++) { /* 8 blocks of 128 KiB per MiB */
        for (size_t j = 0; j < sizeof block / sizeof block[0]; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block[j] = x;
        }
        if (write_all(fd, (const char *)block, sizeof block) < 0)
            return fail("cannot write", path);
    }
    if (close(fd) < 0)
        return fail("cannot write", path);
    return 0;
}

static int mark(int fd, const char *path)
{
    if (pwrite(fd, MARK, sizeof MARK - 1, 0) != (ssize_t)(sizeof MARK - 1))
        return fail("cannot write the mark into", path);
    return 0;
}

static int mark_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("cannot open", path);
    if (mark(fd, path) || close(fd) < 0)
        return 1;
    return 0;
}

static int write_files(const char *big, const char *dir, const char *count_text)
{
    long count;
    char path[PATH_MAX], buf[4096];
    if (parse_count(&count, count_text) < 0) {
        fprintf(stderr, "cow-writer: write: bad count '%s'\n", count_text);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("pid %ld\nopen\n", (long)getpid());
    long start = now_ms();
    int fd = open(big, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("cannot open for writing", big);
    printf("opened %ld\n", now_ms() - start);
    if (mark(fd, big))
        return 1;
    if (close(fd) < 0)
        return fail("cannot close", big);
    printf("marked\n");
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return fail("cannot create", dir);
    printf("dir\n");
    for (long n = 1; n <= count; n++) {
        snprintf(path, sizeof path, "%s/%ld", dir, n);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            return fail("cannot create", path);
        size_t len = content(buf, sizeof buf, n);
        if (write_all(fd, buf, len) < 0)
            return fail("cannot write", path);
        if (close(fd) < 0)
            return fail("cannot close", path);
        printf("%ld\n", n);
    }
    printf("done\n");
    return 0;
}

/* the decimal name of 1..LIMIT without leading zeros, or 0 */
static long name_number(const char *name, long limit)
{
    long v;
    if (name[0] < '1' || name[0] > '9' || parse_count(&v, name) < 0 || v > limit)
        return 0;
    return v;
}

static int verify(const char *dir, const char *max_text)
{
    long max;
    int bad = 0;
    char path[PATH_MAX], want[4096], got[4097];
    if (parse_count(&max, max_text) < 0) {
        fprintf(stderr, "cow-writer: verify: bad count '%s'\n", max_text);
        return 1;
    }
    for (long n = 1; n <= max + 1; n++) {
        snprintf(path, sizeof path, "%s/%ld", dir, n);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (n <= max) {
                fprintf(stderr, "cow-writer: verify: %s (printed before the kill): %s\n", path, strerror(errno));
                bad = 1;
            }
            continue;
        }
        size_t len = content(want, sizeof want, n), have = 0;
        ssize_t k;
        while (have < sizeof got && (k = read(fd, got + have, sizeof got - have)) != 0) {
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                fprintf(stderr, "cow-writer: verify: read %s: %s\n", path, strerror(errno));
                bad = 1;
                break;
            }
            have += (size_t)k;
        }
        close(fd);
        if (n <= max && (have != len || memcmp(got, want, len) != 0)) {
            fprintf(stderr, "cow-writer: verify: %s has %zu bytes, not its full %zu-byte content\n",
                    path, have, len);
            bad = 1;
        } else if (n == max + 1 && (have > len || memcmp(got, want, have) != 0)) {
            fprintf(stderr, "cow-writer: verify: %s (not printed) holds %zu bytes that are not a prefix of its content\n",
                    path, have);
            bad = 1;
        } else if (n == max + 1) {
            printf("unprinted %ld: %zu of %zu bytes\n", n, have, len);
        }
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT && max == 0)
            goto done;
        return fail("cannot list", dir);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!name_number(e->d_name, max + 1)) {
            fprintf(stderr, "cow-writer: verify: %s holds '%s', which no write made\n", dir, e->d_name);
            bad = 1;
        }
    }
    closedir(d);
done:
    if (!bad)
        printf("verified 1..%ld\n", max);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "make-big") == 0)
        return make_big(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "mark") == 0)
        return mark_file(argv[2]);
    if (argc == 5 && strcmp(argv[1], "write") == 0)
        return write_files(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "verify") == 0)
        return verify(argv[2], argv[3]);
    fprintf(stderr, "usage: cow-writer make-big FILE MIB | mark FILE | write BIG DIR N | verify DIR MAX\n");
    return 2;
}
