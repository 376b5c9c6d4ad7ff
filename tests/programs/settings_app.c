/* settings-app [--hold]: the side-by-side application of test_cow_apps.sh.
 *
 * Its version is whatever the image's /opt/vialsbs/VERSION says (the test
 * packs it twice, as 1.0 and 2.0 of one package). It prints what
 * ~/.config/vial-sbs/settings held, then replaces that file, the way
 * applications save settings (write a temporary file, rename it over the
 * old one), with "version=V runs=N" where N counts the runs that shaped the
 * file:
 *
 *   pid PID version V
 *   read: version=1.0 runs=2          ("read: (none)" without a file)
 *   wrote: version=2.0 runs=3
 *
 * With --hold it then waits for a line on stdin, reads the file again and
 * prints "reread: ..." before it exits, so that a test can run two versions
 * at once and check that neither sees the other's write.
 * Exit status 0, or 1 with a message on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define APP_DIR ".config/vial-sbs"
#define VERSION_FILE "/opt/vialsbs/VERSION"

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "settings-app: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

/* read_line: the first line of PATH without its newline into BUF; 0, or -1
 * with errno (ENOENT when there is no file) */
static int read_line(char *buf, size_t size, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, (int)size, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* mkdir -p of DIR (absolute), components that exist are fine */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = c;
            if (c == '\0')
                return 0;
        }
    }
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

int main(int argc, char **argv)
{
    int hold = argc > 1 && strcmp(argv[1], "--hold") == 0;
    const char *home = getenv("HOME");
    char version[64], dir[PATH_MAX], settings[PATH_MAX], tmp[PATH_MAX];
    char old[256], text[256];

    if (!home || home[0] != '/') {
        fprintf(stderr, "settings-app: HOME is not an absolute path\n");
        return 1;
    }
    if (read_line(version, sizeof version, VERSION_FILE) < 0)
        return fail("cannot read", VERSION_FILE);
    if (snprintf(dir, sizeof dir, "%s/%s", home, APP_DIR) >= (int)sizeof dir ||
        snprintf(settings, sizeof settings, "%s/settings", dir) >= (int)sizeof settings ||
        snprintf(tmp, sizeof tmp, "%s/settings.tmp.%ld", dir, (long)getpid()) >= (int)sizeof tmp) {
        fprintf(stderr, "settings-app: HOME is too long\n");
        return 1;
    }
    printf("pid %ld version %s\n", (long)getpid(), version);

    long runs = 0;
    if (read_line(old, sizeof old, settings) == 0) {
        printf("read: %s\n", old);
        const char *r = strstr(old, " runs=");
        if (r)
            runs = strtol(r + 6, NULL, 10);
    } else if (errno == ENOENT) {
        printf("read: (none)\n");
    } else {
        return fail("cannot read", settings);
    }

    snprintf(text, sizeof text, "version=%s runs=%ld\n", version, runs + 1);
    if (make_dirs(dir) < 0)
        return fail("cannot create", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail("cannot create", tmp);
    if (write_all(fd, text, strlen(text)) < 0 || close(fd) < 0)
        return fail("cannot write", tmp);
    if (rename(tmp, settings) < 0)
        return fail("cannot rename to", settings);
    printf("wrote: %.*s\n", (int)strcspn(text, "\n"), text);
    fflush(stdout);

    if (!hold)
        return 0;
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return 0; /* stdin closed without the go-ahead: nothing more to say */
    if (read_line(old, sizeof old, settings) < 0)
        return fail("cannot read", settings);
    printf("reread: %s\n", old);
    return 0;
}
