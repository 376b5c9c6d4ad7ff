/* Unit tests of the image reader (runtime/): lookups, listings, reads,
 * metadata and its refusal of damaged images. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

static char *dir, *tree, *image_path;
static struct vial_image *image;

static void make_image(void)
{
    dir = testlib_mkdtemp("image");
    cr_assert_not_null(dir);
    cr_assert(asprintf(&tree, "%s/tree", dir) > 0);
    cr_assert(asprintf(&image_path, "%s/test.vial", dir) > 0);
    cr_assert_eq(testlib_write_file(tree, "usr/bin/tool", "#!/bin/sh\necho tool\n", 20, 0755), 0);
    cr_assert_eq(testlib_write_file(tree, "usr/share/tool/a.txt", "alpha\n", 6, 0644), 0);
    cr_assert_eq(testlib_write_file(tree, "usr/share/tool/b.txt", "beta\n", 5, 0600), 0);
    cr_assert_eq(testlib_write_file(tree, "usr/share/tool/empty", "", 0, 0644), 0);
    /* 3 MiB of varied bytes: several content-defined chunks */
    size_t big_length = 3u << 20;
    uint8_t *big = malloc(big_length);
    uint32_t seed = 7;
    for (size_t i = 0; i < big_length; i++) {
        seed = seed * 1664525u + 1013904223u;
        big[i] = (uint8_t)(seed >> 24) & 0x3f; /* compressible, not trivial */
    }
    cr_assert_eq(testlib_write_file(tree, "usr/lib/big.bin", big, big_length, 0644), 0);
    free(big);
    char link[4096];
    snprintf(link, sizeof link, "%s/usr/bin/alias", tree);
    cr_assert_eq(symlink("tool", link), 0);
    snprintf(link, sizeof link, "%s/usr/share/tool/abs", tree);
    cr_assert_eq(symlink("/usr/bin/alias", link), 0);
    snprintf(link, sizeof link, "%s/usr/share/tool/loop", tree);
    cr_assert_eq(symlink("loop", link), 0);
    cr_assert_eq(testlib_pack_tree(tree, image_path, NULL, 2), 0, "%s", vial_error_last());
    cr_assert_eq(vial_image_open_path(&image, image_path, VIAL_OPEN_VERIFY_METADATA), 0, "%s",
                 vial_error_last());
}

static void remove_image(void)
{
    vial_image_close(image);
    image = NULL;
    testlib_rm_rf(dir);
    free(dir);
    free(tree);
    free(image_path);
}

TestSuite(image, .init = make_image, .fini = remove_image);

Test(image, lookup_finds_paths_absolute_relative_and_root)
{
    uint32_t a, b, root;
    cr_assert_eq(vial_image_lookup(&a, image, "/usr/bin/tool"), 0);
    cr_assert_eq(vial_image_lookup(&b, image, "usr/bin/tool"), 0);
    cr_assert_eq(a, b);
    cr_assert_eq(vial_image_lookup(&root, image, "/"), 0);
    cr_assert_eq(root, 0);
    cr_assert_eq(vial_image_lookup(&a, image, "usr/share/"), 0);
}

Test(image, lookup_misses_and_rejects_non_canonical_paths)
{
    uint32_t index;
    cr_assert_eq(vial_image_lookup(&index, image, "usr/bin/nothere"), -ENOENT);
    cr_assert_eq(vial_image_lookup(&index, image, "usr/bi"), -ENOENT);
    cr_assert_eq(vial_image_lookup(&index, image, "usr/../usr/bin"), -EINVAL);
    cr_assert_eq(vial_image_lookup(&index, image, "usr//bin"), -EINVAL);
    cr_assert_eq(vial_image_lookup(&index, image, "usr/./bin"), -EINVAL);
}

Test(image, entries_carry_type_mode_and_size)
{
    uint32_t index;
    struct vial_entry e;
    cr_assert_eq(vial_image_lookup(&index, image, "usr/share/tool/b.txt"), 0);
    cr_assert_eq(vial_image_entry(&e, image, index), 0);
    cr_assert_eq(e.type, VIAL_ENTRY_REGULAR);
    cr_assert_eq(e.mode, S_IFREG | 0600);
    cr_assert_eq(e.size, 5);
    cr_assert_eq(e.inode, (uint64_t)index + 1);
    cr_assert_eq(e.name_length, 5);
    cr_assert_eq(memcmp(e.name, "b.txt", 5), 0);
}

Test(image, children_are_sorted_and_child_lookup_agrees)
{
    uint32_t dir_index, first, count, found;
    cr_assert_eq(vial_image_lookup(&dir_index, image, "usr/share/tool"), 0);
    cr_assert_eq(vial_image_children(&first, &count, image, dir_index), 0);
    cr_assert_eq(count, 5);
    const char *expected[] = {"a.txt", "abs", "b.txt", "empty", "loop"};
    for (uint32_t i = 0; i < count; i++) {
        struct vial_entry e;
        cr_assert_eq(vial_image_entry(&e, image, first + i), 0);
        cr_assert_eq(e.name_length, strlen(expected[i]));
        cr_assert_eq(memcmp(e.name, expected[i], e.name_length), 0);
        cr_assert_eq(vial_image_child(&found, image, dir_index, expected[i], strlen(expected[i])), 0);
        cr_assert_eq(found, first + i);
    }
    cr_assert_eq(vial_image_child(&found, image, dir_index, "zzz", 3), -ENOENT);
}

Test(image, reads_whole_files_and_ranges_across_chunks)
{
    uint32_t index;
    struct vial_reader *reader;
    cr_assert_eq(vial_reader_new(&reader, image), 0);
    cr_assert_eq(vial_image_lookup(&index, image, "usr/lib/big.bin"), 0);
    const struct vial_chunk_ref *refs;
    uint32_t ref_count;
    cr_assert_eq(vial_image_file_refs(&refs, &ref_count, image, index), 0);
    cr_assert_gt(ref_count, 2, "a 3 MiB file is cut into several chunks");
    /* the same pseudo-random bytes as written */
    size_t length = 3u << 20;
    uint8_t *expected = malloc(length), *got = malloc(length);
    uint32_t seed = 7;
    for (size_t i = 0; i < length; i++) {
        seed = seed * 1664525u + 1013904223u;
        expected[i] = (uint8_t)(seed >> 24) & 0x3f;
    }
    size_t n;
    cr_assert_eq(vial_reader_pread(&n, reader, index, got, length, 0), 0);
    cr_assert_eq(n, length);
    cr_assert_eq(memcmp(got, expected, length), 0);
    /* a range straddling chunk boundaries, and one past the end */
    cr_assert_eq(vial_reader_pread(&n, reader, index, got, 1000000, 1234567), 0);
    cr_assert_eq(n, 1000000);
    cr_assert_eq(memcmp(got, expected + 1234567, 1000000), 0);
    cr_assert_eq(vial_reader_pread(&n, reader, index, got, 100, length - 10), 0);
    cr_assert_eq(n, 10);
    cr_assert_eq(vial_reader_pread(&n, reader, index, got, 100, length + 5), 0);
    cr_assert_eq(n, 0);
    free(expected);
    free(got);
    vial_reader_free(reader);
}

Test(image, small_files_share_a_block)
{
    uint32_t a, b;
    const struct vial_chunk_ref *ra, *rb;
    uint32_t na, nb;
    cr_assert_eq(vial_image_lookup(&a, image, "usr/share/tool/a.txt"), 0);
    cr_assert_eq(vial_image_lookup(&b, image, "usr/share/tool/b.txt"), 0);
    cr_assert_eq(vial_image_file_refs(&ra, &na, image, a), 0);
    cr_assert_eq(vial_image_file_refs(&rb, &nb, image, b), 0);
    cr_assert_eq(na, 1);
    cr_assert_eq(nb, 1);
    cr_assert_eq(ra[0].chunk, rb[0].chunk);
    cr_assert_neq(ra[0].offset, rb[0].offset);
}

Test(image, resolve_follows_symlinks_inside_the_image)
{
    uint32_t direct, through_link, link;
    cr_assert_eq(vial_image_lookup(&direct, image, "usr/bin/tool"), 0);
    cr_assert_eq(vial_image_resolve(&through_link, image, "/usr/share/tool/abs", 1), 0);
    cr_assert_eq(through_link, direct, "absolute -> relative symlink chain");
    cr_assert_eq(vial_image_resolve(&link, image, "/usr/share/tool/abs", 0), 0);
    cr_assert_neq(link, direct);
    cr_assert_eq(vial_image_resolve(&link, image, "/usr/share/tool/loop", 1), -ELOOP);
    cr_assert_eq(vial_image_resolve(&link, image, "/usr/share/../../usr/bin/tool", 1), 0);
    cr_assert_eq(link, direct, ".. stops at the root");
    cr_assert_eq(vial_image_resolve(&link, image, "/usr/bin/tool/x", 1), -ENOTDIR);
}

Test(image, path_of_entry_round_trips_through_lookup)
{
    for (uint32_t i = 0; i < vial_image_entry_count(image); i++) {
        char path[4096];
        uint32_t found;
        cr_assert_eq(vial_image_path(path, sizeof path, image, i), 0);
        cr_assert_eq(vial_image_lookup(&found, image, path), 0, "%s", path);
        cr_assert_eq(found, i);
    }
    char tiny[4];
    uint32_t deep;
    cr_assert_eq(vial_image_lookup(&deep, image, "usr/share/tool/a.txt"), 0);
    cr_assert_eq(vial_image_path(tiny, sizeof tiny, image, deep), -ENAMETOOLONG);
}

Test(image, verify_accepts_an_intact_image)
{
    cr_assert_eq(vial_image_verify(image, VIAL_VERIFY_CHUNKS, NULL, NULL), 0, "%s",
                 vial_error_last());
}

/* ---- damaged images: every check names the problem ---- */

static int open_bytes(uint8_t *data, size_t length, unsigned flags)
{
    struct vial_image *damaged = NULL;
    int rc = vial_image_open_memory(&damaged, data, length, flags);
    if (rc == 0) {
        rc = vial_image_verify(damaged, VIAL_VERIFY_CHUNKS, NULL, NULL);
        vial_image_close(damaged);
    }
    return rc;
}

Test(image, truncated_image_is_refused_with_sizes_named)
{
    uint8_t *data;
    size_t length;
    cr_assert_eq(testlib_read_file(&data, &length, image_path), 0);
    int rc = open_bytes(data, length - 1, 0);
    cr_assert_eq(rc, VIAL_ECORRUPT);
    cr_assert(strstr(vial_error_last(), "truncated"), "%s", vial_error_last());
    cr_assert_eq(open_bytes(data, 100, 0), VIAL_EFORMAT);
    free(data);
}

Test(image, flipped_bit_in_header_breaks_the_root_hash)
{
    uint8_t *data;
    size_t length;
    cr_assert_eq(testlib_read_file(&data, &length, image_path), 0);
    data[40] ^= 1; /* reserved header bytes, covered by the root hash */
    cr_assert_eq(open_bytes(data, length, 0), VIAL_EHASH);
    free(data);
}

Test(image, flipped_bit_in_chunk_data_is_caught_by_verify)
{
    uint8_t *data;
    size_t length;
    cr_assert_eq(testlib_read_file(&data, &length, image_path), 0);
    const struct vial_image_header *h = (const void *)data;
    const struct vial_section_desc *chunk_data = NULL;
    for (uint32_t i = 0; i < h->section_count; i++)
        if (h->sections[i].type == VIAL_SECTION_CHUNK_DATA)
            chunk_data = &h->sections[i];
    cr_assert_not_null(chunk_data);
    data[chunk_data->offset + chunk_data->length / 2] ^= 0x10;
    int rc = open_bytes(data, length, VIAL_OPEN_VERIFY_METADATA);
    cr_assert(rc == VIAL_ECORRUPT || rc == VIAL_EHASH, "rc %d", rc);
    cr_assert(strstr(vial_error_last(), "chunk"), "%s", vial_error_last());
    free(data);
}

Test(image, lying_entry_count_is_caught_after_reseal)
{
    uint8_t *data;
    size_t length;
    cr_assert_eq(testlib_read_file(&data, &length, image_path), 0);
    const struct vial_image_header *h = (const void *)data;
    for (uint32_t i = 0; i < h->section_count; i++)
        if (h->sections[i].type == VIAL_SECTION_INDEX) {
            struct vial_index_header *ix = (void *)(data + h->sections[i].offset);
            ix->entry_count = 0x7fffffff;
        }
    testlib_reseal(data, length);
    int rc = open_bytes(data, length, VIAL_OPEN_VERIFY_METADATA);
    cr_assert_eq(rc, VIAL_ECORRUPT);
    cr_assert(strstr(vial_error_last(), "index"), "%s", vial_error_last());
    free(data);
}

Test(image, duplicate_names_are_caught_by_verify)
{
    uint8_t *data;
    size_t length;
    cr_assert_eq(testlib_read_file(&data, &length, image_path), 0);
    const struct vial_image_header *h = (const void *)data;
    for (uint32_t i = 0; i < h->section_count; i++)
        if (h->sections[i].type == VIAL_SECTION_INDEX) {
            uint8_t *base = data + h->sections[i].offset;
            struct vial_index_header *ix = (void *)base;
            struct vial_index_entry *entries = (void *)(base + ix->entries_offset);
            /* give the second child of the first directory with two
             * children the name of the first */
            for (uint32_t e = 0; e < ix->entry_count; e++) {
                if (entries[e].type == VIAL_ENTRY_DIRECTORY && entries[e].u.dir.child_count >= 2) {
                    uint32_t c = entries[e].u.dir.first_child;
                    entries[c + 1].name_offset = entries[c].name_offset;
                    entries[c + 1].name_length = entries[c].name_length;
                    break;
                }
            }
        }
    testlib_reseal(data, length);
    int rc = open_bytes(data, length, VIAL_OPEN_VERIFY_METADATA);
    cr_assert_eq(rc, VIAL_ECORRUPT);
    free(data);
}

Test(image, unknown_major_version_is_refused)
{
    uint8_t *data;
    size_t length;
    cr_assert_eq(testlib_read_file(&data, &length, image_path), 0);
    ((struct vial_image_header *)data)->version_major = 2;
    testlib_reseal(data, length);
    cr_assert_eq(open_bytes(data, length, 0), VIAL_EFORMAT);
    cr_assert(strstr(vial_error_last(), "version 2"), "%s", vial_error_last());
    free(data);
}
