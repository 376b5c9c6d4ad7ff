#!/bin/bash
# POSIX file-system semantics, native against the bubble: tests/posix's
# posix-suite runs the same checks (open flags, rename, unlink, links,
# symlinks, permissions, times, truncate, readdir, mkdir/rmdir, mkstemp,
# xattrs, chown, fsync, *at calls) natively and inside the bubble, and
# the outputs must be equal except for the cases in
# tests/posix/allowlist.txt:
#   native  the fixture in a plain directory;
#   (a)     the fixture packed as an image directory (/opt/posix) and
#           written to through copy-on-write;
#   (b)     the fixture in a host directory the manifest makes writecopy:
#           the bubble writes to the user's delta, and the host directory
#           must stay unchanged, bytes and metadata;
#   (c)     a fixture the app itself creates (mkdir -p) in that writecopy
#           area: the host must never get it.
# Every part runs even if an earlier bubble part failed, so that one run
# shows every difference; the native part must be sound first. To look at
# one difference alone: `vial exec IMAGE -- posix-suite run DIR 'area/case'`
# on a fresh state (XDG_DATA_HOME) runs just that check.
source "$(dirname "$0")/lib.sh"
: "${SOURCE_DIR:?run through ctest (SOURCE_DIR is the source tree)}"
suite="$TOOLS/posix-suite"
allowlist="$SOURCE_DIR/tests/posix/allowlist.txt"
compare="$SOURCE_DIR/tests/posix/compare.py"
[ -x "$suite" ] || fail "$suite is missing (ninja posix-suite)"
[ -f "$allowlist" ] || fail "$allowlist is missing"
[ -f "$compare" ] || fail "$compare is missing"

# ------------------------------------------------------------------ set-up
WORK=$(cd "$WORK" && pwd -P) # the bubble sees canonical paths
export XDG_CACHE_HOME="$WORK/cache" XDG_DATA_HOME="$WORK/data"
export XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state"
export XDG_RUNTIME_DIR="$WORK/run"
mkdir -p "$XDG_CACHE_HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
unset LD_PRELOAD LD_LIBRARY_PATH
umask 022
PROBLEMS=()
problem() { PROBLEMS+=("$*"); echo "FAILED PART: $*" >&2; }

# ------------------------------------------------------------------ helpers
# run_native DIR OUT: a fresh fixture in DIR (created), the suite on it
run_native() {
    local dir=$1 out=$2
    mkdir "$dir"
    local status=0
    "$suite" fixture "$dir" 2>"$out.err" || { cat "$out.err" >&2; fail "posix-suite fixture $dir"; }
    (cd / && "$suite" run "$dir") >"$out" 2>>"$out.err" || status=$?
    [ "$status" = 0 ] || { cat "$out.err" >&2; fail "posix-suite run $dir exited $status"; }
}

# manifest FILE NAME [WRITECOPY-DIR]: a manifest for package NAME, with an
# [isolation] section making WRITECOPY-DIR writecopy when given
manifest() {
    {
        printf '# written by tests/integration/test_posix.sh\n[package]\nname = %s\nversion = 1\n' "$2"
        [ -z "${3:-}" ] || printf '\n[isolation]\n%s = writecopy\n' "$3"
    } >"$1"
}

# pack NAME ROOT MANIFEST: $WORK/NAME.vial owned by the running user;
# returns 1 (with the reason on stderr) if vial pack refuses
pack() {
    "$VIAL" pack "$2" -o "$WORK/$1.vial" --manifest "$3" --owner "$(id -u):$(id -g)" -j2 \
        >/dev/null 2>"$WORK/$1.pack.err" || { cat "$WORK/$1.pack.err" >&2; return 1; }
}

# in_bubble IMAGE OUT COMMAND...: vial exec IMAGE -- COMMAND from /, stdout
# in OUT; returns 1 if it did not exit 0
in_bubble() {
    local image=$1 out=$2 status=0
    shift 2
    (cd / && "$VIAL" exec "$image" -- "$@") >"$out" 2>"$out.err" || status=$?
    if [ "$status" != 0 ]; then
        tail -n 20 "$out.err" >&2
        echo "vial exec $(basename "$image") -- $* exited $status" >&2
        return 1
    fi
}

# compare LABEL OUT: OUT against native.out, allowlist applied
compare() {
    python3 "$compare" diff "$WORK/native.out" "$2" "$allowlist" "$1" "$WORK/allowlist-used"
}

# snapshot DIR OUT: every entry of DIR with type, mode, size, links, owner,
# mtime, ctime and symlink target, the sha256 of every file and every
# xattr; two equal snapshots mean nothing in DIR changed. Contents are read
# with O_NOATIME: a snapshot that moved atimes would change what the
# bubble's copy-ups copy (atime is not compared: reads move it natively too)
snapshot() {
    {
        (cd "$1" && find . -printf '%p %y %m %s %n %U:%G %T@ %C@ %l\n' | LC_ALL=C sort)
        python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
paths = [root]
for directory, dirs, files in os.walk(root):
    paths += [os.path.join(directory, name) for name in dirs + files]
for path in sorted(paths):
    relative = os.path.relpath(path, root)
    if stat.S_ISREG(os.lstat(path).st_mode):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
        except PermissionError:  # O_NOATIME needs the file's owner
            fd = os.open(path, os.O_RDONLY)
        digest = hashlib.sha256()
        with os.fdopen(fd, "rb") as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                digest.update(block)
        print("sha256", relative, digest.hexdigest())
    try:
        for attribute in sorted(os.listxattr(path, follow_symlinks=False)):
            print("xattr", relative, attribute, os.getxattr(path, attribute, follow_symlinks=False).hex())
    except OSError as e:
        print("xattr", relative, "error", e.errno)
PY
    } >"$2"
}

# ------------------------------------------------------------------ native
run_native "$WORK/native" "$WORK/native.out"
run_native "$WORK/native-again" "$WORK/native-again.out"
diff "$WORK/native.out" "$WORK/native-again.out" >&2 ||
    fail "posix-suite gives different output on two fresh fixtures (above): the suite is not deterministic"
bad=$(grep -vcE '^[a-z0-9-]+/[^ ]+: .+$' "$WORK/native.out" || true)
[ "$bad" = 0 ] || fail "posix-suite printed $bad lines that are not 'area/case: RESULT'"
! grep -qF "$WORK" "$WORK/native.out" || fail "posix-suite printed an absolute path of the test's directory"
cases=$(wc -l <"$WORK/native.out")
pass "native: $cases cases, the same output on two fresh fixtures (as $(id -un))"

# ------------------------------------------------------------------ (a) image
stage="$WORK/stage-a"
mkdir -p "$stage/opt/posix"
"$suite" fixture "$stage/opt/posix" || fail "posix-suite fixture $stage/opt/posix"
manifest "$WORK/posix-a.ini" posix-a
ran_a=
if [ -e /opt/posix ] || [ -L /opt/posix ]; then
    problem "(a): the host has /opt/posix, so the image directory cannot be told from it"
elif ! pack posix-a "$stage" "$WORK/posix-a.ini"; then
    problem "(a): vial pack of the fixture failed"
elif ! in_bubble "$WORK/posix-a.vial" "$WORK/a.out" "$suite" run /opt/posix; then
    problem "(a): the suite did not run in the bubble"
else
    ran_a=1
    if [ -e /opt/posix ] || [ -L /opt/posix ]; then
        problem "(a): the bubble run created /opt/posix on the host"
    fi
    if compare "(a) image directory /opt/posix" "$WORK/a.out"; then
        pass "(a) image directory: the bubble agrees with native"
    else
        problem "(a): the bubble differs from native on an image directory (above)"
    fi
fi

# ------------------------------------------------------------------ (b) writecopy
wc="$WORK/wc"
mkdir "$wc"
"$suite" fixture "$wc" || fail "posix-suite fixture $wc"
snapshot "$wc" "$WORK/wc.before"
mkdir -p "$WORK/stage-b/opt/posix-b"
echo "posix-suite runs on a writecopy host directory" >"$WORK/stage-b/opt/posix-b/README"
manifest "$WORK/posix-b.ini" posix-b "$wc"
ran_b=
if ! pack posix-b "$WORK/stage-b" "$WORK/posix-b.ini"; then
    problem "(b): vial pack refused a manifest with [isolation] $wc = writecopy"
elif ! in_bubble "$WORK/posix-b.vial" "$WORK/b.out" "$suite" run "$wc"; then
    problem "(b): the suite did not run in the bubble"
else
    ran_b=1
    if compare "(b) writecopy host directory" "$WORK/b.out"; then
        pass "(b) writecopy host directory: the bubble agrees with native"
    else
        problem "(b): the bubble differs from native on a writecopy host directory (above)"
    fi
fi
snapshot "$wc" "$WORK/wc.after"
if ! cmp -s "$WORK/wc.before" "$WORK/wc.after"; then
    diff "$WORK/wc.before" "$WORK/wc.after" | head -n 40 >&2
    problem "(b): the host's writecopy directory $wc changed (above: < before, > after)"
elif [ -n "$ran_b" ]; then
    pass "(b) the host's $wc is unchanged: $(sha256sum <"$WORK/wc.before" | cut -c1-16) before and after"
fi

# ------------------------------------------------------------------ (c) app-created
created="$wc/created"
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
inner='mkdir -p "$1" && "$2" fixture "$1" && "$2" run "$1"'
manifest "$WORK/posix-c.ini" posix-c "$wc"
ran_c=
if ! pack posix-c "$WORK/stage-b" "$WORK/posix-c.ini"; then
    problem "(c): vial pack refused a manifest with [isolation] $wc = writecopy"
elif ! in_bubble "$WORK/posix-c.vial" "$WORK/c.out" sh -c "$inner" sh "$created" "$suite"; then
    problem "(c): mkdir + fixture + run did not succeed in the bubble"
else
    ran_c=1
    if compare "(c) directory the app created in a writecopy area" "$WORK/c.out"; then
        pass "(c) app-created directory: the bubble agrees with native"
    else
        problem "(c): the bubble differs from native on a directory the app created (above)"
    fi
fi
if [ -e "$created" ] || [ -L "$created" ]; then
    problem "(c): the host got $created"
else
    snapshot "$wc" "$WORK/wc.after-c"
    if ! cmp -s "$WORK/wc.before" "$WORK/wc.after-c"; then
        diff "$WORK/wc.before" "$WORK/wc.after-c" | head -n 40 >&2
        problem "(c): the host's $wc changed (above)"
    elif [ -n "$ran_c" ]; then
        pass "(c) the host has no $created and $wc is still unchanged"
    fi
fi

# ------------------------------------------------------------------ verdict
if [ -n "$ran_a" ] && [ -n "$ran_b" ] && [ -n "$ran_c" ]; then
    python3 "$compare" notes "$WORK/native.out" "$allowlist" "$WORK/allowlist-used"
fi
if [ "${#PROBLEMS[@]}" -gt 0 ]; then
    printf '  %s\n' "${PROBLEMS[@]}" >&2
    fail "${#PROBLEMS[@]} part(s) of the POSIX comparison failed"
fi
finish
