/* hash.c - BLAKE2b-256 (libsodium) for content, FNV-1a for the path table. */
#include <sodium.h>

#include "runtime.h"

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(struct vial_hasher),
               "struct vial_hasher must hold libsodium's state");
_Static_assert(VIAL_HASH_LEN >= crypto_generichash_BYTES_MIN &&
                   VIAL_HASH_LEN <= crypto_generichash_BYTES_MAX,
               "BLAKE2b output length");

void vial_hash(uint8_t out[VIAL_HASH_LEN], const void *data, size_t len)
{
    crypto_generichash(out, VIAL_HASH_LEN, data, len, NULL, 0);
}

void vial_hasher_init(struct vial_hasher *hasher)
{
    crypto_generichash_init((crypto_generichash_state *)hasher->opaque, NULL, 0, VIAL_HASH_LEN);
}

void vial_hasher_update(struct vial_hasher *hasher, const void *data, size_t len)
{
    crypto_generichash_update((crypto_generichash_state *)hasher->opaque, data, len);
}

void vial_hasher_final(struct vial_hasher *hasher, uint8_t out[VIAL_HASH_LEN])
{
    crypto_generichash_final((crypto_generichash_state *)hasher->opaque, out, VIAL_HASH_LEN);
}

void vial_hash_hex(char out[2 * VIAL_HASH_LEN + 1], const uint8_t hash[VIAL_HASH_LEN])
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < VIAL_HASH_LEN; i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 15];
    }
    out[2 * VIAL_HASH_LEN] = '\0';
}

uint64_t vial_path_hash(const char *path, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)path[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
