/*
 * make-fixture-tree DIR - builds the round-trip fixture: symlinks (relative,
 * absolute, dangling, to directories), hard links (a group of three, and one
 * across directories), empty directories and files, a large sparse-ish file,
 * odd but valid names, every interesting mode bit (setuid, setgid dirs,
 * sticky, read-only directories), nanosecond mtimes and, where the file
 * system supports them, user.* extended attributes. Deterministic.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *root;

static void die(const char *what, const char *path)
{
    fprintf(stderr, "make-fixture-tree: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static const char *at(const char *relative)
{
    /* a few rotating buffers, so that link(at(a), at(b)) works */
    static char paths[4][4096];
    static unsigned next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", root, relative);
    return path;
}

static void dir(const char *relative, mode_t mode)
{
    if (mkdir(at(relative), 0755) < 0)
        die("mkdir", relative);
    (void)mode;
}

static void file(const char *relative, const char *content, mode_t mode)
{
    int fd = open(at(relative), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
        die("write", relative);
    close(fd);
    if (chmod(at(relative), mode) < 0)
        die("chmod", relative);
}

static void set_time(const char *relative, long sec, long nsec)
{
    struct timespec t[2] = {{sec, nsec}, {sec, nsec}};
    if (utimensat(AT_FDCWD, at(relative), t, AT_SYMLINK_NOFOLLOW) < 0)
        die("utimensat", relative);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-fixture-tree DIR\n");
        return 2;
    }
    root = argv[1];
    umask(0);
    if (mkdir(root, 0755) < 0)
        die("mkdir", root);
    dir("usr", 0755);
    dir("usr/bin", 0755);
    dir("usr/lib", 0755);
    dir("usr/share", 0755);
    dir("usr/share/app", 0755);
    dir("empty", 0755);
    dir("empty/nested-empty", 0755);
    dir("modes", 0755);
    dir("modes/setgid-dir", 02775);
    dir("modes/sticky-dir", 01777);
    dir("modes/read-only-dir", 0755);
    dir("names", 0755);
    dir("links", 0755);

    file("usr/bin/app", "#!/bin/sh\necho hello from the fixture\n", 0755);
    file("usr/share/app/data.txt", "some data\n", 0644);
    file("empty-file", "", 0644);
    file("modes/setuid-file", "x", 04755);
    file("modes/setgid-file", "x", 02755);
    file("modes/private", "secret", 0600);
    file("modes/owner-read-only", "r", 0400);
    file("modes/odd-bits", "o", 0471);
    file("modes/read-only-dir/inside", "inside a read-only dir", 0444);
    file("names/with space", "1", 0644);
    file("names/-leading-dash", "2", 0644);
    file("names/quote'\"mark", "3", 0644);
    file("names/ünïcødé-日本語", "4", 0644);
    file("names/back\\slash", "5", 0644);
    file("names/.hidden", "6", 0644);
    file("names/...", "7", 0644);
    file("names/x.", "8", 0644);
    char long_name[256];
    memset(long_name, 'n', 255);
    long_name[255] = '\0';
    char long_path[300];
    snprintf(long_path, sizeof long_path, "names/%s", long_name);
    file(long_path, "255-byte name", 0644);

    /* hard links: a group of three in one dir, one across directories */
    file("links/original", "linked content\n", 0644);
    if (link(at("links/original"), at("links/second")) < 0)
        die("link", "links/second");
    char third[4096];
    snprintf(third, sizeof third, "%s", at("usr/share/app/third-name"));
    if (link(at("links/original"), third) < 0)
        die("link", "third-name");

    snprintf(third, sizeof third, "%s", at("modes/read-only-dir/fourth-name"));
    if (link(at("links/original"), third) < 0)
        die("link", "fourth-name");

    /* symlinks */
    if (symlink("original", at("links/relative")) < 0 ||
        symlink("/usr/share/app/data.txt", at("links/absolute")) < 0 ||
        symlink("does-not-exist", at("links/dangling")) < 0 ||
        symlink("../usr/share", at("links/to-dir")) < 0 ||
        symlink("relative", at("links/chain")) < 0)
        die("symlink", "links/*");

    /* a large sparse-ish file: 8 MiB with data islands between long zero runs */
    int fd = open(at("usr/lib/large-sparse.bin"), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        die("open", "large-sparse.bin");
    unsigned char block[65536];
    uint32_t seed = 12345;
    for (int island = 0; island < 8; island++) {
        for (size_t i = 0; i < sizeof block; i++) {
            seed = seed * 1103515245u + 12345u;
            block[i] = (unsigned char)(seed >> 16);
        }
        if (pwrite(fd, block, sizeof block, (off_t)island * 1048576) != (ssize_t)sizeof block)
            die("pwrite", "large-sparse.bin");
    }
    if (ftruncate(fd, 8 * 1048576 + 17) < 0)
        die("ftruncate", "large-sparse.bin");
    close(fd);

    /* a compressible large file cut into several chunks */
    fd = open(at("usr/lib/large-text.txt"), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        die("open", "large-text.txt");
    for (int line = 0; line < 60000; line++) {
        char text[64];
        int n = snprintf(text, sizeof text, "line %d of a large text file\n", line);
        if (write(fd, text, (size_t)n) != n)
            die("write", "large-text.txt");
    }
    close(fd);

    /* extended attributes, where supported */
    if (setxattr(at("usr/share/app/data.txt"), "user.vial.test", "value\0binary", 12, 0) < 0 &&
        errno != ENOTSUP && errno != EPERM)
        die("setxattr", "data.txt");
    if (setxattr(at("usr/bin"), "user.vial.dir", "d", 1, 0) < 0 && errno != ENOTSUP &&
        errno != EPERM)
        die("setxattr", "usr/bin");

    /* times with nanoseconds, set deepest first; directory modes last */
    set_time("usr/share/app/data.txt", 1600000000, 123456789);
    set_time("links/absolute", 1500000000, 1);
    set_time("empty-file", 0, 0);
    set_time("usr/lib/large-sparse.bin", 1700000000, 999999999);
    chmod(at("modes/setgid-dir"), 02775);
    chmod(at("modes/sticky-dir"), 01777);
    chmod(at("modes/read-only-dir"), 0555);
    set_time("modes/read-only-dir", 1234567890, 5);
    set_time("empty", 1111111111, 0);
    return 0;
}
