#!/bin/bash
# vial import (issue 6, part 2): Debian packages and tar archives into an
# image with a generated manifest.
#   - the real sqlite3 and libsqlite3-0 .debs (fetched by the fixtures):
#     name, version, summary from the control fields, the entry point
#     /usr/bin/sqlite3; the image runs it, and /proc/PID/exe and maps prove
#     that the binary and its library came from the image (this host has its
#     own sqlite3); every entry is owned by root;
#   - a tar.xz with a .desktop file (Exec through env, a bare command name),
#     a program under opt/APP/bin and a non-executable file in usr/bin: the
#     desktop application is the default entry, the manifest is saved and
#     packs again with vial pack;
#   - hostile archives: a member climbing out with '..', an absolute
#     member, a link to /etc followed by a member written through it, a
#     device node: nothing lands outside, the import fails or leaves the
#     member out, and no temporary directory is left beside the output;
#   - a corrupt .deb and a truncated archive fail with a message naming the
#     file, and write no image.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apps-lib.sh"
need_fixtures sqlite-root
export LC_ALL=C
debs=$FIXTURES/debs

# ---------------------------------------------------------- a real .deb
"$VIAL" import "$debs"/sqlite3_*.deb "$debs"/libsqlite3-0_*.deb -o "$WORK/sq.vial" \
    --save-manifest "$WORK/sq.ini" >"$WORK/import.out"
grep -q "sqlite3 .* from 2 files" "$WORK/import.out" || fail "import summary: $(cat "$WORK/import.out")"
grep -qx "name = sqlite3" "$WORK/sq.ini" || fail "manifest name: $(cat "$WORK/sq.ini")"
want_version=$(dpkg-deb -f "$(echo "$debs"/sqlite3_*.deb)" Version)
grep -qxF "version = $want_version" "$WORK/sq.ini" || fail "manifest version: $(cat "$WORK/sq.ini")"
grep -qx "summary = Command line interface for SQLite 3" "$WORK/sq.ini" || fail "summary: $(cat "$WORK/sq.ini")"
grep -qx "exec = /usr/bin/sqlite3" "$WORK/sq.ini" || fail "entry: $(cat "$WORK/sq.ini")"
"$VIAL" ls "$WORK/sq.vial" /usr/bin -l >"$WORK/ls"
grep -q "root *root .* sqlite3$" "$WORK/ls" || has_line " 0 *0 .* sqlite3$" "$WORK/ls" ||
    fail "sqlite3 is not owned by root in the image: $(cat "$WORK/ls")"
expect_status 0 "$VIAL" verify "$WORK/sq.vial"
pass "vial import of sqlite3 + libsqlite3-0: control fields, entry point, root-owned entries"

start_bg sq "$VIAL" run "$WORK/sq.vial" -- -batch
send_bg sq "select 'imported-' || sqlite_version();"
wait_line sq '^imported-3\.' >/dev/null
pid=$(bg_app_pid sq)
in_view "$(readlink "/proc/$pid/exe")" /usr/bin/sqlite3 >/dev/null
maps_check "$pid" 'libsqlite3\.so' /usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6
stop_bg sq
pass "the imported sqlite3 runs from the image (exe and libsqlite3 mapped from the view)"

# ------------------------------------------------------- a tar archive
app=$WORK/src/app
mkdir -p "$app/usr/bin" "$app/usr/share/applications" "$app/opt/tool/bin"
printf '#!/bin/sh\necho viewer-ran "$@"\n' >"$app/usr/bin/viewer"
printf '#!/bin/sh\necho tool-ran\n' >"$app/opt/tool/bin/tool"
printf 'not a program\n' >"$app/usr/bin/README"
chmod 755 "$app/usr/bin/viewer" "$app/opt/tool/bin/tool"
chmod 644 "$app/usr/bin/README"
cat >"$app/usr/share/applications/org.example.Viewer.desktop" <<'EOF'
[Desktop Entry]
Type=Application
Name=Example Viewer
Icon=viewer
Exec=env VIEWER_MODE=1 viewer %F
EOF
cat >"$app/usr/share/applications/hidden.desktop" <<'EOF'
[Desktop Entry]
Type=Application
Name=Hidden
NoDisplay=true
Exec=/usr/bin/viewer --hidden
EOF
tar -C "$app" -cJf "$WORK/viewer-2.1.tar.xz" .
"$VIAL" import "$WORK/viewer-2.1.tar.xz" -o "$WORK/viewer.vial" --version 2.1 \
    --save-manifest "$WORK/viewer.ini" >/dev/null
grep -qx "name = viewer-2.1" "$WORK/viewer.ini" || fail "name from the file: $(cat "$WORK/viewer.ini")"
grep -qx "version = 2.1" "$WORK/viewer.ini" || fail "--version: $(cat "$WORK/viewer.ini")"
grep -qx "default_entry = org.example.Viewer" "$WORK/viewer.ini" || fail "default entry: $(cat "$WORK/viewer.ini")"
grep -qx "description = Example Viewer" "$WORK/viewer.ini" || fail "desktop Name: $(cat "$WORK/viewer.ini")"
grep -qx "exec = /opt/tool/bin/tool" "$WORK/viewer.ini" || fail "opt/tool/bin: $(cat "$WORK/viewer.ini")"
grep -q "README" "$WORK/viewer.ini" && fail "a non-executable file became an entry"
grep -q "hidden" "$WORK/viewer.ini" && fail "a NoDisplay desktop file became an entry"
[ "$(grep -c '^\[entry ' "$WORK/viewer.ini")" = 2 ] || fail "entries: $(cat "$WORK/viewer.ini")"
[ "$("$VIAL" run "$WORK/viewer.vial" -- x)" = "viewer-ran x" ] || fail "the default entry did not run"
[ "$("$VIAL" run "$WORK/viewer.vial" tool)" = "tool-ran" ] || fail "the tool entry did not run"
# the saved manifest packs the same tree again
mkdir "$WORK/re" && tar -C "$WORK/re" -xJf "$WORK/viewer-2.1.tar.xz"
"$VIAL" pack "$WORK/re" -o "$WORK/repacked.vial" --manifest "$WORK/viewer.ini" --owner 0:0 >/dev/null
[ "$("$VIAL" run "$WORK/repacked.vial" -- y)" = "viewer-ran y" ] || fail "the repacked image"
pass "vial import of a tar.xz: .desktop entry (env, bare name) as default, opt/*/bin, saved manifest re-packs"

# ----------------------------------------------------------- bad input
ls -A "$WORK" | has_line '^\.vial-import-' && fail "a temporary import directory was left"
mkdir -p "$WORK/evil/src" "$WORK/outside"
python3 - "$WORK/evil" <<'EOF'
import io, sys, tarfile
out = sys.argv[1]
def add(tar, name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open(out + "/dotdot.tar", "w") as tar:
    add(tar, "usr/bin/ok")
    add(tar, "../../outside/climbed")
with tarfile.open(out + "/absolute.tar", "w") as tar:
    add(tar, "/tmp/vial-import-absolute-" + out.replace("/", "_"))
with tarfile.open(out + "/through-link.tar", "w") as tar:
    add(tar, "etc", kind=tarfile.SYMTYPE, link=out + "/outside-dir")
    add(tar, "etc/planted")
with tarfile.open(out + "/device.tar", "w") as tar:
    add(tar, "dev/null", kind=tarfile.CHRTYPE)
EOF
mkdir "$WORK/evil/outside-dir"
for name in dotdot absolute through-link device; do
    "$VIAL" import "$WORK/evil/$name.tar" -o "$WORK/evil/$name.vial" >"$WORK/stdout" 2>"$WORK/stderr" || true
    [ -z "$(ls -A "$WORK/evil/outside-dir")" ] || fail "$name.tar wrote through a link: $(ls "$WORK/evil/outside-dir")"
    [ ! -e "$WORK/outside/climbed" ] && [ ! -e "$WORK/evil/../outside/climbed" ] || fail "$name.tar climbed out"
    [ ! -e "/tmp/vial-import-absolute-${WORK//\//_}_evil" ] || fail "$name.tar wrote an absolute path"
    ls -A "$WORK/evil" | has_line '^\.vial-import-' && fail "$name.tar left a temporary directory"
    if [ -e "$WORK/evil/$name.vial" ]; then
        "$VIAL" ls "$WORK/evil/$name.vial" / -l >"$WORK/evil/$name.ls" 2>&1
        grep -q "climbed\|planted" "$WORK/evil/$name.ls" && fail "$name.tar: a hostile member is in the image"
    else
        grep -q "^vial: " "$WORK/stderr" || fail "$name.tar failed without a message"
    fi
done
[ ! -e "$WORK/evil/device.vial" ] || fail "a device node was imported"
grep -q "dev/null" "$WORK/stderr" || fail "the device node refusal does not name it: $(cat "$WORK/stderr")"
pass "hostile archives: nothing lands outside, devices refused, no temporary directory left"

head -c 3000 "$(echo "$debs"/sqlite3_*.deb)" >"$WORK/cut.deb"
expect_status 1 "$VIAL" import "$WORK/cut.deb" -o "$WORK/cut.vial"
expect_stderr "cut.deb"
[ ! -e "$WORK/cut.vial" ] || fail "a failed import left an image"
size=$(stat -c %s "$WORK/viewer-2.1.tar.xz")
head -c $((size / 2)) "$WORK/viewer-2.1.tar.xz" >"$WORK/cut.tar.xz"
expect_status 1 "$VIAL" import "$WORK/cut.tar.xz" -o "$WORK/cut.vial"
expect_stderr "cut.tar.xz"
[ ! -e "$WORK/cut.vial" ] || fail "a failed import left an image"
expect_status 2 "$VIAL" import "$WORK/viewer-2.1.tar.xz"
ls -A "$WORK" | has_line '^\.vial-import-' && fail "a failed import left a temporary directory"
pass "a truncated .deb or archive fails naming the file, leaves no image and no temporary directory"

finish
