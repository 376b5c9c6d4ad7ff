#!/bin/bash
# as-user.sh SCRIPT: runs an integration test as the unprivileged user the
# test set-up created (vial-test), or skips (exit 77) when that is not
# possible. Run as that user already, it just runs the script.
set -euo pipefail
user=vial-test
if [ "$(id -u)" != 0 ]; then
    exec bash "$1"
fi
if ! id "$user" >/dev/null 2>&1; then
    echo "skipped: user $user does not exist (scripts/test.sh creates it)"
    exit 77
fi
# the user needs to reach the build and the sources
if ! setpriv --reuid="$user" --regid="$user" --init-groups test -x "$VIAL"; then
    echo "skipped: $user cannot execute $VIAL (check directory permissions)"
    exit 77
fi
home=$(getent passwd "$user" | cut -d: -f6)
exec setpriv --reuid="$user" --regid="$user" --init-groups \
    env HOME="$home" USER="$user" TMPDIR=/tmp bash "$1"
