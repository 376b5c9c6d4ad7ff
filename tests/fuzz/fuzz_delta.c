/*
 * fuzz_delta.c - fuzz target for what the interposer reads of the user's
 * state: the delta's table file (vfs-redirect/delta.c) and the isolation
 * rules of the session file (vfs-redirect/policy.c).
 *
 * The first byte chooses: 'P' parses the rest as a session's policy line
 * (a line that parses must format and parse back to the same decisions);
 * anything else is written as the `index` of a store, which is opened as
 * an instance opens it (refused, or answering lookups without crashing or
 * looping) and then as the launcher opens it (always usable: rebuilt from
 * the tree when damaged). Used by fuzz-delta and replay-delta.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_delta: invariant broken: %s\n", what);
    abort();
}

static void policy_line(const uint8_t *data, size_t size)
{
    static struct vial_policy policy, again;
    static char text[16384], formatted[16384];
    if (size >= sizeof text)
        size = sizeof text - 1;
    memcpy(text, data, size);
    text[size] = '\0';
    if (vial_policy_parse(&policy, text, "/home/fuzz") < 0)
        return;
    if (vial_policy_format(&policy, formatted, sizeof formatted) < 0)
        return; /* longer than a session carries */
    if (vial_policy_parse(&again, formatted, "/home/fuzz") < 0)
        fail("a formatted policy does not parse");
    static const char *const probes[] = {"/", "/tmp", "/home/fuzz", "/home/fuzz/.config/x",
                                         "/usr/lib/a", "/a/b/c"};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        if (vial_policy_of(&policy, probes[i]) != vial_policy_of(&again, probes[i]))
            fail("format/parse changed a decision");
}

static char store[64];

static void remove_store(void)
{
    static const char *const names[] = {"upper/etc", "upper", "work", "index", "index.new", "lock"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", store, names[i]);
        if (unlink(path) < 0)
            rmdir(path);
    }
    rmdir(store);
}

static void table_file(const uint8_t *data, size_t size)
{
    char path[128];
    if (!store[0]) {
        snprintf(store, sizeof store, "/tmp/fuzz-delta-%d", (int)getpid());
        mkdir(store, 0700);
        snprintf(path, sizeof path, "%s/upper", store);
        mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/upper/etc", store);
        mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/work", store);
        mkdir(path, 0700);
        atexit(remove_store);
    }
    snprintf(path, sizeof path, "%s/index", store);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
        fail("cannot write the index");
    close(fd);
    struct vial_delta *d;
    static const char *const paths[] = {"/", "/etc", "/etc/x", "/usr/lib/y", "/a/b/c/d"};
    if (vial_delta_open(&d, store, 0) == 0) {
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
            (void)vial_delta_lookup(d, vial_delta_hash_path(paths[i]));
        char names[64][32];
        (void)vial_delta_roots(d, names, 64);
        vial_delta_close(d);
    }
    if (vial_delta_open(&d, store, 1) != 0)
        fail("the launcher cannot repair a damaged table");
    if (vial_delta_record(d, "/etc/new", VIAL_DELTA_FILE) != 0 ||
        vial_delta_lookup(d, vial_delta_hash_path("/etc/new")) != VIAL_DELTA_FILE)
        fail("the repaired table does not take a change");
    vial_delta_record(d, "/etc/new", 0);
    vial_delta_close(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 'P')
        policy_line(data + 1, size - 1);
    else
        table_file(data, size);
    return 0;
}
