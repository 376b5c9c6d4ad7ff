#!/bin/bash
# GSettings in the bubble (issue 5's acceptance), with Debian's real
# gsettings, GLib, dconf (dconf-gsettings-backend, dconf-service) and
# schemas, under dbus-run-session so that dconf really works:
#   - control: outside the bubble, gsettings set changes the host's
#     $XDG_CONFIG_HOME/dconf/user (through dconf-service);
#   - packages A and B (gsettings, GLib and the schemas from the image,
#     proved from outside through /proc/PID/exe and /proc/PID/maps, and by a
#     schema only the image has): each sets the same keys, each keeps its
#     own values, vial reg shows each, and nothing run in a bubble changes
#     the host's dconf database (byte-identical, and gsettings outside
#     still reads the host's values);
#   - values of every kind the test schema has (s i u d b as a{sv} (ii) mv
#     ay) round-trip through gsettings set/get in the bubble and show in
#     vial reg export;
#   - a packaged default (vial pack --registry) changed by the user survives
#     a restart, is listed by vial reg --layer user, gsettings reset and
#     vial reset bring the packaged default back;
#   - a running gsettings monitor in the bubble sees a change made by another
#     process of the package and one made with vial reg from outside.
# Fixture: build/fixtures/gsettings-root (tests/fixtures/fetch.sh).
if [ -z "${VIAL_TEST_IN_DBUS:-}" ]; then
    command -v dbus-run-session >/dev/null || { echo "FAIL: dbus-run-session is missing (install-deps --test)" >&2; exit 1; }
    export VIAL_TEST_IN_DBUS=1
    # XDG_CONFIG_HOME and XDG_RUNTIME_DIR must be the test's before the bus
    # starts: dconf-service inherits them from it. lib.sh makes the rest.
    base=$(mktemp -d "${TMPDIR:-/tmp}/vial-gs-XXXXXX")
    mkdir -p "$base/config" "$base/run"
    chmod 700 "$base/run"
    status=0
    XDG_CONFIG_HOME=$base/config XDG_RUNTIME_DIR=$base/run VIAL_TEST_BASE=$base \
        dbus-run-session -- bash "$0" "$@" || status=$?
    rm -rf "$base"
    exit $status
fi
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apps-lib.sh"
export XDG_CONFIG_HOME=$VIAL_TEST_BASE/config XDG_RUNTIME_DIR=$VIAL_TEST_BASE/run
need_fixtures gsettings-root
export LC_ALL=C.UTF-8 # gsettings prints in the locale's charset
unset GSETTINGS_BACKEND GIO_EXTRA_MODULES GSETTINGS_SCHEMA_DIR
DCONF_DB=$XDG_CONFIG_HOME/dconf/user
IFACE=org.gnome.desktop.interface

# ----------------------------------------------------- control, outside
[ ! -e "$DCONF_DB" ] || fail "$DCONF_DB exists before the test"
gsettings set $IFACE gtk-theme "'HostTheme'"
gsettings set $IFACE clock-format "'12h'"
[ -f "$DCONF_DB" ] || fail "gsettings set outside the bubble did not write $DCONF_DB: dconf is not working here"
[ "$(gsettings get $IFACE gtk-theme)" = "'HostTheme'" ] || fail "the host's dconf does not keep gtk-theme"
host_db=$(sha256sum <"$DCONF_DB")
gsettings get org.vial.test name >/dev/null 2>&1 && fail "the host has the test schema org.vial.test"
pass "control: gsettings outside the bubble writes the host's dconf database ($DCONF_DB)"

# ------------------------------------------------------------ packages
printf '[package]\nname = gs-a\nversion = 1\n[entry gsettings]\nexec = /usr/bin/gsettings\n' >"$WORK/a.ini"
printf '[package]\nname = gs-b\nversion = 1\n[entry gsettings]\nexec = /usr/bin/gsettings\n' >"$WORK/b.ini"
printf '# packaged defaults\n[gsettings/org/vial/test]\nname = '"'packaged'"'\n' >"$WORK/a.reg"
"$VIAL" pack "$FIXTURES/gsettings-root" -o "$WORK/a.vial" --manifest "$WORK/a.ini" --registry "$WORK/a.reg" >/dev/null
"$VIAL" pack "$FIXTURES/gsettings-root" -o "$WORK/b.vial" --manifest "$WORK/b.ini" >/dev/null
in_a() { "$VIAL" run "$WORK/a.vial" gsettings -- "$@"; }
in_b() { "$VIAL" run "$WORK/b.vial" gsettings -- "$@"; }

# start_monitor: gsettings monitor org.vial.test in the bubble of A, line
# buffered into $WORK/monitor.out; sets $monitor (its pid) once it runs
# with the vial backend loaded.
start_monitor() {
    : >"$WORK/monitor.out"
    # stdbuf inside the bubble: vial itself may be an ASan build, which
    # refuses a preloaded library ahead of its runtime
    "$VIAL" exec "$WORK/a.vial" -- stdbuf -oL /usr/bin/gsettings monitor org.vial.test >"$WORK/monitor.out" 2>&1 &
    local vial_pid=$!
    EXTRA_PIDS+=("$vial_pid")
    monitor=
    for _ in $(seq 1 100); do
        monitor=$(pgrep -P "$vial_pid" || true)
        [ -n "$monitor" ] && grep -q "libvial-gsettings" "/proc/$monitor/maps" 2>/dev/null && break
        sleep 0.1
    done
    [ -n "$monitor" ] || fail "gsettings monitor did not start: $(cat "$WORK/monitor.out")"
    EXTRA_PIDS+=("$monitor")
}

# the gsettings, GLib and backend that run are the image's and vial's
start_monitor
exe=$(readlink "/proc/$monitor/exe")
case $exe in "$VIEWS"/*/usr/bin/gsettings) ;; *) fail "gsettings ran from $exe, not from the image's view" ;; esac
grep -q "$VIEWS/.*/libgio-2.0.so.0" "/proc/$monitor/maps" || fail "libgio is not the image's: $(grep libgio "/proc/$monitor/maps")"
grep -q "/gio-modules/libvial-gsettings.so" "/proc/$monitor/maps" || fail "the vial backend is not loaded"
tr '\0' '\n' <"/proc/$monitor/environ" | has_line -x "GSETTINGS_BACKEND=vial" || fail "GSETTINGS_BACKEND is not vial"
kill "$monitor"
pass "gsettings, libgio and the schemas come from the image; the vial backend is loaded ($exe)"

# ---------------------------------------------- packaged default, restart
[ "$(in_a get org.vial.test name)" = "'packaged'" ] || fail "the packaged default: $(in_a get org.vial.test name)"
[ "$(in_b get org.vial.test name)" = "'schema-default'" ] || fail "B sees A's packaged value"
in_a set org.vial.test name "'mine'"
[ "$(in_a get org.vial.test name)" = "'mine'" ] || fail "the user's value after a restart"
"$VIAL" reg "$WORK/a.vial" ls --layer user gsettings/org/vial/test | has_line -x "name = 'mine'" ||
    fail "vial reg --layer user lacks name"
[ "$("$VIAL" reg "$WORK/a.vial" get --layer package gsettings/org/vial/test/name)" = "'packaged'" ] ||
    fail "the package layer changed"
in_a reset org.vial.test name
[ "$(in_a get org.vial.test name)" = "'packaged'" ] || fail "gsettings reset did not bring the packaged default back"
in_a set org.vial.test name "'mine'"
"$VIAL" reset "$WORK/a.vial" --yes >/dev/null
[ "$(in_a get org.vial.test name)" = "'packaged'" ] || fail "vial reset did not bring the packaged default back"
pass "a packaged default changed by the user survives a restart, lists in --layer user; gsettings reset and vial reset restore it"

# ----------------------------------------------------- A and B side by side
in_b set $IFACE gtk-theme "'ThemeB'"
in_a set $IFACE gtk-theme "'ThemeA'"
in_a set $IFACE clock-format "'24h'"
[ "$(in_a get $IFACE gtk-theme)" = "'ThemeA'" ] || fail "A's gtk-theme"
[ "$(in_b get $IFACE gtk-theme)" = "'ThemeB'" ] || fail "B's gtk-theme: $(in_b get $IFACE gtk-theme)"
[ "$("$VIAL" reg "$WORK/a.vial" get gsettings/org/gnome/desktop/interface/gtk-theme)" = "'ThemeA'" ] || fail "vial reg of A"
[ "$("$VIAL" reg "$WORK/b.vial" get gsettings/org/gnome/desktop/interface/gtk-theme)" = "'ThemeB'" ] || fail "vial reg of B"
expect_status 1 "$VIAL" reg "$WORK/b.vial" get gsettings/org/gnome/desktop/interface/clock-format
pass "packages A and B keep their own value of one key; vial reg shows each"

# ------------------------------------------------- every kind of value
check_value() { # KEY SET-TEXT EXPECTED-GET
    in_a set org.vial.test "$1" "$2"
    local got
    got=$(in_a get org.vial.test "$1")
    [ "$got" = "$3" ] || fail "org.vial.test $1: set $2, got $got, expected $3"
}
check_value count "-42" "-42"
check_value size "4294967295" "uint32 4294967295"
check_value ratio "0.1" "0.10000000000000001"
check_value flag "true" "true"
check_value tags "['x', 'it\\'s', 'ünï']" "['x', \"it's\", 'ünï']"
check_value options "{'a': <1>, 'b': <'s'>, 'c': <[1.5, 2.0]>, 'd': <@mi nothing>}" \
    "{'a': <1>, 'b': <'s'>, 'c': <[1.5, 2.0]>, 'd': <@mi nothing>}"
check_value point "(3, -4)" "(3, -4)"
check_value maybe "<'v'>" "@mv <'v'>"
check_value blob "b'abc'" "b'abc'"
"$VIAL" reg "$WORK/a.vial" export gsettings/org/vial/test >"$WORK/export"
for line in "size = uint32 4294967295" "ratio = 0.1" "point = (3, -4)" "tags = ['x', 'it\\'s', 'ünï']" \
    "options = {'a': <1>, 'b': <'s'>, 'c': <[1.5, 2.0]>, 'd': <@mi nothing>}" \
    "blob = @ay [0x61, 0x62, 0x63, 0x00]" "maybe = just <'v'>"; do
    grep -qxF -- "$line" "$WORK/export" || fail "vial reg export lacks '$line': $(cat "$WORK/export")"
done
pass "values of every kind (s i u d b as a{sv} (ii) mv ay) round-trip and export"

# ---------------------------------------------------------- change signals
start_monitor
in_a set org.vial.test name "'from-another-process'"
"$VIAL" reg "$WORK/a.vial" set gsettings/org/vial/test/count 7
for _ in $(seq 1 100); do
    grep -q "name: 'from-another-process'" "$WORK/monitor.out" && grep -q "count: 7" "$WORK/monitor.out" && break
    sleep 0.1
done
grep -q "name: 'from-another-process'" "$WORK/monitor.out" || fail "the monitor missed another process's change: $(cat "$WORK/monitor.out")"
grep -q "count: 7" "$WORK/monitor.out" || fail "the monitor missed vial reg's change: $(cat "$WORK/monitor.out")"
kill "$monitor" 2>/dev/null || true
pass "a running gsettings monitor sees changes by another process and by vial reg"

# ------------------------------------------------ the host, untouched
[ "$(sha256sum <"$DCONF_DB")" = "$host_db" ] || fail "the host's dconf database changed"
[ "$(gsettings get $IFACE gtk-theme)" = "'HostTheme'" ] || fail "the host's gtk-theme changed"
[ "$(gsettings get $IFACE clock-format)" = "'12h'" ] || fail "the host's clock-format changed"
pass "the host's dconf database is byte-identical after every bubble run"

finish
