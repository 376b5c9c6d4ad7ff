#!/bin/bash
# vial trace (issue 8): the packaged Python application of the vial run
# tests (pyapp on Debian's python3.11, fixtures python-root) runs with the
# interposer writing one line per intercepted call. Checked: opens of image
# files with their real view paths, errno names, --calls, --json, the
# summary against the lines, the app's stdout left alone, children traced,
# --hook reaching the session, and the count of opens of image files
# against an independent count by strace.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apps-lib.sh"
need_fixtures python-root
export LC_ALL=C
"$VIAL" pack "$FIXTURES/python-root" -o "$WORK/py.vial" --manifest "$FIXTURES/python.ini" >/dev/null
# a first run materializes the files: the traced runs below start warm
"$VIAL" run "$WORK/py.vial" >"$WORK/plain.out"
[ "$(grep -c '^pyapp-marker' "$WORK/plain.out")" = 4 ] || fail "the app does not run: $(cat "$WORK/plain.out")"
VIEW=$(ls -d "$VIEWS"/*/)
VIEW=${VIEW%/}

# --------------------------------------------------------- text lines
expect_status 0 "$VIAL" trace "$WORK/py.vial" -o "$WORK/t.txt"
cmp -s <(grep -v 'pid=' "$WORK/stdout") <(grep -v 'pid=' "$WORK/plain.out") ||
    fail "the traced app's stdout differs from vial run's: $(cat "$WORK/stdout")"
[ "$(grep -c '^pyapp-marker' "$WORK/stdout")" = 4 ] || fail "trace lines on stdout: $(head "$WORK/stdout")"
expect_stderr "calls traced"
pyc=/usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc
has_line -F "open(AT_FDCWD, \"$pyc\", O_RDONLY|O_CLOEXEC) = " "$WORK/t.txt" ||
    fail "no open of $pyc: $(grep json "$WORK/t.txt" | head)"
grep -F "open(AT_FDCWD, \"$pyc\"" "$WORK/t.txt" | has_line -F "path \"$pyc\" real \"$VIEW$pyc\"" ||
    fail "the open of $pyc does not name its view path $VIEW$pyc: $(grep -F "$pyc" "$WORK/t.txt")"
# the shell of the pyapp launcher script, then python3.11 exec'd by it
has_line -E '^[0-9]+/[0-9]+ execve\("/usr/bin/python3.11", .* = 0 path "/usr/bin/python3.11" real "'"$VIEW"'/usr/bin/python3.11" [0-9.]+us$' "$WORK/t.txt" ||
    fail "no execve of python3.11 from the view: $(grep execve "$WORK/t.txt")"
has_line -E '^[0-9]+/[0-9]+ open\(AT_FDCWD, "/opt/pyapp/bin/pyapp", O_RDONLY\) = [0-9]+ ' "$WORK/t.txt" ||
    fail "the shell's open of its script is missing"
pass "vial trace: opens of image files name their view paths; execs; the app's stdout is its own"

# ------------------------------------------------ summary = the lines
summary_matches() { # FILE: each function's calls and errors in the summary match its lines
    python3 - "$1" <<'PY'
import collections, re, sys
lines = open(sys.argv[1]).read().splitlines()
calls, errors, table = collections.Counter(), collections.Counter(), {}
for line in lines:
    m = re.match(r"^\d+/\d+ (\w+)\(", line)
    if m:
        calls[m.group(1)] += 1
        errors[m.group(1)] += bool(re.search(r"\) = -1 E[A-Z0-9]+ ", line))
        continue
    m = re.match(r"^\s*[\d.]+\s+[\d.]+\s+[\d.]+\s+(\d+)\s+(\d+)\s+(\w+)$", line)
    if m and m.group(3) != "total":
        table[m.group(3)] = (int(m.group(1)), int(m.group(2)))
assert calls, "no lines"
want = {f: (calls[f], errors[f]) for f in calls}
assert table == want, (table, want)
print(" ".join("%s=%d" % (f, n) for f, (n, e) in sorted(table.items())))
PY
}
counts=$(summary_matches "$WORK/t.txt") || fail "the summary does not add up the lines"
pass "the summary counts each function's lines and errors ($counts)"

# ------------------------------------------- errno names, --calls, stderr
script='import subprocess
try:
    open("/opt/pyapp/missing")
except OSError as e:
    print("missing", e.errno)
subprocess.run(["/usr/bin/python3.11", "-c", "open(\"/opt/pyapp/run.py\").close()"], check=True)'
expect_status 0 "$VIAL" trace "$WORK/py.vial" python3.11 --calls open,stat -- -c "$script"
[ "$(cat "$WORK/stdout")" = "missing 2" ] || fail "stdout: $(cat "$WORK/stdout")"
has_line -E '^[0-9]+/[0-9]+ open\(AT_FDCWD, "/opt/pyapp/missing", O_RDONLY\|O_CLOEXEC\) = -1 ENOENT \(No such file or directory\) path "/opt/pyapp/missing" [0-9.]+us$' "$WORK/stderr" ||
    fail "the failing open: $(grep missing "$WORK/stderr")"
others=$(grep -E '^[0-9]+/[0-9]+ ' "$WORK/stderr" | grep -vE '^[0-9]+/[0-9]+ (open|stat)\(' || true)
[ -z "$others" ] || fail "--calls open,stat let other calls through: $others"
parent=$(grep -F '"/opt/pyapp/missing"' "$WORK/stderr" | cut -d/ -f1)
child=$(grep -F 'open(AT_FDCWD, "/opt/pyapp/run.py"' "$WORK/stderr" | cut -d/ -f1)
[ -n "$child" ] && [ "$child" != "$parent" ] ||
    fail "the child process's open is not traced (parent $parent, child '$child')"
counts=$(summary_matches "$WORK/stderr") || fail "the summary on stderr does not add up"
pass "errno by name (ENOENT), --calls open,stat, a child process traced, trace and summary on stderr ($counts)"

# ------------------------------------------------------------- --json
expect_status 0 "$VIAL" trace --json "$WORK/py.vial" python3.11 -o "$WORK/t.json" -- /opt/pyapp/run.py
python3 - "$WORK/t.json" "$VIEW" <<'PY' || fail "--json"
import collections, json, sys
objects = [json.loads(line) for line in open(sys.argv[1])]
calls, summary = objects[:-1], objects[-1]
assert set(summary) == {"summary", "calls", "errors", "total_us"}, summary
keys = {"pid", "tid", "function", "args", "path", "real", "result", "errno", "start_us", "duration_us"}
assert all(set(c) == keys for c in calls), [c for c in calls if set(c) != keys][:1]
count = collections.Counter(c["function"] for c in calls)
assert {f["function"]: f["calls"] for f in summary["summary"]} == dict(count), (summary, count)
assert summary["calls"] == len(calls)
opened = [c for c in calls if c["function"] == "open" and c["errno"] is None and c["real"].startswith(sys.argv[2] + "/")]
assert any(c["path"] == "/opt/pyapp/pyapp/__pycache__/main.cpython-311.pyc" for c in opened), opened[:3]
assert all(c["result"] >= 0 and c["duration_us"] >= 0 for c in opened)
print(len(calls), "JSON lines,", len(opened), "opens of image files")
PY
pass "--json: JSON Lines with the same fields, and a summary object"

# ---------------------------------------- against strace (acceptance)
# The same program under strace, without vial trace: every openat/open
# system call of a path in the image's view (where image files really
# are), succeeded. Two kinds are not the application's calls and are left
# out: the dynamic loader's opens of shared libraries (la_objsearch sends
# it to the view; it maps python3.11's libraries and the extension modules
# Python dlopens), and the interposer's own look at an executable before
# an exec (it reads the first bytes of python3.11 for a '#!' line). Both
# open ELF files only, while Python itself opens none (it dlopens them):
# opens of ELF files are excluded. vial trace's side: its open, fopen and
# opendir lines (opendir opens the view's directory) that succeeded on a
# view path. The cache is warm, so no file is materialized meanwhile.
command -v strace >/dev/null || fail "strace is missing (scripts/install-deps.sh installs it)"
# (LeakSanitizer cannot run under ptrace: a sanitized vial skips it here)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=openat,open -o "$WORK/strace.txt" \
    "$VIAL" run "$WORK/py.vial" python3.11 -- /opt/pyapp/run.py >"$WORK/strace.out"
grep -q pyapp-marker "$WORK/strace.out" || fail "the app did not run under strace"
python3 - "$WORK/t.json" "$WORK/strace.txt" "$VIEW/" >"$WORK/compare" <<'PY' || fail "vial trace and strace disagree"
import collections, json, re, sys
view = sys.argv[3]
traced = collections.Counter()
for line in open(sys.argv[1]):
    c = json.loads(line)
    if c.get("function") in ("open", "fopen", "opendir") and c["errno"] is None \
            and (c["real"] or "").startswith(view):
        traced[c["real"].rstrip("/")] += 1
def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except IsADirectoryError:
        return False
seen = collections.Counter()
for line in open(sys.argv[2]):
    m = re.search(r'\bopen(?:at)?\((?:AT_FDCWD, |\d+, )?"((?:[^"\\]|\\.)*)", [^)]*\) = (\d+)', line)
    if m and m.group(1).startswith(view) and not is_elf(m.group(1)):
        seen[m.group(1).rstrip("/")] += 1
assert sum(traced.values()) > 20, traced
assert traced == seen, ("only traced:", traced - seen, "only strace:", seen - traced)
print("vial trace %d = strace %d" % (sum(traced.values()), sum(seen.values())))
PY
pass "the opens of image files of vial trace are strace's, path by path ($(cat "$WORK/compare"))"

# ------------------------------------------------------------- --hook
decl='library=libpng16.so* path=2 signature=int png_image_begin_read_from_file(ptr, str)'
expect_status 0 "$VIAL" trace "$WORK/py.vial" python3.11 --hook "$decl" --calls open -o "$WORK/h.txt" -- -c 'pass'
grep -rqxF "hook=$decl" "$XDG_RUNTIME_DIR/vial/sessions/" || fail "--hook did not reach the session file"
grep -rqx "trace_calls=open" "$XDG_RUNTIME_DIR/vial/sessions/" || fail "no trace_calls line in the session"
expect_status 2 "$VIAL" trace "$WORK/py.vial" --calls 'open;stat'
expect_status 2 "$VIAL" trace "$WORK/py.vial" --bogus
expect_status 0 "$VIAL" trace --help
grep -q -- "--calls LIST" "$WORK/stdout" || fail "vial trace --help: $(cat "$WORK/stdout")"
pass "--hook declarations go to the session verbatim; bad options are usage errors; --help"
finish
