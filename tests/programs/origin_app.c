/* origin-app: needs liborigin.so, which only its $ORIGIN/../lib rpath finds
 * (/opt/vialtest/bin/origin-app -> /opt/vialtest/lib/liborigin.so). */
#include <stdio.h>

const char *vialtest_origin_marker(void);

int main(void)
{
    puts(vialtest_origin_marker());
    return 0;
}
