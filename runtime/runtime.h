/*
 * runtime.h - the public API of Vial's runtime library (libvial-runtime).
 *
 * The runtime is what every other part links, including code that runs
 * inside applications, so it stays lean: errors, hashing, the image reader
 * and the manifest parser. It never pulls in libcurl, TLS or the CLI.
 *
 * Conventions for every function here unless it says otherwise:
 *  - returns 0 on success or a negative error code: -errno where an errno
 *    fits, VIAL_E* otherwise; a human-readable message naming the problem is
 *    left in vial_error_last() for the calling thread;
 *  - out-parameters come first;
 *  - functions taking a `const struct vial_image *` are safe to call from
 *    many threads at once; a `struct vial_reader` belongs to one thread.
 */
#ifndef VIAL_RUNTIME_H
#define VIAL_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "image_format.h"

/* ----------------------------------------------------------------- errors */

enum vial_error_code {
    VIAL_ECORRUPT = -5001,  /* the image is damaged or lies about itself */
    VIAL_EFORMAT = -5002,   /* not a Vial image, or an unsupported version */
    VIAL_EMANIFEST = -5003, /* the manifest does not parse or is invalid */
    VIAL_EHASH = -5004,     /* content does not match its recorded hash */
    VIAL_EINVALID = -5005,  /* input the packager cannot represent */
    VIAL_ESIGNATURE = -5006, /* the image's signature does not verify */
};

/* The message left by the last failing call on this thread ("" if none).
 * The pointer stays valid until the next failing call on the same thread. */
const char *vial_error_last(void);

/* Records a formatted message for this thread and returns `code`, so that a
 * caller can write `return vial_error_set(-ENOENT, "no %s", path);`. */
int vial_error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with "<prefix>: " and returns `code`. */
int vial_error_prefix(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A short static description of a code (strerror for -errno codes). */
const char *vial_strerror(int code);

/* ---------------------------------------------------------------- hashing */

/* BLAKE2b-256, as used for chunks, sections and the root hash. */
void vial_hash(uint8_t out[VIAL_HASH_LEN], const void *data, size_t len);

struct vial_hasher {
    unsigned char opaque[384] __attribute__((aligned(64)));
};
void vial_hasher_init(struct vial_hasher *hasher);
void vial_hasher_update(struct vial_hasher *hasher, const void *data, size_t len);
void vial_hasher_final(struct vial_hasher *hasher, uint8_t out[VIAL_HASH_LEN]);

/* Lower-case hex of a hash into out (2 * VIAL_HASH_LEN + 1 bytes). */
void vial_hash_hex(char out[2 * VIAL_HASH_LEN + 1], const uint8_t hash[VIAL_HASH_LEN]);

/* The index's path hash: 64-bit FNV-1a over the bytes of a path relative to
 * the image root ("usr/bin/lua"). Not cryptographic; lookups always confirm
 * a hit by comparing names. */
uint64_t vial_path_hash(const char *path, size_t len);

/* ----------------------------------------------------------------- images */

struct vial_image;

enum vial_image_open_flags {
    /* Hash every metadata section (manifest, index, page hashes, hive,
     * profile, chunk table) at open. Without it, open costs O(1) and every
     * access is still bounds-checked; chunk hashes are always checked. */
    VIAL_OPEN_VERIFY_METADATA = 1u << 0,
};

/* A file, directory, symlink or hard link of the image, as the reader
 * reports it. For a hard link, the metadata (mode, size, ...) are those of
 * the entry it names (`primary`); `type` stays VIAL_ENTRY_HARDLINK. */
struct vial_entry {
    uint32_t index;
    uint32_t parent;
    uint32_t primary; /* index whose content and metadata this entry has */
    uint8_t type;     /* enum vial_entry_type */
    uint8_t primary_type;
    uint32_t mode, uid, gid, nlink;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint64_t size;
    uint64_t inode; /* stable within the image: primary + 1 */
    const char *name; /* not NUL-terminated; points into the mapped image */
    size_t name_length;
};

struct vial_xattr {
    const char *name; /* not NUL-terminated */
    size_t name_length;
    const void *value;
    size_t value_length;
};

struct vial_chunk_info {
    const uint8_t *hash;
    uint64_t offset; /* absolute file offset of the zstd frame */
    uint32_t stored_length;
    uint32_t raw_length;
};

/* Opens the image in file descriptor fd (which stays the caller's; the
 * mapping keeps its own reference). Checks the header, the root hash and
 * the bounds of every section; `flags` from enum vial_image_open_flags.
 * Errors: VIAL_EFORMAT, VIAL_ECORRUPT, VIAL_EHASH, -errno. */
int vial_image_open(struct vial_image **out, int fd, unsigned flags);
int vial_image_open_path(struct vial_image **out, const char *path, unsigned flags);
/* Same, over bytes the caller keeps mapped until vial_image_close. */
int vial_image_open_memory(struct vial_image **out, const void *data, size_t size, unsigned flags);
void vial_image_close(struct vial_image *image);

const struct vial_image_header *vial_image_header(const struct vial_image *image);
uint32_t vial_image_entry_count(const struct vial_image *image);
uint32_t vial_image_chunk_count(const struct vial_image *image);
uint64_t vial_image_size(const struct vial_image *image);

/* The bytes of a section (pointing into the mapping). -ENOENT if absent. */
int vial_image_section(const void **out_data, uint64_t *out_length,
                       const struct vial_image *image, enum vial_section_type type);

/* Whether name (length bytes) may name an index entry: 1..255 bytes, no
 * '/' or NUL, not "." or "..". */
int vial_image_name_valid(const char *name, size_t length);

/* Whether path is a relative path of valid names joined by single slashes
 * ("usr/bin/lua"); the empty path is not. */
int vial_image_path_valid(const char *path, size_t length);

/* Looks up a path ("usr/bin/lua", "/usr/bin/lua", "" or "/" for the root).
 * The path must be lexically canonical: no empty, "." or ".." components
 * (a trailing slash is allowed). Symlinks are not followed.
 * Errors: -ENOENT, -EINVAL for a non-canonical path, VIAL_ECORRUPT. */
int vial_image_lookup(uint32_t *out_index, const struct vial_image *image, const char *path);

/* Resolves path inside the image, following symlinks as the application
 * would see them (absolute targets start at the image root; ".." stops at
 * the root), at most 40 of them. With follow_last = 0 a final symlink is
 * returned itself. Errors: -ENOENT (including a symlink leading out of the
 * image's entries), -ELOOP, -ENOTDIR, -ENAMETOOLONG, VIAL_ECORRUPT. */
int vial_image_resolve(uint32_t *out_index, const struct vial_image *image, const char *path,
                       int follow_last);

/* Fills out with entry `index`, after checking every field it reports. */
int vial_image_entry(struct vial_entry *out, const struct vial_image *image, uint32_t index);

/* A directory's children: indexes first .. first + count - 1, by name. */
int vial_image_children(uint32_t *out_first, uint32_t *out_count,
                        const struct vial_image *image, uint32_t dir);

/* Finds child `name` of directory `dir` by binary search. -ENOENT if none. */
int vial_image_child(uint32_t *out_index, const struct vial_image *image, uint32_t dir,
                     const char *name, size_t name_length);

/* A symlink's target (not NUL-terminated). -EINVAL if not a symlink. */
int vial_image_readlink(const char **out_target, size_t *out_length,
                        const struct vial_image *image, uint32_t index);

/* The path of an entry relative to the image root, NUL-terminated, into
 * buf. -ENAMETOOLONG if it does not fit. */
int vial_image_path(char *buf, size_t size, const struct vial_image *image, uint32_t index);

/* Extended attribute i (0-based) of an entry; -ENOENT past the last. */
int vial_image_xattr(struct vial_xattr *out, const struct vial_image *image,
                     uint32_t index, uint32_t i);

/* The chunk references of a regular file (or of a hard link's primary). */
int vial_image_file_refs(const struct vial_chunk_ref **out_refs, uint32_t *out_count,
                         const struct vial_image *image, uint32_t index);

int vial_image_chunk(struct vial_chunk_info *out, const struct vial_image *image, uint32_t chunk);

enum vial_verify_flags {
    VIAL_VERIFY_CHUNKS = 1u << 0, /* decompress and hash every chunk */
};

/* Verifies the whole image: every section hash, the page hashes, the
 * structure of the index (types, bounds, order, unique names, hard links,
 * file sizes against their references) and, with VIAL_VERIFY_CHUNKS, every
 * chunk. progress (may be NULL) is called with chunks done / total. */
int vial_image_verify(const struct vial_image *image, unsigned flags,
                      void (*progress)(uint64_t done, uint64_t total, void *payload),
                      void *payload);

/* The name of a section type as messages use it ("manifest", "registry
 * hive", ...; "unknown" for a type this reader does not know). */
const char *vial_section_name(uint32_t type);

/* Hashes every metadata section and every page of the paged ones, as
 * VIAL_OPEN_VERIFY_METADATA does at open; returns 0 at once if the image
 * was opened with that flag. Errors: VIAL_EHASH naming the section,
 * VIAL_ECORRUPT. */
int vial_image_verify_metadata(const struct vial_image *image);

/* ------------------------------------------------------------- signatures */

/* What an Ed25519 signature covers: this 14-byte domain string (its NUL
 * included) followed by the 32-byte root hash (docs/image-format.md). */
#define VIAL_SIGNATURE_DOMAIN "vial-image-v1"
#define VIAL_SIGNATURE_DOMAIN_LEN 14u
#define VIAL_SIGNATURE_MESSAGE_LEN (VIAL_SIGNATURE_DOMAIN_LEN + VIAL_HASH_LEN)
#define VIAL_PUBLIC_KEY_LEN 32u
#define VIAL_SIGNATURE_LEN 64u

/* The bytes a signature of an image with this root hash signs. */
void vial_signature_message(uint8_t out[VIAL_SIGNATURE_MESSAGE_LEN],
                            const uint8_t root_hash[VIAL_HASH_LEN]);

struct vial_signature_info {
    uint32_t type; /* VIAL_SIGNATURE_NONE or VIAL_SIGNATURE_ED25519 */
    uint8_t public_key[VIAL_PUBLIC_KEY_LEN]; /* the signer's; zero if unsigned */
};

/* Reads the image's signature slot and, if the image is signed, checks the
 * Ed25519 signature over vial_signature_message(root hash) with the public
 * key in the slot. Success: out->type is VIAL_SIGNATURE_NONE (an all-zero
 * slot) or VIAL_SIGNATURE_ED25519 (a valid signature by out->public_key).
 * Which keys to trust is the caller's policy, not this function's.
 * Errors: VIAL_ESIGNATURE (a signature that does not verify: the image
 * changed after signing, or the slot's key did not make it), VIAL_ECORRUPT
 * (an unknown signature type, or non-zero bytes where the slot must be
 * zero). Thread-safe. */
int vial_image_signature(struct vial_signature_info *out, const struct vial_image *image);

/* ---------------------------------------------------------------- reading */

/* A read cursor: owns a zstd context and the last decompressed chunk, so
 * that reading many small files of one solid block decompresses it once.
 * One thread at a time; create one per thread. */
struct vial_reader;

int vial_reader_new(struct vial_reader **out, const struct vial_image *image);
void vial_reader_free(struct vial_reader *reader);

/* The verified, uncompressed bytes of a chunk, valid until the next call on
 * this reader. Errors: VIAL_ECORRUPT, VIAL_EHASH, -ENOMEM. */
int vial_reader_chunk(const uint8_t **out_data, uint32_t *out_length,
                      struct vial_reader *reader, uint32_t chunk);

/* Reads up to length bytes of a regular file (or hard link) at offset,
 * decompressing only the chunks that hold them; *out_read is short only at
 * end of file. */
int vial_reader_pread(size_t *out_read, struct vial_reader *reader, uint32_t index,
                      void *buf, size_t length, uint64_t offset);

/* Checks that frame (length bytes) is chunk `chunk` of the reader's image:
 * one zstd frame of the recorded sizes whose content has the chunk's hash.
 * This is the check every chunk passes before it is used or stored. */
int vial_reader_check_frame(struct vial_reader *reader, uint32_t chunk, const void *frame,
                            size_t length);

/* -------------------------------------------------------------- streaming */

/* A streamed image is opened from its local mirror (docs/streaming.md): a
 * sparse copy of the image with the header and metadata sections in place
 * and the chunk data left out. Attaching a stream makes the image's readers
 * take chunks from the content-addressed store chunk_dir (CACHE/chunks,
 * one file per chunk named by its hash, holding its zstd frame) and ask the
 * fetch agent listening on agent_socket for the ones missing there. mirror
 * is the path the agent knows the image by. */
int vial_image_attach_stream(struct vial_image *image, const char *mirror, const char *chunk_dir,
                             const char *agent_socket);
/* The mirror a streamed image was attached with; NULL for a local image
 * (so also: whether the image is streamed). */
const char *vial_image_mirror(const struct vial_image *image);

struct vial_dirs;
/* The fetch agent's socket: RUNTIME/agent-<12 hex of the cache path's
 * hash>.sock, one agent per user and cache directory. */
int vial_agent_socket(char *out, size_t size, const struct vial_dirs *dirs);

/* CHUNK_DIR/xx/<rest of the hex hash>. */
int vial_chunk_store_path(char *out, size_t size, const char *chunk_dir,
                          const uint8_t hash[VIAL_HASH_LEN]);

/* Makes the given chunks (or every chunk of regular file `index`) present
 * in the store, in one request to the agent for those missing; 0 at once
 * for a local image. Errors: -EIO with the agent's message (server
 * unreachable, damaged bytes, ...). Safe from many threads. */
int vial_stream_fetch(const struct vial_image *image, const uint32_t *chunks, size_t count);
int vial_stream_fetch_file(const struct vial_image *image, uint32_t index);
/* The chunks holding bytes [begin, end) of regular file `index`. */
int vial_stream_fetch_range(const struct vial_image *image, uint32_t index, uint64_t begin,
                            uint64_t end);

/* ------------------------------------------------------- per-user places */

/* The directories Vial keeps per user, all absolute and without trailing
 * slash:
 *   cache    $XDG_CACHE_HOME/vial (default ~/.cache/vial): content-addressed
 *            materialized files (files/), per-image views (views/),
 *            verification records (verified/), chunks and mirrors of
 *            streamed images (chunks/, images/); shared by all packages
 *            (layout: docs/cache.md)
 *   data     $XDG_DATA_HOME/vial (default ~/.local/share/vial): user state
 *   runtime  $XDG_RUNTIME_DIR/vial, or /tmp/vial-UID (created 0700 and
 *            checked to be ours) when XDG_RUNTIME_DIR is unset
 * Relative XDG values are ignored, as the XDG spec says. */
struct vial_dirs {
    char cache[4096];
    char data[4096];
    char runtime[4096];
};

/* Fills dirs from the environment and the password database; creates
 * nothing. Errors: -ENOENT if no home directory can be found. */
int vial_dirs_get(struct vial_dirs *dirs);

/* mkdir -p with mode for the missing components. */
int vial_mkdir_p(const char *path, unsigned mode);

/* ---------------------------------------------------------- materializing */

/* The cache key of a regular file's content: BLAKE2b-256 over its chunk
 * references (chunk hash, offset, length) and whether it is executable.
 * Equal keys mean equal bytes, across images and versions. */
int vial_content_key(uint8_t out[VIAL_HASH_LEN], const struct vial_image *image, uint32_t index);

/* Makes entry `index` (a regular file or a hard link to one) available as
 * a real file: the content is decompressed once into
 * CACHE/files/xx/<key> (atomically: a temporary file renamed into place,
 * so a half-written file is never visible and two processes doing it at
 * once both succeed), then hard-linked at VIEW/<virtual path>, where VIEW
 * mirrors the image's layout so that $ORIGIN and /proc/self/exe point to a
 * path that maps back to the virtual one. out (4096 bytes) receives the
 * view path. A full disk gives -ENOSPC and leaves nothing behind.
 * `view` is the image's view directory (vial_view_dir). */
int vial_materialize(char *out, size_t size, struct vial_reader *reader, uint32_t index,
                     const char *cache, const char *view);

/* The view directory of an image: CACHE/views/<first 24 hex of root hash>. */
int vial_view_dir(char *out, size_t size, const char *cache, const struct vial_image *image);

/* ---------------------------------------------------------------- session */

/* The session file the launcher writes and the interposer reads holds
 * `key=value` lines; its host_env line (the host's values of the variables
 * the package's environment changed, for host tools) is at most this long. */
#define VIAL_SESSION_HOST_ENV_MAX 16384

/* ---------------------------------------------------------- declared hooks */

/* A hook declared in a manifest's [hook NAME] section or given to the
 * interposer at run time (docs/manifest.md#hook): which function of which
 * library, its C signature in a small syntax, which argument is a path and
 * whether calls are logged. The interposer replaces the binding with a
 * libffi closure (docs/running.md#declared-hooks). Parsing never allocates:
 * the interposer parses declarations inside applications. */
enum vial_hook_type {
    VIAL_HOOK_VOID = 1,
    VIAL_HOOK_INT8, VIAL_HOOK_INT16, VIAL_HOOK_INT32, VIAL_HOOK_INT64,
    VIAL_HOOK_UINT8, VIAL_HOOK_UINT16, VIAL_HOOK_UINT32, VIAL_HOOK_UINT64,
    VIAL_HOOK_INT, VIAL_HOOK_LONG, VIAL_HOOK_SIZE, VIAL_HOOK_SSIZE, VIAL_HOOK_CHAR,
    VIAL_HOOK_PTR,    /* any pointer, logged as an address */
    VIAL_HOOK_STR,    /* const char *, logged as text */
    VIAL_HOOK_DOUBLE, VIAL_HOOK_FLOAT,
};

#define VIAL_HOOK_MAX_ARGS 16
#define VIAL_HOOK_NAME_MAX 128      /* hook name, library glob, symbol */
#define VIAL_HOOK_SIGNATURE_MAX 512 /* characters of signature text */

struct vial_hook_signature {
    uint8_t result;   /* enum vial_hook_type */
    uint8_t count;    /* arguments in all, a declared variadic tail included */
    uint8_t fixed;    /* arguments before "...": count when not variadic */
    uint8_t variadic; /* 1: "...: T, ..." declared the tail's types */
    uint8_t args[VIAL_HOOK_MAX_ARGS];
    char function[VIAL_HOOK_NAME_MAX + 1]; /* the name written in the signature, or "" */
};

enum vial_hook_path_mode {
    VIAL_HOOK_PATH_NONE = 0,
    VIAL_HOOK_PATH_READ,  /* resolved where the file really is (image files materialized) */
    VIAL_HOOK_PATH_WRITE, /* resolved for writing: copied up into the user's delta */
};

struct vial_hook {
    char name[VIAL_HOOK_NAME_MAX + 1];
    char library[VIAL_HOOK_NAME_MAX + 1]; /* soname or file name glob (fnmatch) */
    char symbol[VIAL_HOOK_NAME_MAX + 1];
    struct vial_hook_signature signature;
    unsigned path; /* 1-based index of the path argument; 0: none */
    enum vial_hook_path_mode path_mode;
    int log;
    unsigned keys; /* which keys were given (for "given twice"); 0 on a fresh hook */
};

/* Parses signature text: "RET [NAME](T [name], ... [, ...: T, ...])", types
 * int8..int64, uint8..uint64, int, long, size_t, ssize_t, char, ptr, str,
 * double, float, void. An untyped "..." is refused. VIAL_EMANIFEST and a
 * message without a line number on error. */
int vial_hook_parse_signature(struct vial_hook_signature *out, const char *text);

/* The canonical text of a signature (parses back to the same). */
int vial_hook_format_signature(char *out, size_t size, const struct vial_hook_signature *signature);

/* The name of a type as the syntax writes it ("size_t"), or "?". */
const char *vial_hook_type_name(int type);

/* Sets one key of a declaration (library, symbol, signature, path,
 * path_mode, log, name); a key given twice, an unknown key or a bad
 * value is VIAL_EMANIFEST with a message. `hook` starts zeroed. */
int vial_hook_set(struct vial_hook *hook, const char *key, const char *value);

/* The checks across keys once all are set: library and signature given,
 * the symbol (or the signature's name; they must agree), the path argument
 * a `str` of the signature. Fills in defaults (symbol, name, path_mode). */
int vial_hook_check(struct vial_hook *hook);

/* A whole declaration in one line of text, as the session file carries it
 * and `vial trace --hook` takes it:
 *   name=N library=GLOB symbol=S path=K path_mode=read|write log=yes|no signature=SIG
 * space-separated key=value words in any order, signature last (it takes
 * the rest of the line); only library and signature are required. Checked
 * with vial_hook_check. */
int vial_hook_parse(struct vial_hook *out, const char *text);

/* The declaration text of a checked hook (vial_hook_parse reads it back). */
int vial_hook_format(char *out, size_t size, const struct vial_hook *hook);

/* One session-file line for the hook: "hook=" DECLARATION "\n". The session
 * may hold any number of them; -ENAMETOOLONG if size is too small. */
int vial_hook_session_line(char *out, size_t size, const struct vial_hook *hook);

/* --------------------------------------------------------------- manifest */

struct vial_manifest_entry {
    char *name;
    char *exec;
    char *args;
    char *description;
    char *icon;
};

/* Isolation policies (DESIGN.md): what the app sees under a path prefix and
 * where its writes go. */
enum vial_isolation {
    VIAL_ISOLATION_PASSTHROUGH = 1, /* not virtualized: the host's, writes to the host */
    VIAL_ISOLATION_MERGED,          /* image over host; writes to image entries go to the delta */
    VIAL_ISOLATION_WRITECOPY,       /* image over host; every write goes to the delta */
    VIAL_ISOLATION_FULL,            /* image and delta only: the host is hidden */
};

/* One `PATH = KIND` line of [isolation]: path is absolute or "~" / "~/..."
 * (the user's home at launch), without ".", ".." or empty components. */
struct vial_manifest_isolation {
    char *path;
    enum vial_isolation kind;
};

/* The kind named by word ("full", ...), or 0. */
enum vial_isolation vial_isolation_from_name(const char *word);
const char *vial_isolation_name(enum vial_isolation kind);

/* What an [env] line does to its variable (docs/manifest.md#env). */
enum vial_env_operation {
    VIAL_ENV_SET = 1,
    VIAL_ENV_PREPEND,
    VIAL_ENV_APPEND,
    VIAL_ENV_UNSET,
};

/* One `NAME = [set|prepend|append] TEXT` or `NAME = unset` line of [env]. */
struct vial_manifest_env {
    char *name;
    enum vial_env_operation operation;
    char *text; /* "" for VIAL_ENV_UNSET */
    unsigned line;
};

/* One `KEY/NAME = VALUE` line of [registry]: the value is GVariant text,
 * checked by registry-shim when the package hive is built. */
struct vial_manifest_setting {
    char *path;
    char *value;
    unsigned line;
};

struct vial_manifest {
    char *name;
    char *version;
    char *summary;
    char *vendor;
    char *state_group; /* defaults to version */
    char *default_entry; /* defaults to the first [entry] */
    char *host_tools;    /* space-separated absolute paths that run outside the bubble */
    struct vial_manifest_entry *entries;
    size_t entry_count;
    struct vial_manifest_isolation *isolation; /* in file order */
    size_t isolation_count;
    struct vial_manifest_env *env; /* in file order */
    size_t env_count;
    struct vial_manifest_setting *registry; /* in file order */
    size_t registry_count;
    struct vial_hook *hooks; /* [hook NAME] sections, checked, in file order */
    size_t hook_count;
};

/* Parses and validates manifest text (INI). On error returns VIAL_EMANIFEST
 * with a message "line N: <reason>". The result is freed with
 * vial_manifest_free. */
int vial_manifest_parse(struct vial_manifest **out, const char *text, size_t length);
void vial_manifest_free(struct vial_manifest *manifest);

/* Whether s is a valid package or entry name: 1..64 of [A-Za-z0-9._+-],
 * starting with a letter or digit. */
int vial_manifest_name_valid(const char *s);

const struct vial_manifest_entry *vial_manifest_find_entry(const struct vial_manifest *manifest,
                                                           const char *name);

#endif
