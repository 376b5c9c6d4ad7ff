/* manifest.c - the package manifest: INI text parsed with libinih. */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

#define MANIFEST_MAX_ENTRIES 1024
#define MANIFEST_MAX_HOOKS 64 /* the interposer's table (loader/preload/hooks_declared.c) */

struct parse_state {
    const char *text;
    size_t length;
    size_t position;
    unsigned line;
    int line_too_long;
    struct vial_manifest *manifest;
    int rc;
    unsigned error_line;
    /* Sections are tracked here, from the raw lines: the distribution's
     * libinih neither reports empty sections nor keeps long names. */
    char current_section[128];
    int package_seen;
    int isolation_seen;
    int env_seen;
    int registry_seen;
    unsigned key_lines[7]; /* of the [package] keys, in package_keys order */
    unsigned *exec_lines;  /* per entry */
    unsigned *hook_lines;  /* per hook: its section header */
};

static const char *const package_keys[] = {"name",        "version",       "summary",   "vendor",
                                           "state_group", "default_entry", "host_tools"};

static int declare_entry(struct parse_state *state, const char *name);
static int declare_hook(struct parse_state *state, const char *name);

static int fail(struct parse_state *state, int rc)
{
    state->rc = rc;
    state->error_line = state->line;
    return rc;
}

/* A "[name]" line starts a section: check it is one we know. Lines that
 * are not well-formed section headers are left to libinih. */
static int enter_section(struct parse_state *state, const char *line)
{
    line += strspn(line, " \t");
    if (line[0] != '[')
        return 0;
    const char *close = strchr(line, ']');
    if (!close)
        return 0;
    size_t length = (size_t)(close - line - 1);
    if (length >= sizeof state->current_section)
        return fail(state, vial_error_set(VIAL_EMANIFEST, "line %u: section name too long",
                                          state->line));
    memcpy(state->current_section, line + 1, length);
    state->current_section[length] = '\0';
    const char *section = state->current_section;
    if (strcmp(section, "package") == 0) {
        if (state->package_seen++)
            return fail(state, vial_error_set(VIAL_EMANIFEST, "line %u: [package] appears twice",
                                              state->line));
        return 0;
    }
    if (strncmp(section, "entry ", 6) == 0) {
        int rc = declare_entry(state, section + 6);
        return rc < 0 ? fail(state, rc) : 0;
    }
    if (strncmp(section, "hook ", 5) == 0) {
        int rc = declare_hook(state, section + 5);
        return rc < 0 ? fail(state, rc) : 0;
    }
    struct { const char *name; int *seen; } once[] = {
        {"isolation", &state->isolation_seen},
        {"env", &state->env_seen},
        {"registry", &state->registry_seen},
    };
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
        if (strcmp(section, once[i].name) == 0) {
            if ((*once[i].seen)++)
                return fail(state, vial_error_set(VIAL_EMANIFEST, "line %u: [%s] appears twice",
                                                  state->line, section));
            return 0;
        }
    return fail(state, vial_error_set(VIAL_EMANIFEST,
                                      "line %u: unknown section [%s] (known: [package], "
                                      "[entry NAME], [isolation], [env], [registry], [hook NAME])",
                                      state->line, section));
}

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
        state->error_line = state->line;
        state->rc = vial_error_set(VIAL_EMANIFEST, "line %u: longer than %d characters",
                                   state->line, num - 3);
        return NULL;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    state->position += n;
    if (enter_section(state, str) < 0)
        return NULL;
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
    char **fields[] = {&m->name,        &m->version,       &m->summary,   &m->vendor,
                       &m->state_group, &m->default_entry, &m->host_tools};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(key, package_keys[i]) == 0) {
            state->key_lines[i] = state->line;
            return set_once(state, fields[i], key, value);
        }
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
    if (strcmp(key, "exec") == 0)
        state->exec_lines[e - m->entries] = state->line;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i].key) == 0)
            return set_once(state, keys[i].field, key, value);
    return vial_error_set(VIAL_EMANIFEST, "line %u: unknown key '%s' in [entry %s]", state->line,
                          key, name);
}

/* "/", "/a/b", "~" or "~/a/b": no ".", ".." or empty components. */
static int isolation_path_valid(const char *path)
{
    if (strcmp(path, "/") == 0 || strcmp(path, "~") == 0)
        return 1;
    if (path[0] == '~' && path[1] == '/')
        path++;
    return path[0] == '/' && path[1] != '\0' && vial_image_path_valid(path + 1, strlen(path + 1));
}

static int handle_isolation(struct parse_state *state, const char *key, const char *value)
{
    struct vial_manifest *m = state->manifest;
    enum vial_isolation kind = vial_isolation_from_name(value);
    if (!isolation_path_valid(key))
        return vial_error_set(VIAL_EMANIFEST,
                              "line %u: isolation path '%s' must be absolute or start with "
                              "'~/', without '.', '..' or empty components",
                              state->line, key);
    if (!kind)
        return vial_error_set(VIAL_EMANIFEST,
                              "line %u: isolation '%s' is not one of full, writecopy, merged, "
                              "passthrough",
                              state->line, value);
    for (size_t i = 0; i < m->isolation_count; i++)
        if (strcmp(m->isolation[i].path, key) == 0)
            return vial_error_set(VIAL_EMANIFEST, "line %u: '%s' given twice in [isolation]",
                                  state->line, key);
    if (m->isolation_count >= MANIFEST_MAX_ENTRIES)
        return vial_error_set(VIAL_EMANIFEST, "line %u: more than %d isolation rules",
                              state->line, MANIFEST_MAX_ENTRIES);
    struct vial_manifest_isolation *grown =
        realloc(m->isolation, (m->isolation_count + 1) * sizeof *grown);
    if (!grown)
        return vial_error_set(-ENOMEM, "out of memory");
    m->isolation = grown;
    if (!(grown[m->isolation_count].path = strdup(key)))
        return vial_error_set(-ENOMEM, "out of memory");
    grown[m->isolation_count++].kind = kind;
    return 0;
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
    unsigned *lines = realloc(state->exec_lines, (m->entry_count + 1) * sizeof *lines);
    if (!lines)
        return vial_error_set(-ENOMEM, "out of memory");
    state->exec_lines = lines;
    lines[m->entry_count] = state->line;
    memset(&m->entries[m->entry_count], 0, sizeof *m->entries);
    if (!(m->entries[m->entry_count].name = strdup(name)))
        return vial_error_set(-ENOMEM, "out of memory");
    m->entry_count++;
    return 0;
}

/* A portable variable name: a letter or '_', then letters, digits, '_'. */
static int env_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || (name[0] >= '0' && name[0] <= '9'))
        return 0;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int handle_env(struct parse_state *state, const char *key, const char *value)
{
    struct vial_manifest *m = state->manifest;
    if (!env_name_valid(key))
        return vial_error_set(VIAL_EMANIFEST,
                              "line %u: '%s' is not a variable name (letters, digits, '_'; not "
                              "starting with a digit)",
                              state->line, key);
    for (size_t i = 0; i < m->env_count; i++)
        if (strcmp(m->env[i].name, key) == 0)
            return vial_error_set(VIAL_EMANIFEST, "line %u: '%s' given twice in [env]", state->line, key);
    static const struct { const char *verb; enum vial_env_operation operation; } verbs[] = {
        {"set ", VIAL_ENV_SET}, {"prepend ", VIAL_ENV_PREPEND}, {"append ", VIAL_ENV_APPEND}};
    enum vial_env_operation operation = VIAL_ENV_SET;
    const char *text = value;
    if (strcmp(value, "unset") == 0) {
        operation = VIAL_ENV_UNSET;
        text = "";
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strncmp(value, verbs[i].verb, strlen(verbs[i].verb)) == 0) {
            operation = verbs[i].operation;
            text = value + strlen(verbs[i].verb);
            text += strspn(text, " \t");
        }
    /* a verb alone is a mistake, not the word as a value (write "set prepend") */
    const char *bare = strcmp(value, "prepend") == 0 ? "prepend"
                       : strcmp(value, "append") == 0 ? "append"
                       : strcmp(value, "set") == 0    ? "set"
                       : NULL;
    if (bare || ((operation == VIAL_ENV_PREPEND || operation == VIAL_ENV_APPEND) && !*text))
        return vial_error_set(VIAL_EMANIFEST, "line %u: nothing to %s to '%s'", state->line,
                              bare ? bare : operation == VIAL_ENV_PREPEND ? "prepend" : "append", key);
    struct vial_manifest_env *grown = realloc(m->env, (m->env_count + 1) * sizeof *grown);
    if (!grown)
        return vial_error_set(-ENOMEM, "out of memory");
    m->env = grown;
    struct vial_manifest_env *e = &grown[m->env_count];
    *e = (struct vial_manifest_env){strdup(key), operation, strdup(text), state->line};
    m->env_count++;
    if (!e->name || !e->text)
        return vial_error_set(-ENOMEM, "out of memory");
    return 0;
}

static int handle_registry(struct parse_state *state, const char *key, const char *value)
{
    struct vial_manifest *m = state->manifest;
    for (size_t i = 0; i < m->registry_count; i++)
        if (strcmp(m->registry[i].path, key) == 0)
            return vial_error_set(VIAL_EMANIFEST, "line %u: '%s' given twice in [registry]",
                                  state->line, key);
    struct vial_manifest_setting *grown = realloc(m->registry, (m->registry_count + 1) * sizeof *grown);
    if (!grown)
        return vial_error_set(-ENOMEM, "out of memory");
    m->registry = grown;
    struct vial_manifest_setting *s = &grown[m->registry_count];
    *s = (struct vial_manifest_setting){strdup(key), strdup(value), state->line};
    m->registry_count++;
    if (!s->path || !s->value)
        return vial_error_set(-ENOMEM, "out of memory");
    return 0;
}

static int declare_hook(struct parse_state *state, const char *name)
{
    struct vial_manifest *m = state->manifest;
    if (!vial_manifest_name_valid(name))
        return vial_error_set(VIAL_EMANIFEST,
                              "line %u: hook name '%s' is not valid (letters, digits, '.', '_', "
                              "'+', '-'; at most 64)",
                              state->line, name);
    for (size_t i = 0; i < m->hook_count; i++)
        if (strcmp(m->hooks[i].name, name) == 0)
            return vial_error_set(VIAL_EMANIFEST, "line %u: [hook %s] appears twice", state->line,
                                  name);
    if (m->hook_count >= MANIFEST_MAX_HOOKS)
        return vial_error_set(VIAL_EMANIFEST, "line %u: more than %d hooks", state->line,
                              MANIFEST_MAX_HOOKS);
    struct vial_hook *grown = realloc(m->hooks, (m->hook_count + 1) * sizeof *grown);
    if (!grown)
        return vial_error_set(-ENOMEM, "out of memory");
    m->hooks = grown;
    unsigned *lines = realloc(state->hook_lines, (m->hook_count + 1) * sizeof *lines);
    if (!lines)
        return vial_error_set(-ENOMEM, "out of memory");
    state->hook_lines = lines;
    lines[m->hook_count] = state->line;
    memset(&grown[m->hook_count], 0, sizeof *grown);
    vial_hook_set(&grown[m->hook_count], "name", name); /* valid: checked above */
    m->hook_count++;
    return 0;
}

static int handle_hook(struct parse_state *state, const char *name, const char *key,
                       const char *value)
{
    struct vial_manifest *m = state->manifest;
    for (size_t i = 0; i < m->hook_count; i++)
        if (strcmp(m->hooks[i].name, name) == 0) {
            if (strcmp(key, "name") == 0) /* the section names it */
                return vial_error_set(VIAL_EMANIFEST, "line %u: [hook %s]: unknown key 'name'",
                                      state->line, name);
            int rc = vial_hook_set(&m->hooks[i], key, value);
            return rc < 0 ? vial_error_prefix(rc, "line %u: [hook %s]", state->line, name) : 0;
        }
    return vial_error_set(VIAL_EMANIFEST, "line %u: internal: hook [%s] not declared", state->line,
                          name);
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
    struct parse_state *state = user;
    (void)section; /* libinih's copy may be truncated: ours is whole */
    if (state->rc < 0)
        return 0;
    const char *current = state->current_section;
    int rc;
    if (strcmp(current, "package") == 0)
        rc = handle_package(state, key, value);
    else if (strncmp(current, "entry ", 6) == 0)
        rc = handle_entry(state, current + 6, key, value);
    else if (strcmp(current, "isolation") == 0)
        rc = handle_isolation(state, key, value);
    else if (strcmp(current, "env") == 0)
        rc = handle_env(state, key, value);
    else if (strcmp(current, "registry") == 0)
        rc = handle_registry(state, key, value);
    else if (strncmp(current, "hook ", 5) == 0)
        rc = handle_hook(state, current + 5, key, value);
    else
        rc = vial_error_set(VIAL_EMANIFEST, "line %u: '%s' is outside any [section]",
                            state->line, key);
    if (rc < 0) {
        fail(state, rc);
        return 0;
    }
    return 1;
}

/* An absolute path made of valid names: what an entry may execute. */
static int exec_path_valid(const char *path)
{
    return path[0] == '/' && path[1] != '\0' && vial_image_path_valid(path + 1, strlen(path + 1));
}

/* 1..64 characters: letters, digits and `punctuation`, starting with a
 * letter or digit. */
static int word_valid(const char *s, const char *punctuation)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !strchr(punctuation, c)))
            return 0;
    }
    return 1;
}

/* Debian-style versions ("1:2.3~rc1-2"); also the rule for state groups. */
static int version_valid(const char *s) { return word_valid(s, ".+~:_-"); }

static int validate(struct parse_state *state)
{
    struct vial_manifest *m = state->manifest;
    const unsigned *lines = state->key_lines; /* name, version, ..., default_entry */
    if (!state->package_seen)
        return vial_error_set(VIAL_EMANIFEST, "no [package] section");
    if (!m->name)
        return vial_error_set(VIAL_EMANIFEST, "[package] has no 'name'");
    if (!vial_manifest_name_valid(m->name))
        return vial_error_set(VIAL_EMANIFEST,
                              "line %u: package name '%s' is not valid (letters, digits, '.', "
                              "'_', '+', '-'; at most 64)",
                              lines[0], m->name);
    if (!m->version)
        return vial_error_set(VIAL_EMANIFEST, "[package] has no 'version'");
    if (!version_valid(m->version))
        return vial_error_set(VIAL_EMANIFEST,
                              "line %u: version '%s' is not valid (letters, digits, '.', '+', "
                              "'~', ':', '_', '-'; at most 64)",
                              lines[1], m->version);
    if (m->state_group && !version_valid(m->state_group))
        return vial_error_set(VIAL_EMANIFEST, "line %u: state_group '%s' is not valid", lines[4],
                              m->state_group);
    if (!m->state_group && !(m->state_group = strdup(m->version)))
        return vial_error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct vial_manifest_entry *e = &m->entries[i];
        if (!e->exec)
            return vial_error_set(VIAL_EMANIFEST, "line %u: [entry %s] has no 'exec'",
                                  state->exec_lines[i], e->name);
        if (!exec_path_valid(e->exec))
            return vial_error_set(VIAL_EMANIFEST,
                                  "line %u: [entry %s]: exec '%s' must be an absolute path "
                                  "without '.', '..' or empty components",
                                  state->exec_lines[i], e->name, e->exec);
    }
    if (m->host_tools) {
        char *copy = strdup(m->host_tools);
        if (!copy)
            return vial_error_set(-ENOMEM, "out of memory");
        for (char *tool = strtok(copy, " \t"); tool; tool = strtok(NULL, " \t"))
            if (!exec_path_valid(tool)) {
                int rc = vial_error_set(VIAL_EMANIFEST,
                                        "line %u: host tool '%s' must be an absolute path "
                                        "without '.', '..' or empty components",
                                        lines[6], tool);
                free(copy);
                return rc;
            }
        free(copy);
    }
    for (size_t i = 0; i < m->hook_count; i++) {
        int rc = vial_hook_check(&m->hooks[i]);
        if (rc < 0)
            return vial_error_prefix(rc, "line %u: [hook %s]", state->hook_lines[i],
                                     m->hooks[i].name);
    }
    if (m->default_entry && !vial_manifest_find_entry(m, m->default_entry))
        return vial_error_set(VIAL_EMANIFEST, "line %u: default_entry '%s' names no [entry]",
                              lines[5], m->default_entry);
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
    /* libinih goes on after a syntax error: report whichever came first */
    if (ini > 0 && (rc == 0 || (unsigned)ini < state.error_line))
        rc = 0;
    if (rc == 0 && ini != 0)
        rc = vial_error_set(VIAL_EMANIFEST, "line %d: syntax error (expected [section] or "
                            "key = value)", ini > 0 ? ini : (int)state.line);
    if (rc == 0)
        rc = validate(&state);
    free(state.exec_lines);
    free(state.hook_lines);
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
    for (size_t i = 0; i < m->isolation_count; i++)
        free(m->isolation[i].path);
    free(m->isolation);
    for (size_t i = 0; i < m->env_count; i++) {
        free(m->env[i].name);
        free(m->env[i].text);
    }
    free(m->env);
    for (size_t i = 0; i < m->registry_count; i++) {
        free(m->registry[i].path);
        free(m->registry[i].value);
    }
    free(m->registry);
    free(m->hooks);
    free(m->name);
    free(m->version);
    free(m->summary);
    free(m->vendor);
    free(m->state_group);
    free(m->default_entry);
    free(m->host_tools);
    free(m);
}

int vial_manifest_name_valid(const char *s) { return word_valid(s, "._+-"); }

const struct vial_manifest_entry *vial_manifest_find_entry(const struct vial_manifest *m,
                                                           const char *name)
{
    for (size_t i = 0; i < m->entry_count; i++)
        if (strcmp(m->entries[i].name, name) == 0)
            return &m->entries[i];
    return NULL;
}
