#!/bin/bash
# Launch profiles (issue 6, part 3): vial profile records which image files
# the Python application of the vial run tests (pyapp on Debian's
# python3.11, fixtures python-root) reads at launch, in order; vial pack
# --profile places those files' chunks first and stores the list, which
# vial info --json shows; --until-idle stops a program that keeps running.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apps-lib.sh"
need_fixtures python-root
export LC_ALL=C
"$VIAL" pack "$FIXTURES/python-root" -o "$WORK/py.vial" --manifest "$FIXTURES/python.ini" >/dev/null
"$VIAL" profile "$WORK/py.vial" -o "$WORK/py.profile" >"$WORK/out" 2>"$WORK/err"
grep -q "pyapp-marker" "$WORK/out" || fail "the app did not run: $(cat "$WORK/out" "$WORK/err")"
grep -q "image files in launch order" "$WORK/err" || fail "no summary: $(cat "$WORK/err")"
line_of() { grep -nxF -- "$1" "$WORK/py.profile" | head -1 | cut -d: -f1; }
launcher=$(line_of /opt/pyapp/bin/pyapp)
python=$(line_of /usr/bin/python3.11)
encodings=$(line_of /usr/lib/python3.11/encodings/__pycache__/__init__.cpython-311.pyc)
main=$(line_of /opt/pyapp/pyapp/__pycache__/main.cpython-311.pyc)
json=$(line_of /usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc)
decimal_so=$(line_of /usr/lib/python3.11/lib-dynload/_decimal.cpython-311-x86_64-linux-gnu.so)
for name in launcher python encodings main json decimal_so; do
    [ -n "${!name}" ] || fail "the profile lacks the $name file: $(cat "$WORK/py.profile")"
done
[ "$launcher" -lt "$python" ] && [ "$python" -lt "$encodings" ] && [ "$encodings" -lt "$main" ] &&
    [ "$main" -lt "$json" ] || fail "the profile is not in launch order: $(cat "$WORK/py.profile")"
[ "$(grep -vc '^#' "$WORK/py.profile")" = "$(grep -v '^#' "$WORK/py.profile" | sort -u | wc -l)" ] ||
    fail "the profile repeats files"
grep "\.py$" "$WORK/py.profile" | grep -vqx /opt/pyapp/run.py && fail "a module's source .py was listed, though Python read only its .pyc"
pass "vial profile: the launcher, python3.11, the stdlib's .pyc and the app's modules, in launch order ($(grep -vc '^#' "$WORK/py.profile") files)"

"$VIAL" pack "$FIXTURES/python-root" -o "$WORK/py2.vial" --manifest "$FIXTURES/python.ini" \
    --profile "$WORK/py.profile" >/dev/null
"$VIAL" info --json "$WORK/py2.vial" >"$WORK/info.json"
python3 - "$WORK/info.json" "$WORK/py.profile" <<'PY' || fail "vial info --json launch_profile"
import json, sys
info = json.load(open(sys.argv[1]))["launch_profile"]
want = [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
assert info["files"] == want, (info["files"][:5], want[:5])
assert info["chunk_bytes"] > 0
# the launch set is the front of the chunk data: a client fetches it in one range
assert info["prefix_bytes"] == info["chunk_bytes"], info
print("launch set:", info["chunk_bytes"], "bytes at the front")
PY
"$VIAL" info --json "$WORK/py.vial" | python3 -c 'import json,sys; assert json.load(sys.stdin)["launch_profile"]["files"] == []' ||
    fail "an image packed without a profile reports one"
expect_status 0 "$VIAL" verify "$WORK/py2.vial"
[ "$("$VIAL" run "$WORK/py2.vial" | grep -c pyapp-marker)" = 4 ] || fail "the repacked image does not run"
pass "vial pack --profile: the profile's chunks come first (prefix = their bytes), vial info --json lists them"

# a program that does not exit: stopped once idle
printf '/no/such/file\n# comment\n/opt/pyapp/bin/pyapp\n' >"$WORK/odd.profile"
"$VIAL" pack "$FIXTURES/python-root" -o "$WORK/py3.vial" --manifest "$FIXTURES/python.ini" \
    --profile "$WORK/odd.profile" >/dev/null
"$VIAL" info --json "$WORK/py3.vial" | python3 -c 'import json,sys; assert json.load(sys.stdin)["launch_profile"]["files"] == ["/opt/pyapp/bin/pyapp"]' ||
    fail "paths the image lacks were kept in the profile"
start=$(date +%s)
timeout 60 "$VIAL" profile "$WORK/py.vial" -o "$WORK/idle.profile" --until-idle 2 -- --wait >/dev/null 2>"$WORK/err" </dev/zero &
wait $! || true
elapsed=$(( $(date +%s) - start ))
[ "$elapsed" -lt 30 ] || fail "--until-idle did not stop the program ($elapsed s)"
grep -q "stopped when idle" "$WORK/err" || fail "$(cat "$WORK/err")"
grep -qx "/usr/bin/python3.11" "$WORK/idle.profile" || fail "the idle profile: $(cat "$WORK/idle.profile")"
pass "--until-idle stops a program that keeps running (${elapsed}s) and keeps what it read; unknown paths are dropped"
finish
