# lib.sh - shared by the integration tests (sourced). They drive the real
# `vial` binary: $VIAL, with helper tools in $TOOLS.
set -euo pipefail

: "${VIAL:?run through ctest (VIAL is the vial binary)}"
: "${TOOLS:?run through ctest (TOOLS is the build directory)}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vial-it-XXXXXX")
trap 'chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
# vial keeps the user's state, cache and sessions under the XDG directories:
# a test keeps them in its WORK, never in the real home of whoever runs it
export XDG_CACHE_HOME="$WORK/xdg/cache" XDG_DATA_HOME="$WORK/xdg/data"
export XDG_CONFIG_HOME="$WORK/xdg/config" XDG_STATE_HOME="$WORK/xdg/state"
export XDG_RUNTIME_DIR="$WORK/xdg/run"
mkdir -p "$XDG_CACHE_HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
PASSED=0

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
# `producer | has_line [-x] PATTERN`: grep that reads all its input. grep -q
# stops at the first match, the producer then dies of SIGPIPE and, under
# pipefail, the pipeline fails although the line was there.
has_line() { grep "$@" >/dev/null; }

# expect_status CODE COMMAND...: runs COMMAND, keeps stderr in $WORK/stderr
expect_status() {
    local want=$1; shift
    local got=0
    "$@" >"$WORK/stdout" 2>"$WORK/stderr" || got=$?
    [ "$got" = "$want" ] || { cat "$WORK/stderr" >&2; fail "'$*' exited $got, expected $want"; }
}

# expect_stderr TEXT: the last expect_status printed TEXT on stderr
expect_stderr() {
    grep -qF -- "$1" "$WORK/stderr" || { cat "$WORK/stderr" >&2; fail "stderr lacks '$1'"; }
}

finish() { echo "$PASSED passed, 0 failed"; }
