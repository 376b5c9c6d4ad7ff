#!/bin/bash
# The vial command: help, usage errors, exit codes, info/ls/cat/verify
# output, refusals with clear messages, deterministic packing.
source "$(dirname "$0")/lib.sh"

# help: every command has --help, and `vial help` lists it
expect_status 0 "$VIAL" help
for command in pack info ls cat extract verify; do
    grep -q "^  $command " "$WORK/stdout" || fail "vial help does not list $command"
    "$VIAL" "$command" --help | has_line "^usage: vial $command" || fail "$command --help"
    "$VIAL" help "$command" | has_line "^usage: vial $command" || fail "help $command"
done
pass "help and --help for every command"

# the README's command table stays true to `vial help`, both ways
: "${SOURCE_DIR:?}"
commands=$("$VIAL" help | sed -n 's/^  \([a-z]\+\) .*/\1/p')
for command in $commands; do
    grep -q "^| \`vial $command" "$SOURCE_DIR/README.md" || fail "README does not document vial $command"
done
for command in $(sed -n 's/^| `vial \([a-z]\+\).*/\1/p' "$SOURCE_DIR/README.md"); do
    echo "$commands" | has_line -x "$command" || fail "README documents vial $command, which vial help lacks"
done
pass "README command table matches vial help"
expect_status 2 "$VIAL" frobnicate
expect_stderr "unknown command 'frobnicate'"
expect_status 2 "$VIAL" pack
expect_stderr "usage: vial pack"
expect_status 2 "$VIAL" pack /tmp -o "$WORK/x.vial" -l 99
expect_stderr "--level must be 1..19"
pass "usage errors exit 2 with the usage line"

# a small app and its manifest
mkdir -p "$WORK/app/usr/bin" "$WORK/app/usr/share/hello"
printf '#!/bin/sh\necho hello\n' >"$WORK/app/usr/bin/hello"
chmod 755 "$WORK/app/usr/bin/hello"
echo "Hello, world" >"$WORK/app/usr/share/hello/greeting.txt"
ln -s greeting.txt "$WORK/app/usr/share/hello/link"
cat >"$WORK/hello.ini" <<'INI'
[package]
name = hello
version = 2.1
summary = Says hello
vendor = Vial tests
[entry hello]
exec = /usr/bin/hello
description = Greets the world
INI
expect_status 0 "$VIAL" pack "$WORK/app" -o "$WORK/hello.vial" --manifest "$WORK/hello.ini"
[ ! -s "$WORK/stdout" ] || fail "pack prints nothing when not on a terminal"
expect_status 0 "$VIAL" pack "$WORK/app" -o "$WORK/hello-v.vial" --manifest "$WORK/hello.ini" -v
grep -q "hello 2.1, 8 entries" "$WORK/stdout" || { cat "$WORK/stdout"; fail "pack -v summary"; }
pass "pack is quiet off a terminal, -v prints a summary"

expect_status 0 "$VIAL" info "$WORK/hello.vial"
grep -q "^package: *hello 2.1" "$WORK/stdout" || fail "info: package line"
grep -q "^entry: *hello (default) -> /usr/bin/hello" "$WORK/stdout" || fail "info: entry line"
grep -q "^image hash: *[0-9a-f]\{64\}$" "$WORK/stdout" || fail "info: hash"
expect_status 0 "$VIAL" info "$WORK/hello.vial" --json
python3 - "$WORK/stdout" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
assert info["name"] == "hello" and info["version"] == "2.1", info
assert info["state_group"] == "2.1"
assert info["files"] == 2 and info["symlinks"] == 1, info
assert info["entry_points"][0]["exec"] == "/usr/bin/hello"
assert len(info["image_hash"]) == 64
PY
pass "info, text and JSON"

expect_status 0 "$VIAL" ls "$WORK/hello.vial" /usr/share/hello
[ "$(cat "$WORK/stdout")" = "$(printf 'greeting.txt\nlink')" ] || fail "ls output"
expect_status 0 "$VIAL" ls "$WORK/hello.vial" /usr/share/hello -l
grep -q "^lrwxrwxrwx .* link -> greeting.txt$" "$WORK/stdout" || fail "ls -l symlink"
grep -q "^-rwxr-xr-x .* hello$" <("$VIAL" ls "$WORK/hello.vial" /usr/bin -l) || fail "ls -l mode"
expect_status 1 "$VIAL" ls "$WORK/hello.vial" /nope
expect_stderr "not in the image"
pass "ls and ls -l"

[ "$("$VIAL" cat "$WORK/hello.vial" /usr/share/hello/link)" = "Hello, world" ] || fail "cat via symlink"
expect_status 1 "$VIAL" cat "$WORK/hello.vial" /usr/share
expect_stderr "not a regular file"
pass "cat follows symlinks inside the image"

# verify: intact image exits 0; damaged ones exit 3 naming the problem
expect_status 0 "$VIAL" verify "$WORK/hello.vial"
grep -q ": OK (" "$WORK/stdout" || fail "verify OK line"
size=$(stat -c %s "$WORK/hello.vial")
head -c $((size - 1)) "$WORK/hello.vial" >"$WORK/truncated.vial"
expect_status 3 "$VIAL" verify "$WORK/truncated.vial"
expect_stderr "truncated"
expect_status 3 "$VIAL" info "$WORK/truncated.vial"
cp "$WORK/hello.vial" "$WORK/flipped.vial"
printf '\xff' | dd of="$WORK/flipped.vial" bs=1 seek=$((size - 20)) conv=notrunc status=none
expect_status 3 "$VIAL" verify "$WORK/flipped.vial"
expect_stderr "chunk"
echo "not an image" >"$WORK/text.vial"
expect_status 3 "$VIAL" verify "$WORK/text.vial"
expect_stderr "not a Vial image"
expect_status 1 "$VIAL" verify "$WORK/missing.vial"
expect_stderr "No such file"
pass "verify: 0 when intact, 3 when truncated, flipped or not an image"

# refusals name the file and the reason; nothing is left behind
printf '[package]\nname = hello\nversion = 1\ncolour = blue\n' >"$WORK/bad.ini"
expect_status 1 "$VIAL" pack "$WORK/app" -o "$WORK/bad.vial" --manifest "$WORK/bad.ini"
expect_stderr "bad.ini: line 4: unknown key 'colour' in [package]"
mkdir -p "$WORK/special"
mkfifo "$WORK/special/pipe"
expect_status 1 "$VIAL" pack "$WORK/special" -o "$WORK/bad.vial"
expect_stderr "$WORK/special/pipe: named pipes (FIFOs) cannot be packed"
if [ "$(id -u)" = 0 ]; then
    rm "$WORK/special/pipe"
    mknod "$WORK/special/null" c 1 3
    expect_status 1 "$VIAL" pack "$WORK/special" -o "$WORK/bad.vial"
    expect_stderr "$WORK/special/null: device nodes cannot be packed"
else
    rm "$WORK/special/pipe"
    echo secret >"$WORK/special/secret"
    chmod 000 "$WORK/special/secret"
    expect_status 1 "$VIAL" pack "$WORK/special" -o "$WORK/bad.vial"
    expect_stderr "$WORK/special/secret: cannot read: Permission denied"
fi
mkdir -p "$WORK/escape"
ln -s ../../../etc/passwd "$WORK/escape/up"
expect_status 1 "$VIAL" pack "$WORK/escape" -o "$WORK/bad.vial"
expect_stderr "climbs above the image root"
[ ! -e "$WORK/bad.vial" ] || fail "a refused pack left an image"
ls "$WORK" | has_line 'tmp\.' && fail "a refused pack left a temporary file"
pass "refusals: manifest line, FIFO, device or unreadable file, escaping symlink"

# without --manifest the package is named after the directory
expect_status 0 "$VIAL" pack "$WORK/app" -o "$WORK/derived.vial"
expect_stderr "no --manifest given: naming the package 'app', version 0"
pass "package name derived from the root directory"

# deterministic: -j1 and -j2 give byte-identical images
"$TOOLS/make-fixture-tree" "$WORK/fixture"
"$VIAL" pack "$WORK/fixture" -o "$WORK/j1.vial" -j1 2>/dev/null
"$VIAL" pack "$WORK/fixture" -o "$WORK/j2.vial" -j2 2>/dev/null
cmp "$WORK/j1.vial" "$WORK/j2.vial" || fail "fixture: -j1 and -j2 differ"
"$VIAL" pack /usr/lib/python3.11 --prefix usr/lib/python3.11 -o "$WORK/p1.vial" -j1 2>/dev/null
"$VIAL" pack /usr/lib/python3.11 --prefix usr/lib/python3.11 -o "$WORK/p2.vial" -j2 2>/dev/null
cmp "$WORK/p1.vial" "$WORK/p2.vial" || fail "python3.11: -j1 and -j2 differ"
pass "pack -j1 and -j2 are byte-identical (fixture and /usr/lib/python3.11)"

finish
