/*
 * delta.c - the user's delta: a real directory tree (upper/) that mirrors
 * the virtual paths the user changed, plus a shared mapped table (index)
 * that answers "did the user change this path?" without a system call.
 *
 * The tree is the truth; the table is derived from it and rebuilt from it
 * when it is missing, damaged, or a writer died in the middle of a change
 * (writer_pid left set). Every change takes the store's lock, changes the
 * tree first and the table after, so another instance sees a change once
 * it is complete. Files are copied up under work/ and published with
 * link(): a half-copied file is never visible, and of two instances copying
 * up the same file the first one wins and both use its copy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "vfs.h"

#define DELTA_MAGIC "VIALDLT1"
#define DELTA_VERSION 1
#define DELTA_HEADER_SIZE 4096
#define DELTA_FIRST_BITS 14
#define DELTA_MAX_ROOTS 64
#define DELTA_ROOTS_UNKNOWN 0xffffffffu

struct delta_header {
    char magic[8];
    uint32_t version;
    uint32_t slot_bits;
    uint64_t count;      /* occupied slots, tombstones included */
    uint64_t generation; /* bumped by every change */
    int32_t writer_pid;  /* set while a writer changes tree and table */
    uint32_t replaced;   /* a bigger table replaced this file: reopen */
    uint32_t root_count; /* names in roots, or DELTA_ROOTS_UNKNOWN */
    uint32_t rebuilding; /* set while a writer grows or rebuilds the slots */
    char roots[DELTA_MAX_ROOTS][32];
    uint64_t moves; /* bumped when a directory of upper/ is renamed or removed */
};
_Static_assert(sizeof(struct delta_header) <= DELTA_HEADER_SIZE, "delta header fits its page");

struct delta_slot {
    uint64_t hash; /* 0: empty */
    uint32_t flags;
    uint32_t reserved;
};

struct vial_delta {
    char directory[PATH_MAX];
    char upper[PATH_MAX];
    size_t upper_length;
    int upper_fd, work_fd, index_fd;
    int lock_fd;
    pid_t lock_pid; /* flock is per open file: a forked child opens its own */
    pthread_mutex_t map_lock;
    struct delta_header *header;
    struct delta_slot *slots;
    size_t map_size;
    unsigned copy_counter;
};

/* ----------------------------------------------------------------- hashing */

uint64_t vial_delta_hash_root(void) { return 0xcbf29ce484222325ull; }

uint64_t vial_delta_hash_extend(uint64_t hash, const char *component, size_t length)
{
    hash = (hash ^ (uint8_t)'/') * 0x100000001b3ull;
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ (uint8_t)component[i]) * 0x100000001b3ull;
    return hash;
}

uint64_t vial_delta_hash_path(const char *path)
{
    uint64_t hash = vial_delta_hash_root();
    while (*path) {
        while (*path == '/')
            path++;
        size_t n = strcspn(path, "/");
        if (n)
            hash = vial_delta_hash_extend(hash, path, n);
        path += n;
    }
    return hash;
}

static uint64_t slot_key(uint64_t hash) { return hash ? hash : 1; }

/* ------------------------------------------------------------------- table */

static size_t table_size(uint32_t bits) { return DELTA_HEADER_SIZE + (sizeof(struct delta_slot) << bits); }

static int map_table(struct vial_delta *d)
{
    struct stat st;
    if (fstat(d->index_fd, &st) < 0)
        return -errno;
    if ((size_t)st.st_size < DELTA_HEADER_SIZE)
        return -EINVAL;
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->index_fd, 0);
    if (map == MAP_FAILED)
        return -errno;
    struct delta_header *h = map;
    if (memcmp(h->magic, DELTA_MAGIC, 8) != 0 || h->version != DELTA_VERSION ||
        h->slot_bits < 8 || h->slot_bits > 28 || (size_t)st.st_size != table_size(h->slot_bits)) {
        munmap(map, (size_t)st.st_size);
        return -EINVAL;
    }
    /* an old mapping may still be read by another thread: it is left
     * mapped (a table is replaced only when it fills up) */
    d->map_size = (size_t)st.st_size;
    d->slots = (struct delta_slot *)((char *)map + DELTA_HEADER_SIZE);
    __atomic_store_n(&d->header, h, __ATOMIC_RELEASE);
    return 0;
}

/* Writes an empty table of 2^bits slots to fd. */
static int format_table(int fd, uint32_t bits)
{
    struct delta_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, DELTA_MAGIC, 8);
    h.version = DELTA_VERSION;
    h.slot_bits = bits;
    if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)table_size(bits)) < 0 ||
        pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return -errno;
    return 0;
}

/* The slot of hash, or the empty slot where it would go; NULL if the
 * table is full (only a damaged file is: writers grow it at 70 %). */
static struct delta_slot *probe(struct delta_slot *slots, uint32_t bits, uint64_t key)
{
    size_t mask = ((size_t)1 << bits) - 1;
    size_t i = (size_t)(key ^ (key >> 29)) & mask;
    for (size_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        uint64_t h = __atomic_load_n(&slots[i].hash, __ATOMIC_ACQUIRE);
        if (h == key || h == 0)
            return &slots[i];
    }
    return NULL;
}

/* Reopens the table after another process replaced it. */
static void follow_replacement(struct vial_delta *d)
{
    pthread_mutex_lock(&d->map_lock);
    struct delta_header *h = __atomic_load_n(&d->header, __ATOMIC_ACQUIRE);
    if (h && __atomic_load_n(&h->replaced, __ATOMIC_ACQUIRE)) {
        int fd = openat(d->upper_fd, "../index", O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            int old = d->index_fd;
            d->index_fd = fd;
            if (map_table(d) == 0)
                close(old);
            else {
                close(fd);
                d->index_fd = old;
            }
        }
    }
    pthread_mutex_unlock(&d->map_lock);
}

static struct delta_header *current_header(struct vial_delta *d)
{
    struct delta_header *h = __atomic_load_n(&d->header, __ATOMIC_ACQUIRE);
    if (__builtin_expect(__atomic_load_n(&h->replaced, __ATOMIC_ACQUIRE) != 0, 0)) {
        follow_replacement(d);
        h = __atomic_load_n(&d->header, __ATOMIC_ACQUIRE);
    }
    return h;
}

uint32_t vial_delta_lookup(struct vial_delta *d, uint64_t hash)
{
    struct delta_header *h = current_header(d);
    struct delta_slot *slots = (struct delta_slot *)((char *)h + DELTA_HEADER_SIZE);
    struct delta_slot *s = probe(slots, h->slot_bits, slot_key(hash));
    if (!s) /* a damaged table (writers never fill it): the launcher rebuilds it */
        return 0;
    return s->hash ? __atomic_load_n(&s->flags, __ATOMIC_ACQUIRE) : 0;
}

uint64_t vial_delta_generation(struct vial_delta *d)
{
    return __atomic_load_n(&current_header(d)->generation, __ATOMIC_ACQUIRE);
}

int vial_delta_roots(struct vial_delta *d, char names[][32], int capacity)
{
    struct delta_header *h = current_header(d);
    uint32_t n = __atomic_load_n(&h->root_count, __ATOMIC_ACQUIRE);
    if (n == DELTA_ROOTS_UNKNOWN || (int)n > capacity)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        memcpy(names[i], h->roots[i], 32);
    return (int)n;
}

static void note_root(struct delta_header *h, const char *path)
{
    const char *name = path + 1;
    size_t n = strlen(name);
    if (n == 0 || strchr(name, '/') || h->root_count == DELTA_ROOTS_UNKNOWN)
        return;
    for (uint32_t i = 0; i < h->root_count; i++)
        if (strcmp(h->roots[i], name) == 0)
            return;
    if (n >= 32 || h->root_count >= DELTA_MAX_ROOTS) {
        __atomic_store_n(&h->root_count, DELTA_ROOTS_UNKNOWN, __ATOMIC_RELEASE);
        return;
    }
    memcpy(h->roots[h->root_count], name, n + 1);
    __atomic_store_n(&h->root_count, h->root_count + 1, __ATOMIC_RELEASE);
}

static int grow_table(struct vial_delta *d);

/* The slot of key, claimed if it was not in the table. Writers that do
 * not hold the lock claim slots too, hence the compare-and-swap. */
static struct delta_slot *claim(struct delta_header *h, struct delta_slot *slots, uint64_t key)
{
    for (;;) {
        struct delta_slot *s = probe(slots, h->slot_bits, key);
        if (!s || s->hash == key)
            return s;
        uint64_t empty = 0;
        if (__atomic_compare_exchange_n(&s->hash, &empty, key, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
            __atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
            return s;
        }
        if (empty == key)
            return s;
        /* another key took it: probe on */
    }
}

/* Sets the flags of path (the lock is held). */
static int table_set(struct vial_delta *d, const char *path, uint32_t flags)
{
    struct delta_header *h = d->header;
    if ((h->count + 1) * 10 > ((uint64_t)7 << h->slot_bits)) {
        int rc = grow_table(d);
        if (rc < 0)
            return rc;
        h = d->header;
    }
    struct delta_slot *s = claim(h, d->slots, slot_key(vial_delta_hash_path(path)));
    if (!s)
        return -ENOSPC;
    __atomic_store_n(&s->flags, flags, __ATOMIC_RELEASE);
    if (flags)
        note_root(h, path);
    return 0;
}

/* Replaces the table by one twice as large (the lock is held). */
static int grow_table(struct vial_delta *d)
{
    struct delta_header *old = d->header;
    uint32_t bits = old->slot_bits + 1;
    /* writers without the lock see this and record again under it (or this
     * copy sees what they recorded) */
    __atomic_store_n(&old->rebuilding, 1, __ATOMIC_SEQ_CST);
    if (bits > 28)
        return -ENOSPC;
    int fd = openat(d->upper_fd, "../index.new", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = format_table(fd, bits);
    void *map = rc == 0 ? mmap(NULL, table_size(bits), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                        : MAP_FAILED;
    if (map == MAP_FAILED) {
        rc = rc ? rc : -errno;
        close(fd);
        return rc;
    }
    struct delta_header *h = map;
    struct delta_slot *slots = (struct delta_slot *)((char *)map + DELTA_HEADER_SIZE);
    size_t old_slots = (size_t)1 << old->slot_bits;
    for (size_t i = 0; i < old_slots; i++)
        if (d->slots[i].hash && d->slots[i].flags) {
            struct delta_slot *s = probe(slots, bits, d->slots[i].hash);
            if (s) {
                *s = d->slots[i];
                h->count++;
            }
        }
    memcpy(h->roots, old->roots, sizeof h->roots);
    h->root_count = old->root_count;
    h->moves = old->moves;
    h->rebuilding = 0;
    h->generation = old->generation + 1;
    h->writer_pid = old->writer_pid;
    munmap(map, table_size(bits));
    if (renameat(d->upper_fd, "../index.new", d->upper_fd, "../index") < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    __atomic_store_n(&old->replaced, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&old->rebuilding, 0, __ATOMIC_SEQ_CST);
    int previous = d->index_fd;
    d->index_fd = fd;
    if ((rc = map_table(d)) < 0)
        return rc;
    close(previous);
    return 0;
}

int vial_delta_denies_search(const struct stat *st)
{
    if (geteuid() == 0)
        return 0;
    if (st->st_uid == geteuid())
        return !(st->st_mode & 0100);
    if (st->st_gid == getegid())
        return !(st->st_mode & 0010);
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == st->st_gid)
            return !(st->st_mode & 0010);
    return !(st->st_mode & 0001);
}

/* ------------------------------------------------------ rebuild from tree */

static int is_whiteout_at(int dirfd, const char *name)
{
    char target[64];
    ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    return strcmp(target, VIAL_DELTA_WHITEOUT_TARGET) == 0;
}

static int has_owner_at(int dirfd, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", dirfd);
    char full[PATH_MAX + 64];
    snprintf(full, sizeof full, "%s/%s", path, name);
    return lgetxattr(full, VIAL_DELTA_OWNER_XATTR, NULL, 0) > 0;
}

static int rebuild_directory(struct vial_delta *d, int fd, char *path, size_t length)
{
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return -errno;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(dir))) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            strcmp(name, VIAL_DELTA_OPAQUE_NAME) == 0)
            continue;
        size_t n = strlen(name);
        if (length + 1 + n >= PATH_MAX)
            continue;
        path[length] = '/';
        memcpy(path + length + 1, name, n + 1);
        struct stat st;
        if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        uint32_t flags;
        if (S_ISDIR(st.st_mode)) {
            /* only the directory's own marker makes it opaque */
            char marker[PATH_MAX];
            snprintf(marker, sizeof marker, "%s/%s", name, VIAL_DELTA_OPAQUE_NAME);
            flags = VIAL_DELTA_DIR;
            if (faccessat(dirfd(dir), marker, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                flags |= VIAL_DELTA_OPAQUE;
            if (vial_delta_denies_search(&st))
                flags |= VIAL_DELTA_NOSEARCH;
        } else if (S_ISLNK(st.st_mode)) {
            flags = is_whiteout_at(dirfd(dir), name) ? VIAL_DELTA_WHITEOUT : VIAL_DELTA_SYMLINK;
        } else {
            flags = VIAL_DELTA_FILE;
        }
        if (!(flags & VIAL_DELTA_WHITEOUT) && has_owner_at(dirfd(dir), name))
            flags |= VIAL_DELTA_OWNER;
        rc = table_set(d, path, flags);
        if (rc == 0 && S_ISDIR(st.st_mode)) {
            int child = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child >= 0)
                rc = rebuild_directory(d, child, path, length + 1 + n);
        }
        path[length] = '\0';
    }
    closedir(dir);
    return rc;
}

/* Rebuilds the table from the tree (the lock is held). */
static int rebuild(struct vial_delta *d)
{
    struct delta_header *h = d->header;
    uint64_t generation = h->generation;
    __atomic_store_n(&h->rebuilding, 1, __ATOMIC_SEQ_CST);
    memset(d->slots, 0, sizeof(struct delta_slot) << h->slot_bits);
    h->count = 0;
    h->root_count = 0;
    memset(h->roots, 0, sizeof h->roots);
    char path[PATH_MAX] = "";
    int fd = openat(d->upper_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : rebuild_directory(d, fd, path, 0);
    d->header->generation = generation + 1;
    __atomic_store_n(&d->header->rebuilding, 0, __ATOMIC_SEQ_CST);
    return rc;
}

/* ------------------------------------------------------------------ lock */

/* This process's id, kept across calls (getpid is a system call) and
 * renewed in a forked child. */
static pid_t process_id;
static void forget_process_id(void) { process_id = 0; }

static void watch_forks(void) { pthread_atfork(NULL, NULL, forget_process_id); }

static pid_t current_process(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks);
    if (process_id == 0)
        process_id = getpid();
    return process_id;
}

static int lock_store(struct vial_delta *d)
{
    if (d->lock_fd < 0 || d->lock_pid != current_process()) {
        if (d->lock_fd >= 0)
            close(d->lock_fd);
        d->lock_fd = openat(d->upper_fd, "../lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        d->lock_pid = current_process();
        if (d->lock_fd < 0)
            return -errno;
    }
    while (flock(d->lock_fd, LOCK_EX) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int vial_delta_begin(struct vial_delta *d)
{
    int rc = lock_store(d);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&d->map_lock);
    struct delta_header *h = d->header;
    if (h->replaced) { /* another process grew it while we waited */
        pthread_mutex_unlock(&d->map_lock);
        follow_replacement(d);
        pthread_mutex_lock(&d->map_lock);
        h = d->header;
    }
    if (h->writer_pid != 0) /* a writer died half-way: the tree is the truth */
        rebuild(d);
    d->header->writer_pid = (int32_t)current_process();
    return 0;
}

void vial_delta_end(struct vial_delta *d)
{
    struct delta_header *h = d->header;
    __atomic_add_fetch(&h->generation, 1, __ATOMIC_RELEASE);
    h->writer_pid = 0;
    pthread_mutex_unlock(&d->map_lock);
    flock(d->lock_fd, LOCK_UN);
}

int vial_delta_set(struct vial_delta *d, const char *path, uint32_t flags)
{
    return table_set(d, path, flags);
}

/* ------------------------------------------------------------ open/close */

static void remove_stale_work(struct vial_delta *d)
{
    int fd = dup(d->work_fd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(dir))) {
        int pid;
        if (sscanf(e->d_name, "copy.%d.", &pid) == 1 && pid > 0 && kill(pid, 0) < 0 &&
            errno == ESRCH)
            unlinkat(d->work_fd, e->d_name, 0);
    }
    closedir(dir);
}

int vial_delta_open(struct vial_delta **out, const char *directory, int create)
{
    struct vial_delta *d = calloc(1, sizeof *d);
    int rc = 0;
    *out = NULL;
    if (!d)
        return -ENOMEM;
    d->upper_fd = d->work_fd = d->index_fd = d->lock_fd = -1;
    pthread_mutex_init(&d->map_lock, NULL);
    if ((size_t)snprintf(d->directory, sizeof d->directory, "%s", directory) >= sizeof d->directory ||
        (size_t)snprintf(d->upper, sizeof d->upper, "%s/upper", directory) >= sizeof d->upper) {
        rc = -ENAMETOOLONG;
        goto fail;
    }
    d->upper_length = strlen(d->upper);
    if (create) {
        char work[PATH_MAX];
        snprintf(work, sizeof work, "%s/work", directory);
        if ((rc = vial_mkdir_p(d->upper, 0700)) < 0 || (rc = vial_mkdir_p(work, 0700)) < 0)
            goto fail;
    }
    d->upper_fd = open(d->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    d->work_fd = openat(d->upper_fd, "../work", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->upper_fd < 0 || d->work_fd < 0) {
        rc = -errno;
        goto fail;
    }
    d->index_fd = openat(d->upper_fd, "../index", O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (d->index_fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (map_table(d) < 0) {
        if (!create) {
            rc = -EINVAL;
            goto fail;
        }
        /* new or damaged: make it again from the tree, under the lock */
        if ((rc = lock_store(d)) < 0)
            goto fail;
        if (map_table(d) < 0) {
            if ((rc = format_table(d->index_fd, DELTA_FIRST_BITS)) < 0 || (rc = map_table(d)) < 0) {
                flock(d->lock_fd, LOCK_UN);
                goto fail;
            }
            d->header->writer_pid = (int32_t)getpid(); /* rebuilt by begin below */
        }
        flock(d->lock_fd, LOCK_UN);
    }
    if (create) {
        if ((rc = vial_delta_begin(d)) < 0)
            goto fail;
        /* a table fuller than writers leave it is damaged: rebuild */
        uint64_t used = 0, slots = (uint64_t)1 << d->header->slot_bits;
        for (uint64_t i = 0; i < slots; i++)
            used += d->slots[i].hash != 0;
        d->header->count = used;
        if (used * 10 > (slots * 7) + 10)
            rebuild(d);
        vial_delta_end(d);
        remove_stale_work(d);
    }
    *out = d;
    return 0;
fail:
    vial_delta_close(d);
    return rc;
}

void vial_delta_close(struct vial_delta *d)
{
    if (!d)
        return;
    if (d->header)
        munmap(d->header, d->map_size);
    int fds[] = {d->upper_fd, d->work_fd, d->index_fd, d->lock_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&d->map_lock);
    free(d);
}

const char *vial_delta_directory(const struct vial_delta *d) { return d->directory; }
int vial_delta_upper_fd(const struct vial_delta *d) { return d->upper_fd; }

uint64_t vial_delta_moves(struct vial_delta *d)
{
    return __atomic_load_n(&current_header(d)->moves, __ATOMIC_ACQUIRE);
}

void vial_delta_moved(struct vial_delta *d)
{
    __atomic_add_fetch(&current_header(d)->moves, 1, __ATOMIC_SEQ_CST);
}

int vial_delta_owns_fd(const struct vial_delta *d, int fd)
{
    return fd >= 0 && (fd == d->upper_fd || fd == d->work_fd || fd == d->index_fd ||
                       (fd == d->lock_fd && d->lock_pid == current_process()));
}
const char *vial_delta_upper(const struct vial_delta *d) { return d->upper; }

int vial_delta_upper_path(const struct vial_delta *d, char *out, size_t size, const char *path)
{
    if ((size_t)snprintf(out, size, "%s%s", d->upper, strcmp(path, "/") == 0 ? "" : path) >= size)
        return -ENAMETOOLONG;
    return 0;
}

int vial_delta_unupper(const struct vial_delta *d, char *path)
{
    size_t n = d->upper_length;
    if (strncmp(path, d->upper, n) != 0 || (path[n] != '/' && path[n] != '\0'))
        return 0;
    if (path[n] == '\0')
        strcpy(path, "/");
    else
        memmove(path, path + n, strlen(path + n) + 1);
    return 1;
}

/* ------------------------------------------------------------- tree edits */

/* The upper path of a virtual one, relative to upper_fd ("." for "/"). */
static const char *relative(const char *path) { return path[1] ? path + 1 : "."; }

static int copy_contents(int from, int to)
{
    for (;;) {
        ssize_t n = copy_file_range(from, NULL, to, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -errno;
        break;
    }
    char buffer[65536];
    for (;;) {
        ssize_t n = read(from, buffer, sizeof buffer);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(to, buffer + done, (size_t)(n - done));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            done += w;
        }
    }
}

/* The copy of a lower directory keeps its mode, which may deny the user
 * writing in it (0555): a copy-up into it opens it for the moment. */
static int open_parent(struct vial_delta *d, const char *path, mode_t *saved)
{
    char parent[PATH_MAX];
    struct stat st;
    snprintf(parent, sizeof parent, "%s", relative(path));
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(parent, ".");
    if (fstatat(d->upper_fd, parent, &st, 0) < 0 || (st.st_mode & 0300) == 0300)
        return -1;
    *saved = st.st_mode & 07777;
    return fchmodat(d->upper_fd, parent, *saved | 0300, 0) == 0 ? 0 : -1;
}

static void close_parent(struct vial_delta *d, const char *path, mode_t saved)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", relative(path));
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(parent, ".");
    fchmodat(d->upper_fd, parent, saved, 0);
}

/* Applies the virtual owner: really for root, recorded otherwise. */
static uint32_t apply_owner(int fd, const char *proc_path, uid_t uid, gid_t gid)
{
    if (uid == geteuid() && gid == getegid())
        return 0;
    if (geteuid() == 0 && fchownat(fd, "", uid, gid, AT_EMPTY_PATH) == 0)
        return 0;
    char value[32];
    int n = snprintf(value, sizeof value, "%u:%u", (unsigned)uid, (unsigned)gid);
    return lsetxattr(proc_path, VIAL_DELTA_OWNER_XATTR, value, (size_t)n, 0) == 0 ? VIAL_DELTA_OWNER
                                                                                   : 0;
}

int vial_delta_copy_file(struct vial_delta *d, const char *path, int source,
                         const struct stat *meta, int with_contents)
{
    char name[64], proc[64];
    snprintf(name, sizeof name, "copy.%d.%u", (int)current_process(),
             __atomic_add_fetch(&d->copy_counter, 1, __ATOMIC_RELAXED));
    int fd = openat(d->work_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = with_contents && source >= 0 ? copy_contents(source, fd) : 0;
    uint32_t flags = VIAL_DELTA_FILE;
    if (rc == 0) {
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        flags |= apply_owner(fd, proc, meta->st_uid, meta->st_gid);
        struct timespec times[2] = {meta->st_atim, meta->st_mtim};
        if (fchmod(fd, meta->st_mode & 07777) < 0 || futimens(fd, times) < 0)
            rc = -errno;
    }
    close(fd);
    if (rc == 0 && (rc = vial_delta_begin(d)) == 0) {
        int linked = linkat(d->work_fd, name, d->upper_fd, relative(path), 0);
        mode_t saved;
        if (linked < 0 && errno == EACCES && open_parent(d, path, &saved) == 0) {
            linked = linkat(d->work_fd, name, d->upper_fd, relative(path), 0);
            int error = errno;
            close_parent(d, path, saved);
            errno = error;
        }
        if (linked < 0 && errno != EEXIST)
            rc = -errno;
        else
            rc = table_set(d, path, flags);
        vial_delta_end(d);
    }
    unlinkat(d->work_fd, name, 0);
    return rc;
}

int vial_delta_copy_symlink(struct vial_delta *d, const char *path, const char *target)
{
    int rc = vial_delta_begin(d);
    if (rc < 0)
        return rc;
    int made = symlinkat(target, d->upper_fd, relative(path));
    mode_t saved;
    if (made < 0 && errno == EACCES && open_parent(d, path, &saved) == 0) {
        made = symlinkat(target, d->upper_fd, relative(path));
        int error = errno;
        close_parent(d, path, saved);
        errno = error;
    }
    if (made < 0 && errno != EEXIST)
        rc = -errno;
    else
        rc = table_set(d, path, VIAL_DELTA_SYMLINK);
    vial_delta_end(d);
    return rc;
}

int vial_delta_copy_directory(struct vial_delta *d, const char *path, const struct stat *meta)
{
    int rc = vial_delta_begin(d);
    if (rc < 0)
        return rc;
    const char *at = relative(path);
    uint32_t flags = VIAL_DELTA_DIR | (vial_delta_denies_search(meta) ? VIAL_DELTA_NOSEARCH : 0);
    mode_t saved;
    int made = strcmp(at, ".") == 0 ? 0 : mkdirat(d->upper_fd, at, 0700);
    if (made < 0 && errno == EACCES && open_parent(d, path, &saved) == 0) {
        made = mkdirat(d->upper_fd, at, 0700);
        int error = errno;
        close_parent(d, path, saved);
        errno = error;
    }
    if (made < 0)
        rc = errno == EEXIST ? 1 : -errno;
    if (rc == 0) {
        int fd = openat(d->upper_fd, at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
            flags |= apply_owner(fd, proc, meta->st_uid, meta->st_gid);
            struct timespec times[2] = {meta->st_atim, meta->st_mtim};
            fchmod(fd, meta->st_mode & 07777);
            futimens(fd, times);
            close(fd);
        }
    }
    if (rc == 1) /* there already: keep its flags (opaque, owner) */
        flags |= vial_delta_lookup(d, vial_delta_hash_path(path));
    if (rc >= 0 && strcmp(at, ".") != 0)
        rc = table_set(d, path, flags);
    vial_delta_end(d);
    return rc < 0 ? rc : 0;
}

/* Removes an upper directory that holds only whiteouts and markers. */
static int remove_hidden_tree(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return -errno;
    }
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(dir), e->d_name, 0) < 0 && errno == EISDIR)
            remove_hidden_tree(dirfd(dir), e->d_name);
    }
    closedir(dir);
    return unlinkat(parent, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int vial_delta_whiteout(struct vial_delta *d, const char *path)
{
    char name[64];
    snprintf(name, sizeof name, "copy.%d.%u", (int)current_process(),
             __atomic_add_fetch(&d->copy_counter, 1, __ATOMIC_RELAXED));
    if (symlinkat(VIAL_DELTA_WHITEOUT_TARGET, d->work_fd, name) < 0)
        return -errno;
    int rc = vial_delta_begin(d);
    if (rc < 0) {
        unlinkat(d->work_fd, name, 0);
        return rc;
    }
    const char *at = relative(path);
    if (renameat(d->work_fd, name, d->upper_fd, at) < 0) {
        rc = -errno;
        if (rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST) {
            /* an upper directory whose visible entries are all gone */
            rc = remove_hidden_tree(d->upper_fd, at);
            if (rc == 0 && renameat(d->work_fd, name, d->upper_fd, at) < 0)
                rc = -errno;
        }
    }
    if (rc == 0)
        rc = table_set(d, path, VIAL_DELTA_WHITEOUT);
    vial_delta_end(d);
    if (rc < 0)
        unlinkat(d->work_fd, name, 0);
    return rc;
}

int vial_delta_forget(struct vial_delta *d, const char *path)
{
    int rc = vial_delta_begin(d);
    if (rc < 0)
        return rc;
    struct stat st;
    rc = fstatat(d->upper_fd, relative(path), &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
    if (rc == 0 && S_ISLNK(st.st_mode) && is_whiteout_at(d->upper_fd, relative(path)))
        rc = unlinkat(d->upper_fd, relative(path), 0) < 0 ? -errno : 1;
    else if (rc == -ENOENT)
        rc = 0;
    if (rc >= 0)
        table_set(d, path, 0);
    vial_delta_end(d);
    return rc;
}

int vial_delta_rescan(struct vial_delta *d, const char *path)
{
    char walked[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof walked)
        return -ENAMETOOLONG;
    memcpy(walked, path, n + 1);
    if (n == 1)
        walked[n = 0] = '\0'; /* the root: children are "/name" */
    int rc = vial_delta_begin(d);
    if (rc < 0)
        return rc;
    int fd = openat(d->upper_fd, relative(path), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    rc = fd < 0 ? -errno : rebuild_directory(d, fd, walked, n);
    vial_delta_end(d);
    return rc;
}

/* The table's flags for what the tree holds at path now. */
static uint32_t flags_on_disk(struct vial_delta *d, const char *path)
{
    struct stat st;
    const char *at = relative(path);
    if (fstatat(d->upper_fd, at, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    uint32_t flags;
    if (S_ISDIR(st.st_mode)) {
        char marker[PATH_MAX];
        snprintf(marker, sizeof marker, "%s/%s", at, VIAL_DELTA_OPAQUE_NAME);
        flags = VIAL_DELTA_DIR;
        if (faccessat(d->upper_fd, marker, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            flags |= VIAL_DELTA_OPAQUE;
        if (vial_delta_denies_search(&st))
            flags |= VIAL_DELTA_NOSEARCH;
    } else if (S_ISLNK(st.st_mode)) {
        return is_whiteout_at(d->upper_fd, at) ? VIAL_DELTA_WHITEOUT : VIAL_DELTA_SYMLINK;
    } else {
        flags = VIAL_DELTA_FILE;
    }
    /* only an entry recorded with an owner can carry one (a rename brings
     * its flags along through the sync of both ends) */
    char proc[PATH_MAX + 64];
    snprintf(proc, sizeof proc, "%s%s", d->upper, path);
    if ((vial_delta_lookup(d, vial_delta_hash_path(path)) & VIAL_DELTA_OWNER) &&
        lgetxattr(proc, VIAL_DELTA_OWNER_XATTR, NULL, 0) > 0)
        flags |= VIAL_DELTA_OWNER;
    return flags;
}

int vial_delta_sync(struct vial_delta *d, const char *path)
{
    int rc = vial_delta_begin(d);
    if (rc < 0)
        return rc;
    rc = table_set(d, path, flags_on_disk(d, path));
    vial_delta_end(d);
    return rc;
}

int vial_delta_record_new(struct vial_delta *d, const char *path, uint32_t flags)
{
    struct delta_header *h = current_header(d);
    struct delta_slot *slots = (struct delta_slot *)((char *)h + DELTA_HEADER_SIZE);
    /* top-level names change the header's list: under the lock */
    if (!strchr(path + 1, '/') || __atomic_load_n(&h->rebuilding, __ATOMIC_SEQ_CST) ||
        (__atomic_load_n(&h->count, __ATOMIC_RELAXED) + 1) * 10 > ((uint64_t)7 << h->slot_bits))
        return vial_delta_record(d, path, flags);
    struct delta_slot *s = claim(h, slots, slot_key(vial_delta_hash_path(path)));
    if (!s)
        return vial_delta_record(d, path, flags);
    __atomic_store_n(&s->flags, flags, __ATOMIC_SEQ_CST);
    /* a grower or rebuilder that started meanwhile may not have seen it */
    if (__atomic_load_n(&h->rebuilding, __ATOMIC_SEQ_CST) ||
        __atomic_load_n(&h->replaced, __ATOMIC_SEQ_CST))
        return vial_delta_record(d, path, flags);
    __atomic_add_fetch(&h->generation, 1, __ATOMIC_RELEASE);
    return 0;
}

int vial_delta_record(struct vial_delta *d, const char *path, uint32_t flags)
{
    int rc = vial_delta_begin(d);
    if (rc < 0)
        return rc;
    rc = table_set(d, path, flags);
    vial_delta_end(d);
    return rc;
}

int vial_delta_mark_opaque(struct vial_delta *d, const char *path)
{
    char marker[PATH_MAX];
    if ((size_t)snprintf(marker, sizeof marker, "%s/%s", relative(path), VIAL_DELTA_OPAQUE_NAME) >=
        sizeof marker)
        return -ENAMETOOLONG;
    int fd = openat(d->upper_fd, marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    return vial_delta_record(d, path, VIAL_DELTA_DIR | VIAL_DELTA_OPAQUE);
}

int vial_delta_owner(struct vial_delta *d, const char *path, uid_t *uid, gid_t *gid)
{
    char value[32];
    char full[PATH_MAX];
    if (vial_delta_upper_path(d, full, sizeof full, path) < 0)
        return -ENAMETOOLONG;
    ssize_t n = lgetxattr(full, VIAL_DELTA_OWNER_XATTR, value, sizeof value - 1);
    if (n <= 0)
        return -ENODATA;
    value[n] = '\0';
    unsigned u, g;
    if (sscanf(value, "%u:%u", &u, &g) != 2)
        return -EINVAL;
    *uid = u;
    *gid = g;
    return 0;
}

int vial_delta_set_owner(struct vial_delta *d, const char *path, uid_t uid, gid_t gid)
{
    char full[PATH_MAX], value[32];
    if (vial_delta_upper_path(d, full, sizeof full, path) < 0)
        return -ENAMETOOLONG;
    int n = snprintf(value, sizeof value, "%u:%u", (unsigned)uid, (unsigned)gid);
    if (lsetxattr(full, VIAL_DELTA_OWNER_XATTR, value, (size_t)n, 0) < 0)
        return -errno;
    uint32_t flags = vial_delta_lookup(d, vial_delta_hash_path(path));
    return vial_delta_record(d, path, flags | VIAL_DELTA_OWNER);
}
