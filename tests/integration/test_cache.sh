#!/bin/bash
# vial cache stats|gc|clear over a cache filled the way the streaming fetch
# agent fills it (CACHE/chunks, CACHE/images mirrors: cache_fixture.py writes
# them from locally packed images) and the way runs fill it (views,
# materialized files): the figures match what was put there, gc evicts in
# LRU order and clear empties, and neither removes what a running
# application uses.
source "$(dirname "$0")/lib.sh"
: "${SOURCE_DIR:?}"
fixture() { python3 "$(dirname "$0")/cache_fixture.py" "$@"; }
cache="$XDG_CACHE_HOME/vial"
# field EXPRESSION: a Python expression over j, the JSON in $WORK/stdout
field() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$WORK/stdout" "$1"; }
files_in() { find "$@" -type f 2>/dev/null | wc -l; }
entries_in() { find "$@" -type f ! -name '*.tmp-*' 2>/dev/null | wc -l; }
sum_sizes() { awk '{ total += $2 } END { print total + 0 }' "$@"; }

# help and usage errors
expect_status 0 "$VIAL" cache --help
has_line "prefetch URL" <"$WORK/stdout" || fail "cache --help does not list prefetch"
expect_status 2 "$VIAL" cache
expect_stderr "usage: vial cache"
expect_status 2 "$VIAL" cache frobnicate
expect_stderr "unknown subcommand 'frobnicate'"
expect_status 2 "$VIAL" cache gc
expect_stderr "needs --max SIZE"
expect_status 2 "$VIAL" cache gc --max
expect_stderr "--max needs a SIZE"
expect_status 2 "$VIAL" cache gc --max 12X
expect_stderr "not a size"
pass "cache --help, usage errors exit 2"

# two packages of random bytes (no other test shares their chunks), each
# with several chunks
make_image() {
    local tree="$WORK/tree-$1"
    mkdir -p "$tree/opt/$1/data"
    head -c 1500000 /dev/urandom >"$tree/opt/$1/data/big.bin"
    head -c 700000 /dev/urandom >"$tree/opt/$1/data/mid.bin"
    for i in 1 2 3; do head -c 3000 /dev/urandom | base64 >"$tree/opt/$1/data/small-$i.txt"; done
    # a registry value of its own: a hive in CACHE/hives no other image has
    printf '[package]\nname = %s\nversion = 1\n[env]\nCACHE_TEST = %s\n' "$1" "$RANDOM$RANDOM$RANDOM" \
        >"$WORK/$1.ini"
    "$VIAL" pack "$tree" -o "$WORK/$1.vial" --manifest "$WORK/$1.ini" 2>/dev/null
}
make_image appa
make_image appb
root_a=$(fixture root "$WORK/appa.vial")
root_b=$(fixture root "$WORK/appb.vial")
hive_a=$(fixture hive "$WORK/appa.vial")
[ -n "$hive_a" ] || fail "appa has no registry hive"

expect_status 0 "$VIAL" cache stats --json
[ "$(field 'j["chunks"]["count"], j["files"]["count"], j["views"], j["mirrors"]')" = "(0, 0, 0, 0)" ] ||
    fail "an empty cache: $(cat "$WORK/stdout")"
pass "stats of an empty cache"

# 1. chunks and mirrors as the agent stores them
fixture chunks "$WORK/appa.vial" "$cache" >"$WORK/chunks-a"
fixture chunks "$WORK/appb.vial" "$cache" >"$WORK/chunks-b"
chunks_a=$(wc -l <"$WORK/chunks-a") chunks_b=$(wc -l <"$WORK/chunks-b")
[ "$chunks_b" -ge 4 ] || fail "appb has $chunks_b chunks; the LRU check needs 4"
bytes_a=$(sum_sizes "$WORK/chunks-a") bytes_b=$(sum_sizes "$WORK/chunks-b")
fixture mirror "$WORK/appa.vial" "$cache" http://localhost/appa.vial >/dev/null
mirror_b=$(fixture mirror "$WORK/appb.vial" "$cache" http://localhost/appb.vial 7 123456 5)
echo "requests=2" >"$cache/images/$(printf '%064d' 0).stats" # a mirror's stats without its image
expect_status 0 "$VIAL" cache stats --json
[ "$(field 'j["chunks"]["count"], j["chunks"]["bytes"]')" = "($((chunks_a + chunks_b)), $((bytes_a + bytes_b)))" ] ||
    fail "stats chunks: $(field 'j["chunks"]'), put there: $((chunks_a + chunks_b)) of $((bytes_a + bytes_b)) bytes"
[ "$(field 'j["mirrors"]')" = 2 ] || fail "stats mirrors: $(field 'j["mirrors"]')"
[ "$(field 'j["fetched"]["requests"], j["fetched"]["bytes"], j["fetched"]["chunks"]')" = "(9, 123456, 5)" ] ||
    fail "stats fetched: $(field 'j["fetched"]')"
expect_status 0 "$VIAL" cache stats "$mirror_b" --json
[ "$(field 'j["image"]["root_hash"], j["image"]["size"]')" = "('$root_b', $(stat -c %s "$WORK/appb.vial"))" ] ||
    fail "stats of the mirror: $(field 'j["image"]')"
[ "$(field 'j["image"]["chunk_count"], j["image"]["cached_chunks"]["count"], j["image"]["cached_chunks"]["bytes"]')" = \
    "($chunks_b, $chunks_b, $bytes_b)" ] || fail "stats of the mirror's chunks: $(field 'j["image"]')"
[ "$(field 'j["image"]["fetched"]["requests"], j["image"]["opened"]["files"]')" = "(7, 0)" ] ||
    fail "stats of the mirror's counters: $(field 'j["image"]')"
# one chunk less in the cache shows
rm "$(head -n 1 "$WORK/chunks-b" | cut -d' ' -f1)"
expect_status 0 "$VIAL" cache stats "$WORK/appb.vial" --json
[ "$(field 'j["image"]["cached_chunks"]["count"]')" = $((chunks_b - 1)) ] || fail "a missing chunk still counts"
[ "$(field 'j["image"]["fetched"]["requests"]')" = 7 ] || fail "the local image's counters come from its mirror"
fixture chunks "$WORK/appb.vial" "$cache" >/dev/null
expect_status 0 "$VIAL" cache stats "$WORK/appb.vial"
grep -q "^cached chunks: *$chunks_b (.*) of $chunks_b$" "$WORK/stdout" || { cat "$WORK/stdout"; fail "text output"; }
pass "stats: chunks, mirrors and counters match what was stored; per image from the mirror or the file"

# 2. what an application opened: the files in its view, and their chunks
# (one file more makes its root hash this test's own: a running image with
# the same root elsewhere would keep its view)
cp -r "$SOURCE_DIR/examples/hello/root" "$WORK/hello-root"
echo "$RANDOM$RANDOM$RANDOM" >"$WORK/hello-root/usr/share/hello-vial/test-id"
"$VIAL" pack "$WORK/hello-root" --manifest "$SOURCE_DIR/examples/hello/vial.ini" -o "$WORK/hello.vial" 2>/dev/null
"$VIAL" run "$WORK/hello.vial" >/dev/null
expect_status 0 "$VIAL" cache stats "$WORK/hello.vial" --json
want=$(fixture chunk-bytes "$WORK/hello.vial" /usr/bin/hello-vial /usr/share/hello-vial/greeting.txt)
[ "$(field 'j["image"]["opened"]["files"], j["image"]["opened"]["chunk_bytes"]')" = "(2, $want)" ] ||
    fail "hello opened: $(field 'j["image"]["opened"]'), expected 2 files with chunks of $want bytes"
"$VIAL" exec "$WORK/appa.vial" -- cat /opt/appa/data/big.bin /opt/appa/data/small-2.txt >/dev/null
expect_status 0 "$VIAL" cache stats "$WORK/appa.vial" --json
want=$(fixture chunk-bytes "$WORK/appa.vial" /opt/appa/data/big.bin /opt/appa/data/small-2.txt)
[ "$(field 'j["image"]["opened"]["files"], j["image"]["opened"]["chunk_bytes"]')" = "(2, $want)" ] ||
    fail "appa opened: $(field 'j["image"]["opened"]'), expected 2 files with chunks of $want bytes"
[ "$want" -lt "$bytes_a" ] || fail "appa's opened files have every chunk: the check proves nothing"
# a file of the view with the wrong size is not the image's file
view_a="$cache/views/${root_a:0:24}"
rm "$view_a/opt/appa/data/small-2.txt" && echo short >"$view_a/opt/appa/data/small-2.txt"
expect_status 0 "$VIAL" cache stats "$WORK/appa.vial" --json
[ "$(field 'j["image"]["opened"]["files"]')" = 1 ] || fail "a truncated view file counts as opened"
rm "$view_a/opt/appa/data/small-2.txt"
pass "stats IMAGE: opened files and the compressed size of their chunks (hello, and a bigger image)"

# a program in appa's bubble that keeps running; stop_running kills it
# wait_running True|False: until stats says whether appa runs
wait_running() {
    for _ in $(seq 1 100); do
        "$VIAL" cache stats --json >"$WORK/stdout"
        [ "$(field "'$root_a' in [i['root_hash'] for i in j['running']]")" = "$1" ] && return 0
        sleep 0.1
    done
    fail "stats never says appa runs: $1"
}
start_running() {
    "$VIAL" exec "$WORK/appa.vial" -- sleep 120 &
    running_pid=$!
    wait_running True
}
kill_running() {
    [ -n "$running_pid" ] || return 0
    local children
    children=$(cat /proc/"$running_pid"/task/*/children 2>/dev/null || true)
    # shellcheck disable=SC2086
    kill $children "$running_pid" 2>/dev/null || true
    wait "$running_pid" 2>/dev/null || true
    running_pid=
}
stop_running() {
    kill_running
    wait_running False
}
trap 'kill_running; chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
running_pid=

# 3. gc --max 0 while appa runs: appa's chunks, view and materialized files
# stay, everything else goes
"$VIAL" exec "$WORK/appb.vial" -- cat /opt/appb/data/mid.bin >/dev/null
view_b="$cache/views/${root_b:0:24}"
[ -f "$view_b/opt/appb/data/mid.bin" ] || fail "appb's run left no view"
# within the bound, gc removes nothing, views included
before=$(files_in "$cache")
expect_status 0 "$VIAL" cache gc --max 1G
[ "$(files_in "$cache")" = "$before" ] && [ -f "$view_b/opt/appb/data/mid.bin" ] || fail "gc within the bound removed files"
start_running
expect_status 0 "$VIAL" cache gc --max 0
grep -q "the limit cannot be reached" "$WORK/stdout" || { cat "$WORK/stdout"; fail "gc does not say the limit was not reached"; }
while read -r path _; do [ -f "$path" ] || fail "gc removed $path, a chunk of the running appa"; done <"$WORK/chunks-a"
while read -r path _; do [ ! -e "$path" ] || fail "gc kept $path, a chunk of appb, which is not running"; done <"$WORK/chunks-b"
[ -f "$view_a/opt/appa/data/big.bin" ] || fail "gc removed the view of the running appa"
[ ! -e "$view_b" ] || fail "gc kept the view of appb, which is not running"
[ ! -e "$cache/views/$(fixture root "$WORK/hello.vial" | cut -c1-24)" ] || fail "gc kept hello's view"
[ "$(files_in "$cache/files")" = 1 ] || { find "$cache/files" -type f >&2; fail "gc kept other files than appa's big.bin"; }
[ "$(find "$cache/files" -type f -links +1 | wc -l)" = 1 ] || fail "appa's materialized file lost its view link"
stop_running
expect_status 0 "$VIAL" cache gc --max 0
[ "$(files_in "$cache/chunks" "$cache/files")" = 0 ] || fail "gc --max 0 with nothing running left entries"
[ ! -e "$view_a" ] || fail "gc kept appa's view after it exited"
pass "gc --max 0 keeps the chunks, view and files of a running image, removes the rest"

# 4. LRU: the oldest atime goes first; stale temporary files go
fixture chunks "$WORK/appb.vial" "$cache" >"$WORK/chunks-b"
"$VIAL" exec "$WORK/appb.vial" -- cat /opt/appb/data/mid.bin /opt/appb/data/small-1.txt >/dev/null
old_file=$(find "$cache/files" -type f -size 700000c)
[ -n "$old_file" ] || fail "no materialized mid.bin"
old_chunk=$(sed -n 2p "$WORK/chunks-b" | cut -d' ' -f1)
next_chunk=$(sed -n 4p "$WORK/chunks-b" | cut -d' ' -f1)
find "$cache/chunks" "$cache/files" -type f -exec touch -a {} +
touch -a -d '4 days ago' "$old_file"
touch -a -d '3 days ago' "$old_chunk"
touch -a -d '2 days ago' "$next_chunk"
bucket=$(dirname "$next_chunk")
touch -d '2 hours ago' "$bucket/stale.tmp-1-0"
touch "$bucket/fresh.tmp-1-0"
total=$(find "$cache/chunks" "$cache/files" -type f ! -name '*.tmp-*' -printf '%s\n' | awk '{ t += $1 } END { print t }')
max=$((total - $(stat -c %s "$old_file") - $(stat -c %s "$old_chunk")))
expect_status 0 "$VIAL" cache gc --max "$max"
[ ! -e "$old_file" ] && [ ! -e "$old_chunk" ] || fail "gc kept the least recently used entries"
[ -e "$next_chunk" ] || fail "gc removed more than it needed"
[ "$(entries_in "$cache/chunks")" = $((chunks_b - 1)) ] || fail "gc removed other chunks than the oldest"
[ ! -e "$bucket/stale.tmp-1-0" ] || fail "gc kept a temporary file two hours old"
[ -e "$bucket/fresh.tmp-1-0" ] || fail "gc removed a temporary file being written"
grep -q "^cache now: .*(limit" "$WORK/stdout" || { cat "$WORK/stdout"; fail "gc report"; }
! grep -q "cannot be reached" "$WORK/stdout" || fail "gc says the limit cannot be reached"
max=$((max - $(stat -c %s "$next_chunk")))
expect_status 0 "$VIAL" cache gc --max "$max"
[ ! -e "$next_chunk" ] || fail "gc kept the next least recently used chunk"
[ "$(entries_in "$cache/chunks")" = $((chunks_b - 2)) ] || fail "gc removed more chunks than the next oldest"
# SIZE in KiB: the total rounded up to a KiB is within it, nothing goes
left=$(entries_in "$cache/chunks" "$cache/files")
expect_status 0 "$VIAL" cache gc --max "$(((max + 1023) / 1024))K"
[ "$(entries_in "$cache/chunks" "$cache/files")" = "$left" ] || fail "gc --max ...K removed entries within the bound"
rm "$bucket/fresh.tmp-1-0"
pass "gc evicts the least recently accessed entries first, down to SIZE (bytes or K); stale temporary files go"

# 5. clear: refuses off a terminal; keeps what a running image uses
fixture chunks "$WORK/appa.vial" "$cache" >/dev/null
fixture chunks "$WORK/appb.vial" "$cache" >/dev/null
"$VIAL" exec "$WORK/appb.vial" -- cat /opt/appb/data/small-3.txt >/dev/null
before=$(files_in "$cache")
expect_status 2 "$VIAL" cache clear </dev/null
expect_stderr "not a terminal: add --yes"
[ "$(files_in "$cache")" = "$before" ] || fail "clear without --yes removed files"
start_running
"$VIAL" exec "$WORK/appa.vial" -- cat /opt/appa/data/mid.bin >/dev/null
expect_status 0 "$VIAL" cache clear --yes
# (other tests may run images of their own meanwhile: they are kept too)
grep -q "^kept for [0-9]* running image" "$WORK/stdout" && grep -qxF "  in use: $WORK/appa.vial" "$WORK/stdout" ||
    { cat "$WORK/stdout"; fail "clear does not say what it kept"; }
while read -r path _; do [ -f "$path" ] || fail "clear removed $path, a chunk of the running appa"; done <"$WORK/chunks-a"
[ -f "$cache/images/$root_a.vial" ] && [ -f "$cache/images/$root_a.url" ] || fail "clear removed the running appa's mirror"
[ -f "$view_a/opt/appa/data/mid.bin" ] || fail "clear removed the running appa's view"
[ "$(files_in "$cache/files")" = 1 ] || fail "clear kept other materialized files than appa's"
[ ! -e "$cache/images/$root_b.vial" ] && [ ! -e "$cache/images/$root_b.stats" ] || fail "clear kept appb's mirror"
[ "$(files_in "$cache/chunks")" = "$chunks_a" ] || fail "clear kept chunks of appb"
[ "$(files_in "$cache/verified")" = 0 ] || fail "clear kept verification records"
[ -f "$cache/hives/$hive_a" ] || fail "clear removed the hive of the running appa"
[ ! -e "$cache/hives/$(fixture hive "$WORK/appb.vial")" ] || fail "clear kept the hive of appb"
stop_running
expect_status 0 "$VIAL" cache clear --yes
for directory in chunks files views images verified; do
    [ "$(files_in "$cache/$directory")" = 0 ] || fail "clear --yes left files in $directory"
done
# hives/ keeps only the hives of images running now (another test's may
# have the same registry as hello)
[ ! -e "$cache/hives/$hive_a" ] || fail "clear --yes kept appa's hive"
expect_status 0 "$VIAL" cache stats --json
field '"\n".join((i["hive_hash"] or "")[:32] + ".hive" for i in j["running"])' >"$WORK/running-hives"
for hive in $(ls "$cache/hives" 2>/dev/null); do
    grep -qxF "$hive" "$WORK/running-hives" || fail "clear --yes left $hive, which no running image has"
done
[ "$(field 'j["chunks"]["count"] + j["files"]["count"] + j["views"] + j["mirrors"]')" = 0 ] || fail "stats after clear"
pass "clear refuses off a terminal without --yes, keeps a running image's chunks, view and mirror, then empties"
finish
