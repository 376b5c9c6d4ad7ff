/*
 * cmd_reg.c - `vial reg`: the user's view of a package's registry (the
 * package hive from the image under the user's delta), and the registry a
 * launch reads its environment from.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "registry.h"

#define IMPORT_MAX_BYTES (64u << 20)

int cli_package_hive(struct vial_hive **out, const struct vial_image *image)
{
    const void *data;
    uint64_t length;
    *out = NULL;
    if (vial_image_section(&data, &length, image, VIAL_SECTION_HIVE) < 0)
        return vial_hive_new(out); /* a package without registry values */
    int rc = vial_hive_load(out, data, (size_t)length);
    return rc < 0 ? vial_error_prefix(VIAL_ECORRUPT, "the image's registry section") : 0;
}

int cli_registry_open(struct vial_reg **out, struct vial_hive **package, const struct vial_image *image,
                      const char *state_directory, const struct vial_hive *defaults)
{
    char path[PATH_MAX];
    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/registry.hive", state_directory) >= sizeof path)
        return vial_error_set(-ENAMETOOLONG, "state directory name too long");
    int rc = cli_package_hive(package, image);
    if (rc < 0)
        return rc;
    const struct vial_hive *layers[] = {*package};
    rc = vial_reg_open(out, path, layers, 1, defaults);
    if (rc == VIAL_EHIVE)
        return vial_error_prefix(rc, "the user's registry changes cannot be read (move the file "
                                     "away, or 'vial reset' the package, and retry)");
    return rc;
}

/* ------------------------------------------------------------ the command */

struct reg_command {
    const char *image_path;
    struct vial_image *image;
    struct vial_manifest *manifest;
    struct vial_hive *package;
    struct vial_reg *reg;
    enum vial_reg_layer layer;
    int json;
    const char *type;
};

static const char *layer_name(enum vial_reg_layer layer)
{
    switch (layer) {
    case VIAL_REG_LAYER_USER: return "user";
    case VIAL_REG_LAYER_PACKAGE: return "package";
    case VIAL_REG_LAYER_DEFAULTS: return "defaults";
    default: return "all";
    }
}

/* "the registry of P" or "the user layer of the registry of P" */
static const char *where(const struct reg_command *c)
{
    static char text[256];
    if (c->layer == VIAL_REG_LAYER_ALL)
        snprintf(text, sizeof text, "the registry of %s", c->manifest->name);
    else
        snprintf(text, sizeof text, "the %s layer of the registry of %s", layer_name(c->layer),
                 c->manifest->name);
    return text;
}

static int open_command(struct reg_command *c)
{
    const void *text;
    uint64_t length;
    struct vial_dirs dirs;
    char state[PATH_MAX];
    int rc = cli_open_image(&c->image, c->image_path);
    if (rc < 0)
        return rc;
    if (vial_image_section(&text, &length, c->image, VIAL_SECTION_MANIFEST) < 0 ||
        vial_manifest_parse(&c->manifest, text, (size_t)length) < 0)
        return vial_error_prefix(VIAL_ECORRUPT, "%s: manifest", c->image_path);
    if ((rc = vial_dirs_get(&dirs)) < 0 ||
        (rc = cli_state_prepare(state, sizeof state, &dirs, c->manifest, c->image_path, 0)) < 0)
        return rc;
    return cli_registry_open(&c->reg, &c->package, c->image, state, NULL);
}

static void close_command(struct reg_command *c)
{
    vial_reg_close(c->reg);
    vial_hive_free(c->package);
    vial_manifest_free(c->manifest);
    vial_image_close(c->image);
}

/* Changes go to the user's layer only. */
static int refuse_read_only_layer(const struct reg_command *c)
{
    if (c->layer == VIAL_REG_LAYER_PACKAGE || c->layer == VIAL_REG_LAYER_DEFAULTS)
        return vial_error_set(-EROFS, "only the user layer can be changed (the package's is in the image)");
    return 0;
}

/* KEY without a trailing '/' ("" for none) into out (VIAL_REG_KEY_MAX + 2). */
static void trim_key(char *out, const char *key)
{
    snprintf(out, VIAL_REG_KEY_MAX + 2, "%s", key ? key : "");
    size_t n = strlen(out);
    if (n && out[n - 1] == '/')
        out[n - 1] = '\0';
}

/* "KEY/" or a key without a value name: the key; else "KEY/NAME". */
static int split_path(char *key, char *name, const char *path, int *is_key)
{
    size_t n = strlen(path);
    *is_key = 0;
    if (n && path[n - 1] == '/') {
        if (n - 1 > VIAL_REG_KEY_MAX)
            return vial_error_set(VIAL_EVALUE, "key too long");
        memcpy(key, path, n - 1);
        key[n - 1] = '\0';
        *is_key = 1;
        name[0] = '\0';
        return vial_reg_key_valid(key);
    }
    return vial_reg_path_split(key, name, path);
}

struct listing_output {
    cJSON *array;
    int json;
};

static int print_item(const struct vial_reg_item *item, void *payload)
{
    struct listing_output *out = payload;
    char *formatted = NULL;
    if (item->value && vial_reg_value_format(&formatted, item->value) < 0)
        return VIAL_EVALUE;
    if (out->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", item->name);
        cJSON_AddStringToObject(o, "kind", item->is_key ? "key" : "value");
        cJSON_AddBoolToObject(o, "deleted", item->deleted);
        if (item->value) {
            cJSON_AddStringToObject(o, "type", item->value->type);
            cJSON_AddStringToObject(o, "value", item->value->text);
            cJSON_AddStringToObject(o, "layer", layer_name(item->from));
        }
        cJSON_AddItemToArray(out->array, o);
    } else if (item->is_key) {
        printf("%s%s/\n", item->deleted ? "-" : "", item->name);
    } else if (item->deleted) {
        printf("-%s\n", item->name);
    } else {
        printf("%s = %s\n", item->name, formatted);
    }
    free(formatted);
    return 0;
}

static void print_json(cJSON *json)
{
    char *text = cJSON_Print(json);
    if (text)
        puts(text);
    free(text);
    cJSON_Delete(json);
}

static int reg_ls(struct reg_command *c, const char *key)
{
    struct listing_output out = {c->json ? cJSON_CreateArray() : NULL, c->json};
    char trimmed[VIAL_REG_KEY_MAX + 2];
    trim_key(trimmed, key);
    int rc = vial_reg_list(c->reg, c->layer, trimmed, print_item, &out);
    if (rc == 0 && trimmed[0] && !c->json) {
        cJSON_Delete(out.array);
        return vial_error_set(-ENOENT, "%s: no such key in %s", trimmed, where(c));
    }
    if (c->json)
        print_json(out.array);
    return rc < 0 ? rc : 0;
}

static int reg_get(struct reg_command *c, const char *path)
{
    char key[VIAL_REG_KEY_MAX + 1], name[VIAL_REG_NAME_MAX + 1];
    if (vial_reg_path_split(key, name, path) < 0)
        return VIAL_EVALUE;
    struct vial_reg_value *value = NULL;
    int deleted = 0;
    int rc = vial_reg_get(&value, &deleted, c->reg, c->layer, key, name);
    if (rc == -ENOENT)
        return vial_error_set(rc, "%s: %s in %s", path,
                              deleted ? "deleted by the user" : "no such value", where(c));
    if (rc < 0)
        return rc;
    char *formatted = NULL;
    if ((rc = vial_reg_value_format(&formatted, value)) == 0) {
        if (c->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "path", path);
            cJSON_AddStringToObject(o, "type", value->type);
            cJSON_AddStringToObject(o, "value", value->text);
            print_json(o);
        } else {
            puts(formatted);
        }
    }
    free(formatted);
    vial_reg_value_free(value);
    return rc;
}

static int reg_set(struct reg_command *c, const char *path, const char *text)
{
    char key[VIAL_REG_KEY_MAX + 1], name[VIAL_REG_NAME_MAX + 1];
    if (refuse_read_only_layer(c) < 0)
        return -EROFS;
    if (vial_reg_path_split(key, name, path) < 0)
        return VIAL_EVALUE;
    /* the type: --type, else the value's current one, else what the text says */
    struct vial_reg_value *current = NULL, *value = NULL;
    const char *type = c->type;
    if (!type && vial_reg_get(&current, NULL, c->reg, VIAL_REG_LAYER_ALL, key, name) == 0)
        type = current->type;
    int rc = vial_reg_value_parse_lenient(&value, type, text);
    if (rc < 0)
        vial_error_prefix(rc, "%s", path);
    else
        rc = vial_reg_set(c->reg, key, name, value);
    vial_reg_value_free(current);
    vial_reg_value_free(value);
    return rc;
}

static int reg_rm(struct reg_command *c, const char *path)
{
    char key[VIAL_REG_KEY_MAX + 1], name[VIAL_REG_NAME_MAX + 1];
    int is_key;
    if (split_path(key, name, path, &is_key) < 0)
        return VIAL_EVALUE;
    if (refuse_read_only_layer(c) < 0)
        return -EROFS;
    /* a path that names no value may name a key */
    if (!is_key) {
        struct vial_reg_value *value = NULL;
        int deleted = 0;
        enum vial_reg_layer where = c->layer == VIAL_REG_LAYER_USER ? VIAL_REG_LAYER_USER : VIAL_REG_LAYER_ALL;
        int found = vial_reg_get(&value, &deleted, c->reg, where, key, name) == 0 || deleted;
        vial_reg_value_free(value);
        if (!found && vial_reg_list(c->reg, where, path, NULL, NULL) > 0) {
            snprintf(key, sizeof key, "%s", path);
            is_key = 1;
        }
    }
    if (c->layer == VIAL_REG_LAYER_USER) /* forget the user's change */
        return vial_reg_revert(c->reg, key, is_key ? NULL : name);
    int rc = vial_reg_delete(c->reg, key, is_key ? NULL : name);
    if (rc == -ENOENT)
        return vial_error_set(rc, "%s: no such %s in %s", path, is_key ? "key" : "value", where(c));
    return rc;
}

static int reg_export(struct reg_command *c, const char *key)
{
    char trimmed[VIAL_REG_KEY_MAX + 2];
    trim_key(trimmed, key);
    struct vial_hive *snapshot = NULL;
    char *text = NULL;
    int rc = vial_reg_snapshot(&snapshot, c->reg, c->layer, trimmed);
    if (rc == 0)
        rc = vial_hive_format_text(&text, snapshot);
    if (rc == 0) {
        printf("# registry of %s %s (%s layer%s%s)\n", c->manifest->name, c->manifest->version,
               layer_name(c->layer), trimmed[0] ? ", key " : "", trimmed);
        fputs(text, stdout);
    }
    free(text);
    vial_hive_free(snapshot);
    return rc;
}

static int reg_import(struct reg_command *c, const char *file)
{
    if (refuse_read_only_layer(c) < 0)
        return -EROFS;
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (!f)
        return vial_error_set(-errno, "%s: %s", file, strerror(errno));
    char *text = malloc(IMPORT_MAX_BYTES + 1);
    size_t length = text ? fread(text, 1, IMPORT_MAX_BYTES + 1, f) : 0;
    int failed = !text || ferror(f);
    if (f != stdin)
        fclose(f);
    int rc = 0;
    struct vial_hive *changes = NULL;
    if (failed)
        rc = vial_error_set(-EIO, "%s: cannot read", file);
    else if (length > IMPORT_MAX_BYTES)
        rc = vial_error_set(-EFBIG, "%s: larger than %u MiB", file, IMPORT_MAX_BYTES >> 20);
    else if ((rc = vial_hive_parse_text(&changes, text, length)) < 0)
        vial_error_prefix(rc, "%s", file);
    else
        rc = vial_reg_apply(c->reg, changes);
    if (rc == 0)
        fprintf(stderr, "vial: imported %zu records into the registry of %s\n", vial_hive_count(changes),
                c->manifest->name);
    vial_hive_free(changes);
    free(text);
    return rc;
}

int cmd_reg(int argc, char **argv)
{
    struct reg_command c = {0};
    char *positional[4];
    int count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            c.json = 1;
        } else if (strcmp(a, "--layer") == 0 || strcmp(a, "--type") == 0) {
            if (i + 1 >= argc)
                return cli_usage("reg", "%s needs a value", a);
            const char *v = argv[++i];
            if (a[2] == 't') {
                if (vial_reg_type_valid(v) < 0)
                    return cli_usage("reg", "--type: %s", vial_error_last());
                c.type = v;
            } else if (strcmp(v, "user") == 0) {
                c.layer = VIAL_REG_LAYER_USER;
            } else if (strcmp(v, "package") == 0) {
                c.layer = VIAL_REG_LAYER_PACKAGE;
            } else if (strcmp(v, "all") == 0) {
                c.layer = VIAL_REG_LAYER_ALL;
            } else {
                return cli_usage("reg", "--layer is user, package or all, not '%s'", v);
            }
        } else if (strcmp(a, "--") == 0 && i + 1 < argc && count < 4) {
            positional[count++] = argv[++i]; /* a VALUE that starts with '-' */
        } else if (a[0] == '-' && a[1] && count < 3) {
            return cli_usage("reg", "unknown option '%s'", a);
        } else if (count < 4) {
            positional[count++] = argv[i];
        } else {
            return cli_usage("reg", "too many arguments");
        }
    }
    if (count < 2)
        return cli_usage("reg", count ? "no command given (ls, get, set, rm, export, import)"
                                      : "no IMAGE given");
    c.image_path = positional[0];
    const char *command = positional[1], *path = count > 2 ? positional[2] : NULL;
    static const struct {
        const char *name;
        int min, max; /* arguments after the command */
    } commands[] = {{"ls", 0, 1}, {"get", 1, 1}, {"set", 2, 2}, {"rm", 1, 1}, {"export", 0, 1}, {"import", 1, 1}};
    size_t which = sizeof commands / sizeof commands[0];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(command, commands[i].name) == 0)
            which = i;
    if (which == sizeof commands / sizeof commands[0])
        return cli_usage("reg", "unknown command '%s' (ls, get, set, rm, export, import)", command);
    if (count - 2 < commands[which].min || count - 2 > commands[which].max)
        return cli_usage("reg", "usage: vial reg IMAGE %s%s", command,
                         which == 2 ? " KEY/NAME VALUE" : which == 5 ? " FILE" : which == 0 || which == 4 ? " [KEY]" : " KEY/NAME");
    int rc = open_command(&c);
    if (rc == 0) {
        switch (which) {
        case 0: rc = reg_ls(&c, path); break;
        case 1: rc = reg_get(&c, path); break;
        case 2: rc = reg_set(&c, path, positional[3]); break;
        case 3: rc = reg_rm(&c, path); break;
        case 4: rc = reg_export(&c, path); break;
        default: rc = reg_import(&c, path); break;
        }
    }
    int code = rc < 0 ? cli_fail(rc) : VIAL_EXIT_OK;
    close_command(&c);
    return code;
}
