/*
 * replay_main.c - runs a fuzz target's entry point over a corpus, without
 * libFuzzer, so that ordinary CI (and a sanitizer build) replays every
 * input. Linked with one target: fuzz_image.c (replay-image),
 * fuzz_manifest.c, fuzz_delta.c or fuzz_hive.c.
 *
 *   replay-TARGET [--expect-error] FILE|DIR...
 *
 * Directories are walked recursively, in name order. Exit status: 0 when
 * every input ran (and, with --expect-error, every input was rejected with
 * a message), 1 when an expectation failed, 2 on usage or I/O errors.
 * A crash is a crash: the sanitizers or the signal report it.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Defined by the targets that support --expect-error (fuzz_image.c,
 * fuzz_hive.c): 0 if the input is accepted, <0 if rejected, with the
 * message copied out. */
int fuzz_target_check(const uint8_t *data, size_t size, char *message, size_t message_size)
    __attribute__((weak));

#define REPLAY_MAX_INPUT (256u * 1024u * 1024u)

struct replay {
    const char *program;
    int expect_error;
    unsigned long inputs;
    unsigned long failures;
    int io_error;
};

static int read_input(uint8_t **out, size_t *out_size, const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0, capacity = 0;
    int rc = 0;
    *out = NULL;
    *out_size = 0;
    if (!f)
        return -errno;
    for (;;) {
        if (size == capacity) {
            size_t grown_capacity = capacity ? capacity * 2 : 65536;
            if (grown_capacity > REPLAY_MAX_INPUT) {
                rc = -EFBIG;
                goto out;
            }
            uint8_t *grown = realloc(data, grown_capacity);
            if (!grown) {
                rc = -ENOMEM;
                goto out;
            }
            data = grown;
            capacity = grown_capacity;
        }
        size_t n = fread(data + size, 1, capacity - size, f);
        size += n;
        if (n == 0) {
            if (ferror(f))
                rc = -EIO;
            break;
        }
    }
out:
    fclose(f);
    if (rc < 0) {
        free(data);
        return rc;
    }
    *out = data;
    *out_size = size;
    return 0;
}

static void replay_file(struct replay *r, const char *path)
{
    uint8_t *data;
    size_t size;
    int rc = read_input(&data, &size, path);
    if (rc < 0) {
        fprintf(stderr, "%s: %s: %s\n", r->program, path, strerror(-rc));
        r->io_error = 1;
        return;
    }
    /* The target gets an exact-size copy of its own; hand it the bytes. */
    LLVMFuzzerTestOneInput(data, size);
    r->inputs++;
    if (r->expect_error) {
        char message[1024] = "";
        rc = fuzz_target_check(data, size, message, sizeof message);
        if (rc == 0) {
            printf("%s: ACCEPTED, but an error was expected\n", path);
            r->failures++;
        } else if (message[0] == '\0') {
            printf("%s: rejected (%d) with an empty message\n", path, rc);
            r->failures++;
        } else {
            printf("%s: %s\n", path, message);
        }
    }
    free(data);
}

static int name_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dot(const struct dirent *d)
{
    return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

static void replay_path(struct replay *r, const char *path, unsigned depth)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "%s: %s: %s\n", r->program, path, strerror(errno));
        r->io_error = 1;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        replay_file(r, path);
        return;
    }
    if (depth > 32) {
        fprintf(stderr, "%s: %s: directories nested too deep\n", r->program, path);
        r->io_error = 1;
        return;
    }
    struct dirent **names = NULL;
    int n = scandir(path, &names, skip_dot, name_order);
    if (n < 0) {
        fprintf(stderr, "%s: %s: %s\n", r->program, path, strerror(errno));
        r->io_error = 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        char child[PATH_MAX];
        if ((size_t)snprintf(child, sizeof child, "%s/%s", path, names[i]->d_name) >=
            sizeof child) {
            fprintf(stderr, "%s: %s/%s: path too long\n", r->program, path, names[i]->d_name);
            r->io_error = 1;
        } else {
            replay_path(r, child, depth + 1);
        }
        free(names[i]);
    }
    free(names);
}

static int usage(const char *program)
{
    fprintf(stderr,
            "usage: %s [--expect-error] FILE|DIR...\n"
            "Runs every file (directories recursively) through the fuzz target.\n"
            "--expect-error: every input must be a rejected image with a message.\n",
            program);
    return 2;
}

int main(int argc, char **argv)
{
    struct replay r = {.program = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0]};
    int first = 1;
    /* one line per input, visible even if a later input crashes */
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (; first < argc && argv[first][0] == '-' && argv[first][1] != '\0'; first++) {
        if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        }
        if (strcmp(argv[first], "--expect-error") == 0) {
            r.expect_error = 1;
        } else {
            fprintf(stderr, "%s: unknown option %s\n", r.program, argv[first]);
            return usage(r.program);
        }
    }
    if (first >= argc)
        return usage(r.program);
    if (r.expect_error && !fuzz_target_check) {
        fprintf(stderr, "%s: --expect-error is only supported by the image and hive targets\n", r.program);
        return 2;
    }
    for (int i = first; i < argc; i++)
        replay_path(&r, argv[i], 0);
    printf("%s: %lu inputs replayed%s", r.program, r.inputs, r.expect_error ? "" : "\n");
    if (r.expect_error)
        printf(", %lu accepted or without a message\n", r.failures);
    if (r.io_error)
        return 2;
    if (r.inputs == 0) {
        fprintf(stderr, "%s: no inputs found\n", r.program);
        return 2;
    }
    return r.failures ? 1 : 0;
}
