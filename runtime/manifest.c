/* manifest.c - the package manifest: INI text parsed with libinih. */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

#define MANIFEST_MAX_LINE 4096
#define MANIFEST_MAX_ENTRIES 1024

struct parse_state {
    const char *text;
    size_t length;
    size_t position;
    unsigned line;
    int line_too_long;
    struct vial_manifest *manifest;
    int rc;
    char current_section[128];
};

/* ini_reader over a memory buffer that counts lines, so that errors name
 * the line (the distribution's libinih is built without line numbers). */
static char *read_line(char *str, int num, void *stream)
{
    struct parse_state *state = stream;
    if (state->position >= state->length || state->rc < 0)
        return NULL;
    const char *start = state->text + state->position;
    size_t left = state->length - state->position;
    const char *newline = memchr(start, '\n', left);
    size_t n = newline ? (size_t)(newline - start) + 1 : left;
    state->line++;
    if (n >= (size_t)num - 1) {
        state->line_too_long = 1;
        state->rc = vial_error_set(VIAL_EMANIFEST, "line %u: longer than %d characters",
                                   state->line, num - 2);
        return NULL;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    state->position += n;
    return str;
}

static int set_once(struct parse_state *state, char **field, const char *key, const char *value)
{
    if (*field)
        return vial_error_set(VIAL_EMANIFEST, "line %u: '%s' given twice in [%s]", state->line,
                              key, state->current_section);
    if (!(*field = strdup(value)))
        return vial_error_set(-ENOMEM, "out of memory");
    return 0;
}

static int handle_package(struct parse_state *state, const char *key, const char *value)
{
    struct vial_manifest *m = state->manifest;
    struct { const char *key; char **field; } keys[] = {
        {"name", &m->name}, {"version", &m->version}, {"summary", &m->summary},
        {"vendor", &m->vendor}, {"state_group", &m->state_group},
        {"default_entry", &m->default_entry},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i].key) == 0)
            return set_once(state, keys[i].field, key, value);
    return vial_error_set(VIAL_EMANIFEST, "line %u: unknown key '%s' in [package]", state->line,
                          key);
}

static int handle_entry(struct parse_state *state, const char *name, const char *key,
                        const char *value)
{
    struct vial_manifest *m = state->manifest;
    struct vial_manifest_entry *e = NULL;
    for (size_t i = 0; i < m->entry_count; i++)
        if (strcmp(m->entries[i].name, name) == 0)
            e = &m->entries[i];
    if (!e)
        return vial_error_set(VIAL_EMANIFEST, "line %u: internal: entry [%s] not declared",
                              state->line, name);
    struct { const char *key; char **field; } keys[] = {
        {"exec", &e->exec}, {"args", &e->args}, {"description", &e->description},
        {"icon", &e->icon},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i].key) == 0)
            return set_once(state, keys[i].field, key, value);
    return vial_error_set(VIAL_EMANIFEST, "line %u: unknown key '%s' in [entry %s]", state->line,
                          key, name);
}

static int declare_entry(struct parse_state *state, const char *name)
{
    struct vial_manifest *m = state->manifest;
    if (!vial_manifest_name_valid(name))
        return vial_error_set(VIAL_EMANIFEST,
                              "line %u: entry name '%s' is not valid (letters, digits, '.', '_', "
                              "'+', '-'; at most 64)",
                              state->line, name);
    if (vial_manifest_find_entry(m, name))
        return vial_error_set(VIAL_EMANIFEST, "line %u: [entry %s] appears twice", state->line,
                              name);
    if (m->entry_count >= MANIFEST_MAX_ENTRIES)
        return vial_error_set(VIAL_EMANIFEST, "line %u: more than %d entries", state->line,
                              MANIFEST_MAX_ENTRIES);
    struct vial_manifest_entry *grown =
        realloc(m->entries, (m->entry_count + 1) * sizeof *m->entries);
    if (!grown)
        return vial_error_set(-ENOMEM, "out of memory");
    m->entries = grown;
    memset(&m->entries[m->entry_count], 0, sizeof *m->entries);
    if (!(m->entries[m->entry_count].name = strdup(name)))
        return vial_error_set(-ENOMEM, "out of memory");
    m->entry_count++;
    return 0;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
    struct parse_state *state = user;
    if (state->rc < 0)
        return 0;
    int rc = 0;
    int new_section = strcmp(section, state->current_section) != 0;
    if (new_section && strlen(section) < sizeof state->current_section)
        strcpy(state->current_section, section);
    if (strcmp(section, "package") == 0) {
        rc = key ? handle_package(state, key, value) : 0;
    } else if (strncmp(section, "entry ", 6) == 0) {
        const char *name = section + 6;
        if (!key) /* a new section header (INI_CALL_HANDLER_ON_NEW_SECTION) */
            rc = declare_entry(state, name);
        else if (!vial_manifest_find_entry(state->manifest, name))
            rc = declare_entry(state, name);
        if (rc == 0 && key)
            rc = handle_entry(state, name, key, value);
    } else if (section[0] == '\0') {
        rc = vial_error_set(VIAL_EMANIFEST, "line %u: '%s' is outside any [section]",
                            state->line, key ? key : "");
    } else {
        rc = vial_error_set(VIAL_EMANIFEST,
                            "line %u: unknown section [%s] (known: [package], [entry NAME])",
                            state->line, section);
    }
    if (rc < 0) {
        state->rc = rc;
        return 0;
    }
    return 1;
}

/* An absolute path made of valid names: what an entry may execute. */
static int exec_path_valid(const char *path)
{
    return path[0] == '/' && path[1] != '\0' && vial_image_path_valid(path + 1, strlen(path + 1));
}

static int validate(struct vial_manifest *m)
{
    if (!m->name)
        return vial_error_set(VIAL_EMANIFEST, "[package] has no 'name'");
    if (!vial_manifest_name_valid(m->name))
        return vial_error_set(VIAL_EMANIFEST,
                              "package name '%s' is not valid (letters, digits, '.', '_', '+', "
                              "'-'; at most 64)",
                              m->name);
    if (!m->version)
        return vial_error_set(VIAL_EMANIFEST, "[package] has no 'version'");
    if (!vial_manifest_name_valid(m->version))
        return vial_error_set(VIAL_EMANIFEST, "version '%s' is not valid", m->version);
    if (!m->state_group && !(m->state_group = strdup(m->version)))
        return vial_error_set(-ENOMEM, "out of memory");
    if (!vial_manifest_name_valid(m->state_group))
        return vial_error_set(VIAL_EMANIFEST, "state_group '%s' is not valid", m->state_group);
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct vial_manifest_entry *e = &m->entries[i];
        if (!e->exec)
            return vial_error_set(VIAL_EMANIFEST, "[entry %s] has no 'exec'", e->name);
        if (!exec_path_valid(e->exec))
            return vial_error_set(VIAL_EMANIFEST,
                                  "[entry %s]: exec '%s' must be an absolute path without '.', "
                                  "'..' or empty components",
                                  e->name, e->exec);
    }
    if (m->default_entry && !vial_manifest_find_entry(m, m->default_entry))
        return vial_error_set(VIAL_EMANIFEST, "default_entry '%s' names no [entry]",
                              m->default_entry);
    if (!m->default_entry && m->entry_count > 0 &&
        !(m->default_entry = strdup(m->entries[0].name)))
        return vial_error_set(-ENOMEM, "out of memory");
    return 0;
}

int vial_manifest_parse(struct vial_manifest **out, const char *text, size_t length)
{
    struct parse_state state = {.text = text, .length = length};
    int rc;
    *out = NULL;
    if (memchr(text, '\0', length))
        return vial_error_set(VIAL_EMANIFEST, "manifest contains a NUL byte");
    if (!(state.manifest = calloc(1, sizeof *state.manifest)))
        return vial_error_set(-ENOMEM, "out of memory");
    int ini = ini_parse_stream(read_line, &state, handler, &state);
    rc = state.rc;
    if (rc == 0 && ini != 0)
        rc = vial_error_set(VIAL_EMANIFEST, "line %d: syntax error (expected [section] or "
                            "key = value)", ini > 0 ? ini : (int)state.line);
    if (rc == 0)
        rc = validate(state.manifest);
    if (rc < 0) {
        vial_manifest_free(state.manifest);
        return rc;
    }
    *out = state.manifest;
    return 0;
}

void vial_manifest_free(struct vial_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->entry_count; i++) {
        free(m->entries[i].name);
        free(m->entries[i].exec);
        free(m->entries[i].args);
        free(m->entries[i].description);
        free(m->entries[i].icon);
    }
    free(m->entries);
    free(m->name);
    free(m->version);
    free(m->summary);
    free(m->vendor);
    free(m->state_group);
    free(m->default_entry);
    free(m);
}

int vial_manifest_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !strchr("._+-", c)))
            return 0;
    }
    return 1;
}

const struct vial_manifest_entry *vial_manifest_find_entry(const struct vial_manifest *m,
                                                           const char *name)
{
    for (size_t i = 0; i < m->entry_count; i++)
        if (strcmp(m->entries[i].name, name) == 0)
            return &m->entries[i];
    return NULL;
}
