/*
 * env.c - the environment shim: the variables a package's registry asks for
 * (keys env, env/prepend, env/append, env/unset; docs/registry.md), applied
 * to a host environment at launch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "text.h"

#define ENV_VALUE_MAX (128u * 1024)

/* A growable array of malloc'd "NAME=VALUE" strings. */
struct env_list {
    char **items;
    size_t count;
    size_t capacity;
    int failed;
};

static void list_push(struct env_list *l, char *item)
{
    if (!item) {
        l->failed = 1;
        return;
    }
    if (l->count + 2 > l->capacity) {
        size_t capacity = l->capacity ? l->capacity * 2 : 64;
        char **grown = realloc(l->items, capacity * sizeof *grown);
        if (!grown) {
            free(item);
            l->failed = 1;
            return;
        }
        l->items = grown;
        l->capacity = capacity;
    }
    l->items[l->count++] = item;
    l->items[l->count] = NULL;
}

/* Index of NAME in l, or -1. */
static long list_find(const struct env_list *l, const char *name, size_t length)
{
    for (size_t i = 0; i < l->count; i++)
        if (strncmp(l->items[i], name, length) == 0 && l->items[i][length] == '=')
            return (long)i;
    return -1;
}

static const char *lookup(char *const *env, const char *name, size_t length)
{
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, length) == 0 && env[i][length] == '=')
            return env[i] + length + 1;
    return NULL;
}

static void list_set(struct env_list *l, const char *name, const char *value)
{
    size_t length = strlen(name);
    char *item = NULL;
    if (asprintf(&item, "%s=%s", name, value) < 0)
        item = NULL;
    long at = list_find(l, name, length);
    if (at >= 0 && item) {
        free(l->items[at]);
        l->items[at] = item;
    } else {
        list_push(l, item);
    }
}

static void list_unset(struct env_list *l, const char *name)
{
    long at = list_find(l, name, strlen(name));
    if (at < 0)
        return;
    free(l->items[at]);
    memmove(&l->items[at], &l->items[at + 1], (l->count - (size_t)at) * sizeof *l->items);
    l->count--;
}

/* Expands ${NAME} (vars first, then the host's env) and $$ in text. */
static char *expand(const char *text, char *const *env, char *const *vars)
{
    struct reg_buffer out;
    reg_buffer_init(&out, ENV_VALUE_MAX);
    for (const char *p = text; *p;) {
        if (p[0] == '$' && p[1] == '$') {
            reg_buffer_puts(&out, "$");
            p += 2;
            continue;
        }
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p + 2, '}');
            if (close) {
                size_t length = (size_t)(close - p - 2);
                const char *value = lookup(vars, p + 2, length);
                if (!value)
                    value = lookup(env, p + 2, length);
                if (value)
                    reg_buffer_puts(&out, value);
                p = close + 1;
                continue;
            }
        }
        reg_buffer_append(&out, p, 1);
        p++;
    }
    return reg_buffer_take(&out);
}

/* A value's text for the environment: a string's contents, else its text. */
static char *value_text(const struct vial_reg_value *value)
{
    char *s = NULL;
    if (vial_reg_value_get_string(&s, value) == 0)
        return s;
    return strdup(value->text);
}

struct env_pass {
    const char *mode; /* "set", "prepend", "append", "unset" */
    struct env_list *list;
    char *const *env;
    char *const *vars;
};

static int apply_item(const struct vial_reg_item *item, void *payload)
{
    struct env_pass *pass = payload;
    if (item->is_key || !item->value || strchr(item->name, '='))
        return 0;
    if (strcmp(pass->mode, "unset") == 0) {
        int yes = 0;
        if (vial_reg_value_get_bool(&yes, item->value) == 0 && yes)
            list_unset(pass->list, item->name);
        return 0;
    }
    char *raw = value_text(item->value);
    char *text = raw ? expand(raw, pass->env, pass->vars) : NULL;
    free(raw);
    if (!text) {
        pass->list->failed = 1;
        return 0;
    }
    long at = list_find(pass->list, item->name, strlen(item->name));
    const char *old = at >= 0 ? pass->list->items[at] + strlen(item->name) + 1 : NULL;
    if (strcmp(pass->mode, "set") == 0 || !old || !*old) {
        list_set(pass->list, item->name, text);
    } else {
        size_t n = strlen(text), o = strlen(old);
        int present = strcmp(pass->mode, "prepend") == 0
                          ? strncmp(old, text, n) == 0 && (old[n] == ':' || old[n] == '\0')
                          : o >= n && strcmp(old + o - n, text) == 0 && (o == n || old[o - n - 1] == ':');
        if (!present) {
            char *joined = NULL;
            int ok = strcmp(pass->mode, "prepend") == 0 ? asprintf(&joined, "%s:%s", text, old)
                                                        : asprintf(&joined, "%s:%s", old, text);
            if (ok < 0)
                pass->list->failed = 1;
            else
                list_set(pass->list, item->name, joined);
            free(joined);
        }
    }
    free(text);
    return 0;
}

void vial_reg_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

int vial_reg_env_build(char ***out, char ***changes, struct vial_reg *reg, char *const *env,
                       char *const *vars)
{
    *out = NULL;
    if (changes)
        *changes = NULL;
    struct env_list list = {0}, changed = {0};
    for (size_t i = 0; env && env[i]; i++)
        list_push(&list, strdup(env[i]));
    static const struct {
        const char *mode, *key;
    } passes[] = {{"unset", "env/unset"}, {"set", "env"}, {"prepend", "env/prepend"}, {"append", "env/append"}};
    int rc = 0;
    for (size_t i = 0; i < sizeof passes / sizeof passes[0] && rc >= 0; i++) {
        struct env_pass pass = {passes[i].mode, &list, env, vars};
        rc = vial_reg_list(reg, VIAL_REG_LAYER_ALL, passes[i].key, apply_item, &pass);
        if (rc == -ENOENT)
            rc = 0;
    }
    if (rc >= 0 && changes) {
        /* what differs from env: changed or added ("NAME=old" / "NAME") */
        for (size_t i = 0; env && env[i]; i++) {
            size_t n = strcspn(env[i], "=");
            long at = list_find(&list, env[i], n);
            if (at < 0 || strcmp(list.items[at], env[i]) != 0)
                list_push(&changed, strdup(env[i]));
        }
        for (size_t i = 0; i < list.count; i++) {
            size_t n = strcspn(list.items[i], "=");
            if (!lookup(env, list.items[i], n))
                list_push(&changed, strndup(list.items[i], n));
        }
    }
    if (rc >= 0 && (list.failed || changed.failed))
        rc = vial_error_set(-ENOMEM, "out of memory building the environment");
    if (rc < 0 || !list.items) {
        if (rc >= 0 && !list.items) {
            list.items = calloc(1, sizeof *list.items);
            if (!list.items)
                rc = vial_error_set(-ENOMEM, "out of memory");
        }
        if (rc < 0) {
            vial_reg_env_free(list.items);
            vial_reg_env_free(changed.items);
            return rc;
        }
    }
    *out = list.items;
    if (changes) {
        if (!changed.items)
            changed.items = calloc(1, sizeof *changed.items);
        *changes = changed.items;
    } else {
        vial_reg_env_free(changed.items);
    }
    return 0;
}
