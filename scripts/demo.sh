#!/bin/bash
# demo.sh: the main job on the bundled example. Installs what is needed,
# builds, packs examples/hello into an image, inspects it and runs it from
# the image: the host has no /usr/share/hello-vial, before or after. The
# app's setting (~/.config/hello-vial/runs) lands in the user's state of
# the package, never in the real home; vial diff shows it, vial reset
# deletes it. Its environment comes from the package's registry ([env] in
# the manifest), which the user overrides with vial reg.
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
settings=${XDG_CONFIG_HOME:-$HOME/.config}/hello-vial
if [ -e "$settings" ]; then
    echo "demo: $settings exists on the host before the demo: remove it first" >&2
    exit 1
fi
"$vial" reset --yes "$image" >/dev/null 2>&1 # a demo run before may have left state
step "$vial" run "$image" -- first second
step "$vial" reg "$image" set env/HELLO_VIAL_NAME "Vial user"
step "$vial" run "$image"
step "$vial" reg "$image" ls env
step "$vial" exec "$image" -- ls -l /usr/share/hello-vial
step "$vial" diff "$image"
step "$vial" state
for path in /usr/share/hello-vial "$settings"; do
    if [ -e "$path" ]; then
        echo "demo: $path exists on the host: it should not" >&2
        exit 1
    fi
done
step "$vial" reset --yes "$image"
printf '\nThe host has no /usr/share/hello-vial: the program ran from %s.\n' "$image"
printf 'Its setting went to the package'"'"'s state, not to %s.\n' "$settings"
