/*
 * audit.c - the dynamic loader's side (LD_AUDIT): libraries come from the
 * image. la_objsearch sees every path the loader is about to try, with
 * $ORIGIN already expanded (a view path when the program runs from the
 * view), and may name another file instead.
 */
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

#include "preload.h"

unsigned la_version(unsigned version)
{
    return version; /* any version: we only use la_objsearch */
}

/* glibc's own libraries and its loader always come from the host (the
 * host's ld.so runs the process): an image's copies would not match it. */
static int is_glibc_library(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    static const char *const prefixes[] = {
        "ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so",
        "libresolv.so", "libutil.so", "libanl.so", "libmvec.so", "libnsl.so", "libnss_",
        "libBrokenLocale.so", "libc_malloc_debug.so", "libthread_db.so", "libmemusage.so",
        "libpcprofile.so"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
    static _Thread_local char result[PATH_MAX];
    (void)cookie;
    (void)flag;
    if (!name || name[0] != '/' || is_glibc_library(name) || vial_preload_init() != 1)
        return (char *)name;
    char virtual_path[PATH_MAX];
    snprintf(virtual_path, sizeof virtual_path, "%s", name);
    int from_view = vial_preload_unview(virtual_path, sizeof virtual_path);
    struct vial_route_result r;
    vial_route(&r, AT_FDCWD, virtual_path, 1);
    if (r.route != VIAL_ROUTE_IMAGE) {
        /* a view path the image does not have cannot exist: let the loader
         * try the path as it would have without the view */
        if (from_view) {
            snprintf(result, sizeof result, "%s", virtual_path);
            return result;
        }
        return (char *)name;
    }
    struct vial_entry e;
    if (vial_image_entry(&e, vial_session.image, r.vfs.entry) < 0 ||
        e.primary_type != VIAL_ENTRY_REGULAR ||
        vial_preload_materialize(result, sizeof result, r.vfs.entry) < 0)
        return (char *)name;
    vial_log(2, "library %s -> %s", name, result);
    return result;
}
