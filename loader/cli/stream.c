/*
 * stream.c - images given as URLs: the vial command's side of streaming.
 *
 * The command never fetches itself (it does not link libcurl, so a local
 * launch loads no TLS): it asks the per-user fetch agent, vial-agent, for a
 * mirror of the image (header and metadata, checked), opens the mirror like
 * any image and attaches the stream, so that chunks come from the shared
 * store and the agent. The agent is started here when none answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_is_url(const char *text)
{
    return strncasecmp(text, "http://", 7) == 0 || strncasecmp(text, "https://", 8) == 0 ||
           strncasecmp(text, "file://", 7) == 0;
}

int cli_find_beside_vial(char *out, const char *name)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return vial_error_set(-errno, "cannot find the vial binary: %s", strerror(errno));
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    const char *directories[] = {"", "../lib/vial/"};
    for (size_t i = 0; i < sizeof directories / sizeof directories[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s%s", self, directories[i], name);
        if (access(path, R_OK) == 0 && realpath(path, out))
            return 0;
    }
    return vial_error_set(-ENOENT, "%s is not beside %s/vial: rebuild vial", name, self);
}

static int try_connect(const char *path)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path)
        return vial_error_set(-ENAMETOOLONG, "the agent's socket path %s is too long: set "
                                             "XDG_RUNTIME_DIR to a shorter directory",
                              path);
    snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) == 0)
        return fd;
    int rc = -errno;
    close(fd);
    return rc;
}

/* Starts vial-agent detached from this process (twice forked, its own
 * session, output to RUNTIME/agent.log). */
static int start_agent(const struct vial_dirs *dirs)
{
    char agent[PATH_MAX], log[PATH_MAX];
    int rc = cli_find_beside_vial(agent, "vial-agent");
    if (rc < 0)
        return rc;
    if ((rc = vial_mkdir_p(dirs->runtime, 0700)) < 0)
        return vial_error_set(rc, "cannot create %s: %s", dirs->runtime, strerror(-rc));
    snprintf(log, sizeof log, "%s/agent.log", dirs->runtime);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return vial_error_set(-errno, "cannot start the fetch agent: %s", strerror(errno));
    if (pid == 0) {
        setsid();
        if (fork() != 0)
            _exit(0);
        int null = open("/dev/null", O_RDWR);
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (null >= 0)
            dup2(null, 0), dup2(null, 1);
        if (out >= 0)
            dup2(out, 2);
        execl(agent, "vial-agent", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    return 0;
}

int cli_agent_connect(int *out, const struct vial_dirs *dirs)
{
    char path[PATH_MAX];
    vial_agent_socket(path, sizeof path, dirs);
    int fd = try_connect(path);
    if (fd == -ENAMETOOLONG)
        return fd;
    if (fd < 0) {
        int rc = start_agent(dirs);
        if (rc < 0)
            return rc;
        for (int i = 0; i < 100 && fd < 0; i++) { /* up to 10 s */
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
            fd = try_connect(path);
        }
    }
    if (fd < 0)
        return vial_error_set(-EIO, "the fetch agent did not start (see %s/agent.log)",
                              dirs->runtime);
    *out = fd;
    return 0;
}

int cli_agent_ask(char *answer, size_t size, int fd, const char *request)
{
    size_t length = strlen(request);
    for (size_t done = 0; done < length;) {
        ssize_t n = send(fd, request + done, length - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return vial_error_set(-EIO, "cannot talk to the fetch agent: %s", strerror(errno));
        done += (size_t)n;
    }
    size_t used = 0;
    while (used < size - 1) {
        ssize_t n = read(fd, answer + used, 1); /* one line, and not past it */
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return vial_error_set(-EIO, "the fetch agent stopped before answering");
        if (answer[used] == '\n')
            break;
        used++;
    }
    answer[used] = '\0';
    if (strncmp(answer, "ERR ", 4) == 0)
        return vial_error_set(-EIO, "%s", answer + 4);
    return 0;
}

int cli_stream_mirror(char *out, size_t size, const char *url, const struct vial_dirs *dirs)
{
    int fd, rc;
    char request[8192], answer[4096];
    if (strchr(url, '\n') || strchr(url, ' ') || strlen(url) > 4000)
        return vial_error_set(-EINVAL, "not a usable URL: %s", url);
    if ((rc = cli_agent_connect(&fd, dirs)) < 0)
        return rc;
    snprintf(request, sizeof request, "MIRROR %s\n", url);
    rc = cli_agent_ask(answer, sizeof answer, fd, request);
    close(fd);
    if (rc < 0)
        return rc;
    char *path = strchr(answer, ' ');
    if (!path)
        return vial_error_set(-EIO, "the fetch agent answered '%s'", answer);
    *path++ = '\0';
    if (strcmp(answer, "OFFLINE") == 0) {
        char *why = strchr(path, ' ');
        if (why)
            *why++ = '\0';
        fprintf(stderr, "vial: %s cannot be reached (%s); using the copy cached before\n", url,
                why ? why : "no answer");
    } else if (strcmp(answer, "OK") != 0) {
        return vial_error_set(-EIO, "the fetch agent answered '%s'", answer);
    }
    if ((size_t)snprintf(out, size, "%s", path) >= size)
        return vial_error_set(-ENAMETOOLONG, "mirror path too long");
    return 0;
}

int cli_stream_attach(struct vial_image *image, const char *mirror, const struct vial_dirs *dirs)
{
    char chunks[PATH_MAX], socket_path[PATH_MAX];
    snprintf(chunks, sizeof chunks, "%s/chunks", dirs->cache);
    vial_agent_socket(socket_path, sizeof socket_path, dirs);
    return vial_image_attach_stream(image, mirror, chunks, socket_path);
}

int cli_open_image_unchecked(struct vial_image **out, const char *path)
{
    struct vial_dirs dirs;
    char mirror[PATH_MAX];
    int rc;
    *out = NULL;
    if (!cli_is_url(path))
        return vial_image_open_path(out, path, VIAL_OPEN_VERIFY_METADATA);
    if ((rc = vial_dirs_get(&dirs)) == 0 &&
        (rc = cli_stream_mirror(mirror, sizeof mirror, path, &dirs)) == 0 &&
        (rc = vial_image_open_path(out, mirror, VIAL_OPEN_VERIFY_METADATA)) == 0 &&
        (rc = cli_stream_attach(*out, mirror, &dirs)) < 0) {
        vial_image_close(*out);
        *out = NULL;
    }
    return rc;
}

int cli_open_image(struct vial_image **out, const char *path)
{
    int rc = cli_open_image_unchecked(out, path);
    if (rc == 0 && (rc = cli_trust_check(*out, path)) < 0) {
        vial_image_close(*out);
        *out = NULL;
    }
    return rc;
}
