#!/bin/bash
# install-deps.sh [--test]: installs, from Debian's archive, what Vial needs
# to build (and with --test, to run its test suite). Run as root on Debian 12.
set -euo pipefail

build_packages=(
    build-essential cmake ninja-build pkg-config
    libzstd-dev libsodium-dev libinih-dev libcjson-dev uthash-dev libffi-dev
    libcurl4-openssl-dev   # the fetch agent of streamed images (vial-agent)
    libglib2.0-dev     # the GSettings backend module (without it: settings in memory)
)
test_packages=(
    libcriterion-dev   # unit tests
    clang libclang-rt-14-dev  # libFuzzer targets
    python3            # JSON checks in the integration tests
    libpython3.11-stdlib  # /usr/lib/python3.11, a real tree for the round-trip test
    passwd util-linux  # useradd and setpriv, for the unprivileged test user
    diffutils
    strace             # test_trace.sh counts opens of image files independently
    jq procps          # vial state --json and pgrep in the copy-on-write app tests
    libglib2.0-bin dconf-gsettings-backend dconf-service dbus-daemon
    gsettings-desktop-schemas  # the host's real dconf, the control of test_gsettings.sh
    desktop-file-utils         # desktop-file-validate, for vial desktop's entries
    xz-utils                   # tar archives in test_import.sh
    nginx-light                # the HTTP server of test_stream.sh (started on loopback by the test)
)

packages=("${build_packages[@]}")
[ "${1:-}" = --test ] && packages+=("${test_packages[@]}")

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: everything is installed"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run this script as root to install them" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
