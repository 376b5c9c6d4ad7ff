/* packer.c - collecting and checking the entries of an image to be. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "packer_internal.h"

#define PACK_MAX_PATH 4095
#define PACK_MAX_XATTR_VALUE 65536

int vial_packer_new(struct vial_packer **out, const struct vial_pack_options *options)
{
    struct vial_packer *packer = calloc(1, sizeof *packer);
    *out = NULL;
    if (!packer)
        return vial_error_set(-ENOMEM, "out of memory");
    packer->options = *options;
    if (packer->options.level == 0)
        packer->options.level = VIAL_PACK_DEFAULT_LEVEL;
    if (packer->options.level < 1 || packer->options.level > 19) {
        free(packer);
        return vial_error_set(-EINVAL, "compression level %d is outside 1..19", options->level);
    }
    if (packer->options.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        packer->options.threads = n > 0 ? (unsigned)n : 1;
    }
    packer->manifest_length = options->manifest_length;
    packer->manifest = malloc(options->manifest_length + 1);
    if (!packer->manifest) {
        free(packer);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    memcpy(packer->manifest, options->manifest_text, options->manifest_length);
    packer->manifest[options->manifest_length] = '\0';
    packer->options.manifest_text = packer->manifest;
    if (options->hive_length) {
        if (!(packer->hive = malloc(options->hive_length))) {
            free(packer->manifest);
            free(packer);
            return vial_error_set(-ENOMEM, "out of memory");
        }
        memcpy(packer->hive, options->hive, options->hive_length);
        packer->hive_length = options->hive_length;
    }
    packer->options.hive = packer->hive;
    if (options->profile_length) {
        if (!(packer->profile = strndup(options->profile_text, options->profile_length))) {
            free(packer->hive);
            free(packer->manifest);
            free(packer);
            return vial_error_set(-ENOMEM, "out of memory");
        }
    }
    packer->options.profile_text = packer->profile;
    *out = packer;
    return 0;
}

static void node_free(struct pack_node *node)
{
    free(node->path);
    free(node->symlink_target);
    free(node->hardlink_target);
    for (size_t i = 0; i < node->xattr_count; i++) {
        free((void *)node->xattrs[i].name);
        free((void *)node->xattrs[i].value);
    }
    free(node->xattrs);
    free(node->source_path);
    free(node->children);
    free(node->pieces);
    free(node->content);
}

void vial_packer_free(struct vial_packer *packer)
{
    if (!packer)
        return;
    struct pack_path_item *item, *tmp;
    HASH_ITER(hh, packer->by_path, item, tmp) {
        HASH_DEL(packer->by_path, item);
        free(item);
    }
    for (uint32_t i = 0; i < packer->node_count; i++)
        node_free(&packer->nodes[i]);
    free(packer->nodes);
    free(packer->refs);
    free(packer->manifest);
    free(packer->hive);
    free(packer->profile);
    free(packer->profile_section);
    free(packer);
}

int vial_pack_find(uint32_t *out_node, struct vial_packer *packer, const char *path, size_t length)
{
    struct pack_path_item *item;
    HASH_FIND(hh, packer->by_path, path, length, item);
    if (!item)
        return -ENOENT;
    *out_node = item->node;
    return 0;
}

/* Valid UTF-8 without control characters: what a name in an image may be,
 * so that listings, traces and desktop files can show it unescaped. */
static int name_printable(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t k = 1; k <= extra; k++) {
            if (i + k >= n || (p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        static const uint32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for_length[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp < 0xa0))
            return 0;
        i += extra + 1;
    }
    return 1;
}

int vial_symlink_escapes(const char *path, const char *target)
{
    if (target[0] == '/')
        return 0;
    /* depth of the directory holding the link */
    long depth = 0;
    for (const char *p = path; *p; p++)
        depth += *p == '/';
    const char *t = target;
    while (*t) {
        const char *slash = strchr(t, '/');
        size_t n = slash ? (size_t)(slash - t) : strlen(t);
        if (n == 2 && t[0] == '.' && t[1] == '.') {
            if (--depth < 0)
                return 1;
        } else if (n > 0 && !(n == 1 && t[0] == '.')) {
            depth++;
        }
        t += n + (slash != NULL);
    }
    return 0;
}

static int invalid(const char *path, const char *why)
{
    return vial_error_set(VIAL_EINVALID, "/%s: %s", path, why);
}

static int check_entry(const struct vial_pack_entry *e)
{
    size_t length = strlen(e->path);
    if (length > PACK_MAX_PATH)
        return invalid(e->path, "path is longer than 4095 bytes");
    if (length > 0 && !vial_image_path_valid(e->path, length))
        return invalid(e->path, "not a canonical relative path (empty, '.' or '..' component, or "
                                "absolute)");
    const char *name = strrchr(e->path, '/');
    name = name ? name + 1 : e->path;
    if (!name_printable(name, strlen(name)))
        return invalid(e->path, "name is not valid UTF-8 or contains control characters");
    if (e->mode & ~(uint32_t)07777)
        return invalid(e->path, "mode has bits outside 07777");
    if (length == 0 && e->type != VIAL_ENTRY_DIRECTORY)
        return invalid(e->path, "the image root must be a directory");
    switch (e->type) {
    case VIAL_ENTRY_DIRECTORY:
        break;
    case VIAL_ENTRY_REGULAR:
        if (!e->source_path && !e->read)
            return invalid(e->path, "regular file without content source");
        break;
    case VIAL_ENTRY_SYMLINK:
        if (!e->symlink_target || !e->symlink_target[0] || strlen(e->symlink_target) > PACK_MAX_PATH)
            return invalid(e->path, "symlink target is empty or longer than 4095 bytes");
        if (vial_symlink_escapes(e->path, e->symlink_target))
            return vial_error_set(VIAL_EINVALID,
                                  "/%s: symlink target '%s' climbs above the image root",
                                  e->path, e->symlink_target);
        break;
    case VIAL_ENTRY_HARDLINK:
        if (!e->hardlink_target || !vial_image_path_valid(e->hardlink_target,
                                                         strlen(e->hardlink_target)))
            return invalid(e->path, "hard link target is not a canonical relative path");
        break;
    default:
        return invalid(e->path, "unsupported entry type");
    }
    for (size_t i = 0; i < e->xattr_count; i++) {
        const struct vial_xattr *x = &e->xattrs[i];
        if (x->name_length == 0 || x->name_length > 255 || memchr(x->name, '\0', x->name_length) ||
            x->value_length > PACK_MAX_XATTR_VALUE)
            return invalid(e->path, "extended attribute name or value is invalid");
    }
    return 0;
}

static char *dup_or_null(const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *failed = 1;
    return copy;
}

static void *memdup(const void *data, size_t length)
{
    void *copy = malloc(length ? length : 1);
    if (copy && length)
        memcpy(copy, data, length);
    return copy;
}

static int xattr_compare(const void *a, const void *b)
{
    const struct vial_xattr *x = a, *y = b;
    size_t n = x->name_length < y->name_length ? x->name_length : y->name_length;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_length > y->name_length) - (x->name_length < y->name_length);
}

int vial_packer_add(struct vial_packer *packer, const struct vial_pack_entry *e)
{
    int rc = check_entry(e), failed = 0;
    if (rc < 0)
        return rc;
    size_t length = strlen(e->path);
    uint32_t existing;
    if (vial_pack_find(&existing, packer, e->path, length) == 0)
        return invalid(e->path, "duplicate entry");
    if (packer->node_count == UINT32_MAX - 1)
        return vial_error_set(VIAL_EINVALID, "too many entries");
    if (packer->node_count == packer->node_capacity) {
        uint32_t capacity = packer->node_capacity ? packer->node_capacity * 2 : 1024;
        struct pack_node *grown = realloc(packer->nodes, capacity * sizeof *grown);
        if (!grown)
            return vial_error_set(-ENOMEM, "out of memory");
        packer->nodes = grown;
        packer->node_capacity = capacity;
    }
    struct pack_node *node = &packer->nodes[packer->node_count];
    memset(node, 0, sizeof *node);
    static const uint32_t type_bits[] = {
        [VIAL_ENTRY_DIRECTORY] = S_IFDIR, [VIAL_ENTRY_REGULAR] = S_IFREG,
        [VIAL_ENTRY_SYMLINK] = S_IFLNK, [VIAL_ENTRY_HARDLINK] = 0};
    node->path = dup_or_null(e->path, &failed);
    node->path_length = length;
    node->type = e->type;
    node->mode = type_bits[e->type] | e->mode;
    node->uid = packer->options.override_owner ? packer->options.owner_uid : e->uid;
    node->gid = packer->options.override_owner ? packer->options.owner_gid : e->gid;
    node->mtime_sec = e->mtime_sec;
    node->mtime_nsec = e->mtime_nsec < 1000000000u ? e->mtime_nsec : 0;
    node->size = e->type == VIAL_ENTRY_REGULAR ? e->size : 0;
    node->symlink_target = dup_or_null(e->type == VIAL_ENTRY_SYMLINK ? e->symlink_target : NULL,
                                       &failed);
    if (node->symlink_target)
        node->size = strlen(node->symlink_target);
    node->hardlink_target = dup_or_null(e->type == VIAL_ENTRY_HARDLINK ? e->hardlink_target : NULL,
                                        &failed);
    node->source_path = dup_or_null(e->type == VIAL_ENTRY_REGULAR ? e->source_path : NULL, &failed);
    node->read = e->read;
    node->payload = e->payload;
    if (e->xattr_count && e->type != VIAL_ENTRY_HARDLINK) {
        node->xattrs = calloc(e->xattr_count, sizeof *node->xattrs);
        failed |= node->xattrs == NULL;
        for (size_t i = 0; node->xattrs && i < e->xattr_count; i++) {
            node->xattrs[i].name = memdup(e->xattrs[i].name, e->xattrs[i].name_length);
            node->xattrs[i].name_length = e->xattrs[i].name_length;
            node->xattrs[i].value = memdup(e->xattrs[i].value, e->xattrs[i].value_length);
            node->xattrs[i].value_length = e->xattrs[i].value_length;
            node->xattr_count++;
            failed |= !node->xattrs[i].name || !node->xattrs[i].value;
        }
        if (node->xattrs)
            qsort(node->xattrs, node->xattr_count, sizeof *node->xattrs, xattr_compare);
        for (size_t i = 1; i < node->xattr_count; i++)
            if (xattr_compare(&node->xattrs[i - 1], &node->xattrs[i]) == 0)
                rc = invalid(e->path, "extended attribute given twice");
    }
    struct pack_path_item *item = calloc(1, sizeof *item);
    if (failed || !item || !node->path) {
        free(item);
        node_free(node);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    if (rc < 0) {
        free(item);
        node_free(node);
        return rc;
    }
    const char *slash = strrchr(node->path, '/');
    node->name = slash ? slash + 1 : node->path;
    node->name_length = length - (size_t)(node->name - node->path);
    item->key = node->path;
    item->node = packer->node_count;
    HASH_ADD_KEYPTR(hh, packer->by_path, item->key, length, item);
    packer->node_count++;
    return 0;
}

int vial_pack_node_read(const struct pack_node *node, int *fd, void *buf, size_t length,
                        uint64_t offset)
{
    if (!node->source_path) {
        int rc = node->read(node->payload, buf, length, offset);
        return rc < 0 ? vial_error_set(rc, "/%s: cannot read: %s", node->path, vial_strerror(rc))
                      : 0;
    }
    if (*fd < 0) {
        *fd = open(node->source_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (*fd < 0)
            return vial_error_set(-errno, "%s: cannot read: %s", node->source_path,
                                  strerror(errno));
    }
    size_t done = 0;
    while (done < length) {
        ssize_t n = pread(*fd, (char *)buf + done, length - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vial_error_set(-errno, "%s: cannot read: %s", node->source_path,
                                  strerror(errno));
        if (n == 0)
            return vial_error_set(VIAL_EINVALID, "%s: file shrank while packing",
                                  node->source_path);
        done += (size_t)n;
    }
    return 0;
}
