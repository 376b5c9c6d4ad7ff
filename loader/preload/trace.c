/*
 * trace.c - `vial trace` inside the application: the frame a hook's core
 * function fills, the argument decoders, and the line written per call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "preload.h"
#include "trace.h"

int vial_trace_state = -1;
static int trace_fd = -1;
static int trace_json;
static char trace_calls[1024]; /* ",open,stat," or "" (all) */
/* the traced call in progress on this thread (a pointer: TLS stays small) */
static _Thread_local struct vial_trace_frame *current __attribute__((tls_model("initial-exec")));

void vial_trace_setup(const char *file, const char *format, const char *calls)
{
    if (!file || !*file) {
        vial_trace_state = 0;
        return;
    }
    trace_json = format && strcmp(format, "json") == 0;
    if (calls && *calls && strlen(calls) + 3 < sizeof trace_calls)
        snprintf(trace_calls, sizeof trace_calls, ",%s,", calls);
    vial_busy++;
    int fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0 && fd < 1000) {
        /* out of the way of the descriptors apps number themselves */
        int high = fcntl(fd, F_DUPFD_CLOEXEC, 1000);
        if (high >= 0) {
            close(fd);
            fd = high;
        }
    }
    vial_busy--;
    if (fd < 0)
        vial_log(1, "cannot open the trace file %s: %s", file, strerror(errno));
    trace_fd = fd;
    vial_trace_state = fd >= 0;
}

int vial_trace_owns_fd(int fd) { return fd >= 0 && fd == trace_fd; }

int vial_trace_on(void)
{
    if (vial_trace_state < 0) {
        vial_preload_init();
        if (vial_trace_state < 0) /* no session at all */
            vial_trace_state = 0;
    }
    return vial_trace_state > 0;
}

int vial_trace_wants(const char *function)
{
    if (!vial_trace_on())
        return 0;
    if (!trace_calls[0])
        return 1;
    size_t n = strlen(function);
    for (const char *p = trace_calls; (p = strstr(p, function)); p++)
        if (p[-1] == ',' && p[n] == ',')
            return 1;
    return 0;
}

uint64_t vial_trace_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --------------------------------------------------------------- lines */

struct line {
    char text[3 * PATH_MAX + 2048];
    size_t used;
    int full;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct line *l, const char *fmt, ...)
{
    if (l->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->text + l->used, sizeof l->text - l->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof l->text - l->used) {
        l->full = 1;
        l->used = sizeof l->text - 1;
    } else {
        l->used += (size_t)n;
    }
}

/* A quoted string: C escapes in text lines, JSON escapes in JSON (bytes
 * above 0x7f as \u00XX: always valid JSON, whatever the encoding). */
static void put_quoted(struct line *l, const char *s, int json)
{
    put(l, "\"");
    for (const unsigned char *p = (const unsigned char *)s; p && *p && !l->full; p++) {
        if (*p == '"' || *p == '\\')
            put(l, "\\%c", *p);
        else if (*p == '\n')
            put(l, "\\n");
        else if (*p == '\t')
            put(l, "\\t");
        else if (*p < 0x20 || *p >= 0x7f)
            put(l, json ? "\\u%04x" : "\\x%02x", *p);
        else
            put(l, "%c", *p);
    }
    put(l, "\"");
}

static void put_quoted_or_null(struct line *l, const char *s)
{
    if (s)
        put_quoted(l, s, 1);
    else
        put(l, "null");
}

/* ` path "VIRTUAL" real "REAL"` (real only where it differs) */
static void put_where(struct line *l, const char *label, const char *virtual_path, const char *real)
{
    if (!virtual_path)
        return;
    put(l, "%s", label);
    put_quoted(l, virtual_path, 0);
    if (real && strcmp(real, virtual_path) != 0) {
        put(l, " real ");
        put_quoted(l, real, 0);
    }
}

static const char *error_name(int error)
{
    const char *name = strerrorname_np(error);
    return name ? name : "E?";
}

void vial_trace_emit(const struct vial_trace_call *call)
{
    if (!call || !call->function || !vial_trace_wants(call->function))
        return;
    int saved = errno;
    static _Thread_local int emitting __attribute__((tls_model("initial-exec")));
    if (emitting) /* a hook of ours reached from here: not the app's */
        return;
    emitting = 1;
    struct line *l = __builtin_alloca(sizeof *l);
    l->used = 0;
    l->full = 0;
    int pid = (int)getpid(), tid = (int)syscall(SYS_gettid);
    const char *args = call->arguments ? call->arguments : "";
    const char *virtual_path = call->virtual_path;
    /* NULL: the virtual path itself; "": none (failed before any file) */
    const char *real = !call->real_path ? virtual_path : *call->real_path ? call->real_path : NULL;
    const char *to = call->to_path;
    const char *to_real = !call->to_real ? to : *call->to_real ? call->to_real : NULL;
    double micros = (double)call->duration / 1000.0;
    if (trace_json) {
        put(l, "{\"pid\":%d,\"tid\":%d,\"function\":", pid, tid);
        put_quoted(l, call->function, 1);
        put(l, ",\"args\":");
        put_quoted(l, args, 1);
        put(l, ",\"path\":");
        put_quoted_or_null(l, virtual_path);
        put(l, ",\"real\":");
        put_quoted_or_null(l, real);
        put(l, ",\"to\":");
        put_quoted_or_null(l, to);
        put(l, ",\"to_real\":");
        put_quoted_or_null(l, to_real);
        put(l, ",\"result\":%lld,\"errno\":", call->error ? -1LL : call->result);
        if (call->error)
            put(l, "\"%s\"", error_name(call->error));
        else
            put(l, "null");
        put(l, ",\"start_us\":%.3f,\"duration_us\":%.3f}", (double)call->start / 1000.0, micros);
    } else {
        put(l, "%d/%d %s(%s) = ", pid, tid, call->function, args);
        if (call->error)
            put(l, "-1 %s (%s)", error_name(call->error), strerror(call->error));
        else
            put(l, "%lld", call->result);
        put_where(l, " path ", virtual_path, real);
        put_where(l, " to ", to, to_real);
        put(l, " %.1fus", micros);
    }
    if (l->full) /* cut: still one line, marked */
        l->used = sizeof l->text - 8;
    if (l->full)
        l->used += (size_t)snprintf(l->text + l->used, 8, " ...");
    l->text[l->used++] = '\n';
    ssize_t ignored = write(trace_fd, l->text, l->used);
    (void)ignored;
    emitting = 0;
    errno = saved;
}

/* ---------------------------------------------------- built-in frames */

int vial_trace_begin(struct vial_trace_frame *frame, const char *function, const char *path)
{
    if (vial_busy || current || !vial_trace_wants(function))
        return 0;
    frame->function = function;
    frame->used = 0;
    frame->arguments[0] = '\0';
    frame->real_path[0] = '\0';
    frame->routed_error = 0;
    frame->virtual_resolved = 0;
    frame->two_paths = 0;
    frame->ends_noted = 0;
    frame->to_path[0] = frame->to_real[0] = '\0';
    snprintf(frame->virtual_path, sizeof frame->virtual_path, "%s", path ? path : "");
    current = frame;
    frame->start = vial_trace_clock();
    return 1;
}

void vial_trace_end(struct vial_trace_frame *frame, long long result, int failed)
{
    int saved = errno;
    uint64_t end = vial_trace_clock();
    current = NULL;
    /* a two-path call whose ends were never noted reached nothing real */
    int unreached = frame->routed_error || (frame->two_paths && !frame->ends_noted);
    struct vial_trace_call call = {
        .function = frame->function,
        .arguments = frame->arguments,
        .virtual_path = frame->virtual_path[0] ? frame->virtual_path : NULL,
        .real_path = unreached ? "" : frame->real_path[0] ? frame->real_path : NULL,
        .to_path = frame->two_paths ? frame->to_path : NULL,
        .to_real = unreached ? "" : frame->to_real[0] ? frame->to_real : NULL,
        .result = result,
        .error = failed ? (saved ? saved : EIO) : 0,
        .start = frame->start,
        .duration = end - frame->start,
    };
    vial_trace_emit(&call);
    errno = saved;
}

static void arg(struct vial_trace_frame *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct vial_trace_frame *f, const char *fmt, ...)
{
    size_t size = sizeof f->arguments;
    if (f->used + 8 >= size)
        return;
    if (f->used) {
        memcpy(f->arguments + f->used, ", ", 3);
        f->used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->arguments + f->used, size - f->used, fmt, ap);
    va_end(ap);
    f->used = n < 0 ? f->used : f->used + (size_t)n >= size ? size - 1 : f->used + (size_t)n;
}

void vial_trace_arg_string(struct vial_trace_frame *f, const char *text)
{
    if (!text) {
        arg(f, "NULL");
        return;
    }
    struct line *l = __builtin_alloca(sizeof *l);
    l->used = 0;
    l->full = 0;
    put_quoted(l, text, 0);
    arg(f, "%.*s", (int)l->used, l->text);
}

void vial_trace_arg_dirfd(struct vial_trace_frame *f, int dirfd)
{
    if (dirfd == AT_FDCWD)
        arg(f, "AT_FDCWD");
    else
        arg(f, "%d", dirfd);
}

void vial_trace_arg_int(struct vial_trace_frame *f, long long value) { arg(f, "%lld", value); }

void vial_trace_arg_mode(struct vial_trace_frame *f, unsigned mode) { arg(f, "0%o", mode); }

struct flag_name {
    unsigned bit;
    const char *name;
};

/* Flags by name, the rest in hex: "O_RDONLY|O_CLOEXEC". */
static void flag_names(char *out, size_t size, unsigned value, const char *first,
                       const struct flag_name *names, size_t count)
{
    size_t used = 0;
    out[0] = '\0';
    if (first)
        used += (size_t)snprintf(out, size, "%s", first);
    for (size_t i = 0; i < count && used < size; i++)
        if (names[i].bit && (value & names[i].bit) == names[i].bit) {
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? "|" : "", names[i].name);
            value &= ~names[i].bit;
        }
    if (value && used < size)
        used += (size_t)snprintf(out + used, size - used, "%s%#x", used ? "|" : "", value);
    if (!used)
        snprintf(out, size, "0");
}

#define NAMED(flag) {(unsigned)(flag), #flag}

void vial_trace_arg_open_flags(struct vial_trace_frame *f, int flags)
{
    static const struct flag_name names[] = {
        NAMED(O_TMPFILE), NAMED(O_CREAT), NAMED(O_EXCL), NAMED(O_NOCTTY), NAMED(O_TRUNC),
        NAMED(O_APPEND), NAMED(O_NONBLOCK), NAMED(O_SYNC), NAMED(O_DSYNC), NAMED(O_DIRECT),
        {__O_LARGEFILE, "O_LARGEFILE"}, NAMED(O_DIRECTORY), NAMED(O_NOFOLLOW), NAMED(O_NOATIME),
        NAMED(O_CLOEXEC), NAMED(O_PATH),
    };
    static const char *const access[] = {"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"};
    char text[256];
    unsigned rest = (unsigned)flags & ~(unsigned)O_ACCMODE;
    flag_names(text, sizeof text, rest, access[flags & O_ACCMODE], names,
               sizeof names / sizeof names[0]);
    arg(f, "%s", text);
}

/* AT_EACCESS (access) and AT_REMOVEDIR (unlink) share a bit: the call
 * decides which name it has. */
static void at_flags(struct vial_trace_frame *f, int flags, int removing)
{
    static const struct flag_name names[] = {
        NAMED(AT_SYMLINK_NOFOLLOW), NAMED(AT_EMPTY_PATH), NAMED(AT_NO_AUTOMOUNT),
        NAMED(AT_SYMLINK_FOLLOW), NAMED(AT_EACCESS),
    };
    static const struct flag_name unlink_names[] = {NAMED(AT_REMOVEDIR)};
    const struct flag_name *table = removing ? unlink_names : names;
    size_t count = removing ? 1 : sizeof names / sizeof names[0];
    char text[256];
    flag_names(text, sizeof text, (unsigned)flags, NULL, table, count);
    arg(f, "%s", text);
}

void vial_trace_arg_at_flags(struct vial_trace_frame *f, int flags) { at_flags(f, flags, 0); }

void vial_trace_arg_unlink_flags(struct vial_trace_frame *f, int flags) { at_flags(f, flags, 1); }

void vial_trace_arg_access_mode(struct vial_trace_frame *f, int mode)
{
    static const struct flag_name names[] = {
        NAMED(R_OK), NAMED(W_OK), NAMED(X_OK),
    };
    char text[64];
    if (mode == F_OK) {
        arg(f, "F_OK");
        return;
    }
    flag_names(text, sizeof text, (unsigned)mode, NULL, names, sizeof names / sizeof names[0]);
    arg(f, "%s", text);
}

void vial_trace_arg_rename_flags(struct vial_trace_frame *f, unsigned flags)
{
    static const struct flag_name names[] = {
        NAMED(RENAME_NOREPLACE), NAMED(RENAME_EXCHANGE), NAMED(RENAME_WHITEOUT),
    };
    char text[128];
    flag_names(text, sizeof text, flags, NULL, names, sizeof names / sizeof names[0]);
    arg(f, "%s", text);
}

void vial_trace_arg_xattr_flags(struct vial_trace_frame *f, int flags)
{
    static const struct flag_name names[] = {
        NAMED(XATTR_CREATE), NAMED(XATTR_REPLACE),
    };
    char text[64];
    flag_names(text, sizeof text, (unsigned)flags, NULL, names, sizeof names / sizeof names[0]);
    arg(f, "%s", text);
}

static void time_text(char *out, size_t size, const struct timespec *t)
{
    if (t->tv_nsec == UTIME_NOW)
        snprintf(out, size, "UTIME_NOW");
    else if (t->tv_nsec == UTIME_OMIT)
        snprintf(out, size, "UTIME_OMIT");
    else
        snprintf(out, size, "{%lld, %ld}", (long long)t->tv_sec, (long)t->tv_nsec);
}

void vial_trace_arg_times(struct vial_trace_frame *f, const struct timespec *times)
{
    char access[48], modification[48];
    if (!times) {
        arg(f, "NULL");
        return;
    }
    time_text(access, sizeof access, &times[0]);
    time_text(modification, sizeof modification, &times[1]);
    arg(f, "[%s, %s]", access, modification);
}

/* ------------------------------------------------------------ notes */

void vial_trace_route(const struct vial_route_result *r)
{
    struct vial_trace_frame *f = current;
    if (!f || f->two_paths)
        return;
    /* the first path resolved is the one the app named (an exec resolves
     * its interpreter next); the last decision is where the call went */
    if (r->resolved && !f->virtual_resolved) {
        snprintf(f->virtual_path, sizeof f->virtual_path, "%s", r->vfs.path);
        f->virtual_resolved = 1;
    }
    f->routed_error = 0;
    switch (r->route) {
    case VIAL_ROUTE_ERROR:
        f->routed_error = 1;
        f->real_path[0] = '\0';
        break;
    case VIAL_ROUTE_HOST:
        snprintf(f->real_path, sizeof f->real_path, "%s", r->real);
        break;
    case VIAL_ROUTE_IMAGE:
        /* where its contents are (a directory may be the host's: the hook
         * says so with vial_trace_real) */
        if (vial_preload_view_path(f->real_path, sizeof f->real_path, r->vfs.entry) < 0)
            f->real_path[0] = '\0';
        break;
    case VIAL_ROUTE_PASS:
        f->real_path[0] = '\0'; /* the path as given: the host's */
        break;
    }
}

void vial_trace_real(const char *real)
{
    struct vial_trace_frame *f = current;
    if (f && real) {
        snprintf(f->real_path, sizeof f->real_path, "%s", real);
        f->routed_error = 0;
    }
}

void vial_trace_second_path(struct vial_trace_frame *f, const char *to)
{
    f->two_paths = 1;
    snprintf(f->to_path, sizeof f->to_path, "%s", to ? to : "");
}

void vial_trace_path(const char *virtual_path)
{
    struct vial_trace_frame *f = current;
    if (f && virtual_path) {
        snprintf(f->virtual_path, sizeof f->virtual_path, "%s", virtual_path);
        f->virtual_resolved = 1;
    }
}

void vial_trace_ends(const char *from_virtual, const char *from_real, const char *to_virtual,
                     const char *to_real)
{
    struct vial_trace_frame *f = current;
    if (!f || !f->two_paths)
        return;
    if (from_virtual)
        snprintf(f->virtual_path, sizeof f->virtual_path, "%s", from_virtual);
    if (to_virtual)
        snprintf(f->to_path, sizeof f->to_path, "%s", to_virtual);
    snprintf(f->real_path, sizeof f->real_path, "%s", from_real ? from_real : "");
    snprintf(f->to_real, sizeof f->to_real, "%s", to_real ? to_real : "");
    f->ends_noted = 1;
}

int vial_trace_knows_fd(int fd)
{
    uint32_t entry;
    return !vial_busy && (vial_fd_file(fd, &entry) || vial_fd_directory(fd) != NULL);
}

int vial_trace_descriptor(int fd)
{
    struct vial_trace_frame *f = current;
    uint32_t entry;
    const char *directory;
    if (!f)
        return 0;
    if (vial_fd_file(fd, &entry)) {
        f->virtual_path[0] = '/'; /* the index's paths are relative to the root */
        if (vial_image_path(f->virtual_path + 1, sizeof f->virtual_path - 1, vial_session.image,
                            entry) < 0)
            f->virtual_path[1] = '\0';
        if (vial_preload_view_path(f->real_path, sizeof f->real_path, entry) < 0)
            f->real_path[0] = '\0';
        f->virtual_resolved = 1;
        return 1;
    }
    if ((directory = vial_fd_directory(fd))) {
        snprintf(f->virtual_path, sizeof f->virtual_path, "%s", directory);
        f->virtual_resolved = 1;
        return 1;
    }
    return 0;
}

void vial_trace_exec_now(void)
{
    struct vial_trace_frame *f = current;
    if (!f)
        return;
    vial_trace_end(f, 0, 0);
    current = f;
    f->start = vial_trace_clock();
}
