/* plugin.so for dlopen-host */
#include <stdio.h>

void vialtest_plugin_hello(const char *path);

void vialtest_plugin_hello(const char *path)
{
    printf("vialtest-plugin: hello from %s\n", path);
    fflush(stdout);
}
