/*
 * trace.h - `vial trace`: the interposer's call tracer.
 *
 * When the session file has a `trace=FILE` line, every hooked call (or
 * only those `trace_calls=` names) is written to FILE as one line: who
 * called, the decoded arguments, the virtual path and where it really went,
 * the result or errno, the time spent. docs/trace.md describes the format.
 *
 * Two parts:
 *  - the public tracer API (vial_trace_on, vial_trace_clock,
 *    vial_trace_emit), for any code of the interposer that forwards a call,
 *    in particular the closures of hooks declared at run time (the hook
 *    engine with libffi): such a closure asks vial_trace_on() first, takes
 *    vial_trace_clock() before and after the forwarded call and hands a
 *    filled struct vial_trace_call to vial_trace_emit();
 *  - the built-in hooks' frame (vial_trace_begin/end), which the core
 *    function of each operation enters behind one predictable branch
 *    (VIAL_TRACING()), and the notes that the routing code leaves in the
 *    current frame (vial_trace_route, VIAL_TRACE_REAL).
 *
 * Thread safety: all of it may be called from any thread, after fork and in
 * a vfork child. Each line is one write() on a descriptor opened with
 * O_APPEND, so lines of processes and threads never interleave mid-line.
 * Either copy of the library (LD_PRELOAD's or the LD_AUDIT namespace's)
 * may call the API: each opens its own descriptor on the file lazily.
 */
#ifndef VIAL_TRACE_H
#define VIAL_TRACE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* One traced call. Strings are borrowed for the duration of the emit. */
struct vial_trace_call {
    const char *function;     /* its name: "open", or a declared hook's symbol */
    const char *arguments;    /* decoded as C would write them ("" or NULL: none);
                                 strings quoted and escaped, flags by name */
    const char *virtual_path; /* the path the application named (NULL: none) */
    const char *real_path;    /* where it went: view, delta or host path
                                 (NULL: the virtual path itself; "": none) */
    const char *to_path;      /* a two-path call's second path (rename, link), or NULL */
    const char *to_real;      /* where it went (as real_path) */
    long long result;         /* the return value (pointers: 0 for NULL, else 1) */
    int error;                /* errno after a failed call; 0 after success */
    uint64_t start;           /* vial_trace_clock() when the call began */
    uint64_t duration;        /* nanoseconds spent */
};

/* Whether this process traces (the session asks for it). Initializes the
 * interposer's session on first use. Cheap after that. */
int vial_trace_on(void);

/* Whether calls named function are traced (tracing on, and function in the
 * `--calls` list if there is one). */
int vial_trace_wants(const char *function);

/* Monotonic nanoseconds (CLOCK_MONOTONIC): for start and duration. */
uint64_t vial_trace_clock(void);

/* Writes call as one line (text, or JSON with --json) if tracing is on and
 * call->function is wanted; does nothing otherwise. Never changes errno. */
void vial_trace_emit(const struct vial_trace_call *call);

/* ------------------------------------------- the built-in hooks' side */

/* -1: not decided yet (the session is read on the first call), 0: off,
 * 1: on. Hidden: the hot path loads it PC-relative. */
extern int vial_trace_state __attribute__((visibility("hidden")));

/* The one branch a hook's core function pays when not tracing. */
#define VIAL_TRACING() __builtin_expect(vial_trace_state != 0, 0)

/* A built-in hook's call in progress (on the hook's stack). */
struct vial_trace_frame {
    const char *function;
    uint64_t start;
    size_t used;
    char arguments[1024];
    char virtual_path[PATH_MAX];
    char real_path[PATH_MAX]; /* "" : the virtual path itself */
    int routed_error;         /* the route ended in an error: no real path */
    int virtual_resolved;     /* virtual_path is the resolver's (absolute) */
    int two_paths;            /* rename, link: the hook notes both ends itself */
    int ends_noted;
    char to_path[PATH_MAX];
    char to_real[PATH_MAX];
};

/* Starts tracing a call to function on path (NULL: none). Returns 0 when
 * this call is not traced: tracing off, function not wanted, or a call the
 * interposer makes itself (busy, or inside another traced call). */
int vial_trace_begin(struct vial_trace_frame *frame, const char *function, const char *path);
/* Ends it: result, and errno (read here) if failed. Keeps errno. */
void vial_trace_end(struct vial_trace_frame *frame, long long result, int failed);

/* The shape of every built-in operation. NAME_untraced(PARAMS) does the
 * work; this defines NAME_traced, the frame around it (noinline: its large
 * frame stays off the untraced path), and NAME_core, which costs one
 * predictable branch when not tracing. FUNCTION is the line's name and
 * PATH the path the app named (expressions of the parameters); the
 * trailing statements decode the arguments into frame `trace`; SHOWN (the
 * result on the line) and FAILED are expressions of `result`. */
#define VIAL_TRACED_CORE(type, name, function, path, params, args, shown, failed, ...)             \
    __attribute__((noinline)) static type name##_traced params                                     \
    {                                                                                              \
        struct vial_trace_frame trace_frame, *trace = &trace_frame;                                \
        if (!vial_trace_begin(trace, function, path))                                              \
            return name##_untraced args;                                                           \
        __VA_ARGS__;                                                                               \
        type result = name##_untraced args;                                                        \
        vial_trace_end(trace, (long long)(shown), failed);                                         \
        return result;                                                                             \
    }                                                                                              \
    static inline type name##_core params                                                          \
    {                                                                                              \
        if (VIAL_TRACING())                                                                        \
            return name##_traced args;                                                             \
        return name##_untraced args;                                                               \
    }

/* A two-path call: its second path as the app named it. The routing notes
 * are then ignored; the hook says where both ends went (vial_trace_ends). */
void vial_trace_second_path(struct vial_trace_frame *frame, const char *to);

/* Argument decoders: each appends ", " and one argument. */
void vial_trace_arg_string(struct vial_trace_frame *frame, const char *text);
void vial_trace_arg_dirfd(struct vial_trace_frame *frame, int dirfd);
void vial_trace_arg_int(struct vial_trace_frame *frame, long long value);
void vial_trace_arg_open_flags(struct vial_trace_frame *frame, int flags);
void vial_trace_arg_mode(struct vial_trace_frame *frame, unsigned mode);
void vial_trace_arg_at_flags(struct vial_trace_frame *frame, int flags);
void vial_trace_arg_unlink_flags(struct vial_trace_frame *frame, int flags); /* AT_REMOVEDIR */
void vial_trace_arg_access_mode(struct vial_trace_frame *frame, int mode);
void vial_trace_arg_rename_flags(struct vial_trace_frame *frame, unsigned flags);
void vial_trace_arg_xattr_flags(struct vial_trace_frame *frame, int flags);
/* utimensat's times: NULL, or [{SEC, NSEC}, ...] with UTIME_NOW/UTIME_OMIT */
struct timespec;
void vial_trace_arg_times(struct vial_trace_frame *frame, const struct timespec *times);

struct vial_route_result;
/* The routing code's decision for the current traced call, if any. */
void vial_trace_route(const struct vial_route_result *route);
/* The real path a hook finally used (view file, copy in upper/, ...). */
void vial_trace_real(const char *real);
/* A note for the current traced call, at the cost of the one branch. */
#define VIAL_TRACE_NOTE(call)                                                                      \
    do {                                                                                           \
        if (VIAL_TRACING())                                                                        \
            call;                                                                                  \
    } while (0)
#define VIAL_TRACE_REAL(path) VIAL_TRACE_NOTE(vial_trace_real(path))

/* The virtual path the current call is about, when the hook learns it
 * only at the end (realpath's answer, getcwd). */
void vial_trace_path(const char *virtual_path);
#define VIAL_TRACE_PATH(path) VIAL_TRACE_NOTE(vial_trace_path(path))
/* A two-path call's ends: virtual (NULL: as the app named it) and real. */
void vial_trace_ends(const char *from_virtual, const char *from_real, const char *to_virtual,
                     const char *to_real);
/* The current call is about descriptor fd: its virtual path (and the view
 * file of an image file), if the bubble knows the descriptor. Returns
 * whether it does. */
int vial_trace_descriptor(int fd);
/* Whether the bubble knows descriptor fd (an image file or a virtual
 * directory): calls on other descriptors are the kernel's alone. */
int vial_trace_knows_fd(int fd);

/* Writes the current frame's line now, as a success (an exec that works
 * never returns); the frame goes on, so that a failed exec adds its own
 * line with the error. */
void vial_trace_exec_now(void);

/* At initialization (state.c): the session's trace lines (file "" : off). */
void vial_trace_setup(const char *file, const char *format, const char *calls);
/* Whether fd is the trace file's descriptor (an app closing every
 * descriptor must not close it). */
int vial_trace_owns_fd(int fd);

#endif
