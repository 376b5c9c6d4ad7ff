/*
 * trust.c - the trust policy every command applies to the images it uses
 * (docs/trust.md).
 *
 *  - A signature that does not match is always refused: the image changed
 *    after signing, and nothing in it can be believed.
 *  - The policy is on when a signature is required (vial --require-signature,
 *    or VIAL_REQUIRE_SIGNATURE=1) or when the user's trusted-keys file lists
 *    at least one key. Then the metadata hashes are checked before anything
 *    of the image is used, and the image must be signed, by a listed key if
 *    the file lists any (with no list, --require-signature takes any valid
 *    signature: the image is then at least unchanged since someone signed it).
 *  - Off, valid signatures and unsigned images are both used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TRUSTED_KEYS_MAX 4096

struct trusted_keys {
    char path[4096];
    char shown[4096]; /* path as messages show it: ~/... under the home */
    size_t count;
    uint8_t (*keys)[VIAL_PUBLIC_KEY_LEN];
};

static int signature_required(void)
{
    const char *value = getenv(CLI_REQUIRE_SIGNATURE_ENV);
    return value && *value && strcmp(value, "0") != 0;
}

static void keys_path(struct trusted_keys *t)
{
    const char *config = getenv("XDG_CONFIG_HOME"), *home = cli_home();
    if (config && config[0] == '/')
        snprintf(t->path, sizeof t->path, "%s/vial/trusted-keys", config);
    else
        snprintf(t->path, sizeof t->path, "%s/.config/vial/trusted-keys", home ? home : "");
    size_t n = home ? strlen(home) : 0;
    if (n > 1 && strncmp(t->path, home, n) == 0 && t->path[n] == '/')
        snprintf(t->shown, sizeof t->shown, "~%s", t->path + n);
    else
        snprintf(t->shown, sizeof t->shown, "%s", t->path);
}

/* Reads the trusted-keys file: a missing file lists no key; a file that
 * cannot be read or holds a line that is not a key stops everything (a
 * policy that half-loaded would trust the wrong set). */
static int load_keys(struct trusted_keys *t)
{
    keys_path(t);
    FILE *file = fopen(t->path, "re");
    if (!file)
        return errno == ENOENT ? 0
                               : vial_error_set(-errno, "cannot read the trusted keys %s: %s",
                                                t->shown, strerror(errno));
    char line[8192];
    unsigned number = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, file)) {
        number++;
        const char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
            continue;
        if (t->count == TRUSTED_KEYS_MAX) {
            rc = vial_error_set(-E2BIG, "%s: more than %d keys", t->shown, TRUSTED_KEYS_MAX);
            break;
        }
        if (t->count % 16 == 0) {
            void *grown = realloc(t->keys, (t->count + 16) * sizeof *t->keys);
            if (!grown) {
                rc = vial_error_set(-ENOMEM, "out of memory");
                break;
            }
            t->keys = grown;
        }
        if ((rc = cli_key_parse_public(t->keys[t->count], p)) < 0)
            vial_error_prefix(rc, "%s, line %u (expected 'vial-ed25519-public HEX' as in a "
                                  "KEYFILE.pub of vial keygen)",
                              t->shown, number);
        else
            t->count++;
    }
    if (rc == 0 && ferror(file))
        rc = vial_error_set(-EIO, "cannot read the trusted keys %s", t->shown);
    fclose(file);
    return rc;
}

int cli_trust_signature(struct vial_signature_info *out, const struct vial_image *image,
                        const char *source)
{
    int rc = vial_image_signature(out, image);
    return rc < 0 ? vial_error_prefix(rc, "%s", source) : 0;
}

int cli_trust_check(const struct vial_image *image, const char *source)
{
    struct vial_signature_info signature;
    struct trusted_keys trusted = {0};
    char id[CLI_KEY_ID_LEN + 1];
    int rc = cli_trust_signature(&signature, image, source);
    if (rc == 0)
        rc = load_keys(&trusted);
    int required = signature_required();
    if (rc < 0 || (!required && trusted.count == 0))
        goto out;
    if ((rc = vial_image_verify_metadata(image)) < 0) {
        vial_error_prefix(rc, "%s", source);
        goto out;
    }
    if (signature.type == VIAL_SIGNATURE_NONE) {
        if (required)
            rc = vial_error_set(CLI_EUNTRUSTED,
                                "%s: unsigned image refused: a signature is required "
                                "(--require-signature)",
                                source);
        else
            rc = vial_error_set(CLI_EUNTRUSTED,
                                "%s: unsigned image refused: %s lists the keys images must be "
                                "signed with (docs/trust.md)",
                                source, trusted.shown);
        goto out;
    }
    if (trusted.count == 0)
        goto out; /* --require-signature without a list: any valid signature */
    for (size_t i = 0; i < trusted.count; i++)
        if (memcmp(trusted.keys[i], signature.public_key, VIAL_PUBLIC_KEY_LEN) == 0)
            goto out;
    cli_key_id(id, signature.public_key);
    rc = vial_error_set(CLI_EUNTRUSTED,
                        "%s: signed by key %s..., which is not in %s (add its .pub line there "
                        "if you trust it)",
                        source, id, trusted.shown);
out:
    free(trusted.keys);
    return rc;
}
