/* hookcost_loop PATH N: stat(PATH) N times. bench/hookcost runs it natively
 * and with the interposer, and divides the difference by N. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    struct stat st;
    if (argc != 3) {
        fprintf(stderr, "usage: hookcost_loop PATH N\n");
        return 2;
    }
    long n = atol(argv[2]);
    for (long i = 0; i < n; i++)
        if (stat(argv[1], &st) != 0)
            return 1;
    return 0;
}
