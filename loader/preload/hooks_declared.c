/*
 * hooks_declared.c - hooks declared at run time (manifest [hook NAME]
 * sections, later `vial trace --hook`): libffi closures that stand in for
 * a library function, resolve its path argument through the bubble, log
 * the call if asked, and forward it (docs/running.md#declared-hooks).
 *
 * Two halves, in the two copies of this library:
 *  - the audit side (LD_AUDIT namespace): reads the declarations from the
 *    session, makes the closures and hands them to the dynamic loader
 *    (audit.c's la_symbind64). Its libc, errno and globals are not the
 *    application's;
 *  - the application side (LD_PRELOAD copy): the vial_hook_app_* functions
 *    below, which run the same resolver as the open/stat hooks, with the
 *    application's errno, cwd and fd table. The audit side finds them in
 *    the application's copy of this file (same file, same offsets).
 */
#include <errno.h>
#include <fcntl.h>
#include <ffi.h>
#include <fnmatch.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"
#include "trace.h"

/* ------------------------------------------------- application side */

/* Checked by the audit side before it calls into the application's copy. */
const uint64_t vial_hook_abi_tag = 0x766961686f6f6b31; /* "viahook1" */

int vial_hook_app_resolve(char *out, size_t size, const char *path, int writing)
{
    int saved = errno, rc = 0;
    struct vial_route_result r;
    struct vial_entry e;
    if (writing) {
        if (vial_write_passes(AT_FDCWD, path))
            goto out;
        /* the file is made to exist where the write must land (copied up,
         * or created empty): the library's own open then writes there */
        rc = vial_fopen_target(path, O_WRONLY, out, size);
        if (rc == -ENOENT)
            rc = vial_fopen_target(path, O_WRONLY | O_CREAT, out, size);
        goto out;
    }
    vial_route(&r, AT_FDCWD, path, 1);
    switch (r.route) {
    case VIAL_ROUTE_PASS:
        break;
    case VIAL_ROUTE_HOST:
        rc = (size_t)snprintf(out, size, "%s", r.real) < size ? 1 : -ENAMETOOLONG;
        break;
    case VIAL_ROUTE_IMAGE:
        if (vial_image_entry(&e, vial_session.image, r.vfs.entry) == 0 &&
            e.primary_type == VIAL_ENTRY_DIRECTORY)
            rc = vial_preload_directory(out, size, r.vfs.path, 1);
        else
            rc = vial_preload_materialize(out, size, r.vfs.entry);
        rc = rc < 0 ? rc : 1;
        break;
    case VIAL_ROUTE_ERROR:
        rc = -r.error;
        break;
    }
out:
    errno = saved;
    return rc;
}

int *vial_hook_app_errno(void) { return &errno; }

void vial_hook_app_log(const char *line)
{
    if (vial_preload_init() == 1 || vial_session.log_fd >= 0)
        vial_log(1, "%s", line);
}

/* -------------------------------------------------------- audit side */

#define HOOKS_MAX 64
#define BOUND_MAX 128

static struct vial_hook hooks[HOOKS_MAX];
static int hook_count = -1; /* -1: the session not read yet */
static char own_path[PATH_MAX]; /* this library as LD_PRELOAD names it */

/* One closure per (hook, original function): a glob may match several
 * libraries that each define the symbol. */
struct bound {
    const struct vial_hook *hook;
    void *original;
    ffi_cif cif;
    ffi_type *types[VIAL_HOOK_MAX_ARGS];
    ffi_closure *closure;
    void *code;
};
static struct bound bound[BOUND_MAX];
static int bound_count;
static pthread_mutex_t bound_lock = PTHREAD_MUTEX_INITIALIZER;

/* Our own work inside a closure (resolving, logging) calls functions that
 * may be hooked too: those calls go straight through. */
static _Thread_local int hook_depth __attribute__((tls_model("initial-exec")));

/* The application side; ours until the application's copy is seen. */
static struct {
    int (*resolve)(char *, size_t, const char *, int);
    int *(*errno_location)(void);
    void (*log)(const char *);
} app = {vial_hook_app_resolve, vial_hook_app_errno, vial_hook_app_log};

/* A problem of the audit side, in our own copy's log. */
__attribute__((format(printf, 1, 2))) static void log_here(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    vial_preload_init();
    vial_log(1, "%s", line);
}

/* The session's hook= and preload= lines (read once; the loader holds its
 * lock while it calls us). */
static int load_hooks(void)
{
    static char text[65536];
    if (hook_count >= 0)
        return hook_count;
    hook_count = 0;
    const char *session = getenv("VIAL_SESSION");
    if (!session || !*session)
        return 0;
    int fd = open(session, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "preload=", 8) == 0)
            snprintf(own_path, sizeof own_path, "%s", line + 8);
        if (strncmp(line, "hook=", 5) != 0)
            continue;
        if (hook_count >= HOOKS_MAX) {
            log_here("declared hook ignored (more than 64): %s", line + 5);
            continue;
        }
        /* checked again here: nothing in a declaration may crash the app */
        if (vial_hook_parse(&hooks[hook_count], line + 5) < 0) {
            log_here("declared hook ignored: %s: %s", line + 5, vial_error_last());
            continue;
        }
        hook_count++;
    }
    return hook_count;
}

/* The soname of a loaded object, or NULL. */
static const char *soname_of(const struct link_map *map)
{
    const char *strtab = NULL;
    ElfW(Xword) soname = 0;
    int has = 0;
    if (!map->l_ld)
        return NULL;
    for (const ElfW(Dyn) *d = map->l_ld; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB)
            strtab = (const char *)d->d_un.d_ptr;
        else if (d->d_tag == DT_SONAME)
            soname = d->d_un.d_val, has = 1;
    }
    if (!strtab || !has)
        return NULL;
    if ((uintptr_t)strtab < map->l_addr) /* not relocated in place (the vDSO) */
        strtab += map->l_addr;
    return strtab + soname;
}

static int library_matches(const struct vial_hook *hook, const struct link_map *map)
{
    const char *name = map->l_name, *base = name ? strrchr(name, '/') : NULL, *soname;
    base = base ? base + 1 : name;
    if (base && *base && fnmatch(hook->library, base, 0) == 0)
        return 1;
    return (soname = soname_of(map)) && fnmatch(hook->library, soname, 0) == 0;
}

/* Our copy in the application's namespace: the same file, so its
 * functions are where ours are, relative to its load address. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
#define IN_APP_COPY(map, symbol) \
    ((__typeof__(&symbol))((map)->l_addr + ((uintptr_t)&symbol - (uintptr_t)__ehdr_start)))

static int adopt_app_copy(const struct link_map *map)
{
    if (!own_path[0] || !map->l_name || strcmp(map->l_name, own_path) != 0)
        return 0;
    if (*IN_APP_COPY(map, vial_hook_abi_tag) != vial_hook_abi_tag) {
        log_here("declared hooks: %s is not this build of the interposer", map->l_name);
        return 1;
    }
    app.resolve = IN_APP_COPY(map, vial_hook_app_resolve);
    app.errno_location = IN_APP_COPY(map, vial_hook_app_errno);
    app.log = IN_APP_COPY(map, vial_hook_app_log);
    return 1;
}

unsigned vial_hooks_objopen(struct link_map *map, long lmid)
{
    if (lmid != LM_ID_BASE || load_hooks() == 0)
        return 0;
    if (adopt_app_copy(map))
        return 0; /* our own calls are never hooked */
    unsigned flags = LA_FLG_BINDFROM;
    for (int i = 0; i < hook_count; i++)
        if (library_matches(&hooks[i], map))
            flags |= LA_FLG_BINDTO;
    return flags;
}

static ffi_type *ffi_type_of(int type)
{
    switch (type) {
    case VIAL_HOOK_VOID: return &ffi_type_void;
    case VIAL_HOOK_INT8: return &ffi_type_sint8;
    case VIAL_HOOK_INT16: return &ffi_type_sint16;
    case VIAL_HOOK_INT32: return &ffi_type_sint32;
    case VIAL_HOOK_INT64: return &ffi_type_sint64;
    case VIAL_HOOK_UINT8: return &ffi_type_uint8;
    case VIAL_HOOK_UINT16: return &ffi_type_uint16;
    case VIAL_HOOK_UINT32: return &ffi_type_uint32;
    case VIAL_HOOK_UINT64: return &ffi_type_uint64;
    case VIAL_HOOK_INT: return &ffi_type_sint;
    case VIAL_HOOK_LONG: return &ffi_type_slong;
    case VIAL_HOOK_SIZE: return sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32;
    case VIAL_HOOK_SSIZE: return sizeof(ssize_t) == 8 ? &ffi_type_sint64 : &ffi_type_sint32;
    case VIAL_HOOK_CHAR: return &ffi_type_schar;
    case VIAL_HOOK_PTR: case VIAL_HOOK_STR: return &ffi_type_pointer;
    case VIAL_HOOK_DOUBLE: return &ffi_type_double;
    case VIAL_HOOK_FLOAT: return &ffi_type_float;
    default: return NULL;
    }
}

/* One value for the log, decoded by its declared type. `value` points at
 * the value (libffi's convention; small integers widened for results). */
static int format_value(char *out, size_t size, int type, const void *value, int result)
{
    switch (type) {
    case VIAL_HOOK_VOID: return snprintf(out, size, "void");
    case VIAL_HOOK_INT8: return snprintf(out, size, "%d", result ? (int8_t)*(const ffi_sarg *)value : *(const int8_t *)value);
    case VIAL_HOOK_INT16: return snprintf(out, size, "%d", result ? (int16_t)*(const ffi_sarg *)value : *(const int16_t *)value);
    case VIAL_HOOK_INT32: case VIAL_HOOK_INT:
        return snprintf(out, size, "%d", result ? (int32_t)*(const ffi_sarg *)value : *(const int32_t *)value);
    case VIAL_HOOK_CHAR: return snprintf(out, size, "%d", result ? (signed char)*(const ffi_sarg *)value : *(const signed char *)value);
    case VIAL_HOOK_UINT8: return snprintf(out, size, "%u", result ? (uint8_t)*(const ffi_arg *)value : *(const uint8_t *)value);
    case VIAL_HOOK_UINT16: return snprintf(out, size, "%u", result ? (uint16_t)*(const ffi_arg *)value : *(const uint16_t *)value);
    case VIAL_HOOK_UINT32: return snprintf(out, size, "%u", result ? (uint32_t)*(const ffi_arg *)value : *(const uint32_t *)value);
    case VIAL_HOOK_INT64: case VIAL_HOOK_LONG: case VIAL_HOOK_SSIZE:
        return snprintf(out, size, "%lld", (long long)*(const int64_t *)value);
    case VIAL_HOOK_UINT64: case VIAL_HOOK_SIZE:
        return snprintf(out, size, "%llu", (unsigned long long)*(const uint64_t *)value);
    case VIAL_HOOK_PTR: return snprintf(out, size, "%p", *(void *const *)value);
    case VIAL_HOOK_STR: {
        const char *s = *(const char *const *)value;
        return s ? snprintf(out, size, "\"%.200s\"", s) : snprintf(out, size, "NULL");
    }
    case VIAL_HOOK_DOUBLE: return snprintf(out, size, "%.17g", *(const double *)value);
    case VIAL_HOOK_FLOAT: return snprintf(out, size, "%.9g", (double)*(const float *)value);
    default: return snprintf(out, size, "?");
    }
}

/* The one place a declared hook's call is reported: function, arguments
 * decoded by their declared types, result, and where a path argument was
 * sent. Today a vial_log line; `vial trace` redirects it. */
void hook_log_call(const struct vial_hook *hook, void **args, const char *real_path,
                   const void *result, int error)
{
    char line[1024];
    const struct vial_hook_signature *s = &hook->signature;
    size_t used = 0;
    int n = snprintf(line, sizeof line, "hook %s: %s(", hook->name, hook->symbol);
    for (unsigned i = 0; n >= 0 && (used += (size_t)n) < sizeof line && i <= s->count; i++) {
        if (i == s->count) {
            n = snprintf(line + used, sizeof line - used, ") = ");
            continue;
        }
        if (i > 0 && (n = snprintf(line + used, sizeof line - used, ", ")) > 0 &&
            (used += (size_t)n) >= sizeof line)
            break;
        n = format_value(line + used, sizeof line - used, s->args[i], args[i], 0);
    }
    if (used < sizeof line)
        used += (size_t)format_value(line + used, sizeof line - used, s->result, result, 1);
    if (used < sizeof line && error && s->result != VIAL_HOOK_VOID)
        used += (size_t)snprintf(line + used, sizeof line - used, " (errno %d)", error);
    if (used < sizeof line && real_path)
        snprintf(line + used, sizeof line - used, " [path -> %s]", real_path);
    app.log(line);
}

/* A declared hook's result as the tracer's number (pointers: 0 for NULL,
 * else 1; floating point: truncated). */
static long long result_number(int type, const void *value)
{
    switch (type) {
    case VIAL_HOOK_VOID: return 0;
    case VIAL_HOOK_UINT8: case VIAL_HOOK_UINT16: case VIAL_HOOK_UINT32:
        return (long long)*(const ffi_arg *)value;
    case VIAL_HOOK_INT8: case VIAL_HOOK_INT16: case VIAL_HOOK_INT32: case VIAL_HOOK_INT:
    case VIAL_HOOK_CHAR:
        return (long long)*(const ffi_sarg *)value;
    case VIAL_HOOK_INT64: case VIAL_HOOK_LONG: case VIAL_HOOK_SSIZE:
        return (long long)*(const int64_t *)value;
    case VIAL_HOOK_UINT64: case VIAL_HOOK_SIZE: return (long long)*(const uint64_t *)value;
    case VIAL_HOOK_PTR: case VIAL_HOOK_STR: return *(void *const *)value != NULL;
    case VIAL_HOOK_DOUBLE: return (long long)*(const double *)value;
    case VIAL_HOOK_FLOAT: return (long long)*(const float *)value;
    default: return 0;
    }
}

/* Under `vial trace`: the call as one trace line (this copy of the
 * library writes it; docs/trace.md). */
static void hook_trace_call(const struct vial_hook *hook, void **args, const char *real_path,
                            const void *result, int error, uint64_t start)
{
    char arguments[1024];
    const struct vial_hook_signature *s = &hook->signature;
    size_t used = 0;
    arguments[0] = '\0';
    for (unsigned i = 0; i < s->count && used < sizeof arguments; i++) {
        int n = i ? snprintf(arguments + used, sizeof arguments - used, ", ") : 0;
        if (n < 0 || (used += (size_t)n) >= sizeof arguments)
            break;
        n = format_value(arguments + used, sizeof arguments - used, s->args[i], args[i], 0);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    struct vial_trace_call call = {
        .function = hook->symbol,
        .arguments = arguments,
        .virtual_path = hook->path ? *(const char *const *)args[hook->path - 1] : NULL,
        .real_path = real_path,
        .result = result_number(s->result, result),
        .error = error,
        .start = start,
        .duration = vial_trace_clock() - start,
    };
    vial_trace_emit(&call);
}

/* Where an unreachable path is sent: a name that cannot exist (ENOENT). */
static const char unreachable[] = "/proc/self/fd/vial-unreachable";

static void call_hook(ffi_cif *cif, void *result, void **args, void *data)
{
    struct bound *b = data;
    const struct vial_hook *hook = b->hook;
    int *app_errno = app.errno_location();
    int saved = *app_errno, depth = hook_depth;
    void *values[VIAL_HOOK_MAX_ARGS];
    const char *replaced = NULL;
    char real[PATH_MAX];
    memcpy(values, args, cif->nargs * sizeof *args);
    if (hook->path && depth == 0) {
        const char *path = *(const char *const *)args[hook->path - 1];
        hook_depth++;
        int rc = path ? app.resolve(real, sizeof real, path,
                                    hook->path_mode == VIAL_HOOK_PATH_WRITE)
                      : 0;
        hook_depth--;
        if (rc > 0)
            replaced = real;
        else if (rc < 0)
            replaced = unreachable;
        if (replaced)
            values[hook->path - 1] = &replaced;
    }
    int tracing = depth == 0 && vial_trace_on() && vial_trace_wants(hook->symbol);
    uint64_t start = tracing ? vial_trace_clock() : 0;
    *app_errno = saved;
    ffi_call(cif, FFI_FN(b->original), result, values);
    int error = *app_errno;
    if (tracing) {
        hook_depth++;
        hook_trace_call(hook, args, replaced, result, error != saved ? error : 0, start);
        hook_depth--;
    } else if (hook->log && depth == 0) {
        hook_depth++;
        hook_log_call(hook, args, replaced, result, error != saved ? error : 0);
        hook_depth--;
    }
    *app_errno = error;
}

static void *closure_for(const struct vial_hook *hook, void *original)
{
    void *code = NULL;
    pthread_mutex_lock(&bound_lock);
    for (int i = 0; i < bound_count && !code; i++)
        if (bound[i].hook == hook && bound[i].original == original)
            code = bound[i].code;
    if (code || bound_count >= BOUND_MAX)
        goto out;
    struct bound *b = &bound[bound_count];
    const struct vial_hook_signature *s = &hook->signature;
    ffi_type *result = ffi_type_of(s->result);
    int ok = result != NULL;
    for (unsigned i = 0; ok && i < s->count; i++)
        ok = (b->types[i] = ffi_type_of(s->args[i])) != NULL;
    ffi_status status = !ok ? FFI_BAD_TYPEDEF
                        : s->variadic ? ffi_prep_cif_var(&b->cif, FFI_DEFAULT_ABI, s->fixed, s->count,
                                                         result, b->types)
                                      : ffi_prep_cif(&b->cif, FFI_DEFAULT_ABI, s->count, result, b->types);
    if (status != FFI_OK) {
        log_here("declared hook %s: libffi refuses its signature", hook->name);
        goto out;
    }
    b->closure = ffi_closure_alloc(sizeof(ffi_closure), &b->code);
    if (!b->closure) {
        log_here("declared hook %s: no memory for a closure", hook->name);
        goto out;
    }
    if (ffi_prep_closure_loc(b->closure, &b->cif, call_hook, b, b->code) != FFI_OK) {
        ffi_closure_free(b->closure);
        log_here("declared hook %s: libffi cannot make its closure", hook->name);
        goto out;
    }
    b->hook = hook;
    b->original = original;
    code = b->code;
    bound_count++;
out:
    pthread_mutex_unlock(&bound_lock);
    return code;
}

uintptr_t vial_hooks_bind(const void *elf_sym, const struct link_map *defining, const char *symname)
{
    const ElfW(Sym) *sym = elf_sym;
    int type = ELF64_ST_TYPE(sym->st_info);
    if (hook_count <= 0 || !symname || (type != STT_FUNC && type != STT_GNU_IFUNC))
        return sym->st_value;
    for (int i = 0; i < hook_count; i++) {
        if (strcmp(hooks[i].symbol, symname) != 0 || !library_matches(&hooks[i], defining))
            continue;
        void *code = closure_for(&hooks[i], (void *)sym->st_value);
        if (code) {
            vial_log(2, "declared hook %s binds %s", hooks[i].name, symname);
            return (uintptr_t)code;
        }
    }
    return sym->st_value;
}
