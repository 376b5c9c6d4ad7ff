/*
 * keys.c - Vial's key files (docs/trust.md): one line of text each,
 *   vial-ed25519-secret HEX            the 32-byte Ed25519 seed (mode 0600)
 *   vial-ed25519-public HEX [COMMENT]  the 32-byte public key
 * Text so that a key can be read, mailed and pasted into trusted-keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define PUBLIC_TAG "vial-ed25519-public"
#define SECRET_TAG "vial-ed25519-secret"
#define SEED_LEN 32u

/* "TAG HEX" followed by the end of the line or blank space and a comment:
 * exactly `length` bytes of hex. */
static int parse_line(uint8_t *out, size_t length, const char *line, const char *tag)
{
    size_t tag_length = strlen(tag);
    if (strncmp(line, tag, tag_length) != 0 || (line[tag_length] != ' ' && line[tag_length] != '\t'))
        return vial_error_set(-EINVAL, "not a '%s' line", tag);
    const char *hex = line + tag_length + strspn(line + tag_length, " \t");
    size_t digits = strspn(hex, "0123456789abcdefABCDEF");
    const char *end = hex + digits;
    if (digits != 2 * length || (*end && !strchr(" \t\r\n", *end)))
        return vial_error_set(-EINVAL, "'%s' is not followed by %zu hex digits", tag, 2 * length);
    if (sodium_hex2bin(out, length, hex, digits, NULL, NULL, NULL) != 0)
        return vial_error_set(-EINVAL, "bad hex after '%s'", tag);
    return 0;
}

int cli_key_parse_public(uint8_t out[VIAL_PUBLIC_KEY_LEN], const char *line)
{
    return parse_line(out, VIAL_PUBLIC_KEY_LEN, line, PUBLIC_TAG);
}

void cli_key_id(char out[CLI_KEY_ID_LEN + 1], const uint8_t key[VIAL_PUBLIC_KEY_LEN])
{
    sodium_bin2hex(out, CLI_KEY_ID_LEN + 1, key, CLI_KEY_ID_LEN / 2);
}

/* Creates path (which must not exist) holding text, synced. */
static int write_new(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return vial_error_set(-errno, "cannot create %s: %s", path, strerror(errno));
    size_t length = strlen(text);
    int ok = write(fd, text, length) == (ssize_t)length && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) < 0 || !ok) {
        unlink(path);
        return vial_error_set(-EIO, "cannot write %s: %s", path, strerror(saved));
    }
    return 0;
}

int cli_key_generate(uint8_t out_public[VIAL_PUBLIC_KEY_LEN], const char *path)
{
    char public_path[4096];
    if ((size_t)snprintf(public_path, sizeof public_path, "%s.pub", path) >= sizeof public_path)
        return vial_error_set(-ENAMETOOLONG, "%s: name too long", path);
    struct stat st;
    if (lstat(path, &st) == 0 || lstat(public_path, &st) == 0)
        return vial_error_set(-EEXIST, "%s exists: vial keygen never replaces a key (remove it "
                                       "first, or choose another name)",
                              lstat(path, &st) == 0 ? path : public_path);
    if (sodium_init() < 0)
        return vial_error_set(-ENOSYS, "libsodium cannot be initialised");
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES], secret_key[crypto_sign_SECRETKEYBYTES];
    char secret_text[sizeof SECRET_TAG + 2 * SEED_LEN + 2];
    char public_text[sizeof PUBLIC_TAG + 2 * VIAL_PUBLIC_KEY_LEN + 4096];
    char hex[2 * SEED_LEN + 1];
    crypto_sign_keypair(public_key, secret_key);
    sodium_bin2hex(hex, sizeof hex, secret_key, SEED_LEN);
    snprintf(secret_text, sizeof secret_text, "%s %s\n", SECRET_TAG, hex);
    sodium_bin2hex(hex, sizeof hex, public_key, sizeof public_key);
    const char *name = strrchr(path, '/');
    snprintf(public_text, sizeof public_text, "%s %s %s\n", PUBLIC_TAG, hex, name ? name + 1 : path);
    int rc = write_new(path, secret_text, 0600);
    if (rc == 0 && (rc = write_new(public_path, public_text, 0644)) < 0)
        unlink(path);
    sodium_memzero(secret_key, sizeof secret_key);
    sodium_memzero(secret_text, sizeof secret_text);
    memcpy(out_public, public_key, sizeof public_key);
    return rc;
}

int cli_key_read_secret(uint8_t out[64], const char *path)
{
    char text[256];
    uint8_t seed[SEED_LEN], public_key[crypto_sign_PUBLICKEYBYTES];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vial_error_set(-errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vial_error_set(-EINVAL, "%s: not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return vial_error_set(-EPERM, "%s: a secret key must be private to its owner, but its "
                                      "mode is %04o (chmod 600 %s)",
                              path, (unsigned)(st.st_mode & 07777), path);
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    int rc = parse_line(seed, sizeof seed, text, SECRET_TAG);
    sodium_memzero(text, sizeof text);
    if (rc < 0)
        return vial_error_prefix(rc, "%s is not a vial secret key (vial keygen makes one)", path);
    if (sodium_init() < 0)
        return vial_error_set(-ENOSYS, "libsodium cannot be initialised");
    crypto_sign_seed_keypair(public_key, out, seed);
    sodium_memzero(seed, sizeof seed);
    return 0;
}
