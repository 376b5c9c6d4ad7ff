/*
 * test_fetch.c - streaming without a network: the parsers of the fetch
 * agent (loader/fetch/protocol.c) and the runtime's chunk store
 * (runtime/stream.c): a mirror whose chunk data is zeroed reads through
 * the store, a missing chunk is an EIO naming the agent, and a damaged
 * stored chunk is dropped, never used.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/fetch/fetch.h"
#include "runtime/runtime.h"
#include "testlib.h"

/* ------------------------------------------------------------ http heads */

static struct http_head feed(const char *lines)
{
    struct http_head head = {0};
    const char *p = lines;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
        http_head_line(&head, p, n);
        p += n;
    }
    return head;
}

Test(http_head, partial_content)
{
    struct http_head h = feed("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-199/4096\r\n"
                              "Content-Length: 100\r\n");
    cr_expect_eq(h.status, 206);
    cr_expect(h.has_range);
    cr_expect_eq(h.range_first, 100);
    cr_expect_eq(h.range_last, 199);
    cr_expect_eq(h.total, 4096);
    cr_expect(h.has_length);
    cr_expect_eq(h.length, 100);
}

Test(http_head, a_new_status_line_forgets_the_last_answer)
{
    struct http_head h = feed("HTTP/1.1 302 Found\r\nContent-Range: bytes 0-9/10\r\n\r\n"
                              "HTTP/2 200\r\ncontent-length: 4096\r\n");
    cr_expect_eq(h.status, 200);
    cr_expect_not(h.has_range);
    cr_expect_eq(h.length, 4096);
}

Test(http_head, impossible_ranges_are_not_used)
{
    const char *lies[] = {
        "Content-Range: bytes 9-5/10\n",  "Content-Range: bytes 0-10/10\n",
        "Content-Range: bytes */10\n",    "Content-Range: bytes 0-5/\n",
        "Content-Range: bytes -1-5/10\n", "Content-Range: bytes 0-5/10 junk\n",
        "Content-Range: bytes 99999999999999999999-1/2\n", "Content-Range: items 0-5/10\n",
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        struct http_head h = feed(lies[i]);
        cr_expect_not(h.has_range, "accepted: %s", lies[i]);
    }
    struct http_head h = feed("HTTP/1.1 99999 Nonsense\r\n");
    cr_expect_eq(h.status, 0);
}

/* -------------------------------------------------------------- requests */

static int parse(struct agent_request *r, const char *text)
{
    static char line[256];
    snprintf(line, sizeof line, "%s", text);
    return agent_parse_request(r, line);
}

Test(agent_request, the_four_requests)
{
    struct agent_request r;
    cr_assert_eq(parse(&r, "MIRROR https://example.org/a.vial"), 0);
    cr_expect_eq(r.kind, AGENT_MIRROR);
    cr_expect_str_eq(r.target, "https://example.org/a.vial");
    cr_assert_eq(parse(&r, "FETCH /c/images/x.vial 3 0 4294967295"), 0);
    cr_expect_eq(r.kind, AGENT_FETCH);
    cr_expect_eq(r.count, 3);
    cr_expect_eq(r.chunks[0], 3);
    cr_expect_eq(r.chunks[2], 4294967295u);
    agent_request_free(&r);
    cr_assert_eq(parse(&r, "PREFETCH /c/images/x.vial profile"), 0);
    cr_expect_eq(r.kind, AGENT_PREFETCH);
    cr_expect_str_eq(r.what, "profile");
    cr_assert_eq(parse(&r, "HOLD"), 0);
    cr_expect_eq(r.kind, AGENT_HOLD);
}

Test(agent_request, refusals_say_why)
{
    const char *bad[] = {"", "   ", "DELETE /", "FETCH", "FETCH /m 1 two", "FETCH /m 4294967296",
                         "FETCH /m -1", "PREFETCH /m some", "PREFETCH /m", "MIRROR", "MIRROR a b",
                         "HOLD now"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct agent_request r;
        cr_expect_eq(parse(&r, bad[i]), -EINVAL, "accepted: '%s'", bad[i]);
        cr_expect_neq(vial_error_last()[0], '\0', "no message for '%s'", bad[i]);
    }
}

/* ---------------------------------------------------------- chunk store */

struct store_fixture {
    char *dir;
    char mirror[4096], chunks[4096];
    struct vial_image *image;
};

/* An image of one file, its mirror (chunk data zeroed) and a store holding
 * every chunk's frame, as the agent leaves them. */
static void make_store(struct store_fixture *f)
{
    char root[4096], image_path[4096];
    f->dir = testlib_mkdtemp("fetch");
    snprintf(root, sizeof root, "%s/root", f->dir);
    static char text[20000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + (i * 7 + i / 13) % 26);
    cr_assert_eq(testlib_write_file(root, "data/text", text, sizeof text, 0644), 0);
    snprintf(image_path, sizeof image_path, "%s/full.vial", f->dir);
    cr_assert_eq(testlib_pack_tree(root, image_path, NULL, 1), 0);
    uint8_t *bytes;
    size_t length;
    cr_assert_eq(testlib_read_file(&bytes, &length, image_path), 0);
    struct vial_image *full;
    cr_assert_eq(vial_image_open_path(&full, image_path, 0), 0);
    snprintf(f->chunks, sizeof f->chunks, "%s/chunks", f->dir);
    for (uint32_t c = 0; c < vial_image_chunk_count(full); c++) {
        struct vial_chunk_info info;
        char path[4200];
        cr_assert_eq(vial_image_chunk(&info, full, c), 0);
        cr_assert_eq(vial_chunk_store_path(path, sizeof path, f->chunks, info.hash), 0);
        *strrchr(path, '/') = '\0';
        cr_assert_eq(vial_mkdir_p(path, 0700), 0);
        cr_assert_eq(vial_chunk_store_path(path, sizeof path, f->chunks, info.hash), 0);
        cr_assert_eq(testlib_write_whole(path, bytes + info.offset, info.stored_length), 0);
        memset(bytes + info.offset, 0, info.stored_length); /* the mirror's hole */
    }
    vial_image_close(full);
    snprintf(f->mirror, sizeof f->mirror, "%s/mirror.vial", f->dir);
    cr_assert_eq(testlib_write_whole(f->mirror, bytes, length), 0);
    free(bytes);
    cr_assert_eq(vial_image_open_path(&f->image, f->mirror, VIAL_OPEN_VERIFY_METADATA), 0);
    char agent[200];
    snprintf(agent, sizeof agent, "%s/no-agent.sock", f->dir);
    cr_assert_eq(vial_image_attach_stream(f->image, f->mirror, f->chunks, agent), 0);
}

static void drop_store(struct store_fixture *f)
{
    vial_image_close(f->image);
    testlib_rm_rf(f->dir);
    free(f->dir);
}

static int read_text(char *out, size_t size, struct vial_image *image)
{
    uint32_t index;
    size_t got = 0;
    struct vial_reader *reader;
    cr_assert_eq(vial_image_lookup(&index, image, "data/text"), 0);
    cr_assert_eq(vial_reader_new(&reader, image), 0);
    int rc = vial_reader_pread(&got, reader, index, out, size, 0);
    vial_reader_free(reader);
    return rc < 0 ? rc : (int)got;
}

Test(chunk_store, a_mirror_reads_through_the_store)
{
    struct store_fixture f;
    make_store(&f);
        cr_expect_str_eq(vial_image_mirror(f.image), f.mirror);
    char out[20000];
    cr_expect_eq(read_text(out, sizeof out, f.image), (int)sizeof out);
    cr_expect_eq(out[0], 'a');
    drop_store(&f);
}

Test(chunk_store, a_missing_chunk_is_EIO_naming_the_agent)
{
    struct store_fixture f;
    make_store(&f);
    testlib_rm_rf(f.chunks);
    char out[20000];
    cr_expect_eq(read_text(out, sizeof out, f.image), -EIO);
    cr_expect(strstr(vial_error_last(), "fetch agent is not running") != NULL, "%s",
              vial_error_last());
    cr_expect(strstr(vial_error_last(), "cannot fetch /data/text") != NULL, "%s",
              vial_error_last());
    drop_store(&f);
}

Test(chunk_store, a_damaged_stored_chunk_is_dropped_not_used)
{
    struct store_fixture f;
    make_store(&f);
    struct vial_chunk_info info;
    char path[4200];
    cr_assert_eq(vial_image_chunk(&info, f.image, 0), 0);
    cr_assert_eq(vial_chunk_store_path(path, sizeof path, f.chunks, info.hash), 0);
    FILE *file = fopen(path, "r+b");
    cr_assert(file);
    fseek(file, (long)info.stored_length / 2, SEEK_SET);
    int byte = fgetc(file);
    fseek(file, (long)info.stored_length / 2, SEEK_SET);
    fputc(byte ^ 0xff, file);
    fclose(file);
    char out[20000];
    /* the frame fails its check, is deleted, and the agent (absent) is
     * asked for it: an error, never the damaged bytes */
    cr_expect_lt(read_text(out, sizeof out, f.image), 0);
    cr_expect_neq(access(path, F_OK), 0, "the damaged chunk is still in the store");
    drop_store(&f);
}
