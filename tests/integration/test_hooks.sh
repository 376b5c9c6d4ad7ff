#!/bin/bash
# Declared hooks (manifest [hook NAME], docs/running.md#declared-hooks):
# libvialhooktest.so.1 (tests/programs/hooktest_lib.c) reads and writes
# files with raw system calls, which no libc hook sees. Packed without a
# [hook] section, hook-app cannot reach a file that exists only in the
# image; packed with one, the library's path argument is resolved through
# the bubble: read from the image, written into the user's delta (never
# the host). Variadic and floating-point functions are forwarded exactly,
# errno is kept across the hook's own work and passed back from the call,
# log = yes reports each call with its decoded arguments, a malformed
# declaration is refused by vial pack with its line, and one that reaches
# the interposer anyway (a damaged session) is skipped with a log line.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apps-lib.sh"
need_fixtures vialtest-root

ROOT="$WORK/root"
mkdir -p "$ROOT/opt/vialtest/share"
cp -a "$FIXTURES/vialtest-root/opt/vialtest/bin" "$FIXTURES/vialtest-root/opt/vialtest/lib" "$ROOT/opt/vialtest/"
printf 'only in the image\n' >"$ROOT/opt/vialtest/share/hooktest.txt"
chmod -R a+rX "$ROOT"
[ ! -e /opt/vialtest ] || fail "/opt/vialtest exists on this host: the test needs it virtual"
# the sum of the file's bytes, what hooktest_open_path returns
SUM=$(od -An -v -tu1 "$ROOT/opt/vialtest/share/hooktest.txt" | tr -s ' ' '\n' | awk '{s += $1} END {print s}')

cat >"$WORK/plain.ini" <<'INI'
[package]
name = hooktest
version = 1.0
[entry hook-app]
exec = /opt/vialtest/bin/hook-app
INI
cp "$WORK/plain.ini" "$WORK/hooks.ini"
cat >>"$WORK/hooks.ini" <<'INI'
[hook open-path]
library = libvialhooktest.so*
symbol = hooktest_open_path
signature = int(str)
path = 1
path_mode = read
log = yes
[hook write-path]
library = libvialhooktest.so*
signature = int hooktest_write_path(str path, str text)
path = 1
path_mode = write
[hook sum]
library = libvialhooktest.so.1
symbol = hooktest_sum
signature = int(int count, ...: int, int, int)
log = yes
[hook scale]
library = libvialhooktest.so*
symbol = hooktest_scale
signature = double(double, float, int64)
log = yes
[hook fail]
library = libvialhooktest.so*
symbol = hooktest_fail
signature = int(int)
log = yes
[hook absent]
library = libnothere.so.*
symbol = nothere
signature = void(str)
path = 1
INI
pack() { # NAME
    "$VIAL" pack "$ROOT" -o "$WORK/$1.vial" --manifest "$WORK/$1.ini" >/dev/null 2>"$WORK/pack.err" ||
        { cat "$WORK/pack.err" >&2; fail "vial pack $1"; }
}
pack plain
pack hooks
pass "packed with and without [hook] sections"

# ------------------------------------------------------------ without hooks
expect_status 1 "$VIAL" run "$WORK/plain.vial" hook-app -- open /opt/vialtest/share/hooktest.txt
has_line -qF "libc: $SUM" "$WORK/stdout" || { cat "$WORK/stdout"; fail "libc did not read the image file"; }
has_line -qF "open failed: No such file or directory" "$WORK/stdout" ||
    { cat "$WORK/stdout"; fail "without a hook, the raw openat should miss the virtual file"; }
pass "without a hook the library's raw openat misses the image file (ENOENT)"

# ------------------------------------------------------------ with hooks
export VIAL_LOG=1 VIAL_LOG_FILE="$WORK/log"
expect_status 0 "$VIAL" run "$WORK/hooks.vial" hook-app -- open /opt/vialtest/share/hooktest.txt
has_line -qx "open /opt/vialtest/share/hooktest.txt: $SUM (libc: $SUM) errno 4321" "$WORK/stdout" ||
    { cat "$WORK/stdout"; fail "the read hook"; }
has_line -E "hook open-path: hooktest_open_path\(\"/opt/vialtest/share/hooktest.txt\"\) = $SUM \[path -> /.*/views/.*/opt/vialtest/share/hooktest.txt\]\$" "$WORK/log" ||
    { cat "$WORK/log"; fail "the read hook's log line"; }
pass "path = 1, path_mode = read: the library reads the image file (materialized in the view), errno kept"

expect_status 0 "$VIAL" run "$WORK/hooks.vial" hook-app -- sum
has_line -qx "sum: 99987 errno 1234" "$WORK/stdout" || { cat "$WORK/stdout"; fail "variadic forwarding"; }
has_line -qF "hook sum: hooktest_sum(3, 100000, -20, 7) = 99987" "$WORK/log" || { cat "$WORK/log"; fail "sum's log line"; }
pass "a variadic function with a declared tail is forwarded exactly (and logged)"

expect_status 0 "$VIAL" run "$WORK/hooks.vial" hook-app -- scale
has_line -qx "scale: -0x1.1b5c289333333p+4 (expected -0x1.1b5c289333333p+4)" "$WORK/stdout" ||
    { cat "$WORK/stdout"; fail "floating-point forwarding"; }
has_line -qF "hook scale: hooktest_scale(1.1000000000000001, 2.29999995, -7) = -17.709999632835387" "$WORK/log" ||
    { cat "$WORK/log"; fail "scale's log line"; }
pass "double, float and int64 arguments and a double result are forwarded bit for bit"

expect_status 0 "$VIAL" run "$WORK/hooks.vial" hook-app -- fail
has_line -qx "fail: -1 errno 18" "$WORK/stdout" || { cat "$WORK/stdout"; fail "errno of the call"; }
has_line -qF "hook fail: hooktest_fail(18) = -1 (errno 18)" "$WORK/log" || { cat "$WORK/log"; fail "fail's log line"; }
pass "the original call's errno reaches the caller"

expect_status 0 "$VIAL" run "$WORK/hooks.vial" hook-app -- write /opt/vialtest/share/out.txt "written through a hook"
has_line -qx "write /opt/vialtest/share/out.txt: 22" "$WORK/stdout" || { cat "$WORK/stdout"; fail "the write hook"; }
[ ! -e /opt/vialtest/share/out.txt ] || fail "the write reached the host"
"$VIAL" diff "$WORK/hooks.vial" >"$WORK/diff" || fail "vial diff"
has_line -qx "A /opt/vialtest/share/out.txt" "$WORK/diff" || { cat "$WORK/diff"; fail "vial diff lacks the written file"; }
SUM2=$(printf 'written through a hook' | od -An -v -tu1 | tr -s ' ' '\n' | awk '{s += $1} END {print s}')
expect_status 0 "$VIAL" run "$WORK/hooks.vial" hook-app -- open /opt/vialtest/share/out.txt
has_line -qx "open /opt/vialtest/share/out.txt: $SUM2 (libc: $SUM2) errno 4321" "$WORK/stdout" ||
    { cat "$WORK/stdout"; fail "reading back the written file"; }
pass "path_mode = write: the write lands in the user's delta (vial diff: A), not on the host"

# ------------------------------------------------------ vial trace --hook
# The plain image (no [hook]) misses the file through the raw openat; with
# the declaration on vial trace's command line it reads it, and the trace
# shows the hooked call with the virtual path and where it was sent.
expect_status 0 env -u VIAL_LOG -u VIAL_LOG_FILE "$VIAL" trace "$WORK/plain.vial" hook-app -o "$WORK/trace.txt" \
    --hook 'library=libvialhooktest.so* symbol=hooktest_open_path path=1 path_mode=read signature=int(str)' \
    -- open /opt/vialtest/share/hooktest.txt
has_line -qF "open /opt/vialtest/share/hooktest.txt: $SUM (libc: $SUM)" "$WORK/stdout" ||
    { cat "$WORK/stdout"; fail "vial trace --hook did not hook the raw openat"; }
grep ' hooktest_open_path(' "$WORK/trace.txt" >"$WORK/hooked" || { cat "$WORK/trace.txt"; fail "no trace line of the declared hook"; }
has_line -F "= $SUM path \"/opt/vialtest/share/hooktest.txt\" real \"$XDG_CACHE_HOME/vial/views/" "$WORK/hooked" ||
    { cat "$WORK/hooked"; fail "the hook's trace line lacks its result, path or real path"; }
expect_status 2 "$VIAL" trace "$WORK/plain.vial" --hook 'signature=int hooktest_open_path(...)'
expect_stderr "untyped"
pass "vial trace --hook: a declaration on the command line hooks the call, and the trace shows it"

# ------------------------------------------------------------ refused at pack
bad() { # WHY: the manifest on stdin must be refused naming its line
    cat "$WORK/plain.ini" - >"$WORK/bad.ini"
    expect_status 1 "$VIAL" pack "$ROOT" -o "$WORK/bad.vial" --manifest "$WORK/bad.ini"
    has_line -qF "$1" "$WORK/stderr" || { cat "$WORK/stderr"; fail "pack should refuse: $1"; }
}
printf '[hook a]\nlibrary = libx.so\nsignature = int open(str, int, ...)\n' |
    bad "bad.ini: line 8: [hook a]: signature: an untyped '...' cannot be forwarded"
printf '[hook a]\nlibrary = libx.so\nsymbol = f\nsignature = int(int)\npath = 1\n' |
    bad "line 6: [hook a]: path = 1 names a 'int' argument, not a 'str'"
printf '[hook a]\nlibrary = /lib/libx.so\n' | bad "line 7: [hook a]: library '/lib/libx.so' is not a soname"
pass "malformed declarations are refused by vial pack with their line"

# ------------------------------------------------------------ checked at load
# The session file of a launch is reused by the next identical launch: a
# declaration damaged there must be skipped with a log line, the others kept.
session=$(ls "$XDG_RUNTIME_DIR"/vial/sessions/*.session | xargs grep -l '^hook=name=open-path' | head -1)
[ -n "$session" ] || fail "no session file with the hook lines"
printf 'hook=name=broken library=libvialhooktest.so* symbol=hooktest_sum signature=int(int, ...)\nhook=garbage\n' >>"$session"
: >"$WORK/log"
expect_status 0 "$VIAL" run "$WORK/hooks.vial" hook-app -- sum
has_line -qx "sum: 99987 errno 1234" "$WORK/stdout" || { cat "$WORK/stdout"; fail "sum with a damaged session"; }
has_line -qF "declared hook ignored: name=broken" "$WORK/log" || { cat "$WORK/log"; fail "no log line for the bad declaration"; }
has_line -qF "declared hook ignored: garbage" "$WORK/log" || { cat "$WORK/log"; fail "no log line for garbage"; }
has_line -qF "hook sum: hooktest_sum(3, 100000, -20, 7) = 99987" "$WORK/log" || { cat "$WORK/log"; fail "the good hook was dropped"; }
pass "bad declarations in the session are skipped with a log line, the good ones still work"
finish
