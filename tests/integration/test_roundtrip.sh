#!/bin/bash
# Round trip: real trees and a fixture of every entry kind, packed and
# extracted, must come back identical (bytes, types, modes, times, symlink
# targets, hard-link groups, xattrs; owners too when run as root).
source "$(dirname "$0")/lib.sh"

owner_flag=()
[ "$(id -u)" = 0 ] && owner_flag=(--owner)

roundtrip() { # NAME SOURCE PREFIX
    local name=$1 source=$2 prefix=$3
    local image="$WORK/$name.vial" out="$WORK/$name.out"
    "$VIAL" pack "$source" --prefix "$prefix" -o "$image" -j2 2>"$WORK/pack.err" ||
        { cat "$WORK/pack.err" >&2; fail "pack $source"; }
    "$VIAL" verify "$image" >/dev/null || fail "verify $image"
    "$VIAL" extract "$image" "$out" 2>"$WORK/extract.err" ||
        { cat "$WORK/extract.err" >&2; fail "extract $image"; }
    "$TOOLS/treecmp" "${owner_flag[@]}" "$source" "$out/$prefix" >"$WORK/cmp.txt" ||
        { cat "$WORK/cmp.txt" >&2; fail "$source differs after the round trip"; }
    pass "round trip of $source ($(tail -1 "$WORK/cmp.txt"))"
}

# The fixture: symlinks, hard links, empty dirs/files, a sparse file, odd
# names, setuid/setgid/sticky bits, read-only dirs, ns times, xattrs.
"$TOOLS/make-fixture-tree" "$WORK/fixture"
roundtrip fixture "$WORK/fixture" opt/fixture

# The sparse file stays sparse on extraction.
allocated=$(du -k "$WORK/fixture.out/opt/fixture/usr/lib/large-sparse.bin" | cut -f1)
[ "$allocated" -lt 4096 ] || fail "large-sparse.bin uses ${allocated} KiB on disk after extract"
pass "sparse file extracted with holes (${allocated} KiB allocated of 8 MiB)"

# Real trees, at their real locations so that their symlinks resolve.
for tree in /usr/lib/python3.11 /usr/share/doc; do
    [ -d "$tree" ] || fail "$tree is missing: scripts/install-deps.sh --test installs it"
    roundtrip "$(basename "$tree")" "$tree" "${tree#/}"
done

# A tree with hard links across directories and an entry point, packed at
# the image root with a manifest.
cat >"$WORK/manifest.ini" <<'INI'
[package]
name = fixture
version = 1.0
[entry app]
exec = /usr/bin/app
INI
"$VIAL" pack "$WORK/fixture" -o "$WORK/rooted.vial" --manifest "$WORK/manifest.ini"
"$VIAL" extract "$WORK/rooted.vial" "$WORK/rooted"
"$TOOLS/treecmp" "${owner_flag[@]}" "$WORK/fixture" "$WORK/rooted" >/dev/null ||
    fail "fixture packed at the root differs"
[ "$(stat -c %h "$WORK/rooted/links/original")" = 4 ] || fail "hard link count is not 4"
pass "fixture packed at the image root with a manifest"

finish
