/*
 * image_sign.c - checking an image's signature slot.
 *
 * The slot (struct vial_signature_slot) sits in the header after the root
 * hash, outside the hashed range, so that signing never changes what the
 * root hash covers. A signature is Ed25519 over a domain string and the
 * root hash: the domain keeps a Vial signature from meaning anything for
 * another protocol that signs 32-byte hashes with the same key, and the
 * root hash covers every section through the section hashes. Which keys
 * are trusted is policy, left to the caller (loader/cli/trust.c).
 */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "image_internal.h"

_Static_assert(sizeof VIAL_SIGNATURE_DOMAIN == VIAL_SIGNATURE_DOMAIN_LEN,
               "the domain string is 13 characters and its NUL");
_Static_assert(crypto_sign_PUBLICKEYBYTES == VIAL_PUBLIC_KEY_LEN &&
                   crypto_sign_BYTES == VIAL_SIGNATURE_LEN,
               "the slot holds an Ed25519 key and signature");
_Static_assert(sizeof(((struct vial_signature_slot *)0)->public_key) == VIAL_PUBLIC_KEY_LEN &&
                   sizeof(((struct vial_signature_slot *)0)->signature) == VIAL_SIGNATURE_LEN,
               "slot field sizes");

void vial_signature_message(uint8_t out[VIAL_SIGNATURE_MESSAGE_LEN],
                            const uint8_t root_hash[VIAL_HASH_LEN])
{
    memcpy(out, VIAL_SIGNATURE_DOMAIN, VIAL_SIGNATURE_DOMAIN_LEN);
    memcpy(out + VIAL_SIGNATURE_DOMAIN_LEN, root_hash, VIAL_HASH_LEN);
}

static int all_zero(const void *data, size_t length)
{
    const uint8_t *p = data;
    uint8_t any = 0;
    for (size_t i = 0; i < length; i++)
        any |= p[i];
    return any == 0;
}

int vial_image_signature(struct vial_signature_info *out, const struct vial_image *image)
{
    const struct vial_signature_slot *slot = &image->header->signature;
    memset(out, 0, sizeof *out);
    if (slot->type == VIAL_SIGNATURE_NONE) {
        if (!all_zero(slot, sizeof *slot))
            return vial_error_set(VIAL_ECORRUPT, "corrupt image: the signature slot says "
                                                 "unsigned but is not all zero");
        return 0;
    }
    if (slot->type != VIAL_SIGNATURE_ED25519)
        return vial_error_set(VIAL_ECORRUPT,
                              "corrupt image: unknown signature type %u in the signature slot",
                              slot->type);
    if (slot->reserved != 0 || !all_zero(slot->padding, sizeof slot->padding))
        return vial_error_set(VIAL_ECORRUPT, "corrupt image: the signature slot's reserved "
                                             "bytes are not zero");
    if (sodium_init() < 0)
        return vial_error_set(-ENOSYS, "libsodium cannot be initialised");
    uint8_t message[VIAL_SIGNATURE_MESSAGE_LEN];
    vial_signature_message(message, image->header->root_hash);
    if (crypto_sign_verify_detached(slot->signature, message, sizeof message, slot->public_key) != 0)
        return vial_error_set(VIAL_ESIGNATURE,
                              "signature does not match: the image was modified after signing "
                              "or signed by another key");
    out->type = VIAL_SIGNATURE_ED25519;
    memcpy(out->public_key, slot->public_key, sizeof out->public_key);
    return 0;
}
