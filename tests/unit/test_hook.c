/* Unit tests of declared hooks' syntax (runtime/hook.c) and of [hook NAME]
 * sections in manifests (runtime/manifest.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "runtime/runtime.h"

static struct vial_hook_signature sig;

static int parse_sig(const char *text) { return vial_hook_parse_signature(&sig, text); }

static void refused(const char *text, const char *why)
{
    cr_assert_lt(parse_sig(text), 0, "'%s' was accepted", text);
    cr_assert(strstr(vial_error_last(), why), "'%s': message '%s' lacks '%s'", text,
              vial_error_last(), why);
}

Test(hook_signature, parses_every_type)
{
    cr_assert_eq(parse_sig("uint64 f(int8, int16, int32, int64, uint8, uint16, uint32, int, long, "
                           "size_t, ssize_t, char, ptr, str, double, float)"),
                 0, "%s", vial_error_last());
    static const uint8_t want[] = {
        VIAL_HOOK_INT8,  VIAL_HOOK_INT16, VIAL_HOOK_INT32, VIAL_HOOK_INT64,  VIAL_HOOK_UINT8,
        VIAL_HOOK_UINT16, VIAL_HOOK_UINT32, VIAL_HOOK_INT,  VIAL_HOOK_LONG,  VIAL_HOOK_SIZE,
        VIAL_HOOK_SSIZE, VIAL_HOOK_CHAR,  VIAL_HOOK_PTR,   VIAL_HOOK_STR,    VIAL_HOOK_DOUBLE,
        VIAL_HOOK_FLOAT};
    cr_assert_eq(sig.result, VIAL_HOOK_UINT64);
    cr_assert_eq(sig.count, 16);
    cr_assert_eq(sig.fixed, 16);
    cr_assert_eq(sig.variadic, 0);
    cr_assert_arr_eq(sig.args, want, sizeof want);
    cr_assert_str_eq(sig.function, "f");
}

Test(hook_signature, name_and_parameter_names_are_optional)
{
    cr_assert_eq(parse_sig("int(str)"), 0, "%s", vial_error_last());
    cr_assert_str_eq(sig.function, "");
    cr_assert_eq(sig.count, 1);
    cr_assert_eq(parse_sig("  void   g ( str path ,ptr  buffer ) ; "), 0, "%s", vial_error_last());
    cr_assert_str_eq(sig.function, "g");
    cr_assert_eq(sig.result, VIAL_HOOK_VOID);
    cr_assert_eq(sig.count, 2);
    cr_assert_eq(sig.args[1], VIAL_HOOK_PTR);
    cr_assert_eq(parse_sig("int f(void)"), 0);
    cr_assert_eq(sig.count, 0);
    cr_assert_eq(parse_sig("int f()"), 0);
    cr_assert_eq(sig.count, 0);
}

Test(hook_signature, variadic_tail_with_types)
{
    cr_assert_eq(parse_sig("int open(str, int, ...: uint32)"), 0, "%s", vial_error_last());
    cr_assert_eq(sig.variadic, 1);
    cr_assert_eq(sig.fixed, 2);
    cr_assert_eq(sig.count, 3);
    cr_assert_eq(sig.args[2], VIAL_HOOK_UINT32);
    cr_assert_eq(parse_sig("int hooktest_sum(int count, ...: int, int, int)"), 0, "%s",
                 vial_error_last());
    cr_assert_eq(sig.fixed, 1);
    cr_assert_eq(sig.count, 4);
}

Test(hook_signature, refuses_what_cannot_be_forwarded)
{
    refused("int open(str, int, ...)", "untyped '...'");
    refused("int f(...: int)", "argument before '...'");
    refused("int f(int, ...: float)", "declare that");
    refused("int f(int, ...: char)", "'int'");
    refused("int f(int, ...: int, str", "expected ')'");
    refused("int f(int, ...:)", "expected a type");
    refused("int f(const char *)", "unknown type 'const'");
    refused("integer f(int)", "unknown type 'integer'");
    refused("int f(int long)", "'long' after a type");
    refused("int f(void x)", "'void' is not an argument type");
    refused("int f(int, void)", "'void' is not an argument type");
    refused("int f(int", "expected ',' or ')'");
    refused("int f(int) extra", "unexpected 'extra'");
    refused("int int(int)", "is a type");
    refused("f(int)", "unknown type 'f'");
    refused("", "expected a type");
    refused("int f(int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, "
            "int)", "more than 16");
}

Test(hook_signature, formats_back_to_the_same)
{
    static const char *const texts[] = {
        "int open(str, int, ...: uint32)", "double(double, float, int64)", "void f(void)",
        "str g(size_t, ssize_t, char, ptr)"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char text[VIAL_HOOK_SIGNATURE_MAX + 1];
        struct vial_hook_signature again;
        cr_assert_eq(parse_sig(texts[i]), 0, "%s", vial_error_last());
        cr_assert_eq(vial_hook_format_signature(text, sizeof text, &sig), 0);
        cr_assert_eq(vial_hook_parse_signature(&again, text), 0, "%s: %s", text, vial_error_last());
        cr_assert_eq(memcmp(&again, &sig, sizeof sig), 0, "'%s' -> '%s'", texts[i], text);
    }
    cr_assert_eq(parse_sig("int open(str p, int, ...: uint32)"), 0);
    char text[64];
    cr_assert_eq(vial_hook_format_signature(text, sizeof text, &sig), 0);
    cr_assert_str_eq(text, "int open(str, int, ...: uint32)");
    cr_assert_lt(vial_hook_format_signature(text, 10, &sig), 0, "a short buffer is an error");
}

Test(hook_declaration, round_trips_through_the_session_line)
{
    struct vial_hook hook, again;
    cr_assert_eq(vial_hook_parse(&hook, "library=libfoo.so* path=2 path_mode=write log=yes "
                                        "signature=int foo_save(ptr, str name)"),
                 0, "%s", vial_error_last());
    cr_assert_str_eq(hook.symbol, "foo_save", "the symbol comes from the signature");
    cr_assert_str_eq(hook.name, "foo_save", "the name defaults to the symbol");
    cr_assert_eq(hook.path, 2);
    cr_assert_eq(hook.path_mode, VIAL_HOOK_PATH_WRITE);
    cr_assert_eq(hook.log, 1);
    char line[1024];
    cr_assert_eq(vial_hook_session_line(line, sizeof line, &hook), 0);
    cr_assert_str_eq(line, "hook=name=foo_save library=libfoo.so* symbol=foo_save path=2 "
                           "path_mode=write log=yes signature=int foo_save(ptr, str)\n");
    cr_assert_eq(vial_hook_parse(&again, line + 5), 0, "%s", vial_error_last());
    cr_assert_str_eq(again.library, hook.library);
    cr_assert_eq(again.path, 2);
    cr_assert_eq(again.path_mode, VIAL_HOOK_PATH_WRITE);
    cr_assert_eq(memcmp(&again.signature, &hook.signature, sizeof hook.signature), 0);
    cr_assert_lt(vial_hook_session_line(line, 40, &hook), 0, "a short buffer is an error");
}

Test(hook_declaration, refuses_inconsistent_declarations)
{
    struct vial_hook hook;
    static const struct { const char *text, *why; } cases[] = {
        {"signature=int(str)", "no 'library'"},
        {"library=libx.so", "no 'signature'"},
        {"library=libx.so signature=int(str)", "no 'symbol'"},
        {"library=libx.so symbol=a signature=int b(str)", "the signature names 'b'"},
        {"library=libx.so symbol=a path=2 signature=int(str)", "has 1 argument"},
        {"library=libx.so symbol=a path=1 signature=int(int)", "not a 'str'"},
        {"library=libx.so symbol=a path=0 signature=int(str)", "not an argument number"},
        {"library=libx.so symbol=a path_mode=read signature=int(str)", "without 'path'"},
        {"library=libx.so symbol=a path=1 path_mode=append signature=int(str)", "read or write"},
        {"library=libx.so symbol=a log=maybe signature=int(str)", "yes or no"},
        {"library=lib/x.so symbol=a signature=int(str)", "no '/'"},
        {"library=libx.so symbol=9a signature=int(str)", "C identifier"},
        {"library=libx.so library=liby.so symbol=a signature=int(str)", "given twice"},
        {"library=libx.so colour=red symbol=a signature=int(str)", "unknown key 'colour'"},
        {"library=libx.so symbol a signature=int(str)", "expected key=value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_lt(vial_hook_parse(&hook, cases[i].text), 0, "'%s' was accepted", cases[i].text);
        cr_assert(strstr(vial_error_last(), cases[i].why), "'%s': message '%s' lacks '%s'",
                  cases[i].text, vial_error_last(), cases[i].why);
    }
    cr_assert_eq(vial_hook_parse(&hook, "library=libx.so symbol=a path=1 signature=int(str)"), 0);
    cr_assert_eq(hook.path_mode, VIAL_HOOK_PATH_READ, "path_mode defaults to read");
    cr_assert_eq(hook.log, 0, "log defaults to no");
}

static const char package[] = "[package]\nname = p\nversion = 1\n";

static int manifest(struct vial_manifest **m, const char *hooks)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", package, hooks);
    return vial_manifest_parse(m, text, strlen(text));
}

Test(hook_manifest, sections_become_hooks)
{
    struct vial_manifest *m;
    cr_assert_eq(manifest(&m, "[hook open-path]\nlibrary = libvialhooktest.so*\nsymbol = "
                              "hooktest_open_path\nsignature = int(str)\npath = 1\npath_mode = "
                              "read\n[hook sum]\nlibrary = libx.so.1\nsignature = int x_sum(int, "
                              "...: int, int)\nlog = yes\n"),
                 0, "%s", vial_error_last());
    cr_assert_eq(m->hook_count, 2);
    cr_assert_str_eq(m->hooks[0].name, "open-path");
    cr_assert_str_eq(m->hooks[0].symbol, "hooktest_open_path");
    cr_assert_eq(m->hooks[0].path, 1);
    cr_assert_str_eq(m->hooks[1].symbol, "x_sum");
    cr_assert_eq(m->hooks[1].signature.variadic, 1);
    cr_assert_eq(m->hooks[1].log, 1);
    vial_manifest_free(m);
}

Test(hook_manifest, malformed_declarations_name_their_line)
{
    struct vial_manifest *m = NULL;
    static const struct { const char *text, *message; } cases[] = {
        {"[hook a]\nlibrary = l.so\nsignature = int open(str, int, ...)\n",
         "line 6: [hook a]: signature: an untyped '...'"},
        {"[hook a]\nlibrary = l.so\nsymbol = f\nsignature = int(int)\npath = 1\n",
         "line 4: [hook a]: path = 1 names a 'int' argument"},
        {"[hook a]\nlibrary = l.so\nsymbol = f\nsignature = int(str)\nwhat = 1\n",
         "line 8: [hook a]: unknown key 'what'"},
        {"[hook a]\nsymbol = f\nsignature = int(str)\n", "line 4: [hook a]: no 'library'"},
        {"[hook a]\nlibrary = l.so\nsymbol = f\nsignature = int(str)\n[hook a]\n",
         "line 8: [hook a] appears twice"},
        {"[hook a b]\nlibrary = l.so\n", "line 4: hook name 'a b' is not valid"},
        {"[hook a]\nname = b\n", "line 5: [hook a]: unknown key 'name'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_lt(manifest(&m, cases[i].text), 0, "accepted: %s", cases[i].text);
        cr_assert_null(m);
        cr_assert(strstr(vial_error_last(), cases[i].message), "'%s' lacks '%s'",
                  vial_error_last(), cases[i].message);
    }
}
