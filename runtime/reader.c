/* reader.c - decompressing and verifying chunks, reading file ranges. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "image_internal.h"

int vial_reader_new(struct vial_reader **out, const struct vial_image *image)
{
    struct vial_reader *reader = calloc(1, sizeof *reader);
    *out = NULL;
    if (!reader || !(reader->dctx = ZSTD_createDCtx())) {
        free(reader);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    reader->image = image;
    reader->cached_chunk = UINT32_MAX;
    const void *dictionary;
    uint64_t length;
    if (vial_image_section(&dictionary, &length, image, VIAL_SECTION_DICTIONARY) == 0) {
        reader->ddict = ZSTD_createDDict(dictionary, (size_t)length);
        reader->dictionary_id = reader->ddict ? ZSTD_getDictID_fromDDict(reader->ddict) : 0;
        if (!reader->ddict || reader->dictionary_id == 0) {
            vial_reader_free(reader);
            return vial_error_set(VIAL_ECORRUPT, "corrupt image: the dictionary section is not "
                                                 "a zstd dictionary");
        }
    }
    *out = reader;
    return 0;
}

void vial_reader_free(struct vial_reader *reader)
{
    if (!reader)
        return;
    ZSTD_freeDCtx(reader->dctx);
    ZSTD_freeDDict(reader->ddict);
    free(reader->buffer);
    free(reader->frame);
    free(reader);
}

/* Decompresses frame (chunk's stored bytes) into the reader's buffer and
 * checks the result against the chunk's hash. */
static int decode_frame(struct vial_reader *reader, uint32_t chunk,
                        const struct vial_chunk_info *info, const uint8_t *frame)
{
    if (info->raw_length > reader->capacity) {
        uint8_t *grown = realloc(reader->buffer, info->raw_length);
        if (!grown)
            return vial_error_set(-ENOMEM, "out of memory for a %u-byte chunk", info->raw_length);
        reader->buffer = grown;
        reader->capacity = info->raw_length;
    }
    reader->cached_chunk = UINT32_MAX;
    /* Damaged stored bytes show up as a frame that does not parse or does
     * not decompress before they can show up as a hash mismatch: all say
     * the same thing, the chunk is not what the image recorded. */
    char hex[2 * VIAL_HASH_LEN + 1];
    vial_hash_hex(hex, info->hash);
    unsigned long long declared = ZSTD_getFrameContentSize(frame, info->stored_length);
    if (declared != info->raw_length)
        return vial_error_set(VIAL_ECORRUPT,
                              "chunk %u (%.16s...) does not match its hash: it is not a zstd "
                              "frame of %u bytes",
                              chunk, hex, info->raw_length);
    if (ZSTD_findFrameCompressedSize(frame, info->stored_length) != info->stored_length)
        return vial_error_set(VIAL_ECORRUPT,
                              "chunk %u (%.16s...) does not match its hash: it is not exactly "
                              "one zstd frame",
                              chunk, hex);
    unsigned wanted = ZSTD_getDictID_fromFrame(frame, info->stored_length);
    if (wanted != 0 && wanted != reader->dictionary_id)
        return vial_error_set(VIAL_ECORRUPT,
                              "corrupt image: chunk %u needs zstd dictionary %u, the image has %s",
                              chunk, wanted, reader->ddict ? "another" : "none");
    size_t got = wanted ? ZSTD_decompress_usingDDict(reader->dctx, reader->buffer, info->raw_length,
                                                     frame, info->stored_length, reader->ddict)
                        : ZSTD_decompressDCtx(reader->dctx, reader->buffer, info->raw_length, frame,
                                              info->stored_length);
    if (ZSTD_isError(got) || got != info->raw_length)
        return vial_error_set(VIAL_ECORRUPT,
                              "chunk %u (%.16s...) does not match its hash: it does not "
                              "decompress (%s)",
                              chunk, hex, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
    uint8_t hash[VIAL_HASH_LEN];
    vial_hash(hash, reader->buffer, info->raw_length);
    if (memcmp(hash, info->hash, VIAL_HASH_LEN) != 0)
        return vial_error_set(VIAL_EHASH, "chunk %u (%.16s...) does not match its hash", chunk,
                              hex);
    reader->cached_chunk = chunk;
    reader->cached_length = info->raw_length;
    return 0;
}

int vial_reader_check_frame(struct vial_reader *reader, uint32_t chunk, const void *frame,
                            size_t length)
{
    struct vial_chunk_info info;
    int rc = vial_image_chunk(&info, reader->image, chunk);
    if (rc < 0)
        return rc;
    if (length != info.stored_length)
        return vial_error_set(VIAL_EHASH, "chunk %u is %zu bytes, the image says %u", chunk,
                              length, info.stored_length);
    return decode_frame(reader, chunk, &info, frame);
}

int vial_reader_chunk(const uint8_t **out_data, uint32_t *out_length, struct vial_reader *reader,
                      uint32_t chunk)
{
    struct vial_chunk_info info;
    const uint8_t *frame;
    int rc;
    if (reader->cached_chunk == chunk) {
        *out_data = reader->buffer;
        *out_length = reader->cached_length;
        return 0;
    }
    if ((rc = vial_image_chunk(&info, reader->image, chunk)) < 0)
        return rc;
    if (!reader->image->stream) {
        rc = decode_frame(reader, chunk, &info, reader->image->base + info.offset);
    } else if ((rc = vial_stream_frame(&frame, reader, chunk, &info)) == 0 &&
               (rc = decode_frame(reader, chunk, &info, frame)) < 0) {
        /* the agent verified it before storing it: the cache was damaged
         * since. Never use it; fetch it once more. */
        vial_stream_discard(reader, &info);
        if ((rc = vial_stream_frame(&frame, reader, chunk, &info)) == 0)
            rc = decode_frame(reader, chunk, &info, frame);
    }
    if (rc < 0)
        return rc;
    *out_data = reader->buffer;
    *out_length = info.raw_length;
    return 0;
}

int vial_reader_pread(size_t *out_read, struct vial_reader *reader, uint32_t index, void *buf,
                      size_t length, uint64_t offset)
{
    const struct vial_chunk_ref *refs;
    uint32_t ref_count;
    struct vial_entry info;
    int rc;
    *out_read = 0;
    if ((rc = vial_image_entry(&info, reader->image, index)) < 0 ||
        (rc = vial_image_file_refs(&refs, &ref_count, reader->image, index)) < 0)
        return rc;
    if (offset >= info.size || length == 0)
        return 0;
    uint64_t limit = info.size - offset < length ? info.size : offset + length;
    /* a streamed file: what this read needs in one request to the agent,
     * the whole file when reading starts at its beginning (whole-file
     * readers: materializing, cat, extract) */
    if (reader->image->stream &&
        (rc = vial_stream_fetch_range(reader->image, index, offset,
                                      offset == 0 ? info.size : limit)) < 0)
        return rc;
    uint64_t position = 0; /* file offset of the current reference */
    size_t done = 0;
    for (uint32_t i = 0; i < ref_count && offset + done < limit; i++) {
        const struct vial_chunk_ref *ref = &refs[i];
        if (ref->length == 0)
            return vial_error_set(VIAL_ECORRUPT, "corrupt image: file %u has an empty reference",
                                  index);
        if (position + ref->length <= offset + done) {
            position += ref->length;
            continue;
        }
        const uint8_t *data;
        uint32_t chunk_length;
        if ((rc = vial_reader_chunk(&data, &chunk_length, reader, ref->chunk)) < 0)
            return rc;
        if (ref->offset > chunk_length || ref->length > chunk_length - ref->offset)
            return vial_error_set(VIAL_ECORRUPT,
                                  "corrupt image: file %u references bytes past the end of "
                                  "chunk %u",
                                  index, ref->chunk);
        uint64_t skip = offset + done - position;
        uint64_t take = ref->length - skip;
        if (take > limit - (offset + done))
            take = limit - (offset + done);
        memcpy((uint8_t *)buf + done, data + ref->offset + skip, (size_t)take);
        done += (size_t)take;
        position += ref->length;
    }
    if (offset + done < limit)
        return vial_error_set(VIAL_ECORRUPT,
                              "corrupt image: file %u is %llu bytes but its chunks hold fewer",
                              index, (unsigned long long)info.size);
    *out_read = done;
    return 0;
}
