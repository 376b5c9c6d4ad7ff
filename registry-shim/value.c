/*
 * value.c - typed registry values: GVariant type strings, and values in
 * GVariant's text format, parsed into a small syntax tree, type-checked (or
 * their type inferred, as GLib does) and printed back in one canonical text.
 *
 * The text is the storage form: it holds every GSettings value exactly, it is
 * what people read and edit, and GLib's own parser reads it back in the
 * GSettings backend. Numbers are read and printed in the C locale whatever
 * locale the application chose.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "text.h"

/* ----------------------------------------------------------------- buffer */

void reg_buffer_init(struct reg_buffer *buffer, size_t maximum)
{
    memset(buffer, 0, sizeof *buffer);
    buffer->maximum = maximum;
}

void reg_buffer_free(struct reg_buffer *buffer)
{
    free(buffer->data);
    memset(buffer, 0, sizeof *buffer);
}

void reg_buffer_append(struct reg_buffer *buffer, const void *data, size_t length)
{
    if (buffer->failed)
        return;
    if (length > buffer->maximum || buffer->length > buffer->maximum - length) {
        buffer->failed = 1;
        return;
    }
    if (buffer->length + length + 1 > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 64;
        while (capacity < buffer->length + length + 1)
            capacity *= 2;
        char *grown = realloc(buffer->data, capacity);
        if (!grown) {
            buffer->failed = 1;
            return;
        }
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, data, length);
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
}

void reg_buffer_puts(struct reg_buffer *buffer, const char *text)
{
    reg_buffer_append(buffer, text, strlen(text));
}

void reg_buffer_printf(struct reg_buffer *buffer, const char *fmt, ...)
{
    char small[256];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(small, sizeof small, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof small) {
        buffer->failed = 1;
        return;
    }
    reg_buffer_append(buffer, small, (size_t)n);
}

char *reg_buffer_take(struct reg_buffer *buffer)
{
    char *data = buffer->failed ? NULL : buffer->data;
    if (data == NULL && !buffer->failed)
        data = strdup("");
    if (buffer->failed)
        free(buffer->data);
    buffer->data = NULL;
    buffer->length = buffer->capacity = 0;
    buffer->failed = 0;
    return data;
}

size_t reg_utf8_char(const unsigned char *s, size_t length)
{
    if (length == 0 || s[0] == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    size_t n;
    uint32_t c;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (length < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return n;
}

int reg_utf8_valid(const char *s, size_t length)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < length;) {
        size_t n = reg_utf8_char(p + i, length - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

/* ------------------------------------------------------------------ types */

static const char basic_types[] = "bynqiuxthdsog";

/* Length of the one complete definite type at type[0..], or 0. */
static size_t type_length(const char *type, unsigned depth)
{
    if (depth > VIAL_REG_DEPTH_MAX || !*type)
        return 0;
    if (strchr(basic_types, *type) || *type == 'v')
        return 1;
    if (*type == 'a' || *type == 'm') {
        size_t n = type_length(type + 1, depth + 1);
        return n ? n + 1 : 0;
    }
    if (*type == '(') {
        size_t at = 1;
        while (type[at] != ')') {
            size_t n = type_length(type + at, depth + 1);
            if (!n)
                return 0;
            at += n;
        }
        return at + 1;
    }
    if (*type == '{') {
        if (!type[1] || !strchr(basic_types, type[1]))
            return 0;
        size_t n = type_length(type + 2, depth + 1);
        if (!n || type[2 + n] != '}')
            return 0;
        return n + 3;
    }
    return 0;
}

int vial_reg_type_valid(const char *type)
{
    size_t length = strlen(type);
    if (length == 0 || length > VIAL_REG_TYPE_MAX)
        return vial_error_set(VIAL_EVALUE, "type '%.64s' is empty or too long", type);
    size_t n = type_length(type, 0);
    if (n != length)
        return vial_error_set(VIAL_EVALUE, "'%.64s' is not a definite GVariant type", type);
    return 0;
}

/* ------------------------------------------------------------ syntax tree */

enum node_kind {
    NODE_BOOL,       /* token: "true" or "false" */
    NODE_NUMBER,     /* token: a number (or inf/nan) */
    NODE_STRING,     /* token: the quoted text, quotes included */
    NODE_BYTESTRING, /* token: b'...' */
    NODE_ARRAY,      /* children */
    NODE_TUPLE,      /* children */
    NODE_DICT,       /* children: key, value, key, value... */
    NODE_ENTRY,      /* children: key, value */
    NODE_JUST,       /* child */
    NODE_NOTHING,
    NODE_VARIANT, /* child */
    NODE_TYPED,   /* child with a type given by "@T" or a keyword */
};

struct node {
    enum node_kind kind;
    const char *token;
    size_t token_length;
    char type[VIAL_REG_TYPE_MAX + 1]; /* NODE_TYPED */
    struct node **children;
    size_t child_count;
};

struct parser {
    const char *text;
    size_t at;
    size_t length;
    int error;
    char message[200];
};

static void parse_fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void parse_fail(struct parser *p, const char *fmt, ...)
{
    if (p->error)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, args);
    va_end(args);
    p->error = 1;
}

static void node_free(struct node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->child_count; i++)
        node_free(node->children[i]);
    free(node->children);
    free(node);
}

static struct node *node_new(struct parser *p, enum node_kind kind)
{
    struct node *node = calloc(1, sizeof *node);
    if (!node)
        parse_fail(p, "out of memory");
    else
        node->kind = kind;
    return node;
}

static void node_add(struct parser *p, struct node *parent, struct node *child)
{
    if (!child)
        return;
    struct node **grown = realloc(parent->children, (parent->child_count + 1) * sizeof *grown);
    if (!grown) {
        node_free(child);
        parse_fail(p, "out of memory");
        return;
    }
    parent->children = grown;
    parent->children[parent->child_count++] = child;
}

static void skip_space(struct parser *p)
{
    while (p->at < p->length && strchr(" \t\r\n", p->text[p->at]))
        p->at++;
}

static int word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '+' || c == '-';
}

static const struct {
    const char *word;
    const char *type;
} keyword_types[] = {
    {"boolean", "b"}, {"byte", "y"},   {"int16", "n"},      {"uint16", "q"},
    {"int32", "i"},   {"uint32", "u"}, {"int64", "x"},      {"uint64", "t"},
    {"handle", "h"},  {"double", "d"}, {"string", "s"},     {"objectpath", "o"},
    {"signature", "g"},
};

static struct node *parse_value(struct parser *p, unsigned depth);

/* A quoted string's extent: from the quote at p->at to its closing quote. */
static size_t quoted_extent(struct parser *p, size_t start)
{
    char quote = p->text[start];
    for (size_t i = start + 1; i < p->length; i++) {
        if (p->text[i] == '\\') {
            i++;
            continue;
        }
        if (p->text[i] == quote)
            return i + 1 - start;
    }
    parse_fail(p, "offset %zu: unterminated string", start);
    return 0;
}

static struct node *parse_sequence(struct parser *p, unsigned depth, enum node_kind kind, char close)
{
    struct node *node = node_new(p, kind);
    if (!node)
        return NULL;
    p->at++;
    skip_space(p);
    int trailing_comma = 0;
    while (!p->error && p->at < p->length && p->text[p->at] != close) {
        node_add(p, node, parse_value(p, depth + 1));
        skip_space(p);
        trailing_comma = 0;
        if (p->at < p->length && p->text[p->at] == ',') {
            p->at++;
            skip_space(p);
            trailing_comma = 1;
        } else {
            break;
        }
    }
    if (!p->error && (p->at >= p->length || p->text[p->at] != close))
        parse_fail(p, "offset %zu: expected '%c'", p->at, close);
    p->at++;
    /* "(1,)" is a one-tuple; "(1)" is just 1 in parentheses */
    if (!p->error && kind == NODE_TUPLE && node->child_count == 1 && !trailing_comma) {
        struct node *inner = node->children[0];
        node->child_count = 0;
        node_free(node);
        return inner;
    }
    if (!p->error && trailing_comma && kind != NODE_TUPLE)
        parse_fail(p, "offset %zu: a trailing ','", p->at - 1);
    return node;
}

/* "{k: v, ...}" is a dictionary, "{k, v}" one dict entry, "{}" an empty one. */
static struct node *parse_braces(struct parser *p, unsigned depth)
{
    struct node *node = node_new(p, NODE_DICT);
    if (!node)
        return NULL;
    p->at++;
    skip_space(p);
    if (p->at < p->length && p->text[p->at] == '}') {
        p->at++;
        return node;
    }
    node_add(p, node, parse_value(p, depth + 1));
    skip_space(p);
    if (!p->error && p->at < p->length && p->text[p->at] == ',') {
        node->kind = NODE_ENTRY;
        p->at++;
        node_add(p, node, parse_value(p, depth + 1));
        skip_space(p);
    } else {
        while (!p->error) {
            if (p->at >= p->length || p->text[p->at] != ':') {
                parse_fail(p, "offset %zu: expected ':' in a dictionary", p->at);
                break;
            }
            p->at++;
            node_add(p, node, parse_value(p, depth + 1));
            skip_space(p);
            if (p->at < p->length && p->text[p->at] == ',') {
                p->at++;
                node_add(p, node, parse_value(p, depth + 1));
                skip_space(p);
                continue;
            }
            break;
        }
    }
    if (!p->error && (p->at >= p->length || p->text[p->at] != '}'))
        parse_fail(p, "offset %zu: expected '}'", p->at);
    p->at++;
    return node;
}

static struct node *parse_typed(struct parser *p, unsigned depth, const char *type, size_t length)
{
    struct node *node = node_new(p, NODE_TYPED);
    if (!node)
        return NULL;
    memcpy(node->type, type, length);
    node->type[length] = '\0';
    if (vial_reg_type_valid(node->type) < 0)
        parse_fail(p, "offset %zu: '%s' is not a type", p->at, node->type);
    node_add(p, node, parse_value(p, depth + 1));
    return node;
}

static struct node *parse_value(struct parser *p, unsigned depth)
{
    skip_space(p);
    if (p->error)
        return NULL;
    if (depth > VIAL_REG_DEPTH_MAX) {
        parse_fail(p, "offset %zu: nested more than %u deep", p->at, VIAL_REG_DEPTH_MAX);
        return NULL;
    }
    if (p->at >= p->length) {
        parse_fail(p, "offset %zu: a value is missing", p->at);
        return NULL;
    }
    char c = p->text[p->at];
    size_t start = p->at;
    struct node *node = NULL;
    switch (c) {
    case '[':
        return parse_sequence(p, depth, NODE_ARRAY, ']');
    case '(':
        return parse_sequence(p, depth, NODE_TUPLE, ')');
    case '{':
        return parse_braces(p, depth);
    case '<':
        node = node_new(p, NODE_VARIANT);
        if (!node)
            return NULL;
        p->at++;
        node_add(p, node, parse_value(p, depth + 1));
        skip_space(p);
        if (!p->error && (p->at >= p->length || p->text[p->at] != '>'))
            parse_fail(p, "offset %zu: expected '>'", p->at);
        p->at++;
        return node;
    case '@': {
        size_t length = type_length(p->text + p->at + 1, 0);
        /* type_length reads a NUL-terminated string: bound it by the text */
        if (!length || p->at + 1 + length > p->length) {
            parse_fail(p, "offset %zu: '@' is not followed by a type", p->at);
            return NULL;
        }
        if (length > VIAL_REG_TYPE_MAX) {
            parse_fail(p, "offset %zu: type too long", p->at);
            return NULL;
        }
        const char *type = p->text + p->at + 1;
        p->at += 1 + length;
        return parse_typed(p, depth, type, length);
    }
    case '\'':
    case '"': {
        size_t n = quoted_extent(p, start);
        if (!n)
            return NULL;
        node = node_new(p, NODE_STRING);
        if (node) {
            node->token = p->text + start;
            node->token_length = n;
        }
        p->at += n;
        return node;
    }
    default:
        break;
    }
    if (c == 'b' && p->at + 1 < p->length && (p->text[p->at + 1] == '\'' || p->text[p->at + 1] == '"')) {
        size_t n = quoted_extent(p, start + 1);
        if (!n)
            return NULL;
        node = node_new(p, NODE_BYTESTRING);
        if (node) {
            node->token = p->text + start;
            node->token_length = n + 1;
        }
        p->at += n + 1;
        return node;
    }
    if (!word_char(c)) {
        parse_fail(p, "offset %zu: unexpected '%c'", p->at, c);
        return NULL;
    }
    while (p->at < p->length && word_char(p->text[p->at]))
        p->at++;
    const char *word = p->text + start;
    size_t length = p->at - start;
#define WORD_IS(w) (length == strlen(w) && memcmp(word, w, length) == 0)
    if (WORD_IS("true") || WORD_IS("false")) {
        node = node_new(p, NODE_BOOL);
    } else if (WORD_IS("nothing")) {
        node = node_new(p, NODE_NOTHING);
    } else if (WORD_IS("just")) {
        node = node_new(p, NODE_JUST);
        if (node)
            node_add(p, node, parse_value(p, depth + 1));
        return node;
    } else {
        for (size_t i = 0; i < sizeof keyword_types / sizeof keyword_types[0]; i++)
            if (WORD_IS(keyword_types[i].word))
                return parse_typed(p, depth, keyword_types[i].type, 1);
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || WORD_IS("inf") ||
            WORD_IS("nan")) {
            node = node_new(p, NODE_NUMBER);
        } else {
            parse_fail(p, "offset %zu: unknown word '%.*s'", start, (int)(length > 40 ? 40 : length),
                       word);
            return NULL;
        }
    }
#undef WORD_IS
    if (node) {
        node->token = word;
        node->token_length = length;
    }
    return node;
}

/* --------------------------------------------------------------- scalars */

static locale_t c_locale(void)
{
    static locale_t locale;
    if (!locale)
        locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return locale;
}

/* An integer token within [minimum, maximum] (decimal or 0x hexadecimal). */
static int integer_value(int64_t *out_signed, uint64_t *out_unsigned, const char *token,
                         size_t length, int is_signed, uint64_t magnitude_max_positive,
                         uint64_t magnitude_max_negative)
{
    size_t at = 0;
    int negative = 0;
    if (at < length && (token[at] == '-' || token[at] == '+'))
        negative = token[at++] == '-';
    int base = 10;
    if (length - at > 2 && token[at] == '0' && (token[at + 1] == 'x' || token[at + 1] == 'X')) {
        base = 16;
        at += 2;
    }
    if (at >= length)
        return -1;
    uint64_t magnitude = 0;
    for (; at < length; at++) {
        char ch = token[at];
        unsigned digit;
        if (ch >= '0' && ch <= '9')
            digit = (unsigned)(ch - '0');
        else if (base == 16 && ch >= 'a' && ch <= 'f')
            digit = (unsigned)(ch - 'a' + 10);
        else if (base == 16 && ch >= 'A' && ch <= 'F')
            digit = (unsigned)(ch - 'A' + 10);
        else
            return -1;
        if (magnitude > (UINT64_MAX - digit) / (unsigned)base)
            return -1;
        magnitude = magnitude * (unsigned)base + digit;
    }
    if (negative ? magnitude > magnitude_max_negative : magnitude > magnitude_max_positive)
        return -1;
    if (negative && !is_signed && magnitude)
        return -1;
    if (is_signed)
        *out_signed = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    else
        *out_unsigned = magnitude;
    return 0;
}

static int double_value(double *out, const char *token, size_t length)
{
    char copy[128];
    if (length >= sizeof copy)
        return -1;
    memcpy(copy, token, length);
    copy[length] = '\0';
    if (strstr(copy, "0x") || strstr(copy, "0X"))
        return -1; /* C's hexadecimal floats are not GVariant text */
    char *end;
    errno = 0;
    *out = strtod_l(copy, &end, c_locale());
    if (end != copy + length || length == 0)
        return -1;
    return 0;
}

static void print_double(struct reg_buffer *out, double value)
{
    char text[64];
    if (isnan(value)) {
        reg_buffer_puts(out, "nan");
        return;
    }
    if (isinf(value)) {
        reg_buffer_puts(out, value < 0 ? "-inf" : "inf");
        return;
    }
    locale_t previous = uselocale(c_locale());
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, value);
        if (strtod_l(text, NULL, c_locale()) == value)
            break;
    }
    uselocale(previous);
    reg_buffer_puts(out, text);
    if (!strpbrk(text, ".e"))
        reg_buffer_puts(out, ".0");
}

/* Decodes a quoted token (quotes included) into out; bytes selects the
 * bytestring rules (octal and \x escapes, no \u, any byte). */
static int decode_quoted(struct reg_buffer *out, const char *token, size_t length, int bytes,
                         char *message, size_t message_size)
{
    for (size_t i = 1; i + 1 < length; i++) {
        unsigned char ch = (unsigned char)token[i];
        if (ch != '\\') {
            reg_buffer_append(out, &ch, 1);
            continue;
        }
        if (i + 1 >= length - 1) {
            snprintf(message, message_size, "a '\\' ends the string");
            return -1;
        }
        char e = token[++i];
        const char *simple = strchr("abfnrtv\\'\"", e);
        if (simple && e) {
            static const char from[] = "abfnrtv\\'\"", to[] = "\a\b\f\n\r\t\v\\'\"";
            reg_buffer_append(out, &to[strchr(from, e) - from], 1);
            continue;
        }
        if (!bytes && (e == 'u' || e == 'U')) {
            size_t digits = e == 'u' ? 4 : 8;
            uint32_t code = 0;
            for (size_t d = 0; d < digits; d++) {
                if (i + 1 + d >= length - 1) {
                    snprintf(message, message_size, "'\\%c' needs %zu hex digits", e, digits);
                    return -1;
                }
                char h = token[i + 1 + d];
                unsigned v = (h >= '0' && h <= '9')   ? (unsigned)(h - '0')
                             : (h >= 'a' && h <= 'f') ? (unsigned)(h - 'a' + 10)
                             : (h >= 'A' && h <= 'F') ? (unsigned)(h - 'A' + 10)
                                                      : 16u;
                if (v == 16) {
                    snprintf(message, message_size, "'\\%c' needs %zu hex digits", e, digits);
                    return -1;
                }
                code = code << 4 | v;
            }
            i += digits;
            if (code == 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
                snprintf(message, message_size, "'\\%c%0*X' is not a character", e, (int)digits,
                         (unsigned)code);
                return -1;
            }
            unsigned char utf8[4];
            size_t n;
            if (code < 0x80) {
                utf8[0] = (unsigned char)code;
                n = 1;
            } else if (code < 0x800) {
                utf8[0] = (unsigned char)(0xc0 | code >> 6);
                utf8[1] = (unsigned char)(0x80 | (code & 0x3f));
                n = 2;
            } else if (code < 0x10000) {
                utf8[0] = (unsigned char)(0xe0 | code >> 12);
                utf8[1] = (unsigned char)(0x80 | ((code >> 6) & 0x3f));
                utf8[2] = (unsigned char)(0x80 | (code & 0x3f));
                n = 3;
            } else {
                utf8[0] = (unsigned char)(0xf0 | code >> 18);
                utf8[1] = (unsigned char)(0x80 | ((code >> 12) & 0x3f));
                utf8[2] = (unsigned char)(0x80 | ((code >> 6) & 0x3f));
                utf8[3] = (unsigned char)(0x80 | (code & 0x3f));
                n = 4;
            }
            reg_buffer_append(out, utf8, n);
            continue;
        }
        if (bytes && e >= '0' && e <= '7') {
            unsigned v = 0;
            size_t d = 0;
            while (d < 3 && i + d < length - 1 && token[i + d] >= '0' && token[i + d] <= '7')
                v = v * 8 + (unsigned)(token[i + d++] - '0');
            if (v > 255) {
                snprintf(message, message_size, "octal escape above 255");
                return -1;
            }
            i += d - 1;
            unsigned char b = (unsigned char)v;
            reg_buffer_append(out, &b, 1);
            continue;
        }
        snprintf(message, message_size, "unknown escape '\\%c'", e);
        return -1;
    }
    return out->failed ? -1 : 0;
}

static void print_string(struct reg_buffer *out, const char *s, size_t length)
{
    reg_buffer_puts(out, "'");
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *escape = NULL;
        switch (c) {
        case '\\': escape = "\\\\"; break;
        case '\'': escape = "\\'"; break;
        case '\n': escape = "\\n"; break;
        case '\t': escape = "\\t"; break;
        case '\r': escape = "\\r"; break;
        case '\b': escape = "\\b"; break;
        case '\f': escape = "\\f"; break;
        case '\v': escape = "\\v"; break;
        default: break;
        }
        if (escape)
            reg_buffer_puts(out, escape);
        else if (c < 0x20 || c == 0x7f)
            reg_buffer_printf(out, "\\u%04x", c);
        else
            reg_buffer_append(out, &c, 1);
    }
    reg_buffer_puts(out, "'");
}

static int object_path_valid(const char *s, size_t n)
{
    if (n == 0 || s[0] != '/')
        return 0;
    if (n == 1)
        return 1;
    if (s[n - 1] == '/')
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (c == '/') {
            if (s[i - 1] == '/')
                return 0;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_')) {
            return 0;
        }
    }
    return 1;
}

static int signature_valid(const char *s, size_t n)
{
    char copy[256];
    if (n >= sizeof copy)
        return 0;
    memcpy(copy, s, n);
    copy[n] = '\0';
    for (size_t at = 0; at < n;) {
        size_t length = type_length(copy + at, 0);
        if (!length)
            return 0;
        at += length;
    }
    return 1;
}

/* -------------------------------------------------- checking and printing */

struct checker {
    char message[200];
    struct reg_buffer scratch;
};

static int check_fail(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int check_fail(struct checker *c, const char *fmt, ...)
{
    if (!c->message[0]) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(c->message, sizeof c->message, fmt, args);
        va_end(args);
    }
    return -1;
}

/* Infers a node's type into out (VIAL_REG_TYPE_MAX + 1 bytes) as GLib does. */
static int infer(struct checker *c, char *out, const struct node *node, unsigned depth);
/* Prints node as a value of type (type[0..] starts a complete type). */
static int print_node(struct checker *c, struct reg_buffer *out, const struct node *node,
                      const char *type);

static int infer(struct checker *c, char *out, const struct node *node, unsigned depth)
{
    if (depth > VIAL_REG_DEPTH_MAX)
        return check_fail(c, "nested too deep");
    char inner[VIAL_REG_TYPE_MAX + 1];
    switch (node->kind) {
    case NODE_BOOL:
        strcpy(out, "b");
        return 0;
    case NODE_NUMBER:
        if (memchr(node->token, '.', node->token_length) ||
            ((memchr(node->token, 'e', node->token_length) ||
              memchr(node->token, 'E', node->token_length)) &&
             !memchr(node->token, 'x', node->token_length)) ||
            memchr(node->token, 'n', node->token_length))
            strcpy(out, "d");
        else
            strcpy(out, "i");
        return 0;
    case NODE_STRING:
        strcpy(out, "s");
        return 0;
    case NODE_BYTESTRING:
        strcpy(out, "ay");
        return 0;
    case NODE_VARIANT:
        strcpy(out, "v");
        return 0;
    case NODE_TYPED:
        strcpy(out, node->type);
        return 0;
    case NODE_NOTHING:
        return check_fail(c, "the type of 'nothing' cannot be inferred: write '@mT nothing'");
    case NODE_JUST:
        if (infer(c, inner, node->children[0], depth + 1) < 0)
            return -1;
        if (strlen(inner) + 1 > VIAL_REG_TYPE_MAX)
            return check_fail(c, "type too long");
        snprintf(out, VIAL_REG_TYPE_MAX + 1, "m%s", inner);
        return 0;
    case NODE_ARRAY:
    case NODE_DICT: {
        if (node->child_count == 0)
            return check_fail(c, "the type of an empty %s cannot be inferred: write '@aT %s'",
                              node->kind == NODE_ARRAY ? "array" : "dictionary",
                              node->kind == NODE_ARRAY ? "[]" : "{}");
        char element[VIAL_REG_TYPE_MAX + 1];
        if (node->kind == NODE_ARRAY) {
            if (infer(c, element, node->children[0], depth + 1) < 0)
                return -1;
        } else {
            char key[VIAL_REG_TYPE_MAX + 1], value[VIAL_REG_TYPE_MAX + 1];
            if (infer(c, key, node->children[0], depth + 1) < 0 ||
                infer(c, value, node->children[1], depth + 1) < 0)
                return -1;
            if (strlen(key) != 1 || !strchr(basic_types, key[0]))
                return check_fail(c, "a dictionary key must be of a basic type, not '%s'", key);
            if (strlen(value) + 4 > VIAL_REG_TYPE_MAX)
                return check_fail(c, "type too long");
            snprintf(element, sizeof element, "{%s%s}", key, value);
        }
        /* every element must fit it; integers and doubles mixed make doubles */
        struct reg_buffer probe;
        reg_buffer_init(&probe, VIAL_REG_TEXT_MAX);
        char candidate[VIAL_REG_TYPE_MAX + 2];
        snprintf(candidate, sizeof candidate, "a%s", element);
        int ok = strlen(candidate) <= VIAL_REG_TYPE_MAX && print_node(c, &probe, node, candidate) == 0;
        if (!ok && strchr(candidate, 'i')) {
            for (char *p = candidate; *p; p++)
                if (*p == 'i')
                    *p = 'd';
            c->message[0] = '\0';
            reg_buffer_free(&probe);
            reg_buffer_init(&probe, VIAL_REG_TEXT_MAX);
            ok = print_node(c, &probe, node, candidate) == 0;
        }
        reg_buffer_free(&probe);
        if (!ok)
            return -1;
        strcpy(out, candidate);
        return 0;
    }
    case NODE_TUPLE: {
        size_t used = 1;
        out[0] = '(';
        for (size_t i = 0; i < node->child_count; i++) {
            if (infer(c, inner, node->children[i], depth + 1) < 0)
                return -1;
            size_t n = strlen(inner);
            if (used + n + 2 > VIAL_REG_TYPE_MAX)
                return check_fail(c, "type too long");
            memcpy(out + used, inner, n);
            used += n;
        }
        out[used++] = ')';
        out[used] = '\0';
        return 0;
    }
    case NODE_ENTRY: {
        char key[VIAL_REG_TYPE_MAX + 1];
        if (infer(c, key, node->children[0], depth + 1) < 0 ||
            infer(c, inner, node->children[1], depth + 1) < 0)
            return -1;
        if (strlen(key) != 1 || !strchr(basic_types, key[0]))
            return check_fail(c, "a dictionary key must be of a basic type, not '%s'", key);
        if (strlen(inner) + 4 > VIAL_REG_TYPE_MAX)
            return check_fail(c, "type too long");
        snprintf(out, VIAL_REG_TYPE_MAX + 1, "{%s%s}", key, inner);
        return 0;
    }
    }
    return check_fail(c, "cannot infer a type");
}

static void type_copy(char *out, const char *type)
{
    size_t n = type_length(type, 0);
    memcpy(out, type, n);
    out[n] = '\0';
}

static int print_integer(struct checker *c, struct reg_buffer *out, const struct node *node, char type)
{
    static const struct {
        char type;
        int is_signed;
        uint64_t positive, negative;
        const char *name;
    } ranges[] = {
        {'y', 0, UINT8_MAX, 0, "byte"},
        {'n', 1, INT16_MAX, (uint64_t)INT16_MAX + 1, "int16"},
        {'q', 0, UINT16_MAX, 0, "uint16"},
        {'i', 1, INT32_MAX, (uint64_t)INT32_MAX + 1, "int32"},
        {'u', 0, UINT32_MAX, 0, "uint32"},
        {'x', 1, INT64_MAX, (uint64_t)INT64_MAX + 1, "int64"},
        {'t', 0, UINT64_MAX, 0, "uint64"},
        {'h', 1, INT32_MAX, (uint64_t)INT32_MAX + 1, "handle"},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        if (ranges[i].type != type)
            continue;
        int64_t s = 0;
        uint64_t u = 0;
        if (integer_value(&s, &u, node->token, node->token_length, ranges[i].is_signed,
                          ranges[i].positive, ranges[i].negative) < 0)
            return check_fail(c, "'%.*s' is not a %s", (int)(node->token_length > 40 ? 40 : node->token_length),
                              node->token, ranges[i].name);
        if (type == 'y')
            reg_buffer_printf(out, "0x%02x", (unsigned)u);
        else if (ranges[i].is_signed)
            reg_buffer_printf(out, "%lld", (long long)s);
        else
            reg_buffer_printf(out, "%llu", (unsigned long long)u);
        return 0;
    }
    return check_fail(c, "internal: not an integer type");
}

static int print_node(struct checker *c, struct reg_buffer *out, const struct node *node,
                      const char *type)
{
    char t = type[0];
    if (node->kind == NODE_TYPED) {
        char own[VIAL_REG_TYPE_MAX + 1];
        type_copy(own, type);
        if (strcmp(own, node->type) != 0)
            return check_fail(c, "a '%s' where a '%s' is expected", node->type, own);
        return print_node(c, out, node->children[0], type);
    }
    if (t == 'm') {
        if (node->kind == NODE_NOTHING) {
            reg_buffer_puts(out, "nothing");
            return 0;
        }
        const struct node *inner = node->kind == NODE_JUST ? node->children[0] : node;
        if (node->kind != NODE_JUST && type[1] == 'm')
            return check_fail(c, "write 'just' in a value of type '%s'", type);
        reg_buffer_puts(out, "just ");
        return print_node(c, out, inner, type + 1);
    }
    switch (t) {
    case 'b':
        if (node->kind != NODE_BOOL)
            return check_fail(c, "expected true or false");
        reg_buffer_puts(out, node->token[0] == 't' ? "true" : "false");
        return 0;
    case 'y': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'h':
        if (node->kind != NODE_NUMBER)
            return check_fail(c, "expected a number");
        return print_integer(c, out, node, t);
    case 'd': {
        double value;
        if (node->kind != NODE_NUMBER || double_value(&value, node->token, node->token_length) < 0)
            return check_fail(c, "expected a double");
        print_double(out, value);
        return 0;
    }
    case 's': case 'o': case 'g': {
        if (node->kind != NODE_STRING)
            return check_fail(c, "expected a quoted string");
        struct reg_buffer *s = &c->scratch;
        s->length = 0;
        if (decode_quoted(s, node->token, node->token_length, 0, c->message, sizeof c->message) < 0)
            return -1;
        const char *data = s->data ? s->data : "";
        if (!reg_utf8_valid(data, s->length))
            return check_fail(c, "a string that is not UTF-8");
        if (t == 'o' && !object_path_valid(data, s->length))
            return check_fail(c, "'%.60s' is not an object path", data);
        if (t == 'g' && !signature_valid(data, s->length))
            return check_fail(c, "'%.60s' is not a signature", data);
        print_string(out, data, s->length);
        return 0;
    }
    case 'v': {
        if (node->kind != NODE_VARIANT)
            return check_fail(c, "expected a variant '<...>'");
        char inner[VIAL_REG_TYPE_MAX + 1];
        if (infer(c, inner, node->children[0], 1) < 0)
            return -1;
        struct reg_buffer text;
        reg_buffer_init(&text, VIAL_REG_TEXT_MAX);
        int rc = print_node(c, &text, node->children[0], inner);
        if (rc == 0) {
            /* annotate when the plain text would infer another type */
            struct vial_reg_value plain = {inner, text.data ? text.data : (char *)""};
            char *annotated = NULL;
            if (vial_reg_value_format(&annotated, &plain) < 0) {
                rc = check_fail(c, "%s", vial_error_last());
            } else {
                reg_buffer_puts(out, "<");
                reg_buffer_puts(out, annotated);
                reg_buffer_puts(out, ">");
            }
            free(annotated);
        }
        reg_buffer_free(&text);
        return rc;
    }
    case 'a': {
        if (type[1] == 'y' && node->kind == NODE_BYTESTRING) {
            struct reg_buffer *s = &c->scratch;
            s->length = 0;
            if (decode_quoted(s, node->token + 1, node->token_length - 1, 1, c->message,
                              sizeof c->message) < 0)
                return -1;
            reg_buffer_puts(out, "[");
            for (size_t i = 0; i <= s->length; i++) /* b'' carries its NUL */
                reg_buffer_printf(out, "%s0x%02x", i ? ", " : "",
                                  i < s->length ? (unsigned char)s->data[i] : 0u);
            reg_buffer_puts(out, "]");
            return 0;
        }
        if (type[1] == '{') {
            if (node->kind == NODE_DICT) {
                reg_buffer_puts(out, "{");
                for (size_t i = 0; i + 1 < node->child_count; i += 2) {
                    if (i)
                        reg_buffer_puts(out, ", ");
                    if (print_node(c, out, node->children[i], type + 2) < 0)
                        return -1;
                    reg_buffer_puts(out, ": ");
                    if (print_node(c, out, node->children[i + 1], type + 3) < 0)
                        return -1;
                }
                reg_buffer_puts(out, "}");
                return 0;
            }
            if (node->kind != NODE_ARRAY)
                return check_fail(c, "expected a dictionary '{...}'");
            /* an array of dict entries: printed as the dictionary it is */
            reg_buffer_puts(out, "{");
            for (size_t i = 0; i < node->child_count; i++) {
                const struct node *entry = node->children[i];
                while (entry->kind == NODE_TYPED)
                    entry = entry->children[0];
                if (entry->kind != NODE_ENTRY)
                    return check_fail(c, "expected a dict entry '{k, v}'");
                if (i)
                    reg_buffer_puts(out, ", ");
                if (print_node(c, out, entry->children[0], type + 2) < 0)
                    return -1;
                reg_buffer_puts(out, ": ");
                if (print_node(c, out, entry->children[1], type + 3) < 0)
                    return -1;
            }
            reg_buffer_puts(out, "}");
            return 0;
        }
        if (node->kind != NODE_ARRAY)
            return check_fail(c, "expected an array '[...]'");
        reg_buffer_puts(out, "[");
        for (size_t i = 0; i < node->child_count; i++) {
            if (i)
                reg_buffer_puts(out, ", ");
            if (print_node(c, out, node->children[i], type + 1) < 0)
                return -1;
        }
        reg_buffer_puts(out, "]");
        return 0;
    }
    case '(': {
        if (node->kind != NODE_TUPLE)
            return check_fail(c, "expected a tuple '(...)'");
        reg_buffer_puts(out, "(");
        const char *element = type + 1;
        for (size_t i = 0; i < node->child_count; i++) {
            if (*element == ')')
                return check_fail(c, "a tuple with too many elements for '%.60s'", type);
            if (i)
                reg_buffer_puts(out, ", ");
            if (print_node(c, out, node->children[i], element) < 0)
                return -1;
            element += type_length(element, 0);
        }
        if (*element != ')')
            return check_fail(c, "a tuple with too few elements for '%.60s'", type);
        reg_buffer_puts(out, node->child_count == 1 ? ",)" : ")");
        return 0;
    }
    case '{': {
        if (node->kind != NODE_ENTRY)
            return check_fail(c, "expected a dict entry '{k, v}'");
        reg_buffer_puts(out, "{");
        if (print_node(c, out, node->children[0], type + 1) < 0)
            return -1;
        reg_buffer_puts(out, ", ");
        if (print_node(c, out, node->children[1], type + 2) < 0)
            return -1;
        reg_buffer_puts(out, "}");
        return 0;
    }
    default:
        return check_fail(c, "unknown type '%c'", t);
    }
}

/* ----------------------------------------------------------- public API */

static int value_make(struct vial_reg_value **out, const char *type, char *text)
{
    struct vial_reg_value *value = malloc(sizeof *value);
    char *type_copy_ = strdup(type);
    if (!value || !type_copy_ || !text) {
        free(value);
        free(type_copy_);
        free(text);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    value->type = type_copy_;
    value->text = text;
    *out = value;
    return 0;
}

int vial_reg_value_parse(struct vial_reg_value **out, const char *type, const char *text)
{
    *out = NULL;
    if (type && vial_reg_type_valid(type) < 0)
        return VIAL_EVALUE;
    size_t length = strlen(text);
    if (length > VIAL_REG_TEXT_MAX)
        return vial_error_set(VIAL_EVALUE, "a value of %zu bytes (at most %u)", length,
                              VIAL_REG_TEXT_MAX);
    struct parser p = {.text = text, .length = length};
    struct node *root = parse_value(&p, 0);
    skip_space(&p);
    if (!p.error && p.at < p.length)
        parse_fail(&p, "offset %zu: text after the value", p.at);
    if (p.error) {
        node_free(root);
        if (type)
            return vial_error_set(VIAL_EVALUE, "not a value of type '%.64s': %s", type, p.message);
        return vial_error_set(VIAL_EVALUE, "%s", p.message);
    }
    struct checker c = {0};
    reg_buffer_init(&c.scratch, VIAL_REG_TEXT_MAX);
    char inferred[VIAL_REG_TYPE_MAX + 1];
    struct reg_buffer printed;
    reg_buffer_init(&printed, VIAL_REG_TEXT_MAX);
    int rc = 0;
    if (!type) {
        if (infer(&c, inferred, root, 0) < 0)
            rc = -1;
        type = rc < 0 ? "(inferred)" : inferred;
    }
    if (rc == 0 && print_node(&c, &printed, root, type) < 0)
        rc = -1;
    node_free(root);
    reg_buffer_free(&c.scratch);
    if (rc < 0 || printed.failed) {
        reg_buffer_free(&printed);
        return vial_error_set(VIAL_EVALUE, "not a value of type '%.64s': %s", type,
                              c.message[0] ? c.message : "too large");
    }
    return value_make(out, type, reg_buffer_take(&printed));
}

int vial_reg_value_string(struct vial_reg_value **out, const char *text)
{
    *out = NULL;
    size_t length = strlen(text);
    if (length > VIAL_REG_TEXT_MAX - 2 || !reg_utf8_valid(text, length))
        return vial_error_set(VIAL_EVALUE, "a string that is too long or not UTF-8");
    struct reg_buffer printed;
    reg_buffer_init(&printed, VIAL_REG_TEXT_MAX);
    print_string(&printed, text, length);
    if (printed.failed) {
        reg_buffer_free(&printed);
        return vial_error_set(VIAL_EVALUE, "a string that is too long once quoted");
    }
    return value_make(out, "s", reg_buffer_take(&printed));
}

int vial_reg_value_parse_lenient(struct vial_reg_value **out, const char *type, const char *text)
{
    int rc = vial_reg_value_parse(out, type, text);
    if (rc == 0 || (type && strcmp(type, "s") != 0))
        return rc;
    /* a bare word where a string is wanted is the string itself */
    return vial_reg_value_string(out, text);
}

int vial_reg_value_get_string(char **out, const struct vial_reg_value *value)
{
    *out = NULL;
    const char *t = value->type;
    if (!(t[0] == 's' || t[0] == 'o' || t[0] == 'g') || t[1])
        return vial_error_set(VIAL_EVALUE, "a value of type '%s', not a string", t);
    struct reg_buffer decoded;
    char message[200] = "";
    reg_buffer_init(&decoded, VIAL_REG_TEXT_MAX);
    /* the canonical text is exactly one quoted string */
    if (decode_quoted(&decoded, value->text, strlen(value->text), 0, message, sizeof message) < 0) {
        reg_buffer_free(&decoded);
        return vial_error_set(VIAL_EVALUE, "a damaged string value: %s", message);
    }
    *out = reg_buffer_take(&decoded);
    return *out ? 0 : vial_error_set(-ENOMEM, "out of memory");
}

int vial_reg_value_get_bool(int *out, const struct vial_reg_value *value)
{
    if (strcmp(value->type, "b") != 0)
        return vial_error_set(VIAL_EVALUE, "a value of type '%s', not a boolean", value->type);
    *out = strcmp(value->text, "true") == 0;
    return 0;
}

int vial_reg_value_format(char **out, const struct vial_reg_value *value)
{
    *out = NULL;
    struct vial_reg_value *plain = NULL;
    int same = vial_reg_value_parse(&plain, NULL, value->text) == 0 &&
               strcmp(plain->type, value->type) == 0;
    vial_reg_value_free(plain);
    const char *keyword = NULL;
    for (size_t i = 0; i < sizeof keyword_types / sizeof keyword_types[0]; i++)
        if (strcmp(keyword_types[i].type, value->type) == 0)
            keyword = keyword_types[i].word;
    struct reg_buffer text;
    reg_buffer_init(&text, VIAL_REG_TEXT_MAX + VIAL_REG_TYPE_MAX + 16);
    if (!same) {
        if (keyword)
            reg_buffer_printf(&text, "%s ", keyword);
        else
            reg_buffer_printf(&text, "@%s ", value->type);
    }
    reg_buffer_puts(&text, value->text);
    *out = reg_buffer_take(&text);
    return *out ? 0 : vial_error_set(-ENOMEM, "out of memory");
}

int vial_reg_value_equal(const struct vial_reg_value *a, const struct vial_reg_value *b)
{
    return strcmp(a->type, b->type) == 0 && strcmp(a->text, b->text) == 0;
}

int vial_reg_value_copy(struct vial_reg_value **out, const struct vial_reg_value *value)
{
    *out = NULL;
    char *text = strdup(value->text);
    return value_make(out, value->type, text);
}

void vial_reg_value_free(struct vial_reg_value *value)
{
    if (!value)
        return;
    free(value->type);
    free(value->text);
    free(value);
}

/* ------------------------------------------------------------------ names */

int vial_reg_name_valid(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > VIAL_REG_NAME_MAX)
        return vial_error_set(VIAL_EVALUE, "a name must have 1 to %u bytes", VIAL_REG_NAME_MAX);
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return vial_error_set(VIAL_EVALUE, "'%s' is not a name", name);
    if (strchr("-[#; ", name[0]) || name[length - 1] == ' ')
        return vial_error_set(VIAL_EVALUE,
                              "'%.64s': a name may not start with '-', '[', '#', ';' or a space, "
                              "nor end with a space",
                              name);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c == '=' || c < 0x20 || c == 0x7f)
            return vial_error_set(VIAL_EVALUE, "'%.64s': a name may not hold '/', '=' or control characters",
                                  name);
    }
    if (!reg_utf8_valid(name, length))
        return vial_error_set(VIAL_EVALUE, "a name that is not UTF-8");
    return 0;
}

int vial_reg_key_valid(const char *key)
{
    size_t length = strlen(key);
    if (length == 0 || length > VIAL_REG_KEY_MAX)
        return vial_error_set(VIAL_EVALUE, "a key path must have 1 to %u bytes", VIAL_REG_KEY_MAX);
    char component[VIAL_REG_NAME_MAX + 1];
    for (const char *p = key;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || n > VIAL_REG_NAME_MAX)
            return vial_error_set(VIAL_EVALUE, "key '%.64s' has an empty or too long component", key);
        memcpy(component, p, n);
        component[n] = '\0';
        if (vial_reg_name_valid(component) < 0)
            return vial_error_prefix(VIAL_EVALUE, "key '%.64s'", key);
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

int vial_reg_path_split(char *key, char *name, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return vial_error_set(VIAL_EVALUE, "'%.64s' is not KEY/NAME", path);
    size_t key_length = (size_t)(slash - path);
    if (key_length > VIAL_REG_KEY_MAX || strlen(slash + 1) > VIAL_REG_NAME_MAX)
        return vial_error_set(VIAL_EVALUE, "'%.64s' is too long", path);
    memcpy(key, path, key_length);
    key[key_length] = '\0';
    strcpy(name, slash + 1);
    if (vial_reg_key_valid(key) < 0 || vial_reg_name_valid(name) < 0)
        return VIAL_EVALUE;
    return 0;
}
