#!/bin/bash
# test_stream.sh - images run from URLs served by a real nginx on loopback:
# a clean cache, on-demand chunks fetched by the user's agent, what that
# cost, offline runs, a missing chunk with no server, updates that fetch
# only what changed, and servers that misbehave (stopped mid-transfer,
# damaged bytes, Range ignored, 416, very slow).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apps-lib.sh"
need_fixtures python-root

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is not installed (scripts/install-deps.sh --test installs nginx-light)"
export VIAL_AGENT_IDLE=5
CACHE="$XDG_CACHE_HOME/vial"
WWW="$WORK/www"
mkdir -p "$WWW" "$WORK/nginx"

# ------------------------------------------------------------------ nginx
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# /good/ serves normally; /norange/ ignores Range (200 with the whole
# file); /slow/ sends 64 KiB/s; /trickle/ 512 KiB/s (to be stopped mid-way)
# (as root, the workers read $WORK as root; otherwise they are this user)
user_line=
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$WORK/nginx/nginx.conf" <<EOF
$user_line
daemon on;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events {}
http {
    access_log $WORK/nginx/access.log;
    log_format ranges '\$uri \$status \$body_bytes_sent \$http_range';
    access_log $WORK/nginx/ranges.log ranges;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$PORT;
        location /good/ { alias $WWW/; }
        location /norange/ { alias $WWW/; max_ranges 0; }
        location /slow/ { alias $WWW/; limit_rate 64k; }
        location /trickle/ { alias $WWW/; limit_rate 512k; }
    }
}
EOF
start_nginx() {
    "$NGINX" -q -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>"$WORK/nginx/start.err" ||
        { cat "$WORK/nginx/start.err" >&2; fail "nginx does not start"; }
}
stop_nginx() {
    [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null
    for _ in $(seq 50); do [ -f "$WORK/nginx/nginx.pid" ] || return 0; sleep 0.1; done
}
# the agent serving this test (its log names it), if it runs
agent_pid() {
    local pid
    pid=$(sed -n 's/.*vial-agent\[\([0-9]*\)\]: serving .*/\1/p' "$XDG_RUNTIME_DIR/vial/agent.log" 2>/dev/null | tail -1)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
    return 0
}
stop_agent() {
    local pid
    pid=$(agent_pid)
    [ -z "$pid" ] && return 0
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup_stream() {
    stop_nginx
    stop_agent
    XDG_RUNTIME_DIR="$WORK/run-small" stop_agent
    XDG_RUNTIME_DIR="$WORK/run-mirror" stop_agent
    if mountpoint -q "$WORK/small" 2>/dev/null; then umount -l "$WORK/small"; fi
    cleanup
}
trap cleanup_stream EXIT
start_nginx
URL="http://127.0.0.1:$PORT"

# stat FIELD of the image's .stats (requests, bytes, chunks)
image_stat() {
    local root
    root=$("$VIAL" info "$1" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["image_hash"])')
    sed -n "s/^$2=//p" "$CACHE/images/$root.stats"
}

# the vial command (which every local launch runs) never loads libcurl or
# TLS: only the agent does
ldd "$VIAL" >"$WORK/ldd" || fail "ldd $VIAL"
grep -E 'libcurl|libssl|libgnutls|libnghttp2' "$WORK/ldd" && fail "vial links the network stack"
ldd "$TOOLS/vial-agent" | has_line libcurl || fail "vial-agent does not link libcurl"
pass "libcurl and TLS are in vial-agent only, not in vial"

# ------------------------------------------------------------------ images
"$VIAL" pack "$FIXTURES/python-root" --manifest "$FIXTURES/python.ini" -o "$WWW/python.vial" >/dev/null ||
    fail "pack python"
image_size=$(stat -c %s "$WWW/python.vial")

# ------------------------------------------------ the Python app from its URL
expect_status 0 "$VIAL" run "$URL/good/python.vial"
grep -q '^pyapp-marker file=/opt/pyapp/pyapp/main\.py pid=' "$WORK/stdout" ||
    { cat "$WORK/stdout" "$WORK/stderr" >&2; fail "pyapp did not run from $URL/good/python.vial"; }
grep -q '^pyapp-marker json=/usr/lib/python3\.11/json/__init__\.py decimal=3\.10 expat=expat_' "$WORK/stdout" ||
    fail "pyapp's stdlib imports are wrong when streamed"
pass "vial run URL: the Python app runs from nginx on a clean cache"

# what the launch cost: vial cache stats reports it
"$VIAL" cache stats "$URL/good/python.vial" --json >"$WORK/stats.json" || fail "vial cache stats URL"
read -r fetched requests opened_files opened_chunks < <(python3 -c '
import json, sys
i = json.load(open(sys.argv[1]))["image"]
print(i["fetched"]["bytes"], i["fetched"]["requests"], i["opened"]["files"], i["opened"]["chunk_bytes"])' "$WORK/stats.json")
echo "python.vial: $image_size bytes; the launch fetched $fetched bytes in $requests requests;" \
    "it opened $opened_files files whose chunks are $opened_chunks bytes compressed"
[ "$fetched" -gt 0 ] && [ "$opened_chunks" -gt 0 ] || fail "no fetch or no opened file recorded"
[ "$fetched" -lt $((image_size / 2)) ] ||
    fail "the launch fetched $fetched bytes of a $image_size-byte image: not on demand"
[ "$((fetched * 2))" -le "$((opened_chunks * 3))" ] ||
    fail "fetched $fetched bytes, more than 1.5x the $opened_chunks bytes of the files opened"
pass "the launch fetched $fetched of $image_size bytes in $requests requests (files opened: $opened_chunks bytes of chunks)"

# with a launch profile, the agent fetches the launch set first, in one
# range: the launch then costs a handful of requests
"$VIAL" profile "$WWW/python.vial" -o "$WORK/python.profile" >/dev/null 2>&1 || fail "vial profile"
"$VIAL" pack "$FIXTURES/python-root" --manifest "$FIXTURES/python.ini" --profile "$WORK/python.profile" \
    -o "$WWW/python-profiled.vial" >/dev/null || fail "pack --profile"
expect_status 0 "$VIAL" run "$URL/good/python-profiled.vial"
grep -q '^pyapp-marker json=' "$WORK/stdout" || fail "the profiled image did not run"
"$VIAL" cache stats "$URL/good/python-profiled.vial" --json >"$WORK/stats.json" || fail "vial cache stats"
profiled_requests=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["image"]["fetched"]["requests"])' "$WORK/stats.json")
echo "with a launch profile: $profiled_requests requests (without: $requests)"
[ "$profiled_requests" -le 6 ] || fail "the profiled launch made $profiled_requests requests"
pass "a launch profile is fetched first in one range: $profiled_requests requests instead of $requests"

# from outside: the code ran from the image's view, not the host's python
start_bg py "$VIAL" run "$URL/good/python.vial" -- --wait
pyline=$(wait_line py '^pyapp-marker file=')
pypid=${pyline##*pid=}
in_view "$(readlink "/proc/$pypid/exe")" /usr/bin/python3.11 >/dev/null
maps_check "$pypid" '/lib-dynload/_json\.' /usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so
eval "exec ${BG_FD[py]}>&-"; unset "BG_FD[py]"
wait "${BG_PID[py]}" 2>/dev/null || true
unset "BG_PID[py]"
pass "the streamed python3.11 and its extension modules are mapped from the cache's view"

# the agent killed while the app runs: vial run starts another, and the
# app's next missing file still arrives
start_bg reader "$VIAL" exec "$URL/good/python.vial" -- /usr/bin/python3.11 -c '
import sys
print("ready", flush=True)
for line in sys.stdin:
    try:
        print("read", len(open(line.strip(), "rb").read()), flush=True)
    except OSError as e:
        print("error", e.errno, flush=True)'
wait_line reader '^ready' >/dev/null
first_agent=$(agent_pid)
[ -n "$first_agent" ] || fail "no agent runs"
kill -KILL "$first_agent"
for _ in $(seq 50); do
    second_agent=$(agent_pid)
    [ -n "$second_agent" ] && [ "$second_agent" != "$first_agent" ] && break
    sleep 0.1
done
[ -n "$second_agent" ] && [ "$second_agent" != "$first_agent" ] || fail "no agent after the first was killed"
echo /usr/lib/python3.11/turtle.py >&"${BG_FD[reader]}"
line=$(wait_line reader '^(read|error) ')
[ "$line" = "read $(stat -c %s "$FIXTURES/python-root/usr/lib/python3.11/turtle.py")" ] ||
    fail "after the agent was killed, the app read: $line"
eval "exec ${BG_FD[reader]}>&-"; unset "BG_FD[reader]"
wait "${BG_PID[reader]}" 2>/dev/null || true
unset "BG_PID[reader]"
pass "the agent killed under a running app: vial starts another, the next file arrives"

# damaged files in the store are found, dropped and fetched again: every
# stored chunk is overwritten, then the launch's python3.11 is read back
requests_before=$(grep -c '"GET /good/python.vial' "$WORK/nginx/access.log")
while read -r chunk; do
    printf 'garbage' | dd of="$chunk" bs=1 seek=4 conv=notrunc status=none
done < <(find "$CACHE/chunks" -type f)
"$VIAL" cat "$URL/good/python.vial" /usr/bin/python3.11 >"$WORK/python3.11" 2>"$WORK/stderr" ||
    { cat "$WORK/stderr" >&2; fail "vial cat after damaging the cached chunks"; }
cmp -s "$WORK/python3.11" "$FIXTURES/python-root/usr/bin/python3.11" || fail "python3.11 differs"
requests_after=$(grep -c '"GET /good/python.vial' "$WORK/nginx/access.log")
[ "$requests_after" -gt "$requests_before" ] || fail "the damaged chunks were not fetched again"
pass "damaged chunks in the cache are never used: fetched again ($((requests_after - requests_before)) requests)"

# signed images from a URL: accepted under --require-signature; an
# unsigned one refused
"$VIAL" keygen -o "$WORK/key" >/dev/null || fail "vial keygen"
cp "$WWW/python.vial" "$WWW/signed.vial"
"$VIAL" sign "$WWW/signed.vial" --key "$WORK/key" >/dev/null || fail "vial sign"
expect_status 0 "$VIAL" --require-signature run "$URL/good/signed.vial"
grep -q '^pyapp-marker json=' "$WORK/stdout" || fail "the signed image did not run from its URL"
expect_status 4 "$VIAL" --require-signature run "$URL/good/python.vial"
expect_stderr "unsigned"
pass "a signed image runs from its URL under --require-signature; an unsigned one is refused"

# -------------------------------------------------------------- offline
# a second cache holds the image's mirror and nothing else (read-ahead
# makes what the first cache holds beyond the files opened a guess)
mirror_only() { XDG_CACHE_HOME="$WORK/cache-mirror" XDG_RUNTIME_DIR="$WORK/run-mirror" "$@"; }
mkdir -p -m 700 "$WORK/run-mirror"
mirror_only "$VIAL" ls "$URL/good/python.vial" / >/dev/null || fail "vial ls URL"
stop_nginx
expect_status 0 "$VIAL" run "$URL/good/python.vial"
grep -q '^pyapp-marker json=' "$WORK/stdout" || fail "the cached app did not run offline"
expect_stderr "cannot be reached"
pass "with the server gone, the cached app runs (and vial says it uses the cached copy)"

# a file never fetched, no server: EIO for that file, and a clear message
# (the host's cat reads the image file in the bubble)
expect_status 1 mirror_only "$VIAL" exec "$URL/good/python.vial" -- cat /usr/lib/python3.11/pydoc.py
expect_stderr "cat: /usr/lib/python3.11/pydoc.py: Input/output error"
expect_stderr "vial: cannot fetch /usr/lib/python3.11/pydoc.py"
XDG_RUNTIME_DIR="$WORK/run-mirror" stop_agent
pass "offline, a file whose chunks are missing gives EIO and vial names it"

# a full prefetch, then every file reads with the server gone
start_nginx
expect_status 0 "$VIAL" cache prefetch "$URL/good/python.vial"
grep -q 'of [0-9]* chunks cached' "$WORK/stdout" || fail "prefetch said: $(cat "$WORK/stdout")"
# the chunks damaged above and not read since were found and fetched again
grep -q 'damaged chunks in the store dropped' "$XDG_RUNTIME_DIR/vial/agent.log" ||
    fail "prefetch did not check the chunks already in the store"
stop_nginx
expect_status 0 "$VIAL" exec "$URL/good/python.vial" -- /usr/bin/python3.11 -c '
print(len(open("/usr/lib/python3.11/pydoc.py", "rb").read()))'
[ "$(cat "$WORK/stdout")" = "$(stat -c %s "$FIXTURES/python-root/usr/lib/python3.11/pydoc.py")" ] ||
    fail "pydoc.py read offline after prefetch: $(cat "$WORK/stdout")"
pass "vial cache prefetch URL, then offline: a file never opened before reads whole"

rm -rf "$CACHE"
stop_agent
expect_status 1 "$VIAL" run "$URL/good/python.vial"
expect_stderr "cannot open $URL/good/python.vial"
pass "clean cache and no server: a clear error"
start_nginx

# -------------------------------------------------------------- updates
# v1 and v2 of hello differ in one file; v2's run fetches only its chunk
cp -a "$SOURCE_DIR/examples/hello/root" "$WORK/hello-v1"
cp -a "$SOURCE_DIR/examples/hello/root" "$WORK/hello-v2"
sed 's/^version = .*/version = 1.0/' "$SOURCE_DIR/examples/hello/vial.ini" >"$WORK/v1.ini"
sed 's/^version = .*/version = 2.0/' "$SOURCE_DIR/examples/hello/vial.ini" >"$WORK/v2.ini"
head -c 300000 /dev/urandom | base64 >"$WORK/hello-v1/usr/share/hello-vial/big.txt"
cp "$WORK/hello-v1/usr/share/hello-vial/big.txt" "$WORK/hello-v2/usr/share/hello-vial/big.txt"
echo "new in 2.0" >"$WORK/hello-v2/usr/share/hello-vial/changes.txt"
"$VIAL" pack "$WORK/hello-v1" --manifest "$WORK/v1.ini" -o "$WWW/hello-1.0.vial" >/dev/null || fail "pack v1"
"$VIAL" pack "$WORK/hello-v2" --manifest "$WORK/v2.ini" -o "$WWW/hello-2.0.vial" >/dev/null || fail "pack v2"
expect_status 0 "$VIAL" exec "$URL/good/hello-1.0.vial" -- sh -c 'cat /usr/share/hello-vial/big.txt >/dev/null; hello-vial'
grep -q 'This is run number 1' "$WORK/stdout" || fail "v1's first run is not run 1"
v1_bytes=$(image_stat "$URL/good/hello-1.0.vial" bytes)
expect_status 0 "$VIAL" exec "$URL/good/hello-2.0.vial" -- sh -c 'cat /usr/share/hello-vial/big.txt >/dev/null; cat /usr/share/hello-vial/changes.txt; hello-vial'
grep -qx 'new in 2.0' "$WORK/stdout" || fail "v2 does not show its new file"
v2_bytes=$(image_stat "$URL/good/hello-2.0.vial" bytes)
v2_chunks=$(image_stat "$URL/good/hello-2.0.vial" chunks)
echo "update: v1 fetched $v1_bytes bytes, v2 $v2_bytes bytes ($v2_chunks new chunks)"
[ "$v2_bytes" -lt $((v1_bytes / 4)) ] || fail "v2 fetched $v2_bytes bytes, v1 $v1_bytes: not only what changed"
[ "$v2_chunks" -le 2 ] || fail "v2 stored $v2_chunks chunks; only changes.txt's is new"
pass "v2 fetches only the chunks v1 did not have ($v2_bytes vs $v1_bytes bytes)"
grep -q 'This is run number 2' "$WORK/stdout" || { cat "$WORK/stdout" >&2; fail "v2 did not inherit v1's state"; }
pass "v2's first run starts from v1's state (run number 2)"

# ------------------------------------------------------------- desktop
expect_status 0 "$VIAL" desktop install "$URL/good/hello-1.0.vial"
entry_file="$XDG_DATA_HOME/applications/vial-hello-vial-hello.desktop"
[ -f "$entry_file" ] || fail "no menu entry: $(ls "$XDG_DATA_HOME/applications")"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$entry_file" || fail "desktop-file-validate rejects $entry_file"
fi
exec_line=$(sed -n 's/^Exec=//p' "$entry_file")
grep -qF " run $URL/good/hello-1.0.vial hello" <<<"$exec_line" || fail "the entry does not launch the URL: $exec_line"
out=$(eval "$exec_line") || fail "the menu entry's command failed: $exec_line"
grep -q 'Hello from inside a Vial image' <<<"$out" || fail "the menu entry did not run hello: $out"
expect_status 0 "$VIAL" desktop remove "$URL/good/hello-1.0.vial"
[ ! -e "$entry_file" ] || fail "desktop remove URL left $entry_file"
pass "vial desktop install URL: a valid menu entry that runs the image from its URL; remove takes it away"

# ----------------------------------------------------------- full disk
# A cache on a 2 MiB file system: the launch fails with ENOSPC named, and
# no temporary file is left in the store. (Needs root to mount a tmpfs.)
small="$WORK/small"
mkdir "$small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=2m tmpfs "$small" 2>/dev/null; then
    expect_status 126 env XDG_CACHE_HOME="$small" XDG_RUNTIME_DIR="$WORK/run-small" \
        sh -c 'mkdir -p -m 700 "$XDG_RUNTIME_DIR" && exec "$0" run "$1"' "$VIAL" "$URL/good/python.vial"
    expect_stderr "No space left on device"
    leftovers=$(find "$small" -name '*.tmp-*' | wc -l)
    # that agent maps its mirror on the small file system: it goes first
    XDG_RUNTIME_DIR="$WORK/run-small" stop_agent
    umount "$small" || umount -l "$small"
    [ "$leftovers" = 0 ] || fail "a full cache left $leftovers temporary files"
    pass "a full disk under the cache: ENOSPC named, nothing half-written left"
else
    echo "note: no tmpfs could be mounted here: the full-disk case did not run"
fi

# -------------------------------------------------------------- faults
fresh_cache() { stop_agent; rm -rf "$CACHE"; }
big=/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0
[ -f "$FIXTURES/python-root$big" ] || big=/usr/bin/python3.11

# Range ignored: nginx answers 200 with the whole file
fresh_cache
expect_status 0 "$VIAL" run "$URL/norange/python.vial"
grep -q '^pyapp-marker json=' "$WORK/stdout" || fail "the app did not run from a server ignoring Range"
grep -q '"GET /norange/python.vial HTTP/1.1" 200 ' "$WORK/nginx/access.log" ||
    fail "nginx did not answer 200 to a range request under /norange/"
pass "a server that ignores Range (200, whole file): the app still runs"

# damaged bytes: a copy with one byte of one chunk flipped; the script
# prints that chunk's hash (its name in the store)
fresh_cache
damaged=$(python3 - "$WWW/python.vial" "$WWW/damaged.vial" <<'EOF'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
sections = {}
for i in range(14):
    t, f, off, ln = struct.unpack_from("<IIQQ", data, 64 + i * 56)
    if t: sections[t] = (off, ln)
data_off, data_len = sections[7]
table_off, table_len = sections[6]
where = data_len // 2
for r in range(table_len // 48):
    h = bytes(data[table_off + 48 * r: table_off + 48 * r + 32])
    off, stored, raw = struct.unpack_from("<QII", data, table_off + 48 * r + 32)
    if off <= where < off + stored:
        data[data_off + where] ^= 0x55
        print(h.hex())
        break
open(sys.argv[2], "wb").write(data)
EOF
)
[[ $damaged =~ ^[0-9a-f]{64}$ ]] || fail "could not damage a chunk: '$damaged'"
"$VIAL" verify "$WWW/damaged.vial" >/dev/null 2>&1 && fail "the damaged copy verifies"
"$VIAL" extract "$URL/good/damaged.vial" "$WORK/damaged-tree" >/dev/null 2>"$WORK/stderr" &&
    fail "extracting the damaged image succeeded"
grep -q 'does not match its hash' "$WORK/stderr" || { cat "$WORK/stderr" >&2; fail "no message about the damaged chunk"; }
[ -e "$CACHE/chunks/${damaged:0:2}/${damaged:2}" ] && fail "the damaged chunk was stored"
[ -d "$CACHE/chunks" ] || fail "no chunk at all was stored before the damaged one"
pass "damaged bytes from the server: refused with 'does not match its hash', never stored"
"$VIAL" extract "$URL/good/python.vial" "$WORK/good-tree" >/dev/null 2>"$WORK/stderr" ||
    { cat "$WORK/stderr" >&2; fail "the good image does not extract after the damaged one"; }
[ -s "$CACHE/chunks/${damaged:0:2}/${damaged:2}" ] || fail "the good chunk is not stored after recovery"
cmp -s "$WORK/good-tree$big" "$FIXTURES/python-root$big" || fail "$big differs after the damaged fetch"
pass "the server fixed: the image extracts whole, the chunk stored good"

# a file shorter than its header says: caught when the mirror is made
fresh_cache
head -c $((image_size * 2 / 3)) "$WWW/python.vial" >"$WWW/short.vial"
expect_status 1 "$VIAL" ls "$URL/good/short.vial" /
expect_stderr "it changed on the server"
pass "a truncated image on the server: refused before use ($(grep -o 'the file is now.*' "$WORK/stderr"))"
# 416: the image shrank on the server after the mirror was made, so every
# chunk lies past its end
cp "$WWW/python.vial" "$WWW/shrinking.vial"
expect_status 0 "$VIAL" ls "$URL/good/shrinking.vial" /
head -c 2048 "$WWW/python.vial" >"$WWW/shrinking.vial"
expect_status 1 "$VIAL" cat "$URL/good/shrinking.vial" /usr/lib/python3.11/os.py
expect_stderr "416 Range Not Satisfiable"
grep -q '"GET /good/shrinking.vial HTTP/1.1" 416 ' "$WORK/nginx/access.log" || fail "nginx did not answer 416"
pass "416 from the server: a clear error"

# very slow: 64 KiB/s still completes
fresh_cache
expect_status 0 "$VIAL" cat "$URL/slow/python.vial" /usr/lib/python3.11/os.py
cmp -s "$WORK/stdout" "$FIXTURES/python-root/usr/lib/python3.11/os.py" || fail "os.py differs (slow server)"
pass "a very slow server (64 KiB/s): the read completes"

# stopped mid-transfer: nginx goes away while the big file streams at
# 512 KiB/s, comes back a second later; the agent resumes where it was cut
fresh_cache
"$VIAL" cat "$URL/trickle/python.vial" "$big" >"$WORK/big" 2>"$WORK/big.err" &
cat_pid=$!
sleep 1.5
# killed, as a crashed or rebooted server is: its connections are cut
master=$(cat "$WORK/nginx/nginx.pid") || fail "nginx was not running"
kill -STOP "$master" # no new workers while its workers die
pkill -KILL -P "$master" || true
kill -KILL "$master"
rm -f "$WORK/nginx/nginx.pid"
sleep 1
start_nginx
wait "$cat_pid" || { cat "$WORK/big.err" >&2; fail "vial cat did not survive the server stopping"; }
cmp -s "$WORK/big" "$FIXTURES/python-root$big" || fail "$big differs after the server stopped mid-transfer"
# the agent resumed the cut range after the bytes it had (its log says
# where), and a request asked for that rest
resumed=$(sed -n 's/.*trickle.*attempt [0-9]* at byte \([0-9]*\) .*/\1/p' "$XDG_RUNTIME_DIR/vial/agent.log" | tail -1)
[ -n "$resumed" ] || { cat "$XDG_RUNTIME_DIR/vial/agent.log" >&2; fail "the agent did not retry the cut transfer"; }
has_line "^/trickle/python.vial 206 [0-9]* bytes=$resumed-" "$WORK/nginx/ranges.log" ||
    { cat "$WORK/nginx/ranges.log" >&2; fail "no request resumed at byte $resumed"; }
pass "the server stopped mid-transfer and came back: the file arrives whole"

finish
