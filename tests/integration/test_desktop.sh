#!/bin/bash
# vial desktop (issue 6, part 4): a package's entry points as menu entries.
#   - install writes one .desktop file per entry point into
#     $XDG_DATA_HOME/applications; each passes desktop-file-validate
#     (Debian's desktop-file-utils), its Exec line, unquoted as the
#     specification says, starts the app (the image's path holds a space
#     and a quote), the icon the image has is copied out (a theme name found
#     in usr/share/icons, an absolute path), an entry without one gets a
#     generic icon;
#   - list shows them; install again replaces, remove deletes them and
#     their icons; another package's entries stay.
source "$(dirname "$0")/lib.sh"
export LC_ALL=C
command -v desktop-file-validate >/dev/null || fail "desktop-file-validate is missing (install-deps --test)"
apps=$XDG_DATA_HOME/applications

root=$WORK/root
mkdir -p "$root/usr/bin" "$root/usr/share/icons/hicolor/48x48/apps" "$root/opt/show"
printf '#!/bin/sh\necho "show-ran [$*]"\n' >"$root/usr/bin/show"
printf '#!/bin/sh\necho tool-ran\n' >"$root/usr/bin/tool"
chmod 755 "$root/usr/bin/show" "$root/usr/bin/tool"
printf 'PNGDATA' >"$root/usr/share/icons/hicolor/48x48/apps/show.png"
printf '<svg/>' >"$root/opt/show/logo.svg"
cat >"$WORK/app.ini" <<'EOF'
[package]
name = deskapp
version = 1.0
summary = A package; with "odd" text

[entry show]
exec = /usr/bin/show
description = Show Things
icon = show

[entry logo]
exec = /usr/bin/show
args = --logo
icon = /opt/show/logo.svg

[entry tool]
exec = /usr/bin/tool
EOF
mkdir -p "$WORK/my \"apps\""
image="$WORK/my \"apps\"/desk app.vial"
"$VIAL" pack "$root" -o "$image" --manifest "$WORK/app.ini" >/dev/null
"$VIAL" desktop install "$image" >"$WORK/installed"
[ "$(wc -l <"$WORK/installed")" = 3 ] || fail "install: $(cat "$WORK/installed")"
for entry in show logo tool; do
    file=$apps/vial-deskapp-$entry.desktop
    [ -f "$file" ] || fail "no $file"
    desktop-file-validate "$file" || fail "desktop-file-validate rejects $file: $(cat "$file")"
done
pass "install: one .desktop file per entry point, each valid for desktop-file-validate"

# Exec, unquoted as the Desktop Entry Specification says, starts the app
run_exec() { # FILE: runs its Exec line, prints the output
    python3 - "$1" <<'EOF'
import subprocess, sys
value = next(l[5:].rstrip("\n") for l in open(sys.argv[1]) if l.startswith("Exec="))
# the string level: \\ \s \n \t \r
plain, i = "", 0
while i < len(value):
    if value[i] == "\\" and i + 1 < len(value):
        plain += {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(value[i + 1], value[i + 1]); i += 2
    else:
        plain += value[i]; i += 1
# the Exec level: words, double quotes with \" \` \$ \\ inside, %% a percent
words, word, quoted, i, started = [], "", False, 0, False
while i < len(plain):
    c = plain[i]
    if quoted and c == "\\" and i + 1 < len(plain) and plain[i + 1] in '"`$\\':
        word += plain[i + 1]; i += 2; continue
    if c == '"':
        quoted = not quoted; started = True
    elif c == " " and not quoted:
        if started or word: words.append(word)
        word, started = "", False
    elif c == "%" and i + 1 < len(plain) and plain[i + 1] == "%":
        word += "%"; i += 1
    else:
        word += c
    i += 1
if started or word: words.append(word)
sys.stdout.write(subprocess.run(words, capture_output=True, text=True, check=True).stdout)
EOF
}
[ "$(run_exec "$apps/vial-deskapp-show.desktop")" = "show-ran []" ] || fail "show's Exec: $(grep Exec= "$apps/vial-deskapp-show.desktop")"
[ "$(run_exec "$apps/vial-deskapp-logo.desktop")" = "show-ran [--logo]" ] || fail "logo's Exec"
[ "$(run_exec "$apps/vial-deskapp-tool.desktop")" = "tool-ran" ] || fail "tool's Exec"
pass "each Exec line starts its entry point through vial run (an image path with a space and quotes)"

icons=$XDG_DATA_HOME/vial/icons
grep -qx "Icon=$icons/deskapp-show.png" "$apps/vial-deskapp-show.desktop" || fail "show's icon: $(grep Icon= "$apps/vial-deskapp-show.desktop")"
[ "$(cat "$icons/deskapp-show.png")" = PNGDATA ] || fail "the theme icon was not copied out of the image"
[ "$(cat "$icons/deskapp-logo.svg")" = "<svg/>" ] || fail "the absolute icon was not copied"
grep -qx "Icon=application-x-executable" "$apps/vial-deskapp-tool.desktop" || fail "tool's generic icon"
grep -qx "Terminal=true" "$apps/vial-deskapp-tool.desktop" || fail "an entry without an icon is for a terminal"
grep -qx "Name=Show Things" "$apps/vial-deskapp-show.desktop" || fail "Name"
pass "icons copied out of the image (theme name, absolute path), a generic one otherwise"

# a second package, list, reinstall, remove
printf '[package]\nname = other\nversion = 1\n[entry tool]\nexec = /usr/bin/tool\n' >"$WORK/other.ini"
"$VIAL" pack "$root" -o "$WORK/other.vial" --manifest "$WORK/other.ini" >/dev/null
"$VIAL" desktop install "$WORK/other.vial" >/dev/null
"$VIAL" desktop list >"$WORK/list"
[ "$(grep -c '^deskapp ' "$WORK/list")" = 3 ] && grep -q '^other ' "$WORK/list" || fail "list: $(cat "$WORK/list")"
sed -i 's/^\[entry logo\]/[entry logo2]/' "$WORK/app.ini"
"$VIAL" pack "$root" -o "$image" --manifest "$WORK/app.ini" >/dev/null
"$VIAL" desktop install "$image" >/dev/null
[ ! -e "$apps/vial-deskapp-logo.desktop" ] || fail "reinstall kept an entry point the package no longer has"
[ -e "$apps/vial-deskapp-logo2.desktop" ] || fail "reinstall did not add the new entry point"
"$VIAL" desktop remove "$image" >/dev/null
ls "$apps" | has_line "vial-deskapp-" && fail "remove left: $(ls "$apps")"
ls "$icons" | has_line "^deskapp-" && fail "remove left icons: $(ls "$icons")"
[ -e "$apps/vial-other-tool.desktop" ] || fail "remove took another package's entry"
expect_status 1 "$VIAL" desktop install "$WORK/nope.vial"
expect_status 2 "$VIAL" desktop frob "$image"
pass "list, reinstall replaces, remove deletes one package's entries and icons"

finish
