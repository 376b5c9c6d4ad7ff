/* image_internal.h - the reader's state, shared by the files of runtime/
 * that implement the image API. Not for other modules. */
#ifndef VIAL_IMAGE_INTERNAL_H
#define VIAL_IMAGE_INTERNAL_H

#include "runtime.h"

#define VIAL_SECTION_MAX_KNOWN VIAL_SECTION_DICTIONARY

/* Where a streamed image's chunks come from (stream.c). */
struct vial_stream {
    char mirror[4096]; /* the local mirror's path, as the agent knows it */
    char chunks[4096]; /* CACHE/chunks */
    char agent[108];   /* the agent's socket (sun_path) */
};

struct vial_image {
    const uint8_t *base;
    struct vial_stream *stream; /* NULL: chunk data is in the file */
    uint64_t size;
    int mapped;
    const struct vial_image_header *header;
    const struct vial_section_desc *sections[VIAL_SECTION_MAX_KNOWN + 1]; /* by type */
    const struct vial_index_header *index;
    const struct vial_index_entry *entries;
    uint32_t entry_count;
    const struct vial_hash_slot *slots;
    uint32_t slot_count;
    const struct vial_chunk_ref *refs;
    uint32_t ref_count;
    const struct vial_xattr_record *xattrs;
    uint32_t xattr_count;
    const char *strings;
    uint64_t strings_length;
    const struct vial_chunk_record *chunks;
    uint32_t chunk_count;
    uint64_t chunk_data_offset;
    uint64_t chunk_data_length;
    int metadata_verified; /* opened with VIAL_OPEN_VERIFY_METADATA */
};

struct vial_reader {
    const struct vial_image *image;
    struct ZSTD_DCtx_s *dctx;
    struct ZSTD_DDict_s *ddict; /* the image's dictionary, if it has one */
    unsigned dictionary_id;
    uint8_t *buffer;
    uint32_t capacity;
    uint32_t cached_chunk; /* UINT32_MAX: none */
    uint32_t cached_length;
    uint8_t *frame; /* a streamed chunk's frame, read from the store */
    uint32_t frame_capacity;
};

/* Hashes every metadata section and every page of the paged ones. */
int vial_image_verify_metadata_hashes(const struct vial_image *image);

/* A streamed chunk's frame from the store, fetched first if missing. */
int vial_stream_frame(const uint8_t **out, struct vial_reader *reader, uint32_t chunk,
                      const struct vial_chunk_info *info);
/* Drops a stored frame that failed verification, so that it is fetched
 * again instead of used. */
void vial_stream_discard(struct vial_reader *reader, const struct vial_chunk_info *info);

#endif
