#!/bin/bash
# vial trace (issue 8): the packaged Python application of the vial run
# tests (pyapp on Debian's python3.11, fixtures python-root) runs with the
# interposer writing one line per intercepted call. Checked: opens of image
# files with their real view paths, errno names, --calls, --json, the
# summary against the lines, the app's stdout left alone, children traced,
# --hook reaching the session, the count of opens of image files against an
# independent count by strace, and the calls that change files (mkdir,
# rename, unlink, rmdir, chmod, symlink, link, truncate), chdir, getcwd,
# realpath, fstat, readdir, posix_spawn and system, with where each went.
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
keys = {"pid", "tid", "function", "args", "path", "real", "to", "to_real", "result", "errno",
        "start_us", "duration_us"}
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

# ------------------------------- calls that change files, and the rest
# A Python script in the bubble changes files under ~/.config (writecopy,
# isolated per package: every change lands in the user's delta, and the
# unprivileged user may write there). Each call has its line,
# exact but for pid/tid and time: the arguments decoded, the virtual path,
# the real one in the delta's upper/ and the result; the delta really holds
# what the lines say.
export HOME=$WORK/home
mkdir -p "$HOME"
cat >"$WORK/writes.py" <<'PY'
import ctypes, os, sys
w = sys.argv[1]
os.makedirs(os.path.dirname(w), exist_ok=True)
os.mkdir(w, 0o755)
with open(w + "/a", "w") as f:
    f.write("hello\n")
os.rename(w + "/a", w + "/b")
os.chmod(w + "/b", 0o600)
os.truncate(w + "/b", 3)
os.symlink("b", w + "/s")
os.link(w + "/b", w + "/h")
os.unlink(w + "/h")
os.mkdir(w + "/d")
os.rmdir(w + "/d")
os.chdir(w)
print("cwd", os.getcwd())
print("listed", sorted(os.listdir(w)))
libc = ctypes.CDLL(None, use_errno=True)
libc.realpath.restype = ctypes.c_char_p
print("realpath", libc.realpath(b"s", None).decode())
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
print("renameat2", libc.renameat2(-100, b"b", -100, b"s", 1), ctypes.get_errno())
try:
    os.rmdir("/opt/pyapp")
except OSError as e:
    print("rmdir", e.errno)
pid = os.posix_spawn("/bin/true", ["true"], dict(os.environ))
print("spawned", pid, os.waitpid(pid, 0)[1])
print("system", os.system("exit 3"))
PY
W=$HOME/.config/vial-trace-work
expect_status 0 "$VIAL" trace "$WORK/py.vial" python3.11 -o "$WORK/w.txt" -- "$WORK/writes.py" "$W"
UPPER=$(find "$XDG_DATA_HOME" -type d -name upper | head -1)
[ -n "$UPPER" ] && [ -f "$UPPER$W/b" ] || fail "no copy of $W/b in the delta: $(find "$XDG_DATA_HOME" | head)"
[ "$(stat -c %s "$UPPER$W/b")" = 3 ] && [ "$(readlink "$UPPER$W/s")" = b ] && [ ! -e "$UPPER$W/h" ] ||
    fail "the delta does not hold what the script did: $(ls -la "$UPPER$W")"
[ ! -e "$HOME/.config" ] || fail "$HOME/.config was made on the host"
sed -E 's/^[0-9]+\/[0-9]+ //; s/ [0-9.]+us$//' "$WORK/w.txt" >"$WORK/w.lines"
want() { # LINE: exactly this line (pid/tid and time aside) is in the trace
    grep -qxF -- "$1" "$WORK/w.lines" ||
        fail "no line: $1
lines of ${1%%(*}: $(grep -F -- "${1%%(*}(" "$WORK/w.lines" | head -5)"
}
want "mkdir(AT_FDCWD, \"$W\", 0755) = 0 path \"$W\" real \"$UPPER$W\""
has_line -E "^open\(AT_FDCWD, \"$W/a\", O_WRONLY\|O_CREAT\|O_TRUNC\|O_CLOEXEC, 0666\) = [0-9]+ path \"$W/a\" real \"$UPPER$W/a\"$" "$WORK/w.lines" ||
    fail "the write's open: $(grep -F "$W/a" "$WORK/w.lines")"
want "rename(AT_FDCWD, \"$W/a\", AT_FDCWD, \"$W/b\", 0) = 0 path \"$W/a\" real \"$UPPER$W/a\" to \"$W/b\" real \"$UPPER$W/b\""
want "chmod(AT_FDCWD, \"$W/b\", 0600, 0) = 0 path \"$W/b\" real \"$UPPER$W/b\""
want "truncate(\"$W/b\", 3) = 0 path \"$W/b\" real \"$UPPER$W/b\""
want "symlink(\"b\", AT_FDCWD, \"$W/s\") = 0 path \"$W/s\" real \"$UPPER$W/s\""
want "link(AT_FDCWD, \"$W/b\", AT_FDCWD, \"$W/h\", 0) = 0 path \"$W/b\" real \"$UPPER$W/b\" to \"$W/h\" real \"$UPPER$W/h\""
want "unlink(AT_FDCWD, \"$W/h\", 0) = 0 path \"$W/h\" real \"$UPPER$W/h\""
want "mkdir(AT_FDCWD, \"$W/d\", 0777) = 0 path \"$W/d\" real \"$UPPER$W/d\""
want "rmdir(AT_FDCWD, \"$W/d\", AT_REMOVEDIR) = 0 path \"$W/d\" real \"$UPPER$W/d\""
want "chdir(\"$W\") = 0 path \"$W\" real \"$UPPER$W\""
want "getcwd(1024) = 1 path \"$W\" real \"$UPPER$W\""
has_line -E "^opendir\(\"$W\"\) = [0-9]+ path \"$W\" real \"$UPPER$W\"$" "$WORK/w.lines" ||
    fail "the opendir of $W: $(grep '^opendir' "$WORK/w.lines" | tail -3)"
has_line -E "^readdir\([0-9]+\) = 4 path \"$W\" real \"$UPPER$W\"$" "$WORK/w.lines" ||
    fail "one readdir line for the listing of $W (4 entries with . and ..): $(grep '^readdir' "$WORK/w.lines" | tail -3)"
want "realpath(\"s\") = 1 path \"$W/b\" real \"$UPPER$W/b\""
want "rename(AT_FDCWD, \"b\", AT_FDCWD, \"s\", RENAME_NOREPLACE) = -1 EEXIST (File exists) path \"b\" to \"s\""
has_line -F 'rmdir(AT_FDCWD, "/opt/pyapp", AT_REMOVEDIR) = -1 ENOTEMPTY (Directory not empty) path "/opt/pyapp"' "$WORK/w.lines" ||
    fail "the failing rmdir: $(grep '^rmdir' "$WORK/w.lines")"
spawned=$(sed -n 's/^spawned \([0-9]*\) 0$/\1/p' "$WORK/stdout")
[ -n "$spawned" ] || fail "the script's posix_spawn: $(cat "$WORK/stdout")"
want "posix_spawn(\"/bin/true\", \"true\") = $spawned path \"/usr/bin/true\""
want 'system("exit 3") = 768'
grep -qx "system 768" "$WORK/stdout" || fail "system's status: $(cat "$WORK/stdout")"
has_line -E "^fstat\([0-9]+\) = 0 path \"/usr/lib/python3.11/[^\"]+\.pyc\" real \"$VIEW/usr/lib/python3.11/[^\"]+\.pyc\"$" "$WORK/w.lines" ||
    fail "no fstat of an image file with its view path: $(grep '^fstat' "$WORK/w.lines" | head -3)"
counts=$(summary_matches "$WORK/w.txt") || fail "the summary of the writes does not add up the lines"
pass "mkdir, rename, chmod, truncate, symlink, link, unlink, rmdir, chdir, getcwd, realpath, readdir, posix_spawn, system, fstat: one line each, real paths in the delta ($counts)"

# the same in JSON: a two-path call has both ends
expect_status 0 "$VIAL" trace --json "$WORK/py.vial" python3.11 -o "$WORK/w.json" -- "$WORK/writes.py" "$W"2
python3 - "$WORK/w.json" "$UPPER" "$W"2 <<'PY' || fail "--json of the writes"
import json, sys
upper, w = sys.argv[2], sys.argv[3]
calls = [json.loads(line) for line in open(sys.argv[1])][:-1]
renames = [c for c in calls if c["function"] == "rename" and c["errno"] is None]
assert len(renames) == 1, renames
r = renames[0]
assert (r["path"], r["real"], r["to"], r["to_real"]) == (
    w + "/a", upper + w + "/a", w + "/b", upper + w + "/b"), r
assert r["args"] == 'AT_FDCWD, "%s/a", AT_FDCWD, "%s/b", 0' % (w, w), r
assert all(c["to"] is None for c in calls if c["function"] not in ("rename", "link")), "to on a one-path call"
PY
pass "--json: rename's two ends (path, real, to, to_real)"

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
