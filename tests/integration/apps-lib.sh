# shellcheck shell=bash
# apps-lib.sh - shared by the tests that run real applications from images
# (test_run_apps.sh, test_cow_apps.sh); sourced after lib.sh.
#
# Sets up XDG directories under $WORK, background apps kept alive by a FIFO
# on their stdin, and the proofs from outside (/proc/PID/exe,
# /proc/PID/maps) that code was mapped from the cache's per-image views:
# this host has its own python3.11, git and sqlite3, so a lookup that fell
# back to the host would still print the right thing.
: "${FIXTURES:?run through ctest (FIXTURES is build/fixtures)}"

# ------------------------------------------------------------------ set-up
WORK=$(cd "$WORK" && pwd -P) # /proc shows canonical paths
export XDG_CACHE_HOME="$WORK/cache" XDG_DATA_HOME="$WORK/data"
export XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state"
export XDG_RUNTIME_DIR="$WORK/run"
mkdir -p "$XDG_CACHE_HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
VIEWS="$XDG_CACHE_HOME/vial/views"
unset PYTHONVERBOSE PYTHONHOME PYTHONPATH PYTHONDONTWRITEBYTECODE LD_LIBRARY_PATH LD_PRELOAD

# Background apps hold on to stdin (a FIFO whose writer this script keeps
# open): closing the writer ends them, and so does this script's exit.
# EXTRA_PIDS: other processes a test started that must not outlive it.
declare -A BG_PID BG_FD
EXTRA_PIDS=()
cleanup() {
    local tag pid
    for tag in "${!BG_FD[@]}"; do eval "exec ${BG_FD[$tag]}>&-"; done
    for tag in "${!BG_PID[@]}"; do kill "${BG_PID[$tag]}" 2>/dev/null || true; done
    for pid in "${EXTRA_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    chmod -R u+rwx "$WORK" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# need_fixtures TREE...: FIXTURES/TREE exist and are readable. As root,
# runs tests/fixtures/fetch.sh (and tests/programs/stage.sh for
# vialtest-root) when something is missing; the unprivileged run only reads
# what the root run left, and skips (77) when it cannot.
need_fixtures() {
    local tree missing=
    for tree in "$@"; do [ -d "$FIXTURES/$tree" ] || missing=1; done
    if [ ! -f "$FIXTURES/.complete" ] || { [ -n "$missing" ] && [ "$(id -u)" = 0 ]; }; then
        local fetch="$SOURCE_DIR/tests/fixtures/fetch.sh"
        if [ "$(id -u)" = 0 ] && [ -f "$fetch" ]; then
            bash "$fetch" "$FIXTURES" || fail "tests/fixtures/fetch.sh $FIXTURES failed"
        elif [ -d "$FIXTURES" ] && [ ! -r "$FIXTURES" ]; then
            echo "skipped: $FIXTURES is not readable by $(id -un)"
            exit 77
        else
            fail "$FIXTURES is not complete: run 'bash tests/fixtures/fetch.sh $FIXTURES' as root (ctest's fixtures-run-apps does)"
        fi
    fi
    if [ ! -d "$FIXTURES/vialtest-root" ]; then
        local stage="$SOURCE_DIR/tests/programs/stage.sh"
        [ -f "$stage" ] || fail "$FIXTURES/vialtest-root is missing: build the tests (ninja -C BUILD stages it)"
        bash "$stage" "$FIXTURES" "$TOOLS" || fail "tests/programs/stage.sh failed"
    fi
    for tree in "$@"; do
        [ -r "$FIXTURES/$tree" ] && continue
        if [ -x "$FIXTURES" ] && [ ! -e "$FIXTURES/$tree" ]; then
            fail "$FIXTURES/$tree is missing: run 'bash tests/fixtures/fetch.sh $FIXTURES' as root"
        fi
        echo "skipped: $FIXTURES/$tree is not readable by $(id -un)"
        exit 77
    done
}

# ------------------------------------------------------------------ helpers
# expect_out TEXT COMMAND...: COMMAND exits 0 and prints a line equal to TEXT
expect_out() {
    local want=$1; shift
    expect_status 0 "$@"
    grep -qxF -- "$want" "$WORK/stdout" ||
        { cat "$WORK/stdout" "$WORK/stderr" >&2; fail "'$*' did not print '$want'"; }
}

# start_bg TAG COMMAND...: starts COMMAND in the background, stdin from the
# FIFO $WORK/TAG.in (kept open here), output in $WORK/TAG.out and .err
start_bg() {
    local tag=$1 fd
    shift
    mkfifo "$WORK/$tag.in"
    # the FIFO writers of earlier background apps must not leak into this
    # one, or closing theirs would not end them
    (
        for fd in "${BG_FD[@]}"; do eval "exec $fd>&-"; done
        exec "$@"
    ) <"$WORK/$tag.in" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
    BG_PID[$tag]=$!
    exec {fd}>"$WORK/$tag.in"
    BG_FD[$tag]=$fd
}

# send_bg TAG LINE: writes LINE to TAG's stdin
send_bg() {
    printf '%s\n' "$2" >&"${BG_FD[$1]}"
}

# wait_line TAG REGEX: waits (60 s at most) for a line of TAG's output that
# matches REGEX and prints it
wait_line() {
    local tag=$1 re=$2 i line
    for ((i = 0; i < 600; i++)); do
        line=$(grep -E -m1 -- "$re" "$WORK/$tag.out" || true)
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        if ! kill -0 "${BG_PID[$tag]}" 2>/dev/null; then
            sleep 0.1
            line=$(grep -E -m1 -- "$re" "$WORK/$tag.out" || true)
            [ -n "$line" ] && { echo "$line"; return 0; }
            cat "$WORK/$tag.out" "$WORK/$tag.err" >&2
            fail "$tag exited without printing /$re/"
        fi
        sleep 0.1
    done
    cat "$WORK/$tag.out" "$WORK/$tag.err" >&2
    fail "$tag printed no /$re/ within 60 s"
}

# stop_bg TAG: closes TAG's stdin and checks that it exits 0
stop_bg() {
    local tag=$1 status=0
    eval "exec ${BG_FD[$tag]}>&-"
    unset "BG_FD[$tag]"
    wait "${BG_PID[$tag]}" || status=$?
    unset "BG_PID[$tag]"
    [ "$status" = 0 ] || { cat "$WORK/$tag.err" >&2; fail "$tag exited $status"; }
}

# bg_app_pid TAG: the program that TAG's `vial run|exec` started (vial forks
# it and waits: it is vial's only child)
bg_app_pid() {
    local tag=$1 vpid=${BG_PID[$1]} i kids
    for ((i = 0; i < 200; i++)); do
        kids=$(pgrep -P "$vpid" || true)
        if [ -n "$kids" ] && [ "$(wc -w <<<"$kids")" = 1 ]; then
            echo "$kids"
            return 0
        fi
        sleep 0.05
    done
    fail "$tag: vial (PID $vpid) has not exactly one child process (found: ${kids:-none})"
}

# merged_usr PATH: /lib, /bin, /sbin spelled as /usr/lib, /usr/bin, /usr/sbin
merged_usr() {
    case $1 in
        /lib/* | /bin/* | /sbin/*) echo "/usr$1" ;;
        *) echo "$1" ;;
    esac
}

# in_view FILE VPATH: FILE (a path /proc showed) is the image file VPATH as
# materialized in a view of this test's cache: $VIEWS/<24 hex>/VPATH (either
# spelling of the merged-/usr aliases), a hard
# link to content under $XDG_CACHE_HOME/vial/files. Prints the view's hash.
in_view() {
    local file=$1 want=$2 rest hash vpath inode
    case $file in
        "$VIEWS"/*) ;;
        *) fail "$file is not under $VIEWS (expected the image's $want)" ;;
    esac
    rest=${file#"$VIEWS"/}
    hash=${rest%%/*}
    vpath=/${rest#*/}
    [[ $hash =~ ^[0-9a-f]{24}$ ]] || fail "$file: '$hash' is not a view name of 24 hex digits"
    [ "$(merged_usr "$vpath")" = "$(merged_usr "$want")" ] ||
        fail "$file is the image's $vpath, expected $want"
    inode=$(stat -c %i "$file") || fail "cannot stat $file"
    [ -n "$(find "$XDG_CACHE_HOME/vial/files" -inum "$inode" -print -quit 2>/dev/null)" ] ||
        fail "$file is not a hard link to a file under $XDG_CACHE_HOME/vial/files"
    echo "$hash"
}

# maps_check PID REGEX VPATH...: every mapping of PID whose file matches
# REGEX is one of the image files VPATH... in a view (and there is one)
maps_check() {
    local pid=$1 re=$2 file ok want n=0
    shift 2
    while read -r file; do
        ok=
        for want in "$@"; do
            [ "${file##*/}" = "${want##*/}" ] || continue
            in_view "$file" "$want" >/dev/null
            ok=1
        done
        [ -n "$ok" ] || fail "PID $pid maps $file, which is none of $*"
        n=$((n + 1))
    done < <(awk -v re="$re" '$6 ~ re { print $6 }' "/proc/$pid/maps" | sort -u)
    [ "$n" -gt 0 ] || { cat "/proc/$pid/maps" >&2; fail "PID $pid maps nothing matching /$re/"; }
}
