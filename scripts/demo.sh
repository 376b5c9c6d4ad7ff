#!/bin/bash
# demo.sh: the main job on the bundled example. Installs what is needed,
# builds, packs examples/hello into an image and inspects it.
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
printf '\nThe image is %s. Running it arrives with `vial run` (see the README).\n' "$image"
