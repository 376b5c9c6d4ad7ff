/* isolation.c - the names of the isolation policies (manifest, session file). */
#include <string.h>

#include "runtime.h"

enum vial_isolation vial_isolation_from_name(const char *word)
{
    for (enum vial_isolation k = VIAL_ISOLATION_PASSTHROUGH; k <= VIAL_ISOLATION_FULL; k++)
        if (strcmp(word, vial_isolation_name(k)) == 0)
            return k;
    return 0;
}

const char *vial_isolation_name(enum vial_isolation kind)
{
    switch (kind) {
    case VIAL_ISOLATION_PASSTHROUGH: return "passthrough";
    case VIAL_ISOLATION_MERGED: return "merged";
    case VIAL_ISOLATION_WRITECOPY: return "writecopy";
    case VIAL_ISOLATION_FULL: return "full";
    }
    return "?";
}
