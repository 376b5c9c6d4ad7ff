/*
 * hooktest_lib.c - libvialhooktest.so.1, a library that reaches files the
 * way some private libraries do: with raw system calls, which no libc
 * hook sees (test_hooks.sh). Only a declared hook ([hook NAME] with a path
 * argument) brings these paths into the bubble. Also a variadic and a
 * floating-point function, to check that declared hooks forward exactly.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>

#define SYS_READ 0
#define SYS_WRITE 1
#define SYS_CLOSE 3
#define SYS_OPENAT 257
#define AT_FDCWD_VALUE (-100)

static long raw_syscall4(long number, long a, long b, long c, long d)
{
    long result;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return result;
}

/* Opens path (openat through the kernel, no libc), reads it and returns
 * the sum of its bytes, or -errno. */
int hooktest_open_path(const char *path)
{
    long fd = raw_syscall4(SYS_OPENAT, AT_FDCWD_VALUE, (long)path, 0 /* O_RDONLY */, 0);
    if (fd < 0)
        return (int)fd;
    unsigned char buffer[4096];
    long n, sum = 0;
    while ((n = raw_syscall4(SYS_READ, fd, (long)buffer, sizeof buffer, 0)) > 0)
        for (long i = 0; i < n; i++)
            sum += buffer[i];
    raw_syscall4(SYS_CLOSE, fd, 0, 0, 0);
    return n < 0 ? (int)n : (int)(sum & 0x7fffffff);
}

/* Creates or truncates path and writes text to it; the bytes written or
 * -errno. */
int hooktest_write_path(const char *path, const char *text)
{
    long length = 0;
    while (text[length])
        length++;
    long fd = raw_syscall4(SYS_OPENAT, AT_FDCWD_VALUE, (long)path,
                           01 | 0100 | 01000 /* O_WRONLY | O_CREAT | O_TRUNC */, 0644);
    if (fd < 0)
        return (int)fd;
    long n = raw_syscall4(SYS_WRITE, fd, (long)text, length, 0);
    raw_syscall4(SYS_CLOSE, fd, 0, 0, 0);
    return (int)n;
}

/* The sum of count ints. */
int hooktest_sum(int count, ...)
{
    va_list ap;
    int sum = 0;
    va_start(ap, count);
    for (int i = 0; i < count; i++)
        sum += va_arg(ap, int);
    va_end(ap);
    return sum;
}

double hooktest_scale(double value, float factor, int64_t times)
{
    return value * (double)factor * (double)times;
}

/* Fails with errno = error. */
int hooktest_fail(int error)
{
    errno = error;
    return -1;
}
