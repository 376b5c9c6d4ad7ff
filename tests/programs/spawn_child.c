/* spawn-child PROGRAM [ARGS...]: runs PROGRAM with posix_spawnp (a PATH
 * lookup inside glibc, which no PLT hook of execvp sees) and exits with its
 * status. */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: spawn-child PROGRAM [ARGS...]\n");
        return 2;
    }
    pid_t pid;
    int err = posix_spawnp(&pid, argv[1], NULL, NULL, argv + 1, environ);
    if (err != 0) {
        fprintf(stderr, "spawn-child: posix_spawnp %s: %s\n", argv[1], strerror(err));
        return 127;
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        perror("spawn-child: waitpid");
        return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
