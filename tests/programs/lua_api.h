/* The few functions of the Lua 5.4 C API that lua-embed calls, declared by
 * hand: liblua5.4-dev is deliberately not installed on the host (it would
 * install liblua5.4.so.0, the library the test must find only in an image). */
#ifndef VIALTEST_LUA_API_H
#define VIALTEST_LUA_API_H
#include <stddef.h>
#include <stdint.h>

typedef struct lua_State lua_State;
typedef int (*vialtest_lua_kfunction)(lua_State *L, int status, intptr_t ctx);

lua_State *luaL_newstate(void);
void luaL_openlibs(lua_State *L);
int luaL_loadstring(lua_State *L, const char *chunk);
int lua_pcallk(lua_State *L, int nargs, int nresults, int msgh, intptr_t ctx,
               vialtest_lua_kfunction k);
const char *lua_tolstring(lua_State *L, int index, size_t *len);
void lua_close(lua_State *L);
#endif
