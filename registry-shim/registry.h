/*
 * registry.h - the public API of Vial's virtual registry (libvial-registry).
 *
 * A registry is a tree of keys; each key holds named, typed values. Key
 * paths are '/'-separated names ("env", "gsettings/org/gnome/desktop/
 * interface"); a value is addressed by its key and its name ("clock-format").
 * Types are GVariant type strings ("s", "b", "u", "as", "a{sv}", "(ii)",
 * "mv"...), so every GSettings value is held losslessly; values are kept as
 * their canonical text in GVariant's text format ("'24h'", "uint32 5",
 * "@as []"). docs/registry.md specifies the names, the text forms, the hive
 * file formats and the layering.
 *
 * Layers, highest first: the user's delta (writable, with deletion markers,
 * a hive file in the package's state directory) over the package hives
 * (read-only, from the image's registry section) over built-in defaults
 * (a hive the caller supplies). A value is the highest layer's; a deletion
 * marker in a layer hides the value (or the whole key) in every lower one.
 *
 * Conventions: functions return 0 (or a count) on success, a negative error
 * code on failure (-errno where one fits, VIAL_E* otherwise) and leave a
 * message in vial_error_last(); out-parameters come first; what a function
 * returns through a `**out` is the caller's, freed with the matching _free.
 * A struct vial_hive is immutable once built and may be read by many threads;
 * a struct vial_reg serializes its callers with its own lock.
 */
#ifndef VIAL_REGISTRY_H
#define VIAL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

enum vial_registry_error_code {
    VIAL_EHIVE = -5101,  /* a hive file or section is damaged or truncated */
    VIAL_EVALUE = -5102, /* a value's text does not parse, or not as its type */
};

/* Limits, checked everywhere a name, path or value enters the registry. */
#define VIAL_REG_NAME_MAX 255u         /* bytes in one key component or value name */
#define VIAL_REG_KEY_MAX 1024u         /* bytes in a key path */
#define VIAL_REG_TYPE_MAX 255u         /* bytes in a type string */
#define VIAL_REG_TEXT_MAX (1u << 20)   /* bytes in a value's canonical text */
#define VIAL_REG_DEPTH_MAX 64u         /* nesting of containers in a value */
#define VIAL_REG_HIVE_MAX (64u << 20)  /* bytes in a hive */

/* ------------------------------------------------------------------ names */

/* 0 if key is a valid key path: 1 to VIAL_REG_KEY_MAX bytes of components
 * joined by single '/', no leading or trailing '/', each component a valid
 * name. Otherwise VIAL_EVALUE with a message naming the fault. */
int vial_reg_key_valid(const char *key);

/* 0 if name is a valid component or value name: 1 to VIAL_REG_NAME_MAX
 * bytes of UTF-8 without '/', '=', control characters or NUL, not "." or
 * "..", not starting with '-', '[', '#', ';' or a space, not ending in a
 * space (these would not survive the text hive format). */
int vial_reg_name_valid(const char *name);

/* Splits "KEY/NAME" at its last '/' into key and name (copied into the
 * buffers, VIAL_REG_KEY_MAX + 1 and VIAL_REG_NAME_MAX + 1 bytes) and checks
 * both. VIAL_EVALUE if path has no '/' or either part is invalid. */
int vial_reg_path_split(char *key, char *name, const char *path);

/* ----------------------------------------------------------------- values */

/* A typed value: a GVariant type string and the value's canonical text. */
struct vial_reg_value {
    char *type;
    char *text;
};

/* 0 if type is a valid definite GVariant type string (no '?', '*', 'r'),
 * at most VIAL_REG_TYPE_MAX bytes and VIAL_REG_DEPTH_MAX deep. */
int vial_reg_type_valid(const char *type);

/*
 * Parses text in GVariant's text format into a value. With type, the text
 * must be a value of that type; without (NULL), the type is inferred as
 * GVariant does ("5" is int32, "'x'" a string, "[1, 2]" an "ai", "uint64 5"
 * and "@as []" say theirs). The stored text is canonical: re-parsing and
 * re-printing it gives the same bytes. Numbers out of range, strings that
 * are not UTF-8, dictionaries with a non-basic key type and nesting beyond
 * VIAL_REG_DEPTH_MAX are VIAL_EVALUE, with the offset of the fault.
 */
int vial_reg_value_parse(struct vial_reg_value **out, const char *type, const char *text);

/* Like vial_reg_value_parse for the command line's convenience: when type
 * is "s" (or NULL and the text does not parse), text that is not a quoted
 * string is taken literally, as `gsettings set` does. */
int vial_reg_value_parse_lenient(struct vial_reg_value **out, const char *type,
                                 const char *text);

/* A string value ("s", "o" or "g") holding text. */
int vial_reg_value_string(struct vial_reg_value **out, const char *text);

/* The string a value of type "s", "o" or "g" holds, malloc'd into *out;
 * VIAL_EVALUE for any other type. */
int vial_reg_value_get_string(char **out, const struct vial_reg_value *value);

/* The boolean a value of type "b" holds (0 or 1); VIAL_EVALUE otherwise. */
int vial_reg_value_get_bool(int *out, const struct vial_reg_value *value);

/* The value's text annotated so that vial_reg_value_parse(NULL) infers its
 * type back ("uint32 5", "@as []", "'x'"), malloc'd into *out. */
int vial_reg_value_format(char **out, const struct vial_reg_value *value);

/* 1 if a and b have the same type and text, else 0. */
int vial_reg_value_equal(const struct vial_reg_value *a, const struct vial_reg_value *b);

int vial_reg_value_copy(struct vial_reg_value **out, const struct vial_reg_value *value);
void vial_reg_value_free(struct vial_reg_value *value);

/* ------------------------------------------------------------------ hives */

/* What a hive record says about (key, name). */
enum vial_reg_record_kind {
    VIAL_REG_VALUE = 1,         /* name holds value */
    VIAL_REG_VALUE_DELETED = 2, /* name is deleted: lower layers' value hidden */
    VIAL_REG_KEY_DELETED = 3,   /* key and everything below it deleted (name "") */
};

/* One record, as enumerated; pointers are the hive's, valid while it is. */
struct vial_reg_record {
    enum vial_reg_record_kind kind;
    const char *key;
    const char *name;                   /* "" for VIAL_REG_KEY_DELETED */
    const struct vial_reg_value *value; /* NULL unless VIAL_REG_VALUE */
};

struct vial_hive;

/* An empty hive, to fill with vial_hive_put/_delete. */
int vial_hive_new(struct vial_hive **out);
void vial_hive_free(struct vial_hive *hive);

/* Sets (key, name) to a copy of value, replacing any record for it. */
int vial_hive_put(struct vial_hive *hive, const char *key, const char *name,
                  const struct vial_reg_value *value);

/* Records a deletion marker: of (key, name), or with name NULL of the whole
 * key, which also drops every record of this hive at or below key. */
int vial_hive_delete(struct vial_hive *hive, const char *key, const char *name);

/* Applies every record of changes onto hive, in order (what an import or a
 * concurrent writer's change does to a delta). */
int vial_hive_merge(struct vial_hive *hive, const struct vial_hive *changes);

/* Calls visit for each record in order (by key, then name, bytewise); a
 * non-zero return stops the walk and is returned. */
int vial_hive_foreach(const struct vial_hive *hive,
                      int (*visit)(const struct vial_reg_record *record, void *payload),
                      void *payload);

size_t vial_hive_count(const struct vial_hive *hive);

/*
 * The binary form (docs/registry.md): what the image's registry section and
 * the user's delta file hold. vial_hive_load checks every length, name, type
 * and value and the checksum before building the hive; damage or truncation
 * is VIAL_EHIVE with a message saying what is wrong. vial_hive_serialize
 * returns a malloc'd buffer; the same records always give the same bytes.
 */
int vial_hive_load(struct vial_hive **out, const void *bytes, size_t size);
int vial_hive_serialize(void **out, size_t *size, const struct vial_hive *hive);

/*
 * The text form, for people: INI-like, `[key/path]` sections of
 * `name = VALUE` lines in GVariant text, `-name` and `[-key/path]` deletion
 * markers, '#' and ';' comments. vial_hive_parse_text reports the first
 * fault as VIAL_EVALUE with "line N: ..."; vial_hive_format_text writes what
 * parses back to the same records (a malloc'd, NUL-terminated string).
 */
int vial_hive_parse_text(struct vial_hive **out, const char *text, size_t length);
int vial_hive_format_text(char **out, const struct vial_hive *hive);

/*
 * The package hive `vial pack` stores: the text hive (text, length; NULL for
 * none) with the manifest's [registry] values and [env] variables on top
 * (docs/manifest.md). Errors name the manifest line (VIAL_EMANIFEST) or the
 * text's line (VIAL_EVALUE).
 */
int vial_hive_from_package(struct vial_hive **out, const struct vial_manifest *manifest,
                           const char *text, size_t length);

/* --------------------------------------------------------------- registry */

enum vial_reg_layer {
    VIAL_REG_LAYER_ALL = 0,     /* the merged view an application sees */
    VIAL_REG_LAYER_USER = 1,    /* the user's delta, markers included */
    VIAL_REG_LAYER_PACKAGE = 2, /* the package hives, merged */
    VIAL_REG_LAYER_DEFAULTS = 3,
};

struct vial_reg;

/*
 * Opens a registry. delta_path is the user's delta hive file (it need not
 * exist yet; its directory must); NULL opens a read-only registry without a
 * user layer. packages are the package hives, highest priority first;
 * defaults may be NULL. The hives are borrowed: they must outlive the
 * registry. A damaged delta file is VIAL_EHIVE naming the file.
 */
int vial_reg_open(struct vial_reg **out, const char *delta_path,
                  const struct vial_hive *const *packages, size_t package_count,
                  const struct vial_hive *defaults);
void vial_reg_close(struct vial_reg *reg);

/* 1 if the registry has a user layer (it was opened with a delta path). */
int vial_reg_has_user_layer(const struct vial_reg *reg);

/* The value of (key, name) in layer; -ENOENT if it has none there (also
 * when a deletion marker hides it, which for VIAL_REG_LAYER_USER is
 * reported as -ENOENT with *deleted set when deleted is not NULL). */
int vial_reg_get(struct vial_reg_value **out, int *deleted, struct vial_reg *reg,
                 enum vial_reg_layer layer, const char *key, const char *name);

/* One item of a listing. */
struct vial_reg_item {
    int is_key;                         /* a subkey (name is its last component) */
    int deleted;                        /* a marker (VIAL_REG_LAYER_USER only) */
    const char *name;
    const struct vial_reg_value *value; /* values only */
    enum vial_reg_layer from;           /* the layer that decided the item */
};

/* Lists key's subkeys, then its values, each in bytewise order of name, as
 * seen in layer; key "" lists the top-level keys. A key exists when some
 * value below it is visible. Returns the number of items or an error; a
 * non-zero return of visit stops the listing and is returned. */
int vial_reg_list(struct vial_reg *reg, enum vial_reg_layer layer, const char *key,
                  int (*visit)(const struct vial_reg_item *item, void *payload), void *payload);

/* The whole view of a layer at or below key ("" for all) as a hive (for
 * export): VIAL_REG_LAYER_USER keeps its markers, the others resolve them. */
int vial_reg_snapshot(struct vial_hive **out, struct vial_reg *reg, enum vial_reg_layer layer,
                      const char *key);

/*
 * Changes the user's delta: set a value, delete a value or (name NULL) a key,
 * or apply a whole hive of changes (import). Each call is one atomic
 * transaction on the delta file: under an exclusive lock of the file it
 * re-reads what other processes wrote, applies this change, writes a new
 * file and renames it into place (fsync'd), so concurrent writers of
 * distinct keys never lose each other's updates and a killed writer leaves
 * the old file or the new one. -EROFS without a delta. Deleting what no
 * layer has is -ENOENT.
 */
int vial_reg_set(struct vial_reg *reg, const char *key, const char *name,
                 const struct vial_reg_value *value);
int vial_reg_delete(struct vial_reg *reg, const char *key, const char *name);
int vial_reg_apply(struct vial_reg *reg, const struct vial_hive *changes);

/* Forgets the user's delta of key ("" for all): its records at or below key
 * are removed, so the package's values show again. */
int vial_reg_revert(struct vial_reg *reg, const char *key, const char *name);

/*
 * Re-reads the delta file if another process replaced it. For each (key,
 * name) whose user-layer record changed, calls changed (name NULL: a key
 * marker changed). Returns 1 if the file changed, 0 if not, or an error.
 */
int vial_reg_refresh(struct vial_reg *reg,
                     void (*changed)(const char *key, const char *name, void *payload),
                     void *payload);

/* A descriptor that becomes readable when the delta file may have changed
 * (inotify on its directory; the registry owns it). Drain it with
 * vial_reg_watch_drain, then call vial_reg_refresh. -1 without a delta. */
int vial_reg_watch_fd(struct vial_reg *reg);
void vial_reg_watch_drain(struct vial_reg *reg);

/* ------------------------------------------------------ environment shim */

/*
 * The environment a package's registry asks for, applied to env (an array of
 * "NAME=VALUE" strings, e.g. environ). The key "env" holds the variables to
 * set, "env/prepend" and "env/append" the ones to extend with ':' and
 * "env/unset" (true) the ones to remove; see docs/registry.md. References
 * ${NAME} in values are expanded from the environment being built and from
 * vars ("NAME=VALUE" strings: VIAL_PACKAGE, VIAL_VERSION...), $$ is a '$'.
 * Returns a malloc'd NULL-terminated array whose strings are malloc'd too
 * (free with vial_reg_env_free). When changes is not NULL, every variable
 * whose value differs from env's is listed there as "NAME" (was unset) or
 * "NAME=VALUE" (its value in env), malloc'd the same way, so that host tools
 * can be given the host's value back.
 */
int vial_reg_env_build(char ***out, char ***changes, struct vial_reg *reg,
                       char *const *env, char *const *vars);
void vial_reg_env_free(char **env);

#endif
