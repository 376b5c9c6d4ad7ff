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
#include <unistd.h>

#include "preload.h"

unsigned la_version(unsigned version)
{
    return version; /* any version: we use la_objsearch, la_objopen, la_symbind64 */
}

/* Declared hooks (hooks_declared.c): bindings from the application's
 * objects to a matching library's declared function get a closure. An
 * object we return 0 for costs nothing more at run time. */
unsigned la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie)
{
    (void)cookie; /* left as the link_map: la_objsearch relies on it */
    return vial_hooks_objopen(map, lmid);
}

uintptr_t la_symbind64(Elf64_Sym *sym, unsigned int ndx, uintptr_t *refcook, uintptr_t *defcook,
                       unsigned int *flags, const char *symname)
{
    (void)ndx, (void)refcook, (void)flags;
    return vial_hooks_bind(sym, (const struct link_map *)*defcook, symname);
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

/* The materialized view path of image file `path`, in result; 0 if the
 * image has no regular file there. */
static int image_library(char *result, size_t size, const char *path)
{
    struct vial_route_result r;
    struct vial_entry e;
    vial_route(&r, AT_FDCWD, path, 1);
    return r.route == VIAL_ROUTE_IMAGE && vial_image_entry(&e, vial_session.image, r.vfs.entry) == 0 &&
           e.primary_type == VIAL_ENTRY_REGULAR &&
           vial_preload_materialize(result, size, r.vfs.entry) == 0;
}

/* The loader drops RUNPATH/RPATH directories it cannot search (another
 * user's directory, say) before asking us about them, so for a bare name
 * we look through the requesting object's own search path in the image
 * first. The cookie is the requester's link_map (we set no other). */
static int search_own_path(char *result, size_t size, const char *name, uintptr_t cookie)
{
    const struct link_map *map = (const struct link_map *)cookie;
    const char *strtab = NULL, *path = NULL;
    ElfW(Xword) runpath = 0, rpath = 0;
    int have_runpath = 0, have_rpath = 0;
    if (!map || !map->l_ld)
        return 0;
    for (const ElfW(Dyn) *d = map->l_ld; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB)
            strtab = (const char *)d->d_un.d_ptr; /* relocated in place on x86_64 */
        else if (d->d_tag == DT_RUNPATH)
            runpath = d->d_un.d_val, have_runpath = 1;
        else if (d->d_tag == DT_RPATH)
            rpath = d->d_un.d_val, have_rpath = 1;
    }
    if (!strtab || !(have_runpath || have_rpath))
        return 0;
    path = strtab + (have_runpath ? runpath : rpath);
    /* $ORIGIN: the requester's directory, virtual */
    char origin[PATH_MAX];
    if (map->l_name && map->l_name[0] == '/') {
        snprintf(origin, sizeof origin, "%s", map->l_name);
    } else {
        ssize_t n = readlink("/proc/self/exe", origin, sizeof origin - 1);
        if (n <= 0)
            return 0;
        origin[n] = '\0';
    }
    vial_preload_unview(origin, sizeof origin);
    char *slash = strrchr(origin, '/');
    if (slash)
        *slash = '\0';
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        char directory[PATH_MAX], candidate[PATH_MAX];
        if (n >= 7 && strncmp(p, "$ORIGIN", 7) == 0)
            snprintf(directory, sizeof directory, "%s%.*s", origin, (int)(n - 7), p + 7);
        else if (n >= 9 && strncmp(p, "${ORIGIN}", 9) == 0)
            snprintf(directory, sizeof directory, "%s%.*s", origin, (int)(n - 9), p + 9);
        else
            snprintf(directory, sizeof directory, "%.*s", (int)n, p);
        if (directory[0] == '/' &&
            (size_t)snprintf(candidate, sizeof candidate, "%s/%s", directory, name) < sizeof candidate &&
            image_library(result, size, candidate))
            return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
    /* the loader calls us under its own lock: one buffer serves (and keeps
     * this module's thread-local storage small, see preload.h) */
    static char result[PATH_MAX];
    if (!name || is_glibc_library(name) || vial_preload_init() != 1)
        return (char *)name;
    if (name[0] != '/') {
        if (flag == LA_SER_ORIG && cookie && search_own_path(result, sizeof result, name, *cookie)) {
            vial_log(2, "library %s (search path of its requester) -> %s", name, result);
            return result;
        }
        return (char *)name;
    }
    char virtual_path[PATH_MAX];
    snprintf(virtual_path, sizeof virtual_path, "%s", name);
    int from_view = vial_preload_unview(virtual_path, sizeof virtual_path);
    if (image_library(result, sizeof result, virtual_path)) {
        vial_log(2, "library %s -> %s", name, result);
        return result;
    }
    /* a view path the image does not have cannot exist: let the loader try
     * the path as it would have without the view */
    if (from_view) {
        snprintf(result, sizeof result, "%s", virtual_path);
        return result;
    }
    return (char *)name;
}
