/*
 * hooks_exec.c - keeping children in the bubble, loading libraries from it.
 *
 * Every way to start a program ends in exec_core: the program is found
 * through the bubble (image entries are materialized first), a script's
 * interpreter is found the same way (the kernel would take the host's),
 * and the child's environment gets LD_PRELOAD, LD_AUDIT and VIAL_SESSION
 * back if the application removed them. Host tools named by the manifest
 * leave the bubble.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"
#include "trace.h"

extern char **environ;

/* on the stack: a vfork child must not allocate (another thread of the
 * parent may hold the allocator's lock) */
#define EXEC_MAX_ARGS 1024
#define EXEC_MAX_INTERPRETERS 4

/* A program ready to exec: the real file, and the argv to give it. */
struct exec_plan {
    char path[PATH_MAX];
    char *argv[EXEC_MAX_ARGS];
    char interpreter[PATH_MAX], interpreter_argument[PATH_MAX], script[PATH_MAX];
    int host_tool;
};

/* The real file for a virtual program path; *virtual_out gets the path
 * the program should see as its name. */
static int locate(char *real, size_t size, char *virtual_out, size_t virtual_size, const char *path)
{
    struct vial_route_result r;
    vial_route(&r, AT_FDCWD, path, 1);
    switch (r.route) {
    case VIAL_ROUTE_PASS:
        snprintf(real, size, "%s", path);
        snprintf(virtual_out, virtual_size, "%s", path);
        return 0;
    case VIAL_ROUTE_HOST:
        snprintf(real, size, "%s", r.real);
        snprintf(virtual_out, virtual_size, "%s", r.vfs.path);
        return 0;
    case VIAL_ROUTE_ERROR:
        return -r.error;
    case VIAL_ROUTE_IMAGE:
        break;
    }
    struct vial_entry e;
    if (vial_image_entry(&e, vial_session.image, r.vfs.entry) < 0)
        return -EIO;
    if (e.primary_type == VIAL_ENTRY_DIRECTORY)
        return -EACCES;
    if (!(e.mode & 0111))
        return -EACCES;
    snprintf(virtual_out, virtual_size, "%s", r.vfs.path);
    int rc = vial_preload_materialize(real, size, r.vfs.entry);
    return rc == -ENOSPC ? -ENOSPC : rc < 0 ? -EIO : 0;
}

/* Reads "#!interpreter [argument]" from the first line of a file. */
static int read_shebang(const char *path, char *interpreter, size_t size, char *argument,
                        size_t argument_size)
{
    char line[256];
    vial_busy++;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, line, sizeof line - 1) : -1;
    if (fd >= 0)
        close(fd);
    vial_busy--;
    if (n < 4 || line[0] != '#' || line[1] != '!')
        return 0;
    line[n] = '\0';
    char *end = strchr(line, '\n');
    if (!end)
        return 0;
    *end = '\0';
    char *p = line + 2;
    p += strspn(p, " \t");
    size_t length = strcspn(p, " \t");
    if (length == 0 || length >= size)
        return 0;
    memcpy(interpreter, p, length);
    interpreter[length] = '\0';
    p += length;
    p += strspn(p, " \t");
    size_t argument_length = strlen(p);
    while (argument_length > 0 && (p[argument_length - 1] == ' ' || p[argument_length - 1] == '\t'))
        argument_length--;
    if (argument_length >= argument_size)
        argument_length = argument_size - 1;
    memcpy(argument, p, argument_length);
    argument[argument_length] = '\0';
    return 1;
}

/* Says so in the log when a program cannot be kept in the bubble: set-id
 * programs drop LD_PRELOAD, static ones make raw system calls. */
/* Whether a program would leave the bubble (set-id, or statically linked:
 * its system calls bypass the hooks); says so in the log. */
static int escapes_bubble(const char *real, const char *shown)
{
    struct stat st;
    unsigned char header[64];
    vial_busy++;
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, header, sizeof header) : -1;
    int stat_ok = fd >= 0 && REAL(fstat)(fd, &st) == 0;
    if (fd >= 0)
        close(fd);
    vial_busy--;
    if (stat_ok && (st.st_mode & (S_ISUID | S_ISGID))) {
        vial_log(1, "%s is set-id: it runs outside the bubble (the kernel drops LD_PRELOAD)",
                 shown);
        return 1;
    }
    if (n < (ssize_t)sizeof(Elf64_Ehdr) || memcmp(header, ELFMAG, SELFMAG) != 0)
        return 0;
    /* a static executable has no PT_INTERP; checking that needs the program
     * headers: read them */
    const Elf64_Ehdr *eh = (const void *)header;
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phnum == 0 || eh->e_phnum > 64)
        return 0;
    Elf64_Phdr phdrs[64];
    vial_busy++;
    fd = open(real, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? pread(fd, phdrs, eh->e_phnum * sizeof(Elf64_Phdr), (off_t)eh->e_phoff)
                          : -1;
    if (fd >= 0)
        close(fd);
    vial_busy--;
    if (got != (ssize_t)(eh->e_phnum * sizeof(Elf64_Phdr)))
        return 0;
    for (int i = 0; i < eh->e_phnum; i++)
        if (phdrs[i].p_type == PT_INTERP)
            return 0;
    vial_log(1, "%s is statically linked: its system calls bypass the bubble", shown);
    return 1;
}

/* vial sequence's capture: nothing may reach the host. ldconfig (static
 * in Debian) only rebuilds /etc/ld.so.cache, which is the host's business
 * and excluded from captures: it is skipped. Any other program that would
 * escape is refused, with a message on stderr, since the packager must
 * know (docs/sequencer.md). */
static int capture_guard(struct exec_plan *plan, const char *shown, const char *why)
{
    const char *base = strrchr(shown, '/') ? strrchr(shown, '/') + 1 : shown;
    /* cache rebuilders whose caches a capture excludes anyway */
    if (strcmp(base, "ldconfig") == 0 || strcmp(base, "ldconfig.real") == 0 || strcmp(base, "mandb") == 0) {
        static char *const skip[] = {"true", NULL};
        int rc = locate(plan->path, sizeof plan->path, plan->script, sizeof plan->script, "/bin/true");
        memcpy(plan->argv, skip, sizeof skip);
        vial_log(1, "capture: %s skipped (its cache is the host's business)", shown);
        return rc;
    }
    char message[PATH_MAX + 200];
    int n = snprintf(message, sizeof message,
                     "vial sequence: refusing to run %s: %s, so its changes would not be "
                     "captured\n",
                     shown, why);
    if (n > 0)
        REAL(write)(2, message, (size_t)n < sizeof message ? (size_t)n : sizeof message - 1);
    return -EPERM;
}

/* Plans the exec of `path` with argv: materializes, follows shebangs. */
static int plan_exec(struct exec_plan *plan, const char *path, char *const argv[])
{
    char virtual_path[PATH_MAX];
    size_t argc = 0;
    while (argv && argv[argc] && argc + 4 < EXEC_MAX_ARGS)
        argc++;
    if (argv && argv[argc])
        return -E2BIG;
    plan->host_tool = vial_is_host_tool(path);
    int rc = locate(plan->path, sizeof plan->path, virtual_path, sizeof virtual_path, path);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i <= argc; i++)
        plan->argv[i] = argv ? argv[i] : NULL;
    if (plan->host_tool)
        return 0;
    /* scripts: the interpreter must come from the bubble too */
    for (int depth = 0; depth < EXEC_MAX_INTERPRETERS; depth++) {
        char interpreter[PATH_MAX], argument[PATH_MAX], real[PATH_MAX], shown[PATH_MAX];
        if (!read_shebang(plan->path, interpreter, sizeof interpreter, argument, sizeof argument))
            break;
        if ((rc = locate(real, sizeof real, shown, sizeof shown, interpreter)) < 0)
            return rc;
        /* argv: interpreter [argument] script args... */
        size_t extra = argument[0] ? 2 : 1;
        if (argc + extra + 1 >= EXEC_MAX_ARGS)
            return -E2BIG;
        snprintf(plan->script, sizeof plan->script, "%s", virtual_path);
        snprintf(plan->interpreter, sizeof plan->interpreter, "%s", interpreter);
        snprintf(plan->interpreter_argument, sizeof plan->interpreter_argument, "%s", argument);
        memmove(plan->argv + extra + 1, plan->argv + 1, argc * sizeof *plan->argv);
        plan->argv[0] = plan->interpreter;
        if (argument[0])
            plan->argv[1] = plan->interpreter_argument;
        plan->argv[extra] = plan->script;
        argc += extra;
        snprintf(plan->path, sizeof plan->path, "%s", real);
        snprintf(virtual_path, sizeof virtual_path, "%s", shown);
    }
    if (vial_session.capture) {
        /* another user (a script's su, start-stop-daemon --chuid) cannot
         * read the capture's session nor write into its store */
        const char *why = geteuid() != vial_session.owner ? "it would run as another user"
                          : escapes_bubble(plan->path, virtual_path)
                              ? "it is set-id or statically linked (its system calls bypass the bubble)"
                              : NULL;
        if (why && (rc = capture_guard(plan, virtual_path, why)) < 0)
            return rc;
    } else {
        escapes_bubble(plan->path, virtual_path);
    }
    vial_log(2, "exec %s -> %s", virtual_path, plan->path);
    return 0;
}

/* Decodes one host_env entry (p, n bytes: "NAME=VALUE" or "NAME" with %XX
 * escapes) into out; returns its length. */
static size_t decode_host_entry(char *out, size_t size, const char *p, size_t n)
{
    size_t used = 0;
    for (size_t i = 0; i < n && used + 1 < size; i++) {
        if (p[i] == '%' && i + 2 < n) {
            char hex[3] = {p[i + 1], p[i + 2], 0};
            out[used++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[used++] = p[i];
        }
    }
    out[used] = '\0';
    return used;
}

/* Calls visit for each decoded host_env entry until it returns non-zero. */
static int each_host_entry(int (*visit)(const char *entry, size_t length, void *payload), void *payload)
{
    char decoded[VIAL_SESSION_HOST_ENV_MAX]; /* an entry is at most the whole line */
    for (const char *p = vial_session.host_env; *p;) {
        size_t n = strcspn(p, " ");
        size_t length = decode_host_entry(decoded, sizeof decoded, p, n);
        int rc = visit(decoded, length, payload);
        if (rc)
            return rc;
        p += n;
        p += strspn(p, " ");
    }
    return 0;
}

struct host_env_build {
    char *const *envp;
    char **storage;
    size_t slots, n;
    char *text;
    size_t text_size, used;
    const char *variable; /* the one being looked up */
    int decided;
};

static void host_env_add(struct host_env_build *b, const char *entry, size_t length)
{
    if (b->n + 1 < b->slots && b->used + length + 1 <= b->text_size) {
        memcpy(b->text + b->used, entry, length + 1);
        b->storage[b->n++] = b->text + b->used;
        b->used += length + 1;
    }
}

/* For b->variable: the host's value instead, or nothing if the host had none. */
static int replace_variable(const char *entry, size_t length, void *payload)
{
    struct host_env_build *b = payload;
    size_t name = strcspn(entry, "="), own = strcspn(b->variable, "=");
    if (name != own || strncmp(entry, b->variable, name) != 0)
        return 0;
    if (entry[name] == '=')
        host_env_add(b, entry, length);
    b->decided = 1;
    return 1;
}

/* A host variable the package unset (or the app removed): back in. */
static int restore_missing(const char *entry, size_t length, void *payload)
{
    struct host_env_build *b = payload;
    size_t name = strcspn(entry, "=");
    if (entry[name] != '=')
        return 0;
    for (size_t i = 0; b->envp && b->envp[i]; i++)
        if (strncmp(b->envp[i], entry, name) == 0 && b->envp[i][name] == '=')
            return 0;
    host_env_add(b, entry, length);
    return 0;
}

/* The host's environment for a host tool: our variables removed, and every
 * variable the package's environment changed given its host value back (or
 * removed, if the host had none). Strings that are not envp's go in text. */
static char **host_env(char *const envp[], char **storage, size_t slots, char *text, size_t text_size)
{
    struct host_env_build b = {envp, storage, slots, 0, text, text_size, 0, NULL, 0};
    for (size_t i = 0; envp && envp[i] && b.n + 1 < slots; i++) {
        if (strncmp(envp[i], "VIAL_SESSION=", 13) == 0 || strncmp(envp[i], "LD_AUDIT=", 9) == 0)
            continue;
        if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0 && strstr(envp[i], vial_session.preload))
            continue; /* the app's own preloads went in with ours; the host never had them */
        b.variable = envp[i];
        b.decided = 0;
        each_host_entry(replace_variable, &b);
        if (!b.decided)
            storage[b.n++] = envp[i];
    }
    each_host_entry(restore_missing, &b);
    storage[b.n] = NULL;
    return storage;
}

/* exec's arguments on a line: the program's, up to 32 */
static void trace_argv(struct vial_trace_frame *trace, char *const argv[])
{
    for (int i = 0; argv && argv[i] && i < 32; i++)
        vial_trace_arg_string(trace, argv[i]);
}

static int exec_untraced(const char *path, char *const argv[], char *const envp[])
{
    if (vial_busy || vial_preload_init() != 1)
        return REAL(execve)(path, argv, envp);
    struct exec_plan plan_storage, *plan = &plan_storage;
    int rc = plan_exec(plan, path, argv);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    char *slots[1024], text[3 * PATH_MAX + 4096];
    int allocated = 0;
    char **env = plan->host_tool ? host_env(envp, slots, sizeof slots / sizeof slots[0], text, sizeof text)
                                 : vial_child_env(envp, slots, sizeof slots / sizeof slots[0],
                                                  text, sizeof text, &allocated);
    if (VIAL_TRACING()) {
        /* a successful exec never returns: its line is written now */
        vial_trace_real(plan->path);
        vial_trace_exec_now();
    }
    REAL(execve)(plan->path, plan->argv, env);
    int saved = errno;
    if (allocated)
        free(env);
    errno = saved;
    return -1;
}

__attribute__((noinline)) static int exec_traced(const char *path, char *const argv[],
                                                 char *const envp[])
{
    struct vial_trace_frame f;
    if (!vial_trace_begin(&f, "execve", path))
        return exec_untraced(path, argv, envp);
    vial_trace_arg_string(&f, path);
    trace_argv(&f, argv);
    int rc = exec_untraced(path, argv, envp);
    vial_trace_end(&f, rc, 1); /* returned: it failed */
    return rc;
}

static int exec_core(const char *path, char *const argv[], char *const envp[])
{
    if (VIAL_TRACING())
        return exec_traced(path, argv, envp);
    return exec_untraced(path, argv, envp);
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    return exec_core(path, argv, envp);
}

/* PATH search through the bubble: image entries count like host files. */
static int search_path(char *out, size_t size, const char *file, const char *search)
{
    if (strchr(file, '/')) {
        snprintf(out, size, "%s", file);
        return 0;
    }
    if (!search)
        search = "/usr/local/bin:/usr/bin:/bin";
    int last_error = ENOENT;
    for (const char *p = search;; p += strcspn(p, ":") + 1) {
        size_t n = strcspn(p, ":");
        if ((size_t)snprintf(out, size, "%.*s/%s", (int)n, n ? p : ".", file) < size) {
            struct stat st;
            if (vial_stat_path(out, &st) == 0) { /* sees the image */
                if (S_ISREG(st.st_mode) && (st.st_mode & 0111))
                    return 0;
                last_error = EACCES;
            }
        }
        if (p[n] == '\0')
            break;
    }
    return -last_error;
}

/* The variable's value in envp, as execvpe looks it up. */
static const char *env_value(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

static int execvpe_core(const char *file, char *const argv[], char *const envp[])
{
    char path[PATH_MAX];
    int rc = search_path(path, sizeof path, file, getenv("PATH"));
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return exec_core(path, argv, envp);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
    if (vial_busy || vial_preload_init() != 1)
        return REAL(execvpe)(file, argv, envp);
    return execvpe_core(file, argv, envp);
}

int execv(const char *path, char *const argv[]) { return exec_core(path, argv, environ); }
int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

#define COLLECT_ARGS(first, argv, last_arg_out)                                                    \
    char *argv[EXEC_MAX_ARGS];                                                                     \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, first);                                                                       \
        size_t i = 0;                                                                              \
        argv[i++] = (char *)first;                                                                 \
        while (i < EXEC_MAX_ARGS - 1 && (argv[i] = va_arg(ap, char *)))                            \
            i++;                                                                                   \
        argv[i] = NULL;                                                                            \
        last_arg_out = va_arg(ap, char **);                                                        \
        va_end(ap);                                                                                \
    } while (0)

int execl(const char *path, const char *arg, ...)
{
    char **unused;
    COLLECT_ARGS(arg, argv, unused);
    (void)unused;
    return exec_core(path, argv, environ);
}
int execlp(const char *file, const char *arg, ...)
{
    char **unused;
    COLLECT_ARGS(arg, argv, unused);
    (void)unused;
    return execvpe(file, argv, environ);
}
int execle(const char *path, const char *arg, ...)
{
    char **envp;
    COLLECT_ARGS(arg, argv, envp);
    return exec_core(path, argv, envp);
}

static int fexecve_untraced(int fd, char *const argv[], char *const envp[])
{
    int allocated = 0;
    char *slots[512], text[3 * PATH_MAX + 4096];
    if (vial_busy || vial_preload_init() != 1)
        return REAL(fexecve)(fd, argv, envp);
    char **env = vial_child_env(envp, slots, 512, text, sizeof text, &allocated);
    if (VIAL_TRACING())
        vial_trace_exec_now(); /* as execve: a successful exec never returns */
    int rc = REAL(fexecve)(fd, argv, env);
    if (allocated)
        free(env);
    return rc;
}

VIAL_TRACED_CORE(int, fexecve, "fexecve", NULL, (int fd, char *const argv[], char *const envp[]),
                 (fd, argv, envp), result, 1, vial_trace_arg_int(trace, fd);
                 trace_argv(trace, argv); vial_trace_descriptor(fd))

int fexecve(int fd, char *const argv[], char *const envp[]) { return fexecve_core(fd, argv, envp); }

/* posix_spawn and posix_spawnp (search: PATH is searched first) */
static int spawn_untraced(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[],
                          int search)
{
    char found[PATH_MAX];
    if (vial_busy || vial_preload_init() != 1)
        return search ? REAL(posix_spawnp)(pid, path, actions, attr, argv, envp)
                      : REAL(posix_spawn)(pid, path, actions, attr, argv, envp);
    if (search) {
        int rc = search_path(found, sizeof found, path,
                             env_value(envp, "PATH") ?: getenv("PATH"));
        if (rc < 0)
            return -rc;
        path = found;
    }
    struct exec_plan *plan = malloc(sizeof *plan);
    if (!plan)
        return ENOMEM;
    int rc = plan_exec(plan, path, argv);
    if (rc < 0) {
        free(plan);
        return -rc;
    }
    char *slots[512], text[3 * PATH_MAX + 4096];
    int allocated = 0;
    char **env = plan->host_tool ? host_env(envp, slots, 512, text, sizeof text)
                                 : vial_child_env(envp, slots, 512, text, sizeof text, &allocated);
    VIAL_TRACE_REAL(plan->path);
    rc = REAL(posix_spawn)(pid, plan->path, actions, attr, plan->argv, env);
    if (allocated)
        free(env);
    free(plan);
    return rc;
}

/* posix_spawn returns its error: the line names it as errno would */
static int spawn_failed(int rc)
{
    if (rc != 0)
        errno = rc;
    return rc != 0;
}

VIAL_TRACED_CORE(int, spawn, "posix_spawn", path,
                 (pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                  const posix_spawnattr_t *attr, char *const argv[], char *const envp[], int search),
                 (pid, path, actions, attr, argv, envp, search),
                 result == 0 && pid ? *pid : result, spawn_failed(result),
                 vial_trace_arg_string(trace, path); trace_argv(trace, argv))

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn_core(pid, path, actions, attr, argv, envp, 0);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn_core(pid, file, actions, attr, argv, envp, 1);
}

/* system and popen start /bin/sh internally; the shell is in the bubble as
 * long as the environment still says so, so put it back first. */
static void restore_session_environment(void)
{
    if (vial_preload_init() != 1)
        return;
    const char *preload = getenv("LD_PRELOAD");
    if (!preload || !strstr(preload, vial_session.preload)) {
        char value[2 * PATH_MAX];
        snprintf(value, sizeof value, "%s%s%s", vial_session.preload, preload ? ":" : "",
                 preload ? preload : "");
        setenv("LD_PRELOAD", value, 1);
    }
    const char *audit = getenv("LD_AUDIT");
    if (!audit || !strstr(audit, vial_session.preload))
        setenv("LD_AUDIT", vial_session.preload, 1);
    if (!getenv("VIAL_SESSION"))
        setenv("VIAL_SESSION", vial_session.session_path, 1);
}

static int system_untraced(const char *command)
{
    if (!vial_busy && command)
        restore_session_environment();
    return REAL(system)(command);
}

static FILE *popen_untraced(const char *command, const char *type)
{
    if (!vial_busy)
        restore_session_environment();
    return REAL(popen)(command, type);
}

/* no path of their own: the shell's exec is the child's first line */
VIAL_TRACED_CORE(int, system, "system", NULL, (const char *command), (command), result,
                 result == -1, vial_trace_arg_string(trace, command))
VIAL_TRACED_CORE(FILE *, popen, "popen", NULL, (const char *command, const char *type),
                 (command, type), result ? fileno(result) : -1, result == NULL,
                 vial_trace_arg_string(trace, command); vial_trace_arg_string(trace, type))

int system(const char *command) { return system_core(command); }

FILE *popen(const char *command, const char *type) { return popen_core(command, type); }

/* ------------------------------------------------------------- dlopen */

static void *dlopen_untraced(const char *file, int flags);

__attribute__((noinline)) static void *dlopen_traced(const char *file, int flags)
{
    struct vial_trace_frame f;
    if (!vial_trace_begin(&f, "dlopen", file))
        return dlopen_untraced(file, flags);
    vial_trace_arg_string(&f, file);
    vial_trace_arg_int(&f, flags);
    void *handle = dlopen_untraced(file, flags);
    if (!handle)
        errno = ENOENT; /* dlerror() has the reason */
    vial_trace_end(&f, handle != NULL, handle == NULL);
    return handle;
}

void *dlopen(const char *file, int flags)
{
    if (vial_busy || !file || !strchr(file, '/'))
        return REAL(dlopen)(file, flags);
    if (VIAL_TRACING())
        return dlopen_traced(file, flags);
    return dlopen_untraced(file, flags);
}

static void *dlopen_untraced(const char *file, int flags)
{
    struct vial_route_result r;
    char real[PATH_MAX];
    vial_route(&r, AT_FDCWD, file, 1);
    if (r.route == VIAL_ROUTE_IMAGE) {
        if (vial_preload_materialize(real, sizeof real, r.vfs.entry) < 0)
            return NULL; /* dlerror() reports the host path missing */
        vial_log(2, "dlopen %s -> %s", r.vfs.path, real);
        VIAL_TRACE_REAL(real);
        return REAL(dlopen)(real, flags);
    }
    if (r.route == VIAL_ROUTE_HOST)
        return REAL(dlopen)(r.real, flags);
    return REAL(dlopen)(file, flags);
}

/* --------------------------------------------------------------- syscall */

int vial_statx_core(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx);

/* Path system calls made through syscall(2) (libuv's statx, for one) go
 * through the same hooks; everything else is passed on untouched. */
long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (!vial_busy) {
        switch (number) {
        case SYS_open:
            return open((const char *)a[0], (int)a[1], (mode_t)a[2]);
        case SYS_openat:
            return openat((int)a[0], (const char *)a[1], (int)a[2], (mode_t)a[3]);
        case SYS_stat:
            return stat((const char *)a[0], (struct stat *)a[1]);
        case SYS_lstat:
            return lstat((const char *)a[0], (struct stat *)a[1]);
        case SYS_newfstatat:
            return fstatat((int)a[0], (const char *)a[1], (struct stat *)a[2], (int)a[3]);
        case SYS_statx:
            return vial_statx_core((int)a[0], (const char *)a[1], (int)a[2], (unsigned)a[3],
                                   (struct statx *)a[4]);
        case SYS_access:
            return access((const char *)a[0], (int)a[1]);
        case SYS_faccessat:
        case SYS_faccessat2:
            return faccessat((int)a[0], (const char *)a[1], (int)a[2],
                             number == SYS_faccessat2 ? (int)a[3] : 0);
        case SYS_readlink:
            return readlink((const char *)a[0], (char *)a[1], (size_t)a[2]);
        case SYS_readlinkat:
            return readlinkat((int)a[0], (const char *)a[1], (char *)a[2], (size_t)a[3]);
        case SYS_execve:
            return execve((const char *)a[0], (char *const *)a[1], (char *const *)a[2]);
        case SYS_chdir:
            return chdir((const char *)a[0]);
        default:
            break;
        }
    }
    return REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ------------------------------------------------- launcher entry point */

/* Used by `vial run`/`vial exec`: the launcher's child dlopens this
 * library and execs through it, so that the first program gets exactly
 * the treatment its own children will get. Returns only on failure,
 * with errno set. */
int vial_preload_launch(const char *file, char *const argv[], char *const envp[]);
int vial_preload_launch(const char *file, char *const argv[], char *const envp[])
{
    /* loaded with dlopen here: our exported names bind to libc's, so only
     * internal functions may be called */
    if (vial_preload_init() != 1) {
        errno = EINVAL;
        return -1;
    }
    return execvpe_core(file, argv, envp);
}
