/* cmd_sign.c - `vial keygen` and `vial sign` (docs/trust.md). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "packager/packager.h"

int cmd_keygen(int argc, char **argv)
{
    const char *output = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc)
            output = argv[++i];
        else
            return cli_usage("keygen", "unexpected argument '%s'", argv[i]);
    }
    if (!output)
        return cli_usage("keygen", "no -o KEYFILE given");
    uint8_t public_key[VIAL_PUBLIC_KEY_LEN];
    int rc = cli_key_generate(public_key, output);
    if (rc < 0)
        return cli_fail(rc);
    char id[CLI_KEY_ID_LEN + 1];
    cli_key_id(id, public_key);
    printf("%s: secret key (keep it private)\n%s.pub: public key %s... (give it to the users who "
           "trust your images)\n",
           output, output, id);
    return VIAL_EXIT_OK;
}

int cmd_sign(int argc, char **argv)
{
    const char *image_path = NULL, *key_path = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-k") == 0 || strcmp(argv[i], "--key") == 0) && i + 1 < argc)
            key_path = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage("sign", "unknown option '%s'", argv[i]);
        else if (image_path)
            return cli_usage("sign", "one IMAGE expected");
        else
            image_path = argv[i];
    }
    if (!image_path || !key_path)
        return cli_usage("sign", "IMAGE and --key KEYFILE expected");
    uint8_t secret_key[VIAL_SECRET_KEY_LEN];
    struct vial_image *image = NULL;
    struct vial_signature_info before;
    int fd = -1, code = VIAL_EXIT_OK;
    int rc = cli_key_read_secret(secret_key, key_path);
    if (rc == 0 && (fd = open(image_path, O_RDWR | O_CLOEXEC)) < 0)
        rc = vial_error_set(-errno, "%s: %s", image_path, strerror(errno));
    /* signing vouches for every byte: refuse an image that is not intact */
    if (rc == 0 && (rc = vial_image_open(&image, fd, VIAL_OPEN_VERIFY_METADATA)) < 0)
        vial_error_prefix(rc, "%s", image_path);
    if (rc == 0 && (rc = vial_image_verify(image, VIAL_VERIFY_CHUNKS, NULL, NULL)) < 0)
        vial_error_prefix(rc, "%s: not signed, the image is damaged", image_path);
    if (rc < 0) {
        code = cli_fail(rc);
        goto out;
    }
    /* whatever the slot held before is replaced: it is outside what the
     * checks above cover, and only the new signature counts */
    int had = vial_image_signature(&before, image);
    if ((rc = vial_image_sign(fd, image, secret_key)) < 0) {
        code = cli_fail(vial_error_prefix(rc, "%s", image_path));
        goto out;
    }
    char id[CLI_KEY_ID_LEN + 1], hex[2 * VIAL_HASH_LEN + 1];
    cli_key_id(id, secret_key + 32);
    vial_hash_hex(hex, vial_image_header(image)->root_hash);
    printf("%s: signed by key %s...%s (image hash %s)\n", image_path, id,
           had < 0 || before.type != VIAL_SIGNATURE_NONE ? ", replacing the signature it had" : "",
           hex);
out:
    sodium_memzero(secret_key, sizeof secret_key);
    vial_image_close(image);
    if (fd >= 0)
        close(fd);
    return code;
}
