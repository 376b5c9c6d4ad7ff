/*
 * make_hive_corpus.c - writes the seed corpus of the hive fuzz target
 * (fuzz_hive.c): binary hives, valid and damaged (truncated, flipped,
 * lying about their length), text hives ('T' + text) and value texts
 * ('V' + text).
 *
 *   make-hive-corpus OUTDIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "registry.h"
#include "testlib.h"

static const char *outdir;

static void seed(const char *name, const void *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    if (testlib_write_whole(path, data, size) < 0) {
        fprintf(stderr, "make-hive-corpus: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void seed_text(const char *name, char kind, const char *text)
{
    size_t n = strlen(text);
    char *data = malloc(n + 1);
    if (!data)
        exit(1);
    data[0] = kind;
    memcpy(data + 1, text, n);
    seed(name, data, n + 1);
    free(data);
}

static const char sample[] =
    "# a package's settings\n"
    "[env]\nAPP_HOME = '/opt/app'\n-OLD\n\n"
    "[env/prepend]\nPATH = '${VIAL_PACKAGE}/bin'\n\n"
    "[gsettings/org/gnome/desktop/interface]\nclock-format = '24h'\n"
    "text-scaling-factor = 1.25\nenable-animations = false\n\n"
    "[gsettings/org/vial/test]\nsize = uint32 4294967295\ntags = ['a', 'it\\'s']\n"
    "options = {'a': <1>, 'b': <@as []>, 'c': <(1, 'x')>}\nmaybe = @mv nothing\n"
    "blob = b'abc'\npoint = (3, -4)\nbig = int64 -9223372036854775808\n\n"
    "[-gsettings/org/old]\n";

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-hive-corpus OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    struct vial_hive *hive = NULL;
    if (vial_hive_parse_text(&hive, sample, strlen(sample)) < 0) {
        fprintf(stderr, "make-hive-corpus: %s\n", vial_error_last());
        return 1;
    }
    unsigned char *bytes = NULL;
    size_t size = 0;
    if (vial_hive_serialize((void **)&bytes, &size, hive) < 0)
        return 1;
    seed("valid.hive", bytes, size);
    struct vial_hive *empty = NULL;
    void *empty_bytes = NULL;
    size_t empty_size = 0;
    if (vial_hive_new(&empty) < 0 || vial_hive_serialize(&empty_bytes, &empty_size, empty) < 0)
        return 1;
    seed("empty.hive", empty_bytes, empty_size);
    char name[64];
    for (size_t cut = 0; cut < size; cut += size / 24 + 1) {
        snprintf(name, sizeof name, "truncated-%04zu.hive", cut);
        seed(name, bytes, cut);
    }
    for (size_t at = 0; at < size; at += size / 24 + 1) {
        bytes[at] ^= 0x5a;
        snprintf(name, sizeof name, "flipped-%04zu.hive", at);
        seed(name, bytes, size);
        bytes[at] ^= 0x5a;
    }
    bytes[16] ^= 1; /* body size one off */
    seed("body-size-lies.hive", bytes, size);
    seed_text("sample.txt", 'T', sample);
    seed_text("text-crlf.txt", 'T', "[k]\r\nx = 1\r\n-y\r\n");
    seed_text("text-bad-line.txt", 'T', "[k]\nx = [1,\n");
    seed_text("text-outside.txt", 'T', "x = 1\n");
    seed_text("text-twice.txt", 'T', "[k]\nx = 1\nx = 2\n");
    const char *values[] = {"5", "5.0", "'x'", "true", "[1, 2.5]", "{'a': <1>}", "(1,)", "()",
                            "@mi nothing", "just just 5", "<<<'deep'>>>", "b'\\x01\\0'", "uint64 18446744073709551615",
                            "@a{sv} {}", "[{'k', 1}]", "'\\u00e9\\U0001F600'", "inf", "-0.0", "[", "'",
                            "@(ii) (1, 2)", "objectpath '/a/b'", "signature 'a{sv}'", "{1: 2}"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        snprintf(name, sizeof name, "value-%02zu.txt", i);
        seed_text(name, 'V', values[i]);
    }
    printf("make-hive-corpus: %s\n", outdir);
    vial_hive_free(hive);
    vial_hive_free(empty);
    free(bytes);
    free(empty_bytes);
    return 0;
}
