/* testlib.h - helpers shared by unit tests, fuzz corpus makers and benches. */
#ifndef VIAL_TESTLIB_H
#define VIAL_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

#include "packager/packager.h"

#define TESTLIB_MANIFEST "[package]\nname = test\nversion = 1.0\n"

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it with
 * testlib_rm_rf. Returns a malloc'ed path. */
char *testlib_mkdtemp(const char *tag);

/* Recursively removes path (no symlink is followed). */
void testlib_rm_rf(const char *path);

/* Writes a file of `length` bytes with the given mode, creating parents. */
int testlib_write_file(const char *root, const char *relative, const void *data, size_t length,
                       unsigned mode);

/* Packs root into image with the test manifest (manifest may be NULL),
 * `threads` threads and level 3. Returns 0 or the packer's error. */
int testlib_pack_tree(const char *root, const char *image, const char *manifest,
                      unsigned threads);

/* Reads a whole file into a malloc'ed buffer. */
int testlib_read_file(uint8_t **out, size_t *out_length, const char *path);

/* Writes a whole buffer to path (truncating). */
int testlib_write_whole(const char *path, const void *data, size_t length);

/* Re-seals an image buffer after a test changed it: recomputes the hashes
 * of the metadata sections, the page hashes and the root hash, so that the
 * reader's structural checks (not just its hash checks) are exercised. */
void testlib_reseal(uint8_t *image, size_t length);

#endif
