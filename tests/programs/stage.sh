#!/bin/bash
# stage.sh DEST BUILD_DIR: lays out the test programs built in BUILD_DIR
# (tests/programs/) as an image root, DEST/vialtest-root, with its manifest
# DEST/vialtest.ini:
#
#   /opt/vialtest/bin/{dlopen-host,origin-app,reexec-self,shadow-app,spawn-child,
#                      lua-embed}   (lua-embed needs liblua5.4.so.0: the test
#                                   packs it together with the lua5.4 tree,
#                                   manifest DEST/lua54-embed.ini)
#   /opt/vialtest/bin/{settings-app,cow-writer}   not run from this image:
#                                   test_cow_apps.sh copies them into the
#                                   trees it packs
#   /opt/vialtest/bin/hook-app, /opt/vialtest/lib/libvialhooktest.so.1
#                                   for test_hooks.sh (not in vialtest.ini)
#   /opt/vialtest/lib/{plugin.so,liborigin.so}
#   HOSTLIB/libvialshadow.so.1   the "image" variant, where HOSTLIB is the
#                                build directory that holds the "host" variant
#                                and that shadow-app's rpath names
#
# The tree is rebuilt from scratch each time (it is small) and swapped in
# whole; everything is made readable by the unprivileged test user.
set -euo pipefail

dest=${1:?usage: stage.sh DEST BUILD_DIR}
build=${2:?usage: stage.sh DEST BUILD_DIR}
out="$build/tests/programs"
die() { echo "stage.sh: error: $*" >&2; exit 1; }

for f in hook-app libvialhooktest.so.1 dlopen-host origin/bin/origin-app reexec-self shadow-app spawn-child lua-embed settings-app cow-writer \
         plugin.so origin/lib/liborigin.so \
         imagelib/libvialshadow.so.1 hostlib/libvialshadow.so.1; do
    [ -e "$out/$f" ] || die "$out/$f is missing: build the tests first (ninja -C $build)"
done

# the directory the dynamic loader searches for libvialshadow.so.1, exactly
# as the linker wrote it into shadow-app
hostlib=$(readelf -d "$out/shadow-app" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]$/\1/p')
[ -n "$hostlib" ] || hostlib=$(readelf -d "$out/shadow-app" | sed -n 's/.*(RPATH).*\[\(.*\)\]$/\1/p')
case $hostlib in
    /*) ;;
    *) die "shadow-app has no absolute rpath (found '$hostlib')" ;;
esac
[ -f "$hostlib/libvialshadow.so.1" ] || die "the host variant is not at $hostlib/libvialshadow.so.1"
origin_rpath=$(readelf -d "$out/origin/bin/origin-app" | sed -n 's/.*R.*PATH).*\[\(.*\)\]$/\1/p')
[ "$origin_rpath" = '$ORIGIN/../lib' ] || die "origin-app's rpath is '$origin_rpath', not \$ORIGIN/../lib"

mkdir -p "$dest"
tmp=$(mktemp -d "$dest/.vialtest-root.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/opt/vialtest/bin" "$tmp/opt/vialtest/lib" "$tmp$hostlib"
for p in hook-app dlopen-host origin/bin/origin-app reexec-self shadow-app spawn-child lua-embed settings-app cow-writer; do
    cp "$out/$p" "$tmp/opt/vialtest/bin/"
done
cp "$out/plugin.so" "$out/origin/lib/liborigin.so" "$out/libvialhooktest.so.1" "$tmp/opt/vialtest/lib/"
cp "$out/imagelib/libvialshadow.so.1" "$tmp$hostlib/"
echo "$hostlib" >"$tmp/opt/vialtest/hostlib-path"
chmod -R a+rX "$tmp"
chmod 755 "$tmp"

rm -rf "$dest/vialtest-root"
mv "$tmp" "$dest/vialtest-root"
trap - EXIT
cat >"$dest/vialtest.ini" <<'EOF'
[package]
name = vialtest
version = 1.0
summary = Test programs of tests/programs (dlopen, $ORIGIN, re-exec, shadowed soname)
default_entry = reexec-self

[entry reexec-self]
exec = /opt/vialtest/bin/reexec-self

[entry dlopen-host]
exec = /opt/vialtest/bin/dlopen-host

[entry origin-app]
exec = /opt/vialtest/bin/origin-app

[entry shadow-app]
exec = /opt/vialtest/bin/shadow-app

[entry spawn-child]
exec = /opt/vialtest/bin/spawn-child
EOF
cat >"$dest/lua54-embed.ini" <<'EOF'
[package]
name = lua54-embed
version = 1.0
summary = lua5.4 from Debian plus lua-embed, which links liblua5.4.so.0
default_entry = lua-embed

[entry lua-embed]
exec = /opt/vialtest/bin/lua-embed
EOF
chmod a+rX "$dest" "$dest/vialtest.ini" "$dest/lua54-embed.ini"
echo "stage.sh: $dest/vialtest-root (libvialshadow.so.1 \"image\" at $hostlib)"
