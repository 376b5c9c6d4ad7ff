/*
 * cmd_run.c - `vial run`, `vial exec`, `vial shell`: start a program inside
 * an image's bubble.
 *
 * The launcher opens the image (its metadata hashes are verified once per
 * file identity and the result remembered in the cache), prepares the view
 * and a session file, then forks: the child loads libvial-preload.so and
 * execs through it, exactly as the application's own children will; the
 * parent waits and passes on the exit status (or the signal).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "registry.h"
#include "vfs.h"

#define RUN_MAX_ARGS 4096

struct launch {
    char image_path[PATH_MAX]; /* the image file: a streamed image's mirror */
    const char *url;           /* a streamed image's URL, or NULL */
    struct vial_image *image;
    struct vial_manifest *manifest;
    struct vial_dirs dirs;
    char view[PATH_MAX];
    char session[PATH_MAX];
    char preload[PATH_MAX];
    char state[PATH_MAX];
    struct vial_policy policy;
    int fresh; /* a new state group starts empty */
    const char *state_override; /* the user's state here instead (vial sequence's capture) */
    int own_image;              /* vial made the image just now (sequence): no trust policy */
    int keep_signal;            /* report a killed program as 128 + signal, do not die of it */
    const char *profile;        /* vial profile: the file the interposer lists image files in */
    double until_idle;          /* vial profile: stop the program once it read nothing new for this long */
    const struct cli_run_extra *extra; /* vial trace's lines (trace=, hook=), or NULL */
    char hive[PATH_MAX]; /* the package hive as a file, for the GSettings backend; "" if none */
    char **env;          /* the application's environment (the registry's over the host's) */
    char **env_changes;  /* what env changed: given back to host tools (vial_reg_env_build) */
};

/* The directory of the GSettings backend module; "" if vial was built
 * without GLib. */
static void find_gio_modules(char *out)
{
    if (cli_find_beside_vial(out, "gio-modules/libvial-gsettings.so") < 0)
        out[0] = '\0';
    else
        *strrchr(out, '/') = '\0';
}

/* Writes bytes to path unless a file is there already (content-addressed
 * names: what is there is the same), atomically. */
static int write_once(const char *path, const void *bytes, size_t length)
{
    if (access(path, R_OK) == 0)
        return 0;
    char temp[PATH_MAX + 32];
    snprintf(temp, sizeof temp, "%s.%d", path, (int)getpid());
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return vial_error_set(-errno, "cannot create %s: %s", temp, strerror(errno));
    int ok = write(fd, bytes, length) == (ssize_t)length;
    if (close(fd) < 0 || !ok || rename(temp, path) < 0) {
        unlink(temp);
        return vial_error_set(-EIO, "cannot write %s", path);
    }
    return 0;
}

/* The package's hive as a file of the cache (CACHE/hives/HASH.hive), which
 * the GSettings backend in the application reads without opening the image. */
static int publish_package_hive(struct launch *l)
{
    const void *data;
    uint64_t length;
    l->hive[0] = '\0';
    if (vial_image_section(&data, &length, l->image, VIAL_SECTION_HIVE) < 0)
        return 0;
    uint8_t hash[VIAL_HASH_LEN];
    char hex[2 * VIAL_HASH_LEN + 1], directory[PATH_MAX];
    vial_hash(hash, data, (size_t)length);
    vial_hash_hex(hex, hash);
    snprintf(directory, sizeof directory, "%s/hives", l->dirs.cache);
    int rc = vial_mkdir_p(directory, 0700);
    if (rc < 0)
        return vial_error_set(rc, "cannot create %s", directory);
    snprintf(l->hive, sizeof l->hive, "%s/%.32s.hive", directory, hex);
    return write_once(l->hive, data, (size_t)length);
}

/* vial's own defaults under the package's environment: GLib applications
 * keep their settings in the registry (GSettings backend "vial"), or, if
 * vial was built without GLib, in memory, never in the host's dconf. */
static int launch_defaults(struct vial_hive **out)
{
    char modules[PATH_MAX];
    struct vial_reg_value *backend = NULL, *path = NULL;
    find_gio_modules(modules);
    int rc = vial_hive_new(out);
    if (rc == 0)
        rc = vial_reg_value_string(&backend, modules[0] ? "vial" : "memory");
    if (rc == 0)
        rc = vial_hive_put(*out, "env", "GSETTINGS_BACKEND", backend);
    if (rc == 0 && modules[0] && (rc = vial_reg_value_string(&path, modules)) == 0)
        rc = vial_hive_put(*out, "env/prepend", "GIO_EXTRA_MODULES", path);
    vial_reg_value_free(backend);
    vial_reg_value_free(path);
    return rc;
}

/* The application's environment: the host's, changed as the registry says
 * (docs/registry.md), with what the references ${...} may name. */
static int build_environment(struct launch *l)
{
    struct vial_hive *package = NULL, *defaults = NULL;
    struct vial_reg *reg = NULL;
    char *vars[12];
    size_t n = 0;
    int rc = launch_defaults(&defaults);
    if (rc == 0)
        rc = cli_registry_open(&reg, &package, l->image, l->state, defaults);
    if (rc == 0) {
        const char *home = cli_home();
        static const struct { const char *name, *under_home; } xdg[] = {
            {"XDG_CONFIG_HOME", ".config"}, {"XDG_DATA_HOME", ".local/share"},
            {"XDG_CACHE_HOME", ".cache"}, {"XDG_STATE_HOME", ".local/state"}};
        if (asprintf(&vars[n], "VIAL_PACKAGE=%s", l->manifest->name) >= 0) n++;
        if (asprintf(&vars[n], "VIAL_VERSION=%s", l->manifest->version) >= 0) n++;
        if (asprintf(&vars[n], "VIAL_STATE_GROUP=%s", l->manifest->state_group) >= 0) n++;
        if (asprintf(&vars[n], "VIAL_IMAGE=%s", l->image_path) >= 0) n++;
        if (asprintf(&vars[n], "VIAL_STATE=%s", l->state) >= 0) n++;
        for (size_t i = 0; i < sizeof xdg / sizeof xdg[0]; i++)
            if (!getenv(xdg[i].name) && home &&
                asprintf(&vars[n], "%s=%s/%s", xdg[i].name, home, xdg[i].under_home) >= 0)
                n++;
        vars[n] = NULL;
        extern char **environ;
        rc = vial_reg_env_build(&l->env, &l->env_changes, reg, environ, vars);
    }
    for (size_t i = 0; i < n; i++)
        free(vars[i]);
    vial_reg_close(reg);
    vial_hive_free(package);
    vial_hive_free(defaults);
    return rc;
}

/* The changed variables as the session's host_env line: "NAME=VALUE" (the
 * host's value) or "NAME" (the host had none), space-separated, with
 * spaces, '%' and control bytes as %XX. */
static int format_host_env(char *out, size_t size, char **changes)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; changes && changes[i]; i++) {
        if (used && used + 1 < size)
            out[used++] = ' ';
        for (const unsigned char *p = (const unsigned char *)changes[i]; *p; p++) {
            if (used + 4 >= size)
                return vial_error_set(-E2BIG, "the environment the package changes is too large");
            if (*p <= ' ' || *p == '%' || *p == 0x7f)
                used += (size_t)snprintf(out + used, size - used, "%%%02X", *p);
            else
                out[used++] = (char)*p;
        }
    }
    out[used] = '\0';
    return 0;
}

/* Opens the image; its metadata hashes are checked the first time this
 * file (device, inode, size, mtime) is seen, then remembered. */
static int open_verified(struct launch *l)
{
    struct stat st;
    char record[PATH_MAX], hex[2 * VIAL_HASH_LEN + 1], stored[2 * VIAL_HASH_LEN + 1] = "";
    if (stat(l->image_path, &st) < 0)
        return vial_error_set(-errno, "%s: %s", l->image_path, strerror(errno));
    snprintf(record, sizeof record, "%s/verified/%llx-%llx-%llx-%llx.%lx", l->dirs.cache,
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
             (unsigned long long)st.st_size, (unsigned long long)st.st_mtim.tv_sec,
             (unsigned long)st.st_mtim.tv_nsec);
    int fd = open(record, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, stored, sizeof stored - 1);
        stored[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    int rc = vial_image_open_path(&l->image, l->image_path, 0);
    if (rc < 0)
        return rc;
    vial_hash_hex(hex, vial_image_header(l->image)->root_hash);
    if (strcmp(stored, hex) == 0)
        return 0;
    vial_image_close(l->image);
    l->image = NULL;
    if ((rc = vial_image_open_path(&l->image, l->image_path, VIAL_OPEN_VERIFY_METADATA)) < 0)
        return rc;
    char directory[PATH_MAX], temp[PATH_MAX + 32];
    snprintf(directory, sizeof directory, "%s/verified", l->dirs.cache);
    if (vial_mkdir_p(directory, 0700) == 0) {
        snprintf(temp, sizeof temp, "%s.%d", record, (int)getpid());
        fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            int ok = write(fd, hex, strlen(hex)) == (ssize_t)strlen(hex);
            close(fd);
            if (!ok || rename(temp, record) < 0)
                unlink(temp);
        }
    }
    return 0;
}

/* The runtime directory: $XDG_RUNTIME_DIR/vial, or /tmp/vial-UID, which
 * must then be ours and private (another user could have made it). */
static int prepare_runtime_dir(const char *path)
{
    struct stat st;
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        int rc = vial_mkdir_p(path, 0700);
        if (rc < 0)
            return vial_error_set(rc, "cannot create %s: %s", path, strerror(-rc));
    }
    if (lstat(path, &st) < 0)
        return vial_error_set(-errno, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077))
        return vial_error_set(-EPERM,
                              "%s is not a private directory of yours: remove it or set "
                              "XDG_RUNTIME_DIR",
                              path);
    return 0;
}

/* The manifest's host tools as the session lists them: ':'-separated. */
static void append_host_tools(char *out, size_t size, const struct vial_manifest *m)
{
    size_t used = 0;
    out[0] = '\0';
    if (!m->host_tools)
        return;
    const char *p = m->host_tools;
    while (*p) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, " \t");
        if (n && used + n + 2 < size) {
            used += (size_t)snprintf(out + used, size - used, "%s%.*s", used ? ":" : "", (int)n, p);
        }
        p += n;
    }
}

/* The session file a process of the bubble reads at start: named after its
 * content, so that identical launches share one and none is ever removed
 * from under a running process. */
static int write_session(struct launch *l)
{
    static char text[65536], host_env[VIAL_SESSION_HOST_ENV_MAX];
    char host_tools[4096], directory[PATH_MAX], policy[8192], stream[2 * PATH_MAX + 32] = "";
    append_host_tools(host_tools, sizeof host_tools, l->manifest);
    if (vial_policy_format(&l->policy, policy, sizeof policy) < 0)
        return vial_error_set(-ENAMETOOLONG, "isolation rules too long for the session");
    int rc = format_host_env(host_env, sizeof host_env, l->env_changes);
    if (rc < 0)
        return rc;
    const char *home = cli_home();
    if (l->url) {
        char socket_path[PATH_MAX];
        vial_agent_socket(socket_path, sizeof socket_path, &l->dirs);
        snprintf(stream, sizeof stream, "chunks=%s/chunks\nagent=%s\n", l->dirs.cache, socket_path);
    }
    int n = snprintf(text, sizeof text,
                     "# vial session\nimage=%s\ncache=%s\nview=%s\npreload=%s\nhost_tools=%s\n"
                     "state=%s\nhome=%s\npolicy=%s\nregistry=%s/registry.hive\nhive=%s\nhost_env=%s\n"
                     "capture=%d\nprofile=%s\n%s",
                     l->image_path, l->dirs.cache, l->view, l->preload, host_tools, l->state,
                     home ? home : "", policy, l->state, l->hive, host_env, l->state_override != NULL,
                     l->profile ? l->profile : "", stream);
    const struct cli_run_extra *x = l->extra;
    if (n >= 0 && x && x->trace && (size_t)n < sizeof text)
        n += snprintf(text + n, sizeof text - (size_t)n, "trace=%s\ntrace_format=%s\ntrace_calls=%s\n",
                      x->trace, x->trace_format ? x->trace_format : "text",
                      x->trace_calls ? x->trace_calls : "");
    for (int i = 0; n >= 0 && x && i < x->hook_count && (size_t)n < sizeof text; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "hook=%s\n", x->hooks[i]);
    if (n < 0 || (size_t)n >= sizeof text)
        return vial_error_set(-ENAMETOOLONG, "session too large");
    /* declared hooks, one line each (the interposer's audit side reads them) */
    for (size_t i = 0; i < l->manifest->hook_count; i++) {
        if ((rc = vial_hook_session_line(text + n, sizeof text - (size_t)n, &l->manifest->hooks[i])) < 0)
            return vial_error_set(-ENAMETOOLONG, "session too large (hook %s)",
                                  l->manifest->hooks[i].name);
        n += (int)strlen(text + n);
    }
    uint8_t hash[VIAL_HASH_LEN];
    char hex[2 * VIAL_HASH_LEN + 1];
    vial_hash(hash, text, (size_t)n);
    vial_hash_hex(hex, hash);
    if ((rc = prepare_runtime_dir(l->dirs.runtime)) < 0)
        return rc;
    snprintf(directory, sizeof directory, "%s/sessions", l->dirs.runtime);
    if (mkdir(directory, 0700) < 0 && errno != EEXIST)
        return vial_error_set(-errno, "cannot create %s: %s", directory, strerror(errno));
    snprintf(l->session, sizeof l->session, "%s/%.32s.session", directory, hex);
    if (access(l->session, R_OK) == 0)
        return 0;
    char temp[PATH_MAX + 32];
    snprintf(temp, sizeof temp, "%s.%d", l->session, (int)getpid());
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return vial_error_set(-errno, "cannot create %s: %s", temp, strerror(errno));
    int ok = write(fd, text, (size_t)n) == n;
    if (close(fd) < 0 || !ok || rename(temp, l->session) < 0) {
        unlink(temp);
        return vial_error_set(-EIO, "cannot write the session file %s", l->session);
    }
    return 0;
}

/* A state directory of the caller's choice (vial sequence's capture),
 * made a store as cli_state_prepare makes the user's. */
static int prepare_state_override(struct launch *l)
{
    snprintf(l->state, sizeof l->state, "%s", l->state_override);
    struct vial_delta *delta = NULL;
    int rc = vial_mkdir_p(l->state, 0700);
    if (rc == 0 && (rc = vial_delta_open(&delta, l->state, 1)) < 0)
        return vial_error_set(rc, "cannot make a store in %s: %s", l->state, strerror(-rc));
    vial_delta_close(delta);
    return rc;
}

static int prepare(struct launch *l, const char *image)
{
    int rc;
    if ((rc = vial_dirs_get(&l->dirs)) < 0 || (rc = vial_mkdir_p(l->dirs.cache, 0700)) < 0)
        return rc;
    if (cli_is_url(image)) {
        l->url = image;
        if ((rc = cli_stream_mirror(l->image_path, sizeof l->image_path, image, &l->dirs)) < 0)
            return rc;
    } else if (!realpath(image, l->image_path)) {
        return vial_error_set(-errno, "%s: %s", image, strerror(errno));
    }
    if ((rc = open_verified(l)) < 0 ||
        (l->url && (rc = cli_stream_attach(l->image, l->image_path, &l->dirs)) < 0) ||
        (!l->own_image && (rc = cli_trust_check(l->image, l->url ? l->url : l->image_path)) < 0) ||
        (rc = cli_find_beside_vial(l->preload, "libvial-preload.so")) < 0)
        return rc;
    const void *text;
    uint64_t length;
    if (vial_image_section(&text, &length, l->image, VIAL_SECTION_MANIFEST) < 0 ||
        vial_manifest_parse(&l->manifest, text, (size_t)length) < 0)
        return vial_error_prefix(VIAL_ECORRUPT, "%s: manifest", image);
    if ((rc = vial_view_dir(l->view, sizeof l->view, l->dirs.cache, l->image)) < 0 ||
        (rc = vial_mkdir_p(l->view, 0700)) < 0)
        return vial_error_set(rc, "cannot create the view directory %s", l->view);
    if ((rc = cli_policy(&l->policy, l->manifest, &l->dirs)) < 0 ||
        (rc = l->state_override ? prepare_state_override(l)
                                : cli_state_prepare(l->state, sizeof l->state, &l->dirs, l->manifest,
                                                    l->image_path, l->fresh)) < 0 ||
        (rc = publish_package_hive(l)) < 0 || (rc = build_environment(l)) < 0)
        return rc;
    return write_session(l);
}

static void prepend_env(const char *name, const char *value)
{
    const char *old = getenv(name);
    if (old && strstr(old, value))
        return;
    char *joined = NULL;
    if (old && *old) {
        if (asprintf(&joined, "%s:%s", value, old) < 0)
            return;
        setenv(name, joined, 1);
        free(joined);
    } else {
        setenv(name, value, 1);
    }
}

/* vial profile --until-idle: waits while the program keeps reading new
 * image files; once the profile has not grown for l->until_idle seconds,
 * stops the program's process group (SIGTERM, then SIGKILL). */
/* Whether pid has ended (left for the caller to collect). */
static int has_ended(pid_t pid)
{
    siginfo_t info = {0};
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != 0;
}

static void wait_until_idle(const struct launch *l, pid_t pid)
{
    off_t last_size = -1;
    struct timespec last_change, now;
    clock_gettime(CLOCK_MONOTONIC, &last_change);
    for (;;) {
        if (has_ended(pid))
            return; /* by itself */
        struct stat st;
        off_t size = stat(l->profile, &st) == 0 ? st.st_size : 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (size != last_size) {
            last_size = size;
            last_change = now;
        } else if ((double)(now.tv_sec - last_change.tv_sec) + (now.tv_nsec - last_change.tv_nsec) / 1e9 >=
                   l->until_idle) {
            kill(-pid, SIGTERM);
            for (int i = 0; i < 50; i++) {
                usleep(100 * 1000);
                if (has_ended(pid))
                    return;
            }
            kill(-pid, SIGKILL);
            return;
        }
        usleep(50 * 1000);
    }
}

/* A streamed image's launch keeps a connection to the fetch agent open
 * until the program ends, so that the agent stays while it may be needed,
 * and asks it to fetch the launch profile's chunks ahead of the program's
 * own requests. Returns the held connection, or -1. */
static int hold_agent(const struct launch *l)
{
    int held, prefetch;
    if (!l->url || cli_agent_connect(&held, &l->dirs) < 0)
        return -1;
    if (send(held, "HOLD\n", 5, MSG_NOSIGNAL) != 5) {
        close(held);
        return -1;
    }
    const void *profile;
    uint64_t length;
    if (vial_image_section(&profile, &length, l->image, VIAL_SECTION_PROFILE) == 0 &&
        cli_agent_connect(&prefetch, &l->dirs) == 0) {
        char request[PATH_MAX + 32];
        int n = snprintf(request, sizeof request, "PREFETCH %s profile\n", l->image_path);
        if (send(prefetch, request, (size_t)n, MSG_NOSIGNAL) != n)
            cli_error("cannot ask the fetch agent for the launch profile");
        close(prefetch); /* the agent goes on without us */
    }
    return held;
}

/* While a streamed image's program runs: if the agent goes away (killed,
 * crashed), its held connection closes; start another and hold it, so that
 * the program's next missing chunk still has someone to fetch it. Returns
 * when the program has ended. */
static void keep_agent(const struct launch *l, pid_t pid, int *held)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* readable once pid ends */
    while (*held >= 0 && !has_ended(pid)) {
        struct pollfd watch[2] = {{.fd = *held, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        int ready = poll(watch, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 200);
        if (ready <= 0 || !(watch[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        close(*held);
        *held = -1;
        int fd;
        if (cli_agent_connect(&fd, &l->dirs) < 0)
            cli_error("the fetch agent stopped and does not start again: %s", vial_error_last());
        else if (send(fd, "HOLD\n", 5, MSG_NOSIGNAL) != 5)
            close(fd);
        else
            *held = fd;
    }
    if (pidfd >= 0)
        close(pidfd);
}

/* Runs argv inside the bubble and returns what vial should exit with. */
static int launch(struct launch *l, char **argv)
{
    int held = hold_agent(l);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("cannot start %s: %s", argv[0], strerror(errno));
        return VIAL_EXIT_FAILURE;
    }
    if (pid == 0) {
        extern char **environ;
        if (l->until_idle > 0)
            setpgid(0, 0); /* so that the whole program can be stopped */
        environ = l->env;
        setenv("VIAL_SESSION", l->session, 1);
        prepend_env("LD_PRELOAD", l->preload);
        setenv("LD_AUDIT", l->preload, 1);
        void *library = dlopen(l->preload, RTLD_NOW | RTLD_LOCAL);
        int (*start)(const char *, char *const[], char *const[]) =
            library ? (int (*)(const char *, char *const[], char *const[]))dlsym(
                          library, "vial_preload_launch")
                    : NULL;
        if (!start) {
            cli_error("cannot load %s: %s", l->preload, dlerror());
            _exit(127);
        }
        start(argv[0], argv, environ);
        int error = errno;
        cli_error("cannot start %s in package %s %s: %s%s", argv[0], l->manifest->name,
                  l->manifest->version, strerror(error),
                  error == ENOENT ? " (not in the image nor on the host; see 'vial ls')" : "");
        _exit(error == ENOENT ? 127 : 126);
    }
    /* like system(): the terminal's signals are for the application */
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigaction(SIGINT, &ignore, &old_int);
    sigaction(SIGQUIT, &ignore, &old_quit);
    int status;
    if (l->until_idle > 0)
        wait_until_idle(l, pid);
    else if (held >= 0)
        keep_agent(l, pid, &held);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (held >= 0)
        close(held);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    int sig = WTERMSIG(status);
    if (l->keep_signal)
        return 128 + sig;
    /* die the same way, so that a shell sees what the application did */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    raise(sig);
    return 128 + sig;
}

static void split_args(char **argv, size_t *argc, char *text)
{
    for (char *word = strtok(text, " \t"); word && *argc < RUN_MAX_ARGS - 1;
         word = strtok(NULL, " \t"))
        argv[(*argc)++] = word;
}

static void release(struct launch *l)
{
    vial_reg_env_free(l->env);
    vial_reg_env_free(l->env_changes);
    vial_manifest_free(l->manifest);
    vial_image_close(l->image);
    free(l);
}

/* run IMAGE [ENTRY] [-- ARGS], exec IMAGE -- PROGRAM [ARGS], shell IMAGE */
static int run_command(const char *command, int argc, char **argv, const struct cli_run_extra *extra)
{
    int fresh = 0;
    for (; argc > 1 && (strcmp(argv[1], "--fresh") == 0 || strcmp(argv[1], "--require-signature") == 0);
         argv++, argc--) {
        if (strcmp(argv[1], "--fresh") == 0)
            fresh = 1;
        else
            setenv(CLI_REQUIRE_SIGNATURE_ENV, "1", 1); /* as `vial --require-signature` */
    }
    int dash = argc;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            dash = i;
            break;
        }
    int positional = dash - 1;
    if (positional < 1)
        return cli_usage(command, "no IMAGE given");
    struct launch *l = calloc(1, sizeof *l);
    if (!l)
        return cli_fail(vial_error_set(-ENOMEM, "out of memory"));
    l->fresh = fresh;
    if (extra) {
        l->profile = extra->profile;
        l->until_idle = extra->until_idle;
        l->keep_signal = extra->until_idle > 0;
        l->extra = extra;
    }
    int rc = prepare(l, argv[1]);
    if (rc < 0) {
        int code = cli_fail(rc);
        release(l);
        return code;
    }
    char *child[RUN_MAX_ARGS];
    size_t n = 0;
    char *args_copy = NULL;
    if (strcmp(command, "run") == 0) {
        if (positional > 2) {
            release(l);
            return cli_usage(command, "one ENTRY at most (program arguments go after --)");
        }
        const char *name = positional == 2 ? argv[2] : l->manifest->default_entry;
        const struct vial_manifest_entry *entry = name ? vial_manifest_find_entry(l->manifest, name) : NULL;
        if (!entry) {
            if (name)
                cli_error("%s: package %s has no entry '%s' (see 'vial info %s')", argv[1],
                          l->manifest->name, name, argv[1]);
            else
                cli_error("%s: package %s declares no entry point: use 'vial exec %s -- PROGRAM'",
                          argv[1], l->manifest->name, argv[1]);
            release(l);
            return VIAL_EXIT_USAGE;
        }
        child[n++] = entry->exec;
        if (entry->args && (args_copy = strdup(entry->args)))
            split_args(child, &n, args_copy);
    } else if (strcmp(command, "exec") == 0) {
        if (positional != 1 || dash + 1 >= argc) {
            release(l);
            return cli_usage(command, "usage: vial exec IMAGE -- PROGRAM [ARGS]");
        }
        child[n++] = argv[++dash];
    } else { /* shell */
        if (positional != 1) {
            release(l);
            return cli_usage(command, "one IMAGE expected");
        }
        const char *shell = getenv("SHELL");
        child[n++] = (char *)(shell && *shell ? shell : "/bin/sh");
    }
    for (int i = dash + 1; i < argc && n < RUN_MAX_ARGS - 1; i++)
        child[n++] = argv[i];
    child[n] = NULL;
    int code = launch(l, child);
    free(args_copy);
    release(l);
    return code;
}

int cli_run_in_bubble(const char *image, const char *state_directory, char **argv)
{
    struct launch *l = calloc(1, sizeof *l);
    if (!l)
        return cli_fail(vial_error_set(-ENOMEM, "out of memory"));
    l->state_override = state_directory;
    l->own_image = 1;
    l->keep_signal = 1;
    int rc = prepare(l, image);
    int code = rc < 0 ? cli_fail(rc) : launch(l, argv);
    release(l);
    return code;
}

int cli_run_command(const char *command, int argc, char **argv, const struct cli_run_extra *extra)
{
    return run_command(command, argc, argv, extra);
}

int cmd_run(int argc, char **argv) { return run_command("run", argc, argv, NULL); }
int cmd_exec(int argc, char **argv) { return run_command("exec", argc, argv, NULL); }
int cmd_shell(int argc, char **argv) { return run_command("shell", argc, argv, NULL); }
