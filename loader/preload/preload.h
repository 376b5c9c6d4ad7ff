/*
 * preload.h - the interposer's internals (libvial-preload.so), shared by its
 * files. The library is loaded twice per process: with LD_PRELOAD into the
 * application's namespace (the libc hooks) and with LD_AUDIT into the
 * loader's audit namespace (la_objsearch). Each copy has its own globals and
 * initializes itself lazily from the session named by $VIAL_SESSION.
 *
 * Rules for everything here: never exit, abort or print to the app's
 * stdout; keep errno as the kernel would leave it; our own libc calls go
 * through the busy guard so that they reach the real functions.
 */
#ifndef VIAL_PRELOAD_H
#define VIAL_PRELOAD_H

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "runtime/runtime.h"
#include "vfs.h"

#define VIAL_FD_TABLE_SIZE 65536

struct vial_session {
    int ready; /* 1: virtualizing; 0: not initialized; -1: no session (pass through);
                  VIAL_SESSION_BROKEN: a session that cannot be read (writes refused) */
    struct vial_image *image;
    struct vial_reader *reader; /* guarded by reader_lock */
    char image_path[PATH_MAX];
    char cache[PATH_MAX];
    char view[PATH_MAX];
    size_t view_length;
    char preload[PATH_MAX]; /* this library, re-injected into children */
    char session_path[PATH_MAX];
    char host_tools[4096]; /* ':'-separated virtual paths that leave the bubble */
    char host_env[VIAL_SESSION_HOST_ENV_MAX]; /* what host tools get back (session file) */
    int capture;                              /* vial sequence: programs that escape are refused */
    uid_t owner;                              /* who launched the bubble (owns the session file) */
    char profile[PATH_MAX];                   /* vial profile: where image files used are listed */
    char state[PATH_MAX];  /* the user's delta for this package ("" : none) */
    char home[PATH_MAX];
    struct vial_policy policy;
    struct vial_delta *delta;
    struct vial_namespace ns; /* image, delta, policy */
    int log_level;         /* 0 off, 1 info, 2 debug */
    int log_fd;
    dev_t image_device; /* st_dev reported for image entries */
};

extern struct vial_session vial_session;
/* Read on every hooked call, so initial-exec TLS (no __tls_get_addr call).
 * The launcher dlopens this library, which then needs its thread-local
 * storage in the loader's small static TLS surplus: keep the module's TLS
 * small (no large thread-local buffers). */
extern _Thread_local int vial_busy __attribute__((tls_model("initial-exec")));

/* Initializes the session once (thread-safe); returns vial_session.ready. */
int vial_preload_init(void);

/* Resolves a real libc function, bypassing our own definitions. */
void *vial_real(const char *name);
#define VIAL_SESSION_BROKEN (-2)

#define REAL(name)                                                                                 \
    ({                                                                                             \
        static __typeof__(&name) real_##name;                                                      \
        if (!real_##name)                                                                          \
            real_##name = (__typeof__(&name))vial_real(#name);                                     \
        real_##name;                                                                               \
    })

/* What a hook should do with a path. */
enum vial_route {
    VIAL_ROUTE_PASS = 0, /* not ours: call the real function with the caller's arguments */
    VIAL_ROUTE_HOST,     /* a host path, possibly rewritten: use result.path */
    VIAL_ROUTE_IMAGE,    /* an image entry: result.entry, virtual path result.path */
    VIAL_ROUTE_ERROR,    /* fail with errno = error */
};

struct vial_route_result {
    enum vial_route route;
    int error;
    int resolved; /* vfs holds the resolver's answer (also for some PASS) */
    const char *real; /* ROUTE_HOST: the real path (the host's, or the user's copy in upper/) */
    int trailing_slash; /* the path ended with '/': its last component must be a directory */
    int last_dot;       /* its last component was "." (1) or ".." (2) */
    struct vial_vfs_result vfs;
};

/* Classifies (dirfd, path) for an operation; follow: whether a final
 * symlink is followed. A path the user deleted routes to ENOENT. */
void vial_route(struct vial_route_result *out, int dirfd, const char *path, int follow);

/* The same for a call that changes the file system: never shortened by the
 * fast path (a path the image and the delta lack may still be writecopy),
 * and an ABSENT path stays resolved (route ERROR, vfs.kind ABSENT) so that
 * the caller can create it. */
void vial_route_write(struct vial_route_result *out, int dirfd, const char *path, int follow);

/* Whether a call that may write (dirfd, path) certainly concerns neither
 * the image nor the delta nor a virtualized policy. */
int vial_write_passes(int dirfd, const char *path);

/* The fast path, checked before any hook builds its large frame: whether
 * (dirfd, path) certainly does not concern the image. Costs a comparison
 * of the first path component with the image root's names (cached at
 * start) and a scan for "." components. */
struct vial_root_name {
    uint8_t length;
    char name[31];
};
extern struct vial_root_name vial_root_names[64];
extern int vial_root_name_count; /* -1: too many to cache, ask the index */
extern int vial_cwd_in_image; /* the cwd is virtualized: relative paths take the slow path */

/* Whether the first component of an absolute path is one the image or the
 * delta has at the root (the delta's names are re-read when it changes). */
int vial_first_component_in_image(const char *path);
const char *vial_fd_directory(int fd);

static inline int vial_needs_normalizing(const char *path)
{
    for (const char *p = path; (p = __builtin_strchr(p, '/')); p++)
        if (p[1] == '/' || (p[1] == '.' && (p[2] == '/' || p[2] == '\0' ||
                                            (p[2] == '.' && (p[3] == '/' || p[3] == '\0')))))
            return 1;
    return 0;
}

/* Whether a "." or ".." component may appear (also true for a name that
 * merely starts with a dot: then the slow path decides). Only such a path
 * can lead back into the image from a first component it lacks. */
static inline int vial_may_climb(const char *path)
{
    return __builtin_strstr(path, "/.") != NULL;
}

static inline int vial_pass_through(int dirfd, const char *path)
{
    if (vial_session.ready != 1)
        return vial_session.ready < 0 || path == NULL; /* 0: the slow path initializes */
    if (!path)
        return 1;
    if (path[0] == '/')
        return !vial_first_component_in_image(path) && !vial_may_climb(path);
    if (dirfd == -100 /* AT_FDCWD */)
        return !__atomic_load_n(&vial_cwd_in_image, __ATOMIC_RELAXED) && path[0] != '.' &&
               !vial_may_climb(path);
    return vial_fd_directory(dirfd) == NULL;
}

/* Materializes an image regular file and returns its view path in out. */
int vial_preload_materialize(char *out, size_t size, uint32_t entry);

/* The real directory standing for a virtual one: the host's if it has it,
 * else its place in the view (created only with create: callers try
 * without first and retry with it on ENOENT). */
int vial_preload_directory(char *out, size_t size, const char *virtual_path, int create);

/* The view path an image file has once materialized (it may not exist). */
int vial_preload_view_path(char *out, size_t size, uint32_t entry);

/* Maps a real path inside the view or the delta's upper/ back to its
 * virtual path, in place; returns 1 if it did. */
int vial_preload_unview(char *path, size_t size);

/* stat through the bubble, callable where the exported stat may bind to
 * libc's (the launcher dlopens this library). */
int vial_stat_path(const char *path, struct stat *st);

/* Fills a stat buffer from an image entry. */
void vial_preload_stat(struct stat *st, uint32_t entry);

/* Applies the owner the app recorded (virtualized chown) to a stat of a
 * path in the user's delta. */
void vial_preload_upper_owner(struct stat *st, const struct vial_vfs_result *r);

/* POSIX access check of the app's effective ids against metadata the
 * kernel does not hold (image entries, copies owned by the user). */
int vial_preload_permits(const struct stat *st, int mode);

/* Whether fd is a descriptor hooks_write.c keeps for itself. */
int vial_preload_owns_fd(int fd);

/* The open of a path for writing or creating (hooks_write.c). */
int vial_open_for_write(int dirfd, const char *path, int flags, mode_t mode);
/* The real path fopen should open for a writing mode; 0: open path itself. */
int vial_fopen_target(const char *path, int flags, char *real, size_t size);

/* fd table: image files and virtual directories opened by the app. */
void vial_fd_set_file(int fd, uint32_t entry);
void vial_fd_set_directory(int fd, const char *virtual_path);
int vial_fd_file(int fd, uint32_t *out_entry);       /* 1 if an image file */
const char *vial_fd_directory(int fd);               /* virtual path or NULL */
void vial_fd_clear(int fd);
void vial_fd_copy(int from, int to);

/* The virtual current directory, or NULL while it is a plain host one that
 * the image cannot touch (the common case, read without locking). */
int vial_cwd_get(char *out, size_t size);
void vial_cwd_refresh(void);

/* Logging, when VIAL_LOG asks for it (stderr or VIAL_LOG_FILE). */
void vial_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The environment a child needs to stay in the bubble: envp with
 * LD_PRELOAD, LD_AUDIT and VIAL_SESSION put back if the app removed them.
 * Returns a NULL-terminated array in storage (or a malloc'ed one if too
 * big; *allocated is set then). */
char **vial_child_env(char *const envp[], char **storage, size_t slots, char *text, size_t text_size,
                      int *allocated);

/* Declared hooks (hooks_declared.c). Application side, called by the
 * audit side's closures in the application's copy: resolves a path
 * argument for reading or writing into out (1), leaves it as it is (0), or
 * fails (-errno); the application's errno; one log line. */
int vial_hook_app_resolve(char *out, size_t size, const char *path, int writing);
int *vial_hook_app_errno(void);
void vial_hook_app_log(const char *line);
/* Audit side: the la_objopen flags for an object, and the address a
 * binding of symname (defined in `defining`) gets: a closure or the
 * symbol's own. */
struct link_map;
unsigned vial_hooks_objopen(struct link_map *map, long lmid);
/* (Elf64_Sym: only x86_64 is built) */
uintptr_t vial_hooks_bind(const void *elf_sym, const struct link_map *defining, const char *symname);
/* The one function that reports a declared hook's call (vial trace
 * redirects it): arguments as libffi passed them, the real path a path
 * argument was sent to (or NULL), the result, the call's errno if it
 * changed (else 0). */
struct vial_hook;
void hook_log_call(const struct vial_hook *hook, void **args, const char *real_path,
                   const void *result, int error);

/* Whether a virtual path is one of the manifest's host tools. */
int vial_is_host_tool(const char *path);

#endif
