/* Unit tests of the registry core (registry-shim/): names, typed values,
 * hives and their two forms, layering, persistence, concurrent writers and
 * the environment shim. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry.h"
#include "testlib.h"

/* ------------------------------------------------------------------ names */

Test(registry, names_and_key_paths)
{
    char long_name[300];
    memset(long_name, 'n', sizeof long_name);
    long_name[255] = '\0';
    cr_expect_eq(vial_reg_name_valid("clock-format"), 0);
    cr_expect_eq(vial_reg_name_valid(long_name), 0, "255 bytes");
    long_name[255] = 'n';
    long_name[256] = '\0';
    cr_expect_neq(vial_reg_name_valid(long_name), 0, "256 bytes");
    const char *bad[] = {"", ".", "..", "a/b", "a=b", "-x", "[x", "#x", ";x", " x", "x ", "a\tb", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(vial_reg_name_valid(bad[i]), VIAL_EVALUE, "'%s' accepted", bad[i]);
    cr_expect_eq(vial_reg_key_valid("gsettings/org/gnome"), 0);
    cr_expect_eq(vial_reg_key_valid("terminal/profiles:/:b1dcc9dd"), 0, "dconf paths hold colons");
    const char *bad_keys[] = {"", "/a", "a/", "a//b", "a/../b"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++)
        cr_expect_eq(vial_reg_key_valid(bad_keys[i]), VIAL_EVALUE, "'%s' accepted", bad_keys[i]);
    char key[VIAL_REG_KEY_MAX + 1], name[VIAL_REG_NAME_MAX + 1];
    cr_assert_eq(vial_reg_path_split(key, name, "env/prepend/PATH"), 0);
    cr_expect_str_eq(key, "env/prepend");
    cr_expect_str_eq(name, "PATH");
    cr_expect_eq(vial_reg_path_split(key, name, "lonely"), VIAL_EVALUE);
}

Test(registry, gvariant_type_strings)
{
    const char *good[] = {"s", "as", "a{sv}", "(ii)", "()", "mv", "a(sa{sv})", "{sv}", "ay", "mmi"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect_eq(vial_reg_type_valid(good[i]), 0, "'%s' refused", good[i]);
    const char *bad[] = {"", "a", "(", "(i", "a{vs}", "a{s}", "a{sii}", "r", "*", "?", "z", "ss"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(vial_reg_type_valid(bad[i]), VIAL_EVALUE, "'%s' accepted", bad[i]);
    char deep[200];
    memset(deep, 'a', 70);
    strcpy(deep + 70, "s");
    cr_expect_eq(vial_reg_type_valid(deep), VIAL_EVALUE, "70 nested arrays");
}

/* ----------------------------------------------------------------- values */

struct value_case {
    const char *type; /* NULL: inferred */
    const char *text;
    const char *want_type;
    const char *canonical;
};

static const struct value_case value_cases[] = {
    {NULL, "5", "i", "5"},
    {NULL, "5.0", "d", "5.0"},
    {NULL, "true", "b", "true"},
    {NULL, "'x'", "s", "'x'"},
    {NULL, "\"it's\"", "s", "'it\\'s'"},
    {NULL, "'\\u00e9\\n\\t'", "s", "'\xc3\xa9\\n\\t'"},
    {NULL, "[1, 2.5]", "ad", "[1.0, 2.5]"},
    {NULL, "{'a': 1}", "a{si}", "{'a': 1}"},
    {NULL, "(1, 'x')", "(is)", "(1, 'x')"},
    {NULL, "(1,)", "(i)", "(1,)"},
    {NULL, "()", "()", "()"},
    {NULL, "uint32 5", "u", "5"},
    {NULL, "int64 -9223372036854775808", "x", "-9223372036854775808"},
    {NULL, "byte 0x41", "y", "0x41"},
    {NULL, "@as []", "as", "[]"},
    {NULL, "@mi nothing", "mi", "nothing"},
    {NULL, "just 5", "mi", "just 5"},
    {NULL, "<5>", "v", "<5>"},
    {NULL, "<uint16 7>", "v", "<uint16 7>"},
    {NULL, "b'ab'", "ay", "[0x61, 0x62, 0x00]"},
    {NULL, "objectpath '/org/x'", "o", "'/org/x'"},
    {"t", "18446744073709551615", "t", "18446744073709551615"},
    {"n", "-32768", "n", "-32768"},
    {"q", "0xffff", "q", "65535"},
    {"d", "0.1", "d", "0.1"},
    {"d", "1e300", "d", "1e+300"},
    {"d", "-0.0", "d", "-0.0"},
    {"d", "inf", "d", "inf"},
    {"d", "nan", "d", "nan"},
    {"d", "3", "d", "3.0"},
    {"mi", "5", "mi", "just 5"},
    {"a{sv}", "{}", "a{sv}", "{}"},
    {"a{sv}", "[{'k', <1>}]", "a{sv}", "{'k': <1>}"},
    {"a(ii)", "[(1,2), (3 ,4)]", "a(ii)", "[(1, 2), (3, 4)]"},
    {"g", "'a{sv}'", "g", "'a{sv}'"},
    {"ay", "[1, 0x2]", "ay", "[0x01, 0x02]"},
    {"v", "<[<'a'>, <@mi nothing>]>", "v", "<[<'a'>, <@mi nothing>]>"},
};

static void check_value_case(const struct value_case *c)
{
    struct vial_reg_value *v = NULL, *again = NULL, *inferred = NULL;
    cr_assert_eq(vial_reg_value_parse(&v, c->type, c->text), 0, "%s: %s", c->text, vial_error_last());
    cr_expect_str_eq(v->type, c->want_type, "%s", c->text);
    cr_expect_str_eq(v->text, c->canonical, "%s", c->text);
    /* canonical: parsing it again changes nothing */
    cr_assert_eq(vial_reg_value_parse(&again, v->type, v->text), 0, "%s", vial_error_last());
    cr_expect(vial_reg_value_equal(v, again), "%s reparsed to %s", v->text, again->text);
    /* formatted, it says its own type */
    char *formatted = NULL;
    cr_assert_eq(vial_reg_value_format(&formatted, v), 0);
    cr_assert_eq(vial_reg_value_parse(&inferred, NULL, formatted), 0, "%s: %s", formatted, vial_error_last());
    cr_expect(vial_reg_value_equal(v, inferred), "%s came back as %s %s", formatted, inferred->type,
              inferred->text);
    free(formatted);
    vial_reg_value_free(v);
    vial_reg_value_free(again);
    vial_reg_value_free(inferred);
}

/* (a loop, not a parameterized test: Criterion's parameters cannot carry
 * pointers into a re-executed test process) */
Test(registry, values_parse_to_their_canonical_text)
{
    for (size_t i = 0; i < sizeof value_cases / sizeof value_cases[0]; i++)
        check_value_case(&value_cases[i]);
}

Test(registry, values_that_do_not_fit_are_refused)
{
    struct { const char *type, *text; } bad[] = {
        {"n", "32768"}, {"u", "-1"}, {"y", "256"}, {"t", "18446744073709551616"}, {"i", "1.5"},
        {"b", "1"},     {"s", "'x"}, {"s", "'\\xff'"}, {"s", "'\\u0000'"}, {"o", "'a/b'"},
        {"g", "'a{'"},  {"(ii)", "(1,)"}, {"(i)", "(1, 2)"}, {"as", "[1]"}, {"mmi", "5"},
        {NULL, "[]"},   {NULL, "nothing"}, {NULL, "{1: 2, 'a': 3}"}, {NULL, "5 6"}, {NULL, ""},
        {NULL, "[1,]"}, {NULL, "<>"}, {NULL, "@ 5"}, {NULL, "@a 5"}, {NULL, "{<1>: 2}"}, {NULL, "frob"},
        {"d", "0x1p3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vial_reg_value *v = NULL;
        int rc = vial_reg_value_parse(&v, bad[i].type, bad[i].text);
        cr_expect_eq(rc, VIAL_EVALUE, "'%s' as %s gave %d (%s)", bad[i].text, bad[i].type ? bad[i].type : "?",
                     rc, v ? v->text : "");
        cr_expect_null(v);
        vial_reg_value_free(v);
    }
    char deep[300] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    strcat(deep, "1");
    for (int i = 0; i < 70; i++)
        strcat(deep, "]");
    struct vial_reg_value *v = NULL;
    cr_expect_eq(vial_reg_value_parse(&v, NULL, deep), VIAL_EVALUE, "70 nested arrays");
}

Test(registry, strings_and_lenient_text)
{
    struct vial_reg_value *v = NULL;
    char *s = NULL;
    cr_assert_eq(vial_reg_value_string(&v, "it's a \"test\"\n"), 0);
    cr_assert_eq(vial_reg_value_get_string(&s, v), 0);
    cr_expect_str_eq(s, "it's a \"test\"\n");
    free(s);
    vial_reg_value_free(v);
    cr_assert_eq(vial_reg_value_parse_lenient(&v, "s", "vim -u NONE"), 0);
    cr_expect_str_eq(v->text, "'vim -u NONE'");
    vial_reg_value_free(v);
    cr_assert_eq(vial_reg_value_parse_lenient(&v, "s", "'quoted'"), 0);
    cr_expect_str_eq(v->text, "'quoted'");
    vial_reg_value_free(v);
    cr_expect_eq(vial_reg_value_parse_lenient(&v, "u", "many"), VIAL_EVALUE);
    int flag = -1;
    cr_assert_eq(vial_reg_value_parse(&v, NULL, "true"), 0);
    cr_assert_eq(vial_reg_value_get_bool(&flag, v), 0);
    cr_expect_eq(flag, 1);
    cr_expect_eq(vial_reg_value_get_string(&s, v), VIAL_EVALUE);
    vial_reg_value_free(v);
}

/* ------------------------------------------------------------------ hives */

static struct vial_reg_value *value(const char *text)
{
    struct vial_reg_value *v = NULL;
    cr_assert_eq(vial_reg_value_parse(&v, NULL, text), 0, "%s: %s", text, vial_error_last());
    return v;
}

static void put(struct vial_hive *hive, const char *key, const char *name, const char *text)
{
    struct vial_reg_value *v = value(text);
    cr_assert_eq(vial_hive_put(hive, key, name, v), 0, "%s", vial_error_last());
    vial_reg_value_free(v);
}

static struct vial_hive *sample_hive(void)
{
    struct vial_hive *hive = NULL;
    cr_assert_eq(vial_hive_new(&hive), 0);
    put(hive, "gsettings/org/x", "b", "uint32 5");
    put(hive, "gsettings/org/x", "a", "'text'");
    put(hive, "env", "PATH", "'/opt/x/bin'");
    put(hive, "gsettings/org/x/deeper", "c", "{'k': <[1, 2]>}");
    cr_assert_eq(vial_hive_delete(hive, "gsettings/org/y", NULL), 0);
    cr_assert_eq(vial_hive_delete(hive, "env", "OLD"), 0);
    return hive;
}

struct walk {
    char text[2048];
};

static int describe(const struct vial_reg_record *r, void *payload)
{
    struct walk *w = payload;
    size_t n = strlen(w->text);
    snprintf(w->text + n, sizeof w->text - n, "%d:%s:%s:%s|", (int)r->kind, r->key, r->name,
             r->value ? r->value->text : "");
    return 0;
}

static void describe_hive(char *out, size_t size, const struct vial_hive *hive)
{
    struct walk w = {""};
    vial_hive_foreach(hive, describe, &w);
    snprintf(out, size, "%s", w.text);
}

Test(registry, hive_records_are_ordered_and_markers_drop_what_is_below)
{
    struct vial_hive *hive = sample_hive();
    char text[2048];
    describe_hive(text, sizeof text, hive);
    cr_expect_str_eq(text, "2:env:OLD:|1:env:PATH:'/opt/x/bin'|1:gsettings/org/x:a:'text'|"
                           "1:gsettings/org/x:b:5|1:gsettings/org/x/deeper:c:{'k': <[1, 2]>}|"
                           "3:gsettings/org/y::|");
    cr_assert_eq(vial_hive_delete(hive, "gsettings/org/x", NULL), 0);
    put(hive, "gsettings/org/x/deeper", "new", "1");
    describe_hive(text, sizeof text, hive);
    cr_expect_str_eq(text, "2:env:OLD:|1:env:PATH:'/opt/x/bin'|3:gsettings/org/x::|"
                           "1:gsettings/org/x/deeper:new:1|3:gsettings/org/y::|");
    vial_hive_free(hive);
}

Test(registry, binary_hives_round_trip_byte_for_byte)
{
    struct vial_hive *hive = sample_hive(), *back = NULL;
    void *bytes = NULL, *again = NULL;
    size_t size = 0, again_size = 0;
    cr_assert_eq(vial_hive_serialize(&bytes, &size, hive), 0);
    cr_assert_eq(vial_hive_load(&back, bytes, size), 0, "%s", vial_error_last());
    cr_assert_eq(vial_hive_serialize(&again, &again_size, back), 0);
    cr_assert_eq(size, again_size);
    cr_expect(memcmp(bytes, again, size) == 0);
    char a[2048], b[2048];
    describe_hive(a, sizeof a, hive);
    describe_hive(b, sizeof b, back);
    cr_expect_str_eq(a, b);
    free(bytes);
    free(again);
    vial_hive_free(hive);
    vial_hive_free(back);
}

Test(registry, damaged_binary_hives_are_refused_never_read)
{
    struct vial_hive *hive = sample_hive(), *back = NULL;
    unsigned char *bytes = NULL;
    size_t size = 0;
    cr_assert_eq(vial_hive_serialize((void **)&bytes, &size, hive), 0);
    for (size_t cut = 0; cut < size; cut++) {
        cr_assert_eq(vial_hive_load(&back, bytes, cut), VIAL_EHIVE, "cut at %zu loaded", cut);
        cr_assert_null(back);
    }
    for (size_t at = 0; at < size; at++) {
        bytes[at] ^= 0x20;
        cr_assert_eq(vial_hive_load(&back, bytes, size), VIAL_EHIVE, "byte %zu flipped loaded", at);
        bytes[at] ^= 0x20;
    }
    cr_assert_eq(vial_hive_load(&back, bytes, size), 0);
    vial_hive_free(back);
    free(bytes);
    vial_hive_free(hive);
}

/* A hive of one value record with the given text, its checksum right, so
 * that only the record's content is wrong. */
static size_t forge(unsigned char *out, const char *key, const char *name, const char *type,
                    const char *text, int records)
{
    size_t at = 56;
    for (int r = 0; r < records; r++) {
        size_t k = strlen(key), n = strlen(name), t = strlen(type), x = strlen(text);
        unsigned char h[12] = {1, 0, (unsigned char)k, 0, (unsigned char)n, 0, (unsigned char)t, 0,
                               (unsigned char)x, 0, 0, 0};
        memcpy(out + at, h, 12);
        at += 12;
        memcpy(out + at, key, k), at += k;
        memcpy(out + at, name, n), at += n;
        memcpy(out + at, type, t), at += t;
        memcpy(out + at, text, x), at += x;
    }
    memcpy(out, "VIALHIV1", 8);
    uint32_t count = (uint32_t)records, zero = 0;
    uint64_t body = at - 56;
    memcpy(out + 8, &count, 4);
    memcpy(out + 12, &zero, 4);
    memcpy(out + 16, &body, 8);
    vial_hash(out + 24, out + 56, body);
    return at;
}

Test(registry, forged_hives_with_a_right_checksum_are_still_checked)
{
    unsigned char bytes[1024];
    struct vial_hive *hive = NULL;
    size_t size = forge(bytes, "k", "n", "s", "'ok'", 1);
    cr_assert_eq(vial_hive_load(&hive, bytes, size), 0, "%s", vial_error_last());
    vial_hive_free(hive);
    hive = NULL;
    size = forge(bytes, "k", "n", "u", "0x05", 1); /* not canonical */
    cr_expect_eq(vial_hive_load(&hive, bytes, size), VIAL_EHIVE);
    size = forge(bytes, "k", "n", "s", "'ok'", 2); /* the same record twice */
    cr_expect_eq(vial_hive_load(&hive, bytes, size), VIAL_EHIVE);
    cr_expect(strstr(vial_error_last(), "out of order or repeated"), "%s", vial_error_last());
    size = forge(bytes, "k/", "n", "s", "'ok'", 1);
    cr_expect_eq(vial_hive_load(&hive, bytes, size), VIAL_EHIVE);
    size = forge(bytes, "k", "n", "a{vs}", "{}", 1);
    cr_expect_eq(vial_hive_load(&hive, bytes, size), VIAL_EHIVE);
    cr_expect_null(hive);
}

Test(registry, text_hives_round_trip_and_name_their_faults)
{
    struct vial_hive *hive = sample_hive(), *back = NULL;
    char *text = NULL, *again = NULL;
    cr_assert_eq(vial_hive_format_text(&text, hive), 0);
    cr_assert_eq(vial_hive_parse_text(&back, text, strlen(text)), 0, "%s\n%s", vial_error_last(), text);
    cr_assert_eq(vial_hive_format_text(&again, back), 0);
    cr_expect_str_eq(text, again);
    cr_expect(strstr(text, "b = uint32 5\n"), "%s", text);
    cr_expect(strstr(text, "[-gsettings/org/y]\n"), "%s", text);
    cr_expect(strstr(text, "-OLD\n"), "%s", text);
    free(text);
    free(again);
    vial_hive_free(back);
    vial_hive_free(hive);
    struct { const char *text, *message; } bad[] = {
        {"x = 1\n", "line 1: a value outside any [KEY]"},
        {"[k]\n\n# c\nx = [1,\n", "line 4: 'x'"},
        {"[k]\nx = 1\nx = 2\n", "line 3: 'x' given twice"},
        {"[k/]\n", "line 1"},
        {"[k\n", "line 1: a section header without ']'"},
        {"[k]\njunk\n", "line 2: expected NAME = VALUE"},
        {"[k]\n-bad/name\n", "line 2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(vial_hive_parse_text(&back, bad[i].text, strlen(bad[i].text)), VIAL_EVALUE, "%s",
                     bad[i].text);
        cr_expect(strstr(vial_error_last(), bad[i].message), "'%s' gave '%s'", bad[i].text, vial_error_last());
    }
    const char crlf[] = "\xef\xbb\xbf; comment\r\n[k]\r\n  x  =  'y'  \r\n";
    cr_assert_eq(vial_hive_parse_text(&back, crlf, strlen(crlf)), 0, "%s", vial_error_last());
    cr_expect_eq(vial_hive_count(back), 1);
    vial_hive_free(back);
}

/* --------------------------------------------------------------- registry */

struct fixture {
    char *dir;
    char delta[4096];
    struct vial_hive *package, *defaults;
};

static void fixture_init(struct fixture *f)
{
    f->dir = testlib_mkdtemp("registry");
    snprintf(f->delta, sizeof f->delta, "%s/registry.hive", f->dir);
    cr_assert_eq(vial_hive_new(&f->package), 0);
    cr_assert_eq(vial_hive_new(&f->defaults), 0);
    put(f->package, "app", "color", "'blue'");
    put(f->package, "app", "size", "uint32 10");
    put(f->package, "app/window", "width", "800");
    put(f->defaults, "app", "color", "'black'");
    put(f->defaults, "app", "font", "'mono'");
}

static void fixture_free(struct fixture *f)
{
    vial_hive_free(f->package);
    vial_hive_free(f->defaults);
    testlib_rm_rf(f->dir);
    free(f->dir);
}

static struct vial_reg *open_reg(struct fixture *f)
{
    struct vial_reg *reg = NULL;
    const struct vial_hive *layers[] = {f->package};
    cr_assert_eq(vial_reg_open(&reg, f->delta, layers, 1, f->defaults), 0, "%s", vial_error_last());
    return reg;
}

static char *get_text(struct vial_reg *reg, enum vial_reg_layer layer, const char *key, const char *name)
{
    struct vial_reg_value *v = NULL;
    if (vial_reg_get(&v, NULL, reg, layer, key, name) < 0)
        return NULL;
    char *text = strdup(v->text);
    vial_reg_value_free(v);
    return text;
}

static void expect_value(struct vial_reg *reg, enum vial_reg_layer layer, const char *key,
                         const char *name, const char *want, int line)
{
    char *got = get_text(reg, layer, key, name);
    if (want)
        cr_expect(got && strcmp(got, want) == 0, "line %d: %s/%s: got %s, want %s", line, key, name,
                  got ? got : "(none)", want);
    else
        cr_expect_null(got, "line %d: %s/%s: got %s, want none", line, key, name, got);
    free(got);
}
#define EXPECT_VALUE(reg, layer, key, name, want) expect_value(reg, layer, key, name, want, __LINE__)

Test(registry, layers_user_over_package_over_defaults)
{
    struct fixture f;
    fixture_init(&f);
    struct vial_reg *reg = open_reg(&f);
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app", "color", "'blue'");
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app", "font", "'mono'");
    EXPECT_VALUE(reg, VIAL_REG_LAYER_DEFAULTS, "app", "color", "'black'");
    struct vial_reg_value *red = value("'red'");
    cr_assert_eq(vial_reg_set(reg, "app", "color", red), 0, "%s", vial_error_last());
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app", "color", "'red'");
    EXPECT_VALUE(reg, VIAL_REG_LAYER_PACKAGE, "app", "color", "'blue'");
    EXPECT_VALUE(reg, VIAL_REG_LAYER_USER, "app", "color", "'red'");
    /* a value marker hides the lower layers' value */
    cr_assert_eq(vial_reg_delete(reg, "app", "font"), 0);
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app", "font", NULL);
    struct vial_reg_value *v = NULL;
    int deleted = 0;
    cr_expect_eq(vial_reg_get(&v, &deleted, reg, VIAL_REG_LAYER_USER, "app", "font"), -ENOENT);
    cr_expect_eq(deleted, 1);
    /* a key marker hides everything below; a value set after it shows */
    cr_assert_eq(vial_reg_delete(reg, "app", NULL), 0);
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app", "color", NULL);
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app/window", "width", NULL);
    cr_assert_eq(vial_reg_set(reg, "app/window", "width", red), 0);
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app/window", "width", "'red'");
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app", "size", NULL);
    /* forgetting the user's changes brings the package back */
    cr_assert_eq(vial_reg_revert(reg, "", NULL), 0);
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app", "color", "'blue'");
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app/window", "width", "800");
    cr_expect_eq(vial_reg_delete(reg, "app", "nothing-here"), -ENOENT);
    cr_expect_eq(vial_reg_delete(reg, "nokey", NULL), -ENOENT);
    vial_reg_value_free(red);
    vial_reg_close(reg);
    fixture_free(&f);
}

struct listed {
    char text[1024];
};

static int list_item(const struct vial_reg_item *item, void *payload)
{
    struct listed *l = payload;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s%s%s%s|", item->deleted ? "-" : "", item->name,
             item->is_key ? "/" : "", item->value ? item->value->text : "");
    return 0;
}

static const char *listing(struct vial_reg *reg, enum vial_reg_layer layer, const char *key)
{
    static struct listed l;
    l.text[0] = '\0';
    cr_assert_geq(vial_reg_list(reg, layer, key, list_item, &l), 0, "%s", vial_error_last());
    return l.text;
}

Test(registry, listings_give_subkeys_then_values_in_byte_order_per_layer)
{
    struct fixture f;
    fixture_init(&f);
    struct vial_reg *reg = open_reg(&f);
    struct vial_reg_value *one = value("1");
    cr_assert_eq(vial_reg_set(reg, "app", "Zed", one), 0);
    cr_assert_eq(vial_reg_set(reg, "app/extra", "x", one), 0);
    cr_expect_str_eq(listing(reg, VIAL_REG_LAYER_ALL, "app"),
                     "extra/|window/|Zed1|color'blue'|font'mono'|size10|");
    cr_expect_str_eq(listing(reg, VIAL_REG_LAYER_ALL, ""), "app/|");
    cr_assert_eq(vial_reg_delete(reg, "app", "color"), 0);
    cr_assert_eq(vial_reg_delete(reg, "app/window", NULL), 0);
    cr_expect_str_eq(listing(reg, VIAL_REG_LAYER_ALL, "app"), "extra/|Zed1|font'mono'|size10|");
    cr_expect_str_eq(listing(reg, VIAL_REG_LAYER_USER, "app"), "extra/|-window/|Zed1|-color|");
    cr_expect_str_eq(listing(reg, VIAL_REG_LAYER_PACKAGE, "app"), "window/|color'blue'|size10|");
    cr_expect_eq(vial_reg_list(reg, VIAL_REG_LAYER_ALL, "app/window", NULL, NULL), 0,
                 "a key whose values are all hidden has no items");
    struct vial_hive *snapshot = NULL;
    char *text = NULL;
    cr_assert_eq(vial_reg_snapshot(&snapshot, reg, VIAL_REG_LAYER_USER, ""), 0);
    cr_assert_eq(vial_hive_format_text(&text, snapshot), 0);
    cr_expect_str_eq(text, "[app]\nZed = 1\n-color\n\n[app/extra]\nx = 1\n\n[-app/window]\n");
    free(text);
    vial_hive_free(snapshot);
    cr_assert_eq(vial_reg_snapshot(&snapshot, reg, VIAL_REG_LAYER_ALL, "app"), 0);
    cr_assert_eq(vial_hive_format_text(&text, snapshot), 0);
    cr_expect_str_eq(text, "[app]\nZed = 1\nfont = 'mono'\nsize = uint32 10\n\n[app/extra]\nx = 1\n");
    free(text);
    vial_hive_free(snapshot);
    vial_reg_value_free(one);
    vial_reg_close(reg);
    fixture_free(&f);
}

Test(registry, the_user_layer_persists_and_a_read_only_registry_refuses_writes)
{
    struct fixture f;
    fixture_init(&f);
    struct vial_reg *reg = open_reg(&f);
    struct vial_reg_value *v = value("@as ['a', 'b']");
    cr_assert_eq(vial_reg_set(reg, "app", "list", v), 0);
    cr_assert_eq(vial_reg_delete(reg, "app", "size"), 0);
    vial_reg_close(reg);
    reg = open_reg(&f);
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app", "list", "['a', 'b']");
    EXPECT_VALUE(reg, VIAL_REG_LAYER_ALL, "app", "size", NULL);
    vial_reg_close(reg);
    const struct vial_hive *layers[] = {f.package};
    cr_assert_eq(vial_reg_open(&reg, NULL, layers, 1, NULL), 0);
    cr_expect_eq(vial_reg_set(reg, "app", "list", v), -EROFS);
    cr_expect_eq(vial_reg_has_user_layer(reg), 0);
    vial_reg_close(reg);
    vial_reg_value_free(v);
    fixture_free(&f);
}

struct changes_seen {
    char text[1024];
};

static void on_change(const char *key, const char *name, void *payload)
{
    struct changes_seen *c = payload;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s/%s|", key, name ? name : "*");
}

Test(registry, refresh_reports_what_another_process_changed)
{
    struct fixture f;
    fixture_init(&f);
    struct vial_reg *mine = open_reg(&f), *other = open_reg(&f);
    struct vial_reg_value *v = value("'x'");
    cr_assert_eq(vial_reg_set(mine, "app", "own", v), 0);
    struct changes_seen seen = {""};
    cr_expect_eq(vial_reg_refresh(mine, on_change, &seen), 0, "its own write is no news");
    pid_t pid = fork();
    if (pid == 0) {
        int ok = vial_reg_set(other, "app", "color", v) == 0 && vial_reg_delete(other, "app/window", NULL) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_expect_eq(vial_reg_refresh(mine, on_change, &seen), 1);
    cr_expect_str_eq(seen.text, "app/color|app/window/*|");
    EXPECT_VALUE(mine, VIAL_REG_LAYER_ALL, "app", "color", "'x'");
    cr_expect_geq(vial_reg_watch_fd(mine), 0);
    vial_reg_watch_drain(mine);
    vial_reg_value_free(v);
    vial_reg_close(mine);
    vial_reg_close(other);
    fixture_free(&f);
}

Test(registry, concurrent_writers_in_separate_processes_lose_no_update)
{
    struct fixture f;
    fixture_init(&f);
    enum { WRITERS = 4, KEYS = 50 };
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            struct vial_reg *reg = NULL;
            const struct vial_hive *layers[] = {f.package};
            if (vial_reg_open(&reg, f.delta, layers, 1, NULL) < 0)
                _exit(2);
            for (int k = 0; k < KEYS; k++) {
                char key[64], text[32];
                struct vial_reg_value *v = NULL;
                snprintf(key, sizeof key, "race/w%d", w);
                snprintf(text, sizeof text, "%d", k);
                if (vial_reg_value_parse(&v, NULL, text) < 0)
                    _exit(3);
                snprintf(text, sizeof text, "k%d", k);
                if (vial_reg_set(reg, key, text, v) < 0)
                    _exit(4);
                vial_reg_value_free(v);
            }
            vial_reg_close(reg);
            _exit(0);
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        waitpid(pids[w], &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed", w);
    }
    struct vial_reg *reg = open_reg(&f);
    struct vial_hive *all = NULL;
    cr_assert_eq(vial_reg_snapshot(&all, reg, VIAL_REG_LAYER_USER, "race"), 0);
    cr_expect_eq(vial_hive_count(all), WRITERS * KEYS, "%zu of %d values", vial_hive_count(all), WRITERS * KEYS);
    vial_hive_free(all);
    vial_reg_close(reg);
    fixture_free(&f);
}

Test(registry, a_damaged_delta_file_is_an_error_naming_it)
{
    struct fixture f;
    fixture_init(&f);
    struct vial_reg *reg = open_reg(&f);
    struct vial_reg_value *v = value("1");
    cr_assert_eq(vial_reg_set(reg, "app", "n", v), 0);
    vial_reg_close(reg);
    FILE *file = fopen(f.delta, "r+b");
    cr_assert_not_null(file);
    fseek(file, -1, SEEK_END);
    fputc('#', file);
    fclose(file);
    const struct vial_hive *layers[] = {f.package};
    cr_expect_eq(vial_reg_open(&reg, f.delta, layers, 1, NULL), VIAL_EHIVE);
    cr_expect(strstr(vial_error_last(), f.delta), "%s", vial_error_last());
    cr_expect(strstr(vial_error_last(), "checksum"), "%s", vial_error_last());
    truncate(f.delta, 30);
    cr_expect_eq(vial_reg_open(&reg, f.delta, layers, 1, NULL), VIAL_EHIVE);
    cr_expect(strstr(vial_error_last(), "truncated"), "%s", vial_error_last());
    vial_reg_value_free(v);
    fixture_free(&f);
}

/* ----------------------------------------------------------- environment */

static const char *find_var(char **env, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

Test(registry, the_environment_unset_set_prepend_append_with_references)
{
    struct fixture f;
    fixture_init(&f);
    struct vial_hive *package = NULL;
    cr_assert_eq(vial_hive_new(&package), 0);
    put(package, "env", "APP_HOME", "'${VIAL_PACKAGE}/$${HOME}/${HOME}/${NOPE}/x$'");
    put(package, "env", "COUNT", "5");
    put(package, "env/prepend", "PATH", "'/opt/a/bin'");
    put(package, "env/prepend", "EMPTY", "'/e'");
    put(package, "env/append", "MANPATH", "'/opt/a/man'");
    put(package, "env/prepend", "TWICE", "'/t'");
    put(package, "env/unset", "SECRET", "true");
    put(package, "env/unset", "KEEP", "false");
    struct vial_reg *reg = NULL;
    const struct vial_hive *layers[] = {package};
    cr_assert_eq(vial_reg_open(&reg, f.delta, layers, 1, NULL), 0);
    char *env[] = {"PATH=/usr/bin:/bin", "HOME=/home/u", "MANPATH=/usr/man", "SECRET=s", "KEEP=k",
                   "TWICE=/t:/x", "EMPTY=", NULL};
    char *vars[] = {"VIAL_PACKAGE=pkg", NULL};
    char **built = NULL, **changes = NULL;
    cr_assert_eq(vial_reg_env_build(&built, &changes, reg, env, vars), 0, "%s", vial_error_last());
    cr_expect_str_eq(find_var(built, "APP_HOME"), "pkg/${HOME}//home/u//x$");
    cr_expect_str_eq(find_var(built, "COUNT"), "5");
    cr_expect_str_eq(find_var(built, "PATH"), "/opt/a/bin:/usr/bin:/bin");
    cr_expect_str_eq(find_var(built, "EMPTY"), "/e");
    cr_expect_str_eq(find_var(built, "MANPATH"), "/usr/man:/opt/a/man");
    cr_expect_str_eq(find_var(built, "TWICE"), "/t:/x", "already first: not added again");
    cr_expect_null(find_var(built, "SECRET"));
    cr_expect_str_eq(find_var(built, "KEEP"), "k");
    char joined[1024] = "";
    for (size_t i = 0; changes[i]; i++)
        snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s|", changes[i]);
    cr_expect_str_eq(joined, "PATH=/usr/bin:/bin|MANPATH=/usr/man|SECRET=s|EMPTY=|APP_HOME|COUNT|");
    vial_reg_env_free(built);
    vial_reg_env_free(changes);
    /* the user's override wins, for this registry only */
    struct vial_reg_value *mine = value("'/mine'");
    cr_assert_eq(vial_reg_set(reg, "env", "APP_HOME", mine), 0);
    cr_assert_eq(vial_reg_delete(reg, "env/prepend", "PATH"), 0);
    cr_assert_eq(vial_reg_env_build(&built, NULL, reg, env, vars), 0);
    cr_expect_str_eq(find_var(built, "APP_HOME"), "/mine");
    cr_expect_str_eq(find_var(built, "PATH"), "/usr/bin:/bin");
    vial_reg_env_free(built);
    vial_reg_value_free(mine);
    vial_reg_close(reg);
    vial_hive_free(package);
    fixture_free(&f);
}
