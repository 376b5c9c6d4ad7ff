/*
 * cmd_state.c - the user's state of each package: where it lives, how a
 * launch prepares it, and `vial state`, `vial diff`, `vial reset`.
 *
 * DATA/state/<package>/<state group>/ holds the delta (vfs-redirect's
 * store: upper/, work/, index, lock) and an `info` file. A state group a
 * user has never run starts as a copy of the newest group of the same
 * package, so an upgrade keeps the user's settings.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "registry.h"
#include "vfs.h"

int cli_state_directory(char *out, size_t size, const struct vial_dirs *dirs,
                        const struct vial_manifest *m)
{
    if ((size_t)snprintf(out, size, "%s/state/%s/%s", dirs->data, m->name, m->state_group) >= size)
        return vial_error_set(-ENAMETOOLONG, "state directory name too long");
    return 0;
}

const char *cli_home(void)
{
    const char *home = getenv("HOME");
    if (home && home[0] == '/')
        return home;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir ? pw->pw_dir : NULL;
}

int cli_policy(struct vial_policy *policy, const struct vial_manifest *m, const struct vial_dirs *dirs)
{
    vial_policy_defaults(policy, cli_home());
    /* vial's own directories are never virtualized */
    const char *own[] = {dirs->cache, dirs->data, dirs->runtime};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        char normalized[PATH_MAX];
        if (own[i][0] == '/' && vial_vfs_normalize(normalized, sizeof normalized, own[i], NULL) == 0)
            vial_policy_set(policy, normalized, VIAL_ISOLATION_PASSTHROUGH);
    }
    for (size_t i = 0; i < m->isolation_count; i++) {
        int rc = vial_policy_set(policy, m->isolation[i].path, m->isolation[i].kind);
        if (rc == -ENOSPC)
            return vial_error_set(rc, "too many isolation rules (at most 64 with the defaults)");
    }
    return 0;
}

/* ------------------------------------------------------------- tree walks */

static int walk_tree(int fd, char *path, size_t length, cli_tree_visitor visit, void *context)
{
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return -errno;
    }
    struct dirent *e;
    int rc = 0;
    while (rc >= 0 && (e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t n = strlen(e->d_name);
        if (length + 1 + n >= PATH_MAX)
            continue;
        path[length] = '/';
        memcpy(path + length + 1, e->d_name, n + 1);
        struct stat st;
        if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        rc = visit(dirfd(dir), e->d_name, path, &st, context);
        if (rc == 0 && S_ISDIR(st.st_mode)) {
            int child = openat(dirfd(dir), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child >= 0)
                rc = walk_tree(child, path, length + 1 + n, visit, context);
        }
        rc = rc > 0 ? 0 : rc; /* 1: do not descend */
        path[length] = '\0';
    }
    closedir(dir);
    return rc;
}

int cli_walk_tree(const char *root, cli_tree_visitor visit, void *context)
{
    char path[PATH_MAX] = "";
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return walk_tree(fd, path, 0, visit, context);
}

/* Deletes a tree (children first: the walk visits parents first, so
 * directories are removed on the way back). */
int cli_remove_tree(const char *root)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return -errno;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(dir), e->d_name, 0) == 0)
            continue;
        if (errno != EISDIR && errno != EPERM) {
            rc = -errno;
            continue;
        }
        char child[PATH_MAX];
        snprintf(child, sizeof child, "%s/%s", root, e->d_name);
        chmod(child, 0700); /* a read-only directory the app made */
        int r = cli_remove_tree(child);
        if (r < 0)
            rc = r;
    }
    closedir(dir);
    if (rmdir(root) < 0 && errno != ENOENT)
        rc = -errno;
    return rc;
}

struct copy_context {
    int target;
    int rc;
};

static int copy_entry(int parent, const char *name, const char *path, const struct stat *st,
                      void *context)
{
    struct copy_context *c = context;
    const char *at = path + 1;
    struct timespec times[2] = {st->st_atim, st->st_mtim};
    int rc = 0;
    if (S_ISDIR(st->st_mode)) {
        if (mkdirat(c->target, at, 0700) < 0)
            rc = -errno;
    } else if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(parent, name, target, sizeof target - 1);
        if (n < 0)
            return -errno;
        target[n] = '\0';
        if (symlinkat(target, c->target, at) < 0)
            rc = -errno;
    } else if (S_ISREG(st->st_mode)) {
        int from = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        int to = openat(c->target, at, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (from < 0 || to < 0)
            rc = -errno;
        char buffer[65536];
        ssize_t n;
        while (rc == 0 && (n = read(from, buffer, sizeof buffer)) > 0)
            if (write(to, buffer, (size_t)n) != n)
                rc = -errno;
        if (from >= 0)
            close(from);
        if (to >= 0 && close(to) < 0 && rc == 0)
            rc = -errno;
    } else {
        return 0; /* sockets, FIFOs: not state worth carrying */
    }
    if (rc < 0)
        return rc;
    /* the recorded owner (virtualized chown) travels with the entry */
    char from_path[64], value[64];
    snprintf(from_path, sizeof from_path, "/proc/self/fd/%d", parent);
    char full[PATH_MAX + 64], copy[PATH_MAX + 64];
    snprintf(full, sizeof full, "%s/%s", from_path, name);
    snprintf(copy, sizeof copy, "/proc/self/fd/%d/%s", c->target, at);
    ssize_t n = lgetxattr(full, VIAL_DELTA_OWNER_XATTR, value, sizeof value);
    if (n > 0)
        lsetxattr(copy, VIAL_DELTA_OWNER_XATTR, value, (size_t)n, 0);
    if (!S_ISLNK(st->st_mode))
        fchmodat(c->target, at, st->st_mode & 07777, 0);
    utimensat(c->target, at, times, AT_SYMLINK_NOFOLLOW);
    return 0;
}

/* The newest other state group of the package (by the time of its upper/). */
static int newest_group(char *out, size_t size, const char *package_dir, const char *except)
{
    DIR *dir = opendir(package_dir);
    struct dirent *e;
    struct timespec best = {0, 0};
    int found = 0;
    if (!dir)
        return 0;
    while ((e = readdir(dir))) {
        char upper[PATH_MAX];
        struct stat st;
        if (e->d_name[0] == '.' || strcmp(e->d_name, except) == 0)
            continue;
        snprintf(upper, sizeof upper, "%s/%s/info", package_dir, e->d_name);
        if (stat(upper, &st) < 0)
            continue;
        if (!found || st.st_mtim.tv_sec > best.tv_sec ||
            (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec > best.tv_nsec)) {
            best = st.st_mtim;
            snprintf(out, size, "%s/%s", package_dir, e->d_name);
            found = 1;
        }
    }
    closedir(dir);
    return found;
}

static int write_info(const char *directory, const struct vial_manifest *m, const char *image)
{
    char path[PATH_MAX], temp[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/info", directory);
    snprintf(temp, sizeof temp, "%s.%d", path, (int)getpid());
    FILE *f = fopen(temp, "w");
    if (!f)
        return -errno;
    fprintf(f, "package=%s\nstate_group=%s\nversion=%s\nimage=%s\n", m->name, m->state_group,
            m->version, image);
    if (fclose(f) != 0 || rename(temp, path) < 0) {
        unlink(temp);
        return -EIO;
    }
    return 0;
}

int cli_state_prepare(char *out, size_t size, const struct vial_dirs *dirs,
                      const struct vial_manifest *m, const char *image, int fresh)
{
    int rc = cli_state_directory(out, size, dirs, m);
    if (rc < 0)
        return rc;
    char package_dir[PATH_MAX], upper[PATH_MAX + 8];
    snprintf(package_dir, sizeof package_dir, "%s/state/%s", dirs->data, m->name);
    snprintf(upper, sizeof upper, "%s/upper", out);
    struct stat st;
    if (stat(upper, &st) < 0) {
        if ((rc = vial_mkdir_p(package_dir, 0700)) < 0)
            return vial_error_set(rc, "cannot create %s: %s", package_dir, strerror(-rc));
        char source[PATH_MAX];
        if (!fresh && newest_group(source, sizeof source, package_dir, m->state_group)) {
            /* copied whole under a temporary name, then renamed: a crash
             * leaves either no group or a complete one */
            char temp[PATH_MAX], from_upper[PATH_MAX + 8], temp_upper[PATH_MAX + 8];
            snprintf(temp, sizeof temp, "%s/.new-%s.%d", package_dir, m->state_group, (int)getpid());
            snprintf(from_upper, sizeof from_upper, "%s/upper", source);
            snprintf(temp_upper, sizeof temp_upper, "%s/upper", temp);
            cli_remove_tree(temp);
            if (vial_mkdir_p(temp_upper, 0700) == 0) {
                struct copy_context c = {.target = open(temp_upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
                rc = c.target < 0 ? -errno : cli_walk_tree(from_upper, copy_entry, &c);
                if (c.target >= 0)
                    close(c.target);
                if (rc == 0 && rename(temp, out) == 0)
                    fprintf(stderr, "vial: %s %s starts from the settings of %s\n", m->name,
                            m->state_group, strrchr(source, '/') + 1);
                else
                    cli_remove_tree(temp);
            }
        }
    }
    struct vial_delta *delta;
    if ((rc = vial_delta_open(&delta, out, 1)) < 0)
        return vial_error_set(rc, "cannot open the state of %s in %s: %s", m->name, out,
                              strerror(-rc));
    vial_delta_close(delta);
    write_info(out, m, image);
    return 0;
}

/* --------------------------------------------------------------- commands */

struct usage {
    uint64_t bytes;
    uint64_t entries;
    int64_t newest;
};

static int count_entry(int parent, const char *name, const char *path, const struct stat *st,
                       void *context)
{
    struct usage *u = context;
    (void)parent;
    (void)path;
    if (strcmp(name, VIAL_DELTA_OPAQUE_NAME) == 0)
        return 0;
    u->bytes += (uint64_t)st->st_blocks * 512;
    u->entries++;
    if (st->st_mtim.tv_sec > u->newest)
        u->newest = st->st_mtim.tv_sec;
    return 0;
}

int cmd_state(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return cli_usage("state", "unexpected argument '%s'", argv[i]);
    }
    struct vial_dirs dirs;
    int rc = vial_dirs_get(&dirs);
    if (rc < 0)
        return cli_fail(rc);
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/state", dirs.data);
    cJSON *list = json ? cJSON_CreateArray() : NULL;
    DIR *packages = opendir(root);
    struct dirent *p, *g;
    int rows = 0;
    while (packages && (p = readdir(packages))) {
        if (p->d_name[0] == '.')
            continue;
        char package_dir[PATH_MAX];
        snprintf(package_dir, sizeof package_dir, "%s/%s", root, p->d_name);
        DIR *groups = opendir(package_dir);
        while (groups && (g = readdir(groups))) {
            if (g->d_name[0] == '.')
                continue;
            char upper[PATH_MAX * 2];
            snprintf(upper, sizeof upper, "%s/%s/upper", package_dir, g->d_name);
            struct usage u = {0, 0, 0};
            if (cli_walk_tree(upper, count_entry, &u) < 0)
                continue;
            char size[32], when[32] = "-";
            cli_format_size(size, sizeof size, u.bytes);
            if (u.newest) {
                time_t t = (time_t)u.newest;
                strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
            }
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "package", p->d_name);
                cJSON_AddStringToObject(o, "state_group", g->d_name);
                cJSON_AddNumberToObject(o, "bytes", (double)u.bytes);
                cJSON_AddNumberToObject(o, "entries", (double)u.entries);
                cJSON_AddStringToObject(o, "path", upper);
                cJSON_AddItemToArray(list, o);
            } else {
                if (rows++ == 0)
                    printf("%-24s %-16s %10s %8s  %s\n", "PACKAGE", "STATE GROUP", "SIZE",
                           "ENTRIES", "CHANGED");
                printf("%-24s %-16s %10s %8llu  %s\n", p->d_name, g->d_name, size,
                       (unsigned long long)u.entries, when);
            }
        }
        if (groups)
            closedir(groups);
    }
    if (packages)
        closedir(packages);
    if (json) {
        char *text = cJSON_Print(list);
        puts(text ? text : "[]");
        free(text);
        cJSON_Delete(list);
    } else if (rows == 0) {
        printf("no package has stored state (in %s)\n", root);
    }
    return VIAL_EXIT_OK;
}

/* The package of an image, its state directory and its namespace without
 * the delta (what lies below the user's changes). */
struct package_state {
    struct vial_image *image;
    struct vial_manifest *manifest;
    struct vial_dirs dirs;
    struct vial_policy policy;
    struct vial_namespace lower;
    char directory[PATH_MAX];
};

static int open_package_state(struct package_state *s, const char *image)
{
    const void *text;
    uint64_t length;
    int rc = cli_open_image(&s->image, image);
    if (rc < 0)
        return rc;
    if ((rc = vial_image_section(&text, &length, s->image, VIAL_SECTION_MANIFEST)) < 0 ||
        (rc = vial_manifest_parse(&s->manifest, text, (size_t)length)) < 0)
        return vial_error_prefix(VIAL_ECORRUPT, "%s: manifest", image);
    if ((rc = vial_dirs_get(&s->dirs)) < 0 || (rc = cli_policy(&s->policy, s->manifest, &s->dirs)) < 0 ||
        (rc = cli_state_directory(s->directory, sizeof s->directory, &s->dirs, s->manifest)) < 0)
        return rc;
    s->lower.image = s->image;
    s->lower.policy = &s->policy;
    return 0;
}

static void close_package_state(struct package_state *s)
{
    vial_manifest_free(s->manifest);
    vial_image_close(s->image);
}

struct diff_context {
    struct package_state *state;
    const char *upper;
    unsigned long count;
};

/* Whether the layers below the delta have path. */
static int lower_has(struct package_state *s, const char *path)
{
    struct vial_vfs_result r;
    struct stat st;
    if (vial_vfs_resolve(&r, &s->lower, path, 0) < 0)
        return 0;
    if (r.kind == VIAL_VFS_IMAGE)
        return 1;
    return r.kind == VIAL_VFS_HOST && lstat(r.path, &st) == 0;
}

static int diff_entry(int parent, const char *name, const char *path, const struct stat *st,
                      void *context)
{
    struct diff_context *d = context;
    if (strcmp(name, VIAL_DELTA_OPAQUE_NAME) == 0)
        return 0;
    if (S_ISLNK(st->st_mode)) {
        char target[64];
        ssize_t n = readlinkat(parent, name, target, sizeof target - 1);
        if (n >= 0) {
            target[n] = '\0';
            if (strcmp(target, VIAL_DELTA_WHITEOUT_TARGET) == 0) {
                printf("D %s\n", path);
                d->count++;
                return 0;
            }
        }
    }
    int below = lower_has(d->state, path);
    if (S_ISDIR(st->st_mode)) {
        if (below)
            return 0; /* a directory copied up for its children: they tell */
        printf("A %s/\n", path);
        d->count++;
        return 0;
    }
    printf("%c %s\n", below ? 'M' : 'A', path);
    d->count++;
    return 0;
}

struct registry_diff {
    struct vial_reg *reg;
    unsigned long count;
};

/* One record of the user's registry layer as a diff line: "registry:"
 * before the value's path (a key deletion ends with '/'). */
static int diff_record(const struct vial_reg_record *r, void *payload)
{
    struct registry_diff *d = payload;
    char letter = 'A';
    if (r->kind == VIAL_REG_KEY_DELETED) {
        printf("D registry:%s/\n", r->key);
    } else {
        struct vial_reg_value *below = NULL;
        if (vial_reg_get(&below, NULL, d->reg, VIAL_REG_LAYER_PACKAGE, r->key, r->name) == 0)
            letter = r->kind == VIAL_REG_VALUE_DELETED ? 'D' : 'M';
        else if (r->kind == VIAL_REG_VALUE_DELETED)
            letter = 'D';
        vial_reg_value_free(below);
        printf("%c registry:%s/%s\n", letter, r->key, r->name);
    }
    d->count++;
    return 0;
}

/* The user's registry changes of the package, after its files. */
static int diff_registry(struct package_state *s, unsigned long *count)
{
    struct vial_hive *package = NULL, *user = NULL;
    struct registry_diff d = {0};
    int rc = cli_registry_open(&d.reg, &package, s->image, s->directory, NULL);
    if (rc == 0)
        rc = vial_reg_snapshot(&user, d.reg, VIAL_REG_LAYER_USER, "");
    if (rc == 0)
        rc = vial_hive_foreach(user, diff_record, &d);
    *count += d.count;
    vial_hive_free(user);
    vial_reg_close(d.reg);
    vial_hive_free(package);
    return rc;
}

int cmd_diff(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage("diff", "one IMAGE expected");
    struct package_state s;
    memset(&s, 0, sizeof s);
    int rc = open_package_state(&s, argv[1]);
    if (rc < 0) {
        int code = cli_fail(rc);
        close_package_state(&s);
        return code;
    }
    char upper[PATH_MAX + 8];
    snprintf(upper, sizeof upper, "%s/upper", s.directory);
    struct diff_context d = {.state = &s, .upper = upper};
    rc = cli_walk_tree(upper, diff_entry, &d);
    if (rc < 0 && rc != -ENOENT) {
        cli_error("%s: %s", upper, strerror(-rc));
        close_package_state(&s);
        return VIAL_EXIT_FAILURE;
    }
    if ((rc = diff_registry(&s, &d.count)) < 0) {
        int code = cli_fail(rc);
        close_package_state(&s);
        return code;
    }
    if (d.count == 0)
        fprintf(stderr, "vial: no changes to %s %s\n", s.manifest->name, s.manifest->state_group);
    close_package_state(&s);
    return VIAL_EXIT_OK;
}

int cmd_reset(int argc, char **argv)
{
    int yes = 0;
    const char *image = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--yes") == 0 || strcmp(argv[i], "-y") == 0)
            yes = 1;
        else if (!image)
            image = argv[i];
        else
            return cli_usage("reset", "one IMAGE expected");
    }
    if (!image)
        return cli_usage("reset", "no IMAGE given");
    struct package_state s;
    memset(&s, 0, sizeof s);
    int rc = open_package_state(&s, image);
    if (rc < 0) {
        int code = cli_fail(rc);
        close_package_state(&s);
        return code;
    }
    struct stat st;
    if (stat(s.directory, &st) < 0) {
        fprintf(stderr, "vial: %s %s has no stored state\n", s.manifest->name, s.manifest->state_group);
        close_package_state(&s);
        return VIAL_EXIT_OK;
    }
    if (!yes) {
        char what[PATH_MAX + 128];
        snprintf(what, sizeof what, "delete the changes of %s %s", s.manifest->name,
                 s.manifest->state_group);
        int code = cli_confirm(what, "Delete every change the user made to %s %s (%s)?",
                               s.manifest->name, s.manifest->state_group, s.directory);
        if (code != VIAL_EXIT_OK) {
            close_package_state(&s);
            return code;
        }
    }
    /* renamed away first, so the state is gone at once even if removing
     * the files is interrupted */
    char trash[PATH_MAX + 64];
    snprintf(trash, sizeof trash, "%s/state/%s/.reset-%s.%d", s.dirs.data, s.manifest->name,
             s.manifest->state_group, (int)getpid());
    if (rename(s.directory, trash) < 0) {
        cli_error("cannot reset %s: %s", s.directory, strerror(errno));
        close_package_state(&s);
        return VIAL_EXIT_FAILURE;
    }
    rc = cli_remove_tree(trash);
    if (rc < 0)
        cli_error("the state was reset, but %s could not be removed completely: %s", trash,
                  strerror(-rc));
    printf("reset %s %s\n", s.manifest->name, s.manifest->state_group);
    close_package_state(&s);
    return VIAL_EXIT_OK;
}
