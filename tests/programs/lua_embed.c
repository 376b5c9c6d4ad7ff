/* lua-embed CHUNK: an application embedding Lua through Debian's shared
 * liblua5.4.so.0 (found by the dynamic loader's default search, no rpath),
 * as the lua5.4 interpreter itself does not: Debian links the interpreter
 * with the Lua core statically. Runs CHUNK, exits 0, or 1 with the error. */
#include <stdio.h>

#include "lua_api.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: lua-embed CHUNK\n");
        return 2;
    }
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "lua-embed: luaL_newstate failed\n");
        return 1;
    }
    luaL_openlibs(L);
    int status = luaL_loadstring(L, argv[1]);
    if (status == 0)
        status = lua_pcallk(L, 0, 0, 0, 0, NULL);
    if (status != 0) {
        const char *message = lua_tolstring(L, -1, NULL);
        fprintf(stderr, "lua-embed: %s\n", message ? message : "(error object is not a string)");
    }
    lua_close(L);
    return status == 0 ? 0 : 1;
}
