/*
 * import.c - importers: a Debian package's files or a tar archive unpacked
 * into a directory for the packer, and the manifest of what was unpacked
 * (entry points from .desktop files and from the executables of bin
 * directories).
 *
 * Unpacking is left to the tools that define the formats: `dpkg-deb
 * --fsys-tarfile` for .deb (every compression dpkg knows) and GNU tar for
 * archives (every compression tar detects). tar keeps members inside the
 * directory (it drops leading '/' and refuses '..' members, and creates
 * links that point outside only after every file is written); whatever
 * else an archive holds is checked again by the packer (device nodes,
 * names, symlinks climbing above the root).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "packager.h"

#define IMPORT_ENTRIES_MAX 1024
#define CONTROL_MAX (64u * 1024)

extern char **environ;

/* ------------------------------------------------------------- processes */

/* Waits for pid; 0 if it exited 0, else an error naming the program. */
static int wait_ok(pid_t pid, const char *program, const char *file)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return vial_error_set(-errno, "waiting for %s: %s", program, strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return vial_error_set(VIAL_EINVALID, "%s: %s failed (exit status %d; its message is above)", file,
                              program, WEXITSTATUS(status));
    return vial_error_set(VIAL_EINVALID, "%s: %s was killed by signal %d", file, program, WTERMSIG(status));
}

/* Starts argv with stdin and stdout as given (-1: inherited). */
static int start(pid_t *pid, char *const argv[], int in, int out, int close_fd)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (in >= 0)
        posix_spawn_file_actions_adddup2(&actions, in, 0);
    if (out >= 0)
        posix_spawn_file_actions_adddup2(&actions, out, 1);
    if (close_fd >= 0)
        posix_spawn_file_actions_addclose(&actions, close_fd);
    int rc = posix_spawnp(pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return vial_error_set(-rc, "cannot run %s: %s (is it installed?)", argv[0], strerror(rc));
    return 0;
}

/* Runs argv and keeps its standard output (at most CONTROL_MAX bytes). */
static int capture(char *out, size_t size, char *const argv[], const char *file)
{
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return vial_error_set(-errno, "pipe: %s", strerror(errno));
    pid_t pid;
    int rc = start(&pid, argv, -1, pipe_fds[1], pipe_fds[0]);
    close(pipe_fds[1]);
    size_t used = 0;
    if (rc == 0) {
        ssize_t n;
        while ((n = read(pipe_fds[0], out + used, size - 1 - used)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0 && (used += (size_t)n) == size - 1)
                break;
        out[used] = '\0';
    }
    close(pipe_fds[0]);
    if (rc == 0)
        rc = wait_ok(pid, argv[0], file);
    return rc;
}

/* ----------------------------------------------------------------- .deb */

/* "Field: value" of dpkg-deb -f output, first line only. */
static void control_field(char *out, size_t size, const char *control, const char *field)
{
    size_t n = strlen(field);
    out[0] = '\0';
    for (const char *line = control; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            const char *value = line + n + 1;
            value += strspn(value, " \t");
            size_t length = strcspn(value, "\n");
            if (length >= size)
                length = size - 1;
            memcpy(out, value, length);
            out[length] = '\0';
            return;
        }
    }
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* tar -x into directory, reading the archive from in (-1: file). */
static int untar(const char *file, int in, const char *directory)
{
    char *argv[] = {"tar", "-x", "--no-same-owner", "-p", "--delay-directory-restore",
                    "-f", in >= 0 ? "-" : (char *)file, "-C", (char *)directory, NULL};
    pid_t pid;
    int rc = start(&pid, argv, in, -1, -1);
    if (in >= 0)
        close(in);
    return rc < 0 ? rc : wait_ok(pid, "tar", file);
}

int vial_import_unpack(struct vial_import_package *package, const char *file, const char *directory)
{
    memset(package, 0, sizeof *package);
    struct stat st;
    if (stat(file, &st) < 0)
        return vial_error_set(-errno, "%s: %s", file, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return vial_error_set(-EINVAL, "%s: not a regular file", file);
    if (!has_suffix(file, ".deb") && !has_suffix(file, ".udeb"))
        return untar(file, -1, directory);

    static char control[CONTROL_MAX];
    char *fields[] = {"dpkg-deb", "--field", (char *)file, "Package", "Version", "Description",
                      "Maintainer", NULL};
    int rc = capture(control, sizeof control, fields, file);
    if (rc < 0)
        return rc;
    package->is_deb = 1;
    control_field(package->name, sizeof package->name, control, "Package");
    control_field(package->version, sizeof package->version, control, "Version");
    control_field(package->summary, sizeof package->summary, control, "Description");
    control_field(package->vendor, sizeof package->vendor, control, "Maintainer");
    if (!package->name[0] || !package->version[0])
        return vial_error_set(VIAL_EINVALID, "%s: the package has no Package or Version field", file);
    /* dpkg-deb --fsys-tarfile FILE | tar -x */
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return vial_error_set(-errno, "pipe: %s", strerror(errno));
    char *extract[] = {"dpkg-deb", "--fsys-tarfile", (char *)file, NULL};
    pid_t dpkg;
    if ((rc = start(&dpkg, extract, -1, pipe_fds[1], pipe_fds[0])) < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return rc;
    }
    close(pipe_fds[1]);
    rc = untar(file, pipe_fds[0], directory);
    int dpkg_rc = wait_ok(dpkg, "dpkg-deb --fsys-tarfile", file);
    return rc < 0 ? rc : dpkg_rc;
}

/* -------------------------------------------------------------- manifest */

struct entry_point {
    char name[65];
    char exec[4096];
    char description[160];
    char icon[160];
};

struct entry_list {
    struct entry_point *items;
    size_t count;
};

/* A name of the manifest's alphabet made from s: other characters become
 * '-', cut at 64; "" if nothing usable is left. */
static void entry_name(char *out, const char *s)
{
    size_t n = 0;
    while (*s && !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
        s++;
    for (; *s && n < 64; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._+-", c);
        out[n++] = ok ? c : '-';
    }
    out[n] = '\0';
}

/* Free text for one manifest line: no ';' or '#' (comments), no control
 * characters, at most limit bytes. */
static void free_text(char *out, size_t size, const char *s, size_t limit)
{
    size_t n = 0;
    for (; *s && n + 1 < size && n < limit; s++)
        out[n++] = (*s == ';' || *s == '#' || (unsigned char)*s < 0x20) ? ',' : *s;
    out[n] = '\0';
}

static int add_entry(struct entry_list *list, const char *name, const char *exec, const char *description,
                     const char *icon)
{
    char clean[65];
    entry_name(clean, name);
    if (!clean[0] || list->count >= IMPORT_ENTRIES_MAX)
        return 0;
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].exec, exec) == 0 || strcmp(list->items[i].name, clean) == 0)
            return 0; /* one entry per program and per name */
    struct entry_point *grown = realloc(list->items, (list->count + 1) * sizeof *grown);
    if (!grown)
        return vial_error_set(-ENOMEM, "out of memory");
    list->items = grown;
    struct entry_point *e = &grown[list->count++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", clean);
    snprintf(e->exec, sizeof e->exec, "%s", exec);
    free_text(e->description, sizeof e->description, description ? description : "", 120);
    free_text(e->icon, sizeof e->icon, icon ? icon : "", 120);
    return 0;
}

static const char *const bin_directories[] = {"usr/bin", "usr/games", "usr/local/bin", "bin"};

/* Where a desktop file's bare command name lives in the tree, or NULL. */
static int find_in_bin(char *out, size_t size, const char *root, const char *command)
{
    for (size_t i = 0; i < sizeof bin_directories / sizeof bin_directories[0]; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s/%s", root, bin_directories[i], command);
        if (access(path, F_OK) == 0) {
            snprintf(out, size, "/%s/%s", bin_directories[i], command);
            return 1;
        }
    }
    return 0;
}

/* The [Desktop Entry] of a .desktop file: an application's Exec becomes
 * an entry (its first word, resolved in the tree's bin directories when
 * it is a bare name; field codes and arguments are the launcher's). */
static int desktop_entry(struct entry_list *list, const char *root, const char *path, const char *base)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096], exec[4096] = "", name[256] = "", icon[256] = "", type[64] = "";
    int in_entry = 0, hidden = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '[') {
            in_entry = strcmp(line, "[Desktop Entry]") == 0;
            continue;
        }
        if (!in_entry)
            continue;
        if (strncmp(line, "Exec=", 5) == 0)
            snprintf(exec, sizeof exec, "%s", line + 5);
        else if (strncmp(line, "Name=", 5) == 0)
            snprintf(name, sizeof name, "%s", line + 5);
        else if (strncmp(line, "Icon=", 5) == 0)
            snprintf(icon, sizeof icon, "%s", line + 5);
        else if (strncmp(line, "Type=", 5) == 0)
            snprintf(type, sizeof type, "%s", line + 5);
        else if (strcmp(line, "NoDisplay=true") == 0 || strcmp(line, "Hidden=true") == 0)
            hidden = 1;
    }
    fclose(f);
    if (hidden || strcmp(type, "Application") != 0 || !exec[0])
        return 0;
    /* the program: the first word that is not "env" or a VAR=value */
    char command[4096] = "", program[4096];
    for (const char *p = exec; *p;) {
        p += strspn(p, " ");
        int quoted = *p == '"';
        size_t n = quoted ? strcspn(p + 1, "\"") : strcspn(p, " ");
        snprintf(command, sizeof command, "%.*s", (int)n, p + quoted);
        p += n + 2 * quoted;
        if (strcmp(command, "env") != 0 && !strchr(command, '='))
            break;
        command[0] = '\0';
    }
    if (command[0] == '/')
        snprintf(program, sizeof program, "%s", command);
    else if (!command[0] || strchr(command, '/') || !find_in_bin(program, sizeof program, root, command))
        return 0;
    char entry[256];
    snprintf(entry, sizeof entry, "%.*s", (int)(strlen(base) - strlen(".desktop")), base);
    return add_entry(list, entry, program, name, icon);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory, sorted (NULL if it cannot be read). */
static char **sorted_names(const char *directory, size_t *count)
{
    DIR *d = opendir(directory);
    *count = 0;
    if (!d)
        return NULL;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char **grown = realloc(names, (*count + 1) * sizeof *grown);
        if (!grown)
            break;
        names = grown;
        if (!(names[*count] = strdup(e->d_name)))
            break;
        (*count)++;
    }
    closedir(d);
    if (names)
        qsort(names, *count, sizeof *names, compare_names);
    return names;
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* Executables (regular, or symlinks to them inside the tree) of one bin
 * directory of the tree. */
static int binaries(struct entry_list *list, const char *root, const char *relative)
{
    char directory[8192];
    snprintf(directory, sizeof directory, "%s/%s", root, relative);
    size_t count;
    char **names = sorted_names(directory, &count);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        char path[8192], exec[8192];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", directory, names[i]);
        if (lstat(path, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
            continue;
        if (S_ISREG(st.st_mode) && !(st.st_mode & 0111))
            continue;
        snprintf(exec, sizeof exec, "/%s/%s", relative, names[i]);
        rc = add_entry(list, names[i], exec, NULL, NULL);
    }
    free_names(names, count);
    return rc;
}

int vial_import_manifest(char **out, const char *root, const struct vial_import_package *package,
                         const char *source)
{
    struct entry_list list = {0};
    char directory[8192];
    int rc = 0;
    *out = NULL;
    snprintf(directory, sizeof directory, "%s/usr/share/applications", root);
    size_t count;
    char **names = sorted_names(directory, &count);
    for (size_t i = 0; i < count && rc == 0; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", directory, names[i]);
        if (has_suffix(names[i], ".desktop"))
            rc = desktop_entry(&list, root, path, names[i]);
    }
    free_names(names, count);
    size_t from_desktop = list.count;
    for (size_t i = 0; i < sizeof bin_directories / sizeof bin_directories[0] && rc == 0; i++)
        rc = binaries(&list, root, bin_directories[i]);
    snprintf(directory, sizeof directory, "%s/opt", root);
    names = sorted_names(directory, &count);
    for (size_t i = 0; i < count && rc == 0; i++) {
        char relative[4096];
        snprintf(relative, sizeof relative, "opt/%s/bin", names[i]);
        rc = binaries(&list, root, relative);
    }
    free_names(names, count);
    if (rc < 0) {
        free(list.items);
        return rc;
    }
    /* the default: a desktop application, else the program named like the
     * package, else the first */
    const char *default_entry = list.count ? list.items[0].name : NULL;
    if (!from_desktop)
        for (size_t i = 0; i < list.count; i++)
            if (strcmp(list.items[i].name, package->name) == 0)
                default_entry = list.items[i].name;
    size_t size = 4096 + list.count * 4800;
    char *text = malloc(size);
    if (!text) {
        free(list.items);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    char summary[160], vendor[160];
    free_text(summary, sizeof summary, package->summary, 150);
    free_text(vendor, sizeof vendor, package->vendor, 150);
    size_t used = (size_t)snprintf(text, size, "# generated by vial import from %.150s\n[package]\nname = %s\nversion = %s\n",
                                   source, package->name, package->version);
    if (summary[0])
        used += (size_t)snprintf(text + used, size - used, "summary = %s\n", summary);
    if (vendor[0])
        used += (size_t)snprintf(text + used, size - used, "vendor = %s\n", vendor);
    if (default_entry)
        used += (size_t)snprintf(text + used, size - used, "default_entry = %s\n", default_entry);
    for (size_t i = 0; i < list.count; i++) {
        const struct entry_point *e = &list.items[i];
        if (strlen(e->exec) > 190) /* a manifest line holds 197 characters */
            continue;
        used += (size_t)snprintf(text + used, size - used, "\n[entry %s]\nexec = %s\n", e->name, e->exec);
        if (e->description[0])
            used += (size_t)snprintf(text + used, size - used, "description = %s\n", e->description);
        if (e->icon[0])
            used += (size_t)snprintf(text + used, size - used, "icon = %s\n", e->icon);
    }
    free(list.items);
    *out = text;
    return 0;
}
