/* liborigin.so: found by origin-app through DT_RUNPATH $ORIGIN/../lib */
#include <stdio.h>

const char *vialtest_origin_marker(void);

const char *vialtest_origin_marker(void)
{
    return "vialtest-origin: liborigin.so loaded through $ORIGIN/../lib";
}
