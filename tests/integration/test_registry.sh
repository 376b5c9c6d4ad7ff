#!/bin/bash
# The registry and the environment shim (issue 5), end to end with the real
# vial binary:
#   - vial pack turns the manifest's [env] and [registry] and a --registry
#     text hive into the image's registry section, covered by the root hash
#     (vial verify; a flipped byte in it is found);
#   - the environment: the package prepends its own bin directory to PATH
#     (a program only the image has is then found by name) and sets APP_HOME
#     with ${...} references; a host tool the manifest names sees the host's
#     PATH, no APP_HOME, and the variable the package unset;
#   - the user overrides a variable with vial reg and it sticks for that
#     package only (a second package keeps its own); rm hides a packaged
#     variable, rm --layer user brings it back;
#   - a packaged default changed by the user survives a restart, is listed
#     by vial reg --layer user, and vial reset brings the default back;
#   - export/import of the user layer round-trips (deletions included);
#   - concurrent vial reg set of distinct keys from four processes: no
#     update lost;
#   - bad input: a damaged registry.hive stops vial run and vial reg with a
#     message naming the file and leaves the file; a bad --registry line or
#     [env] name fails vial pack naming the line, and writes no image.
source "$(dirname "$0")/lib.sh"
export LC_ALL=C

# ------------------------------------------------------------------ set-up
make_package() { # DIR NAME: a package whose program prints its environment
    local dir=$1 name=$2
    mkdir -p "$dir/opt/$name/bin"
    cat >"$dir/opt/$name/bin/$name-show" <<EOF
#!/bin/sh
# only the image has this program: found by name, PATH reaches the image
echo "APP_HOME=\${APP_HOME-<unset>}"
echo "APP_MODE=\${APP_MODE-<unset>}"
echo "OLDVAR=\${OLDVAR-<unset>}"
echo "PATH=\$PATH"
EOF
    chmod 755 "$dir/opt/$name/bin/$name-show"
}
make_package "$WORK/a" appa
make_package "$WORK/b" appb
cat >"$WORK/a.ini" <<'EOF'
[package]
name = appa
version = 1.0
host_tools = /usr/bin/env

[entry show]
exec = /bin/sh
args = -c appa-show

[env]
APP_HOME = ${VIAL_PACKAGE}/${VIAL_VERSION} at ${XDG_CONFIG_HOME}/appa
PATH = prepend /opt/appa/bin
OLDVAR = unset

[registry]
env/APP_MODE = 'fast'
EOF
cat >"$WORK/a.reg" <<'EOF'
# seed values of package A
[settings/window]
width = uint32 800
title = 'Vial'
tags = ['a', 'b']
geometry = (10, 20)
EOF
sed -e 's/appa/appb/g' -e 's/fast/slow/' "$WORK/a.ini" >"$WORK/b.ini"
"$VIAL" pack "$WORK/a" -o "$WORK/a.vial" --manifest "$WORK/a.ini" --registry "$WORK/a.reg" >/dev/null
"$VIAL" pack "$WORK/b" -o "$WORK/b.vial" --manifest "$WORK/b.ini" >/dev/null
expect_status 0 "$VIAL" verify "$WORK/a.vial"
count=$("$VIAL" info --json "$WORK/a.vial" | python3 -c 'import json, sys; print(json.load(sys.stdin)["registry_values"])')
[ "$count" = 8 ] || fail "vial info counts $count registry values, expected 8 (4 + [registry] + 3 [env])"
pass "pack with [env], [registry] and --registry; verify ok; info counts 8 values"

# the registry section is covered by the root hash: damage one byte of it
cp "$WORK/a.vial" "$WORK/damaged.vial"
offset=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").read().index(b"VIALHIV1") + 60)' \
    "$WORK/a.vial")
printf 'X' | dd of="$WORK/damaged.vial" bs=1 seek="$offset" conv=notrunc status=none
expect_status 3 "$VIAL" verify "$WORK/damaged.vial"
expect_status 3 "$VIAL" reg "$WORK/damaged.vial" ls
pass "a damaged registry section is found (verify and reg exit 3)"

# --------------------------------------------------------- the environment
HOST_PATH=$PATH
out=$(OLDVAR=host-value "$VIAL" run "$WORK/a.vial" show)
grep -qx "APP_HOME=appa/1.0 at $XDG_CONFIG_HOME/appa" <<<"$out" || fail "APP_HOME not expanded: $out"
grep -qx "APP_MODE=fast" <<<"$out" || fail "packaged APP_MODE missing: $out"
grep -qx "OLDVAR=<unset>" <<<"$out" || fail "OLDVAR not unset: $out"
grep -qx "PATH=/opt/appa/bin:$HOST_PATH" <<<"$out" || fail "PATH not prepended: $out"
pass "the package's environment: set with references, prepend (its program found by name), unset"

# a host tool gets the host's environment back
out=$(OLDVAR='host value %41=' "$VIAL" exec "$WORK/a.vial" -- sh -c 'echo "inside PATH=$PATH"; /usr/bin/env')
grep -qx "inside PATH=/opt/appa/bin:$HOST_PATH" <<<"$out" || fail "the shell lacks the package PATH: $out"
grep -qx "PATH=$HOST_PATH" <<<"$out" || fail "the host tool did not get the host's PATH: $out"
grep -q "^APP_HOME=" <<<"$out" && fail "the host tool sees the package's APP_HOME"
grep -qx "OLDVAR=host value %41=" <<<"$out" || fail "the host tool lacks the host's OLDVAR: $out"
grep -q "^GSETTINGS_BACKEND=" <<<"$out" && fail "the host tool sees vial's GSETTINGS_BACKEND"
grep -q "^LD_PRELOAD=" <<<"$out" && fail "the host tool runs with the interposer"
long_path=$HOST_PATH$(printf ':/nonexistent/dir-%04d' $(seq 1 300))  # over 6000 bytes
out=$(PATH=$long_path "$VIAL" exec "$WORK/a.vial" -- sh -c '/usr/bin/env')
grep -qxF "PATH=$long_path" <<<"$out" || fail "a host tool lost a long host PATH (${#long_path} bytes)"
pass "a host tool sees the host's PATH (also one of ${#long_path} bytes) and OLDVAR, without the package's variables"

# -------------------------------------------------------- user overrides
"$VIAL" reg "$WORK/a.vial" set env/APP_MODE turbo
"$VIAL" reg "$WORK/a.vial" set env/EDITOR 'vim -u NONE'
[ "$("$VIAL" reg "$WORK/a.vial" get env/APP_MODE)" = "'turbo'" ] || fail "reg get after set"
out=$("$VIAL" run "$WORK/a.vial" show)
grep -qx "APP_MODE=turbo" <<<"$out" || fail "the user's APP_MODE did not stick: $out"
out=$("$VIAL" exec "$WORK/a.vial" -- sh -c 'echo "EDITOR=$EDITOR"')
[ "$out" = "EDITOR=vim -u NONE" ] || fail "the user's EDITOR: $out"
out=$("$VIAL" run "$WORK/b.vial" show)
grep -qx "APP_MODE=slow" <<<"$out" || fail "package B lost its own APP_MODE: $out"
[ "$("$VIAL" reg "$WORK/b.vial" get env/APP_MODE)" = "'slow'" ] || fail "B's registry shows A's value"
expect_status 1 "$VIAL" reg "$WORK/b.vial" get env/EDITOR
expect_stderr "env/EDITOR: no such value in the registry of appb"
pass "a user override sticks for its package only (B keeps its own)"

"$VIAL" diff "$WORK/a.vial" >"$WORK/diff"
grep -qx "M registry:env/APP_MODE" "$WORK/diff" || fail "vial diff: $(cat "$WORK/diff")"
grep -qx "A registry:env/EDITOR" "$WORK/diff" || fail "vial diff: $(cat "$WORK/diff")"
pass "vial diff lists the registry changes (M a packaged value, A a new one)"

# the user's layer lists the change; JSON says where each value comes from
"$VIAL" reg "$WORK/a.vial" ls --layer user env >"$WORK/user-ls"
grep -qx "APP_MODE = 'turbo'" "$WORK/user-ls" || fail "ls --layer user: $(cat "$WORK/user-ls")"
grep -q "APP_HOME" "$WORK/user-ls" && fail "ls --layer user shows a packaged value"
"$VIAL" reg "$WORK/a.vial" ls env --json | python3 -c '
import json, sys
items = {i["name"]: i for i in json.load(sys.stdin)}
assert items["APP_MODE"]["layer"] == "user", items
assert items["APP_HOME"]["layer"] == "package", items
assert items["prepend"]["kind"] == "key", items
' || fail "ls --json"
pass "vial reg ls --layer user and --json tell the layers apart"

# rm hides a packaged value; rm --layer user forgets the user's change
"$VIAL" reg "$WORK/a.vial" rm env/APP_HOME
out=$("$VIAL" run "$WORK/a.vial" show)
grep -qx "APP_HOME=<unset>" <<<"$out" || fail "rm did not hide APP_HOME: $out"
"$VIAL" reg "$WORK/a.vial" ls --layer user env | has_line -x -- "-APP_HOME" || fail "no deletion marker listed"
"$VIAL" reg "$WORK/a.vial" rm --layer user env/APP_HOME
out=$("$VIAL" run "$WORK/a.vial" show)
grep -q "^APP_HOME=appa/1.0" <<<"$out" || fail "rm --layer user did not bring APP_HOME back: $out"
expect_status 1 "$VIAL" reg "$WORK/a.vial" rm env/NOPE
expect_stderr "env/NOPE: no such value"
pass "rm hides a packaged variable, rm --layer user restores it"

# ----------------------------------------- packaged defaults, restart, reset
[ "$("$VIAL" reg "$WORK/a.vial" get settings/window/width)" = "uint32 800" ] || fail "seeded width"
"$VIAL" reg "$WORK/a.vial" set settings/window/width 1024
[ "$("$VIAL" reg "$WORK/a.vial" get settings/window/width)" = "uint32 1024" ] || fail "width keeps its type"
expect_status 1 "$VIAL" reg "$WORK/a.vial" set settings/window/width wide
expect_stderr "not a value of type 'u'"
"$VIAL" reg "$WORK/a.vial" set settings/window/tags "['x']"
expect_status 1 "$VIAL" reg "$WORK/a.vial" set settings/window/geometry "(1, 'x')"
"$VIAL" run "$WORK/a.vial" show >/dev/null # a restart of the package
[ "$("$VIAL" reg "$WORK/a.vial" get settings/window/width)" = "uint32 1024" ] || fail "width after restart"
"$VIAL" reg "$WORK/a.vial" ls --layer user settings/window | has_line -x "width = uint32 1024" ||
    fail "width not in the user layer"
[ "$("$VIAL" reg "$WORK/a.vial" get --layer package settings/window/width)" = "uint32 800" ] ||
    fail "the package layer changed"
pass "a packaged default changed by the user survives a restart and shows in --layer user"

# export/import of the user layer round-trips
"$VIAL" reg "$WORK/a.vial" rm settings/window/title
"$VIAL" reg "$WORK/a.vial" export --layer user >"$WORK/user.reg"
grep -qx -- "-title" "$WORK/user.reg" || fail "the export lacks the deletion: $(cat "$WORK/user.reg")"
"$VIAL" reg "$WORK/a.vial" export >"$WORK/all-before.reg"
"$VIAL" reset "$WORK/a.vial" --yes >/dev/null
[ "$("$VIAL" reg "$WORK/a.vial" get settings/window/width)" = "uint32 800" ] || fail "reset kept width"
out=$("$VIAL" run "$WORK/a.vial" show)
grep -qx "APP_MODE=fast" <<<"$out" || fail "reset kept the user's APP_MODE: $out"
pass "vial reset brings the packaged defaults back"
"$VIAL" reg "$WORK/a.vial" import "$WORK/user.reg" 2>/dev/null
"$VIAL" reg "$WORK/a.vial" export >"$WORK/all-after.reg"
diff "$WORK/all-before.reg" "$WORK/all-after.reg" >&2 || fail "export/import did not round-trip"
pass "export --layer user, reset, import: the same registry"

# ------------------------------------------------------ concurrent writers
for writer in 1 2 3 4; do
    (for i in $(seq 1 15); do "$VIAL" reg "$WORK/b.vial" set "race/w$writer/k$i" "$i" || exit 1; done) &
done
wait
count=$("$VIAL" reg "$WORK/b.vial" export race | grep -c ' = ')
[ "$count" = 60 ] || fail "concurrent writers lost updates: $count of 60 values"
pass "four concurrent writers of distinct keys: 60 of 60 values kept"

# -------------------------------------------------------------- bad input
state=$XDG_DATA_HOME/vial/state/appb/1.0
[ -f "$state/registry.hive" ] || fail "no registry.hive in $state"
head -c 40 "$state/registry.hive" >"$WORK/truncated" && cp "$WORK/truncated" "$state/registry.hive"
expect_status 1 "$VIAL" run "$WORK/b.vial" show
expect_stderr "$state/registry.hive"
expect_stderr "damaged"
expect_status 1 "$VIAL" reg "$WORK/b.vial" ls
expect_stderr "move the file away"
cmp -s "$WORK/truncated" "$state/registry.hive" || fail "the damaged file was changed"
mv "$state/registry.hive" "$WORK/kept.hive"
expect_status 0 "$VIAL" run "$WORK/b.vial" show
pass "a damaged registry.hive stops run and reg naming the file, and is left as it was"

printf '[settings]\nok = 1\nbad = [1, \n' >"$WORK/bad.reg"
expect_status 1 "$VIAL" pack "$WORK/a" -o "$WORK/bad.vial" --manifest "$WORK/a.ini" --registry "$WORK/bad.reg"
expect_stderr "bad.reg: line 3"
[ ! -e "$WORK/bad.vial" ] || fail "a failed pack left an image"
printf '[package]\nname = x\nversion = 1\n[env]\n1BAD = x\n' >"$WORK/bad.ini"
expect_status 1 "$VIAL" pack "$WORK/a" -o "$WORK/bad.vial" --manifest "$WORK/bad.ini"
expect_stderr "line 5: '1BAD' is not a variable name"
printf '[package]\nname = x\nversion = 1\n[registry]\nnoslash = 1\n' >"$WORK/bad.ini"
expect_status 1 "$VIAL" pack "$WORK/a" -o "$WORK/bad.vial" --manifest "$WORK/bad.ini"
expect_stderr "line 5"
expect_status 2 "$VIAL" reg "$WORK/a.vial" frobnicate
pass "bad registry text, [env] names and [registry] paths are refused naming the line"

finish
