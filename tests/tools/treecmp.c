/*
 * treecmp - compares two directory trees entry by entry: type, mode, size,
 * modification time (ns), content, symlink target, extended attributes and
 * hard-link grouping (and owner with --owner). Prints each difference and
 * exits 1 if there is any; used by the round-trip tests.
 *
 * usage: treecmp [--owner] [--no-dir-mtime] A B
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_REPORTED 50

struct link_map { /* inode in A -> first relative path seen; same for B */
    dev_t dev;
    ino_t ino;
    char *path;
};

static struct link_map *links_a, *links_b;
static size_t links_a_count, links_b_count;
static unsigned differences;
static int compare_owner, compare_dir_mtime = 1;
static unsigned long entries;

static void differ(const char *path, const char *fmt, const char *a, const char *b)
{
    if (++differences <= MAX_REPORTED)
        printf("%s: %s differs: %s vs %s\n", path[0] ? path : ".", fmt, a, b);
}

static const char *link_group(struct link_map **map, size_t *count, const struct stat *st,
                              const char *path)
{
    for (size_t i = 0; i < *count; i++)
        if ((*map)[i].dev == st->st_dev && (*map)[i].ino == st->st_ino)
            return (*map)[i].path;
    *map = realloc(*map, (*count + 1) * sizeof **map);
    (*map)[*count] = (struct link_map){st->st_dev, st->st_ino, strdup(path)};
    return (*map)[(*count)++].path;
}

static int read_all(const char *path, char **out, size_t *length)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t capacity = 1 << 16, n = 0;
    char *data = malloc(capacity);
    size_t r;
    while ((r = fread(data + n, 1, capacity - n, f)) > 0) {
        n += r;
        if (n == capacity)
            data = realloc(data, capacity *= 2);
    }
    fclose(f);
    *out = data;
    *length = n;
    return 0;
}

static int compare_files(const char *a, const char *b)
{
    char *x, *y;
    size_t nx, ny;
    if (read_all(a, &x, &nx) < 0)
        return -1;
    if (read_all(b, &y, &ny) < 0) {
        free(x);
        return -1;
    }
    int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static char *xattr_list(const char *path)
{
    /* "name=hexvalue;" sorted, as one string */
    char names[65536];
    ssize_t n = llistxattr(path, names, sizeof names);
    if (n <= 0)
        return strdup("");
    char *sorted[1024];
    size_t count = 0;
    for (ssize_t i = 0; i < n && count < 1024; i += (ssize_t)strlen(names + i) + 1)
        sorted[count++] = names + i;
    for (size_t i = 1; i < count; i++)
        for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
            char *t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    size_t capacity = 1024, length = 0;
    char *out = calloc(1, capacity);
    for (size_t i = 0; i < count; i++) {
        unsigned char value[65536];
        ssize_t v = lgetxattr(path, sorted[i], value, sizeof value);
        size_t need = strlen(sorted[i]) + 2 * (size_t)(v > 0 ? v : 0) + 4;
        while (length + need >= capacity)
            out = realloc(out, capacity *= 2);
        length += (size_t)sprintf(out + length, "%s=", sorted[i]);
        for (ssize_t k = 0; k < v; k++)
            length += (size_t)sprintf(out + length, "%02x", value[k]);
        out[length++] = ';';
        out[length] = '\0';
    }
    return out;
}

static int name_compare(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static char **list_dir(const char *path, size_t *count)
{
    DIR *d = opendir(path);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    if (!d) {
        *count = 0;
        return NULL;
    }
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n > 1) /* names is NULL for an empty directory */
        qsort(names, n, sizeof *names, name_compare);
    *count = n;
    return names;
}

static void compare_entry(const char *root_a, const char *root_b, const char *relative);

static void compare_dirs(const char *root_a, const char *root_b, const char *relative)
{
    char pa[PATH_MAX], pb[PATH_MAX], child[PATH_MAX];
    snprintf(pa, sizeof pa, "%s/%s", root_a, relative);
    snprintf(pb, sizeof pb, "%s/%s", root_b, relative);
    size_t na, nb;
    char **a = list_dir(pa, &na), **b = list_dir(pb, &nb);
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i >= na ? 1 : j >= nb ? -1 : strcmp(a[i], b[j]);
        if (c == 0) {
            snprintf(child, sizeof child, "%s%s%s", relative, relative[0] ? "/" : "", a[i]);
            compare_entry(root_a, root_b, child);
            i++, j++;
        } else if (c < 0) {
            snprintf(child, sizeof child, "%s%s%s", relative, relative[0] ? "/" : "", a[i++]);
            differ(child, "presence", "present", "missing");
        } else {
            snprintf(child, sizeof child, "%s%s%s", relative, relative[0] ? "/" : "", b[j++]);
            differ(child, "presence", "missing", "present");
        }
    }
    for (size_t k = 0; k < na; k++)
        free(a[k]);
    for (size_t k = 0; k < nb; k++)
        free(b[k]);
    free(a);
    free(b);
}

static void compare_entry(const char *root_a, const char *root_b, const char *relative)
{
    char pa[PATH_MAX], pb[PATH_MAX], x[64], y[64];
    struct stat sa, sb;
    entries++;
    snprintf(pa, sizeof pa, "%s/%s", root_a, relative);
    snprintf(pb, sizeof pb, "%s/%s", root_b, relative);
    if (lstat(pa, &sa) < 0 || lstat(pb, &sb) < 0) {
        differ(relative, "lstat", strerror(errno), "");
        return;
    }
    if (sa.st_mode != sb.st_mode) {
        snprintf(x, sizeof x, "%o", sa.st_mode);
        snprintf(y, sizeof y, "%o", sb.st_mode);
        differ(relative, "mode", x, y);
        return;
    }
    if (compare_owner && (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid)) {
        snprintf(x, sizeof x, "%u:%u", sa.st_uid, sa.st_gid);
        snprintf(y, sizeof y, "%u:%u", sb.st_uid, sb.st_gid);
        differ(relative, "owner", x, y);
    }
    if ((!S_ISDIR(sa.st_mode) || compare_dir_mtime) &&
        (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)) {
        snprintf(x, sizeof x, "%lld.%09ld", (long long)sa.st_mtim.tv_sec, sa.st_mtim.tv_nsec);
        snprintf(y, sizeof y, "%lld.%09ld", (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
        differ(relative, "mtime", x, y);
    }
    char *xa = xattr_list(pa), *xb = xattr_list(pb);
    if (strcmp(xa, xb) != 0)
        differ(relative, "xattrs", xa, xb);
    free(xa);
    free(xb);
    if (S_ISREG(sa.st_mode)) {
        if (sa.st_size != sb.st_size) {
            snprintf(x, sizeof x, "%lld", (long long)sa.st_size);
            snprintf(y, sizeof y, "%lld", (long long)sb.st_size);
            differ(relative, "size", x, y);
        } else if (compare_files(pa, pb) != 1) {
            differ(relative, "content", "", "");
        }
        if (sa.st_nlink > 1 || sb.st_nlink > 1) {
            const char *ga = link_group(&links_a, &links_a_count, &sa, relative);
            const char *gb = link_group(&links_b, &links_b_count, &sb, relative);
            if (strcmp(ga, gb) != 0)
                differ(relative, "hard link group", ga, gb);
        }
    } else if (S_ISLNK(sa.st_mode)) {
        char ta[PATH_MAX], tb[PATH_MAX];
        ssize_t na = readlink(pa, ta, sizeof ta - 1), nb = readlink(pb, tb, sizeof tb - 1);
        ta[na < 0 ? 0 : na] = tb[nb < 0 ? 0 : nb] = '\0';
        if (strcmp(ta, tb) != 0)
            differ(relative, "symlink target", ta, tb);
    } else if (S_ISDIR(sa.st_mode)) {
        compare_dirs(root_a, root_b, relative);
    }
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--owner"))
            compare_owner = 1;
        else if (!strcmp(argv[i], "--no-dir-mtime"))
            compare_dir_mtime = 0;
        else
            break;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: treecmp [--owner] [--no-dir-mtime] A B\n");
        return 2;
    }
    compare_entry(argv[i], argv[i + 1], "");
    if (differences > MAX_REPORTED)
        printf("... and %u more differences\n", differences - MAX_REPORTED);
    printf("treecmp: %lu entries compared, %u differences\n", entries, differences);
    return differences ? 1 : 0;
}
