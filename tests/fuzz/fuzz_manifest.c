/*
 * fuzz_manifest.c - fuzz target for the manifest parser (runtime/manifest.c).
 *
 * Parses the input as manifest text; a manifest that parses is checked for
 * the guarantees of runtime.h (valid names, an exec for every entry, a
 * default entry that exists) and freed. A rejection must leave a message.
 * Used by the libFuzzer binary fuzz-manifest and by replay-manifest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_manifest: invariant broken: %s\n", what);
    abort();
}

/* docs/manifest.md: Debian's version alphabet, 1..64 characters, starting
 * with a letter or digit. */
static int version_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !strchr(".+~:_-", c)))
            return 0;
    }
    return 1;
}

static void check(const struct vial_manifest *m)
{
    if (!m->name || !vial_manifest_name_valid(m->name) || !m->version ||
        !version_valid(m->version) || !m->state_group || !version_valid(m->state_group))
        fail("an accepted manifest has an invalid name, version or state group");
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct vial_manifest_entry *e = &m->entries[i];
        if (!vial_manifest_name_valid(e->name) || !e->exec || e->exec[0] != '/')
            fail("an accepted manifest has an invalid entry");
        if (vial_manifest_find_entry(m, e->name) != &m->entries[i])
            fail("an accepted manifest has two entries of one name");
    }
    if (m->entry_count > 0 && (!m->default_entry || !vial_manifest_find_entry(m, m->default_entry)))
        fail("an accepted manifest's default entry does not exist");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that ASan catches reads past the text. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    struct vial_manifest *manifest = NULL;
    vial_error_set(0, "%s", "");
    int rc = vial_manifest_parse(&manifest, text, size);
    if (rc == 0) {
        if (!manifest)
            fail("parse succeeded without a manifest");
        check(manifest);
    } else {
        if (manifest)
            fail("a failed parse left a manifest behind");
        if (vial_error_last()[0] == '\0')
            fail("a rejected manifest left no message");
    }
    vial_manifest_free(manifest);
    free(text);
    return 0;
}
