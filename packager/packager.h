/*
 * packager.h - the public API of Vial's image writer (libvial-packager).
 *
 * A packer collects entries from any source (a directory tree, an importer,
 * a synthetic generator), then writes one image: it hashes every file, cuts
 * large files into content-defined chunks, groups small files into solid
 * blocks by path, deduplicates identical content, compresses the chunks on
 * every core and writes the index and the header. The output is
 * deterministic: the same entries give a byte-identical image whatever the
 * thread count.
 *
 * Errors follow runtime.h: 0 or a negative code, with vial_error_last()
 * naming the path and the reason. A packer belongs to one thread.
 */
#ifndef VIAL_PACKAGER_H
#define VIAL_PACKAGER_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

#define VIAL_PACK_DEFAULT_LEVEL 12

struct vial_pack_options {
    int level;          /* zstd level 1..19; 0 = VIAL_PACK_DEFAULT_LEVEL */
    unsigned threads;   /* 0 = every online CPU */
    int progress;       /* print progress on stderr */
    const char *manifest_text; /* required: the package's INI text */
    size_t manifest_length;
    const void *hive;   /* optional: the package's registry hive, binary form (registry.h) */
    size_t hive_length;
    /* optional: a launch profile (vial profile): virtual paths, one per line,
     * in the order the application read them; those files' chunks are
     * placed first and the list is stored as the launch-profile section */
    const char *profile_text;
    size_t profile_length;
    int override_owner; /* record owner_uid/owner_gid for every entry */
    uint32_t owner_uid, owner_gid;
};

/* One entry to pack. Strings are copied by vial_packer_add. */
struct vial_pack_entry {
    const char *path; /* relative to the image root, canonical ("usr/bin/x") */
    uint8_t type;     /* VIAL_ENTRY_DIRECTORY, _REGULAR, _SYMLINK or _HARDLINK */
    uint32_t mode;    /* permission bits (07777); the type bits are derived */
    uint32_t uid, gid;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint64_t size;                  /* regular files */
    const char *symlink_target;     /* symlinks */
    const char *hardlink_target;    /* hard links: path of a regular file or symlink entry */
    const struct vial_xattr *xattrs; /* names are NUL-free; sorted by the packer */
    size_t xattr_count;
    /* Content of a regular file: either a host file to read ... */
    const char *source_path;
    /* ... or a callback filling buf with length bytes at offset (0 or -errno). */
    int (*read)(void *payload, void *buf, size_t length, uint64_t offset);
    void *payload;
};

struct vial_pack_stats {
    uint64_t entries, files, directories, symlinks, hardlinks;
    uint64_t raw_bytes;        /* bytes of regular files, counting duplicates */
    uint64_t unique_raw_bytes; /* bytes in unique chunks */
    uint64_t stored_bytes;     /* compressed chunk bytes */
    uint64_t image_bytes;
    uint64_t chunks, blocks, deduplicated_files;
    uint64_t dictionary_bytes; /* 0: no dictionary (too few small files) */
    uint8_t root_hash[VIAL_HASH_LEN];
};

struct vial_packer;

int vial_packer_new(struct vial_packer **out, const struct vial_pack_options *options);
void vial_packer_free(struct vial_packer *packer);

/* Adds one entry after checking it: a canonical path of valid names (UTF-8,
 * no control characters), a representable type and mode, no duplicate.
 * Errors: VIAL_EINVALID naming the path. */
int vial_packer_add(struct vial_packer *packer, const struct vial_pack_entry *entry);

/* Adds every entry under the directory root, placed at prefix in the image
 * (a canonical relative path such as "opt/app", or NULL/"" for the image
 * root; the directories leading to it are created with root's metadata).
 * Refuses what it cannot represent faithfully: device nodes, sockets,
 * FIFOs, unreadable files and directories, invalid names, and relative
 * symlinks that climb above root. Hard links inside the tree are kept. */
int vial_packer_add_tree(struct vial_packer *packer, const char *root, const char *prefix);

/* Writes the image atomically to output (a temporary file renamed into
 * place; nothing is left behind on failure). stats may be NULL. */
int vial_packer_write(struct vial_packer *packer, const char *output,
                      struct vial_pack_stats *stats);

/* --------------------------------------------------------------- signing */

/* An Ed25519 secret key in libsodium's layout: the 32-byte seed, then the
 * public key. */
#define VIAL_SECRET_KEY_LEN 64u

/* Signs the image open in fd (read-write; `image` was opened from it and
 * checked by the caller): writes the 144-byte signature slot in place at
 * its header offset and fsyncs. The slot lies outside the root hash, so no
 * other byte of the file changes (docs/trust.md explains why this is safe
 * enough without a temporary copy). Reads the slot back and checks it with
 * vial_image_signature before returning. Errors: -errno, VIAL_ESIGNATURE. */
int vial_image_sign(int fd, const struct vial_image *image,
                    const uint8_t secret_key[VIAL_SECRET_KEY_LEN]);

/* ---------------------------------------------------------------- import */

/* What a Debian package's control file says (empty for a tar archive). */
struct vial_import_package {
    int is_deb;
    char name[256];
    char version[256];
    char summary[256]; /* the first line of Description */
    char vendor[256];  /* Maintainer */
};

/*
 * Unpacks file into directory (which exists and is empty): a Debian package
 * (.deb, .udeb) through `dpkg-deb --fsys-tarfile`, its control fields into
 * *package; anything else as a tar archive in any compression GNU tar
 * detects. Members keep their modes, not their owners. Errors name the file
 * and the tool that failed (its own message goes to stderr).
 */
int vial_import_unpack(struct vial_import_package *package, const char *file, const char *directory);

/*
 * The manifest of an unpacked tree (malloc'd text for vial_manifest_parse):
 * package's name, version, summary and vendor; one entry per application
 * .desktop file in usr/share/applications (its Exec program, Name, Icon),
 * then per executable in usr/bin, usr/games, usr/local/bin, bin and the
 * bin directory of each directory in opt. The default entry is the first desktop application, else the
 * program named like the package, else the first. source is named in a
 * comment.
 */
int vial_import_manifest(char **out, const char *root, const struct vial_import_package *package,
                         const char *source);

/* Whether a relative symlink target at entry path `path` climbs above the
 * image root ("usr/a" -> "../../x" does). Absolute targets never do: they
 * are resolved inside the image's namespace. */
int vial_symlink_escapes(const char *path, const char *target);

#endif
