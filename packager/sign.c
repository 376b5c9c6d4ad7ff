/* sign.c - writing an image's signature slot (docs/trust.md). */
#include <errno.h>
#include <sodium.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "packager.h"

_Static_assert(crypto_sign_SECRETKEYBYTES == VIAL_SECRET_KEY_LEN, "Ed25519 secret key size");

#define SLOT_OFFSET offsetof(struct vial_image_header, signature)

int vial_image_sign(int fd, const struct vial_image *image,
                    const uint8_t secret_key[VIAL_SECRET_KEY_LEN])
{
    struct vial_signature_slot slot, written;
    uint8_t message[VIAL_SIGNATURE_MESSAGE_LEN];
    if (sodium_init() < 0)
        return vial_error_set(-ENOSYS, "libsodium cannot be initialised");
    memset(&slot, 0, sizeof slot);
    slot.type = VIAL_SIGNATURE_ED25519;
    /* libsodium keeps the public key in the second half of the secret key */
    memcpy(slot.public_key, secret_key + 32, sizeof slot.public_key);
    vial_signature_message(message, vial_image_header(image)->root_hash);
    crypto_sign_detached(slot.signature, NULL, message, sizeof message, secret_key);
    ssize_t n = pwrite(fd, &slot, sizeof slot, SLOT_OFFSET);
    if (n != (ssize_t)sizeof slot)
        return vial_error_set(n < 0 ? -errno : -EIO, "cannot write the signature slot: %s",
                              n < 0 ? strerror(errno) : "short write");
    if (fsync(fd) < 0)
        return vial_error_set(-errno, "cannot sync the image: %s", strerror(errno));
    /* read back through the file, not our buffer: what a reader will see */
    if (pread(fd, &written, sizeof written, SLOT_OFFSET) != (ssize_t)sizeof written ||
        memcmp(&written, &slot, sizeof slot) != 0)
        return vial_error_set(-EIO, "the signature slot did not read back as written");
    struct vial_signature_info info;
    return vial_image_signature(&info, image);
}
