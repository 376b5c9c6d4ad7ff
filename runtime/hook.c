/*
 * hook.c - declared hooks: the signature syntax and the one-line
 * declaration the session file carries (docs/manifest.md#hook). Used by
 * the manifest parser, by the launcher and by the interposer, which parses
 * declarations inside applications: nothing here allocates.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "runtime.h"

static const char *const type_names[] = {
    [VIAL_HOOK_VOID] = "void",     [VIAL_HOOK_INT8] = "int8",     [VIAL_HOOK_INT16] = "int16",
    [VIAL_HOOK_INT32] = "int32",   [VIAL_HOOK_INT64] = "int64",   [VIAL_HOOK_UINT8] = "uint8",
    [VIAL_HOOK_UINT16] = "uint16", [VIAL_HOOK_UINT32] = "uint32", [VIAL_HOOK_UINT64] = "uint64",
    [VIAL_HOOK_INT] = "int",       [VIAL_HOOK_LONG] = "long",     [VIAL_HOOK_SIZE] = "size_t",
    [VIAL_HOOK_SSIZE] = "ssize_t", [VIAL_HOOK_CHAR] = "char",     [VIAL_HOOK_PTR] = "ptr",
    [VIAL_HOOK_STR] = "str",       [VIAL_HOOK_DOUBLE] = "double", [VIAL_HOOK_FLOAT] = "float",
};
#define TYPE_COUNT ((int)(sizeof type_names / sizeof type_names[0]))

const char *vial_hook_type_name(int type)
{
    return type > 0 && type < TYPE_COUNT ? type_names[type] : "?";
}

static int type_from_word(const char *word, size_t n)
{
    for (int t = 1; t < TYPE_COUNT; t++)
        if (strlen(type_names[t]) == n && memcmp(type_names[t], word, n) == 0)
            return t;
    return 0;
}

/* What C's default argument promotions change: such a type cannot be
 * declared in a variadic tail (the caller passes the promoted one). */
static const char *promoted(int type)
{
    switch (type) {
    case VIAL_HOOK_FLOAT:
        return "double";
    case VIAL_HOOK_CHAR: case VIAL_HOOK_INT8: case VIAL_HOOK_INT16:
    case VIAL_HOOK_UINT8: case VIAL_HOOK_UINT16:
        return "int";
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------- lexing */

struct lexer {
    const char *p;
    char word[VIAL_HOOK_NAME_MAX + 1]; /* the identifier just read */
};

static int is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_ident(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

static void skip_blanks(struct lexer *l)
{
    while (*l->p == ' ' || *l->p == '\t')
        l->p++;
}

/* An identifier into l->word: 1 read, 0 none here, <0 too long. */
static int read_word(struct lexer *l)
{
    skip_blanks(l);
    if (!is_ident_start(*l->p))
        return 0;
    size_t n = 0;
    while (is_ident(l->p[n]))
        n++;
    if (n > VIAL_HOOK_NAME_MAX)
        return vial_error_set(VIAL_EMANIFEST, "signature: a name longer than %d characters",
                              VIAL_HOOK_NAME_MAX);
    memcpy(l->word, l->p, n);
    l->word[n] = '\0';
    l->p += n;
    return 1;
}

static int accept(struct lexer *l, const char *token)
{
    skip_blanks(l);
    size_t n = strlen(token);
    if (strncmp(l->p, token, n) != 0)
        return 0;
    l->p += n;
    return 1;
}

/* What stands at the lexer, for messages. */
static const char *here(const struct lexer *l) { return *l->p ? l->p : "the end"; }

/* A type word (at the lexer) and an optional parameter name after it. */
static int read_type(struct lexer *l, int *out, int allow_name)
{
    int rc = read_word(l);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return vial_error_set(VIAL_EMANIFEST, "signature: expected a type at '%.20s'", here(l));
    if (!(*out = type_from_word(l->word, strlen(l->word))))
        return vial_error_set(VIAL_EMANIFEST,
                              "signature: unknown type '%s' (int8..int64, uint8..uint64, int, "
                              "long, size_t, ssize_t, char, ptr, str, double, float, void)",
                              l->word);
    if (allow_name && (rc = read_word(l)) < 0)
        return rc;
    if (allow_name && rc == 1 && type_from_word(l->word, strlen(l->word)))
        return vial_error_set(VIAL_EMANIFEST,
                              "signature: '%s' after a type (one type per argument, "
                              "'const char *' is written 'str')", l->word);
    return 0;
}

int vial_hook_parse_signature(struct vial_hook_signature *out, const char *text)
{
    struct lexer l = {.p = text};
    int rc, type;
    memset(out, 0, sizeof *out);
    if (strnlen(text, VIAL_HOOK_SIGNATURE_MAX + 1) > VIAL_HOOK_SIGNATURE_MAX)
        return vial_error_set(VIAL_EMANIFEST, "signature longer than %d characters",
                              VIAL_HOOK_SIGNATURE_MAX);
    if ((rc = read_type(&l, &type, 0)) < 0)
        return rc;
    out->result = (uint8_t)type;
    if ((rc = read_word(&l)) < 0)
        return rc;
    if (rc == 1) {
        if (type_from_word(l.word, strlen(l.word)))
            return vial_error_set(VIAL_EMANIFEST, "signature: '%s' is a type, not a function name",
                                  l.word);
        memcpy(out->function, l.word, strlen(l.word) + 1);
    }
    if (!accept(&l, "("))
        return vial_error_set(VIAL_EMANIFEST, "signature: expected '(' at '%.20s'", here(&l));
    const char *start = l.p;
    if (accept(&l, ")"))
        goto close;
    /* "(void)": no arguments */
    if (read_word(&l) == 1 && strcmp(l.word, "void") == 0 && accept(&l, ")"))
        goto close;
    l.p = start;
    for (;;) {
        if (accept(&l, "...")) {
            if (!accept(&l, ":"))
                return vial_error_set(VIAL_EMANIFEST,
                                      "signature: an untyped '...' cannot be forwarded: declare "
                                      "the types the calls pass ('...: int, str')");
            if (out->count == 0)
                return vial_error_set(VIAL_EMANIFEST,
                                      "signature: a variadic function needs an argument before '...'");
            out->variadic = 1;
            out->fixed = out->count;
            for (;;) {
                if ((rc = read_type(&l, &type, 1)) < 0)
                    return rc;
                if (type == VIAL_HOOK_VOID)
                    return vial_error_set(VIAL_EMANIFEST, "signature: 'void' in the variadic tail");
                if (promoted(type))
                    return vial_error_set(VIAL_EMANIFEST,
                                          "signature: a variadic tail cannot hold '%s' (the caller "
                                          "passes it as '%s': declare that)",
                                          vial_hook_type_name(type), promoted(type));
                if (out->count >= VIAL_HOOK_MAX_ARGS)
                    return vial_error_set(VIAL_EMANIFEST, "signature: more than %d arguments",
                                          VIAL_HOOK_MAX_ARGS);
                out->args[out->count++] = (uint8_t)type;
                if (!accept(&l, ","))
                    break;
            }
            if (!accept(&l, ")"))
                return vial_error_set(VIAL_EMANIFEST,
                                      "signature: expected ')' after the variadic tail at '%.20s'",
                                      here(&l));
            goto close;
        }
        if ((rc = read_type(&l, &type, 1)) < 0)
            return rc;
        if (type == VIAL_HOOK_VOID)
            return vial_error_set(VIAL_EMANIFEST,
                                  "signature: 'void' is not an argument type (use ptr, or '(void)' "
                                  "for none)");
        if (out->count >= VIAL_HOOK_MAX_ARGS)
            return vial_error_set(VIAL_EMANIFEST, "signature: more than %d arguments",
                                  VIAL_HOOK_MAX_ARGS);
        out->args[out->count++] = (uint8_t)type;
        if (accept(&l, ")"))
            goto close;
        if (!accept(&l, ","))
            return vial_error_set(VIAL_EMANIFEST, "signature: expected ',' or ')' at '%.20s'",
                                  here(&l));
    }
close:
    if (!out->variadic)
        out->fixed = out->count;
    skip_blanks(&l);
    if (*l.p == ';')
        l.p++, skip_blanks(&l);
    if (*l.p)
        return vial_error_set(VIAL_EMANIFEST, "signature: unexpected '%.20s' after ')'", l.p);
    return 0;
}

int vial_hook_format_signature(char *out, size_t size, const struct vial_hook_signature *s)
{
    size_t used = 0;
    int n = snprintf(out, size, "%s%s%s(", vial_hook_type_name(s->result),
                     s->function[0] ? " " : "", s->function);
    for (unsigned i = 0; n >= 0 && (used += (size_t)n) < size && i <= s->count; i++) {
        if (i == s->count)
            n = snprintf(out + used, size - used, "%s)", s->count ? "" : "void");
        else
            n = snprintf(out + used, size - used, "%s%s%s", i == 0 ? "" : ", ",
                         s->variadic && i == s->fixed ? "...: " : "",
                         vial_hook_type_name(s->args[i]));
    }
    if (n < 0 || used >= size)
        return vial_error_set(-ENAMETOOLONG, "signature text longer than %zu bytes", size);
    return 0;
}

/* -------------------------------------------------------- declarations */

enum {
    KEY_NAME = 1u << 0,
    KEY_LIBRARY = 1u << 1,
    KEY_SYMBOL = 1u << 2,
    KEY_SIGNATURE = 1u << 3,
    KEY_PATH = 1u << 4,
    KEY_PATH_MODE = 1u << 5,
    KEY_LOG = 1u << 6,
};

/* 1..VIAL_HOOK_NAME_MAX characters, each a letter, digit or in `extra`. */
static int word_of(const char *s, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > VIAL_HOOK_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_ident(s[i]) && !strchr(extra, s[i]))
            return 0;
    return 1;
}

static int symbol_valid(const char *s) { return is_ident_start(s[0]) && word_of(s, ""); }

int vial_hook_set(struct vial_hook *hook, const char *key, const char *value)
{
    static const struct { const char *key; unsigned bit; } keys[] = {
        {"name", KEY_NAME},       {"library", KEY_LIBRARY},     {"symbol", KEY_SYMBOL},
        {"signature", KEY_SIGNATURE}, {"path", KEY_PATH},       {"path_mode", KEY_PATH_MODE},
        {"log", KEY_LOG},
    };
    unsigned bit = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i].key) == 0)
            bit = keys[i].bit;
    if (!bit)
        return vial_error_set(VIAL_EMANIFEST,
                              "unknown key '%.40s' (library, symbol, signature, path, path_mode, log)",
                              key);
    if (hook->keys & bit)
        return vial_error_set(VIAL_EMANIFEST, "'%s' given twice", key);
    hook->keys |= bit;
    switch (bit) {
    case KEY_NAME:
        if (!word_of(value, "._+-"))
            return vial_error_set(VIAL_EMANIFEST,
                                  "hook name '%.40s' is not valid (letters, digits, '.', '_', '+', "
                                  "'-'; at most %d)", value, VIAL_HOOK_NAME_MAX);
        strcpy(hook->name, value);
        return 0;
    case KEY_LIBRARY:
        if (!word_of(value, "._+-*?[]!"))
            return vial_error_set(VIAL_EMANIFEST,
                                  "library '%.40s' is not a soname or a glob of one (letters, "
                                  "digits, '.', '_', '+', '-', '*', '?', '[', ']', '!'; no '/')",
                                  value);
        strcpy(hook->library, value);
        return 0;
    case KEY_SYMBOL:
        if (!symbol_valid(value))
            return vial_error_set(VIAL_EMANIFEST, "symbol '%.40s' is not a C identifier", value);
        strcpy(hook->symbol, value);
        return 0;
    case KEY_SIGNATURE:
        return vial_hook_parse_signature(&hook->signature, value);
    case KEY_PATH: {
        unsigned n = 0;
        size_t digits = strspn(value, "0123456789");
        if (digits == 0 || digits > 2 || value[digits] != '\0' ||
            (n = (unsigned)(value[0] - '0') * (digits == 2 ? 10 : 1) +
                 (digits == 2 ? (unsigned)(value[1] - '0') : 0)) == 0 ||
            n > VIAL_HOOK_MAX_ARGS)
            return vial_error_set(VIAL_EMANIFEST,
                                  "path '%.40s' is not an argument number (1 for the first, at "
                                  "most %d)", value, VIAL_HOOK_MAX_ARGS);
        hook->path = n;
        return 0;
    }
    case KEY_PATH_MODE:
        if (strcmp(value, "read") == 0)
            hook->path_mode = VIAL_HOOK_PATH_READ;
        else if (strcmp(value, "write") == 0)
            hook->path_mode = VIAL_HOOK_PATH_WRITE;
        else
            return vial_error_set(VIAL_EMANIFEST, "path_mode '%.40s' is not read or write", value);
        return 0;
    default: /* KEY_LOG */
        if (strcmp(value, "yes") == 0)
            hook->log = 1;
        else if (strcmp(value, "no") == 0)
            hook->log = 0;
        else
            return vial_error_set(VIAL_EMANIFEST, "log '%.40s' is not yes or no", value);
        return 0;
    }
}

int vial_hook_check(struct vial_hook *hook)
{
    const struct vial_hook_signature *s = &hook->signature;
    if (!(hook->keys & KEY_LIBRARY))
        return vial_error_set(VIAL_EMANIFEST, "no 'library'");
    if (!(hook->keys & KEY_SIGNATURE))
        return vial_error_set(VIAL_EMANIFEST, "no 'signature'");
    if (hook->symbol[0] && s->function[0] && strcmp(hook->symbol, s->function) != 0)
        return vial_error_set(VIAL_EMANIFEST, "symbol '%s' but the signature names '%s'",
                              hook->symbol, s->function);
    if (!hook->symbol[0]) {
        if (!s->function[0])
            return vial_error_set(VIAL_EMANIFEST, "no 'symbol' (nor a name in the signature)");
        strcpy(hook->symbol, s->function);
    }
    if (hook->path_mode != VIAL_HOOK_PATH_NONE && hook->path == 0)
        return vial_error_set(VIAL_EMANIFEST, "'path_mode' without 'path'");
    if (hook->path) {
        if (hook->path > s->count)
            return vial_error_set(VIAL_EMANIFEST, "path = %u but the signature has %u argument%s",
                                  hook->path, s->count, s->count == 1 ? "" : "s");
        if (s->args[hook->path - 1] != VIAL_HOOK_STR)
            return vial_error_set(VIAL_EMANIFEST, "path = %u names a '%s' argument, not a 'str'",
                                  hook->path, vial_hook_type_name(s->args[hook->path - 1]));
        if (hook->path_mode == VIAL_HOOK_PATH_NONE)
            hook->path_mode = VIAL_HOOK_PATH_READ;
    }
    if (!hook->name[0])
        strcpy(hook->name, hook->symbol);
    return 0;
}

int vial_hook_parse(struct vial_hook *out, const char *text)
{
    char key[16], value[VIAL_HOOK_NAME_MAX + 1];
    memset(out, 0, sizeof *out);
    for (const char *p = text;;) {
        p += strspn(p, " \t");
        if (*p == '\0' || *p == '\n' || *p == '\r')
            break;
        size_t n = strcspn(p, "= \t\n\r");
        if (p[n] != '=' || n == 0 || n >= sizeof key)
            return vial_error_set(VIAL_EMANIFEST, "expected key=value at '%.20s'", p);
        memcpy(key, p, n);
        key[n] = '\0';
        p += n + 1;
        if (strcmp(key, "signature") == 0) {
            char signature[VIAL_HOOK_SIGNATURE_MAX + 1];
            n = strcspn(p, "\n\r");
            while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
            if (n > VIAL_HOOK_SIGNATURE_MAX)
                return vial_error_set(VIAL_EMANIFEST, "signature longer than %d characters",
                                      VIAL_HOOK_SIGNATURE_MAX);
            memcpy(signature, p, n);
            signature[n] = '\0';
            int rc = vial_hook_set(out, key, signature);
            if (rc < 0)
                return rc;
            p += n;
            p += strspn(p, " \t");
            if (*p && *p != '\n' && *p != '\r')
                return vial_error_set(VIAL_EMANIFEST, "signature must come last");
            break;
        }
        n = strcspn(p, " \t\n\r");
        if (n >= sizeof value)
            return vial_error_set(VIAL_EMANIFEST, "value of '%s' longer than %d characters", key,
                                  VIAL_HOOK_NAME_MAX);
        memcpy(value, p, n);
        value[n] = '\0';
        p += n;
        int rc = vial_hook_set(out, key, value);
        if (rc < 0)
            return rc;
    }
    return vial_hook_check(out);
}

int vial_hook_format(char *out, size_t size, const struct vial_hook *hook)
{
    char signature[VIAL_HOOK_SIGNATURE_MAX + 1], path[48] = "";
    int rc = vial_hook_format_signature(signature, sizeof signature, &hook->signature);
    if (rc < 0)
        return rc;
    if (hook->path)
        snprintf(path, sizeof path, " path=%u path_mode=%s", hook->path,
                 hook->path_mode == VIAL_HOOK_PATH_WRITE ? "write" : "read");
    int n = snprintf(out, size, "name=%s library=%s symbol=%s%s log=%s signature=%s", hook->name,
                     hook->library, hook->symbol, path, hook->log ? "yes" : "no", signature);
    if (n < 0 || (size_t)n >= size)
        return vial_error_set(-ENAMETOOLONG, "hook declaration longer than %zu bytes", size);
    return 0;
}

int vial_hook_session_line(char *out, size_t size, const struct vial_hook *hook)
{
    if (size < 7)
        return vial_error_set(-ENAMETOOLONG, "no room for a hook line");
    memcpy(out, "hook=", 5);
    int rc = vial_hook_format(out + 5, size - 6, hook);
    if (rc < 0)
        return rc;
    strcat(out, "\n");
    return 0;
}
