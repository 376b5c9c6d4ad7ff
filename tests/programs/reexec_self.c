/* reexec-self: prints readlink("/proc/self/exe"), then execs /proc/self/exe
 * once more with the argument "again", which prints it a second time. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) {
        fprintf(stderr, "reexec-self: readlink /proc/self/exe: %s\n", strerror(errno));
        return 1;
    }
    exe[n] = '\0';
    int again = argc > 1 && strcmp(argv[1], "again") == 0;
    printf("reexec-self: %s exe=%s\n", again ? "second" : "first", exe);
    fflush(stdout);
    if (again)
        return 0;
    char *const args[] = { argv[0], "again", NULL };
    execv("/proc/self/exe", args);
    fprintf(stderr, "reexec-self: execv /proc/self/exe: %s\n", strerror(errno));
    return 1;
}
