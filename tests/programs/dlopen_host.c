/* dlopen-host: loads a plugin by the absolute path it has inside the image
 * (/opt/vialtest/lib/plugin.so, which the host does not have) and calls it.
 * An optional argument overrides the path. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/opt/vialtest/lib/plugin.so";
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "dlopen-host: dlopen %s: %s\n", path, dlerror());
        return 1;
    }
    /* POSIX allows this conversion; C11 alone does not, hence the union */
    union { void *object; void (*function)(const char *); } hello;
    hello.object = dlsym(handle, "vialtest_plugin_hello");
    if (!hello.object) {
        fprintf(stderr, "dlopen-host: dlsym: %s\n", dlerror());
        return 1;
    }
    hello.function(path);
    if (dlclose(handle) != 0) {
        fprintf(stderr, "dlopen-host: dlclose: %s\n", dlerror());
        return 1;
    }
    return 0;
}
