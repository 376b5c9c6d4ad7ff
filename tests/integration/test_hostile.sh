#!/bin/bash
# Hostile images (names "..", "a/b", "/ab", a symlink to a directory outside
# followed by a directory or file of the same name, a hard link to a
# directory, parent and child cycles, a symlink target climbing out) are
# refused by verify and contained by extract: nothing appears outside DIR.
source "$(dirname "$0")/lib.sh"

outside="$WORK/outside"
mkdir "$outside"
"$TOOLS/make-hostile-images" "$WORK/images" "$outside"
count=0
for image in "$WORK"/images/*.vial; do
    name=$(basename "$image" .vial)
    dir="$WORK/extract-$name"
    if [ "$name" = escaping-symlink-target ]; then
        # a symlink is data: extract stores it and never follows it
        expect_status 0 "$VIAL" extract "$image" "$dir"
        [ "$(readlink "$dir/esc")" = ../../../../../../../tmp ] || fail "$name: link target"
    else
        expect_status 3 "$VIAL" extract "$image" "$dir"
        expect_stderr "vial: "
        expect_status 3 "$VIAL" verify "$image"
        grep -qE "corrupt image|twice|invalid" "$WORK/stderr" || { cat "$WORK/stderr"; fail "$name: message"; }
    fi
    [ -z "$(ls -A "$outside")" ] || { ls -laR "$outside"; fail "$name wrote outside the extraction directory"; }
    count=$((count + 1))
    pass "$name: $(head -1 "$WORK/stderr" | cut -c1-100)"
done
[ "$count" -ge 9 ] || fail "expected at least 9 hostile images, found $count"
finish
