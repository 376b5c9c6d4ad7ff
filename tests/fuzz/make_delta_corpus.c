/*
 * make_delta_corpus.c - writes the seed corpus of the delta fuzz target
 * (fuzz_delta.c): tables of the user's delta, valid and damaged, and
 * session policy lines ('P' + text).
 *
 *   make-delta-corpus OUTDIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "vfs.h"

static void die(const char *what)
{
    fprintf(stderr, "make-delta-corpus: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void seed(const char *outdir, const char *name, const void *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    if (testlib_write_whole(path, data, size) < 0)
        die(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-delta-corpus OUTDIR\n");
        return 2;
    }
    const char *outdir = argv[1];
    if (mkdir(outdir, 0755) < 0 && errno != EEXIST)
        die(outdir);
    char *store = testlib_mkdtemp("delta-corpus");
    struct vial_delta *d;
    if (!store || vial_delta_open(&d, store, 1) < 0)
        die("cannot create a store");
    const char *paths[] = {"/etc", "/etc/app.conf", "/home", "/home/u", "/home/u/.config"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        vial_delta_record(d, paths[i], i % 2 ? VIAL_DELTA_FILE : VIAL_DELTA_DIR);
    vial_delta_record(d, "/etc/gone", VIAL_DELTA_WHITEOUT);
    vial_delta_close(d);
    char index[4096];
    snprintf(index, sizeof index, "%s/index", store);
    uint8_t *data;
    size_t size;
    if (testlib_read_file(&data, &size, index) < 0)
        die(index);
    seed(outdir, "valid.index", data, size);
    seed(outdir, "truncated-header.index", data, 100);
    seed(outdir, "truncated-slots.index", data, size / 2);
    seed(outdir, "empty.index", data, 0);
    uint8_t *copy = malloc(size);
    memcpy(copy, data, size);
    copy[0] ^= 1;
    seed(outdir, "bad-magic.index", copy, size);
    memcpy(copy, data, size);
    copy[12] = 40; /* slot_bits beyond the file */
    seed(outdir, "slot-bits-lie.index", copy, size);
    memcpy(copy, data, size);
    for (size_t at = 4096; at + 16 <= size; at += 16) /* every slot taken */
        memset(copy + at, 0x5a, 12);
    seed(outdir, "full-table.index", copy, size);
    memcpy(copy, data, size);
    memset(copy + 40, 0xff, 4); /* root names: unknown */
    memset(copy + 32, 0x7f, 4); /* a writer died half-way */
    seed(outdir, "writer-died.index", copy, size);
    free(copy);
    free(data);
    static const char *const policies[] = {
        "Pwritecopy /;passthrough /tmp;passthrough /home/u;writecopy /home/u/.*",
        "Pfull /opt/app;merged /srv;passthrough /",
        "Pfull",
        "Pnonsense /x",
        "Pwritecopy /.*;full /a/b/c/d",
        "P;;;",
    };
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "policy-%zu", i);
        seed(outdir, name, policies[i], strlen(policies[i]));
    }
    testlib_rm_rf(store);
    free(store);
    printf("make-delta-corpus: %zu tables and %zu policy lines in %s\n", (size_t)8,
           sizeof policies / sizeof policies[0], outdir);
    return 0;
}
