#!/bin/bash
# demo.sh: the main job on the bundled example. Installs what is needed,
# builds, packs examples/hello into an image, inspects it and runs it from
# the image: the host has no /usr/share/hello-vial, before or after.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DVIAL_TESTS=OFF -DVIAL_BENCH=OFF >/dev/null
vial=build/vial
image=build/hello-vial.vial

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$vial" pack examples/hello/root --manifest examples/hello/vial.ini -o "$image" -v
step "$vial" info "$image"
step "$vial" ls "$image" /usr/share/hello-vial -l
step "$vial" cat "$image" /usr/share/hello-vial/greeting.txt
step "$vial" verify "$image"
step "$vial" run "$image" -- first second
step "$vial" exec "$image" -- ls -l /usr/share/hello-vial
if [ -e /usr/share/hello-vial ]; then
    echo "demo: /usr/share/hello-vial exists on the host: it should not" >&2
    exit 1
fi
printf '\nThe host has no /usr/share/hello-vial: the program ran from %s.\n' "$image"
