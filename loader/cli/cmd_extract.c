/*
 * cmd_extract.c - `vial extract IMAGE DIR`.
 *
 * Containment: every file is created relative to a directory descriptor
 * with O_NOFOLLOW/O_EXCL (never through a path string), names come from
 * the index and are checked by the reader (no '/', "." or ".."), and no
 * symlink is ever followed, so whatever the image says, nothing is written
 * outside DIR. Hard links are made last, by walking both paths from DIR
 * again without following symlinks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cli.h"

#define EXTRACT_MAX_DEPTH 256
#define EXTRACT_BUFFER (1u << 20)
#define SPARSE_BLOCK 4096u

struct extract {
    const struct vial_image *image;
    struct vial_reader *reader;
    const char *dir;
    int root_fd;
    int restore_owner;
    unsigned xattr_failures;
    char first_xattr_failure[256];
    uint32_t *hardlinks;
    uint32_t hardlink_count;
    uint8_t *buffer;
};

static int fail_at(struct extract *x, uint32_t index, int err, const char *what)
{
    char path[4096];
    if (vial_image_path(path, sizeof path, x->image, index) < 0)
        snprintf(path, sizeof path, "#%u", index);
    if (err == EEXIST)
        return vial_error_set(VIAL_ECORRUPT, "%s/%s: the image holds this path twice", x->dir,
                              path);
    return vial_error_set(-err, "%s/%s: cannot %s: %s", x->dir, path, what, strerror(err));
}

static void restore_xattrs(struct extract *x, int fd, uint32_t index)
{
    for (uint32_t i = 0;; i++) {
        struct vial_xattr xattr;
        char name[256];
        if (vial_image_xattr(&xattr, x->image, index, i) < 0)
            break;
        snprintf(name, sizeof name, "%.*s", (int)xattr.name_length, xattr.name);
        if (fsetxattr(fd, name, xattr.value, xattr.value_length, 0) < 0) {
            if (x->xattr_failures++ == 0)
                snprintf(x->first_xattr_failure, sizeof x->first_xattr_failure, "%s (%s)", name,
                         strerror(errno));
        }
    }
}

static int is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static int write_content(struct extract *x, int fd, uint32_t index, uint64_t size)
{
    for (uint64_t offset = 0; offset < size;) {
        size_t n;
        int rc = vial_reader_pread(&n, x->reader, index, x->buffer, EXTRACT_BUFFER, offset);
        if (rc < 0)
            return rc;
        if (n == 0)
            return vial_error_set(VIAL_ECORRUPT, "corrupt image: file %u ends early", index);
        /* Runs of zeros become holes, so sparse files stay sparse. */
        for (size_t at = 0; at < n;) {
            size_t block = n - at < SPARSE_BLOCK ? n - at : SPARSE_BLOCK;
            if (is_zero(x->buffer + at, block)) {
                at += block;
                continue;
            }
            ssize_t w = pwrite(fd, x->buffer + at, block, (off_t)(offset + at));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return fail_at(x, index, w < 0 ? errno : EIO, "write");
            at += (size_t)w;
        }
        offset += n;
    }
    if (ftruncate(fd, (off_t)size) < 0)
        return fail_at(x, index, errno, "set the size of");
    return 0;
}

static void times_of(struct timespec times[2], const struct vial_entry *e)
{
    times[0].tv_sec = times[1].tv_sec = (time_t)e->mtime_sec;
    times[0].tv_nsec = times[1].tv_nsec = e->mtime_nsec;
}

/* Owner first (chown clears set-id bits), then mode, xattrs, times. */
static int finish_fd(struct extract *x, int fd, const struct vial_entry *e)
{
    struct timespec times[2];
    if (x->restore_owner && fchown(fd, e->uid, e->gid) < 0)
        return fail_at(x, e->index, errno, "set the owner of");
    if (fchmod(fd, e->mode & 07777) < 0)
        return fail_at(x, e->index, errno, "set the mode of");
    restore_xattrs(x, fd, e->index);
    times_of(times, e);
    if (futimens(fd, times) < 0)
        return fail_at(x, e->index, errno, "set the time of");
    return 0;
}

static int extract_directory(struct extract *x, int dir_fd, uint32_t dir, unsigned depth);

static int extract_child(struct extract *x, int dir_fd, uint32_t index, unsigned depth)
{
    struct vial_entry e;
    char name[256];
    int rc = vial_image_entry(&e, x->image, index), fd = -1;
    if (rc < 0)
        return rc;
    snprintf(name, sizeof name, "%.*s", (int)e.name_length, e.name);
    switch (e.type) {
    case VIAL_ENTRY_DIRECTORY:
        if (depth >= EXTRACT_MAX_DEPTH)
            return vial_error_set(VIAL_ECORRUPT, "image directories nest deeper than %d levels",
                                  EXTRACT_MAX_DEPTH);
        if (mkdirat(dir_fd, name, 0700) < 0)
            return fail_at(x, index, errno, "create directory");
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return fail_at(x, index, errno, "open directory");
        rc = extract_directory(x, fd, index, depth + 1);
        if (rc == 0)
            rc = finish_fd(x, fd, &e);
        close(fd);
        return rc;
    case VIAL_ENTRY_REGULAR:
        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return fail_at(x, index, errno, "create");
        rc = write_content(x, fd, index, e.size);
        if (rc == 0)
            rc = finish_fd(x, fd, &e);
        if (close(fd) < 0 && rc == 0)
            rc = fail_at(x, index, errno, "write");
        return rc;
    case VIAL_ENTRY_SYMLINK: {
        const char *target;
        size_t length;
        char copy[4096];
        struct timespec times[2];
        if ((rc = vial_image_readlink(&target, &length, x->image, index)) < 0)
            return rc;
        snprintf(copy, sizeof copy, "%.*s", (int)length, target);
        if (symlinkat(copy, dir_fd, name) < 0)
            return fail_at(x, index, errno, "create symlink");
        if (x->restore_owner && fchownat(dir_fd, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW) < 0)
            return fail_at(x, index, errno, "set the owner of");
        times_of(times, &e);
        if (utimensat(dir_fd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
            return fail_at(x, index, errno, "set the time of");
        return 0;
    }
    case VIAL_ENTRY_HARDLINK: {
        uint32_t *grown = realloc(x->hardlinks, (x->hardlink_count + 1) * sizeof *grown);
        if (!grown)
            return vial_error_set(-ENOMEM, "out of memory");
        x->hardlinks = grown;
        x->hardlinks[x->hardlink_count++] = index;
        return 0;
    }
    }
    return vial_error_set(VIAL_ECORRUPT, "corrupt image: entry %u has an unknown type", index);
}

static int extract_directory(struct extract *x, int dir_fd, uint32_t dir, unsigned depth)
{
    uint32_t first, count;
    int rc = vial_image_children(&first, &count, x->image, dir);
    for (uint32_t c = first; rc == 0 && c < first + count; c++)
        rc = extract_child(x, dir_fd, c, depth);
    return rc;
}

/* Opens the directory holding entry index by walking its path from DIR,
 * following no symlink; *out_name is the entry's own name. */
static int open_parent(int *out_fd, char *out_name, struct extract *x, uint32_t index)
{
    char path[4096];
    int rc = vial_image_path(path, sizeof path, x->image, index);
    if (rc < 0)
        return rc;
    int fd = dup(x->root_fd);
    char *component = path, *slash;
    while (fd >= 0 && (slash = strchr(component, '/'))) {
        *slash = '\0';
        int next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
        component = slash + 1;
    }
    if (fd < 0)
        return fail_at(x, index, errno, "reach the directory of");
    snprintf(out_name, 256, "%s", component);
    *out_fd = fd;
    return 0;
}

static int make_hardlinks(struct extract *x)
{
    for (uint32_t i = 0; i < x->hardlink_count; i++) {
        struct vial_entry e;
        char link_name[256], target_name[256];
        int link_dir = -1, target_dir = -1;
        int rc = vial_image_entry(&e, x->image, x->hardlinks[i]);
        if (rc == 0)
            rc = open_parent(&link_dir, link_name, x, e.index);
        if (rc == 0)
            rc = open_parent(&target_dir, target_name, x, e.primary);
        /* directories got their final mode already; a read-only one must
         * accept this name for a moment */
        struct stat dir_stat;
        int lifted = 0;
        if (rc == 0 && fstat(link_dir, &dir_stat) == 0 && !(dir_stat.st_mode & S_IWUSR))
            lifted = fchmod(link_dir, (dir_stat.st_mode & 07777) | S_IWUSR) == 0;
        if (rc == 0 && linkat(target_dir, target_name, link_dir, link_name, 0) < 0)
            rc = fail_at(x, e.index, errno, "create hard link");
        if (lifted && fchmod(link_dir, dir_stat.st_mode & 07777) < 0 && rc == 0)
            rc = fail_at(x, e.parent, errno, "set the mode of");
        /* the new name changed its directory's time: put the image's back */
        struct vial_entry parent;
        struct timespec times[2];
        if (rc == 0 && (rc = vial_image_entry(&parent, x->image, e.parent)) == 0) {
            times_of(times, &parent);
            if (futimens(link_dir, times) < 0)
                rc = fail_at(x, e.parent, errno, "set the time of");
        }
        if (link_dir >= 0)
            close(link_dir);
        if (target_dir >= 0)
            close(target_dir);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* DIR must be new or empty: extracting over existing files would mix
 * them with the image's. */
static int prepare_dir(int *out_fd, const char *dir)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return vial_error_set(-errno, "%s: cannot create: %s", dir, strerror(errno));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vial_error_set(-errno, "%s: %s", dir, strerror(errno));
    int probe = dup(fd);
    DIR *d = probe >= 0 ? fdopendir(probe) : NULL;
    struct dirent *entry;
    int empty = 1;
    while (d && (entry = readdir(d)))
        if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, ".."))
            empty = 0;
    if (d)
        closedir(d);
    if (!empty) {
        close(fd);
        return vial_error_set(-ENOTEMPTY, "%s: directory is not empty (extract needs a new or "
                              "empty directory)", dir);
    }
    *out_fd = fd;
    return 0;
}

int cmd_extract(int argc, char **argv)
{
    if (argc != 3)
        return cli_usage("extract", "IMAGE and DIR expected");
    struct vial_image *image = NULL;
    struct extract x = {.dir = argv[2], .root_fd = -1, .restore_owner = geteuid() == 0};
    struct vial_entry root;
    int rc = cli_open_image(&image, argv[1]);
    x.image = image;
    if (rc == 0 && !(x.buffer = malloc(EXTRACT_BUFFER)))
        rc = vial_error_set(-ENOMEM, "out of memory");
    if (rc == 0)
        rc = vial_reader_new(&x.reader, image);
    if (rc == 0)
        rc = prepare_dir(&x.root_fd, argv[2]);
    if (rc == 0)
        rc = extract_directory(&x, x.root_fd, 0, 0);
    if (rc == 0)
        rc = make_hardlinks(&x);
    if (rc == 0)
        rc = vial_image_entry(&root, image, 0);
    if (rc == 0)
        rc = finish_fd(&x, x.root_fd, &root);
    if (rc == 0 && x.xattr_failures)
        fprintf(stderr,
                "vial: warning: %u extended attributes could not be restored, first %s; run as "
                "root on a file system with xattr support to keep them\n",
                x.xattr_failures, x.first_xattr_failure);
    if (x.root_fd >= 0)
        close(x.root_fd);
    vial_reader_free(x.reader);
    vial_image_close(image);
    free(x.hardlinks);
    free(x.buffer);
    return rc < 0 ? cli_fail(rc) : VIAL_EXIT_OK;
}
