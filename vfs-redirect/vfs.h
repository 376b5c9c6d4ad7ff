/*
 * vfs.h - the public API of Vial's virtual namespace (libvial-vfs): lexical
 * path rules, isolation policies, the user's delta (copy-on-write store) and
 * the layered resolver (delta over image over host).
 */
#ifndef VIAL_VFS_H
#define VIAL_VFS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "runtime/runtime.h"

struct vial_image;

/*
 * Normalizes path lexically into out (size bytes): relative paths are taken
 * from cwd (an absolute, normalized directory; may be NULL for "/"), empty
 * and "." components vanish, ".." removes the previous component and stops
 * at "/", and a trailing slash is dropped. Symlinks are not consulted: that
 * is the resolver's job. The result is absolute, starts with one "/", and
 * "/" alone for the root.
 * Returns 0, -EINVAL for an empty path, -ENAMETOOLONG if out is too small.
 */
int vial_vfs_normalize(char *out, size_t size, const char *path, const char *cwd);

/*
 * Debian 12 merged /usr: /bin, /sbin, /lib, /lib32, /lib64 and /libx32 are
 * symlinks to their /usr counterparts, yet packages still ship files under
 * the old names. Rewrites a normalized absolute path under one of those
 * aliases to its /usr form in place ("/lib/x" -> "/usr/lib/x"); returns 1 if
 * it did, 0 if the path is not under an alias, -ENAMETOOLONG if the result
 * would not fit in size.
 */
int vial_vfs_usr_merge(char *path, size_t size);

/* ------------------------------------------------------------- policies */

struct vial_policy_rule {
    char path[PATH_MAX]; /* absolute, normalized */
    size_t length;       /* 0 for "/" (matches every path) */
    int dot_pattern;     /* "~/.*": the entries of path whose name starts with '.' */
    enum vial_isolation kind;
};

struct vial_policy {
    char home[PATH_MAX];
    struct vial_policy_rule rules[64];
    int count;
    int has_full; /* a rule is `full`: the resolver asks before falling to the host */
};

/* DESIGN.md's defaults: / writecopy; /tmp, /var/tmp, /dev, /proc, /sys, /run
 * passthrough; home passthrough (documents) but its dot-entries writecopy
 * (~/.config, ~/.local/share, ~/.cache, dotfiles: per package). */
void vial_policy_defaults(struct vial_policy *policy, const char *home);
/* Adds or replaces a rule: prefix absolute, "~", "~/x" or "~/.*". */
int vial_policy_set(struct vial_policy *policy, const char *prefix, enum vial_isolation kind);
/* The policy of a normalized absolute path: the longest matching rule;
 * VIAL_ISOLATION_MERGED without a policy. */
enum vial_isolation vial_policy_of(const struct vial_policy *policy, const char *path);
/* Whether a rule other than passthrough lies strictly below directory. */
int vial_policy_reaches_below(const struct vial_policy *policy, const char *directory);
/* The rules as one line ("KIND PATH;KIND PATH/.*;...") and back. */
int vial_policy_format(const struct vial_policy *policy, char *out, size_t size);
int vial_policy_parse(struct vial_policy *policy, const char *text, const char *home);

/* ---------------------------------------------------------------- delta */

/* What the table knows about a path the user changed. */
#define VIAL_DELTA_DIR 0x1u       /* a directory in upper/ (lower entries show through) */
#define VIAL_DELTA_FILE 0x2u      /* a regular file (or other non-directory) */
#define VIAL_DELTA_SYMLINK 0x4u   /* a symlink */
#define VIAL_DELTA_WHITEOUT 0x8u  /* deleted: lower layers' entry is hidden */
#define VIAL_DELTA_OPAQUE 0x10u   /* with DIR: lower layers' children are hidden */
#define VIAL_DELTA_OWNER 0x20u    /* the owner the app set is recorded in an xattr */
#define VIAL_DELTA_NOSEARCH 0x40u /* with DIR: its mode denies search to someone (checked) */
#define VIAL_DELTA_NEW 0x80u      /* with DIR: made by the app where no layer had it: */
                                  /* nothing below it is looked up in lower layers */
#define VIAL_DELTA_PRESENT (VIAL_DELTA_DIR | VIAL_DELTA_FILE | VIAL_DELTA_SYMLINK)

/* On disk: a whiteout is a symlink with this target; an opaque directory
 * holds an empty file of this name; a recorded owner is this xattr
 * ("UID:GID"). Names with control characters never come from an image. */
#define VIAL_DELTA_WHITEOUT_TARGET "\001vial-whiteout"
#define VIAL_DELTA_OPAQUE_NAME "\001vial-opaque"
#define VIAL_DELTA_OWNER_XATTR "user.vial.owner"

struct vial_delta;

/* Opens the store in directory (upper/, work/, index, lock); with create,
 * makes what is missing, repairs the table from the tree if needed and
 * clears copies left by dead processes. */
int vial_delta_open(struct vial_delta **out, const char *directory, int create);
void vial_delta_close(struct vial_delta *delta);
const char *vial_delta_directory(const struct vial_delta *delta);
const char *vial_delta_upper(const struct vial_delta *delta);
/* A descriptor of upper/ (changes are made relative to it: shorter walks). */
int vial_delta_upper_fd(const struct vial_delta *delta);
/* A counter of directory renames and removals in upper/, by any instance:
 * a process may keep descriptors of upper/ directories while it does not
 * move (vial_delta_moved bumps it). */
uint64_t vial_delta_moves(struct vial_delta *delta);
void vial_delta_moved(struct vial_delta *delta);
/* Whether fd is one of the store's own descriptors (an app that closes
 * every descriptor must not take them). */
int vial_delta_owns_fd(const struct vial_delta *delta, int fd);

/* Path hashes: FNV-1a over "/a/b", extendable one component at a time. */
uint64_t vial_delta_hash_root(void);
uint64_t vial_delta_hash_extend(uint64_t hash, const char *component, size_t length);
uint64_t vial_delta_hash_path(const char *path);

/* The flags of a path hash (0: unchanged). No system call. */
uint32_t vial_delta_lookup(struct vial_delta *delta, uint64_t hash);
/* Bumped by every change of any instance. */
uint64_t vial_delta_generation(struct vial_delta *delta);
/* The names of the top-level directories the delta has (-1 if too many). */
int vial_delta_roots(struct vial_delta *delta, char names[][32], int capacity);

/* Real path in upper/ of a virtual path; maps an upper path back (in place,
 * 1 if it did). */
int vial_delta_upper_path(const struct vial_delta *delta, char *out, size_t size, const char *path);
int vial_delta_unupper(const struct vial_delta *delta, char *path);

/* Copy-up and edits. Every one takes the store's lock and updates the
 * table after the tree; parents must already be in upper/. */
int vial_delta_copy_file(struct vial_delta *delta, const char *path, int source,
                         const struct stat *meta, int with_contents);
int vial_delta_copy_symlink(struct vial_delta *delta, const char *path, const char *target);
int vial_delta_copy_directory(struct vial_delta *delta, const char *path, const struct stat *meta);
int vial_delta_whiteout(struct vial_delta *delta, const char *path);
/* Removes a whiteout at path (returns 1 if there was one) and forgets path. */
int vial_delta_forget(struct vial_delta *delta, const char *path);
/* Records every entry below directory path in upper/ (it was renamed or
 * exchanged there as a whole). */
int vial_delta_rescan(struct vial_delta *delta, const char *path);
/* Sets the table's entry for path from what upper/ holds there now (the
 * caller created, removed or renamed it): whatever the order in which
 * instances change one path, the last one leaves the table true. */
int vial_delta_sync(struct vial_delta *delta, const char *path);
/* Records a path the caller just created in upper/ where no layer had it
 * (nothing to hide, no race to lose): without the lock in the common case. */
int vial_delta_record_new(struct vial_delta *delta, const char *path, uint32_t flags);
/* Records flags for a path the caller created or removed in upper/. */
int vial_delta_record(struct vial_delta *delta, const char *path, uint32_t flags);
int vial_delta_mark_opaque(struct vial_delta *delta, const char *path);
int vial_delta_owner(struct vial_delta *delta, const char *path, uid_t *uid, gid_t *gid);
int vial_delta_set_owner(struct vial_delta *delta, const char *path, uid_t uid, gid_t gid);
/* Whether directory metadata st denies this process search permission
 * (its copy is then flagged VIAL_DELTA_NOSEARCH). */
int vial_delta_denies_search(const struct stat *st);
/* The lock around a change made by the caller (begin/end pair). */
int vial_delta_begin(struct vial_delta *delta);
void vial_delta_end(struct vial_delta *delta);
int vial_delta_set(struct vial_delta *delta, const char *path, uint32_t flags);

/* ------------------------------------------------------------- resolver */

/* The layers a path is resolved through. Any pointer may be NULL: no image,
 * no delta, no policy (then every path is merged). */
struct vial_namespace {
    const struct vial_image *image;
    struct vial_delta *delta;
    const struct vial_policy *policy;
};

/* Where a path really is. */
enum vial_vfs_kind {
    VIAL_VFS_HOST = 1,   /* not in the image or the delta: `path` on the host */
    VIAL_VFS_IMAGE = 2,  /* an image entry: `entry`; `path` is its virtual path */
    VIAL_VFS_UPPER = 3,  /* the user's copy: `upper`; `path` is its virtual path */
    VIAL_VFS_ABSENT = 4, /* deleted by the user, or hidden by policy: ENOENT */
};

struct vial_vfs_result {
    enum vial_vfs_kind kind;
    uint32_t entry;
    unsigned symlinks;           /* symlinks followed on the way */
    uint32_t delta_flags;        /* UPPER: the table's flags */
    int image_below;             /* UPPER/ABSENT: the image has the path too (entry) */
    int host_visible;            /* the host's entry at path is not hidden */
    enum vial_isolation policy;  /* of path */
    char path[4096];             /* absolute virtual path */
    char upper[4096];            /* UPPER: the real path in upper/ */
};

/*
 * Resolves an absolute, normalized path (vial_vfs_normalize) through the
 * delta layered over the image over the host:
 *  - each component is looked up in the delta's table (no system call),
 *    then in the image; the delta hides the image, the image the host;
 *    directories merge unless the delta marked them opaque;
 *  - a whiteout ends the walk: the path is ABSENT (or -ENOENT midway);
 *  - the first component neither has ends the walk: the rest is the host's
 *    (the kernel resolves it), unless the policy there is `full` (ABSENT);
 *  - passthrough paths skip the delta, but for the directories it has on
 *    the way (UPPER, so that a listing of ~ shows ~/.config);
 *  - symlinks of the image and the delta are followed (absolute targets
 *    inside the namespace, at most 40), the last one only with follow_last;
 *  - the merged-/usr aliases are tried both ways in the image; with a
 *    delta, paths under them are taken in their /usr form.
 * Returns 0, or -ELOOP, -ENOTDIR, -ENOENT, -ENAMETOOLONG.
 */
int vial_vfs_resolve(struct vial_vfs_result *out, const struct vial_namespace *ns,
                     const char *path, int follow_last);

#endif
