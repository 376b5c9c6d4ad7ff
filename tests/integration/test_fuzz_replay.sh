#!/bin/bash
# Fuzz corpus replay: make-image-corpus writes a valid image, hostile
# variants of it (truncations, bit flips, lying fields re-sealed so that
# only the structural checks can catch them) and manifest texts; the replay
# drivers run them through the fuzz targets' entry points. Every hostile
# image must be rejected with a message, the valid ones must read back, and
# `vial verify` must agree on a sample.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

corpus="$WORK/corpus"
"$TOOLS/make-image-corpus" "$corpus" >"$WORK/corpus.log"
cat "$WORK/corpus.log"
[ -s "$corpus/valid.vial" ] || fail "make-image-corpus wrote no valid.vial"
bad_count=$(find "$corpus/bad" -type f | wc -l)
[ "$bad_count" -ge 300 ] || fail "expected at least 300 hostile images, found $bad_count"
pass "corpus: $bad_count hostile images"

# Every hostile image is rejected, each with a message (one line per file).
expect_status 0 "$TOOLS/replay-image" --expect-error "$corpus/bad"
lines=$(grep -c "^$corpus/bad/.*: ." "$WORK/stdout" || true)
[ "$lines" = "$bad_count" ] || { cat "$WORK/stdout"; fail "expected $bad_count messages, got $lines"; }
pass "replay-image --expect-error: $(tail -1 "$WORK/stdout")"

# An accepted image makes --expect-error fail.
expect_status 1 "$TOOLS/replay-image" --expect-error "$corpus/valid.vial"
grep -qF "ACCEPTED" "$WORK/stdout" || fail "--expect-error did not report the accepted image"
pass "replay-image --expect-error fails on a valid image"

# The valid images go through every accessor without complaint.
expect_status 0 "$TOOLS/replay-image" "$corpus/valid.vial" "$corpus/valid-small.vial"
grep -qF "2 inputs" "$WORK/stdout" || { cat "$WORK/stdout"; fail "replay-image count"; }
pass "replay-image valid images"

# Manifests, good and bad, through the parser.
manifest_count=$(find "$corpus/manifests" -type f | wc -l)
[ "$manifest_count" -ge 20 ] || fail "expected at least 20 manifests, found $manifest_count"
expect_status 0 "$TOOLS/replay-manifest" "$corpus/manifests"
grep -qF "$manifest_count inputs" "$WORK/stdout" || { cat "$WORK/stdout"; fail "replay-manifest count"; }
pass "replay-manifest: $manifest_count manifests"

# The whole corpus, as the fuzzer's seed directory would be replayed.
expect_status 0 "$TOOLS/replay-image" "$corpus"
pass "replay-image whole corpus: $(tail -1 "$WORK/stdout")"

# vial verify agrees: exit 3 and a "vial: ..." message on hostile images.
for name in truncated-at-0001024 header-version-major-2 entry-parent-cycle \
            entry-name-duplicate chunk0-hash-wrong chunk0-frame-swapped \
            index-entry-count-max ref-length-plus-1 empty random-4096; do
    image="$corpus/bad/$name.vial"
    [ -f "$image" ] || fail "corpus lacks bad/$name.vial"
    expect_status 3 "$VIAL" verify "$image"
    grep -qE "^vial: .+" "$WORK/stderr" || { cat "$WORK/stderr"; fail "$name: no 'vial: ...' message"; }
    pass "vial verify $name: $(grep -m1 '^vial: ' "$WORK/stderr" | cut -c1-100)"
done
expect_status 0 "$VIAL" verify "$corpus/valid.vial"
pass "vial verify valid.vial"

# The user's delta: its table file and the session's policy line.
"$TOOLS/make-delta-corpus" "$WORK/delta" >"$WORK/delta.log" || { cat "$WORK/delta.log"; fail "make-delta-corpus"; }
delta_count=$(find "$WORK/delta" -type f | wc -l)
[ "$delta_count" -ge 10 ] || fail "make-delta-corpus wrote only $delta_count seeds"
expect_status 0 "$TOOLS/replay-delta" "$WORK/delta"
grep -qF "$delta_count inputs" "$WORK/stdout" || { cat "$WORK/stdout"; fail "replay-delta count"; }
pass "replay-delta: $delta_count tables and policy lines"

# The registry: binary hives, text hives and value texts.
"$TOOLS/make-hive-corpus" "$WORK/hive" >"$WORK/hive.log" || { cat "$WORK/hive.log"; fail "make-hive-corpus"; }
hive_count=$(find "$WORK/hive" -type f | wc -l)
[ "$hive_count" -ge 60 ] || fail "make-hive-corpus wrote only $hive_count seeds"
expect_status 0 "$TOOLS/replay-hive" "$WORK/hive"
grep -qF "$hive_count inputs" "$WORK/stdout" || { cat "$WORK/stdout"; fail "replay-hive count"; }
expect_status 0 "$TOOLS/replay-hive" --expect-error "$WORK/hive"/truncated-* "$WORK/hive"/flipped-* \
    "$WORK/hive/body-size-lies.hive" "$WORK/hive/text-bad-line.txt"
pass "replay-hive: $hive_count hives, text hives and values; every damaged hive rejected"

# The fetch agent's parsers: HTTP answer headers and client requests (the
# seeds of fuzz-fetch; 'R' first: request lines).
fetch="$WORK/fetch"
mkdir "$fetch"
printf 'XHTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1023/4096\r\nContent-Length: 1024\r\n' >"$fetch/206"
printf 'XHTTP/1.1 200 OK\r\nContent-Length: 4096\r\n' >"$fetch/200"
printf 'XHTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */4096\r\n' >"$fetch/416"
printf 'XHTTP/1.1 302 Found\r\nLocation: /x\r\n\r\nHTTP/2 206\r\ncontent-range: bytes 5-9/10\r\n' >"$fetch/redirect"
printf 'XContent-Range: bytes 9-5/10\nContent-Range: bytes 0-10/10\nContent-Range: bytes 99999999999999999999-1/2\nHTTP/1.1 99999\n' >"$fetch/lies"
printf 'RMIRROR http://127.0.0.1:8080/app.vial\nHOLD\nPREFETCH /c/images/x.vial all\nPREFETCH /c/images/x.vial profile\nFETCH /c/images/x.vial 0 1 4294967295\n' >"$fetch/requests"
printf 'RFETCH /c/images/x.vial 1 two\nFETCH /c/images/x.vial 4294967296\nFETCH\nPREFETCH x some\nHOLD x\nMIRROR\nDELETE /\n\n   \n' >"$fetch/bad-requests"
expect_status 0 "$TOOLS/replay-fetch" "$fetch"
grep -qF "7 inputs" "$WORK/stdout" || { cat "$WORK/stdout"; fail "replay-fetch count"; }
pass "replay-fetch: HTTP answer headers and agent requests, good and hostile"

# Declared hooks: signatures ('S' first) and session-line declarations,
# good and malformed (the seeds of fuzz-hook).
hook="$WORK/hook"
mkdir "$hook"
printf 'Sint open(str, int, ...: uint32)' >"$hook/sig-open"
printf 'Sdouble (double, float, int64)' >"$hook/sig-float"
printf 'S void f ( void ) ;' >"$hook/sig-void"
printf 'Sint f(int, ...)' >"$hook/sig-untyped-tail"
printf 'Sint f(int, ...: float, char)' >"$hook/sig-promoted"
printf 'Sint f(str,,)' >"$hook/sig-commas"
printf 'Suint64 f(int8, int16, int32, int64, uint8, uint16, uint32, int, long, size_t, ssize_t, char, ptr, str, double, float, int)' >"$hook/sig-too-many"
printf 'Dname=open-path library=libvialhooktest.so* symbol=hooktest_open_path path=1 path_mode=read log=yes signature=int(str)' >"$hook/decl-path"
printf 'Dlibrary=libc.so.6 log=yes signature=int puts(str)' >"$hook/decl-minimal"
printf 'Dlibrary=libx.so path=3 signature=int f(str, str)' >"$hook/decl-path-out-of-range"
printf 'Dlibrary=libx.so symbol=a signature=int b(str)\nhook=x' >"$hook/decl-disagree"
printf 'Dlibrary=%s signature=int f(str)' "$(head -c 300 /dev/zero | tr '\0' x)" >"$hook/decl-long"
expect_status 0 "$TOOLS/replay-hook" "$hook"
grep -qF "12 inputs" "$WORK/stdout" || { cat "$WORK/stdout"; fail "replay-hook count"; }
pass "replay-hook: 12 signatures and hook declarations, good and malformed"

# The corpus is deterministic.
"$TOOLS/make-image-corpus" "$WORK/again" >/dev/null
diff -r "$corpus" "$WORK/again" >/dev/null || fail "make-image-corpus output differs between runs"
pass "make-image-corpus is deterministic"
finish
