/*
 * fuzz_hook.c - fuzz target for declared hooks' parsers (runtime/hook.c):
 * the signature syntax and the one-line declaration of the session file.
 * The first byte picks which ('S' signature, anything else declaration).
 * What parses must format back to text that parses to the same hook; a
 * rejection must leave a message. Used by fuzz-hook and replay-hook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_hook: invariant broken: %s (%s)\n", what, text);
    abort();
}

static void check_signature(const struct vial_hook_signature *s, const char *text)
{
    if (s->count > VIAL_HOOK_MAX_ARGS || s->fixed > s->count || (!s->variadic && s->fixed != s->count) ||
        (s->variadic && s->fixed == 0))
        fail("argument counts out of range", text);
    for (unsigned i = 0; i < s->count; i++)
        if (s->args[i] <= VIAL_HOOK_VOID || s->args[i] > VIAL_HOOK_FLOAT)
            fail("an argument of no type, or void", text);
    if (s->result < VIAL_HOOK_VOID || s->result > VIAL_HOOK_FLOAT)
        fail("a result of no type", text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* a C string of the input after the selector (NUL bytes end it) */
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char formatted[2048];
    vial_error_set(0, "%s", "");
    if (data[0] == 'S') {
        struct vial_hook_signature s, again;
        if (vial_hook_parse_signature(&s, text) == 0) {
            check_signature(&s, text);
            if (vial_hook_format_signature(formatted, sizeof formatted, &s) < 0)
                fail("an accepted signature does not format", text);
            if (vial_hook_parse_signature(&again, formatted) < 0 || memcmp(&s, &again, sizeof s) != 0)
                fail("a formatted signature does not parse back to itself", formatted);
        } else if (vial_error_last()[0] == '\0') {
            fail("a rejected signature left no message", text);
        }
    } else {
        struct vial_hook h, again;
        if (vial_hook_parse(&h, text) == 0) {
            check_signature(&h.signature, text);
            if (!h.symbol[0] || !h.library[0] || !h.name[0] ||
                (h.path && (h.path > h.signature.count || h.signature.args[h.path - 1] != VIAL_HOOK_STR)) ||
                (h.path && h.path_mode == VIAL_HOOK_PATH_NONE))
                fail("an accepted declaration breaks vial_hook_check's promises", text);
            if (vial_hook_session_line(formatted, sizeof formatted, &h) < 0)
                fail("an accepted declaration does not format", text);
            formatted[strlen(formatted) - 1] = '\0';
            if (vial_hook_parse(&again, formatted + 5) < 0 || strcmp(again.name, h.name) != 0 ||
                strcmp(again.library, h.library) != 0 || strcmp(again.symbol, h.symbol) != 0 ||
                again.path != h.path || again.path_mode != h.path_mode || again.log != h.log ||
                memcmp(&again.signature, &h.signature, sizeof h.signature) != 0)
                fail("a session line does not parse back to its declaration", formatted);
        } else if (vial_error_last()[0] == '\0') {
            fail("a rejected declaration left no message", text);
        }
    }
    free(text);
    return 0;
}
