#!/bin/bash
# vial sequence (issue 6, part 1, for `make install`): a small C project
# (tests/fixtures/seqapp), built here, installed with `make install
# PREFIX=/opt/seqapp` inside vial sequence:
#   - the host has no trace of it: /opt, /usr/local, /var/log and
#     /var/cache hash the same before and after (paths, types, modes, sizes,
#     contents), /opt/seqapp does not exist;
#   - the image holds the installed files (not the installer's log and cache,
#     excluded by default, nor what --exclude names) with root as owner, and
#     an entry point for the installed program, which runs with vial run and
#     reads its data from the image;
#   - a failing installer packs nothing and says so; bad arguments are
#     usage errors.
# As an unprivileged user the install into /opt is refused by the bubble
# (the app's own permissions), which the test checks instead.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apps-lib.sh"
need_fixtures sqlite-root
export LC_ALL=C
command -v make >/dev/null && command -v cc >/dev/null || fail "make and cc are needed (build-essential)"

src=$WORK/seqapp
cp -r "$SOURCE_DIR/tests/fixtures/seqapp" "$src"
make -s -C "$src" PREFIX=/opt/seqapp seqapp

snapshot() { # the host's install prefixes: path, type, mode, size, content hash
    local dir
    for dir in /opt /usr/local /var/log /var/cache; do
        [ -d "$dir" ] || continue
        # (unreadable directories are skipped: an unprivileged run sees less)
        { find "$dir" -xdev \( -type f -o -type d -o -type l \) -printf '%p %y %m %s\n' 2>/dev/null || true; } | sort
        { find "$dir" -xdev -type f -size -4M -readable -print0 2>/dev/null || true; } | sort -z |
            xargs -0 -r sha256sum 2>/dev/null || true
    done
}
[ ! -e /opt/seqapp ] || fail "/opt/seqapp exists on the host before the test"
snapshot >"$WORK/before"

if [ "$(id -u)" != 0 ]; then
    expect_status 1 "$VIAL" sequence -o "$WORK/seq.vial" --name seqapp --version 1.0 -- \
        make -s -C "$src" install PREFIX=/opt/seqapp
    expect_stderr "nothing was packed"
    [ ! -e "$WORK/seq.vial" ] || fail "a failed sequence left an image"
    snapshot >"$WORK/after"
    diff "$WORK/before" "$WORK/after" >&2 || fail "the host changed"
    pass "unprivileged: the bubble refuses the install into root's /opt, nothing is packed, the host is unchanged"
    finish
    exit 0
fi

"$VIAL" sequence -o "$WORK/seq.vial" --name seqapp --version 1.0 --exclude 'opt/seqapp/share/applications' \
    --save-manifest "$WORK/seq.ini" -- make -s -C "$src" install PREFIX=/opt/seqapp >"$WORK/seq.out"
cat "$WORK/seq.out"
snapshot >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the host's /opt, /usr/local, /var/log or /var/cache changed"
[ ! -e /opt/seqapp ] || fail "/opt/seqapp appeared on the host"
pass "sequence: the host has no trace of the installation (snapshots equal, no /opt/seqapp)"

"$VIAL" ls "$WORK/seq.vial" /opt/seqapp/bin -l >"$WORK/ls"
grep -q "seqapp$" "$WORK/ls" || fail "the image lacks /opt/seqapp/bin/seqapp: $(cat "$WORK/ls")"
grep -q "root *root" "$WORK/ls" || has_line " 0 *0 " "$WORK/ls" || fail "not owned by root: $(cat "$WORK/ls")"
[ "$("$VIAL" cat "$WORK/seq.vial" /opt/seqapp/share/seqapp/greeting)" = "Hello from a sequenced installation" ] ||
    fail "the greeting is not in the image"
for gone in /var/log/seqapp /var/cache/seqapp /opt/seqapp/share/applications; do
    expect_status 1 "$VIAL" ls "$WORK/seq.vial" "$gone"
done
grep -qx "exec = /opt/seqapp/bin/seqapp" "$WORK/seq.ini" || fail "no entry point: $(cat "$WORK/seq.ini")"
grep -q "excluded" "$WORK/seq.out" || fail "the summary does not count exclusions"
pass "the image holds the installed files (root-owned), not the log, cache or --exclude'd paths; an entry point"

[ "$("$VIAL" run "$WORK/seq.vial")" = "Hello from a sequenced installation" ] || fail "the sequenced app did not run"
pass "the sequenced app runs with vial run, its data from the image"

# a launch profile of the captured app, given to the next sequence, is
# stored in the image with its files placed first
"$VIAL" profile "$WORK/seq.vial" -o "$WORK/seq.profile" >/dev/null 2>&1 || fail "vial profile seq.vial"
has_line -x /opt/seqapp/share/seqapp/greeting "$WORK/seq.profile" ||
    fail "the profile lacks the greeting: $(cat "$WORK/seq.profile")"
"$VIAL" sequence -o "$WORK/seq2.vial" --name seqapp --version 1.0 --exclude 'opt/seqapp/share/applications' \
    --profile "$WORK/seq.profile" -- make -s -C "$src" install PREFIX=/opt/seqapp >/dev/null ||
    fail "vial sequence --profile"
"$VIAL" info "$WORK/seq2.vial" --json | python3 -c '
import json, sys
files = json.load(sys.stdin)["launch_profile"]["files"]
sys.exit(0 if "/opt/seqapp/share/seqapp/greeting" in files else 1)' ||
    fail "seq2.vial has no launch profile with the greeting"
"$VIAL" info "$WORK/seq.vial" --json | python3 -c '
import json, sys
sys.exit(0 if not json.load(sys.stdin)["launch_profile"]["files"] else 1)' ||
    fail "seq.vial, sequenced without --profile, has a launch profile"
pass "vial sequence --profile stores the launch profile"

# what would escape the capture: ldconfig (static) is skipped, the host's
# cache unchanged; another static program is refused and changes nothing
ld_cache=$(sha256sum </etc/ld.so.cache)
"$VIAL" sequence -o "$WORK/ld.vial" --name ldapp --version 1 -- \
    sh -c 'ldconfig && mkdir -p /opt/seq-ld && echo ok >/opt/seq-ld/f' >/dev/null
[ "$(sha256sum </etc/ld.so.cache)" = "$ld_cache" ] || fail "ldconfig in a capture changed the host's ld.so.cache"
[ "$("$VIAL" cat "$WORK/ld.vial" /opt/seq-ld/f)" = ok ] || fail "the capture after ldconfig"
[ ! -e /opt/seq-ld ] || fail "/opt/seq-ld reached the host"
printf '#include <stdio.h>\nint main(void){FILE*f=fopen("/opt/vial-static-escape","w");return f?0:1;}\n' >"$WORK/escape.c"
cc -static -o "$WORK/escape" "$WORK/escape.c"
expect_status 1 "$VIAL" sequence -o "$WORK/escape.vial" --name escape --version 1 -- sh -c "'$WORK/escape'"
expect_stderr "refusing to run $WORK/escape"
[ ! -e /opt/vial-static-escape ] || { rm -f /opt/vial-static-escape; fail "a static program wrote the host's /opt"; }
pass "in a capture ldconfig is skipped (host ld.so.cache unchanged) and another static program is refused"

# dpkg -i of a real Debian package (GNU hello, fetched by the fixtures)
deb=$(echo "$FIXTURES"/debs/hello_*.deb)
[ -f "$deb" ] || fail "no hello .deb in $FIXTURES/debs"
! command -v hello >/dev/null || fail "the host has hello: the test could not tell where it ran from"
host_state() { # the host's dpkg database, /usr, /etc and /var (but tmp): metadata, and what dpkg writes
    { find /usr /etc /var -xdev -path /var/tmp -prune -o -printf '%p %y %m %U %s %T@\n' 2>/dev/null || true; } | sort
    sha256sum /var/lib/dpkg/status /etc/ld.so.cache 2>/dev/null || true
}
host_state >"$WORK/dpkg-before"
"$VIAL" sequence -o "$WORK/hello.vial" --name hello --version "$(dpkg-deb -f "$deb" Version)" -- \
    dpkg -i "$deb" >"$WORK/dpkg.out" 2>&1 || { cat "$WORK/dpkg.out"; fail "vial sequence -- dpkg -i failed"; }
host_state >"$WORK/dpkg-after"
diff "$WORK/dpkg-before" "$WORK/dpkg-after" >&2 || fail "dpkg -i in a capture changed the host (above)"
dpkg-query -W hello >/dev/null 2>&1 && fail "the host's dpkg database has hello"
"$VIAL" ls "$WORK/hello.vial" /usr/bin | has_line -x hello || fail "the capture lacks /usr/bin/hello"
expect_status 1 "$VIAL" ls "$WORK/hello.vial" /var/lib/dpkg
[ "$("$VIAL" run "$WORK/hello.vial")" = "Hello, world!" ] || fail "the captured hello did not run"
"$VIAL" import "$deb" -o "$WORK/hello-imported.vial" >/dev/null
[ "$("$VIAL" run "$WORK/hello-imported.vial" -- --greeting=same)" = same ] &&
    [ "$("$VIAL" run "$WORK/hello-imported.vial")" = "Hello, world!" ] || fail "the imported hello does not run the same way"
pass "dpkg -i of hello in a capture: the host's dpkg database, /usr, /etc (ld.so.cache) and /var unchanged; captured and imported images run"

expect_status 1 "$VIAL" sequence -o "$WORK/fail.vial" --name failing --version 1 -- sh -c 'mkdir -p /opt/x; exit 3'
expect_stderr "exited with 3: nothing was packed"
[ ! -e "$WORK/fail.vial" ] && [ ! -e /opt/x ] || fail "a failed installer left an image or /opt/x"
expect_status 1 "$VIAL" sequence -o "$WORK/none.vial" --name none --version 1 -- true
expect_stderr "changed nothing"
expect_status 2 "$VIAL" sequence -o "$WORK/x.vial" --version 1 -- true
expect_status 2 "$VIAL" sequence -o "$WORK/x.vial" --name 'bad name' --version 1 -- true
ls -A "$WORK" | has_line '^\.vial-sequence-' && fail "a temporary capture was left"
pass "a failing installer, an installer that changes nothing and bad arguments are refused with a message"

finish
