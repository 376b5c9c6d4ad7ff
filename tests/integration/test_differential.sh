#!/bin/bash
# Differential test of the interposer: tests/differential/probe.c runs on an
# extracted copy of an image, then inside the bubble on the image at the
# same path (the copy removed first). Outputs and exit statuses must be
# equal except for the probe IDs in tests/differential/allowlist.txt.
source "$(dirname "$0")/lib.sh"
: "${SOURCE_DIR:?}"
probe="$TOOLS/probe-differential"
allowlist="$SOURCE_DIR/tests/differential/allowlist.txt"
[ -x "$probe" ] || fail "$probe is missing"
export XDG_CACHE_HOME="$WORK/cache"

tree="$WORK/tree"
mkdir -p "$tree/dir/sub" "$tree/empty"
echo "the file" >"$tree/file.txt"
echo "a" >"$tree/dir/a.txt"
echo "b is here" >"$tree/dir/b.txt"
echo "c, deeper" >"$tree/dir/sub/c.txt"
printf '#!/bin/sh\necho "script $1 ran as $0" >&2\ncat "$(dirname "$0")/file.txt" >/dev/null || exit 9\nexit 3\n' >"$tree/exec.sh"
chmod 755 "$tree/exec.sh"
ln -s file.txt "$tree/link-file"
ln -s dir "$tree/link-dir"
ln -s "$tree/file.txt" "$tree/link-abs"
ln -s nowhere "$tree/link-dangling"
ln -s loop "$tree/loop"
ln "$tree/file.txt" "$tree/hard.txt"
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.probe", b"xattr-value")' "$tree/file.txt" ||
    echo "note: no user xattrs on this file system"

"$VIAL" pack "$tree" --prefix "${tree#/}" -o "$WORK/probe.vial" 2>/dev/null
"$VIAL" extract "$WORK/probe.vial" "$WORK/extracted"
rm -rf "$tree"
mv "$WORK/extracted$tree" "$tree"

status=0
(cd / && "$probe" "$tree") >"$WORK/native.txt" 2>"$WORK/native.err" || status=$?
echo "exit $status" >>"$WORK/native.txt"
rm -rf "$tree"
[ ! -e "$tree" ] || fail "the extracted copy is still there"
status=0
(cd / && "$VIAL" exec "$WORK/probe.vial" -- "$probe" "$tree") >"$WORK/virtual.txt" \
    2>"$WORK/virtual.err" || status=$?
echo "exit $status" >>"$WORK/virtual.txt"
[ ! -e "$tree" ] || fail "the virtual run created $tree on the host"

python3 - "$WORK/native.txt" "$WORK/virtual.txt" "$allowlist" <<'PY' || { cat "$WORK/virtual.err" >&2; fail "native and virtual runs differ"; }
import sys
def lines(path):
    out = {}
    for line in open(path):
        key, _, rest = line.rstrip("\n").partition(" ")
        out[key] = rest
    return out
native, virtual = lines(sys.argv[1]), lines(sys.argv[2])
allowed = {}
for line in open(sys.argv[3]):
    if line.strip() and not line.startswith("#"):
        key, _, reason = line.rstrip("\n").partition("\t")
        allowed[key] = reason
bad = 0
for key in sorted(set(native) | set(virtual), key=lambda k: list(native).index(k) if k in native else 999):
    a, b = native.get(key), virtual.get(key)
    if a == b:
        continue
    if key in allowed:
        print(f"allowed {key}: native [{a}] virtual [{b}] -- {allowed[key]}")
        continue
    print(f"DIFFERS {key}:\n  native  {a}\n  virtual {b}")
    bad += 1
print(f"{len(native)} probes, {bad} unexplained differences")
sys.exit(1 if bad else 0)
PY
count=$(grep -c . "$WORK/native.txt")
pass "differential probe: $count lines agree natively and virtually (allowlisted: $(grep -vc '^#' "$allowlist"))"
finish
