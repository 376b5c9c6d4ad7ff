/*
 * hooks_loop.c - bench/hooks: N calls of one kind, timed inside the
 * process (no start-up cost), printed as nanoseconds per call:
 *   vial-bench-hooks call N        bench_hooks_add() of libvialbenchhooks.so
 *   vial-bench-hooks stat PATH N   stat(PATH)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int bench_hooks_add(int a, int b);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    struct stat st;
    volatile int sink = 0;
    if (argc == 3 && strcmp(argv[1], "call") == 0) {
        long n = atol(argv[2]);
        sink = bench_hooks_add(sink, 1); /* binds the symbol outside the timing */
        double start = now();
        for (long i = 0; i < n; i++)
            sink = bench_hooks_add(sink, 1);
        printf("%.1f\n", (now() - start) / (double)n);
    } else if (argc == 4 && strcmp(argv[1], "stat") == 0) {
        long n = atol(argv[3]);
        double start = now();
        for (long i = 0; i < n; i++)
            sink += stat(argv[2], &st);
        printf("%.1f\n", (now() - start) / (double)n);
    } else {
        fprintf(stderr, "usage: vial-bench-hooks call N | stat PATH N\n");
        return 2;
    }
    return sink == -12345;
}
