/* shadow-app: prints which libvialshadow.so.1 the dynamic loader gave it,
 * "image" or "host". */
#include <stdio.h>

const char *vialshadow_variant(void);

int main(void)
{
    printf("vialshadow: %s\n", vialshadow_variant());
    return 0;
}
