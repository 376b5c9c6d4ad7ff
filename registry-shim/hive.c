/*
 * hive.c - a hive: one layer's records (values and deletion markers) in
 * bytewise order of key, then name; its binary form (the image's registry
 * section, the user's registry.hive) and its text form (for people).
 * docs/registry.md specifies both forms.
 *
 * Hives are small (a package's settings, a user's changes), so a sorted
 * array with binary search serves lookups and an insertion moves the tail.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hive_internal.h"
#include "text.h"

#define HIVE_MAGIC "VIALHIV1"
#define HIVE_HEADER_SIZE 56u
#define RECORD_HEADER_SIZE 12u

int vial_hive_new(struct vial_hive **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : vial_error_set(-ENOMEM, "out of memory");
}

static void record_clear(struct hive_record *r)
{
    free(r->key);
    free(r->name);
    free(r->value.type);
    free(r->value.text);
    memset(r, 0, sizeof *r);
}

void vial_hive_free(struct vial_hive *hive)
{
    if (!hive)
        return;
    for (size_t i = 0; i < hive->count; i++)
        record_clear(&hive->records[i]);
    free(hive->records);
    free(hive);
}

size_t vial_hive_count(const struct vial_hive *hive) { return hive->count; }

static int record_compare(const char *key_a, const char *name_a, const char *key_b, const char *name_b)
{
    int c = strcmp(key_a, key_b);
    return c ? c : strcmp(name_a, name_b);
}

/* Index of (key, name) or, with *found 0, where it would go. */
static size_t hive_search(const struct vial_hive *hive, const char *key, const char *name, int *found)
{
    size_t low = 0, high = hive->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int c = record_compare(hive->records[middle].key, hive->records[middle].name, key, name);
        if (c == 0) {
            *found = 1;
            return middle;
        }
        if (c < 0)
            low = middle + 1;
        else
            high = middle;
    }
    *found = 0;
    return low;
}

const struct hive_record *hive_find(const struct vial_hive *hive, const char *key, const char *name)
{
    int found;
    size_t at = hive_search(hive, key, name, &found);
    return found ? &hive->records[at] : NULL;
}

int hive_key_below(const char *key, const char *ancestor)
{
    if (!*ancestor)
        return 1;
    size_t n = strlen(ancestor);
    return strncmp(key, ancestor, n) == 0 && (key[n] == '\0' || key[n] == '/');
}

enum hive_verdict hive_lookup(const struct vial_hive *hive, const char *key, const char *name,
                              const struct vial_reg_value **value)
{
    const struct hive_record *r = hive_find(hive, key, name);
    if (r) {
        if (r->kind == VIAL_REG_VALUE) {
            *value = &r->value;
            return HIVE_FOUND;
        }
        return HIVE_DELETED;
    }
    return hive_key_deleted(hive, key) ? HIVE_DELETED : HIVE_SILENT;
}

int hive_key_deleted(const struct vial_hive *hive, const char *key)
{
    char prefix[VIAL_REG_KEY_MAX + 1];
    size_t length = strlen(key);
    if (length > VIAL_REG_KEY_MAX)
        return 0;
    memcpy(prefix, key, length + 1);
    for (;;) {
        const struct hive_record *r = hive_find(hive, prefix, "");
        if (r && r->kind == VIAL_REG_KEY_DELETED)
            return 1;
        char *slash = strrchr(prefix, '/');
        if (!slash)
            return 0;
        *slash = '\0';
    }
}

/* Takes ownership of key, name and value's strings. */
static int hive_insert(struct vial_hive *hive, enum vial_reg_record_kind kind, char *key, char *name,
                       char *type, char *text)
{
    if (!key || !name || (kind == VIAL_REG_VALUE && (!type || !text))) {
        free(key), free(name), free(type), free(text);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    int found;
    size_t at = hive_search(hive, key, name, &found);
    if (found) {
        record_clear(&hive->records[at]);
    } else {
        if (hive->count == hive->capacity) {
            size_t capacity = hive->capacity ? hive->capacity * 2 : 16;
            struct hive_record *grown = realloc(hive->records, capacity * sizeof *grown);
            if (!grown) {
                free(key), free(name), free(type), free(text);
                return vial_error_set(-ENOMEM, "out of memory");
            }
            hive->records = grown;
            hive->capacity = capacity;
        }
        memmove(&hive->records[at + 1], &hive->records[at], (hive->count - at) * sizeof *hive->records);
        hive->count++;
    }
    hive->records[at] = (struct hive_record){
        .kind = kind, .key = key, .name = name, .value = {.type = type, .text = text}};
    return 0;
}

int vial_hive_put(struct vial_hive *hive, const char *key, const char *name,
                  const struct vial_reg_value *value)
{
    if (vial_reg_key_valid(key) < 0 || vial_reg_name_valid(name) < 0)
        return VIAL_EVALUE;
    return hive_insert(hive, VIAL_REG_VALUE, strdup(key), strdup(name), strdup(value->type),
                       strdup(value->text));
}

void hive_drop_below(struct vial_hive *hive, const char *key, const char *name)
{
    size_t kept = 0;
    for (size_t i = 0; i < hive->count; i++) {
        struct hive_record *r = &hive->records[i];
        int drop = name ? strcmp(r->key, key) == 0 && strcmp(r->name, name) == 0
                        : hive_key_below(r->key, key);
        if (drop)
            record_clear(r);
        else
            hive->records[kept++] = *r;
    }
    hive->count = kept;
}

int vial_hive_delete(struct vial_hive *hive, const char *key, const char *name)
{
    if (vial_reg_key_valid(key) < 0 || (name && vial_reg_name_valid(name) < 0))
        return VIAL_EVALUE;
    if (!name) {
        hive_drop_below(hive, key, NULL);
        return hive_insert(hive, VIAL_REG_KEY_DELETED, strdup(key), strdup(""), NULL, NULL);
    }
    return hive_insert(hive, VIAL_REG_VALUE_DELETED, strdup(key), strdup(name), NULL, NULL);
}

int hive_apply_record(struct vial_hive *hive, const struct vial_reg_record *r)
{
    switch (r->kind) {
    case VIAL_REG_VALUE:
        return vial_hive_put(hive, r->key, r->name, r->value);
    case VIAL_REG_VALUE_DELETED:
        return vial_hive_delete(hive, r->key, r->name);
    case VIAL_REG_KEY_DELETED:
        return vial_hive_delete(hive, r->key, NULL);
    }
    return vial_error_set(VIAL_EVALUE, "unknown record kind %d", (int)r->kind);
}

static int merge_one(const struct vial_reg_record *record, void *payload)
{
    return hive_apply_record(payload, record);
}

int vial_hive_merge(struct vial_hive *hive, const struct vial_hive *changes)
{
    return vial_hive_foreach(changes, merge_one, hive);
}

int vial_hive_foreach(const struct vial_hive *hive,
                      int (*visit)(const struct vial_reg_record *record, void *payload), void *payload)
{
    for (size_t i = 0; i < hive->count; i++) {
        const struct hive_record *r = &hive->records[i];
        struct vial_reg_record record = {r->kind, r->key, r->name,
                                         r->kind == VIAL_REG_VALUE ? &r->value : NULL};
        int rc = visit(&record, payload);
        if (rc)
            return rc;
    }
    return 0;
}

struct vial_hive *hive_copy(const struct vial_hive *hive)
{
    struct vial_hive *copy = NULL;
    if (vial_hive_new(&copy) < 0)
        return NULL;
    if (hive && vial_hive_merge(copy, hive) < 0) {
        vial_hive_free(copy);
        return NULL;
    }
    return copy;
}

/* ------------------------------------------------------------ binary form */

static void put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}
static uint32_t get16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const unsigned char *p) { return get16(p) | get16(p + 2) << 16; }

int vial_hive_serialize(void **out, size_t *size, const struct vial_hive *hive)
{
    *out = NULL;
    *size = 0;
    struct reg_buffer body;
    reg_buffer_init(&body, VIAL_REG_HIVE_MAX - HIVE_HEADER_SIZE);
    for (size_t i = 0; i < hive->count; i++) {
        const struct hive_record *r = &hive->records[i];
        size_t key = strlen(r->key), name = strlen(r->name);
        size_t type = r->kind == VIAL_REG_VALUE ? strlen(r->value.type) : 0;
        size_t text = r->kind == VIAL_REG_VALUE ? strlen(r->value.text) : 0;
        unsigned char header[RECORD_HEADER_SIZE] = {(unsigned char)r->kind, 0};
        put16(header + 2, (uint32_t)key);
        put16(header + 4, (uint32_t)name);
        put16(header + 6, (uint32_t)type);
        put32(header + 8, (uint32_t)text);
        reg_buffer_append(&body, header, sizeof header);
        reg_buffer_append(&body, r->key, key);
        reg_buffer_append(&body, r->name, name);
        if (type) {
            reg_buffer_append(&body, r->value.type, type);
            reg_buffer_append(&body, r->value.text, text);
        }
    }
    if (body.failed) {
        reg_buffer_free(&body);
        return vial_error_set(-EFBIG, "the hive is larger than %u bytes", VIAL_REG_HIVE_MAX);
    }
    unsigned char *bytes = malloc(HIVE_HEADER_SIZE + body.length);
    if (!bytes) {
        reg_buffer_free(&body);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    memcpy(bytes, HIVE_MAGIC, 8);
    put32(bytes + 8, (uint32_t)hive->count);
    put32(bytes + 12, 0);
    put32(bytes + 16, (uint32_t)body.length);
    put32(bytes + 20, 0);
    vial_hash(bytes + 24, body.data ? body.data : "", body.length);
    if (body.length)
        memcpy(bytes + HIVE_HEADER_SIZE, body.data, body.length);
    *size = HIVE_HEADER_SIZE + body.length;
    *out = bytes;
    reg_buffer_free(&body);
    return 0;
}

static int damaged(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int damaged(const char *fmt, ...)
{
    char message[256];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    return vial_error_set(VIAL_EHIVE, "damaged hive: %s", message);
}

static char *copy_field(const unsigned char *at, size_t length)
{
    if (memchr(at, 0, length))
        return NULL;
    char *s = malloc(length + 1);
    if (s) {
        memcpy(s, at, length);
        s[length] = '\0';
    }
    return s;
}

int vial_hive_load(struct vial_hive **out, const void *bytes, size_t size)
{
    *out = NULL;
    const unsigned char *p = bytes;
    if (size < HIVE_HEADER_SIZE)
        return damaged("%zu bytes, shorter than its header (truncated?)", size);
    if (memcmp(p, HIVE_MAGIC, 8) != 0)
        return damaged("not a Vial hive (bad magic)");
    uint32_t count = get32(p + 8);
    uint64_t body = (uint64_t)get32(p + 16) | (uint64_t)get32(p + 20) << 32;
    if (get32(p + 12) != 0)
        return damaged("unknown flags %#x", (unsigned)get32(p + 12));
    if (body != size - HIVE_HEADER_SIZE)
        return damaged("it says %llu bytes of records, the file has %zu (truncated?)",
                       (unsigned long long)body, size - HIVE_HEADER_SIZE);
    if (size > VIAL_REG_HIVE_MAX)
        return damaged("larger than %u bytes", VIAL_REG_HIVE_MAX);
    uint8_t hash[VIAL_HASH_LEN];
    vial_hash(hash, p + HIVE_HEADER_SIZE, (size_t)body);
    if (memcmp(hash, p + 24, VIAL_HASH_LEN) != 0)
        return damaged("checksum mismatch");
    if (count > body / RECORD_HEADER_SIZE)
        return damaged("%u records cannot fit in %llu bytes", count, (unsigned long long)body);
    struct vial_hive *hive = NULL;
    int rc = vial_hive_new(&hive);
    if (rc < 0)
        return rc;
    hive->records = calloc(count ? count : 1, sizeof *hive->records);
    if (!hive->records) {
        vial_hive_free(hive);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    hive->capacity = count ? count : 1;
    size_t at = HIVE_HEADER_SIZE;
    for (uint32_t i = 0; i < count; i++) {
        if (size - at < RECORD_HEADER_SIZE) {
            rc = damaged("record %u is cut short", i);
            goto out;
        }
        const unsigned char *h = p + at;
        uint32_t kind = h[0], key = get16(h + 2), name = get16(h + 4), type = get16(h + 6),
                 text = get32(h + 8);
        at += RECORD_HEADER_SIZE;
        if (h[1] != 0 || kind < VIAL_REG_VALUE || kind > VIAL_REG_KEY_DELETED) {
            rc = damaged("record %u has an unknown kind %u", i, kind);
            goto out;
        }
        int is_value = kind == VIAL_REG_VALUE;
        if (key == 0 || key > VIAL_REG_KEY_MAX || (kind == VIAL_REG_KEY_DELETED) != (name == 0) ||
            name > VIAL_REG_NAME_MAX || (is_value ? type == 0 || type > VIAL_REG_TYPE_MAX || text > VIAL_REG_TEXT_MAX
                                                  : type != 0 || text != 0)) {
            rc = damaged("record %u has impossible lengths", i);
            goto out;
        }
        if ((uint64_t)size - at < (uint64_t)key + name + type + text) {
            rc = damaged("record %u runs past the end", i);
            goto out;
        }
        struct hive_record *r = &hive->records[i];
        r->kind = (enum vial_reg_record_kind)kind;
        r->key = copy_field(p + at, key);
        r->name = copy_field(p + at + key, name);
        if (is_value) {
            r->value.type = copy_field(p + at + key + name, type);
            r->value.text = copy_field(p + at + key + name + type, text);
        }
        hive->count = i + 1;
        at += (size_t)key + name + type + text;
        if (!r->key || !r->name || (is_value && (!r->value.type || !r->value.text))) {
            rc = damaged("record %u holds a NUL byte", i);
            goto out;
        }
        if (vial_reg_key_valid(r->key) < 0 || (name && vial_reg_name_valid(r->name) < 0)) {
            rc = damaged("record %u: %s", i, vial_error_last());
            goto out;
        }
        if (i && record_compare(hive->records[i - 1].key, hive->records[i - 1].name, r->key, r->name) >= 0) {
            rc = damaged("record %u is out of order or repeated", i);
            goto out;
        }
        if (is_value) {
            struct vial_reg_value *canonical = NULL;
            if (vial_reg_value_parse(&canonical, r->value.type, r->value.text) < 0) {
                rc = damaged("record %u (%s/%s): %s", i, r->key, r->name, vial_error_last());
                goto out;
            }
            int same = strcmp(canonical->text, r->value.text) == 0;
            vial_reg_value_free(canonical);
            if (!same) {
                rc = damaged("record %u (%s/%s): the value is not in canonical form", i, r->key, r->name);
                goto out;
            }
        }
    }
    if (at != size) {
        rc = damaged("%zu bytes after the last record", size - at);
        goto out;
    }
    *out = hive;
    hive = NULL;
out:
    vial_hive_free(hive);
    return rc;
}

/* -------------------------------------------------------------- text form */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

int vial_hive_parse_text(struct vial_hive **out, const char *text, size_t length)
{
    *out = NULL;
    if (length > VIAL_REG_HIVE_MAX)
        return vial_error_set(VIAL_EVALUE, "the text is larger than %u bytes", VIAL_REG_HIVE_MAX);
    if (memchr(text, '\0', length))
        return vial_error_set(VIAL_EVALUE, "the text holds a NUL byte");
    char *copy = malloc(length + 1);
    struct vial_hive *hive = NULL, *given = NULL;
    int rc = vial_hive_new(&hive);
    if (rc == 0)
        rc = vial_hive_new(&given); /* (key, name) given in this text, to refuse repeats */
    if (!copy || rc < 0) {
        free(copy);
        vial_hive_free(hive);
        vial_hive_free(given);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    memcpy(copy, text, length);
    copy[length] = '\0';
    char *line = copy;
    if (strncmp(line, "\xef\xbb\xbf", 3) == 0)
        line += 3;
    char key[VIAL_REG_KEY_MAX + 1] = "";
    unsigned number = 0;
    static const struct vial_reg_value given_marker = {(char *)"b", (char *)"true"};
    while (line) {
        number++;
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';') {
            line = next;
            continue;
        }
        if (*s == '[') {
            size_t end = strlen(s);
            if (s[end - 1] != ']') {
                rc = vial_error_set(VIAL_EVALUE, "line %u: a section header without ']'", number);
                goto out;
            }
            s[end - 1] = '\0';
            int deletion = s[1] == '-';
            char *path = trim(s + 1 + deletion);
            if (vial_reg_key_valid(path) < 0) {
                rc = vial_error_prefix(VIAL_EVALUE, "line %u", number);
                goto out;
            }
            if (deletion) {
                rc = vial_hive_delete(hive, path, NULL);
                key[0] = '\0';
            } else {
                snprintf(key, sizeof key, "%s", path);
            }
            if (rc < 0)
                goto out;
            line = next;
            continue;
        }
        if (!key[0]) {
            rc = vial_error_set(VIAL_EVALUE, "line %u: a value outside any [KEY] section", number);
            goto out;
        }
        char *name, *value_text = NULL;
        if (*s == '-') {
            name = trim(s + 1);
        } else {
            char *equals = strchr(s, '=');
            if (!equals) {
                rc = vial_error_set(VIAL_EVALUE, "line %u: expected NAME = VALUE, -NAME or [KEY]", number);
                goto out;
            }
            *equals = '\0';
            name = trim(s);
            value_text = trim(equals + 1);
        }
        if (vial_reg_name_valid(name) < 0) {
            rc = vial_error_prefix(VIAL_EVALUE, "line %u", number);
            goto out;
        }
        if (hive_find(given, key, name)) {
            rc = vial_error_set(VIAL_EVALUE, "line %u: '%s' given twice in [%s]", number, name, key);
            goto out;
        }
        if ((rc = vial_hive_put(given, key, name, &given_marker)) < 0)
            goto out;
        if (!value_text) {
            rc = vial_hive_delete(hive, key, name);
        } else {
            struct vial_reg_value *value = NULL;
            if (vial_reg_value_parse(&value, NULL, value_text) < 0) {
                rc = vial_error_prefix(VIAL_EVALUE, "line %u: '%s'", number, name);
                goto out;
            }
            rc = vial_hive_put(hive, key, name, value);
            vial_reg_value_free(value);
        }
        if (rc < 0)
            goto out;
        line = next;
    }
    *out = hive;
    hive = NULL;
out:
    free(copy);
    vial_hive_free(hive);
    vial_hive_free(given);
    return rc;
}

int vial_hive_format_text(char **out, const struct vial_hive *hive)
{
    *out = NULL;
    struct reg_buffer text;
    reg_buffer_init(&text, (size_t)VIAL_REG_HIVE_MAX * 2);
    const char *section = NULL; /* the [KEY] the last value line went under */
    for (size_t i = 0; i < hive->count; i++) {
        const struct hive_record *r = &hive->records[i];
        if (r->kind == VIAL_REG_KEY_DELETED) {
            reg_buffer_printf(&text, "%s[-", text.length ? "\n" : "");
            reg_buffer_puts(&text, r->key);
            reg_buffer_puts(&text, "]\n");
            section = NULL;
            continue;
        }
        if (!section || strcmp(section, r->key) != 0) {
            reg_buffer_printf(&text, "%s[", text.length ? "\n" : "");
            reg_buffer_puts(&text, r->key);
            reg_buffer_puts(&text, "]\n");
            section = r->key;
        }
        if (r->kind == VIAL_REG_VALUE_DELETED) {
            reg_buffer_puts(&text, "-");
            reg_buffer_puts(&text, r->name);
            reg_buffer_puts(&text, "\n");
            continue;
        }
        char *formatted = NULL;
        if (vial_reg_value_format(&formatted, &r->value) < 0) {
            reg_buffer_free(&text);
            return VIAL_EVALUE;
        }
        reg_buffer_puts(&text, r->name);
        reg_buffer_puts(&text, " = ");
        reg_buffer_puts(&text, formatted);
        reg_buffer_puts(&text, "\n");
        free(formatted);
    }
    *out = reg_buffer_take(&text);
    return *out ? 0 : vial_error_set(-ENOMEM, "out of memory or the text is too large");
}
