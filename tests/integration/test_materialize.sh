#!/bin/bash
# Materialization: metadata and listings never decompress anything; many
# processes materializing one file at once all succeed with the right
# bytes; a full disk gives the program ENOSPC and leaves no partial file;
# VIAL_LOG=debug shows the redirected calls.
source "$(dirname "$0")/lib.sh"

tree="$WORK/tree"
mkdir -p "$tree/opt/mat/data" "$tree/opt/mat/bin"
for i in $(seq 1 20); do echo "small file $i" >"$tree/opt/mat/data/small-$i.txt"; done
# 6 MiB that does not compress away, so that a 1 MiB disk cannot hold it
head -c 6291456 /dev/urandom >"$tree/opt/mat/data/big.bin"
want=$(md5sum <"$tree/opt/mat/data/big.bin")
"$VIAL" pack "$tree" -o "$WORK/mat.vial" 2>/dev/null
rm -rf "$tree"

# 1. stat and listings come from the index: nothing is decompressed
export XDG_CACHE_HOME="$WORK/cache"
"$VIAL" exec "$WORK/mat.vial" -- sh -c 'ls -lR /opt/mat >/dev/null && stat /opt/mat/data/big.bin >/dev/null && test -r /opt/mat/data/small-3.txt'
files=$( (find "$XDG_CACHE_HOME/vial/files" -type f 2>/dev/null || true) | wc -l)
[ "$files" = 0 ] || fail "listing and stat materialized $files files"
pass "ls -lR, stat and access of image paths materialize nothing"

# 2. eight processes read the big file at once on a cold cache
rm -rf "$XDG_CACHE_HOME"
for i in $(seq 1 8); do
    "$VIAL" exec "$WORK/mat.vial" -- cat /opt/mat/data/big.bin | md5sum >"$WORK/sum.$i" &
done
wait
for i in $(seq 1 8); do
    [ "$(cat "$WORK/sum.$i")" = "$want" ] || fail "concurrent reader $i got different bytes"
done
leftovers=$(find "$XDG_CACHE_HOME/vial" -name '*.tmp-*' | wc -l)
[ "$leftovers" = 0 ] || fail "$leftovers temporary files left in the cache"
[ "$(find "$XDG_CACHE_HOME/vial/files" -type f | wc -l)" = 1 ] || fail "the content was stored more than once"
pass "8 concurrent cold readers got identical, correct bytes; one cached copy, no temporary left"

# 3. VIAL_LOG=debug shows each redirected call
VIAL_LOG=debug "$VIAL" exec "$WORK/mat.vial" -- cat /opt/mat/data/small-1.txt >/dev/null 2>"$WORK/log"
grep -q "open /opt/mat/data/small-1.txt -> .*/views/" "$WORK/log" || { cat "$WORK/log" >&2; fail "debug log lacks the redirected open"; }
pass "VIAL_LOG=debug logs the redirected open with its real path"

# 4. a full disk: ENOSPC for the program, no partial file (needs a tmpfs: root)
if [ "$(id -u)" = 0 ] && mkdir "$WORK/small" && mount -t tmpfs -o size=1m tmpfs "$WORK/small" 2>/dev/null; then
    trap 'umount "$WORK/small" 2>/dev/null || true; chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
    status=0
    XDG_CACHE_HOME="$WORK/small" "$VIAL" exec "$WORK/mat.vial" -- cat /opt/mat/data/big.bin \
        >/dev/null 2>"$WORK/enospc.err" || status=$?
    [ "$status" != 0 ] || fail "reading a file that cannot be materialized succeeded"
    grep -q "No space left on device" "$WORK/enospc.err" || { cat "$WORK/enospc.err" >&2; fail "the program did not get ENOSPC"; }
    partial=$( (find "$WORK/small/vial/files" "$WORK/small/vial/views" -type f -size +0 2>/dev/null || true) | wc -l)
    [ "$partial" = 0 ] || { find "$WORK/small" -type f -ls >&2; fail "a partial file was left in the cache"; }
    umount "$WORK/small"
    pass "full disk: cat gets ENOSPC, nothing half-written stays in the cache"
else
    echo "note: the full-disk check needs root to mount a small tmpfs; skipped as $(id -un)"
fi
finish
