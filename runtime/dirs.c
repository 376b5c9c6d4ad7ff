/* dirs.c - where Vial keeps things for the user (XDG base directories). */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

static const char *absolute_env(const char *name)
{
    const char *value = getenv(name);
    return value && value[0] == '/' ? value : NULL;
}

static const char *home_dir(void)
{
    const char *home = absolute_env("HOME");
    if (home)
        return home;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

int vial_dirs_get(struct vial_dirs *dirs)
{
    const char *home = home_dir(), *value;
    if (!home)
        return vial_error_set(-ENOENT, "no home directory: set HOME");
    if ((value = absolute_env("XDG_CACHE_HOME")))
        snprintf(dirs->cache, sizeof dirs->cache, "%s/vial", value);
    else
        snprintf(dirs->cache, sizeof dirs->cache, "%s/.cache/vial", home);
    if ((value = absolute_env("XDG_DATA_HOME")))
        snprintf(dirs->data, sizeof dirs->data, "%s/vial", value);
    else
        snprintf(dirs->data, sizeof dirs->data, "%s/.local/share/vial", home);
    if ((value = absolute_env("XDG_RUNTIME_DIR")))
        snprintf(dirs->runtime, sizeof dirs->runtime, "%s/vial", value);
    else
        snprintf(dirs->runtime, sizeof dirs->runtime, "/tmp/vial-%u", (unsigned)getuid());
    return 0;
}

int vial_mkdir_p(const char *path, unsigned mode)
{
    char buffer[4096];
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof buffer)
        return -ENAMETOOLONG;
    memcpy(buffer, path, length + 1);
    for (char *p = buffer + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buffer, mode) < 0 && errno != EEXIST)
            return -errno;
        if (saved == '\0')
            break;
        *p = saved;
    }
    return 0;
}
