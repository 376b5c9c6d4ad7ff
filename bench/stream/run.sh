#!/usr/bin/env bash
# bench/stream/run.sh - the streaming budget of DESIGN.md: a first launch
# over a shaped link fetches at most 1.5x the bytes the application reads,
# and (issue: streaming) starts at least 3x sooner than downloading the
# whole image first. Side by side in one run, over the same link:
#   a. cold launch from the URL (empty cache);
#   b. cold launch of the same tree repacked with a launch profile;
#   c. the whole image downloaded with curl, then run from the local file
#      with an empty cache;
#   d. warm launch from the URL, right after (a), everything it needs cached.
# The image: Debian's python3.11 with numpy, scipy and matplotlib and what
# they depend on (apt-get download, dpkg-deb -x, byte-compiled as the
# postinsts would), served by nginx inside a network namespace behind a veth
# pair shaped with tbf (bandwidth) and a relay that delays every byte
# (latency; this kernel has no netem). Needs root (netns, tc).
# Markdown on stdout (for bench/RESULTS.md), progress on stderr.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bash bench/stream/run.sh [options]

  --build DIR     build directory holding vial, vial-agent and
                  libvial-preload.so (default ./build; configured and built
                  if needed)
  --cache DIR     the .debs, the tree and the images, reused between runs
                  (default BUILD/bench-cache/stream)
  --runs N        rounds; each round measures every variant once (default 5)
  --rate RATE     bandwidth of the link, as tc says it (default 50mbit)
  --delay MS      one-way delay added by the relay (default 20: 40 ms RTT)
  --command CODE  the Python code the launch runs (default: import numpy
                  and print its version)
  --no-profile    skip variant b (the profiled image)

Exit status: 0 when every variant ran and gave the expected output
(whatever the verdicts), 1 when something broke, 2 on a usage error.
EOF
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE=$(cd "$HERE/../.." && pwd)
command_line="bash bench/stream/run.sh${*:+ $*}"
build=$SOURCE/build
cache=
runs=5
rate=50mbit
delay=20
code='import numpy; print(numpy.__version__)'
do_profile=1
while [[ $# -gt 0 ]]; do
    case $1 in
    --build) build=${2:?}; shift 2 ;;
    --cache) cache=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --rate) rate=${2:?}; shift 2 ;;
    --delay) delay=${2:?}; shift 2 ;;
    --command) code=${2:?}; shift 2 ;;
    --no-profile) do_profile=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/stream: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench/stream: --runs takes a positive integer" >&2; exit 2; }
[[ $delay =~ ^[0-9]+$ ]] || { echo "bench/stream: --delay takes milliseconds" >&2; exit 2; }
build=$(mkdir -p "$build" && cd "$build" && pwd)
cache=${cache:-$build/bench-cache/stream}

say() { echo "bench/stream: $*" >&2; }
die() { echo "bench/stream: error: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (ip netns, tc); run it as root"
for tool in ip tc nginx python3 dpkg-deb apt-get apt-cache cmake ninja; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install iproute2 nginx-light python3 dpkg apt cmake ninja-build)"
done
if ! command -v curl >/dev/null; then
    say "apt-get install curl (variant c downloads the image with it)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl >&2 || die "could not install curl"
fi
NGINX=$(command -v nginx)

# ------------------------------------------------------------------ build
if [[ ! -f $build/build.ninja ]]; then
    say "configuring $build"
    cmake -S "$SOURCE" -B "$build" -G Ninja -DVIAL_TESTS=OFF >&2
fi
ninja -C "$build" vial vial-agent vial-preload >&2 || die "build failed in $build"
VIAL=$build/vial
[[ -x $build/vial-agent ]] || die "$build/vial-agent is missing"

# ------------------------------------------------------------- the image
# Which packages: what apt would install on an empty system for
# python3.11, python3-numpy, python3-scipy and python3-matplotlib without
# recommends (its own resolver picks one of each `a | b`), minus
#  - Priority: required and Essential packages, and libc6: every Debian
#    system has them, and glibc always comes from the host (DESIGN.md);
#  - the C/C++ toolchain and -dev packages that python3-pythran drags in
#    (scipy depends on pythran, which compiles Python to C++ ahead of time:
#    gcc, g++, binutils, boost headers; nothing an import of scipy uses).
# That leaves about 130 packages: 97 MB of .debs, 390 MB installed.
packages=(python3.11 python3-numpy python3-scipy python3-matplotlib)
toolchain='^(gcc(-[0-9]+)?(-base)?|g\+\+(-[0-9]+)?|cpp(-[0-9]+)?|binutils.*|libbinutils|libboost.*|linux-libc-dev|libc6|libc-dev-bin|lib(asan|tsan|lsan|ubsan)[0-9]*|libgprofng0|libctf.*|libcc1-0|libisl[0-9]+|libmpc[0-9]|libmpfr[0-9]|libitm1|libjansson4|rpcsvc-proto|python3-pythran|python3-beniget|python3-gast|.*-dev)$'
# Bump when what the tree holds changes: the tree and images are rebuilt
# (the downloads are kept).
recipe=2

mkdir -p "$cache/debs"
resolve_packages() {
    local empty=$cache/empty-status names
    : >"$empty"
    names=$(apt-get install -s -q --no-install-recommends -o Dir::State::status="$empty" \
        "${packages[@]}" 2>/dev/null | awk '/^Inst /{print $2}' | sort -u)
    [[ -n $names ]] || die "apt-get could not resolve ${packages[*]} (apt-get update?)"
    # shellcheck disable=SC2086
    apt-cache show --no-all-versions $names | awk -v skip="$toolchain" '
        /^Package: / { name = $2; prio = ""; ess = "" }
        /^Priority: / { prio = $2 }
        /^Essential: / { ess = $2 }
        /^$/ { if (name != "" && prio != "required" && ess != "yes" && name !~ skip) print name; name = "" }
        END { if (name != "" && prio != "required" && ess != "yes" && name !~ skip) print name }' | sort -u
}

if [[ ! -f $cache/packages.txt || ! -f $cache/.debs-done ]]; then
    say "resolving the packages of ${packages[*]}"
    resolve_packages >"$cache/packages.txt"
    missing=()
    while read -r p; do
        compgen -G "$cache/debs/${p}_*.deb" >/dev/null || missing+=("$p")
    done <"$cache/packages.txt"
    if [[ ${#missing[@]} -gt 0 ]]; then
        say "apt-get download ${#missing[@]} packages (network)"
        (cd "$cache/debs" && apt-get download -q "${missing[@]}") >&2 ||
            die "apt-get download failed; put the .debs in $cache/debs"
    fi
    touch "$cache/.debs-done"
fi

tree=$cache/tree
image=$cache/pysci.vial
if [[ ! -f $cache/.tree-done-$recipe ]]; then
    rm -rf "$tree" "$cache"/.tree-done-* "$image" "$cache/pysci-profiled.vial"
    mkdir -p "$tree"
    say "extracting $(wc -l <"$cache/packages.txt") packages into $tree"
    while read -r p; do
        deb=$(compgen -G "$cache/debs/${p}_*.deb" | head -n 1) || die "no .deb of $p in $cache/debs"
        dpkg-deb -x "$deb" "$tree" || die "dpkg-deb -x $deb"
    done <"$cache/packages.txt"
    # What the postinsts would have done that an import needs: the BLAS and
    # LAPACK alternatives (numpy and scipy link libblas.so.3 and
    # liblapack.so.3; update-alternatives picks the highest priority, which
    # is OpenBLAS when it is there, as on an apt install) and byte-compiled
    # modules (DESIGN.md: Python starts ~4x slower without them).
    # (libopenblas0-pthread's postinst also registers libopenblas.so.0,
    # which its libblas.so.3 needs)
    multiarch=usr/lib/x86_64-linux-gnu
    for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
        for impl in openblas-pthread blas lapack; do
            if [[ -e $tree/$multiarch/$impl/$lib ]]; then
                ln -sfn "/$multiarch/$impl/$lib" "$tree/$multiarch/$lib"
                break
            fi
        done
        [[ -L $tree/$multiarch/$lib || $lib == libopenblas.so.0 ]] || die "no $lib in the tree"
    done
    [[ -e $tree/usr/bin/python3 ]] || ln -s python3.11 "$tree/usr/bin/python3"
    say "byte-compiling the tree's Python modules with its own python3.11"
    # as fetch.sh does for the tests' python-root (timestamp-based .pyc, the
    # virtual paths recorded); py3compile would compile dist-packages too
    env -u SOURCE_DATE_EPOCH -u PYTHONPATH -u PYTHONDONTWRITEBYTECODE \
        PYTHONHOME="$tree/usr" LD_LIBRARY_PATH="$tree/$multiarch:$tree/lib/x86_64-linux-gnu" \
        "$tree/usr/bin/python3.11" -S -m compileall -q -j0 -s "$tree" -p / \
        -x '/(lib2to3/tests/data|test/bad[a-z_]*\.py|matplotlib/backends/web_backend|sympy/parsing/autolev/test-examples)' \
        "$tree/usr/lib/python3.11" "$tree/usr/lib/python3/dist-packages" >"$cache/compileall.log" 2>&1 ||
        say "compileall reported errors (some test data is not Python): $(grep -c . "$cache/compileall.log") lines in $cache/compileall.log"
    count=$(find "$tree" -name '*.cpython-311.pyc' | wc -l)
    [[ $count -gt 3000 ]] || die "only $count .pyc files in $tree"
    cat >"$cache/pysci.ini" <<'EOF'
[package]
name = pysci
version = 1.0
summary = Debian's python3.11 with numpy, scipy and matplotlib (bench/stream)
default_entry = python3

[entry python3]
exec = /usr/bin/python3.11
EOF
    touch "$cache/.tree-done-$recipe"
fi
if [[ ! -f $image ]]; then
    say "packing $image"
    "$VIAL" pack "$tree" --manifest "$cache/pysci.ini" -o "$image.tmp" >&2 || die "vial pack $tree"
    mv "$image.tmp" "$image"
fi
image_size=$(stat -c %s "$image")

# -------------------------------------------------------- scratch, cleanup
scratch=$(mktemp -d /tmp/vial-bench-stream.XXXXXX)
chmod 755 "$scratch"
ns=vialbench$$
veth_host=vbh$$
veth_ns=vbn$$
relay_pid=
nginx_conf=$scratch/nginx/nginx.conf

# The agents this script's launches started: each inherits the run's
# XDG_RUNTIME_DIR, which is under $scratch. Stopped by process id.
stop_agents() {
    local pid pids=()
    for pid in $(pgrep -x vial-agent || true); do
        # (an agent may exit between pgrep and the read)
        { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qx "XDG_RUNTIME_DIR=$scratch/.*" &&
            pids+=("$pid")
    done
    [[ ${#pids[@]} -gt 0 ]] || return 0
    kill "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
        for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && break; pid=; done
        [[ -z $pid ]] && return 0
        sleep 0.05
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
}
cleanup() {
    local status=$?
    set +e
    stop_agents
    [[ -n $relay_pid ]] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
    [[ -f $scratch/nginx/nginx.pid ]] && kill "$(cat "$scratch/nginx/nginx.pid")" 2>/dev/null
    for _ in $(seq 50); do [[ -f $scratch/nginx/nginx.pid ]] || break; sleep 0.1; done
    if ip netns list | grep -qw "$ns"; then
        # anything still running in the namespace was started by this script
        for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null; done
        ip netns del "$ns"
    fi
    ip link del "$veth_host" 2>/dev/null
    rm -rf "$scratch"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------ launch profile (b)
profiled=$cache/pysci-profiled.vial
if [[ $do_profile == 1 ]]; then
    if [[ ! -f $profiled || $profiled -ot $image || "$(cat "$cache/profile.code" 2>/dev/null)" != "$code" ]]; then
        say "recording a launch profile of: python3 -c '$code'"
        mkdir -p "$scratch/profile/cache" "$scratch/profile/data" "$scratch/profile/run"
        chmod 700 "$scratch/profile/run"
        XDG_CACHE_HOME=$scratch/profile/cache XDG_DATA_HOME=$scratch/profile/data \
            XDG_RUNTIME_DIR=$scratch/profile/run \
            "$VIAL" profile "$image" python3 -o "$cache/pysci.profile" -- -c "$code" >&2 ||
            die "vial profile $image"
        "$VIAL" pack "$tree" --manifest "$cache/pysci.ini" --profile "$cache/pysci.profile" \
            -o "$profiled.tmp" >&2 || die "vial pack --profile"
        mv "$profiled.tmp" "$profiled"
        printf '%s' "$code" >"$cache/profile.code"
        rm -rf "$scratch/profile"
    fi
fi

# ------------------------------------------------------------------ link
# A /30 of 10.0.0.0/8 that no interface of the host uses.
subnet=
for third in $(seq 77 99); do
    if ! ip -4 addr | grep -q "inet 10\.213\.$third\."; then subnet=10.213.$third; break; fi
done
[[ -n $subnet ]] || die "no free 10.213.x.0/30 on this host"
server_ip=$subnet.2
say "network namespace $ns: $veth_host $subnet.1/30 <-> $veth_ns $server_ip/30, tbf $rate each way, relay +${delay} ms each way"
ip netns add "$ns"
ip link add "$veth_host" type veth peer name "$veth_ns"
ip link set "$veth_ns" netns "$ns"
ip addr add "$subnet.1/30" dev "$veth_host"
ip link set "$veth_host" up
ip -n "$ns" addr add "$server_ip/30" dev "$veth_ns"
ip -n "$ns" link set "$veth_ns" up
ip -n "$ns" link set lo up
# bandwidth both ways (answers leave the namespace through $veth_ns)
tc qdisc add dev "$veth_host" root tbf rate "$rate" burst 64kb latency 50ms
tc -n "$ns" qdisc add dev "$veth_ns" root tbf rate "$rate" burst 64kb latency 50ms

mkdir -p "$scratch/nginx" "$scratch/www"
ln "$image" "$scratch/www/pysci.vial" 2>/dev/null || cp "$image" "$scratch/www/pysci.vial"
if [[ $do_profile == 1 ]]; then
    ln "$profiled" "$scratch/www/pysci-profiled.vial" 2>/dev/null || cp "$profiled" "$scratch/www/pysci-profiled.vial"
fi
cat >"$nginx_conf" <<NGINX
user root;
daemon on;
worker_processes 1;
pid $scratch/nginx/nginx.pid;
error_log $scratch/nginx/error.log;
events {}
http {
    log_format connections '\$connection \$status \$body_bytes_sent';
    access_log $scratch/nginx/access.log connections;
    sendfile on;
    tcp_nopush on;
$(for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $scratch/nginx/$t;"; done)
    server {
        listen $server_ip:8080;
        location / { root $scratch/www; }
    }
}
NGINX
ip netns exec "$ns" "$NGINX" -q -c "$nginx_conf" -p "$scratch/nginx" 2>"$scratch/nginx/start.err" ||
    { cat "$scratch/nginx/start.err" >&2; die "nginx does not start in $ns"; }
python3 "$HERE/relay.py" 127.0.0.1 0 "$server_ip" 8080 "$delay" "$scratch/relay.port" &
relay_pid=$!
for _ in $(seq 100); do [[ -s $scratch/relay.port ]] && break; sleep 0.05; done
[[ -s $scratch/relay.port ]] || die "the relay did not start"
base=http://127.0.0.1:$(cat "$scratch/relay.port")
URL=$base/pysci.vial
PURL=$base/pysci-profiled.vial

# the link as a client sees it: a 1-byte range on a new connection pays
# the handshake's round trip and the request's
link_rtt=$(curl -sS -o /dev/null -r 0-0 -w '%{time_starttransfer}' "$URL") || die "curl $URL through the relay"
say "link check: first byte of a new connection after $link_rtt s"

# ----------------------------------------------------------- measurements
declare -A V   # V[variant.figure] = space-separated values, one per round
add() { V[$1]="${V[$1]:-}${V[$1]:+ }$2"; }
median() { tr ' ' '\n' <<<"$1" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { tr ' ' '\n' <<<"$1" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }

# a fresh user: empty cache, state and runtime directories
fresh_user() {
    stop_agents
    user_dir=$scratch/users/$1
    rm -rf "$user_dir"
    mkdir -p "$user_dir/cache" "$user_dir/data" "$user_dir/run"
    chmod 700 "$user_dir/run"
}
as_user() {
    env XDG_CACHE_HOME="$user_dir/cache" XDG_DATA_HOME="$user_dir/data" \
        XDG_RUNTIME_DIR="$user_dir/run" VIAL_AGENT_IDLE=2 "$@"
}
expected=
# timed launch; sets FIRST, TOTAL; checks the status and the output
launch() {
    local what=$1 out
    shift
    out=$(as_user python3 "$HERE/timed.py" "$@" 2>"$scratch/stderr") ||
        { cat "$scratch/stderr" >&2; die "$what: timed.py failed"; }
    local head=${out%%$'\n'*} body=${out#*$'\n'}
    [[ $head =~ ^first=([0-9.]+)\ total=([0-9.]+)\ status=([0-9]+)$ ]] || die "$what: timed.py said '$head'"
    FIRST=${BASH_REMATCH[1]} TOTAL=${BASH_REMATCH[2]}
    if [[ ${BASH_REMATCH[3]} != 0 || -z $body ]]; then
        cat "$scratch/stderr" >&2
        die "$what: status ${BASH_REMATCH[3]}, output '$body'"
    fi
    expected=${expected:-$body}
    [[ $body == "$expected" ]] || die "$what printed '$body', another variant '$expected'"
}
# FETCHED REQUESTS OPENED_FILES OPENED_CHUNK_BYTES SIZE CHUNK_DATA_BYTES of URL $1
url_stats() {
    as_user "$VIAL" cache stats "$1" --json >"$scratch/stats.json" || die "vial cache stats $1"
    python3 - "$scratch/stats.json" <<'PY'
import json, sys
i = json.load(open(sys.argv[1]))["image"]
print(i["fetched"]["bytes"], i["fetched"]["requests"], i["opened"]["files"],
      i["opened"]["chunk_bytes"], i["size"], i["chunk_data_bytes"])
PY
}

py=(python3 -- -c "$code")
# a cold launch of URL $2 as a fresh user $1$round, recorded as variant $1
cold_launch() {
    local v=$1 url=$2 label=$3 logged
    fresh_user "$v$round"
    logged=$(wc -l <"$scratch/nginx/access.log")
    launch "cold launch from $url" "$VIAL" run "$url" "${py[@]}"
    # TCP connections the launch opened (nginx's connection serial numbers)
    add "$v.connections" "$(tail -n +"$((logged + 1))" "$scratch/nginx/access.log" | cut -d' ' -f1 | sort -u | wc -l)"
    add "$v.first" "$FIRST"; add "$v.total" "$TOTAL"
    read -r fetched requests ofiles ochunks vsize vchunk_data < <(url_stats "$url")
    [[ $v == a ]] && size=$vsize chunk_data=$vchunk_data
    add "$v.fetched" "$fetched"; add "$v.requests" "$requests"; add "$v.files" "$ofiles"; add "$v.opened" "$ochunks"
    say "  $v. $label: first output ${FIRST}s, exit ${TOTAL}s; fetched $fetched bytes in $requests requests ($(median "${V[$v.connections]##* }") connections); opened $ofiles files, chunks $ochunks bytes"
}
for round in $(seq "$runs"); do
    say "round $round of $runs"
    # a. cold launch from the URL
    cold_launch a "$URL" cold
    # d. warm: the same user again, everything the launch needs cached (the
    #    agent stopped first, as after a pause: a launch starts its own)
    stop_agents
    launch "warm launch from $URL" "$VIAL" run "$URL" "${py[@]}"
    add d.first "$FIRST"; add d.total "$TOTAL"
    read -r fetched2 requests2 _ < <(url_stats "$URL")
    add d.fetched "$((fetched2 - fetched))"; add d.requests "$((requests2 - requests))"
    say "  d. warm: first output ${FIRST}s, exit ${TOTAL}s; fetched $((fetched2 - fetched)) bytes in $((requests2 - requests)) requests"
    # b. cold launch of the same tree packed with a launch profile
    [[ $do_profile == 1 ]] && cold_launch b "$PURL" "cold, profiled"
    # c. download the whole image over the same link, then run it locally
    fresh_user "c$round"
    download=$(curl -sS -o "$user_dir/pysci.vial" -w '%{time_total}' "$URL") || die "curl $URL"
    [[ $(stat -c %s "$user_dir/pysci.vial") == "$image_size" ]] || die "curl got a short file"
    launch "local launch of the downloaded image" "$VIAL" run "$user_dir/pysci.vial" "${py[@]}"
    add c.download "$download"; add c.run_first "$FIRST"
    add c.first "$(awk -v d="$download" -v f="$FIRST" 'BEGIN { printf "%.4f", d + f }')"
    add c.total "$(awk -v d="$download" -v t="$TOTAL" 'BEGIN { printf "%.4f", d + t }')"
    say "  c. download ${download}s, then first output after ${FIRST}s, exit ${TOTAL}s"
    stop_agents
    rm -rf "$scratch/users"
done

# ------------------------------------------------------------------ report
m() { median "${V[$1]}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
verdict() { awk -v v="$1" -v op="$2" -v lim="$3" 'BEGIN { ok = (op == "<=") ? v <= lim : v >= lim; print ok ? "PASS" : "FAIL" }'; }
tree_mib=$(du -sm --apparent-size "$tree" | cut -f1)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mbit=$(awk -v s="$image_size" -v t="$(m c.download)" 'BEGIN { printf "%.1f", s * 8 / t / 1e6 }')
metadata=$((size - chunk_data))

cat <<MD
### Streaming a Python with numpy, scipy and matplotlib ($(date -u '+%Y-%m-%d'))

- date: $(date -u)
- machine: $(nproc) CPUs, $cpu, kernel $(uname -r); load average at end: $(cut -d' ' -f1-3 /proc/loadavg)
- vial: $(git -C "$SOURCE" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$SOURCE" diff --quiet HEAD 2>/dev/null || echo ' (plus uncommitted changes)')
- command: \`$command_line\` ($runs rounds, each running every variant in turn; medians, range in brackets)
- image: Debian bookworm's python3.11, python3-numpy, python3-scipy, python3-matplotlib and their dependencies ($(wc -l <"$cache/packages.txt") packages, toolchain and -dev packages left out; $tree_mib MiB unpacked, byte-compiled); \`vial pack\` at the default level: $image_size bytes ($(mib "$image_size") MiB), of which chunk data $chunk_data and metadata (header, manifest, index, hive, chunk table) $metadata bytes
- link: nginx in a network namespace behind a veth pair, \`tc tbf rate $rate\` each way, a relay adding $delay ms each way (bench/stream/relay.py: $((2 * delay)) ms round trip, one more for a new connection); first byte of a 1-byte range on a new connection after $(printf %.3f "$link_rtt") s; whole-image download: $mbit Mbit/s
- launch: \`vial run URL python3 -- -c '$code'\` (prints \`$expected\`); "first output" is when that line appeared, "exit" when vial returned

| variant | first output s | exit s | fetched bytes | requests | connections | files opened | their chunks, bytes | fetched / opened |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
| a. cold, from the URL | $(m a.first) ($(range "${V[a.first]}")) | $(m a.total) | $(m a.fetched) | $(m a.requests) | $(m a.connections) | $(m a.files) | $(m a.opened) | $(ratio "$(m a.fetched)" "$(m a.opened)") |
MD
if [[ $do_profile == 1 ]]; then
    echo "| b. cold, from the URL, image packed with a launch profile | $(m b.first) ($(range "${V[b.first]}")) | $(m b.total) | $(m b.fetched) | $(m b.requests) | $(m b.connections) | $(m b.files) | $(m b.opened) | $(ratio "$(m b.fetched)" "$(m b.opened)") |"
fi
cat <<MD
| c. curl the whole image ($(printf %.2f "$(m c.download)") s), then run it locally, cold cache (first output after $(printf %.2f "$(m c.run_first)") s) | $(m c.first) ($(range "${V[c.first]}")) | $(m c.total) | $image_size | 1 | 1 | | | |
| d. warm, from the URL (right after a; agent stopped in between) | $(m d.first) ($(range "${V[d.first]}")) | $(m d.total) | $(m d.fetched) | $(m d.requests) | | | | |

MD
ra=$(ratio "$(m a.fetched)" "$(m a.opened)")
sa=$(ratio "$(m c.first)" "$(m a.first)")
echo "| ratio | value | budget | verdict |"
echo "| --- | --- | --- | --- |"
echo "| a: bytes fetched / compressed bytes of the files opened | $ra | at most 1.5 | $(verdict "$ra" '<=' 1.5) |"
if [[ $do_profile == 1 ]]; then
    rb=$(ratio "$(m b.fetched)" "$(m b.opened)")
    sb=$(ratio "$(m c.first)" "$(m b.first)")
    echo "| b: bytes fetched / compressed bytes of the files opened | $rb | at most 1.5 | $(verdict "$rb" '<=' 1.5) |"
fi
echo "| c / a: download-then-run over cold streamed launch, time to first output | $sa | at least 3 | $(verdict "$sa" '>=' 3) |"
[[ $do_profile == 1 ]] &&
    echo "| c / b: the same with the launch profile | $sb | at least 3 | $(verdict "$sb" '>=' 3) |"
echo "| a / d: cold streamed over warm launch, time to first output | $(ratio "$(m a.first)" "$(m d.first)") | | |"
echo "| c / d: download-then-run over warm launch | $(ratio "$(m c.first)" "$(m d.first)") | | |"
echo
echo "Per round (seconds to first output): a ${V[a.first]}; ${V[b.first]:+b ${V[b.first]}; }c ${V[c.first]} (download ${V[c.download]}); d ${V[d.first]}."
