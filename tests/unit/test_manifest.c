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

Test(manifest, env_lines_say_their_operation)
{
    struct vial_manifest *m;
    cr_assert_eq(parse(&m, "[package]\nname=a\nversion=1\n[env]\nAPP_HOME = /opt/a\n"
                           "PATH = prepend /opt/a/bin\nLD_LIBRARY_PATH = append  /opt/a/lib\n"
                           "OLD = unset\nODD = set prepend me\n_X2 =\n"),
                 0, "%s", vial_error_last());
    cr_assert_eq(m->env_count, 6);
    struct { const char *name, *text; enum vial_env_operation operation; unsigned line; } want[] = {
        {"APP_HOME", "/opt/a", VIAL_ENV_SET, 5},   {"PATH", "/opt/a/bin", VIAL_ENV_PREPEND, 6},
        {"LD_LIBRARY_PATH", "/opt/a/lib", VIAL_ENV_APPEND, 7}, {"OLD", "", VIAL_ENV_UNSET, 8},
        {"ODD", "prepend me", VIAL_ENV_SET, 9},    {"_X2", "", VIAL_ENV_SET, 10}};
    for (size_t i = 0; i < 6; i++) {
        cr_expect_str_eq(m->env[i].name, want[i].name);
        cr_expect_str_eq(m->env[i].text, want[i].text, "%s", want[i].name);
        cr_expect_eq(m->env[i].operation, want[i].operation, "%s", want[i].name);
        cr_expect_eq(m->env[i].line, want[i].line, "%s", want[i].name);
    }
    vial_manifest_free(m);
}

Test(manifest, registry_lines_are_kept_with_their_line)
{
    struct vial_manifest *m;
    cr_assert_eq(parse(&m, "[package]\nname=a\nversion=1\n[registry]\n"
                           "gsettings/org/x/clock = '24h'\nk/n = @as []\n"),
                 0, "%s", vial_error_last());
    cr_assert_eq(m->registry_count, 2);
    cr_expect_str_eq(m->registry[0].path, "gsettings/org/x/clock");
    cr_expect_str_eq(m->registry[0].value, "'24h'");
    cr_expect_eq(m->registry[1].line, 6);
    vial_manifest_free(m);
}

struct bad_case {
    const char *text;
    const char *message;
};

static const struct bad_case bad_cases[] = {
    {"[package]\nname = a\nversion = 1\nbogus = 1\n", "line 4: unknown key 'bogus'"},
    {"[package]\nname=a\nversion=1\n[env]\n9X = 1\n", "line 5: '9X' is not a variable name"},
    {"[package]\nname=a\nversion=1\n[env]\nA-B = 1\n", "line 5: 'A-B' is not a variable name"},
    {"[package]\nname=a\nversion=1\n[env]\nX = 1\nX = 2\n", "line 6: 'X' given twice in [env]"},
    {"[package]\nname=a\nversion=1\n[env]\nX = prepend \n", "line 5: nothing to prepend to 'X'"},
    {"[package]\nname=a\nversion=1\n[env]\n[env]\n", "line 5: [env] appears twice"},
    {"[package]\nname=a\nversion=1\n[registry]\nk/n = 1\nk/n = 2\n", "line 6: 'k/n' given twice in [registry]"},
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
