/* chunker.c - hashing files and cutting large ones at content-defined
 * boundaries (a gear rolling hash, as in FastCDC), so that an insertion in
 * a large file moves only the chunks around it. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "packer_internal.h"

uint64_t vial_pack_gear[256];

static void gear_fill(void)
{
    /* splitmix64 from a fixed seed: the table is part of the format's
     * behaviour (chunk boundaries), so it must never change. */
    uint64_t state = 0x5649414c47454152ull; /* "VIALGEAR" */
    for (int i = 0; i < 256; i++) {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        vial_pack_gear[i] = z ^ (z >> 31);
    }
}

void vial_pack_gear_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, gear_fill);
}
