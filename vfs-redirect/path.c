/* path.c - lexical path rules of the virtual namespace. */
#include <errno.h>
#include <string.h>

#include "vfs.h"

static int append(char *out, size_t size, size_t *length, const char *component, size_t n)
{
    if (*length + 1 + n + 1 > size)
        return -ENAMETOOLONG;
    out[(*length)++] = '/';
    memcpy(out + *length, component, n);
    *length += n;
    out[*length] = '\0';
    return 0;
}

/* Feeds the components of path into out, resolving "." and "..". */
static int feed(char *out, size_t size, size_t *length, const char *path)
{
    while (*path) {
        while (*path == '/')
            path++;
        if (!*path)
            break;
        size_t n = strcspn(path, "/");
        if (n == 2 && path[0] == '.' && path[1] == '.') {
            while (*length > 0 && out[*length - 1] != '/')
                (*length)--;
            if (*length > 0)
                (*length)--; /* the slash */
            out[*length] = '\0';
        } else if (!(n == 1 && path[0] == '.')) {
            int rc = append(out, size, length, path, n);
            if (rc < 0)
                return rc;
        }
        path += n;
    }
    return 0;
}

int vial_vfs_normalize(char *out, size_t size, const char *path, const char *cwd)
{
    size_t length = 0;
    int rc;
    if (!path || !*path)
        return -EINVAL;
    if (size < 2)
        return -ENAMETOOLONG;
    out[0] = '\0';
    if (path[0] != '/' && cwd && (rc = feed(out, size, &length, cwd)) < 0)
        return rc;
    if ((rc = feed(out, size, &length, path)) < 0)
        return rc;
    if (length == 0) {
        out[0] = '/';
        out[1] = '\0';
    }
    return 0;
}

int vial_vfs_usr_merge(char *path, size_t size)
{
    static const char *const aliases[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        size_t n = strlen(aliases[i]);
        if (strncmp(path, aliases[i], n) != 0 || (path[n] != '/' && path[n] != '\0'))
            continue;
        size_t length = strlen(path);
        if (length + 4 + 1 > size)
            return -ENAMETOOLONG;
        memmove(path + 4, path, length + 1);
        memcpy(path, "/usr", 4);
        return 1;
    }
    return 0;
}
