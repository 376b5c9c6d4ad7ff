/*
 * make-hostile-images OUTDIR OUTSIDE - writes images that try to escape an
 * extraction directory: names "..", names with a slash, a symlink to
 * OUTSIDE followed by a directory or file of the same name, a hard link to
 * a directory, a parent cycle, and a symlink whose target climbs out. Each
 * is made by patching a real image and re-sealing its hashes, so that the
 * reader's structural checks, not its hash checks, must stop it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

static uint8_t *base;
static size_t base_length;
static const char *outdir;

static void die(const char *what)
{
    fprintf(stderr, "make-hostile-images: %s: %s\n", what, vial_error_last());
    exit(1);
}

static struct vial_index_entry *entry_at(uint8_t *image, uint32_t index)
{
    const struct vial_image_header *h = (const void *)image;
    for (uint32_t i = 0; i < h->section_count; i++)
        if (h->sections[i].type == VIAL_SECTION_INDEX) {
            uint8_t *ix = image + h->sections[i].offset;
            const struct vial_index_header *header = (const void *)ix;
            return (struct vial_index_entry *)(ix + header->entries_offset) + index;
        }
    die("no index");
    return NULL;
}

static char *string_at(uint8_t *image, uint32_t offset)
{
    const struct vial_image_header *h = (const void *)image;
    for (uint32_t i = 0; i < h->section_count; i++)
        if (h->sections[i].type == VIAL_SECTION_INDEX) {
            uint8_t *ix = image + h->sections[i].offset;
            const struct vial_index_header *header = (const void *)ix;
            return (char *)ix + header->strings_offset + offset;
        }
    return NULL;
}

static uint32_t find(const char *path)
{
    struct vial_image *image;
    uint32_t index;
    if (vial_image_open_memory(&image, base, base_length, 0) < 0 ||
        vial_image_lookup(&index, image, path) < 0)
        die(path);
    vial_image_close(image);
    return index;
}

static uint8_t *copy(void)
{
    uint8_t *c = malloc(base_length);
    memcpy(c, base, base_length);
    return c;
}

static void emit(uint8_t *image, const char *name)
{
    char path[4096];
    testlib_reseal(image, base_length);
    snprintf(path, sizeof path, "%s/%s.vial", outdir, name);
    if (testlib_write_whole(path, image, base_length) < 0)
        die(path);
    free(image);
}

/* Renames entry `path` (same length) by patching its name bytes. */
static void rename_variant(const char *variant, const char *path, const char *new_name)
{
    uint8_t *image = copy();
    struct vial_index_entry *e = entry_at(image, find(path));
    if (e->name_length != strlen(new_name))
        die("rename length");
    memcpy(string_at(image, e->name_offset), new_name, e->name_length);
    emit(image, variant);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: make-hostile-images OUTDIR OUTSIDE\n");
        return 2;
    }
    outdir = argv[1];
    const char *outside = argv[2];
    char *tree = testlib_mkdtemp("hostile");
    char path[4096], base_path[4096];
    mkdir(outdir, 0755);
    if (testlib_write_file(tree, "d/f", "payload\n", 8, 0644) < 0 ||
        testlib_write_file(tree, "XX", "dotdot\n", 7, 0644) < 0 ||
        testlib_write_file(tree, "a_b", "slash\n", 6, 0644) < 0 ||
        testlib_write_file(tree, "_ab", "leading slash\n", 14, 0644) < 0 ||
        testlib_write_file(tree, "lnl/pwned", "through a symlink\n", 18, 0644) < 0 ||
        testlib_write_file(tree, "fim", "over a symlink\n", 15, 0644) < 0 ||
        testlib_write_file(tree, "h1", "hard\n", 5, 0644) < 0)
        die("write tree");
    snprintf(path, sizeof path, "%s/lnk", tree);
    if (symlink(outside, path) < 0)
        die("symlink lnk");
    snprintf(path, sizeof path, "%s/fil", tree);
    char target[4096];
    snprintf(target, sizeof target, "%s/file-target", outside);
    if (symlink(target, path) < 0)
        die("symlink fil");
    snprintf(path, sizeof path, "%s/esc", tree);
    if (symlink("aaaaaaaaaaaaaaaaaaaaaaaa", path) < 0)
        die("symlink esc");
    char h1[4096], h2[4096];
    snprintf(h1, sizeof h1, "%s/h1", tree);
    snprintf(h2, sizeof h2, "%s/h2", tree);
    if (link(h1, h2) < 0)
        die("link");
    snprintf(base_path, sizeof base_path, "%s/base.vial", outdir);
    if (testlib_pack_tree(tree, base_path, NULL, 1) < 0)
        die("pack");
    testlib_rm_rf(tree);
    free(tree);
    if (testlib_read_file(&base, &base_length, base_path) < 0)
        die("read base");

    rename_variant("dotdot-name", "XX", "..");
    rename_variant("slash-name", "a_b", "a/b");
    rename_variant("absolute-name", "_ab", "/ab");
    /* a directory named like the symlink to OUTSIDE, with a child */
    rename_variant("dir-over-symlink", "lnl", "lnk");
    /* a file named like the symlink to OUTSIDE/file-target */
    rename_variant("file-over-symlink", "fim", "fil");

    uint8_t *image = copy();
    entry_at(image, find("h2"))->u.hardlink.target = find("d");
    emit(image, "hardlink-to-directory");

    image = copy();
    uint32_t f = find("d/f");
    entry_at(image, f)->parent = f;
    emit(image, "parent-cycle");

    image = copy();
    struct vial_index_entry *d = entry_at(image, find("d"));
    d->u.dir.first_child = 0; /* the root as a child: a cycle through children */
    emit(image, "child-cycle");

    /* a symlink whose target climbs out: extracted as a symlink, never followed */
    image = copy();
    struct vial_index_entry *esc = entry_at(image, find("esc"));
    memcpy(string_at(image, esc->u.symlink.target_offset), "../../../../../../../tmp", 24);
    emit(image, "escaping-symlink-target");

    unlink(base_path);
    return 0;
}
