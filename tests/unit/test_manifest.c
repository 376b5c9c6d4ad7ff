/* Unit tests of the manifest parser (runtime/manifest.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "runtime/runtime.h"

static int parse(struct vial_manifest **m, const char *text)
{
    return vial_manifest_parse(m, text, strlen(text));
}

Test(manifest, parses_package_and_entries)
{
    struct vial_manifest *m;
    cr_assert_eq(parse(&m, "; comment\n[package]\nname = hello\nversion = 1.2\nsummary = Says "
                           "hello\nvendor = Vial\n\n[entry hello]\nexec = /usr/bin/hello\n"
                           "args = --loud\ndescription = Greets\n[entry other]\nexec=/bin/x\n"),
                 0, "%s", vial_error_last());
    cr_assert_str_eq(m->name, "hello");
    cr_assert_str_eq(m->version, "1.2");
    cr_assert_str_eq(m->summary, "Says hello");
    cr_assert_str_eq(m->state_group, "1.2", "state group defaults to the version");
    cr_assert_str_eq(m->default_entry, "hello", "default entry is the first");
    cr_assert_eq(m->entry_count, 2);
    cr_assert_str_eq(m->entries[0].exec, "/usr/bin/hello");
    cr_assert_str_eq(m->entries[0].args, "--loud");
    cr_assert_str_eq(vial_manifest_find_entry(m, "other")->exec, "/bin/x");
    vial_manifest_free(m);
}

Test(manifest, state_group_and_default_entry_can_be_set)
{
    struct vial_manifest *m;
    cr_assert_eq(parse(&m, "[package]\nname=a\nversion=2\nstate_group=v1\ndefault_entry=b\n"
                           "[entry a]\nexec=/a\n[entry b]\nexec=/b\n"),
                 0, "%s", vial_error_last());
    cr_assert_str_eq(m->state_group, "v1");
    cr_assert_str_eq(m->default_entry, "b");
    vial_manifest_free(m);
}

struct bad_case {
    const char *text;
    const char *message;
};

static const struct bad_case bad_cases[] = {
    {"[package]\nname = a\nversion = 1\nbogus = 1\n", "line 4: unknown key 'bogus'"},
    {"[package]\nname = a\nname = b\nversion = 1\n", "line 3: 'name' given twice"},
    {"[package]\nversion = 1\n", "no 'name'"},
    {"[package]\nname = a\n", "no 'version'"},
    {"[package]\nname = -a\nversion = 1\n", "not valid"},
    {"[package]\nname = a b\nversion = 1\n", "not valid"},
    {"[package]\nname = a\nversion = 1\n[surprise]\nx = 1\n", "line 4: unknown section [surprise]"},
    {"[package]\nname = a\nversion = 1\n[entry x]\nargs = 1\n", "has no 'exec'"},
    {"[package]\nname = a\nversion = 1\n[entry x]\nexec = bin/x\n", "absolute path"},
    {"[package]\nname = a\nversion = 1\n[entry x]\nexec = /usr/../bin/x\n", "absolute path"},
    {"[package]\nname = a\nversion = 1\ndefault_entry = y\n", "names no [entry]"},
    {"[package]\nname = a\nversion = 1\nthis line has no equals sign\n", "line 4: syntax"},
    {"[package\nname = a\n", "line 1"},
    {"name = a\n", "outside any [section]"},
    {"[package]\nname = a\nversion = 1\n[bogus]\n", "line 4: unknown section [bogus]"},
    {"[package]\nname = a\nversion = 1\n[entry x]\nexec=/x\n[entry x]\n", "line 6: [entry x] appears twice"},
    {"[package]\nname = a\nversion = 1\n[entry x]\n", "line 4: [entry x] has no 'exec'"},
    {"[package]\nname = a\n[package]\nversion = 1\n", "line 3: [package] appears twice"},
    {"[package]\nname = a\nversion = 1 2\n", "line 3: version '1 2' is not valid"},
    {"[package]\nname = a\nversion = 1\n\ndefault_entry = nope\n", "line 5: default_entry"},
    {"[entry x]\nexec = /x\n", "no [package] section"},
};

Test(manifest, refuses_bad_manifests_with_line_and_reason)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        struct vial_manifest *m = NULL;
        int rc = parse(&m, bad_cases[i].text);
        cr_assert_eq(rc, VIAL_EMANIFEST, "case %zu accepted", i);
        cr_assert_null(m);
        cr_assert(strstr(vial_error_last(), bad_cases[i].message), "case %zu: '%s' lacks '%s'", i,
                  vial_error_last(), bad_cases[i].message);
    }
}

Test(manifest, refuses_over_long_lines_and_nul_bytes)
{
    char text[1200];
    int n = snprintf(text, sizeof text, "[package]\nname = a\nversion = 1\nsummary = ");
    memset(text + n, 'x', 1000);
    strcpy(text + n + 1000, "\n");
    struct vial_manifest *m = NULL;
    cr_assert_eq(parse(&m, text), VIAL_EMANIFEST);
    cr_assert(strstr(vial_error_last(), "line 4: longer than"), "%s", vial_error_last());
    const char with_nul[] = "[package]\nname = a\0\nversion = 1\n";
    cr_assert_eq(vial_manifest_parse(&m, with_nul, sizeof with_nul - 1), VIAL_EMANIFEST);
}

Test(manifest, debian_versions_and_long_entry_names_are_kept)
{
    struct vial_manifest *m;
    const char *name64 = "e123456789012345678901234567890123456789012345678901234567890123";
    char text[512];
    snprintf(text, sizeof text, "[package]\nname=a\nversion=1:2.3~rc1-2\n[entry %s]\nexec=/x\n",
             name64);
    cr_assert_eq(parse(&m, text), 0, "%s", vial_error_last());
    cr_assert_str_eq(m->version, "1:2.3~rc1-2");
    cr_assert_str_eq(m->entries[0].name, name64);
    vial_manifest_free(m);
}

Test(manifest, name_rules)
{
    cr_assert(vial_manifest_name_valid("lua5.4"));
    cr_assert(vial_manifest_name_valid("g++"));
    cr_assert(vial_manifest_name_valid("A_b-c"));
    cr_assert_not(vial_manifest_name_valid(""));
    cr_assert_not(vial_manifest_name_valid(".hidden"));
    cr_assert_not(vial_manifest_name_valid("a/b"));
    cr_assert_not(vial_manifest_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}
