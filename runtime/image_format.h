/*
 * image_format.h - the on-disk layout of a Vial image, version 1.
 *
 * This header is the single definition of the format: the reader in
 * runtime/ and the writer in packager/ both include it. docs/image-format.md
 * is the prose specification of the same layout; keep them in step.
 *
 * Everything is little-endian. Structures are laid out with explicit padding
 * so that their size and offsets are identical on every compiler; the static
 * assertions at the bottom pin them. Readers must not cast unchecked image
 * bytes to these structures beyond what the bounds checks in runtime/ allow.
 *
 * File layout (offsets are absolute file offsets):
 *
 *   [header, 1024 bytes]
 *   [manifest] [registry hive] [launch profile] [dictionary] [page hashes]
 *   [chunk table] [index] [chunk data]
 *
 * The order after the header is the writer's choice; readers use only the
 * section table. Metadata comes first so that a range client gets header,
 * manifest and page hashes in one or two requests.
 */
#ifndef VIAL_IMAGE_FORMAT_H
#define VIAL_IMAGE_FORMAT_H

#include <stdint.h>

#define VIAL_IMAGE_MAGIC "\x89VIAL\r\n\x1a"
#define VIAL_IMAGE_MAGIC_LEN 8
#define VIAL_IMAGE_VERSION_MAJOR 1
#define VIAL_IMAGE_VERSION_MINOR 0
#define VIAL_IMAGE_HEADER_SIZE 1024u
#define VIAL_IMAGE_MAX_SECTIONS 14u
#define VIAL_HASH_LEN 32u /* BLAKE2b-256 (libsodium crypto_generichash) */

/* Paged sections (index, chunk table) are hashed per page as well, so that a
 * range client can verify the pages it fetched without downloading the
 * whole section. */
#define VIAL_PAGE_SIZE 65536u

/* Upper bound of a chunk's uncompressed size. Readers reject larger chunks,
 * which bounds every decompression buffer. */
#define VIAL_CHUNK_MAX_RAW (4u * 1024u * 1024u)

enum vial_section_type {
    VIAL_SECTION_MANIFEST = 1,    /* the package's INI text, verbatim */
    VIAL_SECTION_INDEX = 2,       /* struct vial_index_header + tables */
    VIAL_SECTION_PAGE_HASHES = 3, /* hashes of the pages of paged sections */
    VIAL_SECTION_HIVE = 4,        /* registry hive (reserved: registry issue) */
    VIAL_SECTION_PROFILE = 5,     /* launch profile (reserved: sequencer) */
    VIAL_SECTION_CHUNK_TABLE = 6, /* array of struct vial_chunk_record */
    VIAL_SECTION_CHUNK_DATA = 7,  /* concatenated zstd frames */
    VIAL_SECTION_DICTIONARY = 8,  /* optional zstd dictionary (see below) */
};

/* The dictionary section, when present, holds one zstd dictionary. A chunk
 * frame whose header names a dictionary ID must name this dictionary's and
 * is decompressed with it; frames without a dictionary ID use none. The
 * packer compresses small files against it, each in a frame of its own, so
 * that a file is read, fetched and updated alone. */

/* One row of the section table. hash = BLAKE2b-256 of the section's bytes. */
struct vial_section_desc {
    uint32_t type;   /* enum vial_section_type; 0 = unused row */
    uint32_t flags;  /* VIAL_SECTION_PAGED, rest zero */
    uint64_t offset; /* absolute file offset */
    uint64_t length; /* bytes */
    uint8_t hash[VIAL_HASH_LEN];
};

#define VIAL_SECTION_PAGED 0x1u /* section's pages are listed in PAGE_HASHES */

enum vial_signature_type {
    VIAL_SIGNATURE_NONE = 0,
    VIAL_SIGNATURE_ED25519 = 1, /* reserved for the streaming issue */
};

/* The signature slot lives inside the header but outside the hashed range,
 * so signing rewrites 144 bytes in place and never changes the root hash. */
struct vial_signature_slot {
    uint32_t type; /* enum vial_signature_type */
    uint32_t reserved;
    uint8_t public_key[32];
    uint8_t signature[64]; /* over "vial-image-v1\0" || root hash */
    uint8_t padding[40];
};

struct vial_image_header {
    uint8_t magic[VIAL_IMAGE_MAGIC_LEN];
    uint16_t version_major; /* readers refuse a major they do not know */
    uint16_t version_minor; /* readers accept a newer minor */
    uint32_t header_size;   /* VIAL_IMAGE_HEADER_SIZE */
    uint32_t section_count; /* rows used in sections[] */
    uint32_t flags;         /* zero in v1 */
    uint64_t image_size;    /* total file size in bytes */
    uint8_t reserved[32];   /* zero */
    struct vial_section_desc sections[VIAL_IMAGE_MAX_SECTIONS];
    /* root hash = BLAKE2b-256 of header bytes [0, offsetof(root_hash)):
     * it covers every section through the section hashes. */
    uint8_t root_hash[VIAL_HASH_LEN];
    struct vial_signature_slot signature;
};

/* ------------------------------------------------------------------ index */

#define VIAL_INDEX_MAGIC 0x58444956u /* "VIDX" */

/* All offsets in the index header are relative to the start of the index
 * section; every table is 8-byte aligned. */
struct vial_index_header {
    uint32_t magic;
    uint32_t entry_count;     /* entry 0 is the root directory */
    uint32_t hash_slot_count; /* power of two, >= entry_count + 1 */
    uint32_t chunk_ref_count;
    uint32_t xattr_count;
    uint32_t reserved0;
    uint64_t entries_offset;  /* struct vial_index_entry[entry_count] */
    uint64_t slots_offset;    /* struct vial_hash_slot[hash_slot_count] */
    uint64_t chunk_refs_offset; /* struct vial_chunk_ref[chunk_ref_count] */
    uint64_t xattrs_offset;   /* struct vial_xattr_record[xattr_count] */
    uint64_t strings_offset;  /* byte pool: names, targets, xattrs */
    uint64_t strings_length;
};

enum vial_entry_type {
    VIAL_ENTRY_DIRECTORY = 1,
    VIAL_ENTRY_REGULAR = 2,
    VIAL_ENTRY_SYMLINK = 3,
    VIAL_ENTRY_HARDLINK = 4, /* another name of the entry in u.link_target */
};

/* Entries are stored in breadth-first order: a directory's children are
 * contiguous and sorted by name (bytewise), and every entry's parent has a
 * smaller index than the entry itself (so parent chains cannot loop). */
struct vial_index_entry {
    uint32_t parent;      /* entry index; the root's parent is 0 */
    uint32_t name_offset; /* into strings */
    uint16_t name_length; /* 1..255; the root has 0 */
    uint8_t type;         /* enum vial_entry_type */
    uint8_t flags;        /* zero in v1 */
    uint32_t mode;        /* st_mode: file type bits and permission bits */
    uint32_t uid;
    uint32_t gid;
    int64_t mtime_sec;
    uint64_t size;        /* regular: bytes; symlink: target length; else 0 */
    uint32_t mtime_nsec;
    uint32_t nlink;       /* names of this file (1 unless hard-linked) */
    uint32_t xattr_first; /* into the xattr table */
    uint32_t xattr_count;
    union {
        struct { uint32_t first_child, child_count; } dir;
        struct { uint32_t first_ref, ref_count; } reg; /* chunk references */
        struct { uint32_t target_offset, target_length; } symlink; /* strings */
        struct { uint32_t target, unused; } hardlink; /* entry index */
        uint32_t raw[2];
    } u;
};

/* Open-addressing hash table of full paths, for O(1) lookup without parsing
 * the index: slot = hash & (count - 1), linear probing, entry_plus_one = 0
 * marks an empty slot. hash = vial_path_hash() of the path relative to the
 * image root ("usr/bin/lua"; the root is ""). */
struct vial_hash_slot {
    uint32_t entry_plus_one;
    uint32_t hash_high; /* upper 32 bits of the 64-bit path hash */
};

/* A regular file's bytes are the concatenation of its references' ranges,
 * in order; a ref addresses a range of one chunk's uncompressed bytes. */
struct vial_chunk_ref {
    uint32_t chunk;
    uint32_t offset;
    uint32_t length;
};

struct vial_xattr_record {
    uint32_t name_offset;
    uint32_t value_offset;
    uint32_t value_length;
    uint16_t name_length;
    uint16_t reserved;
};

/* ------------------------------------------------------------ chunk table */

/* One row per unique chunk. hash = BLAKE2b-256 of the uncompressed bytes;
 * the frame at offset (relative to the chunk data section) is a single zstd
 * frame whose declared content size equals raw_length. */
struct vial_chunk_record {
    uint8_t hash[VIAL_HASH_LEN];
    uint64_t offset;
    uint32_t stored_length;
    uint32_t raw_length;
};

#define VIAL_STATIC_SIZE(type, size) \
    _Static_assert(sizeof(type) == (size), #type " must be " #size " bytes")
VIAL_STATIC_SIZE(struct vial_section_desc, 56);
VIAL_STATIC_SIZE(struct vial_signature_slot, 144);
VIAL_STATIC_SIZE(struct vial_image_header, VIAL_IMAGE_HEADER_SIZE);
VIAL_STATIC_SIZE(struct vial_index_header, 72);
VIAL_STATIC_SIZE(struct vial_index_entry, 64);
VIAL_STATIC_SIZE(struct vial_hash_slot, 8);
VIAL_STATIC_SIZE(struct vial_chunk_ref, 12);
VIAL_STATIC_SIZE(struct vial_xattr_record, 16);
VIAL_STATIC_SIZE(struct vial_chunk_record, 48);
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the structures above are read in place: little-endian hosts only");

#endif
