/*
 * backend.c - the GSettings shim: a GIO module implementing the settings
 * backend "vial". The launcher sets GSETTINGS_BACKEND=vial and points
 * GIO_EXTRA_MODULES at this module's directory, so every GLib application
 * in the bubble reads and writes its settings through the package's
 * registry (key /a/b/c is the registry value gsettings/a/b, name c):
 * per package, seeded by the package's hive, changed in the user's layer,
 * never in the host's dconf. docs/running.md#gsettings says why this way.
 *
 * The module links its own copies of the registry and runtime code with
 * hidden visibility: the interposer in the same process has runtime code
 * too, and neither may bind to the other's.
 */
#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gio.h>
#include <gio/gsettingsbackend.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

#define SESSION_MAX 65536
#define REGISTRY_ROOT "gsettings"

typedef struct {
    GSettingsBackend parent_instance;
    struct vial_hive *package;
    struct vial_reg *reg; /* NULL: no session, or the user's layer is damaged */
    guint watch;          /* the inotify source, once the main loop ran */
    guint start_watch;    /* the idle source that creates it */
} VialSettingsBackend;

typedef struct {
    GSettingsBackendClass parent_class;
} VialSettingsBackendClass;

static GType vial_settings_backend_get_type(void);
G_DEFINE_DYNAMIC_TYPE(VialSettingsBackend, vial_settings_backend, G_TYPE_SETTINGS_BACKEND)

/* ------------------------------------------------------- keys and values */

/* "/org/gnome/desktop/interface/clock-format" -> key
 * "gsettings/org/gnome/desktop/interface", name "clock-format". */
static gboolean split_key(char *key, char *name, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (path[0] != '/' || !slash || slash == path || !slash[1])
        return FALSE;
    size_t length = (size_t)(slash - path);
    if (sizeof REGISTRY_ROOT - 1 + length > VIAL_REG_KEY_MAX || strlen(slash + 1) > VIAL_REG_NAME_MAX)
        return FALSE;
    memcpy(key, REGISTRY_ROOT, sizeof REGISTRY_ROOT - 1);
    memcpy(key + sizeof REGISTRY_ROOT - 1, path, length);
    key[sizeof REGISTRY_ROOT - 1 + length] = '\0';
    strcpy(name, slash + 1);
    return vial_reg_key_valid(key) == 0 && vial_reg_name_valid(name) == 0;
}

/* The registry's value as a GVariant of the type the schema expects, or
 * NULL (then GSettings uses the next source: the schema's default). */
static GVariant *to_variant(const struct vial_reg_value *value, const GVariantType *expected)
{
    gchar *want = g_variant_type_dup_string(expected);
    gboolean same = strcmp(value->type, want) == 0;
    g_free(want);
    if (!same) /* a value of another type (the schema changed): the schema's default */
        return NULL;
    GError *error = NULL;
    GVariant *variant = g_variant_parse(expected, value->text, NULL, NULL, &error);
    if (!variant) {
        g_warning("vial: registry value '%s' does not parse as '%s': %s", value->text, value->type,
                  error->message);
        g_error_free(error);
    }
    return variant;
}

static struct vial_reg_value *from_variant(GVariant *variant)
{
    struct vial_reg_value *value = NULL;
    gchar *text = g_variant_print(variant, TRUE);
    if (vial_reg_value_parse(&value, g_variant_get_type_string(variant), text) < 0)
        g_warning("vial: cannot keep the GSettings value %s: %s", text, vial_error_last());
    g_free(text);
    return value;
}

static GVariant *read_layer(VialSettingsBackend *self, const char *path, const GVariantType *expected,
                            enum vial_reg_layer layer)
{
    char key[VIAL_REG_KEY_MAX + 1], name[VIAL_REG_NAME_MAX + 1];
    struct vial_reg_value *value = NULL;
    GVariant *variant = NULL;
    if (!self->reg || !split_key(key, name, path))
        return NULL;
    if (vial_reg_get(&value, NULL, self->reg, layer, key, name) == 0) {
        variant = to_variant(value, expected);
        vial_reg_value_free(value);
    }
    return variant;
}

/* ------------------------------------------------------- backend methods */

static GVariant *backend_read(GSettingsBackend *backend, const gchar *path,
                              const GVariantType *expected, gboolean default_value)
{
    /* the package's value is the default a reset goes back to */
    return read_layer((VialSettingsBackend *)backend, path, expected,
                      default_value ? VIAL_REG_LAYER_PACKAGE : VIAL_REG_LAYER_ALL);
}

static GVariant *backend_read_user_value(GSettingsBackend *backend, const gchar *path,
                                         const GVariantType *expected)
{
    return read_layer((VialSettingsBackend *)backend, path, expected, VIAL_REG_LAYER_USER);
}

static gboolean writable(VialSettingsBackend *self, const char *path)
{
    char key[VIAL_REG_KEY_MAX + 1], name[VIAL_REG_NAME_MAX + 1];
    return self->reg && vial_reg_has_user_layer(self->reg) && split_key(key, name, path);
}

static gboolean backend_get_writable(GSettingsBackend *backend, const gchar *path)
{
    return writable((VialSettingsBackend *)backend, path);
}

/* One value into the user's layer; NULL value: forget the user's change. */
static gboolean store(VialSettingsBackend *self, const char *path, GVariant *variant)
{
    char key[VIAL_REG_KEY_MAX + 1], name[VIAL_REG_NAME_MAX + 1];
    if (!writable(self, path) || !split_key(key, name, path))
        return FALSE;
    if (!variant)
        return vial_reg_revert(self->reg, key, name) == 0;
    struct vial_reg_value *value = from_variant(variant);
    int rc = value ? vial_reg_set(self->reg, key, name, value) : -1;
    if (rc < 0 && value)
        g_warning("vial: cannot save %s: %s", path, vial_error_last());
    vial_reg_value_free(value);
    return rc == 0;
}

static gboolean backend_write(GSettingsBackend *backend, const gchar *path, GVariant *value,
                              gpointer origin_tag)
{
    VialSettingsBackend *self = (VialSettingsBackend *)backend;
    g_variant_ref_sink(value);
    gboolean ok = store(self, path, value);
    g_variant_unref(value);
    if (ok)
        g_settings_backend_changed(backend, path, origin_tag);
    return ok;
}

struct tree_write {
    VialSettingsBackend *self;
    struct vial_hive *changes;
    GPtrArray *resets;
    gboolean ok;
};

static gboolean collect(gpointer path, gpointer variant, gpointer payload)
{
    struct tree_write *t = payload;
    char key[VIAL_REG_KEY_MAX + 1], name[VIAL_REG_NAME_MAX + 1];
    if (!split_key(key, name, path)) {
        t->ok = FALSE;
        return TRUE;
    }
    if (!variant) {
        g_ptr_array_add(t->resets, path);
        return FALSE;
    }
    struct vial_reg_value *value = from_variant(variant);
    if (!value || vial_hive_put(t->changes, key, name, value) < 0)
        t->ok = FALSE;
    vial_reg_value_free(value);
    return !t->ok;
}

static gboolean backend_write_tree(GSettingsBackend *backend, GTree *tree, gpointer origin_tag)
{
    VialSettingsBackend *self = (VialSettingsBackend *)backend;
    struct tree_write t = {self, NULL, g_ptr_array_new(), TRUE};
    if (!self->reg || !vial_reg_has_user_layer(self->reg) || vial_hive_new(&t.changes) < 0)
        t.ok = FALSE;
    if (t.ok)
        g_tree_foreach(tree, collect, &t);
    /* the values in one transaction; resets (rare in a tree) after it */
    if (t.ok && vial_hive_count(t.changes) && vial_reg_apply(self->reg, t.changes) < 0) {
        g_warning("vial: cannot save settings: %s", vial_error_last());
        t.ok = FALSE;
    }
    for (guint i = 0; t.ok && i < t.resets->len; i++)
        t.ok = store(self, g_ptr_array_index(t.resets, i), NULL);
    vial_hive_free(t.changes);
    g_ptr_array_unref(t.resets);
    if (t.ok)
        g_settings_backend_changed_tree(backend, tree, origin_tag);
    return t.ok;
}

static void backend_reset(GSettingsBackend *backend, const gchar *path, gpointer origin_tag)
{
    if (store((VialSettingsBackend *)backend, path, NULL))
        g_settings_backend_changed(backend, path, origin_tag);
}

static void backend_subscribe(GSettingsBackend *backend, const gchar *name)
{
    (void)backend, (void)name; /* the whole user layer is watched */
}

static void backend_sync(GSettingsBackend *backend)
{
    (void)backend; /* every write is on disk when it returns */
}

/* ---------------------------------------- changes by other processes */

struct changed_paths {
    GPtrArray *keys;  /* "/a/b/c" */
    GPtrArray *paths; /* "/a/b/" */
};

static void note_change(const char *key, const char *name, void *payload)
{
    struct changed_paths *c = payload;
    size_t root = sizeof REGISTRY_ROOT - 1;
    if (strncmp(key, REGISTRY_ROOT, root) != 0 || (key[root] != '/' && key[root] != '\0'))
        return; /* not a setting (env, ...) */
    if (name)
        g_ptr_array_add(c->keys, g_strdup_printf("%s/%s", key + root, name));
    else
        g_ptr_array_add(c->paths, g_strdup_printf("%s/", key[root] ? key + root : ""));
}

static gboolean on_registry_changed(gint fd, GIOCondition condition, gpointer data)
{
    VialSettingsBackend *self = data;
    (void)fd, (void)condition;
    struct changed_paths c = {g_ptr_array_new_with_free_func(g_free),
                              g_ptr_array_new_with_free_func(g_free)};
    vial_reg_watch_drain(self->reg);
    /* signals are sent once the registry's lock is released: a handler
     * may read settings again */
    if (vial_reg_refresh(self->reg, note_change, &c) < 0)
        g_warning("vial: cannot re-read the settings: %s", vial_error_last());
    for (guint i = 0; i < c.keys->len; i++)
        g_settings_backend_changed(G_SETTINGS_BACKEND(self), g_ptr_array_index(c.keys, i), NULL);
    for (guint i = 0; i < c.paths->len; i++)
        g_settings_backend_path_changed(G_SETTINGS_BACKEND(self), g_ptr_array_index(c.paths, i), NULL);
    g_ptr_array_unref(c.keys);
    g_ptr_array_unref(c.paths);
    return G_SOURCE_CONTINUE;
}

static gboolean start_watching(gpointer data)
{
    VialSettingsBackend *self = data;
    self->start_watch = 0;
    int fd = vial_reg_watch_fd(self->reg);
    if (fd >= 0) {
        self->watch = g_unix_fd_add(fd, G_IO_IN, on_registry_changed, self);
        on_registry_changed(fd, G_IO_IN, self); /* what changed before the watch */
    }
    return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------- session */

/* The registry= and hive= lines of the session file the launcher wrote. */
static gboolean read_session(char *registry, char *hive, size_t size)
{
    const char *path = g_getenv("VIAL_SESSION");
    gchar *text = NULL;
    gsize length = 0;
    if (!path || !g_file_get_contents(path, &text, &length, NULL))
        return FALSE;
    registry[0] = hive[0] = '\0';
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "registry=", 9) == 0)
            g_strlcpy(registry, line + 9, size);
        else if (strncmp(line, "hive=", 5) == 0)
            g_strlcpy(hive, line + 5, size);
    }
    g_free(text);
    return registry[0] != '\0';
}

static struct vial_hive *load_package_hive(const char *path)
{
    struct vial_hive *hive = NULL;
    gchar *bytes = NULL;
    gsize length = 0;
    if (!*path)
        return vial_hive_new(&hive) == 0 ? hive : NULL;
    if (!g_file_get_contents(path, &bytes, &length, NULL) || vial_hive_load(&hive, bytes, length) < 0) {
        g_warning("vial: the package's settings in %s cannot be read%s%s", path,
                  bytes ? ": " : "", bytes ? vial_error_last() : "");
        hive = NULL;
    }
    g_free(bytes);
    return hive;
}

static void vial_settings_backend_init(VialSettingsBackend *self)
{
    char registry[4096], hive[4096];
    if (!read_session(registry, hive, sizeof registry)) {
        g_warning("vial: no Vial session (VIAL_SESSION): settings are read-only defaults");
        return;
    }
    self->package = load_package_hive(hive);
    const struct vial_hive *layers[] = {self->package};
    if (vial_reg_open(&self->reg, registry, layers, self->package ? 1 : 0, NULL) < 0) {
        /* a damaged user layer: the package's values only, and no writes;
         * nothing ever goes to the host's dconf */
        g_warning("vial: %s: settings changes are off until the file is moved away", vial_error_last());
        vial_reg_open(&self->reg, NULL, layers, self->package ? 1 : 0, NULL);
        return;
    }
    /* The watch waits for the main loop: a program that never runs one
     * (gsettings get) cannot receive change signals anyway, and closing an
     * inotify instance at exit costs the kernel milliseconds. */
    self->start_watch = g_idle_add(start_watching, self);
}

static void vial_settings_backend_finalize(GObject *object)
{
    VialSettingsBackend *self = (VialSettingsBackend *)object;
    if (self->start_watch)
        g_source_remove(self->start_watch);
    if (self->watch)
        g_source_remove(self->watch);
    vial_reg_close(self->reg);
    vial_hive_free(self->package);
    G_OBJECT_CLASS(vial_settings_backend_parent_class)->finalize(object);
}

static void vial_settings_backend_class_init(VialSettingsBackendClass *class)
{
    GSettingsBackendClass *backend = G_SETTINGS_BACKEND_CLASS(class);
    G_OBJECT_CLASS(class)->finalize = vial_settings_backend_finalize;
    backend->read = backend_read;
    backend->read_user_value = backend_read_user_value;
    backend->get_writable = backend_get_writable;
    backend->write = backend_write;
    backend->write_tree = backend_write_tree;
    backend->reset = backend_reset;
    backend->subscribe = backend_subscribe;
    backend->unsubscribe = backend_subscribe;
    backend->sync = backend_sync;
}

static void vial_settings_backend_class_finalize(VialSettingsBackendClass *class) { (void)class; }

/* ------------------------------------------------------------ the module */

G_MODULE_EXPORT void g_io_module_load(GIOModule *module)
{
    /* stay loaded: a settings backend lives as long as the process */
    g_type_module_use(G_TYPE_MODULE(module));
    vial_settings_backend_register_type(G_TYPE_MODULE(module));
    /* below dconf's priority: only GSETTINGS_BACKEND=vial selects it */
    g_io_extension_point_implement(G_SETTINGS_BACKEND_EXTENSION_POINT_NAME,
                                   vial_settings_backend_get_type(), "vial", -100);
}

G_MODULE_EXPORT void g_io_module_unload(GIOModule *module) { (void)module; }

G_MODULE_EXPORT gchar **g_io_module_query(void)
{
    return g_strsplit(G_SETTINGS_BACKEND_EXTENSION_POINT_NAME, "!", 0);
}
