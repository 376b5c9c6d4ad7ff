#!/bin/bash
# Real applications writing inside the bubble (issue 4's acceptance):
#   - git from the image: init, config, add, commit, branch, switch in a
#     writecopy host directory declared in the image's [isolation] section
#     and in a directory under ~ that exists only in the bubble; the host's
#     directory stays as it was; the output matches a native run of the same
#     git binary (same commit hashes);
#   - sqlite3 from the image: a WAL database in ~/.local/share/APP that
#     survives a restart and two instances inserting at once (two bubbles,
#     each running sqlite3 200 times: 400 rows, integrity_check ok); the
#     host's ~/.local/share/APP never appears;
#   - side by side: one package name packed as 1.0 and 2.0 (settings-app),
#     run alternately and at once, each with its own ~/.config/vial-sbs
#     (2.0's first launch starts from a copy of 1.0's state); vial state,
#     vial diff, vial reset of one leaving the other alone (the reset one
#     then starts from the newest group's state, or empty with --fresh);
#   - a crash: cow-writer killed with SIGKILL during the copy-up of a 64 MiB
#     image file or during a stream of small files; in a new bubble every
#     file it reported is whole, the big file is the original or the whole
#     copy, vial diff works, no temporary file of the state's work/ shows;
#   - the host untouched: /usr, /etc and ~/.config (path, type, mode, owner,
#     size, mtime; contents of /etc and ~/.config) are the same before and
#     after, and writes to /etc and /usr inside the bubble stay there.
# This host has its own git and sqlite3: every real-app check proves from
# outside (/proc/PID/exe, /proc/PID/maps) that the code came from the
# image's view in this test's cache.
#
# Runs as root (HOME is then $WORK/home: the test never writes /root) and
# as vial-test (as-user.sh; HOME is that user's home, which it checks).
# Fixtures: build/fixtures/{git,sqlite}-root + git.ini, sqlite.ini from
# tests/fixtures/fetch.sh (ctest's fixtures-run-apps), settings-app and
# cow-writer from tests/programs (staged into vialtest-root).
# Knobs: VIAL_COW_SEED (the kill timings; printed), VIAL_COW_FAULT_ROUNDS
# (kill rounds in the bubble, default 6).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apps-lib.sh"
need_fixtures git-root sqlite-root vialtest-root
export LC_ALL=C

# ------------------------------------------------------------------ set-up
if [ "$(id -u)" = 0 ]; then
    export HOME="$WORK/home"
    mkdir -m 755 "$HOME"
else
    [ -n "${HOME:-}" ] && [ -d "$HOME" ] && [ -w "$HOME" ] ||
        { echo "skipped: HOME (${HOME:-unset}) is not a writable directory of $(id -un)"; exit 77; }
    HOME=$(cd "$HOME" && pwd -P)
    export HOME
fi
REAL_HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_CONFIG GIT_CONFIG_GLOBAL \
    GIT_CONFIG_SYSTEM GIT_EXEC_PATH GIT_TEMPLATE_DIR GIT_CEILING_DIRECTORIES GIT_AUTHOR_NAME \
    GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL EMAIL
# fixed dates (and the identity from the config): same commits natively and in the bubble
export GIT_AUTHOR_DATE="2024-05-01T12:00:00+00:00" GIT_COMMITTER_DATE="2024-05-01T12:00:00+00:00"
export GIT_CONFIG_NOSYSTEM=1 GIT_PAGER=cat PAGER=cat

GIT_FIX="$FIXTURES/git-root"
SQ_FIX="$FIXTURES/sqlite-root"
PROGRAMS="$FIXTURES/vialtest-root/opt/vialtest/bin"
PROJ="$WORK/proj"                          # host dir, writecopy by [isolation]
GITWORK="$HOME/.local/share/gitwork"       # exists only in the bubble
SQL_DIR="$HOME/.local/share/vial-cow-sqlite"
DB="$SQL_DIR/db.sqlite"
SBS_DIR="$HOME/.config/vial-sbs"
BIG=/opt/vialfault/big.bin
OUT=/opt/vialfault/out
STATE="$XDG_DATA_HOME/vial/state"
PROBE_ETC="/etc/vial-cow-probe-$$"
# a root-owned host directory no image of this test has (the sqlite image
# ships /etc/inputrc: packed from a copy the test user owns, as as-user.sh
# makes when the fixtures are not readable, its /etc is the user's)
PROBE_VAR="/var/lib/vial-cow-probe-$$"
PROBE_USR="/usr/share/vial-cow-probe-$$"
seed=${VIAL_COW_SEED:-$$} # the kill timings of the crash rounds
RANDOM=$seed

# Paths the bubble creates must not exist on the host beforehand, or their
# absence afterwards would prove nothing.
for path in "$GITWORK" "$SQL_DIR" "$SBS_DIR" /opt/vialsbs /opt/vialfault "$PROBE_ETC" "$PROBE_USR" "$PROBE_VAR"; do
    [ ! -e "$path" ] || fail "the host has $path: remove it, or the host-side checks prove nothing"
done
for tool in jq pgrep sha256sum; do
    command -v "$tool" >/dev/null || fail "this test needs $tool on the host"
done

# ------------------------------------------------------------------ helpers
# pack_image NAME ROOT MANIFEST [OPTIONS...]: $WORK/NAME.vial
pack_image() {
    local name=$1 root=$2 manifest=$3
    shift 3
    "$VIAL" pack "$root" -o "$WORK/$name.vial" --manifest "$manifest" -j2 "$@" \
        >/dev/null 2>"$WORK/pack.err" || { cat "$WORK/pack.err" >&2; fail "vial pack $root -o $name.vial"; }
}

# tree_sum DIR: path, type, mode, size, mtime and content hash of everything in DIR
tree_sum() {
    (
        cd "$1"
        find . -printf '%p %y %m %s %T@ %l\n' | sort
        find . -type f -print0 | sort -z | xargs -0 -r sha256sum
    )
}

# file_sum FILE: its hash, or "absent"
file_sum() {
    if [ -e "$1" ] || [ -L "$1" ]; then sha256sum "$1" | cut -d' ' -f1; else echo absent; fi
}

# host_snapshot OUT: what "the host is untouched" compares. /usr: metadata
# only (fast); /etc: metadata and the contents of readable files under
# 1 MiB; ~/.config: metadata and contents; the dotfiles at the top of ~:
# contents. (Not the metadata of ~ and ~/.local: other tests of this
# machine may create vial's own ~/.local/share/vial meanwhile.)
host_snapshot() {
    {
        find /usr /etc -xdev -printf '%p %y %m %U:%G %s %T@ %l\n' 2>/dev/null || true
        find /etc -xdev -type f -readable -size -1024k -print0 2>/dev/null |
            xargs -0 -r sha256sum 2>/dev/null || true
        if [ -d "$HOME/.config" ]; then
            find "$HOME/.config" -xdev -printf '%p %y %m %U:%G %s %T@ %l\n' 2>/dev/null || true
            find "$HOME/.config" -xdev -type f -readable -print0 2>/dev/null |
                xargs -0 -r sha256sum 2>/dev/null || true
        fi
        find "$HOME" -maxdepth 1 -type f -readable -print0 2>/dev/null | xargs -0 -r sha256sum 2>/dev/null || true
    } | sort >"$1"
}

# host_absent PATH...: none of PATH exists on the host
host_absent() {
    local path
    for path in "$@"; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            ls -la "$path" >&2 || true
            fail "$path appeared on the host (it must exist only in the bubble)"
        fi
    done
}

# stdout_is TEXT WHAT: the last expect_status printed exactly TEXT
stdout_is() {
    local want=$1 what=$2
    if [ "$(cat "$WORK/stdout")" != "$want" ]; then
        echo "--- expected:" >&2; printf '%s\n' "$want" >&2
        echo "--- got:" >&2; cat "$WORK/stdout" >&2
        echo "--- stderr:" >&2; cat "$WORK/stderr" >&2
        fail "$what"
    fi
}

# diff_has IMAGE LINE...: `vial diff IMAGE` exits 0, every line it prints
# is "A|M|D /PATH" and LINE... are among them; the output stays in $WORK/diff
diff_has() {
    local image=$1 line
    shift
    expect_status 0 "$VIAL" diff "$image"
    cp "$WORK/stdout" "$WORK/diff"
    if grep -vE '^[AMD] /' "$WORK/diff" >&2; then fail "vial diff $(basename "$image") printed lines (above) that are not 'A|M|D /PATH'"; fi
    if grep -F -e "$XDG_DATA_HOME" -e "$XDG_CACHE_HOME" "$WORK/diff" >&2; then
        fail "vial diff $(basename "$image") shows vial's own state or cache paths (above)"
    fi
    for line in "$@"; do
        grep -qxF -- "$line" "$WORK/diff" || { cat "$WORK/diff" >&2; fail "vial diff $(basename "$image") lacks '$line'"; }
    done
}

# ms_since T: milliseconds since T (an $EPOCHREALTIME)
ms_since() {
    local now=${EPOCHREALTIME/./} then=${1/./}
    echo $(((now - then) / 1000))
}

# ------------------------------------------------------------------ images
# git: the fixture's manifest plus an [isolation] section naming $PROJ;
# packed after the check for copy-on-write below (older vials refuse it).
mkdir -p "$PROJ"
MAKE_FILES='mkdir -p "$1/src" && printf "Vial copy-on-write test project\n" >"$1/README" &&
printf "int main(void) { return 0; }\n" >"$1/src/main.c"'
sh -c "$MAKE_FILES" sh "$PROJ"
{ cat "$FIXTURES/git.ini"; printf '\n[isolation]\n%s = writecopy\n' "$PROJ"; } >"$WORK/git.ini"

pack_image sqlite "$SQ_FIX" "$FIXTURES/sqlite.ini"
libsqlite=/$(cd "$SQ_FIX" && compgen -G 'usr/lib/x86_64-linux-gnu/libsqlite3.so.0.*' | head -1)
libpcre=/$(cd "$GIT_FIX" && compgen -G 'usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.*' | head -1)

for v in 1.0 2.0; do
    mkdir -p "$WORK/sbs-$v-root/opt/vialsbs/bin"
    cp "$PROGRAMS/settings-app" "$WORK/sbs-$v-root/opt/vialsbs/bin/"
    echo "$v" >"$WORK/sbs-$v-root/opt/vialsbs/VERSION"
    cat >"$WORK/sbs-$v.ini" <<EOF
[package]
name = vial-sbs
version = $v
summary = settings-app $v: keeps ~/.config/vial-sbs/settings
default_entry = settings-app

[entry settings-app]
exec = /opt/vialsbs/bin/settings-app
EOF
    pack_image "sbs-$v" "$WORK/sbs-$v-root" "$WORK/sbs-$v.ini"
done

# The crash test's image: owned by the user who runs the test (--owner), so
# that opening its files for writing is allowed as it would be natively.
mkdir -p "$WORK/fault-root/opt/vialfault/bin" "$WORK/fault-root$OUT"
cp "$PROGRAMS/cow-writer" "$WORK/fault-root/opt/vialfault/bin/"
"$PROGRAMS/cow-writer" make-big "$WORK/fault-root$BIG" 64 || fail "cow-writer make-big"
SUM_ORIG=$(sha256sum "$WORK/fault-root$BIG" | cut -d' ' -f1)
cp "$WORK/fault-root$BIG" "$WORK/marked.bin"
"$PROGRAMS/cow-writer" mark "$WORK/marked.bin" || fail "cow-writer mark"
SUM_MARKED=$(sha256sum "$WORK/marked.bin" | cut -d' ' -f1)
rm "$WORK/marked.bin"
cat >"$WORK/fault.ini" <<'EOF'
[package]
name = vial-fault
version = 1.0
summary = cow-writer and a 64 MiB file, killed in the middle of its writes
default_entry = cow-writer

[entry cow-writer]
exec = /opt/vialfault/bin/cow-writer
EOF
pack_image fault "$WORK/fault-root" "$WORK/fault.ini" --owner "$(id -u):$(id -g)" -l 1
"$VIAL" ls "$WORK/fault.vial" /opt/vialfault -l >"$WORK/ls" || fail "vial ls fault.vial /opt/vialfault"
grep -q ' 67108864 .*big\.bin$' "$WORK/ls" || { cat "$WORK/ls" >&2; fail "fault.vial has no 64 MiB /opt/vialfault/big.bin"; }
pass "sqlite3, settings-app 1.0 and 2.0, and cow-writer with a 64 MiB file packed"

# ------------------------------------------------------------------ native references
# The same steps with the same binaries, natively: they show what the
# bubble must print, and that the test's own logic holds.

# git_steps MODE DIR CREATE TAG: the git session, natively (MODE native:
# the fixture's git with HOME=$WORK/refhome) or in the bubble (MODE bubble);
# CREATE=1 makes DIR and its files first. Outputs in $WORK/git-TAG.*
git_native() {
    env HOME="$WORK/refhome" GIT_EXEC_PATH="$GIT_FIX/usr/lib/git-core" \
        GIT_TEMPLATE_DIR="$GIT_FIX/usr/share/git-core/templates" "$GIT_FIX/usr/bin/git" "$@"
}
sh_native() { env HOME="$WORK/refhome" sh -c "$@"; }
git_bubble() { "$VIAL" exec "$WORK/git.vial" -- git "$@"; }
sh_bubble() { "$VIAL" exec "$WORK/git.vial" -- sh -c "$@"; }
git_steps() {
    local mode=$1 dir=$2 create=$3 tag=$4 g="git_$1" s="sh_$1" what
    [ "$create" = 1 ] && expect_status 0 "$s" "$MAKE_FILES" sh "$dir"
    expect_status 0 "$g" init -q -b main "$dir"
    expect_status 0 "$g" config --global user.name "Vial Test"
    expect_status 0 "$g" config --global user.email vial-test@example.org
    expect_status 0 "$g" -C "$dir" add README src/main.c
    expect_status 0 "$g" -C "$dir" commit -q -m initial
    expect_status 0 "$g" -C "$dir" switch -q -c feature
    expect_status 0 "$s" 'printf "feature line\n" >>"$1/README"' sh "$dir"
    expect_status 0 "$g" -C "$dir" commit -q -a -m "feature work"
    expect_status 0 "$g" -C "$dir" switch -q main
    expect_status 0 "$s" 'printf "main change\n" >"$1/main.txt"' sh "$dir"
    expect_status 0 "$g" -C "$dir" add main.txt
    expect_status 0 "$g" -C "$dir" commit -q -m "main work"
    expect_status 0 "$s" 'printf "untracked\n" >"$1/untracked.txt" && printf "/* edited */\n" >>"$1/src/main.c"' sh "$dir"
    for what in "status --porcelain" "log --oneline" "log --oneline feature" "branch --list" \
        "rev-parse HEAD" "config --global user.name"; do
        # shellcheck disable=SC2086
        expect_status 0 "$g" -C "$dir" $what
        cp "$WORK/stdout" "$WORK/git-$tag.${what// /_}"
    done
    expect_status 0 "$g" -C "$dir" fsck --strict --no-progress
    expect_status 0 "$s" 'cat "$1/README"' sh "$dir"
    cp "$WORK/stdout" "$WORK/git-$tag.readme"
    # what any run must print, whatever the hashes
    local f="$WORK/git-$tag"
    [ "$(cat "$f.status_--porcelain")" = "$(printf ' M src/main.c\n?? untracked.txt')" ] ||
        { cat "$f.status_--porcelain" >&2; fail "git status --porcelain ($mode, $dir) is not ' M src/main.c', '?? untracked.txt'"; }
    [ "$(cut -d' ' -f2- "$f.log_--oneline")" = "$(printf 'main work\ninitial')" ] ||
        { cat "$f.log_--oneline" >&2; fail "git log --oneline ($mode, $dir) is not 'main work', 'initial'"; }
    [ "$(cut -d' ' -f2- "$f.log_--oneline_feature")" = "$(printf 'feature work\ninitial')" ] ||
        { cat "$f.log_--oneline_feature" >&2; fail "git log --oneline feature ($mode, $dir) is not 'feature work', 'initial'"; }
    [ "$(cat "$f.branch_--list")" = "$(printf '  feature\n* main')" ] ||
        { cat "$f.branch_--list" >&2; fail "git branch --list ($mode, $dir) is not feature, * main"; }
    [ "$(cat "$f.readme")" = "Vial copy-on-write test project" ] ||
        { cat "$f.readme" >&2; fail "README on main ($mode, $dir) is not the original one"; }
    [ "$(cat "$f.config_--global_user.name")" = "Vial Test" ] ||
        fail "git config --global user.name ($mode) is not 'Vial Test'"
}
mkdir -m 755 "$WORK/refhome"
cp -a "$PROJ" "$WORK/ref-proj"
git_steps native "$WORK/ref-proj" 0 ref
git_steps native "$WORK/refhome/.local/share/gitwork" 1 ref-home
cmp -s "$WORK/git-ref.log_--oneline" "$WORK/git-ref-home.log_--oneline" ||
    fail "the native git runs in two directories made different commits (the test's set-up is not deterministic)"
pass "native reference: the fixture's git makes commits $(tr '\n' ' ' <"$WORK/git-ref.log_--oneline")"

# sqlite_steps MODE DIR TAG: the sqlite session (create in WAL mode, reopen,
# two instances inserting 200 rows each at once, count and integrity check)
SQL_CREATE="PRAGMA journal_mode=WAL;
CREATE TABLE t(id INTEGER PRIMARY KEY, who TEXT NOT NULL, n INTEGER NOT NULL);
INSERT INTO t(who, n) VALUES ('first', 1);"
# An instance: a shell loop (in one bubble) that runs sqlite3 200 times,
# one INSERT each, so that the two instances overlap for long and open,
# recover and close the WAL database (creating and deleting -wal and -shm)
# while the other writes. It waits for a line on stdin: both start together.
# sh -c INSTANCE SQLITE3 DB WHO
SQL_INSTANCE=$(cat <<'EOF'
read go || exit 1
i=1
while [ "$i" -le 200 ]; do
    "$0" -bail -cmd ".timeout 60000" "$1" "INSERT INTO t(who, n) VALUES ('$2', $i);" || exit 1
    i=$((i + 1))
done
EOF
)
sqlite_steps() {
    local mode=$1 dir=$2 tag=$3 sqlite=sqlite3 who run
    if [ "$mode" = native ]; then
        run=(env LD_LIBRARY_PATH="$SQ_FIX/usr/lib/x86_64-linux-gnu:$SQ_FIX/lib/x86_64-linux-gnu")
        sqlite="$SQ_FIX/usr/bin/sqlite3"
    else
        run=("$VIAL" exec "$WORK/sqlite.vial" --)
    fi
    expect_status 0 "${run[@]}" sh -c 'mkdir -p "$1" && exec "$0" -bail "$1/db.sqlite" "$2"' "$sqlite" "$dir" "$SQL_CREATE"
    stdout_is wal "sqlite3 ($mode) did not switch $dir/db.sqlite to WAL"
    expect_status 0 "${run[@]}" "$sqlite" -bail "$dir/db.sqlite" "PRAGMA journal_mode; SELECT who, n FROM t;"
    stdout_is "$(printf 'wal\nfirst|1')" "sqlite3 ($mode): $dir/db.sqlite lost its WAL mode or its row after a restart"
    for who in A B; do
        start_bg "sql-$tag-$who" "${run[@]}" sh -c "$SQL_INSTANCE" "$sqlite" "$dir/db.sqlite" "$who"
    done
    send_bg "sql-$tag-A" go
    send_bg "sql-$tag-B" go
    stop_bg "sql-$tag-A"
    stop_bg "sql-$tag-B"
    expect_status 0 "${run[@]}" "$sqlite" -bail "$dir/db.sqlite" \
        "SELECT who, count(*), sum(n) FROM t GROUP BY who ORDER BY who; PRAGMA integrity_check;"
    stdout_is "$(printf 'A|200|20100\nB|200|20100\nfirst|1|1\nok')" \
        "sqlite3 ($mode): after two instances inserted 200 rows each, the table or its integrity is wrong"
    expect_status 0 "${run[@]}" "$sqlite" -bail "$dir/db.sqlite" \
        "SELECT (SELECT max(id) FROM t WHERE who = 'A') > (SELECT min(id) FROM t WHERE who = 'B')
            AND (SELECT max(id) FROM t WHERE who = 'B') > (SELECT min(id) FROM t WHERE who = 'A');"
    [ "$(cat "$WORK/stdout")" = 1 ] ||
        fail "sqlite3 ($mode): one instance finished before the other began: the concurrent check proves nothing"
}
sqlite_steps native "$WORK/ref-sqlite" ref
pass "native reference: the fixture's sqlite3 keeps WAL mode and 401 rows with two interleaved writers"

# fault_round MODE ROUND PHASE COUNT DELAY_MS: starts cow-writer (natively
# on a copy of the tree, or in the bubble), kills it with SIGKILL DELAY_MS
# after it announced the open of the big file (PHASE copy) or its first
# small file (PHASE small), or lets it finish (PHASE none); then checks, in
# a new process (a new bubble), what survived. Sets LANDED (copy, small,
# none: where the kill really hit), MAX_N, COPY_MS, LOOP_MS.
NATIVE_FAULT="$WORK/native-fault"
fault_start() { # MODE ROUND COUNT
    if [ "$1" = native ]; then
        "$NATIVE_FAULT/opt/vialfault/bin/cow-writer" write "$NATIVE_FAULT$BIG" "$NATIVE_FAULT$OUT/r$2" "$3"
    else
        "$VIAL" run "$WORK/fault.vial" -- write "$BIG" "$OUT/r$2" "$3"
    fi
}
fault_exec() { # MODE COMMAND...: in a new bubble (or natively, where /opt/vialfault is $NATIVE_FAULT/opt/vialfault)
    local mode=$1
    shift
    if [ "$mode" = native ]; then
        "${@//\/opt\/vialfault/$NATIVE_FAULT/opt/vialfault}"
    else
        "$VIAL" exec "$WORK/fault.vial" -- "$@"
    fi
}
fault_reset() { # MODE: back to the image's files (vial reset; natively a fresh copy)
    if [ "$1" = native ]; then
        rm -rf "$NATIVE_FAULT"
        cp -a "$WORK/fault-root" "$NATIVE_FAULT"
    else
        expect_status 0 "$VIAL" reset "$WORK/fault.vial" --yes
        diff_has "$WORK/fault.vial"
        [ ! -s "$WORK/diff" ] || { cat "$WORK/diff" >&2; fail "vial diff fault.vial is not empty after vial reset"; }
    fi
}
fault_round() {
    local mode=$1 r=$2 phase=$3 count=$4 delay_ms=$5 pipe="$WORK/fault-$1-$2.pipe"
    local fd line st pid='' vpid status=0 t_open='' t_first='' delay
    local seen_opened='' seen_marked='' seen_done='' root=''
    delay=$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))
    MAX_N=0 COPY_MS='' LOOP_MS=''
    mkfifo "$pipe"
    # in a subshell whose stderr is dropped: it reports the SIGKILL ("Killed")
    (fault_start "$mode" "$r" "$count" </dev/null >"$pipe" 2>"$WORK/fault-$mode-$r.err") 2>/dev/null &
    vpid=$!
    EXTRA_PIDS+=("$vpid")
    exec {fd}<"$pipe"
    while :; do
        st=0
        IFS= read -r -t 300 line <&"$fd" || st=$?
        [ "$st" -gt 128 ] && fail "cow-writer ($mode, round $r) printed nothing for 300 s"
        [ "$st" != 0 ] && [ -z "$line" ] && break
        case $line in
            "pid "*) pid=${line#pid }; EXTRA_PIDS+=("$pid") ;;
            open)
                t_open=$EPOCHREALTIME
                if [ "$phase" = copy ]; then
                    [ "$delay_ms" -gt 0 ] && sleep "$delay"
                    kill -KILL "$pid" 2>/dev/null || true
                fi ;;
            "opened "*) seen_opened=1 ;;
            marked) seen_marked=1; COPY_MS=$(ms_since "$t_open") ;;
            dir) ;;
            1)
                t_first=$EPOCHREALTIME
                MAX_N=1
                if [ "$phase" = small ]; then
                    [ "$delay_ms" -gt 0 ] && sleep "$delay"
                    kill -KILL "$pid" 2>/dev/null || true
                fi ;;
            done) seen_done=1; LOOP_MS=$(ms_since "$t_first") ;;
            *)
                [[ $line =~ ^[0-9]+$ ]] || { cat "$WORK/fault-$mode-$r.err" >&2; fail "cow-writer ($mode) printed '$line'"; }
                [ "$line" = $((MAX_N + 1)) ] || fail "cow-writer ($mode) printed $line after $MAX_N"
                MAX_N=$line ;;
        esac
        [ "$st" != 0 ] && break
    done
    exec {fd}<&-
    rm -f "$pipe"
    wait "$vpid" || status=$?
    EXTRA_PIDS=() # all gone: the subshell waited for vial, vial for cow-writer
    if [ -n "$seen_done" ]; then
        LANDED=none
        [ "$status" = 0 ] || { cat "$WORK/fault-$mode-$r.err" >&2; fail "cow-writer ($mode, round $r) finished but exited $status"; }
    else
        [ -n "$seen_opened" ] && [ -n "$seen_marked" ] && LANDED=small || LANDED=copy
        [ -n "$pid" ] || { cat "$WORK/fault-$mode-$r.err" >&2; fail "cow-writer ($mode, round $r) did not start (status $status)"; }
        [ "$status" = 137 ] || { cat "$WORK/fault-$mode-$r.err" >&2; fail "after the SIGKILL of cow-writer ($mode, round $r), the status is $status, not 137"; }
    fi
    [ "$mode" = bubble ] && [ -d "$STATE/vial-fault/1.0/work" ] &&
        WORK_LEFT=$(find "$STATE/vial-fault/1.0/work" -mindepth 1 | wc -l)

    # --- a new bubble: what was promised is there
    expect_status 0 fault_exec "$mode" /opt/vialfault/bin/cow-writer verify "$OUT/r$r" "$MAX_N"
    expect_status 0 fault_exec "$mode" sha256sum "$BIG"
    local sum
    sum=$(cut -d' ' -f1 "$WORK/stdout")
    if [ "$sum" = "$SUM_MARKED" ]; then
        :
    elif [ "$sum" = "$SUM_ORIG" ]; then
        [ -z "$seen_marked" ] ||
            fail "round $r ($mode): cow-writer reported its write to $BIG, but a new bubble sees the original file"
    else
        fault_exec "$mode" ls -l "$BIG" >&2 || true
        fail "round $r ($mode, killed during the $LANDED phase): $BIG is neither the original nor the whole copy (sha256 $sum)"
    fi
    # --- nothing else appeared in the app's view: no temporary file of a
    # copy-up, nothing of the state's work/ directory
    expect_status 0 fault_exec "$mode" find /opt/vialfault
    [ "$mode" = native ] && root=$NATIVE_FAULT
    local allowed="^$root/opt/vialfault(/big\\.bin|/bin|/bin/cow-writer|/out|/out/r$r|/out/r$r/[1-9][0-9]*)?\$"
    if grep -vE "$allowed" "$WORK/stdout" >"$WORK/extra"; then
        cat "$WORK/extra" >&2
        fail "round $r ($mode): a new bubble shows entries (above) under /opt/vialfault that no write made"
    fi
    for line in "$root$BIG" "$root/opt/vialfault/bin/cow-writer"; do
        grep -qxF "$line" "$WORK/stdout" || fail "round $r ($mode): a new bubble does not list $line"
    done
    [ "$mode" = bubble ] || return 0
    # --- vial diff: every reported file is an addition, the big file a change
    local want=() n
    for ((n = 1; n <= MAX_N; n++)); do want+=("A $OUT/r$r/$n"); done
    [ -n "$seen_marked" ] && want+=("M $BIG")
    diff_has "$WORK/fault.vial" "${want[@]}"
}

fault_reset native
fault_round native 0 none 300 0
[ "$MAX_N" = 300 ] || fail "the native reference run of cow-writer wrote $MAX_N files, not 300"
fault_reset native
fault_round native 1 small 5000 $((RANDOM % 20))
[ "$LANDED" = small ] || fail "the native kill during the small writes landed in the $LANDED phase"
native_max=$MAX_N
pass "native reference: cow-writer killed after file $native_max of 5000 keeps files 1..$native_max whole"

# ------------------------------------------------------------------ copy-on-write?
for cmd in diff state reset; do
    if ! "$VIAL" "$cmd" --help >/dev/null 2>&1; then
        echo "skipped: copy-on-write not available ('$VIAL $cmd --help' fails)"
        exit 0
    fi
done
pack_image git "$GIT_FIX" "$WORK/git.ini"
pass "git packed with [isolation] $PROJ = writecopy"

host_snapshot "$WORK/host.before"
PROJ_SUM=$(tree_sum "$PROJ")
GITCONFIG_SUM=$(file_sum "$HOME/.gitconfig")
HOST_CONFIG_EXISTED=$([ -e "$HOME/.config" ] && echo yes || echo no)

# ------------------------------------------------------------------ git
git_steps bubble "$PROJ" 0 proj
for what in "log_--oneline" "log_--oneline_feature" "rev-parse_HEAD" "status_--porcelain" "branch_--list"; do
    cmp -s "$WORK/git-ref.$what" "$WORK/git-proj.$what" ||
        { diff "$WORK/git-ref.$what" "$WORK/git-proj.$what" >&2; fail "git ${what//_/ } in the bubble ($PROJ) differs from the native run"; }
done
[ "$(tree_sum "$PROJ")" = "$PROJ_SUM" ] || { tree_sum "$PROJ" >&2; fail "the host's $PROJ changed (writecopy: writes must go to the user's delta)"; }
host_absent "$PROJ/.git" "$PROJ/main.txt" "$PROJ/untracked.txt"
pass "git in the writecopy host dir $PROJ: commits, branch, switch; status and log as natively ($(tr '\n' ' ' <"$WORK/git-proj.log_--oneline")); the host's $PROJ unchanged"

git_steps bubble "$GITWORK" 1 home
for what in "log_--oneline" "log_--oneline_feature" "rev-parse_HEAD"; do
    cmp -s "$WORK/git-ref.$what" "$WORK/git-home.$what" ||
        { diff "$WORK/git-ref.$what" "$WORK/git-home.$what" >&2; fail "git ${what//_/ } in the bubble ($GITWORK) differs from the native run"; }
done
host_absent "$GITWORK"
[ "$(file_sum "$HOME/.gitconfig")" = "$GITCONFIG_SUM" ] || fail "the host's ~/.gitconfig changed (git config --global ran in the bubble)"
pass "git in $GITWORK (only in the bubble): same commits; ~/.gitconfig of the bubble kept across launches, the host's untouched"

# The git process runs from the image: hold `git cat-file --batch-check`
# on its stdin and look at it from outside.
start_bg gitcat "$VIAL" exec "$WORK/git.vial" -- git -C "$PROJ" cat-file --batch-check
send_bg gitcat HEAD
line=$(wait_line gitcat '^[0-9a-f]{40} commit [0-9]+$')
[ "${line%% *}" = "$(cat "$WORK/git-ref.rev-parse_HEAD")" ] ||
    fail "git cat-file in the bubble resolves HEAD to ${line%% *}, not $(cat "$WORK/git-ref.rev-parse_HEAD")"
pid=$(bg_app_pid gitcat)
view=$(in_view "$(readlink "/proc/$pid/exe")" /usr/bin/git)
maps_check "$pid" '/git$' /usr/bin/git
maps_check "$pid" '/libpcre2-8\.so' "$libpcre"
stop_bg gitcat
pass "git cat-file (PID $pid): /proc/PID/exe, /usr/bin/git and libpcre2-8 in /proc/PID/maps are the image's (view $view)"

diff_has "$WORK/git.vial" "A $PROJ/main.txt" "A $PROJ/untracked.txt" "M $PROJ/src/main.c"
grep -q "^A $PROJ/\\.git" "$WORK/diff" || { cat "$WORK/diff" >&2; fail "vial diff git.vial lists nothing of $PROJ/.git"; }
pass "vial diff git.vial: $PROJ/main.txt and untracked.txt added, src/main.c changed, .git added"

# ------------------------------------------------------------------ sqlite3
sqlite_steps bubble "$SQL_DIR" bubble
host_absent "$SQL_DIR"
pass "sqlite3 in the bubble: WAL database in $SQL_DIR kept across restarts; two instances at once (rows interleaved) give 400 rows, integrity ok; not on the host"

start_bg sqlive "$VIAL" exec "$WORK/sqlite.vial" -- sqlite3 -bail "$DB"
send_bg sqlive "SELECT count(*) FROM t;"
wait_line sqlive '^401$' >/dev/null
pid=$(bg_app_pid sqlive)
view=$(in_view "$(readlink "/proc/$pid/exe")" /usr/bin/sqlite3)
maps_check "$pid" '/libsqlite3\.so' "$libsqlite"
# WAL mode maps the -shm file: it must be the user's copy in the state
# directory, never a file under the host's home
shm=$(awk '$6 ~ /db\.sqlite-shm$/ { print $6; exit }' "/proc/$pid/maps")
[ -n "$shm" ] || { cat "/proc/$pid/maps" >&2; fail "sqlite3 (PID $pid) maps no db.sqlite-shm (WAL mode?)"; }
case $shm in
    "$STATE/sqlite3/"*"$DB-shm") ;;
    *) fail "sqlite3 maps $shm, expected the delta's copy of $DB-shm under $STATE/sqlite3/" ;;
esac
stop_bg sqlive
host_absent "$SQL_DIR"
pass "sqlite3 (PID $pid): /proc/PID/exe and libsqlite3 are the image's (view $view); its -shm is the delta's ($shm)"

diff_has "$WORK/sqlite.vial" "A $DB"
if grep -E 'db\.sqlite-(wal|shm|journal)$' "$WORK/diff" >&2; then
    fail "vial diff sqlite.vial still lists sqlite's temporary files (above), which sqlite3 deleted"
fi
if grep '^D ' "$WORK/diff" >&2; then
    fail "vial diff sqlite.vial lists deletions (above): only files that existed only in the delta were removed"
fi
pass "vial diff sqlite.vial: $DB added; the deleted -wal/-shm leave no trace"

# ------------------------------------------------------------------ side by side
# sbs_run VERSION READ WROTE [OPTION]: one run of settings-app VERSION
# (`vial run [OPTION] IMAGE`)
sbs_run() {
    expect_status 0 "$VIAL" run ${4:+"$4"} "$WORK/sbs-$1.vial"
    grep -q "^pid [0-9]* version $1\$" "$WORK/stdout" ||
        { cat "$WORK/stdout" >&2; fail "settings-app of sbs-$1.vial did not say version $1"; }
    grep -qxF "read: $2" "$WORK/stdout" ||
        { cat "$WORK/stdout" >&2; fail "settings-app $1 did not read '$2'"; }
    grep -qxF "wrote: $3" "$WORK/stdout" ||
        { cat "$WORK/stdout" >&2; fail "settings-app $1 did not write '$3'"; }
    host_absent "$SBS_DIR"
}
sbs_run 1.0 "(none)" "version=1.0 runs=1"
sbs_run 1.0 "version=1.0 runs=1" "version=1.0 runs=2"
pass "settings-app 1.0 keeps ~/.config/vial-sbs/settings across runs"
sbs_run 2.0 "version=1.0 runs=2" "version=2.0 runs=3"
pass "the first launch of 2.0 starts from a copy of 1.0's state (read 'version=1.0 runs=2')"
sbs_run 1.0 "version=1.0 runs=2" "version=1.0 runs=3"
sbs_run 2.0 "version=2.0 runs=3" "version=2.0 runs=4"
pass "run alternately, 1.0 and 2.0 each read their own settings"

start_bg sbs1 "$VIAL" run "$WORK/sbs-1.0.vial" -- --hold
start_bg sbs2 "$VIAL" run "$WORK/sbs-2.0.vial" -- --hold
[ "$(wait_line sbs1 '^wrote: ')" = "wrote: version=1.0 runs=4" ] || { cat "$WORK/sbs1.out" >&2; fail "settings-app 1.0 (held) wrote something else"; }
[ "$(wait_line sbs2 '^wrote: ')" = "wrote: version=2.0 runs=5" ] || { cat "$WORK/sbs2.out" >&2; fail "settings-app 2.0 (held) wrote something else"; }
pid1=$(wait_line sbs1 '^pid ' | cut -d' ' -f2)
pid2=$(wait_line sbs2 '^pid ' | cut -d' ' -f2)
view1=$(in_view "$(readlink "/proc/$pid1/exe")" /opt/vialsbs/bin/settings-app)
view2=$(in_view "$(readlink "/proc/$pid2/exe")" /opt/vialsbs/bin/settings-app)
[ "$view1" != "$view2" ] || fail "settings-app 1.0 and 2.0 share the view $view1"
host_absent "$SBS_DIR"
send_bg sbs1 go
send_bg sbs2 go
[ "$(wait_line sbs1 '^reread: ')" = "reread: version=1.0 runs=4" ] || { cat "$WORK/sbs1.out" >&2; fail "settings-app 1.0 sees another settings file while 2.0 runs"; }
[ "$(wait_line sbs2 '^reread: ')" = "reread: version=2.0 runs=5" ] || { cat "$WORK/sbs2.out" >&2; fail "settings-app 2.0 sees another settings file while 1.0 runs"; }
stop_bg sbs1
stop_bg sbs2
pass "1.0 (PID $pid1, view $view1) and 2.0 (PID $pid2, view $view2) at once: both wrote, each rereads its own"

# vial state --json: both state groups, with a size. The exact layout is
# the command's; this looks for an object naming the package (name or
# package) with the group (state_group, group or version) and a size > 0.
expect_status 0 "$VIAL" state --json
cp "$WORK/stdout" "$WORK/state.json"
jq -e . "$WORK/state.json" >/dev/null || { cat "$WORK/state.json" >&2; fail "vial state --json is not JSON"; }
state_size() { # PACKAGE GROUP: the size vial state --json gives it, or nothing
    jq -r --arg n "$1" --arg g "$2" '
        [(.. | objects | select((.name? // .package?) == $n) | .. | objects
          | select(((.state_group? // .group? // .version?) | tostring) == $g)
          | (.size? // .bytes? // .size_bytes?)),
         (.. | objects | select(has($n)) | .[$n] | .. | objects | select(has($g)) | .[$g]
          | if type == "object" then (.size? // .bytes? // .size_bytes?) else . end)
         | select(type == "number")] | first // empty' "$WORK/state.json"
}
for v in 1.0 2.0; do
    size=$(state_size vial-sbs "$v")
    [ -n "$size" ] && [ "$size" -gt 0 ] ||
        { cat "$WORK/state.json" >&2; fail "vial state --json lists no size > 0 for vial-sbs $v"; }
done
expect_status 0 "$VIAL" state
grep -q 'vial-sbs' "$WORK/stdout" || { cat "$WORK/stdout" >&2; fail "vial state does not list vial-sbs"; }
pass "vial state --json lists vial-sbs 1.0 ($(state_size vial-sbs 1.0) bytes) and 2.0 ($(state_size vial-sbs 2.0) bytes)"

for v in 1.0 2.0; do
    diff_has "$WORK/sbs-$v.vial" "A $SBS_DIR/settings"
    if grep -F 'settings.tmp' "$WORK/diff" >&2; then fail "vial diff sbs-$v.vial lists the renamed-away temporary file"; fi
done
pass "vial diff lists $SBS_DIR/settings as added, for 1.0 and 2.0"

# without a terminal, reset wants --yes and deletes nothing
status=0
"$VIAL" reset "$WORK/sbs-1.0.vial" </dev/null >"$WORK/stdout" 2>"$WORK/stderr" || status=$?
[ "$status" != 0 ] || fail "vial reset without --yes and without a terminal succeeded"
diff_has "$WORK/sbs-1.0.vial" "A $SBS_DIR/settings"
expect_status 0 "$VIAL" reset "$WORK/sbs-1.0.vial" --yes
diff_has "$WORK/sbs-1.0.vial"
if grep -F "$SBS_DIR" "$WORK/diff" >&2; then fail "after vial reset, vial diff sbs-1.0.vial still lists the settings"; fi
diff_has "$WORK/sbs-2.0.vial" "A $SBS_DIR/settings"
sbs_run 2.0 "version=2.0 runs=5" "version=2.0 runs=6"
pass "vial reset --yes of 1.0 leaves 2.0's settings alone"
# reset deletes 1.0's state group: its next launch is a first launch, which
# starts from the newest group (2.0's) unless --fresh (docs/state.md)
sbs_run 1.0 "version=2.0 runs=6" "version=1.0 runs=7"
expect_status 0 "$VIAL" reset "$WORK/sbs-1.0.vial" --yes
sbs_run 1.0 "(none)" "version=1.0 runs=1" --fresh
sbs_run 2.0 "version=2.0 runs=6" "version=2.0 runs=7"
pass "after the reset, 1.0 starts from a copy of 2.0's state; after another, with --fresh, from nothing; 2.0 keeps its own"
host_absent "$SBS_DIR"
if [ "$HOST_CONFIG_EXISTED" = no ]; then host_absent "$HOME/.config"; fi

# ------------------------------------------------------------------ crash
fault_round bubble 0 none 2000 0
[ "$MAX_N" = 2000 ] || fail "cow-writer wrote $MAX_N files in the bubble, not 2000"
loop_ms=${LOOP_MS:-1}
fault_reset bubble
# the copy-up alone (the image's file is materialized in the cache by now)
fault_round bubble 1 none 10 0
copy_ms=${COPY_MS:-1}
fault_reset bubble
pass "cow-writer ran to the end in the bubble: copy-up of $BIG and mark in ${copy_ms} ms, 2000 files in ${loop_ms} ms"

# Kill rounds. A kill during the copy phase interrupted the copy itself when
# it left a file in the state's work/ (docs/state.md: copy-ups in
# progress); otherwise it came before the copy began.
rounds=${VIAL_COW_FAULT_ROUNDS:-6}
mid_copy=0 before_copy=0 small=0 kills=0 round=1 summary=
while :; do
    kills=$((kills + 1))
    round=$((round + 1))
    if [ "$kills" -le "$rounds" ]; then
        if [ $((kills % 2)) = 1 ]; then phase=copy; else phase=small; fi
    elif [ "$mid_copy" = 0 ] && [ "$kills" -le $((rounds + 6)) ]; then
        phase=copy
    elif [ "$small" = 0 ] && [ "$kills" -le $((rounds + 8)) ]; then
        phase=small
    else
        break
    fi
    if [ "$phase" = copy ]; then
        delay=$((RANDOM % (copy_ms + 1)))
    else
        delay=$((RANDOM % (loop_ms * 8 / 10 + 1)))
    fi
    WORK_LEFT=0
    fault_round bubble "$round" "$phase" 2000 "$delay"
    case $LANDED in
        copy)
            if [ "$WORK_LEFT" -gt 0 ]; then
                mid_copy=$((mid_copy + 1)) LANDED="the copy-up"
            else
                before_copy=$((before_copy + 1)) LANDED="the open, before the copy-up"
            fi ;;
        small) small=$((small + 1)) LANDED="the small writes" ;;
        none) LANDED="nothing: it had finished" ;;
    esac
    summary+=" [$phase +${delay}ms: killed during $LANDED, files 1..$MAX_N, $WORK_LEFT in work/]"
    fault_reset bubble
done
echo "crash rounds (VIAL_COW_SEED=$seed):$summary"
[ "$mid_copy" -gt 0 ] || fail "no kill interrupted the copy-up of $BIG (it takes ${copy_ms} ms; work/ was always empty)"
[ "$small" -gt 0 ] || fail "no kill landed during the small writes (they take ${loop_ms} ms)"
pass "cow-writer killed during the copy-up $mid_copy times (before it $before_copy times), during the small writes $small times: every reported file whole, $BIG original or whole, vial diff works, nothing of work/ visible"

# ------------------------------------------------------------------ host
# Writes to /etc and /usr (writecopy) stay in the bubble: root's land in the
# delta; an unprivileged user is refused as natively.
if [ "$(id -u)" = 0 ]; then
    expect_status 0 "$VIAL" exec "$WORK/sqlite.vial" -- sh -c 'printf probe >"$1" && printf probe >"$2" && cat "$1" "$2"' sh "$PROBE_ETC" "$PROBE_USR"
    leaked=
    for path in "$PROBE_ETC" "$PROBE_USR"; do
        if [ -e "$path" ]; then rm -f "$path"; leaked+=" $path"; fi
    done
    [ -z "$leaked" ] || fail "files created in the bubble appeared on the host (removed):$leaked"
    stdout_is probeprobe "the bubble does not read back the files it created in /etc and /usr"
    expect_status 0 "$VIAL" exec "$WORK/sqlite.vial" -- cat "$PROBE_ETC" "$PROBE_USR"
    stdout_is probeprobe "a new bubble does not see the files created in /etc and /usr"
    diff_has "$WORK/sqlite.vial" "A $PROBE_ETC" "A $PROBE_USR"
    pass "root's new files in /etc and /usr stay in the delta (vial diff lists them), not on the host"
else
    status=0
    "$VIAL" exec "$WORK/sqlite.vial" -- sh -c 'printf probe >"$1"' sh "$PROBE_VAR" >"$WORK/stdout" 2>"$WORK/stderr" || status=$?
    [ "$status" != 0 ] || fail "$(id -un) created $PROBE_VAR in the bubble (natively: Permission denied)"
    expect_stderr "Permission denied"
    host_absent "$PROBE_VAR"
    pass "$(id -un) cannot create $PROBE_VAR in the bubble (EACCES, as natively)"
fi

host_snapshot "$WORK/host.after"
if ! cmp -s "$WORK/host.before" "$WORK/host.after"; then
    diff "$WORK/host.before" "$WORK/host.after" | head -40 >&2
    fail "the host's /usr, /etc or ~ changed while the test ran (above; another process on this host may be the cause)"
fi
if [ "$REAL_HOME" != "$HOME" ]; then
    host_absent "$REAL_HOME/.config/vial-sbs" "$REAL_HOME/.local/share/vial-cow-sqlite" "$REAL_HOME/.local/share/gitwork"
fi
pass "host untouched: /usr, /etc and ~/.config as before ($(wc -l <"$WORK/host.before") entries compared)"
finish
