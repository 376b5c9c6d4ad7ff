#!/bin/bash
# Real applications run from images with `vial run` / `vial exec` on a host
# where they are not installed (issue 3's acceptance):
#   - lua5.4 and lua5.3 from Debian, side by side, each providing /usr/bin/lua;
#   - Debian's python3.11 running an app whose modules exist only in the image,
#     from the .pyc files fetch.sh compiled;
#   - test programs (tests/programs): dlopen of an image plugin, a library
#     found through an $ORIGIN rpath, a re-exec of /proc/self/exe, an image
#     library shadowing a different host library of the same soname, a
#     posix_spawnp child;
#   - the bubble surviving env -i, sh -c, a pipeline, PATH lookups, posix_spawn;
#   - the app's exit status as vial's.
# This host has its own python3.11 (and may have other copies), so a lookup
# that silently fell back to the host would still print the right thing:
# every real-app check proves from outside, through /proc/PID/exe and
# /proc/PID/maps, that the code was mapped from the cache's per-image views.
#
# Fixtures: build/fixtures/{lua54,lua53,python}-root + *.ini are made by
# tests/fixtures/fetch.sh (ctest runs it first as the test fixtures-run-apps;
# the root run of this test calls it too if needed), vialtest-root +
# vialtest.ini by tests/programs/stage.sh at build time. The unprivileged run
# only reads them.
source "$(dirname "$0")/lib.sh"

# ------------------------------------------------------------------ set-up
# (XDG directories under $WORK, background apps, the /proc proofs: apps-lib.sh)
source "$(dirname "$0")/apps-lib.sh"
need_fixtures lua54-root lua53-root python-root vialtest-root

# ------------------------------------------------------------------ helpers
pack() { # NAME [ROOT]: packs ROOT (default $FIXTURES/NAME-root) with $FIXTURES/NAME.ini
    local name=$1 root=${2:-$FIXTURES/$1-root}
    "$VIAL" pack "$root" -o "$WORK/$name.vial" --manifest "$FIXTURES/$name.ini" \
        -j2 >/dev/null 2>"$WORK/pack.err" || { cat "$WORK/pack.err" >&2; fail "vial pack $name-root"; }
}

# The hold loop of the lua tests: print the PID (Lua has no getpid) and the
# version, then block reading stdin until it is closed. Debian's lua5.x
# interpreters have the Lua core linked in statically and never load
# liblua5.x.so.0 by themselves: the chunk dlopen()s it ("*": link only) from
# its image path, so that /proc/PID/maps can show where it came from.
LUA_HOLD='local v = _VERSION:match("%d+%.%d+")
assert(package.loadlib("/usr/lib/x86_64-linux-gnu/liblua" .. v .. ".so.0", "*"))
local f = assert(io.open("/proc/self/stat")); local pid = f:read("n"); f:close()
print("pid " .. pid .. " " .. _VERSION); io.stdout:flush(); io.read("a")'

# ------------------------------------------------------------------ images
# (works before `vial run` exists: checks the fixtures and the packer)
pack lua54
pack lua53
pack python
pack vialtest
# lua-embed links liblua5.4.so.0 (DT_NEEDED, no rpath): packed with lua5.4's tree
mkdir "$WORK/lua54-embed-root"
cp -a "$FIXTURES/lua54-root/." "$FIXTURES/vialtest-root/opt" "$WORK/lua54-embed-root/"
pack lua54-embed "$WORK/lua54-embed-root"
"$VIAL" ls "$WORK/lua54.vial" /usr/bin -l >"$WORK/ls" || fail "vial ls lua54.vial /usr/bin"
grep -q ' lua -> lua5.4$' "$WORK/ls" || { cat "$WORK/ls" >&2; fail "lua54.vial has no /usr/bin/lua -> lua5.4"; }
"$VIAL" ls "$WORK/lua53.vial" /usr/bin -l >"$WORK/ls" || fail "vial ls lua53.vial /usr/bin"
grep -q ' lua -> lua5.3$' "$WORK/ls" || { cat "$WORK/ls" >&2; fail "lua53.vial has no /usr/bin/lua -> lua5.3"; }
"$VIAL" ls "$WORK/lua54.vial" /usr/lib/x86_64-linux-gnu >"$WORK/ls" || fail "vial ls lua54.vial"
grep -qx 'liblua5.4.so.0.0.0' "$WORK/ls" || fail "lua54.vial lacks liblua5.4.so.0.0.0"
"$VIAL" ls "$WORK/python.vial" /opt/pyapp/pyapp/__pycache__ >"$WORK/ls" || fail "vial ls python.vial"
grep -qx 'main.cpython-311.pyc' "$WORK/ls" || fail "python.vial lacks the app's .pyc"
"$VIAL" ls "$WORK/python.vial" /usr/lib/python3.11/json/__pycache__ >"$WORK/ls" || fail "vial ls python.vial"
grep -qx '__init__.cpython-311.pyc' "$WORK/ls" || fail "python.vial lacks the stdlib's .pyc"
pass "lua5.4, lua5.3, python3.11 and the test programs packed (alternatives links and .pyc in place)"

if ! "$VIAL" run --help >/dev/null 2>&1; then
    echo "skipped: vial run not available ('$VIAL run --help' fails)"
    exit 0
fi

# ------------------------------------------------------------------ host
# What the host lacks is what makes the checks below proofs.
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
if command -v lua5.4 >/dev/null || "$ldconfig" -p | has_line 'liblua5\.4\.so\.0'; then
    echo "!!!! WARNING: this host has lua5.4 or liblua5.4.so.0 installed; the lua checks"
    echo "!!!! below still prove through /proc that the image's copies ran, but the"
    echo "!!!! 'not installed on the host' premise of the acceptance does not hold here."
else
    pass "host: no lua5.4 on PATH, no liblua5.4.so.0 in ldconfig's cache"
fi
host_lua=absent
if [ -e /usr/bin/lua ] || [ -L /usr/bin/lua ]; then
    host_lua=present
    echo "!!!! WARNING: this host has /usr/bin/lua; the side-by-side check cannot show it stays absent"
fi
for dir in /opt/pyapp /opt/vialtest; do
    [ ! -e "$dir" ] || fail "the host has $dir: the image-only checks would prove nothing"
done

# ------------------------------------------------------------------ lua
expect_out "Lua 5.4" "$VIAL" run "$WORK/lua54.vial" -- -e 'print(_VERSION)'
pass "vial run lua54.vial -- -e 'print(_VERSION)' prints Lua 5.4"
expect_out "Lua 5.3" "$VIAL" run "$WORK/lua53.vial" -- -e 'print(_VERSION)'
pass "vial run lua53.vial prints Lua 5.3"
expect_status 0 "$VIAL" run "$WORK/lua54.vial" luac -- -v
grep -q '^Lua 5\.4' "$WORK/stdout" || { cat "$WORK/stdout" >&2; fail "the luac entry of lua54.vial is not luac 5.4"; }
pass "a named entry (luac) runs /usr/bin/luac5.4"

# Side by side: both images' /usr/bin/lua at once, from a cold cache.
start_bg lua54 "$VIAL" run "$WORK/lua54.vial" -- -e "$LUA_HOLD"
start_bg lua53 "$VIAL" run "$WORK/lua53.vial" -- -e "$LUA_HOLD"
line54=$(wait_line lua54 '^pid [0-9]+ ')
line53=$(wait_line lua53 '^pid [0-9]+ ')
pid54=$(echo "$line54" | cut -d' ' -f2)
pid53=$(echo "$line53" | cut -d' ' -f2)
[ "${line54#pid * }" = "Lua 5.4" ] || fail "lua54.vial's /usr/bin/lua says '${line54#pid * }'"
[ "${line53#pid * }" = "Lua 5.3" ] || fail "lua53.vial's /usr/bin/lua says '${line53#pid * }'"
if ! kill -0 "$pid54" || ! kill -0 "$pid53"; then fail "a lua process ended while it should hold"; fi
view54=$(in_view "$(readlink "/proc/$pid54/exe")" /usr/bin/lua5.4)
view53=$(in_view "$(readlink "/proc/$pid53/exe")" /usr/bin/lua5.3)
[ "$view54" != "$view53" ] || fail "lua5.4 and lua5.3 share the view $view54"
maps_check "$pid54" 'liblua5\.[0-9]' /usr/lib/x86_64-linux-gnu/liblua5.4.so.0.0.0
maps_check "$pid53" 'liblua5\.[0-9]' /usr/lib/x86_64-linux-gnu/liblua5.3.so.0.0.0
pass "lua5.4 (PID $pid54) and lua5.3 (PID $pid53) run at once; /proc/PID/exe and liblua in /proc/PID/maps are the images' (views $view54, $view53)"
if [ "$host_lua" = absent ]; then
    if [ -e /usr/bin/lua ] || [ -L /usr/bin/lua ]; then fail "/usr/bin/lua appeared on the host"; fi
fi
stop_bg lua54
stop_bg lua53
if [ "$host_lua" = absent ]; then
    if [ -e /usr/bin/lua ] || [ -L /usr/bin/lua ]; then fail "/usr/bin/lua appeared on the host"; fi
    pass "the host has no /usr/bin/lua before, during or after"
fi

# An application linked against liblua5.4.so.0, which the host lacks: the
# dynamic loader finds the image's copy through la_objsearch.
if "$FIXTURES/vialtest-root/opt/vialtest/bin/lua-embed" 'print(_VERSION)' >/dev/null 2>&1; then
    fail "lua-embed runs natively: the host has a liblua5.4.so.0"
fi
expect_out "Lua 5.4" "$VIAL" run "$WORK/lua54-embed.vial" -- 'print(_VERSION)'
start_bg embed "$VIAL" run "$WORK/lua54-embed.vial" -- "$LUA_HOLD"
line=$(wait_line embed '^pid [0-9]+ ')
pid=$(echo "$line" | cut -d' ' -f2)
in_view "$(readlink "/proc/$pid/exe")" /opt/vialtest/bin/lua-embed >/dev/null
maps_check "$pid" 'liblua5\.[0-9]' /usr/lib/x86_64-linux-gnu/liblua5.4.so.0.0.0
stop_bg embed
pass "lua-embed (DT_NEEDED liblua5.4.so.0, not on the host) maps the image's liblua5.4.so.0 (PID $pid)"

# Exit status.
expect_status 7 "$VIAL" run "$WORK/lua54.vial" -- -e 'os.exit(7)'
expect_status 0 "$VIAL" run "$WORK/lua54.vial" -- -e 'os.exit(true)'
expect_status 1 "$VIAL" run "$WORK/lua54.vial" -- -e 'error("boom")'
expect_status 9 "$VIAL" exec "$WORK/lua53.vial" -- lua -e 'os.exit(9)'
pass "the app's exit status is vial's (7, 0, 1 on a Lua error, 9 through vial exec)"

# vial exec: PATH lookup inside the bubble, and children that keep it.
expect_out "Lua 5.4" "$VIAL" exec "$WORK/lua54.vial" -- lua -e 'print(_VERSION)'
expect_out "Lua 5.3" "$VIAL" exec "$WORK/lua53.vial" -- lua5.3 -e 'print(_VERSION)'
pass "vial exec finds the image's lua and lua5.3 through PATH"
expect_out "Lua 5.4" "$VIAL" exec "$WORK/lua54.vial" -- sh -c 'lua -e "print(_VERSION)"'
pass "sh -c runs the image's lua found by PATH"
expect_out "Lua 5.4" "$VIAL" exec "$WORK/lua54.vial" -- sh -c 'lua -e "print(_VERSION)" | cat'
expect_status 0 "$VIAL" exec "$WORK/lua54.vial" -- sh -c 'lua -v | cat'
grep -q '^Lua 5\.4' "$WORK/stdout" || { cat "$WORK/stdout" >&2; fail "'lua -v | cat' did not print Lua 5.4"; }
pass "a pipeline (lua | cat) in sh -c stays in the bubble"
expect_out "Lua 5.4" "$VIAL" exec "$WORK/lua54.vial" -- env -i /usr/bin/lua -e 'print(_VERSION)'
expect_out "Lua 5.4" "$VIAL" exec "$WORK/lua54.vial" -- env -i /bin/sh -c 'lua5.4 -e "print(_VERSION)"'
pass "env -i (and then sh's default PATH lookup) keeps the bubble"

# ------------------------------------------------------------------ python
pyhome="$FIXTURES/python-root/usr"
image_pyversion=$(PYTHONHOME="$pyhome" "$pyhome/bin/python3.11" -B -S -c 'import sys; print(sys.version)') ||
    fail "the fixture's python3.11 does not run natively"
host_pyversion=$(/usr/bin/python3.11 -B -S -c 'import sys; print(sys.version)' 2>/dev/null || echo none)

expect_status 0 "$VIAL" run "$WORK/python.vial"
out=$(cat "$WORK/stdout")
grep -qxF "pyapp-marker version=$image_pyversion" <<<"$out" ||
    { echo "$out" >&2; fail "pyapp did not run on the image's python3.11 ($image_pyversion)"; }
grep -q '^pyapp-marker file=/opt/pyapp/pyapp/main\.py pid=' <<<"$out" ||
    { echo "$out" >&2; fail "pyapp's module is not /opt/pyapp/pyapp/main.py"; }
grep -qxF "pyapp-marker executable=/usr/bin/python3.11 prefix=/usr" <<<"$out" ||
    { echo "$out" >&2; fail "pyapp's sys.executable/sys.prefix are not the virtual /usr ones"; }
grep -q '^pyapp-marker json=/usr/lib/python3\.11/json/__init__\.py decimal=3\.10 expat=expat_' <<<"$out" ||
    { echo "$out" >&2; fail "pyapp's stdlib imports are wrong"; }
pass "vial run python.vial: the app's module is /opt/pyapp/pyapp/main.py (image only)"
if [ "$image_pyversion" != "$host_pyversion" ]; then
    pass "sys.version is the image's build ($image_pyversion), not the host's ($host_pyversion)"
fi

expect_status 3 "$VIAL" run "$WORK/python.vial" -- --exit=3
pass "pyapp's sys.exit(3) is vial's status"

# Hold the app and look at it from outside; PYTHONVERBOSE shows which .pyc
# were used (the launcher script passes the environment on).
start_bg py env PYTHONVERBOSE=1 "$VIAL" run "$WORK/python.vial" -- --wait
pyline=$(wait_line py '^pyapp-marker file=')
pypid=${pyline##*pid=}
in_view "$(readlink "/proc/$pypid/exe")" /usr/bin/python3.11 >/dev/null
maps_check "$pypid" '/lib-dynload/_(json|decimal)\.' \
    /usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so \
    /usr/lib/python3.11/lib-dynload/_decimal.cpython-311-x86_64-linux-gnu.so
[ "$(awk '$6 ~ /lib-dynload\/_(json|decimal)\./ { print $6 }' "/proc/$pypid/maps" | sort -u | wc -l)" = 2 ] ||
    fail "python did not map both _json and _decimal"
mapfile -t dynload < <(cd "$FIXTURES/python-root" && find usr/lib/python3.11/lib-dynload -name '*.so' -printf '/%p\n')
maps_check "$pypid" '/lib-dynload/' "${dynload[@]}"
# Debian ships libexpat1 in /lib (not /usr/lib) and the image's copy is
# another revision than the host's: the interpreter must map the image's,
# whichever of the merged-/usr spellings the view uses.
maps_check "$pypid" '/libexpat\.so' /lib/x86_64-linux-gnu/libexpat.so.1.8.10
pass "python3.11 (PID $pypid): /proc/PID/exe, lib-dynload modules and libexpat (from /lib) are the image's"
stop_bg py
for module in pyapp/__init__ pyapp/main; do
    grep -qF "# /opt/pyapp/pyapp/__pycache__/${module#pyapp/}.cpython-311.pyc matches /opt/pyapp/$module.py" "$WORK/py.err" ||
        { cat "$WORK/py.err" >&2; fail "python did not use the image's .pyc of /opt/pyapp/$module.py"; }
done
grep -qF "# /usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc matches /usr/lib/python3.11/json/__init__.py" "$WORK/py.err" ||
    { cat "$WORK/py.err" >&2; fail "python did not use the .pyc of json"; }
if grep -E 'bytecode is stale|could not create|^# created ' "$WORK/py.err" >&2; then
    fail "python found stale .pyc or tried to write some (above)"
fi
pass "the image's .pyc were used (timestamps match the image's metadata), none rewritten"

# PATH lookup of an image binary at the same path as a host one
# (/usr/bin/python3.11 exists on both sides).
expect_out "$image_pyversion" env PATH=/usr/bin:/bin "$VIAL" exec "$WORK/python.vial" -- \
    python3.11 -S -c 'import sys; print(sys.version)'
pass "vial exec python.vial -- python3.11 runs the image's interpreter, not the host's"

# ------------------------------------------------------------------ programs
hostlib=$(cat "$FIXTURES/vialtest-root/opt/vialtest/hostlib-path")
origin_marker="vialtest-origin: liborigin.so loaded through \$ORIGIN/../lib"
expect_out "vialtest-plugin: hello from /opt/vialtest/lib/plugin.so" \
    "$VIAL" run "$WORK/vialtest.vial" dlopen-host
pass "dlopen of /opt/vialtest/lib/plugin.so (image only)"
expect_out "$origin_marker" \
    "$VIAL" run "$WORK/vialtest.vial" origin-app
pass "\$ORIGIN/../lib rpath resolved in the image"
expect_status 0 "$VIAL" run "$WORK/vialtest.vial" reexec-self
printf 'reexec-self: first exe=/opt/vialtest/bin/reexec-self\nreexec-self: second exe=/opt/vialtest/bin/reexec-self\n' >"$WORK/want"
diff "$WORK/want" "$WORK/stdout" >&2 || fail "reexec-self did not see its virtual path both times"
pass "re-exec of /proc/self/exe; readlink shows /opt/vialtest/bin/reexec-self both times"

# The shadowed library: natively shadow-app finds the "host" copy through
# its rpath; in the bubble the image's file at that same path must win.
case $hostlib in
    /tmp/* | /run/* | /dev/* | /proc/* | /sys/*)
        echo "!!!! WARNING: the build directory ($hostlib) is under a passthrough prefix;"
        echo "!!!! the shadowed-library check needs a build outside /tmp, /run, /dev, /proc, /sys: SKIPPED" ;;
    *)
        if [ -r "$hostlib/libvialshadow.so.1" ]; then
            expect_out "vialshadow: host" "$FIXTURES/vialtest-root/opt/vialtest/bin/shadow-app"
        else
            echo "note: $hostlib is not readable by $(id -un); the host copy cannot be the one loaded"
        fi
        expect_out "vialshadow: image" "$VIAL" run "$WORK/vialtest.vial" shadow-app
        expect_out "vialshadow: image" "$VIAL" exec "$WORK/vialtest.vial" -- \
            env -i /opt/vialtest/bin/spawn-child /opt/vialtest/bin/shadow-app
        pass "libvialshadow.so.1: the image's copy wins over the host's at $hostlib (also after env -i + posix_spawn)" ;;
esac

# Children of image programs: env -i, sh -c, pipelines, PATH, posix_spawnp.
expect_out "$origin_marker" \
    "$VIAL" exec "$WORK/vialtest.vial" -- env -i /opt/vialtest/bin/origin-app
expect_out "vialtest-plugin: hello from /opt/vialtest/lib/plugin.so" \
    "$VIAL" exec "$WORK/vialtest.vial" -- sh -c '/opt/vialtest/bin/dlopen-host | cat'
expect_out "$origin_marker" \
    env PATH="/opt/vialtest/bin:$PATH" "$VIAL" exec "$WORK/vialtest.vial" -- origin-app
expect_out "$origin_marker" \
    "$VIAL" exec "$WORK/vialtest.vial" -- env PATH=/opt/vialtest/bin:/usr/bin:/bin spawn-child origin-app
expect_status 0 "$VIAL" exec "$WORK/vialtest.vial" -- env -i /bin/sh -c \
    'PATH=/opt/vialtest/bin; reexec-self | /bin/cat'
diff "$WORK/want" "$WORK/stdout" >&2 || fail "reexec-self under env -i + sh + PATH lookup lost its virtual path"
pass "image programs stay in the bubble through env -i, sh -c, pipelines, PATH lookups and posix_spawnp"

[ -n "$(ls -A "$XDG_CACHE_HOME/vial/files" 2>/dev/null)" ] ||
    fail "nothing was materialized under $XDG_CACHE_HOME/vial/files"
finish
