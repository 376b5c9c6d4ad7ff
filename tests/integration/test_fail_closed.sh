#!/bin/bash
# The bubble fails closed: when a process of the bubble cannot open the
# user's delta (here: the state directory is deleted under a running
# bubble), writes the isolation policy keeps off the host fail with EROFS;
# they never reach the host (found while building vial sequence: they did).
# Passthrough paths (/tmp) still work.
source "$(dirname "$0")/lib.sh"
export LC_ALL=C
mkdir -p "$WORK/root/usr/share/fc"
echo data >"$WORK/root/usr/share/fc/file"
printf '[package]\nname = failclosed\nversion = 1\n' >"$WORK/fc.ini"
"$VIAL" pack "$WORK/root" -o "$WORK/fc.vial" --manifest "$WORK/fc.ini" >/dev/null
state=$XDG_DATA_HOME/vial/state/failclosed/1
target=/usr/local/vial-fail-closed-$$
host_dir=$(mktemp -d "$HOME/.vial-fail-closed-XXXXXX" 2>/dev/null || true)
[ ! -e "$target" ] || fail "$target exists before the test"
"$VIAL" exec "$WORK/fc.vial" -- sh -c "
    rm -rf '$state'
    mkdir '$target' 2>'$WORK/mkdir.err'; echo mkdir=\$?
    touch /etc/hostname 2>'$WORK/touch.err'; echo touch=\$?
    echo x >'$WORK/tmp-ok' && echo tmp=0
    ${host_dir:+echo y >'$host_dir/.dotfile' 2>/dev/null; echo dot=\$?}
" >"$WORK/out"
cat "$WORK/out"
grep -qx "mkdir=1" "$WORK/out" || fail "mkdir in /usr/local did not fail"
grep -q "Read-only file system" "$WORK/mkdir.err" || fail "mkdir: $(cat "$WORK/mkdir.err")"
[ ! -e "$target" ] || { rmdir "$target"; fail "the write reached the host: $target"; }
grep -qx "touch=1" "$WORK/out" || fail "touch /etc/hostname did not fail"
grep -qx "tmp=0" "$WORK/out" || fail "a passthrough write (/tmp) failed"
if [ -n "$host_dir" ]; then
    [ ! -e "$host_dir/.dotfile" ] || { rm -rf "$host_dir"; fail "a dotfile write reached the host's home"; }
    rm -rf "$host_dir"
fi
pass "without its delta, the bubble refuses writes (EROFS) instead of letting them reach the host"

# a process that switches to another user cannot read the bubble's session:
# it must not write where the bubble would have kept it off the host
# (only where that user can load the interposer at all: from a build tree in
# root's home the dynamic loader drops it, a limit running.md states)
preload=$(dirname "$VIAL")/libvial-preload.so
if [ "$(id -u)" = 0 ] && id vial-test >/dev/null 2>&1 && command -v setpriv >/dev/null &&
    ! setpriv --reuid=vial-test --regid=vial-test --clear-groups test -r "$preload"; then
    echo "skipped: vial-test cannot read $preload, so no interposer runs in its processes"
elif [ "$(id -u)" = 0 ] && id vial-test >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    open_dir=$(mktemp -d /var/lib/vial-fail-closed-XXXXXX)
    chmod 777 "$open_dir"
    "$VIAL" exec "$WORK/fc.vial" -- setpriv --reuid=vial-test --regid=vial-test --clear-groups \
        sh -c "echo x >'$open_dir/escaped' 2>/dev/null; echo write=\$?; echo y >/tmp/vial-fc-\$\$ && echo tmp=0 && rm /tmp/vial-fc-\$\$" \
        >"$WORK/out2" 2>&1 || true
    cat "$WORK/out2"
    escaped=$(ls -A "$open_dir")
    rm -rf "$open_dir"
    [ -z "$escaped" ] || fail "a process that switched user wrote the host's $open_dir"
    grep -qx "write=[12]" "$WORK/out2" || fail "the write did not fail: $(cat "$WORK/out2")"
    grep -qx "tmp=0" "$WORK/out2" || fail "/tmp is not writable after the switch"
    pass "a process that switched to another user (its session unreadable) cannot write the host outside /tmp"
fi
finish
