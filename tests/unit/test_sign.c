/* Unit tests of image signatures: the runtime's check of the signature slot
 * (vial_image_signature) and the packager's signing (vial_image_sign). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define SLOT_OFFSET offsetof(struct vial_image_header, signature)

static char *dir, *image_path;
static uint8_t *bytes; /* the unsigned image as packed */
static size_t length;
static uint8_t public_key[crypto_sign_PUBLICKEYBYTES], secret_key[crypto_sign_SECRETKEYBYTES];

static void setup(void)
{
    cr_assert_geq(sodium_init(), 0);
    dir = testlib_mkdtemp("sign");
    cr_assert_not_null(dir);
    char tree[4096];
    snprintf(tree, sizeof tree, "%s/tree", dir);
    cr_assert(asprintf(&image_path, "%s/test.vial", dir) > 0);
    cr_assert_eq(testlib_write_file(tree, "usr/bin/tool", "#!/bin/sh\necho tool\n", 20, 0755), 0);
    cr_assert_eq(testlib_pack_tree(tree, image_path, NULL, 1), 0, "%s", vial_error_last());
    cr_assert_eq(testlib_read_file(&bytes, &length, image_path), 0);
    crypto_sign_keypair(public_key, secret_key);
}

static void teardown(void)
{
    testlib_rm_rf(dir);
    free(dir);
    free(image_path);
    free(bytes);
}

TestSuite(sign, .init = setup, .fini = teardown);

/* vial_image_signature on a copy of the image bytes. */
static int check(struct vial_signature_info *info, const uint8_t *data)
{
    struct vial_image *image = NULL;
    int rc = vial_image_open_memory(&image, data, length, VIAL_OPEN_VERIFY_METADATA);
    cr_assert_eq(rc, 0, "%s", vial_error_last());
    rc = vial_image_signature(info, image);
    vial_image_close(image);
    return rc;
}

/* The image signed by vial_image_sign through a file descriptor, as vial
 * sign does; returns a malloc'ed copy of the signed bytes. */
static uint8_t *signed_copy(void)
{
    struct vial_image *image = NULL;
    int fd = open(image_path, O_RDWR);
    cr_assert_geq(fd, 0);
    cr_assert_eq(vial_image_open(&image, fd, VIAL_OPEN_VERIFY_METADATA), 0, "%s", vial_error_last());
    cr_assert_eq(vial_image_sign(fd, image, secret_key), 0, "%s", vial_error_last());
    vial_image_close(image);
    close(fd);
    uint8_t *data;
    size_t n;
    cr_assert_eq(testlib_read_file(&data, &n, image_path), 0);
    cr_assert_eq(n, length);
    return data;
}

static struct vial_signature_slot *slot_of(uint8_t *data)
{
    return (struct vial_signature_slot *)(data + SLOT_OFFSET);
}

Test(sign, an_all_zero_slot_is_unsigned)
{
    struct vial_signature_info info;
    memset(&info, 0xff, sizeof info);
    cr_assert_eq(check(&info, bytes), 0, "%s", vial_error_last());
    cr_assert_eq(info.type, VIAL_SIGNATURE_NONE);
    uint8_t zero[VIAL_PUBLIC_KEY_LEN] = {0};
    cr_assert_arr_eq(info.public_key, zero, sizeof zero);
}

Test(sign, a_signed_image_verifies_and_names_its_key)
{
    uint8_t *data = signed_copy();
    struct vial_signature_info info;
    cr_assert_eq(check(&info, data), 0, "%s", vial_error_last());
    cr_assert_eq(info.type, VIAL_SIGNATURE_ED25519);
    cr_assert_arr_eq(info.public_key, public_key, sizeof public_key);
    /* signing changed nothing but the slot */
    cr_assert_arr_eq(data, bytes, SLOT_OFFSET);
    cr_assert_arr_eq(data + VIAL_IMAGE_HEADER_SIZE, bytes + VIAL_IMAGE_HEADER_SIZE,
                     length - VIAL_IMAGE_HEADER_SIZE);
    free(data);
}

Test(sign, the_signature_covers_the_domain_string_then_the_root_hash)
{
    const struct vial_image_header *h = (const void *)bytes;
    uint8_t message[14 + VIAL_HASH_LEN];
    memcpy(message, "vial-image-v1\0", 14); /* written out: the spec, not the macro */
    memcpy(message + 14, h->root_hash, VIAL_HASH_LEN);
    uint8_t made[VIAL_SIGNATURE_MESSAGE_LEN];
    vial_signature_message(made, h->root_hash);
    cr_assert_arr_eq(made, message, sizeof message);

    uint8_t *data = malloc(length);
    memcpy(data, bytes, length);
    struct vial_signature_slot *slot = slot_of(data);
    slot->type = VIAL_SIGNATURE_ED25519;
    memcpy(slot->public_key, public_key, sizeof public_key);
    crypto_sign_detached(slot->signature, NULL, message, sizeof message, secret_key);
    struct vial_signature_info info;
    cr_assert_eq(check(&info, data), 0, "%s", vial_error_last());

    /* the root hash alone, without the domain, is not what is signed */
    crypto_sign_detached(slot->signature, NULL, h->root_hash, VIAL_HASH_LEN, secret_key);
    cr_assert_eq(check(&info, data), VIAL_ESIGNATURE);
    cr_assert(strstr(vial_error_last(), "signature does not match"), "%s", vial_error_last());
    free(data);
}

Test(sign, a_flipped_bit_in_the_signature_or_the_key_is_refused)
{
    uint8_t *data = signed_copy();
    struct vial_signature_info info;
    for (size_t i = 0; i < VIAL_SIGNATURE_LEN; i += 13) {
        slot_of(data)->signature[i] ^= 0x04;
        cr_assert_eq(check(&info, data), VIAL_ESIGNATURE, "signature byte %zu", i);
        slot_of(data)->signature[i] ^= 0x04;
    }
    slot_of(data)->public_key[5] ^= 0x80;
    cr_assert_eq(check(&info, data), VIAL_ESIGNATURE);
    slot_of(data)->public_key[5] ^= 0x80;
    cr_assert_eq(check(&info, data), 0, "%s", vial_error_last());
    free(data);
}

Test(sign, another_key_in_the_slot_is_refused)
{
    uint8_t *data = signed_copy();
    uint8_t other_public[crypto_sign_PUBLICKEYBYTES], other_secret[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(other_public, other_secret);
    memcpy(slot_of(data)->public_key, other_public, sizeof other_public);
    struct vial_signature_info info;
    cr_assert_eq(check(&info, data), VIAL_ESIGNATURE);
    free(data);
}

Test(sign, a_changed_and_resealed_image_no_longer_matches_its_signature)
{
    uint8_t *data = signed_copy();
    const struct vial_image_header *h = (const void *)data;
    /* change the manifest and recompute every hash, as a forger would:
     * the root hash changes, so the signature over the old one fails */
    const struct vial_section_desc *manifest = NULL;
    for (uint32_t i = 0; i < h->section_count; i++)
        if (h->sections[i].type == VIAL_SECTION_MANIFEST)
            manifest = &h->sections[i];
    cr_assert_not_null(manifest);
    data[manifest->offset + 2] ^= 0x20;
    testlib_reseal(data, length);
    struct vial_signature_info info;
    cr_assert_eq(check(&info, data), VIAL_ESIGNATURE);
    free(data);
}

Test(sign, garbage_in_the_slot_is_corrupt)
{
    uint8_t *data = malloc(length);
    struct vial_signature_info info;
    /* an unsigned slot with a stray byte anywhere */
    for (size_t i = 4; i < sizeof(struct vial_signature_slot); i += 35) {
        memcpy(data, bytes, length);
        data[SLOT_OFFSET + i] = 1;
        cr_assert_eq(check(&info, data), VIAL_ECORRUPT, "slot byte %zu", i);
        cr_assert(strstr(vial_error_last(), "signature slot"), "%s", vial_error_last());
    }
    /* a type this reader does not know */
    memcpy(data, bytes, length);
    slot_of(data)->type = 2;
    cr_assert_eq(check(&info, data), VIAL_ECORRUPT);
    cr_assert(strstr(vial_error_last(), "unknown signature type 2"), "%s", vial_error_last());
    free(data);
    /* a valid signature with non-zero padding or reserved bytes */
    data = signed_copy();
    slot_of(data)->padding[39] = 7;
    cr_assert_eq(check(&info, data), VIAL_ECORRUPT);
    slot_of(data)->padding[39] = 0;
    slot_of(data)->reserved = 1;
    cr_assert_eq(check(&info, data), VIAL_ECORRUPT);
    slot_of(data)->reserved = 0;
    cr_assert_eq(check(&info, data), 0, "%s", vial_error_last());
    free(data);
}

Test(sign, metadata_is_verified_on_demand_when_open_did_not)
{
    uint8_t *data = malloc(length);
    memcpy(data, bytes, length);
    const struct vial_image_header *h = (const void *)data;
    for (uint32_t i = 0; i < h->section_count; i++)
        if (h->sections[i].type == VIAL_SECTION_MANIFEST)
            data[h->sections[i].offset + 1] ^= 0x01;
    struct vial_image *image = NULL;
    cr_assert_eq(vial_image_open_memory(&image, data, length, 0), 0, "%s", vial_error_last());
    cr_assert_eq(vial_image_verify_metadata(image), VIAL_EHASH);
    cr_assert(strstr(vial_error_last(), "manifest section does not match its hash"), "%s",
              vial_error_last());
    vial_image_close(image);
    free(data);
}
