/*
 * overhead_probe - the timed loops of bench/overhead.
 *
 *   overhead_probe [-n CALLS] [-r ROUNDS] [-c] OP:PATH...
 *
 * OP is stat (stat(2) of PATH), open (open O_RDONLY + close), readdir
 * (opendir + readdir to the end + closedir). Each OP:PATH is timed over
 * CALLS calls (readdir over CALLS/10) with CLOCK_MONOTONIC, ROUNDS times;
 * the rounds of all OP:PATH are interleaved so that a slow moment of the
 * machine hits every case alike. One line per OP:PATH on stdout:
 *
 *   OP PATH MEDIAN_NS MIN_NS CHECK
 *
 * where the times are per call and CHECK describes what the call saw
 * (size and type for stat, size for open, entry count for readdir), so the
 * script can tell that the bubble and the host saw the same thing.
 *
 * With -c nothing is timed or printed: each OP:PATH is run exactly CALLS
 * times (readdir too), for counting system calls from outside (run it with
 * -n 0 and -n N and subtract).
 *
 * The program is dynamically linked and calls the public libc entry points
 * an application would, so that the interposer sees every call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CASES 64
#define MAX_ROUNDS 1001

enum op { OP_STAT, OP_OPEN, OP_READDIR };

struct probe_case {
    enum op op;
    const char *name;
    const char *path;
    char check[64];
    double ns[MAX_ROUNDS];
};

static void usage(void)
{
    fputs("usage: overhead_probe [-n CALLS] [-r ROUNDS] [-c] {stat,open,readdir}:PATH...\n", stderr);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One call of the case; returns 0 or an errno value. Fills check when asked. */
static int run_once(struct probe_case *c, int fill_check)
{
    switch (c->op) {
    case OP_STAT: {
        struct stat st;
        if (stat(c->path, &st) != 0)
            return errno;
        if (fill_check)
            snprintf(c->check, sizeof c->check, "size=%lld,type=%o", (long long)st.st_size,
                     (unsigned)(st.st_mode & S_IFMT) >> 12);
        return 0;
    }
    case OP_OPEN: {
        int fd = open(c->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return errno;
        if (fill_check) {
            off_t size = lseek(fd, 0, SEEK_END);
            snprintf(c->check, sizeof c->check, "size=%lld", (long long)size);
        }
        close(fd);
        return 0;
    }
    case OP_READDIR: {
        DIR *d = opendir(c->path);
        if (!d)
            return errno;
        long entries = 0;
        while (readdir(d))
            entries++;
        closedir(d);
        if (fill_check)
            snprintf(c->check, sizeof c->check, "entries=%ld", entries);
        return 0;
    }
    }
    return EINVAL;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse_count(const char *text, long max, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || end == text || value < 0 || value > max)
        return -1;
    *out = value;
    return 0;
}

int main(int argc, char **argv)
{
    static struct probe_case cases[MAX_CASES];
    long calls = 20000, rounds = 7;
    int count_only = 0, ncases = 0, opt;

    while ((opt = getopt(argc, argv, "n:r:c")) != -1) {
        switch (opt) {
        case 'n':
            if (parse_count(optarg, 100000000, &calls) != 0) {
                usage();
                return 2;
            }
            break;
        case 'r':
            if (parse_count(optarg, MAX_ROUNDS, &rounds) != 0 || rounds < 1) {
                usage();
                return 2;
            }
            break;
        case 'c':
            count_only = 1;
            break;
        default:
            usage();
            return 2;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (ncases == MAX_CASES) {
            fprintf(stderr, "overhead_probe: more than %d cases\n", MAX_CASES);
            return 2;
        }
        struct probe_case *c = &cases[ncases];
        const char *colon = strchr(argv[i], ':');
        size_t length = colon ? (size_t)(colon - argv[i]) : 0;
        if (colon && length == 4 && strncmp(argv[i], "stat", 4) == 0)
            c->op = OP_STAT;
        else if (colon && length == 4 && strncmp(argv[i], "open", 4) == 0)
            c->op = OP_OPEN;
        else if (colon && length == 7 && strncmp(argv[i], "readdir", 7) == 0)
            c->op = OP_READDIR;
        else {
            usage();
            return 2;
        }
        c->name = c->op == OP_STAT ? "stat" : c->op == OP_OPEN ? "open" : "readdir";
        c->path = colon + 1;
        ncases++;
    }
    if (ncases == 0) {
        usage();
        return 2;
    }

    if (count_only) {
        for (int i = 0; i < ncases; i++)
            for (long k = 0; k < calls; k++) {
                int error = run_once(&cases[i], 0);
                if (error) {
                    fprintf(stderr, "overhead_probe: %s %s: %s\n", cases[i].name, cases[i].path,
                            strerror(error));
                    return 1;
                }
            }
        return 0;
    }

    /* The first call of each case checks that it works and warms it up. */
    for (int i = 0; i < ncases; i++) {
        int error = run_once(&cases[i], 1);
        if (error) {
            fprintf(stderr, "overhead_probe: %s %s: %s\n", cases[i].name, cases[i].path,
                    strerror(error));
            return 1;
        }
    }
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < ncases; i++) {
            struct probe_case *c = &cases[i];
            long n = c->op == OP_READDIR ? (calls / 10 > 0 ? calls / 10 : 1) : (calls > 0 ? calls : 1);
            uint64_t start = now_ns();
            for (long k = 0; k < n; k++) {
                int error = run_once(c, 0);
                if (error) {
                    fprintf(stderr, "overhead_probe: %s %s failed in round %ld: %s\n", c->name,
                            c->path, r, strerror(error));
                    return 1;
                }
            }
            c->ns[r] = (double)(now_ns() - start) / (double)n;
        }
    for (int i = 0; i < ncases; i++) {
        struct probe_case *c = &cases[i];
        qsort(c->ns, (size_t)rounds, sizeof c->ns[0], compare_double);
        printf("%s %s %.1f %.1f %s\n", c->name, c->path, c->ns[rounds / 2], c->ns[0], c->check);
    }
    return 0;
}
