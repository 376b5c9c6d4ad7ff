/* Unit tests of the image writer (packager/): what it refuses, what it
 * shares, and that its output does not depend on the thread count. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testlib.h"

static struct vial_packer *new_packer(unsigned threads)
{
    struct vial_packer *packer = NULL;
    struct vial_pack_options options = {.level = 3,
                                        .threads = threads,
                                        .manifest_text = TESTLIB_MANIFEST,
                                        .manifest_length = strlen(TESTLIB_MANIFEST)};
    cr_assert_eq(vial_packer_new(&packer, &options), 0);
    return packer;
}

static int read_pattern(void *payload, void *buf, size_t length, uint64_t offset)
{
    uintptr_t salt = (uintptr_t)payload;
    /* a non-periodic pattern, so that chunks of one file never repeat */
    for (size_t i = 0; i < length; i++) {
        uint64_t x = (offset + i + salt * 1000003u) * 0x9e3779b97f4a7c15ull;
        x ^= x >> 29;
        ((uint8_t *)buf)[i] = (uint8_t)((x >> 56) & 0x7f);
    }
    return 0;
}

static int add(struct vial_packer *packer, const char *path, uint8_t type)
{
    struct vial_pack_entry e = {.path = path, .type = type, .mode = 0755};
    if (type == VIAL_ENTRY_REGULAR) {
        e.read = read_pattern;
        e.size = 100;
    }
    return vial_packer_add(packer, &e);
}

Test(packer, refuses_hostile_and_invalid_paths)
{
    struct vial_packer *packer = new_packer(1);
    const char *bad[] = {"../etc/passwd", "/etc/passwd", "a/../b", "a//b", "a/./b", "a/",
                         "bad\nname", "bad\x01name", "\xff\xfe", "over\xc0\xafx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(add(packer, bad[i], VIAL_ENTRY_REGULAR), VIAL_EINVALID, "%s accepted",
                     bad[i]);
        cr_assert_neq(vial_error_last()[0], '\0');
    }
    cr_assert_eq(add(packer, "ok", VIAL_ENTRY_REGULAR), 0);
    cr_assert_eq(add(packer, "ok", VIAL_ENTRY_REGULAR), VIAL_EINVALID);
    cr_assert(strstr(vial_error_last(), "duplicate"), "%s", vial_error_last());
    cr_assert_eq(add(packer, "ünïcødé name", VIAL_ENTRY_REGULAR), 0, "%s", vial_error_last());
    vial_packer_free(packer);
}

Test(packer, refuses_symlinks_climbing_above_the_root)
{
    cr_assert(vial_symlink_escapes("a", "../x"));
    cr_assert(vial_symlink_escapes("usr/lib/x", "../../../etc"));
    cr_assert(vial_symlink_escapes("usr/x", "a/../../../b"));
    cr_assert_not(vial_symlink_escapes("usr/lib/x", "../../etc/passwd"));
    cr_assert_not(vial_symlink_escapes("a", "/etc/passwd"), "absolute targets stay inside");
    cr_assert_not(vial_symlink_escapes("usr/x", "./y/../z"));

    struct vial_packer *packer = new_packer(1);
    struct vial_pack_entry e = {.path = "link", .type = VIAL_ENTRY_SYMLINK,
                                .symlink_target = "../outside", .mode = 0777};
    cr_assert_eq(vial_packer_add(packer, &e), VIAL_EINVALID);
    cr_assert(strstr(vial_error_last(), "climbs above"), "%s", vial_error_last());
    vial_packer_free(packer);
}

Test(packer, refuses_missing_parents_and_bad_hard_links_at_write)
{
    char *dir = testlib_mkdtemp("packer");
    char out[4096];
    snprintf(out, sizeof out, "%s/out.vial", dir);

    struct vial_packer *packer = new_packer(1);
    cr_assert_eq(add(packer, "a/b", VIAL_ENTRY_REGULAR), 0);
    cr_assert_eq(vial_packer_write(packer, out, NULL), VIAL_EINVALID);
    cr_assert(strstr(vial_error_last(), "parent directory"), "%s", vial_error_last());
    vial_packer_free(packer);
    cr_assert_eq(access(out, F_OK), -1, "nothing is written on failure");

    packer = new_packer(1);
    cr_assert_eq(add(packer, "d", VIAL_ENTRY_DIRECTORY), 0);
    struct vial_pack_entry link = {.path = "l", .type = VIAL_ENTRY_HARDLINK, .hardlink_target = "d"};
    cr_assert_eq(vial_packer_add(packer, &link), 0);
    cr_assert_eq(vial_packer_write(packer, out, NULL), VIAL_EINVALID);
    cr_assert(strstr(vial_error_last(), "hard link"), "%s", vial_error_last());
    vial_packer_free(packer);
    testlib_rm_rf(dir);
    free(dir);
}

static void pack_synthetic(const char *out, unsigned threads)
{
    struct vial_packer *packer = new_packer(threads);
    char path[64];
    cr_assert_eq(add(packer, "d", VIAL_ENTRY_DIRECTORY), 0);
    for (int i = 0; i < 300; i++) {
        struct vial_pack_entry e = {.path = path, .type = VIAL_ENTRY_REGULAR, .mode = 0644,
                                    .read = read_pattern, .payload = (void *)(uintptr_t)(i % 7),
                                    .size = (uint64_t)(i * 977) % 70000, .mtime_sec = i};
        snprintf(path, sizeof path, "d/file-%03d", i);
        cr_assert_eq(vial_packer_add(packer, &e), 0);
    }
    struct vial_pack_entry big = {.path = "big", .type = VIAL_ENTRY_REGULAR, .mode = 0644,
                                  .read = read_pattern, .size = 5u << 20};
    cr_assert_eq(vial_packer_add(packer, &big), 0);
    cr_assert_eq(vial_packer_write(packer, out, NULL), 0, "%s", vial_error_last());
    vial_packer_free(packer);
}

Test(packer, output_is_identical_whatever_the_thread_count)
{
    char *dir = testlib_mkdtemp("determinism");
    char one[4096], four[4096];
    snprintf(one, sizeof one, "%s/one.vial", dir);
    snprintf(four, sizeof four, "%s/four.vial", dir);
    pack_synthetic(one, 1);
    pack_synthetic(four, 4);
    uint8_t *a, *b;
    size_t na, nb;
    cr_assert_eq(testlib_read_file(&a, &na, one), 0);
    cr_assert_eq(testlib_read_file(&b, &nb, four), 0);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(a, b, na), 0, "images differ between -j1 and -j4");
    free(a);
    free(b);
    testlib_rm_rf(dir);
    free(dir);
}

Test(packer, identical_content_is_stored_once)
{
    char *dir = testlib_mkdtemp("dedup");
    char out[4096];
    snprintf(out, sizeof out, "%s/dedup.vial", dir);
    struct vial_packer *packer = new_packer(2);
    const char *names[] = {"small-1", "small-2", "big-1", "big-2"};
    uint64_t sizes[] = {5000, 5000, 3u << 20, 3u << 20};
    for (int i = 0; i < 4; i++) {
        struct vial_pack_entry e = {.path = names[i], .type = VIAL_ENTRY_REGULAR, .mode = 0644,
                                    .read = read_pattern, .size = sizes[i]};
        cr_assert_eq(vial_packer_add(packer, &e), 0);
    }
    struct vial_pack_stats stats;
    cr_assert_eq(vial_packer_write(packer, out, &stats), 0, "%s", vial_error_last());
    vial_packer_free(packer);
    cr_assert_eq(stats.deduplicated_files, 2);
    cr_assert_eq(stats.unique_raw_bytes, 5000 + (3u << 20));

    struct vial_image *image;
    uint32_t a, b;
    const struct vial_chunk_ref *ra, *rb;
    uint32_t na, nb;
    cr_assert_eq(vial_image_open_path(&image, out, VIAL_OPEN_VERIFY_METADATA), 0);
    cr_assert_eq(vial_image_lookup(&a, image, "big-1"), 0);
    cr_assert_eq(vial_image_lookup(&b, image, "big-2"), 0);
    cr_assert_eq(vial_image_file_refs(&ra, &na, image, a), 0);
    cr_assert_eq(vial_image_file_refs(&rb, &nb, image, b), 0);
    cr_assert_eq(na, nb);
    for (uint32_t i = 0; i < na; i++)
        cr_assert_eq(ra[i].chunk, rb[i].chunk);
    cr_assert_eq(vial_image_verify(image, VIAL_VERIFY_CHUNKS, NULL, NULL), 0);
    vial_image_close(image);
    testlib_rm_rf(dir);
    free(dir);
}

static int changing_read(void *payload, void *buf, size_t length, uint64_t offset)
{
    int *calls = payload;
    memset(buf, 'a' + (*calls)++ % 2, length);
    (void)offset;
    return 0;
}

/* A large file is read twice (hashed, then cut into chunks): a change in
 * between is caught. */
Test(packer, a_large_file_changing_while_packing_is_refused)
{
    char *dir = testlib_mkdtemp("changing");
    char out[4096];
    snprintf(out, sizeof out, "%s/c.vial", dir);
    struct vial_packer *packer = new_packer(1);
    int calls = 0;
    struct vial_pack_entry e = {.path = "moving", .type = VIAL_ENTRY_REGULAR, .mode = 0644,
                                .read = changing_read, .payload = &calls, .size = 256 * 1024};
    cr_assert_eq(vial_packer_add(packer, &e), 0);
    cr_assert_eq(vial_packer_write(packer, out, NULL), VIAL_EINVALID);
    cr_assert(strstr(vial_error_last(), "changed while packing"), "%s", vial_error_last());
    vial_packer_free(packer);
    testlib_rm_rf(dir);
    free(dir);
}

/* A small file is read once: what was hashed is what is stored, even if
 * the file changes afterwards. */
Test(packer, a_small_file_is_read_once)
{
    char *dir = testlib_mkdtemp("small-once");
    char out[4096];
    snprintf(out, sizeof out, "%s/s.vial", dir);
    struct vial_packer *packer = new_packer(1);
    int calls = 0;
    struct vial_pack_entry e = {.path = "small", .type = VIAL_ENTRY_REGULAR, .mode = 0644,
                                .read = changing_read, .payload = &calls, .size = 1000};
    cr_assert_eq(vial_packer_add(packer, &e), 0);
    cr_assert_eq(vial_packer_write(packer, out, NULL), 0, "%s", vial_error_last());
    cr_assert_eq(calls, 1, "read %d times", calls);
    vial_packer_free(packer);
    struct vial_image *image;
    struct vial_reader *reader;
    uint32_t index;
    char content[1000], expected[1000];
    memset(expected, 'a', sizeof expected);
    cr_assert_eq(vial_image_open_path(&image, out, VIAL_OPEN_VERIFY_METADATA), 0);
    cr_assert_eq(vial_image_lookup(&index, image, "small"), 0);
    cr_assert_eq(vial_reader_new(&reader, image), 0);
    size_t got = 0;
    cr_assert_eq(vial_reader_pread(&got, reader, index, content, sizeof content, 0), 0);
    cr_assert_eq(got, sizeof content);
    cr_assert(memcmp(content, expected, sizeof content) == 0);
    vial_reader_free(reader);
    vial_image_close(image);
    testlib_rm_rf(dir);
    free(dir);
}

static void expect_tree_refused(const char *tree, const char *what)
{
    struct vial_packer *packer = new_packer(1);
    int rc = vial_packer_add_tree(packer, tree, NULL);
    cr_assert_lt(rc, 0, "%s accepted", what);
    cr_assert(strstr(vial_error_last(), tree), "message names the path: %s", vial_error_last());
    vial_packer_free(packer);
}

Test(packer, refuses_special_files_in_a_tree)
{
    char *dir = testlib_mkdtemp("special");
    char path[4096];
    cr_assert_eq(testlib_write_file(dir, "fifo-tree/ok", "x", 1, 0644), 0);
    snprintf(path, sizeof path, "%s/fifo-tree/pipe", dir);
    cr_assert_eq(mkfifo(path, 0644), 0);
    snprintf(path, sizeof path, "%s/fifo-tree", dir);
    expect_tree_refused(path, "a FIFO");
    cr_assert(strstr(vial_error_last(), "FIFO"), "%s", vial_error_last());

    cr_assert_eq(testlib_write_file(dir, "socket-tree/ok", "x", 1, 0644), 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%s/socket-tree/sock", dir);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(s, (struct sockaddr *)&address, sizeof address), 0);
    close(s);
    snprintf(path, sizeof path, "%s/socket-tree", dir);
    expect_tree_refused(path, "a socket");
    cr_assert(strstr(vial_error_last(), "socket"), "%s", vial_error_last());

    cr_assert_eq(testlib_write_file(dir, "name-tree/bad\x01name", "x", 1, 0644), 0);
    snprintf(path, sizeof path, "%s/name-tree", dir);
    expect_tree_refused(path, "a control character in a name");

    cr_assert_eq(testlib_write_file(dir, "escape-tree/x", "x", 1, 0644), 0);
    snprintf(path, sizeof path, "%s/escape-tree/up", dir);
    cr_assert_eq(symlink("../../etc", path), 0);
    snprintf(path, sizeof path, "%s/escape-tree", dir);
    expect_tree_refused(path, "an escaping symlink");
    cr_assert(strstr(vial_error_last(), "--prefix"), "suggests --prefix: %s", vial_error_last());
    testlib_rm_rf(dir);
    free(dir);
}

Test(packer, refuses_unreadable_files)
{
    if (geteuid() == 0)
        cr_skip_test("root reads every file");
    char *dir = testlib_mkdtemp("unreadable");
    char path[4096], out[4096];
    cr_assert_eq(testlib_write_file(dir, "tree/secret", "x", 1, 0000), 0);
    snprintf(path, sizeof path, "%s/tree", dir);
    snprintf(out, sizeof out, "%s/out.vial", dir);
    int rc = testlib_pack_tree(path, out, NULL, 1);
    cr_assert_lt(rc, 0);
    cr_assert(strstr(vial_error_last(), "secret"), "%s", vial_error_last());
    testlib_rm_rf(dir);
    free(dir);
}

/* Text-like content with shared vocabulary, so that a dictionary trains. */
static int read_text(void *payload, void *buf, size_t length, uint64_t offset)
{
    static const char *words[] = {"import ", "def ", "return ", "self", "class ", "value",
                                  "(", ")", ":\n", "    ", "None", " = ", "path", "os."};
    uintptr_t salt = (uintptr_t)payload;
    for (size_t i = 0; i < length;) {
        uint64_t x = ((offset + i) / 7 + salt * 131) * 0x9e3779b97f4a7c15ull;
        const char *w = words[(x >> 59) % (sizeof words / sizeof words[0])];
        for (size_t k = 0; w[k] && i < length; k++, i++)
            ((char *)buf)[i] = w[k];
    }
    return 0;
}

Test(packer, small_files_get_frames_of_their_own_against_a_dictionary)
{
    char *dir = testlib_mkdtemp("dictionary");
    char out[4096], again[4096], path[64];
    snprintf(out, sizeof out, "%s/d.vial", dir);
    snprintf(again, sizeof again, "%s/d2.vial", dir);
    for (int round = 0; round < 2; round++) {
        struct vial_packer *packer = new_packer(round ? 1 : 2);
        for (int i = 0; i < 600; i++) {
            snprintf(path, sizeof path, "f%03d.py", i);
            struct vial_pack_entry e = {.path = path, .type = VIAL_ENTRY_REGULAR, .mode = 0644,
                                        .read = read_text, .payload = (void *)(uintptr_t)i,
                                        .size = 9000 + (uint64_t)i * 37};
            cr_assert_eq(vial_packer_add(packer, &e), 0);
        }
        struct vial_pack_stats stats;
        cr_assert_eq(vial_packer_write(packer, round ? again : out, &stats), 0, "%s",
                     vial_error_last());
        cr_assert_gt(stats.dictionary_bytes, 0, "a dictionary was trained");
        vial_packer_free(packer);
    }
    uint8_t *a, *b;
    size_t na, nb;
    cr_assert_eq(testlib_read_file(&a, &na, out), 0);
    cr_assert_eq(testlib_read_file(&b, &nb, again), 0);
    cr_assert(na == nb && memcmp(a, b, na) == 0, "the dictionary is trained deterministically");

    struct vial_image *image;
    struct vial_reader *reader;
    cr_assert_eq(vial_image_open_memory(&image, a, na, VIAL_OPEN_VERIFY_METADATA), 0);
    cr_assert_eq(vial_reader_new(&reader, image), 0);
    uint32_t index;
    const struct vial_chunk_ref *refs;
    uint32_t ref_count;
    cr_assert_eq(vial_image_lookup(&index, image, "f123.py"), 0);
    cr_assert_eq(vial_image_file_refs(&refs, &ref_count, image, index), 0);
    cr_assert_eq(ref_count, 1, "a small file is one chunk");
    uint8_t expected[16000], got[16000];
    size_t n;
    read_text((void *)(uintptr_t)123, expected, 9000 + 123 * 37, 0);
    cr_assert_eq(vial_reader_pread(&n, reader, index, got, sizeof got, 0), 0, "%s",
                 vial_error_last());
    cr_assert_eq(n, 9000 + 123 * 37);
    cr_assert_eq(memcmp(got, expected, n), 0);
    cr_assert_eq(vial_image_verify(image, VIAL_VERIFY_CHUNKS, NULL, NULL), 0, "%s",
                 vial_error_last());
    vial_reader_free(reader);
    vial_image_close(image);

    /* a damaged dictionary is refused by its section hash */
    const struct vial_image_header *h = (const void *)a;
    for (uint32_t i = 0; i < h->section_count; i++)
        if (h->sections[i].type == VIAL_SECTION_DICTIONARY)
            a[h->sections[i].offset + h->sections[i].length / 2] ^= 1;
    cr_assert_eq(vial_image_open_memory(&image, a, na, VIAL_OPEN_VERIFY_METADATA), VIAL_EHASH);
    cr_assert(strstr(vial_error_last(), "dictionary"), "%s", vial_error_last());
    free(a);
    free(b);
    testlib_rm_rf(dir);
    free(dir);
}
