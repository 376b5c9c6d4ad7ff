/*
 * stream.c - the runtime's side of streamed images.
 *
 * A streamed image is opened from its local mirror (a sparse copy holding
 * the header and the metadata sections; the chunk data is a hole). Its
 * chunks live in the user's content-addressed chunk store, CACHE/chunks,
 * where the fetch agent (loader/fetch/, a separate process: libcurl never
 * enters applications) puts them once verified. This file finds a chunk in
 * the store and, when it is missing, asks the agent over its Unix socket
 * and waits for the answer. It runs inside applications and in the dynamic
 * loader's audit namespace: no global state, errno-style returns only.
 *
 * The agent's protocol is one line per request and one line per answer:
 *   FETCH <mirror path> <chunk index> ...\n   ->  OK\n | ERR <message>\n
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "image_internal.h"

int vial_image_attach_stream(struct vial_image *image, const char *mirror, const char *chunk_dir,
                             const char *agent_socket)
{
    struct vial_stream *stream = calloc(1, sizeof *stream);
    if (!stream)
        return vial_error_set(-ENOMEM, "out of memory");
    if ((size_t)snprintf(stream->mirror, sizeof stream->mirror, "%s", mirror) >=
            sizeof stream->mirror ||
        (size_t)snprintf(stream->chunks, sizeof stream->chunks, "%s", chunk_dir) >=
            sizeof stream->chunks ||
        (size_t)snprintf(stream->agent, sizeof stream->agent, "%s", agent_socket) >=
            sizeof stream->agent) {
        free(stream);
        return vial_error_set(-ENAMETOOLONG, "streaming paths too long (the agent's socket "
                                             "path must be under %zu bytes)",
                              sizeof stream->agent);
    }
    free(image->stream);
    image->stream = stream;
    return 0;
}

const char *vial_image_mirror(const struct vial_image *image)
{
    return image->stream ? image->stream->mirror : NULL;
}

int vial_agent_socket(char *out, size_t size, const struct vial_dirs *dirs)
{
    uint8_t hash[VIAL_HASH_LEN];
    char hex[2 * VIAL_HASH_LEN + 1];
    vial_hash(hash, dirs->cache, strlen(dirs->cache));
    vial_hash_hex(hex, hash);
    if ((size_t)snprintf(out, size, "%s/agent-%.12s.sock", dirs->runtime, hex) >= size)
        return vial_error_set(-ENAMETOOLONG, "runtime directory path too long");
    return 0;
}

int vial_chunk_store_path(char *out, size_t size, const char *chunk_dir,
                          const uint8_t hash[VIAL_HASH_LEN])
{
    char hex[2 * VIAL_HASH_LEN + 1];
    vial_hash_hex(hex, hash);
    if ((size_t)snprintf(out, size, "%s/%.2s/%s", chunk_dir, hex, hex + 2) >= size)
        return vial_error_set(-ENAMETOOLONG, "chunk store path too long");
    return 0;
}

/* Whether the store has a file of the chunk's stored length. */
static int chunk_present(const struct vial_image *image, uint32_t chunk)
{
    struct vial_chunk_info info;
    char path[4200];
    struct stat st;
    if (vial_image_chunk(&info, image, chunk) < 0 ||
        vial_chunk_store_path(path, sizeof path, image->stream->chunks, info.hash) < 0)
        return 0;
    return stat(path, &st) == 0 && (uint64_t)st.st_size == info.stored_length;
}

static int write_all(int fd, const char *text, size_t length)
{
    while (length) {
        ssize_t n = send(fd, text, length, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -errno;
        text += n;
        length -= (size_t)n;
    }
    return 0;
}

/* One request to the agent; its answer's message becomes the error. */
static int ask_agent(const struct vial_stream *stream, const char *request, size_t length)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%s", stream->agent);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vial_error_set(-EIO, "cannot reach the fetch agent: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        int saved = errno;
        close(fd);
        return vial_error_set(-EIO,
                              "the fetch agent is not running (%s: %s): start the app again "
                              "with vial run, or fetch everything with vial cache prefetch",
                              stream->agent, strerror(saved));
    }
    int rc = write_all(fd, request, length);
    char answer[1024];
    size_t used = 0;
    while (rc == 0 && used < sizeof answer - 1) {
        ssize_t n = read(fd, answer + used, sizeof answer - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        if (memchr(answer, '\n', used))
            break;
    }
    close(fd);
    answer[used] = '\0';
    answer[strcspn(answer, "\n")] = '\0';
    if (rc < 0)
        return vial_error_set(-EIO, "cannot talk to the fetch agent: %s", strerror(-rc));
    if (strcmp(answer, "OK") == 0)
        return 0;
    if (strncmp(answer, "ERR ", 4) == 0)
        return vial_error_set(-EIO, "%s", answer + 4);
    return vial_error_set(-EIO, "the fetch agent stopped before answering");
}

int vial_stream_fetch(const struct vial_image *image, const uint32_t *chunks, size_t count)
{
    if (!image->stream || count == 0)
        return 0;
    size_t capacity = 64 + strlen(image->stream->mirror) + 11 * count;
    char *request = malloc(capacity);
    if (!request)
        return vial_error_set(-ENOMEM, "out of memory");
    size_t used = (size_t)snprintf(request, capacity, "FETCH %s", image->stream->mirror);
    size_t missing = 0;
    for (size_t i = 0; i < count; i++) {
        if (chunk_present(image, chunks[i]))
            continue;
        used += (size_t)snprintf(request + used, capacity - used, " %u", chunks[i]);
        missing++;
    }
    used += (size_t)snprintf(request + used, capacity - used, "\n");
    int rc = missing ? ask_agent(image->stream, request, used) : 0;
    free(request);
    return rc;
}

int vial_stream_fetch_range(const struct vial_image *image, uint32_t index, uint64_t begin,
                            uint64_t end)
{
    const struct vial_chunk_ref *refs;
    uint32_t count;
    if (!image->stream)
        return 0;
    int rc = vial_image_file_refs(&refs, &count, image, index);
    if (rc < 0 || count == 0)
        return rc;
    uint32_t *chunks = malloc(count * sizeof *chunks);
    if (!chunks)
        return vial_error_set(-ENOMEM, "out of memory");
    size_t unique = 0;
    uint64_t position = 0;
    for (uint32_t i = 0; i < count && position < end; i++) {
        uint64_t next = position + refs[i].length;
        if (next > begin && (unique == 0 || chunks[unique - 1] != refs[i].chunk))
            chunks[unique++] = refs[i].chunk;
        position = next;
    }
    rc = vial_stream_fetch(image, chunks, unique);
    free(chunks);
    if (rc < 0) {
        char path[4096] = "?";
        vial_image_path(path, sizeof path, image, index);
        return vial_error_prefix(rc, "cannot fetch /%s", path);
    }
    return 0;
}

int vial_stream_fetch_file(const struct vial_image *image, uint32_t index)
{
    return vial_stream_fetch_range(image, index, 0, UINT64_MAX);
}

/* Reads the chunk's frame from the store into the reader's frame buffer;
 * -ENOENT (no message) when the store lacks it. */
static int read_stored(const uint8_t **out, struct vial_reader *reader,
                       const struct vial_chunk_info *info)
{
    char path[4200];
    int rc = vial_chunk_store_path(path, sizeof path, reader->image->stream->chunks, info->hash);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : vial_error_set(-EIO, "%s: %s", path, strerror(errno));
    if (info->stored_length > reader->frame_capacity) {
        uint8_t *grown = realloc(reader->frame, info->stored_length);
        if (!grown) {
            close(fd);
            return vial_error_set(-ENOMEM, "out of memory");
        }
        reader->frame = grown;
        reader->frame_capacity = info->stored_length;
    }
    size_t done = 0;
    while (done < info->stored_length) {
        ssize_t n = read(fd, reader->frame + done, info->stored_length - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    if (done != info->stored_length) {
        unlink(path); /* a damaged store file: fetch it again */
        return -ENOENT;
    }
    *out = reader->frame;
    return 0;
}

int vial_stream_frame(const uint8_t **out, struct vial_reader *reader, uint32_t chunk,
                      const struct vial_chunk_info *info)
{
    int rc = read_stored(out, reader, info);
    if (rc != -ENOENT)
        return rc;
    if ((rc = vial_stream_fetch(reader->image, &chunk, 1)) < 0)
        return rc;
    rc = read_stored(out, reader, info);
    if (rc == -ENOENT)
        return vial_error_set(-EIO, "chunk %u is still missing from %s after the fetch agent "
                                    "stored it",
                              chunk, reader->image->stream->chunks);
    return rc;
}

void vial_stream_discard(struct vial_reader *reader, const struct vial_chunk_info *info)
{
    char path[4200];
    if (vial_chunk_store_path(path, sizeof path, reader->image->stream->chunks, info->hash) == 0)
        unlink(path);
}
