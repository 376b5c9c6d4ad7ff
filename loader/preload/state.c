/*
 * state.c - the interposer's session, routing, fd table and logging.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "preload.h"
#include "trace.h"

struct vial_session vial_session = {.log_fd = -1};
struct vial_root_name vial_root_names[64];
int vial_root_name_count;
int vial_cwd_in_image; /* read without the lock: a hint for the fast path */
_Thread_local int vial_busy __attribute__((tls_model("initial-exec")));

static pthread_mutex_t reader_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------ real calls */

void *vial_real(const char *name)
{
    /* dlsym may allocate; nothing we hook allocates, so no re-entry. */
    vial_busy++;
    void *f = dlsym(RTLD_NEXT, name);
    vial_busy--;
    return f;
}

/* --------------------------------------------------------------- logging */

void vial_log(int level, const char *fmt, ...)
{
    if (vial_session.log_level < level || vial_session.log_fd < 0)
        return;
    char line[1024];
    int saved = errno;
    int n = snprintf(line, sizeof line, "vial[%d]: ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    vial_busy++;
    ssize_t ignored = write(vial_session.log_fd, line, (size_t)n);
    (void)ignored;
    vial_busy--;
    errno = saved;
}

/* --------------------------------------------------------------- session */

/* The session's policy line, parsed once the file is read. */
static char policy_text[8192];
/* A streamed image's chunk store and fetch agent (both "" for a local one). */
static char stream_chunks[4096], stream_agent[4096];
/* vial trace: the file, "text" or "json", the functions wanted ("" : all) */
static char trace_file[PATH_MAX], trace_format[16], trace_calls[1024];

/* The session file: "key=value" lines written by the launcher. */
static int read_session(const char *path)
{
    static char text[65536]; /* read once, at initialisation, under its lock */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    vial_session.owner = REAL(fstat)(fd, &st) == 0 ? st.st_uid : getuid();
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -EINVAL;
    text[n] = '\0';
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *value = strchr(line, '=');
        if (!value)
            continue;
        *value++ = '\0';
        struct { const char *key; char *field; size_t size; } keys[] = {
            {"image", vial_session.image_path, sizeof vial_session.image_path},
            {"cache", vial_session.cache, sizeof vial_session.cache},
            {"view", vial_session.view, sizeof vial_session.view},
            {"preload", vial_session.preload, sizeof vial_session.preload},
            {"host_tools", vial_session.host_tools, sizeof vial_session.host_tools},
            {"host_env", vial_session.host_env, sizeof vial_session.host_env},
            {"profile", vial_session.profile, sizeof vial_session.profile},
            {"state", vial_session.state, sizeof vial_session.state},
            {"home", vial_session.home, sizeof vial_session.home},
            {"policy", policy_text, sizeof policy_text},
            {"chunks", stream_chunks, sizeof stream_chunks},
            {"agent", stream_agent, sizeof stream_agent},
            {"trace", trace_file, sizeof trace_file},
            {"trace_format", trace_format, sizeof trace_format},
            {"trace_calls", trace_calls, sizeof trace_calls},
        };
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (strcmp(line, keys[i].key) == 0)
                snprintf(keys[i].field, keys[i].size, "%s", value);
        if (strcmp(line, "capture") == 0)
            vial_session.capture = strcmp(value, "1") == 0;
    }
    if (!vial_session.image_path[0] || !vial_session.view[0] || !vial_session.cache[0])
        return -EINVAL;
    if (policy_text[0] && vial_policy_parse(&vial_session.policy, policy_text, vial_session.home) < 0)
        return -EINVAL;
    return 0;
}

static void open_log(void)
{
    const char *level = getenv("VIAL_LOG");
    if (!level || !*level)
        return;
    vial_session.log_level = strcmp(level, "debug") == 0 ? 2 : 1;
    const char *file = getenv("VIAL_LOG_FILE");
    vial_session.log_fd = file && *file ? open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)
                                        : fcntl(2, F_DUPFD_CLOEXEC, 1000);
}

static void adopt_inherited_directories(void);

/* The image root's names, for the fast path; the merged-/usr aliases count
 * as present when the image has usr. */
static void cache_root_names(void)
{
    uint32_t first, count;
    if (vial_image_children(&first, &count, vial_session.image, 0) < 0 || count > 48) {
        vial_root_name_count = -1;
        return;
    }
    int n = 0, has_usr = 0;
    for (uint32_t c = first; c < first + count; c++) {
        struct vial_entry e;
        if (vial_image_entry(&e, vial_session.image, c) < 0 ||
            e.name_length >= sizeof vial_root_names[0].name) {
            vial_root_name_count = -1;
            return;
        }
        vial_root_names[n].length = (uint8_t)e.name_length;
        memcpy(vial_root_names[n].name, e.name, e.name_length);
        has_usr |= e.name_length == 3 && memcmp(e.name, "usr", 3) == 0;
        n++;
    }
    static const char *const aliases[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
    for (size_t i = 0; has_usr && i < sizeof aliases / sizeof aliases[0]; i++) {
        vial_root_names[n].length = (uint8_t)strlen(aliases[i]);
        memcpy(vial_root_names[n].name, aliases[i], vial_root_names[n].length);
        n++;
    }
    vial_root_name_count = n;
}

/* The session named at load time (the app may clear its environment
 * before the first hooked call). */
static char session_at_load[PATH_MAX];

static void initialize(void)
{
    const char *path = getenv("VIAL_SESSION");
    if ((!path || !*path) && session_at_load[0])
        path = session_at_load;
    vial_session.ready = -1;
    vial_trace_state = 0; /* until the session asks for it */
    if (!path || !*path)
        return;
    vial_busy++;
    open_log();
    snprintf(vial_session.session_path, sizeof vial_session.session_path, "%s", path);
    int rc = read_session(path);
    if (rc == 0)
        rc = vial_image_open_path(&vial_session.image, vial_session.image_path, 0);
    if (rc == 0 && stream_chunks[0] && stream_agent[0])
        rc = vial_image_attach_stream(vial_session.image, vial_session.image_path, stream_chunks,
                                      stream_agent);
    if (rc < 0) {
        /* a process of the bubble that cannot read its session (it switched
         * to another user, or the session is gone) must not write where the
         * bubble would have kept it off the host: fail closed */
        vial_log(1, "session %s unusable (%s): host files are read-only here", path,
                 vial_error_last()[0] ? vial_error_last() : strerror(-rc));
        vial_image_close(vial_session.image);
        vial_session.image = NULL;
        vial_session.ready = VIAL_SESSION_BROKEN;
    } else {
        vial_session.view_length = strlen(vial_session.view);
        vial_session.ns.image = vial_session.image;
        vial_session.ns.policy = policy_text[0] ? &vial_session.policy : NULL;
        if (vial_session.state[0]) {
            int drc = vial_delta_open(&vial_session.delta, vial_session.state, 0);
            if (drc < 0)
                vial_log(1, "cannot open the delta %s (%s): writes to virtual paths fail",
                         vial_session.state, strerror(-drc));
            vial_session.ns.delta = vial_session.delta;
        }
        /* a device number no real file system uses: major 0xfff */
        const uint8_t *hash = vial_image_header(vial_session.image)->root_hash;
        vial_session.image_device = makedev(0xfff, (hash[0] | hash[1] << 8) & 0xfffff);
        cache_root_names();
        vial_session.ready = 1;
        vial_trace_setup(trace_file, trace_format, trace_calls);
        vial_cwd_refresh();
        adopt_inherited_directories();
        vial_log(2, "session %s: image %s", path, vial_session.image_path);
    }
    vial_busy--;
}

/* At load time, before main: remember the session, which an application
 * may remove from its environment (env -i, clearenv) before its first
 * hooked call. Initializing is left to the first call that needs it, so a
 * process that never touches a path pays nothing more. */
__attribute__((constructor)) static void remember_session(void)
{
    const char *path = getenv("VIAL_SESSION");
    if (path && strlen(path) < sizeof session_at_load)
        strcpy(session_at_load, path);
}

int vial_preload_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (vial_session.ready == 0)
        pthread_once(&once, initialize);
    return vial_session.ready;
}

int vial_is_host_tool(const char *path)
{
    const char *list = vial_session.host_tools;
    size_t n = strlen(path);
    while (*list) {
        size_t length = strcspn(list, ":");
        if (length == n && memcmp(list, path, n) == 0)
            return 1;
        list += length + (list[length] == ':');
    }
    return 0;
}

/* ------------------------------------------------------------- fd table */

/* Indexed by fd; anonymous memory (fork copies it; untouched pages cost
 * nothing). file: entry + 1 of an image file; directory: a virtual path. */
static uint32_t *fd_files;
static char **fd_directories;

static int fd_tables(void)
{
    if (fd_files)
        return 1;
    void *files = mmap(NULL, VIAL_FD_TABLE_SIZE * sizeof *fd_files, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *directories = mmap(NULL, VIAL_FD_TABLE_SIZE * sizeof *fd_directories,
                             PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (files == MAP_FAILED || directories == MAP_FAILED)
        return 0;
    fd_directories = directories;
    __atomic_store_n(&fd_files, files, __ATOMIC_RELEASE);
    return 1;
}

void vial_fd_set_file(int fd, uint32_t entry)
{
    if (fd >= 0 && fd < VIAL_FD_TABLE_SIZE && fd_tables()) {
        fd_files[fd] = entry + 1;
        free(__atomic_exchange_n(&fd_directories[fd], NULL, __ATOMIC_ACQ_REL));
    }
}

void vial_fd_set_directory(int fd, const char *virtual_path)
{
    if (fd >= 0 && fd < VIAL_FD_TABLE_SIZE && fd_tables()) {
        fd_files[fd] = 0;
        vial_busy++;
        char *copy = strdup(virtual_path);
        vial_busy--;
        free(__atomic_exchange_n(&fd_directories[fd], copy, __ATOMIC_ACQ_REL));
    }
}

int vial_fd_file(int fd, uint32_t *out_entry)
{
    uint32_t *files = __atomic_load_n(&fd_files, __ATOMIC_ACQUIRE);
    if (!files || fd < 0 || fd >= VIAL_FD_TABLE_SIZE || files[fd] == 0)
        return 0;
    *out_entry = files[fd] - 1;
    return 1;
}

const char *vial_fd_directory(int fd)
{
    if (!__atomic_load_n(&fd_files, __ATOMIC_ACQUIRE) || fd < 0 || fd >= VIAL_FD_TABLE_SIZE)
        return NULL;
    return __atomic_load_n(&fd_directories[fd], __ATOMIC_ACQUIRE);
}

void vial_fd_clear(int fd)
{
    if (!__atomic_load_n(&fd_files, __ATOMIC_ACQUIRE) || fd < 0 || fd >= VIAL_FD_TABLE_SIZE)
        return;
    fd_files[fd] = 0;
    if (fd_directories[fd])
        free(__atomic_exchange_n(&fd_directories[fd], NULL, __ATOMIC_ACQ_REL));
}

void vial_fd_copy(int from, int to)
{
    uint32_t entry;
    const char *directory;
    if (from == to)
        return;
    if (vial_fd_file(from, &entry))
        vial_fd_set_file(to, entry);
    else if ((directory = vial_fd_directory(from)))
        vial_fd_set_directory(to, directory);
    else
        vial_fd_clear(to);
}

/* Directory descriptors survive exec, our table does not: a new process
 * finds the ones that stand for image directories again. */
static void adopt_inherited_directories(void)
{
    DIR *fds = opendir("/proc/self/fd");
    struct dirent *d;
    if (!fds)
        return;
    int own = dirfd(fds);
    while ((d = readdir(fds))) {
        char link[64], target[PATH_MAX];
        int fd = atoi(d->d_name);
        if (d->d_name[0] == '.' || fd == own)
            continue;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0 || target[0] != '/')
            continue;
        target[n] = '\0';
        vial_preload_unview(target, sizeof target);
        struct vial_vfs_result r;
        struct vial_entry e;
        if (vial_vfs_resolve(&r, &vial_session.ns, target, 1) < 0)
            continue;
        if ((r.kind == VIAL_VFS_IMAGE && vial_image_entry(&e, vial_session.image, r.entry) == 0 &&
             e.primary_type == VIAL_ENTRY_DIRECTORY) ||
            (r.kind == VIAL_VFS_UPPER && (r.delta_flags & VIAL_DELTA_DIR)))
            vial_fd_set_directory(fd, r.path);
    }
    closedir(fds);
}

/* ------------------------------------------------------------------ cwd */

/* The virtual cwd when the real one is inside the view, or when it lies
 * under a directory the image has; empty while it is a host directory the
 * image does not reach (then relative paths pass through untouched). */
static pthread_mutex_t cwd_lock = PTHREAD_MUTEX_INITIALIZER;
static char cwd_virtual[PATH_MAX];

void vial_cwd_refresh(void)
{
    char real[PATH_MAX];
    vial_busy++;
    char *ok = getcwd(real, sizeof real);
    vial_busy--;
    pthread_mutex_lock(&cwd_lock);
    if (ok) {
        vial_preload_unview(real, sizeof real);
        /* relative paths may lead into the image or the delta, or be
         * virtualized by a policy: then they take the slow path */
        const struct vial_policy *policy = vial_session.ns.policy;
        int in_image = vial_first_component_in_image(real) ||
                       (policy && (vial_policy_of(policy, real) != VIAL_ISOLATION_PASSTHROUGH ||
                                   vial_policy_reaches_below(policy, real)));
        snprintf(cwd_virtual, sizeof cwd_virtual, "%s", real);
        __atomic_store_n(&vial_cwd_in_image, in_image, __ATOMIC_RELEASE);
    } else {
        cwd_virtual[0] = '\0';
        __atomic_store_n(&vial_cwd_in_image, 0, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&cwd_lock);
}

int vial_cwd_get(char *out, size_t size)
{
    pthread_mutex_lock(&cwd_lock);
    int ok = cwd_virtual[0] != '\0';
    snprintf(out, size, "%s", cwd_virtual);
    pthread_mutex_unlock(&cwd_lock);
    return ok;
}

/* -------------------------------------------------------------- routing */

int vial_preload_unview(char *path, size_t size)
{
    size_t n = vial_session.view_length;
    (void)size;
    if (vial_session.delta && vial_delta_unupper(vial_session.delta, path))
        return 1;
    if (n == 0 || strncmp(path, vial_session.view, n) != 0 || (path[n] != '/' && path[n] != '\0'))
        return 0;
    if (path[n] == '\0') {
        strcpy(path, "/");
        return 1;
    }
    memmove(path, path + n, strlen(path + n) + 1);
    return 1;
}

/* The delta's top-level names, re-read when its generation moves. */
static char delta_roots[64][32];
static int delta_root_count; /* -1: unknown (too many): every path is slow */
static uint64_t delta_roots_generation = UINT64_MAX;
static pthread_mutex_t delta_roots_lock = PTHREAD_MUTEX_INITIALIZER;

static int in_delta_roots(const char *name, size_t n)
{
    struct vial_delta *delta = vial_session.delta;
    if (!delta)
        return 0;
    uint64_t generation = vial_delta_generation(delta);
    if (generation != __atomic_load_n(&delta_roots_generation, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&delta_roots_lock);
        delta_root_count = vial_delta_roots(delta, delta_roots, 64);
        __atomic_store_n(&delta_roots_generation, generation, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&delta_roots_lock);
    }
    int count = delta_root_count;
    if (count < 0)
        return 1;
    for (int i = 0; i < count; i++)
        if (delta_roots[i][0] == name[0] && strncmp(delta_roots[i], name, n) == 0 &&
            delta_roots[i][n] == '\0')
            return 1;
    return 0;
}

int vial_first_component_in_image(const char *path)
{
    const char *name = path + 1;
    size_t n = 0;
    while (name[n] && name[n] != '/') /* names are short: a loop beats strcspn */
        n++;
    if (n == 0)
        return 1; /* the root */
    if (in_delta_roots(name, n))
        return 1;
    if (vial_root_name_count >= 0) {
        for (int i = 0; i < vial_root_name_count; i++)
            if (vial_root_names[i].length == n && vial_root_names[i].name[0] == name[0] &&
                memcmp(vial_root_names[i].name, name, n) == 0)
                return 1;
        return 0;
    }
    uint32_t child;
    return vial_image_child(&child, vial_session.image, 0, name, n) == 0 ||
           vial_image_child(&child, vial_session.image, 0, "usr", 3) == 0;
}

/* The virtual directory a descriptor stands for, when our table does not
 * know it: asked from the kernel (a system call: only for writes). */
static int fd_virtual_directory(int fd, char *out, size_t size)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    vial_busy++;
    ssize_t n = readlink(link, out, size - 1);
    vial_busy--;
    if (n <= 0 || out[0] != '/')
        return 0;
    out[n] = '\0';
    vial_preload_unview(out, size);
    return 1;
}

static void route_decide(struct vial_route_result *out, int dirfd, const char *path, int follow,
                         int writing)
{
    char absolute[PATH_MAX], joined[2 * PATH_MAX];
    const char *base = NULL;
    out->route = VIAL_ROUTE_PASS;
    out->error = 0;
    out->resolved = 0;
    out->real = path;
    out->trailing_slash = 0;
    out->last_dot = 0;
    if (!path)
        return;
    int ready = vial_preload_init();
    if (ready == VIAL_SESSION_BROKEN && writing) {
        out->route = VIAL_ROUTE_ERROR; /* (vial_write_passes let the passthrough paths go) */
        out->error = EACCES;
        return;
    }
    if (ready != 1)
        return;
    if (!writing && vial_pass_through(dirfd, path))
        return;
    {
        /* what normalizing loses: "x/" and "x/." must be directories */
        size_t n = strlen(path);
        const char *last = path + n;
        while (last > path && last[-1] == '/')
            last--;
        out->trailing_slash = last < path + n && last > path;
        while (last > path && last[-1] != '/')
            last--;
        if (strcmp(last, ".") == 0 || strncmp(last, "./", 2) == 0)
            out->last_dot = 1;
        else if (strcmp(last, "..") == 0 || strncmp(last, "../", 3) == 0)
            out->last_dot = 2;
        if (out->last_dot)
            out->trailing_slash = 1;
        if (out->trailing_slash)
            follow = 1; /* "link/" is the link's target */
    }
    if (path[0] == '/') {
        base = NULL;
    } else if (dirfd == AT_FDCWD) {
        if (!vial_cwd_get(absolute, sizeof absolute))
            return;
        base = absolute;
    } else {
        base = vial_fd_directory(dirfd);
        if (!base && writing && fd_virtual_directory(dirfd, absolute, sizeof absolute))
            base = absolute;
        if (!base)
            return; /* a host directory the image does not reach */
    }
    if (base) {
        if ((size_t)snprintf(joined, sizeof joined, "%s/%s", base, path) >= PATH_MAX) {
            out->route = VIAL_ROUTE_ERROR;
            out->error = ENAMETOOLONG;
            return;
        }
        path = joined;
    }
    char normalized[PATH_MAX];
    size_t length = strlen(path);
    int plain = !base && !vial_needs_normalizing(path) && length < sizeof normalized;
    if (plain) { /* already normalized but for a trailing slash */
        memcpy(normalized, path, length + 1);
        if (length > 1 && normalized[length - 1] == '/')
            normalized[length - 1] = '\0';
    } else if (vial_vfs_normalize(normalized, sizeof normalized, path, NULL) < 0) {
        out->route = VIAL_ROUTE_ERROR;
        out->error = ENAMETOOLONG;
        return;
    }
    vial_busy++; /* the resolver reads the delta's symlinks with the real calls */
    int rc = vial_vfs_resolve(&out->vfs, &vial_session.ns, normalized, follow);
    vial_busy--;
    if (rc < 0) {
        out->route = VIAL_ROUTE_ERROR;
        out->error = -rc;
        return;
    }
    out->resolved = 1;
    if (out->trailing_slash && out->vfs.kind != VIAL_VFS_ABSENT) {
        /* the kernel checks a real path's trailing slash; we check the image's */
        struct vial_entry e;
        if (out->vfs.kind == VIAL_VFS_IMAGE) {
            if (vial_image_entry(&e, vial_session.image, out->vfs.entry) == 0 &&
                e.primary_type != VIAL_ENTRY_DIRECTORY) {
                out->route = VIAL_ROUTE_ERROR;
                out->error = ENOTDIR;
                return;
            }
        } else {
            /* the real path gets the slash back (a host path's copy goes
             * in the unused upper buffer; vfs.path stays the virtual path) */
            if (out->vfs.kind == VIAL_VFS_HOST || out->vfs.policy == VIAL_ISOLATION_PASSTHROUGH)
                strcpy(out->vfs.upper, out->vfs.path);
            size_t n = strlen(out->vfs.upper);
            if (n > 1 && n + 1 < sizeof out->vfs.upper) {
                out->vfs.upper[n] = '/';
                out->vfs.upper[n + 1] = '\0';
            }
            plain = 0;
        }
    }
    switch (out->vfs.kind) {
    case VIAL_VFS_IMAGE:
        out->route = VIAL_ROUTE_IMAGE;
        return;
    case VIAL_VFS_UPPER:
        /* a passthrough directory the delta holds virtualized entries of
         * is the host's, but for its listing */
        out->route = VIAL_ROUTE_HOST;
        out->real = out->vfs.policy == VIAL_ISOLATION_PASSTHROUGH && !out->trailing_slash
                        ? out->vfs.path
                        : out->vfs.upper;
        return;
    case VIAL_VFS_ABSENT:
        out->route = VIAL_ROUTE_ERROR;
        out->error = ENOENT;
        return;
    case VIAL_VFS_HOST:
        break;
    }
    /* a host path: pass the caller's own arguments through unless a base
     * directory or an image symlink changed what the path means */
    out->real = out->trailing_slash ? out->vfs.upper : out->vfs.path;
    out->route = base || !plain || strcmp(out->vfs.path, normalized) != 0 ? VIAL_ROUTE_HOST
                                                                          : VIAL_ROUTE_PASS;
    if (out->route == VIAL_ROUTE_PASS)
        out->real = path;
}

/* The one place every hook's path is decided: vial trace notes it here. */
static void route(struct vial_route_result *out, int dirfd, const char *path, int follow,
                  int writing)
{
    route_decide(out, dirfd, path, follow, writing);
    if (VIAL_TRACING())
        vial_trace_route(out);
}

void vial_route(struct vial_route_result *out, int dirfd, const char *path, int follow)
{
    route(out, dirfd, path, follow, 0);
}

void vial_route_write(struct vial_route_result *out, int dirfd, const char *path, int follow)
{
    route(out, dirfd, path, follow, 1);
}

/* Without a session: the paths DESIGN.md always leaves to the host. */
static int default_passthrough(const char *path)
{
    static const char *const prefixes[] = {"/tmp", "/var/tmp", "/dev", "/proc", "/sys", "/run"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(path, prefixes[i], n) == 0 && (path[n] == '/' || path[n] == '\0'))
            return !strstr(path, "/..");
    }
    return 0;
}

int vial_write_passes(int dirfd, const char *path)
{
    if (vial_session.ready == VIAL_SESSION_BROKEN)
        return path == NULL || default_passthrough(path);
    if (vial_session.ready != 1)
        return vial_session.ready < 0 || path == NULL;
    if (!path || !vial_pass_through(dirfd, path))
        return !path;
    if (!vial_session.ns.policy)
        return !vial_session.ns.delta;
    if (path[0] == '/')
        return !vial_needs_normalizing(path) &&
               vial_policy_of(vial_session.ns.policy, path) == VIAL_ISOLATION_PASSTHROUGH;
    /* relative to a cwd the fast path does not virtualize, or to a
     * descriptor our table does not know: the slow path asks the kernel */
    return dirfd == AT_FDCWD;
}

void vial_preload_upper_owner(struct stat *st, const struct vial_vfs_result *r)
{
    uid_t uid;
    gid_t gid;
    if (r->kind != VIAL_VFS_UPPER || !(r->delta_flags & VIAL_DELTA_OWNER) || !vial_session.delta)
        return;
    vial_busy++;
    if (vial_delta_owner(vial_session.delta, r->path, &uid, &gid) == 0) {
        st->st_uid = uid;
        st->st_gid = gid;
    }
    vial_busy--;
}

/* ------------------------------------------------------- materializing */

/* vial profile: every image file the application uses, in order, as an
 * entry index per line appended to the session's profile file (one write
 * of a few bytes: O_APPEND keeps processes' lines whole). */
static void record_launch(uint32_t entry)
{
    char line[16];
    int n = snprintf(line, sizeof line, "%u\n", entry);
    int saved = errno;
    int fd = open(vial_session.profile, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) != n)
            vial_log(1, "cannot record entry %u in %s", entry, vial_session.profile);
        close(fd);
    }
    errno = saved;
}

/* A damaged image is the one failure the user must hear of without
 * VIAL_LOG: the application only sees EIO and says "Input/output error".
 * So it goes to stderr, once per process, whatever the log level (the
 * one exception to the interposer's silence; never stdout). */
static void report_damage(uint32_t entry)
{
    static int reported;
    char path[PATH_MAX], line[1024];
    int saved = errno;
    if (vial_image_path(path, sizeof path, vial_session.image, entry) < 0)
        snprintf(path, sizeof path, "#%u", entry);
    int n = snprintf(line, sizeof line,
                     "vial: %s: /%s: %s; refused (the image is damaged: check it with 'vial "
                     "verify %s')\n",
                     vial_session.image_path, path, vial_error_last(), vial_session.image_path);
    vial_log(1, "%.*s", n > 0 ? n - 1 : 0, line);
    if (!__atomic_exchange_n(&reported, 1, __ATOMIC_RELAXED) && n > 0) {
        ssize_t ignored = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)ignored;
    }
    errno = saved;
}

int vial_preload_materialize(char *out, size_t size, uint32_t entry)
{
    vial_busy++;
    int rc = 0;
    struct stat st;
    /* A streamed file not in the view yet: its chunks are fetched before
     * the reader's lock is taken, so that the process's other threads go
     * on opening what is cached meanwhile. */
    if (vial_image_mirror(vial_session.image) &&
        (vial_preload_view_path(out, size, entry) < 0 || stat(out, &st) < 0))
        rc = vial_stream_fetch_file(vial_session.image, entry);
    if (rc == 0) {
        pthread_mutex_lock(&reader_lock);
        rc = vial_session.reader ? 0 : vial_reader_new(&vial_session.reader, vial_session.image);
        if (rc == 0)
            rc = vial_materialize(out, size, vial_session.reader, entry, vial_session.cache,
                                  vial_session.view);
        pthread_mutex_unlock(&reader_lock);
    }
    if (rc == VIAL_EHASH || rc == VIAL_ECORRUPT) {
        report_damage(entry);
    } else if (rc < 0 && vial_image_mirror(vial_session.image)) {
        /* a chunk that cannot be fetched: the application gets EIO, and
         * the user is told why even without VIAL_LOG */
        char line[1200];
        int n = snprintf(line, sizeof line, "vial: %s\n", vial_error_last());
        ssize_t ignored = write(2, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
        (void)ignored;
        rc = -EIO;
    } else if (rc < 0) {
        vial_log(1, "cannot materialize entry %u: %s", entry, vial_error_last());
    } else if (vial_session.profile[0]) {
        record_launch(entry);
    }
    vial_busy--;
    return rc;
}

int vial_preload_directory(char *out, size_t size, const char *virtual_path, int create)
{
    struct stat st;
    vial_busy++;
    int rc = 0;
    if (stat(virtual_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(out, size, "%s", virtual_path);
    } else if ((size_t)snprintf(out, size, "%s%s", vial_session.view,
                                strcmp(virtual_path, "/") == 0 ? "" : virtual_path) >= size) {
        rc = -ENAMETOOLONG;
    } else if (create) {
        rc = vial_mkdir_p(out, 0700);
    }
    vial_busy--;
    return rc;
}

int vial_preload_view_path(char *out, size_t size, uint32_t entry)
{
    char relative[PATH_MAX];
    int rc = vial_image_path(relative, sizeof relative, vial_session.image, entry);
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(out, size, "%s/%s", vial_session.view, relative) >= size)
        return -ENAMETOOLONG;
    return 0;
}

void vial_preload_stat(struct stat *st, uint32_t index)
{
    struct vial_entry e;
    memset(st, 0, sizeof *st);
    if (vial_image_entry(&e, vial_session.image, index) < 0)
        return;
    st->st_dev = vial_session.image_device;
    st->st_ino = e.inode;
    st->st_mode = e.mode;
    st->st_nlink = e.nlink;
    st->st_uid = e.uid;
    st->st_gid = e.gid;
    st->st_size = (off_t)e.size;
    st->st_blksize = 4096;
    st->st_blocks = (blkcnt_t)((e.size + 511) / 512);
    st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec = (time_t)e.mtime_sec;
    st->st_mtim.tv_nsec = st->st_atim.tv_nsec = st->st_ctim.tv_nsec = e.mtime_nsec;
}

/* ---------------------------------------------------- child environment */

static int has_value(char *const envp[], const char *name, const char *needle)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return needle ? strstr(envp[i] + n + 1, needle) != NULL : 1;
    return 0;
}

char **vial_child_env(char *const envp[], char **storage, size_t slots, char *text,
                      size_t text_size, int *allocated)
{
    size_t count = 0;
    *allocated = 0;
    while (envp && envp[count])
        count++;
    char **out = storage;
    if (count + 4 > slots) {
        out = malloc((count + 4) * sizeof *out);
        if (!out)
            return (char **)envp;
        *allocated = 1;
    }
    size_t n = 0, used = 0;
    int need_preload = !has_value(envp, "LD_PRELOAD", vial_session.preload);
    int need_audit = !has_value(envp, "LD_AUDIT", vial_session.preload);
    int need_session = !has_value(envp, "VIAL_SESSION", NULL);
    for (size_t i = 0; i < count; i++) {
        /* LD_PRELOAD of the app is kept; ours is put in front below */
        if (need_preload && strncmp(envp[i], "LD_PRELOAD=", 11) == 0) {
            int w = snprintf(text + used, text_size - used, "LD_PRELOAD=%s:%s",
                             vial_session.preload, envp[i] + 11);
            out[n++] = text + used;
            used += (size_t)w + 1;
            need_preload = 0;
            continue;
        }
        out[n++] = envp[i];
    }
    if (need_preload) {
        out[n++] = text + used;
        used += (size_t)snprintf(text + used, text_size - used, "LD_PRELOAD=%s",
                                 vial_session.preload) + 1;
    }
    if (need_audit) {
        /* an app's own LD_AUDIT entry would be replaced: audit is ours */
        for (size_t i = 0; i < n; i++)
            if (strncmp(out[i], "LD_AUDIT=", 9) == 0)
                out[i] = out[--n];
        out[n++] = text + used;
        used += (size_t)snprintf(text + used, text_size - used, "LD_AUDIT=%s",
                                 vial_session.preload) + 1;
    }
    if (need_session) {
        out[n++] = text + used;
        used += (size_t)snprintf(text + used, text_size - used, "VIAL_SESSION=%s",
                                 vial_session.session_path) + 1;
    }
    out[n] = NULL;
    return out;
}
