/* image_resolve.c - following symlinks inside one image. */
#include <errno.h>
#include <string.h>

#include "image_internal.h"

#define RESOLVE_MAX_SYMLINKS 40
#define RESOLVE_PATH_MAX 4096

/* Component-by-component walk over a working buffer "rest" that holds the
 * part still to resolve; a symlink's target is spliced in front of it. */
int vial_image_resolve(uint32_t *out_index, const struct vial_image *image, const char *path,
                       int follow_last)
{
    char rest[RESOLVE_PATH_MAX], spliced[RESOLVE_PATH_MAX];
    uint32_t stack[RESOLVE_PATH_MAX / 2]; /* directories walked, for ".." */
    size_t depth = 0, position = 0;
    unsigned symlinks = 0;
    int rc;
    if (strlen(path) >= sizeof rest)
        return vial_error_set(-ENAMETOOLONG, "path too long");
    strcpy(rest, path);
    stack[0] = 0;
    for (;;) {
        while (rest[position] == '/')
            position++;
        if (rest[position] == '\0')
            break;
        char *name = rest + position;
        size_t length = strcspn(name, "/");
        int last = name[length] == '\0' || name[length + strspn(name + length, "/")] == '\0';
        position += length;
        if (length == 1 && name[0] == '.')
            continue;
        if (length == 2 && name[0] == '.' && name[1] == '.') {
            if (depth > 0)
                depth--;
            continue;
        }
        uint32_t child;
        if ((rc = vial_image_child(&child, image, stack[depth], name, length)) < 0)
            return rc == -ENOENT ? vial_error_set(-ENOENT, "%s: not in the image", path) : rc;
        struct vial_entry entry;
        if ((rc = vial_image_entry(&entry, image, child)) < 0)
            return rc;
        if (entry.primary_type == VIAL_ENTRY_SYMLINK && (!last || follow_last)) {
            const char *target;
            size_t target_length;
            if (++symlinks > RESOLVE_MAX_SYMLINKS)
                return vial_error_set(-ELOOP, "%s: too many levels of symbolic links", path);
            if ((rc = vial_image_readlink(&target, &target_length, image, child)) < 0)
                return rc;
            size_t tail = strlen(rest + position);
            if (target_length + 1 + tail >= sizeof spliced)
                return vial_error_set(-ENAMETOOLONG, "%s: path too long after symlinks", path);
            memcpy(spliced, target, target_length);
            spliced[target_length] = '/';
            memcpy(spliced + target_length + 1, rest + position, tail + 1);
            memcpy(rest, spliced, target_length + tail + 2);
            position = 0;
            if (target[0] == '/')
                depth = 0;
            continue;
        }
        if (!last && entry.primary_type != VIAL_ENTRY_DIRECTORY)
            return vial_error_set(-ENOTDIR, "%s: not a directory on the way", path);
        if (depth + 1 >= sizeof stack / sizeof stack[0])
            return vial_error_set(-ENAMETOOLONG, "%s: path too deep", path);
        stack[++depth] = child;
    }
    *out_index = stack[depth];
    return 0;
}
