/* packer_internal.h - state shared by the files of packager/. */
#ifndef VIAL_PACKER_INTERNAL_H
#define VIAL_PACKER_INTERNAL_H

#include <uthash.h>

#include "packager.h"

/* Sizes chosen by measurement (docs/image-format.md, "Chunking"). */
#define PACK_TINY_FILE_MAX (8u * 1024u)      /* smaller files go to solid blocks */
#define PACK_SMALL_FILE_MAX (128u * 1024u)   /* smaller files get a frame of their own */
/* Small files read by the hash pass are kept for the compress pass up to
 * this many bytes in all, so that each is read and hashed once. */
#define PACK_CONTENT_CACHE_MAX ((size_t)512u << 20)
#define PACK_BLOCK_MIN (16u * 1024u)         /* a block may close after this ... */
#define PACK_BLOCK_MAX (64u * 1024u)         /* ... and must close after this */
#define PACK_BLOCK_CUT_MASK 3u               /* ... closes after 1 in 4 paths */
/* The dictionary small files and blocks are compressed against: trained
 * on the small files whose path hash is 0 mod PACK_SAMPLE_MODULUS (a
 * choice that insertions elsewhere do not shift), at most
 * PACK_SAMPLE_MAX bytes of them. */
#define PACK_DICTIONARY_MAX (110u * 1024u)
#define PACK_DICTIONARY_MIN (8u * 1024u)
#define PACK_SAMPLE_MODULUS 6u
#define PACK_SAMPLE_MAX (2u * 1024u * 1024u)
#define PACK_CDC_MIN (64u * 1024u)
/* Cut where the top 17 bits of the gear hash are zero: the low bits of a
 * gear hash depend only on the last few bytes, the top bits on the last 64. */
#define PACK_CDC_MASK (((1ull << 17) - 1) << 47) /* average ~ 64 KiB + 128 KiB */
#define PACK_CDC_MAX (1024u * 1024u)

/* A content-defined piece of a large file, found while hashing it. */
struct pack_piece {
    uint64_t offset;
    uint32_t length;
    uint32_t planned; /* planned chunk holding it */
    uint8_t hash[VIAL_HASH_LEN];
};

/* A reference from a file to a planned chunk (translated at write time). */
struct pack_ref {
    uint32_t planned;
    uint32_t offset;
    uint32_t length;
};

struct pack_node {
    char *path; /* relative, canonical; "" for the root */
    size_t path_length;
    const char *name; /* last component, inside path */
    size_t name_length;
    uint8_t type;
    uint32_t mode; /* full st_mode */
    uint32_t uid, gid;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint64_t size;
    char *symlink_target;
    char *hardlink_target;
    struct vial_xattr *xattrs; /* owned copies */
    size_t xattr_count;
    char *source_path;
    int (*read)(void *payload, void *buf, size_t length, uint64_t offset);
    void *payload;

    /* Filled while writing. */
    uint32_t index;    /* position in the index (breadth-first) */
    uint32_t parent;   /* node */
    uint32_t primary;  /* node whose content a hard link shares */
    uint32_t nlink;
    uint32_t *children; /* nodes */
    uint32_t child_count, child_capacity;
    uint8_t content_hash[VIAL_HASH_LEN];
    uint32_t same_content_as; /* node with identical content hashed first */
    struct pack_piece *pieces;
    uint32_t piece_count;
    uint8_t *content; /* a small file's bytes, kept from the hash pass (or NULL) */
    uint32_t launch_rank; /* 1 + position in the launch profile; 0: not in it */
    uint32_t ref_first, ref_count; /* into packer->refs */
};

/* Path -> node, for duplicate detection and hard link targets. The key
 * points into the node's own path string, which never moves. */
struct pack_path_item {
    const char *key;
    uint32_t node;
    UT_hash_handle hh;
};

struct vial_packer {
    struct vial_pack_options options;
    char *manifest;
    size_t manifest_length;
    void *hive; /* NULL: no registry section */
    size_t hive_length;
    char *profile; /* the launch profile as given (NUL-terminated), or NULL */
    char *profile_section; /* the files of it the image has, as stored; NULL: none */
    size_t profile_section_length;
    struct pack_node *nodes;
    uint32_t node_count, node_capacity;
    struct pack_path_item *by_path;
    struct pack_ref *refs;
    uint32_t ref_count, ref_capacity;
};

/* The gear table of the content-defined chunker (docs/image-format.md). */
extern uint64_t vial_pack_gear[256];
void vial_pack_gear_init(void);

/* Reads length bytes of a node's content at offset, through fd (opened on
 * first use, -1 before) or the node's callback. */
int vial_pack_node_read(const struct pack_node *node, int *fd, void *buf, size_t length,
                        uint64_t offset);

int vial_pack_find(uint32_t *out_node, struct vial_packer *packer, const char *path, size_t length);

#endif
