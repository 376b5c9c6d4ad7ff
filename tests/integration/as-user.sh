#!/bin/bash
# as-user.sh SCRIPT: runs an integration test as the unprivileged user the
# test set-up created (vial-test), or skips (exit 77) if there is none.
# The build often lives where that user cannot go (a clone under /root), so
# the binaries and test scripts are staged into a directory the user owns.
set -euo pipefail
user=vial-test
if [ "$(id -u)" != 0 ]; then
    exec bash "$1"
fi
if ! id "$user" >/dev/null 2>&1; then
    echo "skipped: user $user does not exist (scripts/test.sh creates it)"
    exit 77
fi
stage=$(mktemp -d /tmp/vial-as-user-XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/tools" "$stage/tests"
cp "$VIAL" "$stage/tools/vial"
# vial run looks for the interposer and the GSettings module beside the
# vial binary
for lib in "$(dirname "$VIAL")"/libvial-*.so; do
    [ -f "$lib" ] && cp "$lib" "$stage/tools/"
done
[ -d "$(dirname "$VIAL")/gio-modules" ] && cp -r "$(dirname "$VIAL")/gio-modules" "$stage/tools/"
for tool in "$TOOLS"/treecmp "$TOOLS"/make-* "$TOOLS"/replay-* "$TOOLS"/probe-* "$TOOLS"/posix-suite; do
    [ -x "$tool" ] && cp "$tool" "$stage/tools/"
done
cp -r "$SOURCE_DIR/tests/integration" "$SOURCE_DIR/tests/differential" "$SOURCE_DIR/tests/posix" \
    "$SOURCE_DIR/tests/fixtures" \
    "$stage/tests/"
cp "$SOURCE_DIR/README.md" "$stage/"
cp -r "$SOURCE_DIR/examples" "$stage/"
# fixtures fetched by the root run (run_apps): copied when the user cannot
# read them where they are
fixtures=${FIXTURES:-}
if [ -n "$fixtures" ] && [ -d "$fixtures" ] &&
    ! setpriv --reuid="$user" --regid="$user" --init-groups test -r "$fixtures/."; then
    cp -a "$fixtures" "$stage/fixtures"
    fixtures=$stage/fixtures
fi
chown -R "$user:" "$stage"
home=$(getent passwd "$user" | cut -d: -f6)
# the user may not enter ctest's working directory (a build under /root)
cd "$stage"
setpriv --reuid="$user" --regid="$user" --init-groups \
    env HOME="$home" USER="$user" TMPDIR=/tmp VIAL="$stage/tools/vial" TOOLS="$stage/tools" \
    SOURCE_DIR="$stage" FIXTURES="$fixtures" bash "$stage/tests/integration/$(basename "$1")"
