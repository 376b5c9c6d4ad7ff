/*
 * package.c - the package's hive, as `vial pack` builds it: a text hive file
 * (--registry) with the manifest's [registry] and [env] lines on top.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

static int add_setting(struct vial_hive *hive, const struct vial_manifest_setting *s)
{
    char key[VIAL_REG_KEY_MAX + 1], name[VIAL_REG_NAME_MAX + 1];
    struct vial_reg_value *value = NULL;
    if (vial_reg_path_split(key, name, s->path) < 0)
        return vial_error_prefix(VIAL_EMANIFEST, "line %u: [registry] '%s'", s->line, s->path);
    if (vial_reg_value_parse(&value, NULL, s->value) < 0)
        return vial_error_prefix(VIAL_EMANIFEST, "line %u: [registry] '%s'", s->line, s->path);
    int rc = vial_hive_put(hive, key, name, value);
    vial_reg_value_free(value);
    return rc;
}

static int add_env(struct vial_hive *hive, const struct vial_manifest_env *e)
{
    static const char *const keys[] = {
        [VIAL_ENV_SET] = "env", [VIAL_ENV_PREPEND] = "env/prepend",
        [VIAL_ENV_APPEND] = "env/append", [VIAL_ENV_UNSET] = "env/unset"};
    struct vial_reg_value *value = NULL;
    int rc = e->operation == VIAL_ENV_UNSET ? vial_reg_value_parse(&value, "b", "true")
                                            : vial_reg_value_string(&value, e->text);
    if (rc < 0)
        return vial_error_prefix(VIAL_EMANIFEST, "line %u: [env] '%s'", e->line, e->name);
    rc = vial_hive_put(hive, keys[e->operation], e->name, value);
    vial_reg_value_free(value);
    return rc;
}

int vial_hive_from_package(struct vial_hive **out, const struct vial_manifest *manifest,
                           const char *text, size_t length)
{
    *out = NULL;
    struct vial_hive *hive = NULL;
    int rc = text ? vial_hive_parse_text(&hive, text, length) : vial_hive_new(&hive);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < manifest->registry_count && rc >= 0; i++)
        rc = add_setting(hive, &manifest->registry[i]);
    for (size_t i = 0; i < manifest->env_count && rc >= 0; i++)
        rc = add_env(hive, &manifest->env[i]);
    if (rc < 0) {
        vial_hive_free(hive);
        return rc;
    }
    *out = hive;
    return 0;
}
