# lib.sh - shared by the integration tests (sourced). They drive the real
# `vial` binary: $VIAL, with helper tools in $TOOLS.
set -euo pipefail

: "${VIAL:?run through ctest (VIAL is the vial binary)}"
: "${TOOLS:?run through ctest (TOOLS is the build directory)}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vial-it-XXXXXX")
trap 'chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
PASSED=0

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }

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
