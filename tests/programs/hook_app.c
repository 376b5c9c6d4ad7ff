/*
 * hook_app.c - calls libvialhooktest.so.1 (test_hooks.sh):
 *   hook-app open PATH        the library's raw-syscall read of PATH, checked
 *                             against the same file read through libc
 *   hook-app write PATH TEXT  the library's raw-syscall write
 *   hook-app sum | scale | fail   forwarding of a variadic, a floating-point
 *                             and a failing function, and errno across them
 * Prints one line per check; exit status 0 when every result is right.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int hooktest_open_path(const char *path);
int hooktest_write_path(const char *path, const char *text);
int hooktest_sum(int count, ...);
double hooktest_scale(double value, float factor, int64_t times);
int hooktest_fail(int error);

static int sum_through_libc(const char *path)
{
    FILE *f = fopen(path, "rb");
    int c;
    long sum = 0;
    if (!f)
        return -errno;
    while ((c = getc(f)) != EOF)
        sum += c;
    fclose(f);
    return (int)(sum & 0x7fffffff);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "open") == 0 && argc == 3) {
        int expected = sum_through_libc(argv[2]);
        errno = 4321;
        int got = hooktest_open_path(argv[2]);
        int error = errno;
        printf("open %s: %d (libc: %d) errno %d\n", argv[2], got,expected, error);
        if (got < 0)
            printf("open failed: %s\n", strerror(-got));
        return got == expected && got > 0 && error == 4321 ? 0 : 1;
    }
    if (strcmp(mode, "write") == 0 && argc == 4) {
        int got = hooktest_write_path(argv[2], argv[3]);
        printf("write %s: %d\n", argv[2], got);
        if (got < 0)
            printf("write failed: %s\n", strerror(-got));
        return got == (int)strlen(argv[3]) ? 0 : 1;
    }
    if (strcmp(mode, "sum") == 0) {
        errno = 1234;
        int got = hooktest_sum(3, 100000, -20, 7);
        int error = errno;
        printf("sum: %d errno %d\n", got, error);
        return got == 99987 && error == 1234 ? 0 : 1;
    }
    if (strcmp(mode, "scale") == 0) {
        volatile double value = 1.1;
        volatile float factor = 2.3f;
        volatile int64_t times = -7;
        double expected = value * (double)factor * (double)times;
        double got = hooktest_scale(value, factor, times);
        printf("scale: %a (expected %a)\n", got, expected);
        return memcmp(&got, &expected, sizeof got) == 0 ? 0 : 1;
    }
    if (strcmp(mode, "fail") == 0) {
        errno = 0;
        int got = hooktest_fail(EXDEV);
        int error = errno;
        printf("fail: %d errno %d\n", got, error);
        return got == -1 && error == EXDEV ? 0 : 1;
    }
    fprintf(stderr, "usage: hook-app open PATH | write PATH TEXT | sum | scale | fail\n");
    return 2;
}
