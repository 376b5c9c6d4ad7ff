#!/bin/bash
# test.sh: installs what the tests need, builds, and runs the whole suite
# through ctest twice: a normal build, then one under ASan+UBSan. As root it
# also creates the unprivileged user the suite runs its integration tests as.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test

if [ "$(id -u)" = 0 ] && ! id vial-test >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash vial-test
fi

jobs=$(nproc)
status=0
run_suite() { # BUILD_DIR LABEL CMAKE_ARGS...
    local dir=$1 label=$2
    shift 2
    echo "== $label: building in $dir"
    # explicit: the demo configures build/ without tests
    bash scripts/build.sh "$dir" -DVIAL_TESTS=ON -DVIAL_BENCH=ON "$@" >/dev/null
    # the unprivileged test user must be able to read the build
    chmod -R a+rX "$dir"
    echo "== $label: ctest"
    (cd "$dir" && ctest --output-on-failure --no-tests=error -j "$jobs") || status=1
}

run_suite build "normal build"
run_suite build-asan "ASan+UBSan build" -DVIAL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
exit $status
