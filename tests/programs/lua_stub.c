/* Link-time stand-in for Debian's liblua5.4.so.0 (same soname, same symbol
 * version LUA_5.4): gives lua-embed its DT_NEEDED entry and versioned
 * references. It is never staged or run: at run time the real library must
 * come from the image. */
#include "lua_api.h"

lua_State *luaL_newstate(void) { return NULL; }
void luaL_openlibs(lua_State *L) { (void)L; }
int luaL_loadstring(lua_State *L, const char *chunk) { (void)L; (void)chunk; return -1; }
int lua_pcallk(lua_State *L, int nargs, int nresults, int msgh, intptr_t ctx,
               vialtest_lua_kfunction k)
{
    (void)L; (void)nargs; (void)nresults; (void)msgh; (void)ctx; (void)k;
    return -1;
}
const char *lua_tolstring(lua_State *L, int index, size_t *len)
{
    (void)L; (void)index; (void)len;
    return "stub";
}
void lua_close(lua_State *L) { (void)L; }
