/*
 * registry.c - the layered registry: the user's delta (a hive file changed
 * in transactions under a lock) over the package hives over the defaults.
 *
 * The delta file is re-read whenever its identity changes, so every read
 * sees what other instances of the package wrote; a write re-reads it under
 * an exclusive flock, applies one change and renames a new file into place,
 * so writers of distinct keys never lose each other's updates.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hive_internal.h"

#define LAYERS_MAX 18

struct vial_reg {
    pthread_mutex_t lock;
    char *delta_path; /* NULL: no user layer */
    char *lock_path;
    char *directory;
    const char *base_name;
    struct vial_hive *delta;    /* the file as last read or written */
    struct vial_hive *reported; /* what vial_reg_refresh has told about */
    struct stat identity;       /* of the file behind delta; st_ino 0 if none */
    const struct vial_hive *packages[LAYERS_MAX];
    size_t package_count;
    const struct vial_hive *defaults;
    int watch_fd;
};

/* --------------------------------------------------------- the delta file */

static int same_identity(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reads the delta file into *out (an empty hive if there is none). */
static int read_delta(struct vial_hive **out, struct stat *identity, const char *path)
{
    *out = NULL;
    memset(identity, 0, sizeof *identity);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return vial_hive_new(out);
        return vial_error_set(-errno, "%s: %s", path, strerror(errno));
    }
    int rc = 0;
    char *bytes = NULL;
    if (fstat(fd, identity) < 0) {
        rc = vial_error_set(-errno, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (identity->st_size > (off_t)VIAL_REG_HIVE_MAX) {
        rc = vial_error_set(VIAL_EHIVE, "%s: damaged: larger than %u bytes", path, VIAL_REG_HIVE_MAX);
        goto out;
    }
    size_t size = (size_t)identity->st_size, got = 0;
    bytes = malloc(size ? size : 1);
    if (!bytes) {
        rc = vial_error_set(-ENOMEM, "out of memory");
        goto out;
    }
    while (got < size) {
        ssize_t n = read(fd, bytes + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = vial_error_set(n < 0 ? -errno : VIAL_EHIVE, "%s: %s", path,
                                n < 0 ? strerror(errno) : "damaged: shorter than it was");
            goto out;
        }
        got += (size_t)n;
    }
    if ((rc = vial_hive_load(out, bytes, size)) < 0)
        vial_error_prefix(rc, "%s", path);
out:
    free(bytes);
    close(fd);
    return rc;
}

/* Brings reg->delta up to date with the file, when it changed. */
static int reload(struct vial_reg *reg)
{
    if (!reg->delta_path)
        return 0;
    struct stat now;
    if (stat(reg->delta_path, &now) < 0) {
        if (errno != ENOENT)
            return vial_error_set(-errno, "%s: %s", reg->delta_path, strerror(errno));
        memset(&now, 0, sizeof now);
    }
    if (reg->delta && same_identity(&now, &reg->identity))
        return 0;
    struct vial_hive *fresh = NULL;
    struct stat identity;
    int rc = read_delta(&fresh, &identity, reg->delta_path);
    if (rc < 0)
        return rc;
    vial_hive_free(reg->delta);
    reg->delta = fresh;
    reg->identity = identity;
    return 1;
}

static int write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Writes hive as the new delta file (temporary file, fsync, rename, fsync
 * of the directory). */
static int publish(struct vial_reg *reg, const struct vial_hive *hive)
{
    void *bytes = NULL;
    size_t size = 0;
    int rc = vial_hive_serialize(&bytes, &size, hive);
    if (rc < 0)
        return rc;
    char temp[PATH_MAX];
    if (snprintf(temp, sizeof temp, "%s.%d.tmp", reg->delta_path, (int)getpid()) >= (int)sizeof temp) {
        free(bytes);
        return vial_error_set(-ENAMETOOLONG, "%s: path too long", reg->delta_path);
    }
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = vial_error_set(-errno, "cannot write %s: %s", temp, strerror(errno));
        free(bytes);
        return rc;
    }
    rc = write_all(fd, bytes, size);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    free(bytes);
    if (rc == 0 && rename(temp, reg->delta_path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(temp);
        return vial_error_set(rc, "cannot write %s: %s (the registry is unchanged)", reg->delta_path,
                              strerror(-rc));
    }
    int directory = open(reg->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory >= 0) {
        fsync(directory);
        close(directory);
    }
    return 0;
}

/* One transaction on the delta file: change(hive, argument) applied to the
 * file as it is now, under the lock, and to what refresh has reported (this
 * process's own change is not news to it). */
static int transact(struct vial_reg *reg, int (*change)(struct vial_hive *, const void *),
                    const void *argument)
{
    if (!reg->delta_path)
        return vial_error_set(-EROFS, "this registry has no user layer");
    int lock = open(reg->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    /* the state was reset (its directory deleted) under a running app */
    if (lock < 0 && errno == ENOENT && vial_mkdir_p(reg->directory, 0700) == 0)
        lock = open(reg->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0)
        return vial_error_set(-errno, "cannot open %s: %s", reg->lock_path, strerror(errno));
    int rc;
    while ((rc = flock(lock, LOCK_EX)) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        rc = vial_error_set(-errno, "cannot lock %s: %s", reg->lock_path, strerror(errno));
        close(lock);
        return rc;
    }
    struct vial_hive *current = NULL;
    struct stat identity;
    if ((rc = read_delta(&current, &identity, reg->delta_path)) < 0)
        goto out;
    if ((rc = change(current, argument)) < 0 || (rc = publish(reg, current)) < 0)
        goto out;
    if (reg->reported)
        change(reg->reported, argument);
    if (stat(reg->delta_path, &identity) == 0) {
        vial_hive_free(reg->delta);
        reg->delta = current;
        reg->identity = identity;
        current = NULL;
    }
out:
    vial_hive_free(current);
    flock(lock, LOCK_UN);
    close(lock);
    return rc;
}

/* ------------------------------------------------------------ open, close */

int vial_reg_open(struct vial_reg **out, const char *delta_path,
                  const struct vial_hive *const *packages, size_t package_count,
                  const struct vial_hive *defaults)
{
    *out = NULL;
    if (package_count > LAYERS_MAX)
        return vial_error_set(-E2BIG, "more than %d package hives", LAYERS_MAX);
    struct vial_reg *reg = calloc(1, sizeof *reg);
    if (!reg)
        return vial_error_set(-ENOMEM, "out of memory");
    pthread_mutex_init(&reg->lock, NULL);
    reg->watch_fd = -1;
    for (size_t i = 0; i < package_count; i++)
        reg->packages[i] = packages[i];
    reg->package_count = package_count;
    reg->defaults = defaults;
    int rc = 0;
    if (delta_path) {
        const char *slash = strrchr(delta_path, '/');
        reg->delta_path = strdup(delta_path);
        reg->directory = slash ? strndup(delta_path, (size_t)(slash - delta_path) + (slash == delta_path))
                               : strdup(".");
        if (asprintf(&reg->lock_path, "%s.lock", delta_path) < 0)
            reg->lock_path = NULL;
        if (!reg->delta_path || !reg->directory || !reg->lock_path) {
            rc = vial_error_set(-ENOMEM, "out of memory");
            goto out;
        }
        reg->base_name = slash ? slash + 1 : delta_path;
        if ((rc = reload(reg)) < 0)
            goto out;
        if (!(reg->reported = hive_copy(reg->delta))) {
            rc = vial_error_set(-ENOMEM, "out of memory");
            goto out;
        }
        rc = 0;
    }
    *out = reg;
    reg = NULL;
out:
    vial_reg_close(reg);
    return rc;
}

int vial_reg_has_user_layer(const struct vial_reg *reg) { return reg->delta_path != NULL; }

void vial_reg_close(struct vial_reg *reg)
{
    if (!reg)
        return;
    if (reg->watch_fd >= 0)
        close(reg->watch_fd);
    vial_hive_free(reg->delta);
    vial_hive_free(reg->reported);
    free(reg->delta_path);
    free(reg->lock_path);
    free(reg->directory);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

/* ----------------------------------------------------------------- layers */

/* The hives that make up a layer, highest first. */
static size_t layer_hives(const struct vial_hive **out, const struct vial_reg *reg,
                          enum vial_reg_layer layer)
{
    size_t n = 0;
    if ((layer == VIAL_REG_LAYER_ALL || layer == VIAL_REG_LAYER_USER) && reg->delta)
        out[n++] = reg->delta;
    if (layer == VIAL_REG_LAYER_ALL || layer == VIAL_REG_LAYER_PACKAGE)
        for (size_t i = 0; i < reg->package_count; i++)
            out[n++] = reg->packages[i];
    if ((layer == VIAL_REG_LAYER_ALL || layer == VIAL_REG_LAYER_DEFAULTS) && reg->defaults)
        out[n++] = reg->defaults;
    return n;
}

/* The value (key, name) has in hives, or NULL; *from the index that decided. */
static const struct vial_reg_value *resolve(const struct vial_hive *const *hives, size_t count,
                                            const char *key, const char *name, size_t *from,
                                            int *deleted)
{
    *deleted = 0;
    for (size_t i = 0; i < count; i++) {
        const struct vial_reg_value *value = NULL;
        enum hive_verdict verdict = hive_lookup(hives[i], key, name, &value);
        if (verdict == HIVE_SILENT)
            continue;
        *from = i;
        *deleted = verdict == HIVE_DELETED;
        return value;
    }
    return NULL;
}

static enum vial_reg_layer layer_of(const struct vial_reg *reg, enum vial_reg_layer layer, size_t index)
{
    if (layer != VIAL_REG_LAYER_ALL)
        return layer;
    if (reg->delta) {
        if (index == 0)
            return VIAL_REG_LAYER_USER;
        index--;
    }
    return index < reg->package_count ? VIAL_REG_LAYER_PACKAGE : VIAL_REG_LAYER_DEFAULTS;
}

int vial_reg_get(struct vial_reg_value **out, int *deleted, struct vial_reg *reg,
                 enum vial_reg_layer layer, const char *key, const char *name)
{
    *out = NULL;
    if (deleted)
        *deleted = 0;
    if (vial_reg_key_valid(key) < 0 || vial_reg_name_valid(name) < 0)
        return VIAL_EVALUE;
    pthread_mutex_lock(&reg->lock);
    int rc = reload(reg);
    if (rc >= 0) {
        const struct vial_hive *hives[LAYERS_MAX + 2];
        size_t count = layer_hives(hives, reg, layer), from;
        int is_deleted;
        const struct vial_reg_value *value = resolve(hives, count, key, name, &from, &is_deleted);
        if (value) {
            rc = vial_reg_value_copy(out, value);
        } else {
            if (deleted)
                *deleted = is_deleted;
            rc = vial_error_set(-ENOENT, "%s/%s: no such value%s", key, name,
                                is_deleted ? " (deleted by the user)" : "");
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* --------------------------------------------------------------- listings */

/* The listing of one key in one layer, built before calling back. */
struct listing {
    struct vial_hive *subkeys; /* name -> deleted marker as "b" */
    struct vial_hive *values;  /* name -> value, or a value marker */
    struct vial_hive *layers;  /* name -> the deciding layer as "i" */
};

/* The component of key right below parent ("" for the top), or NULL. */
static const char *child_component(const char *key, const char *parent, size_t *length)
{
    size_t n = strlen(parent);
    if (n) {
        if (strncmp(key, parent, n) != 0 || key[n] != '/')
            return NULL;
        key += n + 1;
    }
    *length = strcspn(key, "/");
    return key;
}

/* Subkeys are noted with bits: 1 a deletion marker at the subkey, 2 a
 * value at or below it. Only a marker and nothing else lists as deleted. */
static int note_subkey(struct listing *l, const char *component, size_t length, int bits)
{
    char name[VIAL_REG_NAME_MAX + 1], text[4];
    memcpy(name, component, length);
    name[length] = '\0';
    const struct hive_record *old = hive_find(l->subkeys, "k", name);
    if (old)
        bits |= atoi(old->value.text);
    snprintf(text, sizeof text, "%d", bits);
    struct vial_reg_value value = {(char *)"i", text};
    return vial_hive_put(l->subkeys, "k", name, &value);
}

static int list_locked(struct vial_reg *reg, enum vial_reg_layer layer, const char *key,
                       int (*visit)(const struct vial_reg_item *item, void *payload), void *payload)
{
    const struct vial_hive *hives[LAYERS_MAX + 2];
    size_t count = layer_hives(hives, reg, layer);
    struct listing l = {0};
    int rc = 0, items = 0;
    if ((rc = vial_hive_new(&l.subkeys)) < 0 || (rc = vial_hive_new(&l.values)) < 0 ||
        (rc = vial_hive_new(&l.layers)) < 0)
        goto out;
    int markers = layer == VIAL_REG_LAYER_USER;
    for (size_t h = 0; h < count && rc >= 0; h++) {
        const struct vial_hive *hive = hives[h];
        for (size_t i = 0; i < hive->count && rc >= 0; i++) {
            const struct hive_record *r = &hive->records[i];
            size_t length = 0;
            int own = strcmp(r->key, key) == 0 && r->kind != VIAL_REG_KEY_DELETED;
            const char *component = own ? NULL : child_component(r->key, key, &length);
            if (markers) {
                if (own)
                    rc = r->kind == VIAL_REG_VALUE ? vial_hive_put(l.values, "v", r->name, &r->value)
                                                   : vial_hive_delete(l.values, "v", r->name);
                else if (component)
                    rc = note_subkey(&l, component, length,
                                     r->kind == VIAL_REG_KEY_DELETED && component[length] == '\0' ? 1 : 2);
                continue;
            }
            if (r->kind != VIAL_REG_VALUE || (!own && !component))
                continue;
            /* visible in the layer's merged view? */
            size_t from;
            int deleted;
            const struct vial_reg_value *value = resolve(hives, count, r->key, r->name, &from, &deleted);
            if (!value)
                continue;
            if (own) {
                char index[16];
                snprintf(index, sizeof index, "%zu", from);
                struct vial_reg_value decided = {(char *)"i", index};
                if ((rc = vial_hive_put(l.values, "v", r->name, value)) >= 0)
                    rc = vial_hive_put(l.layers, "v", r->name, &decided);
            } else {
                rc = note_subkey(&l, component, length, 2);
            }
        }
    }
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < l.subkeys->count && rc == 0; i++) {
        struct vial_reg_item item = {.is_key = 1,
                                     .deleted = strcmp(l.subkeys->records[i].value.text, "1") == 0,
                                     .name = l.subkeys->records[i].name,
                                     .from = layer_of(reg, layer, 0)};
        items++;
        rc = visit ? visit(&item, payload) : 0;
    }
    for (size_t i = 0; i < l.values->count && rc == 0; i++) {
        const struct hive_record *r = &l.values->records[i];
        const struct hive_record *decided = hive_find(l.layers, "v", r->name);
        struct vial_reg_item item = {
            .deleted = r->kind != VIAL_REG_VALUE,
            .name = r->name,
            .value = r->kind == VIAL_REG_VALUE ? &r->value : NULL,
            .from = layer_of(reg, layer, decided ? (size_t)atoi(decided->value.text) : 0)};
        items++;
        rc = visit ? visit(&item, payload) : 0;
    }
    if (rc == 0)
        rc = items;
out:
    vial_hive_free(l.subkeys);
    vial_hive_free(l.values);
    vial_hive_free(l.layers);
    return rc;
}

int vial_reg_list(struct vial_reg *reg, enum vial_reg_layer layer, const char *key,
                  int (*visit)(const struct vial_reg_item *item, void *payload), void *payload)
{
    if (*key && vial_reg_key_valid(key) < 0)
        return VIAL_EVALUE;
    pthread_mutex_lock(&reg->lock);
    int rc = reload(reg);
    if (rc >= 0)
        rc = list_locked(reg, layer, key, visit, payload);
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int vial_reg_snapshot(struct vial_hive **out, struct vial_reg *reg, enum vial_reg_layer layer,
                      const char *key)
{
    *out = NULL;
    if (*key && vial_reg_key_valid(key) < 0)
        return VIAL_EVALUE;
    struct vial_hive *snapshot = NULL;
    int rc = vial_hive_new(&snapshot);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&reg->lock);
    if ((rc = reload(reg)) < 0)
        goto out;
    rc = 0;
    const struct vial_hive *hives[LAYERS_MAX + 2];
    size_t count = layer_hives(hives, reg, layer);
    for (size_t h = 0; h < count && rc >= 0; h++) {
        for (size_t i = 0; i < hives[h]->count && rc >= 0; i++) {
            const struct hive_record *r = &hives[h]->records[i];
            if (!hive_key_below(r->key, key))
                continue;
            if (layer == VIAL_REG_LAYER_USER) {
                struct vial_reg_record record = {r->kind, r->key, r->name, &r->value};
                rc = hive_apply_record(snapshot, &record);
                continue;
            }
            size_t from;
            int deleted;
            const struct vial_reg_value *value = r->kind == VIAL_REG_VALUE
                                                     ? resolve(hives, count, r->key, r->name, &from, &deleted)
                                                     : NULL;
            if (value && !hive_find(snapshot, r->key, r->name))
                rc = vial_hive_put(snapshot, r->key, r->name, value);
        }
    }
out:
    pthread_mutex_unlock(&reg->lock);
    if (rc < 0) {
        vial_hive_free(snapshot);
        return rc;
    }
    *out = snapshot;
    return 0;
}

/* ---------------------------------------------------------------- changes */

struct value_change {
    const char *key;
    const char *name;
    const struct vial_reg_value *value;
    int marker; /* record a deletion marker (a lower layer has what is deleted) */
};

static int change_set(struct vial_hive *hive, const void *argument)
{
    const struct value_change *c = argument;
    return vial_hive_put(hive, c->key, c->name, c->value);
}

static int change_delete(struct vial_hive *hive, const void *argument)
{
    const struct value_change *c = argument;
    if (c->marker)
        return vial_hive_delete(hive, c->key, c->name);
    hive_drop_below(hive, c->key, c->name);
    return 0;
}

static int change_apply(struct vial_hive *hive, const void *argument)
{
    return vial_hive_merge(hive, argument);
}

int vial_reg_set(struct vial_reg *reg, const char *key, const char *name,
                 const struct vial_reg_value *value)
{
    if (vial_reg_key_valid(key) < 0 || vial_reg_name_valid(name) < 0 ||
        vial_reg_type_valid(value->type) < 0)
        return VIAL_EVALUE;
    struct value_change c = {key, name, value, 0};
    pthread_mutex_lock(&reg->lock);
    int rc = transact(reg, change_set, &c);
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

static int count_item(const struct vial_reg_item *item, void *payload)
{
    (void)item;
    (void)payload;
    return 0;
}

int vial_reg_delete(struct vial_reg *reg, const char *key, const char *name)
{
    if (vial_reg_key_valid(key) < 0 || (name && vial_reg_name_valid(name) < 0))
        return VIAL_EVALUE;
    pthread_mutex_lock(&reg->lock);
    int rc = reload(reg);
    if (rc < 0)
        goto out;
    /* what the user sees, and whether a lower layer holds it (then only a
     * marker can hide it) */
    const struct vial_hive *hives[LAYERS_MAX + 2];
    size_t count = layer_hives(hives, reg, VIAL_REG_LAYER_ALL), from;
    int deleted, visible, below;
    size_t lower = reg->delta ? 1 : 0;
    if (name) {
        visible = resolve(hives, count, key, name, &from, &deleted) != NULL;
        below = resolve(hives + lower, count - lower, key, name, &from, &deleted) != NULL;
    } else {
        visible = list_locked(reg, VIAL_REG_LAYER_ALL, key, count_item, NULL) > 0;
        struct vial_hive *saved = reg->delta;
        reg->delta = NULL;
        below = list_locked(reg, VIAL_REG_LAYER_ALL, key, count_item, NULL) > 0;
        reg->delta = saved;
    }
    if (!visible) {
        rc = vial_error_set(-ENOENT, "%s%s%s: no such %s", key, name ? "/" : "", name ? name : "",
                            name ? "value" : "key");
        goto out;
    }
    struct value_change c = {key, name, NULL, below};
    rc = transact(reg, change_delete, &c);
out:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int vial_reg_apply(struct vial_reg *reg, const struct vial_hive *changes)
{
    pthread_mutex_lock(&reg->lock);
    int rc = transact(reg, change_apply, changes);
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

static int change_revert(struct vial_hive *hive, const void *argument)
{
    const struct value_change *c = argument;
    hive_drop_below(hive, c->key, c->name);
    return 0;
}

int vial_reg_revert(struct vial_reg *reg, const char *key, const char *name)
{
    if ((*key || name) && (vial_reg_key_valid(key) < 0 || (name && vial_reg_name_valid(name) < 0)))
        return VIAL_EVALUE;
    struct value_change c = {key, name, NULL, 0};
    pthread_mutex_lock(&reg->lock);
    int rc = transact(reg, change_revert, &c);
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* ---------------------------------------------------------------- refresh */

static int record_equal(const struct hive_record *a, const struct hive_record *b)
{
    return a->kind == b->kind &&
           (a->kind != VIAL_REG_VALUE || vial_reg_value_equal(&a->value, &b->value));
}

int vial_reg_refresh(struct vial_reg *reg, void (*changed)(const char *key, const char *name, void *payload),
                     void *payload)
{
    if (!reg->delta_path)
        return 0;
    pthread_mutex_lock(&reg->lock);
    int rc = reload(reg);
    if (rc < 0)
        goto out;
    /* a merge walk of what was reported against what is */
    const struct vial_hive *old = reg->reported, *now = reg->delta;
    int any = 0;
    for (size_t i = 0, j = 0; i < old->count || j < now->count;) {
        const struct hive_record *a = i < old->count ? &old->records[i] : NULL;
        const struct hive_record *b = j < now->count ? &now->records[j] : NULL;
        int c = !a ? 1 : !b ? -1 : strcmp(a->key, b->key) ? strcmp(a->key, b->key) : strcmp(a->name, b->name);
        const struct hive_record *subject = c <= 0 ? a : b;
        int differs = c != 0 || !record_equal(a, b);
        if (differs) {
            any = 1;
            if (changed)
                changed(subject->key, subject->kind == VIAL_REG_KEY_DELETED ? NULL : subject->name,
                        payload);
        }
        if (c <= 0)
            i++;
        if (c >= 0)
            j++;
    }
    if (any) {
        struct vial_hive *copy = hive_copy(reg->delta);
        if (!copy) {
            rc = vial_error_set(-ENOMEM, "out of memory");
            goto out;
        }
        vial_hive_free(reg->reported);
        reg->reported = copy;
    }
    rc = any;
out:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int vial_reg_watch_fd(struct vial_reg *reg)
{
    if (!reg->delta_path)
        return -1;
    pthread_mutex_lock(&reg->lock);
    if (reg->watch_fd < 0) {
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd >= 0 && inotify_add_watch(fd, reg->directory, IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE) < 0) {
            close(fd);
            fd = -1;
        }
        reg->watch_fd = fd;
    }
    int fd = reg->watch_fd;
    pthread_mutex_unlock(&reg->lock);
    return fd;
}

void vial_reg_watch_drain(struct vial_reg *reg)
{
    char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    if (reg->watch_fd < 0)
        return;
    while (read(reg->watch_fd, buffer, sizeof buffer) > 0)
        ;
}
